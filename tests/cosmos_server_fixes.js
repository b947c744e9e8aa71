// Loaded by tests/servers.py before `@vercel/cosmosdb-server` loads its handlers, so that
// the store's requests get the answers Cosmos DB gives (MAX_OPERATIONS and MAX_BYTES are
// defined by servers.py in front of this file):
// - a point read of a missing item answers 500 (a TypeError inside it) instead of 404;
// - in a transactional batch it reads each operation's partition key from the operation,
//   which the Python SDK leaves out (Cosmos DB takes the batch's header): it answered 500;
// - the SDK's read_items() asks for (id, partition key) pairs of several partitions in one
//   query of up to 1,000 nested ORs, which the server's parser takes tens of seconds for or
//   overflows its stack on: that one query shape is answered through an equivalent flat one;
// - the limits Cosmos DB documents for a transactional batch, which it does not enforce:
//   at most MAX_OPERATIONS operations (else 400), a payload of at most MAX_BYTES (else 413);
// - a transactional batch was not atomic: the operations before a failing one stayed
//   applied. Cosmos DB applies all or none: the failing operation answers its status and
//   every other one 424, and nothing is written (the store's compare-and-swap relies on it).
const PAIR = /^\( c\.id = (@param_id\d+) AND (c(?:\.\w+|\["\w+"\])) = (@param_pk\d+) \)$/;

function flattenPairQuery(body) {
  const match = /^SELECT \* FROM c WHERE \( (.*) \)$/.exec(body.query);
  if (!match) return;
  const terms = match[1].split(" OR ").map((term) => PAIR.exec(term));
  if (terms.includes(null)) return;
  const fields = new Set(terms.map((term) => term[2]));
  if (fields.size !== 1) return;
  const values = Object.fromEntries((body.parameters || []).map((p) => [p.name, p.value]));
  const pairs = terms.map((term) => [values[term[1]], values[term[3]]]);
  body.query = `SELECT * FROM c WHERE ARRAY_CONTAINS(@pairs, [c.id, ${[...fields][0]}])`;
  body.parameters = [{ name: "@pairs", value: pairs }];
}

const json = require("@vercel/cosmosdb-server/lib/json");
const parse = json.default;
json.default = async (req) => {
  if (req.parsedBody !== undefined) return req.parsedBody;
  const body = await parse(req);
  if (body && typeof body.query === "string") flattenPairQuery(body);
  const key = req.headers["x-ms-documentdb-partitionkey"];
  if (req.headers["x-ms-cosmos-is-batch-request"] && Array.isArray(body) && key) {
    for (const operation of body) {
      if (operation && operation.partitionKey === undefined) operation.partitionKey = key;
    }
  }
  return body;
};

const operations = require("@vercel/cosmosdb-server/lib/handler/_document-operations");
const { parsePartitionKey } = require("@vercel/cosmosdb-server/lib/utils/get-partition-from-header");
const trueHeader = require("@vercel/cosmosdb-server/lib/true-header").default;
const APPLY = {
  Create: operations.createOperation,
  Upsert: operations.upsertOperation,
  Read: operations.readOperation,
  Delete: operations.deleteOperation,
  Replace: operations.replaceOperation,
};

const batch = require("@vercel/cosmosdb-server/lib/handler/batch-documents");
const runBatch = batch.default;
batch.default = async (account, req, res, params) => {
  const body = await json.default(req);
  req.parsedBody = body;
  if (Array.isArray(body) && body.length > MAX_OPERATIONS) {
    res.statusCode = 400;
    return { code: "BadRequest", message: "Batch request has more operations than what is supported within a single batch." };
  }
  if (Buffer.byteLength(JSON.stringify(body)) > MAX_BYTES) {
    res.statusCode = 413;
    return { code: "RequestEntityTooLarge", message: "Request size is too large." };
  }
  const collection = account.database(params.dbId).collection(params.collId);
  if (!trueHeader(req, "x-ms-cosmos-batch-atomic") || !Array.isArray(body) || !collection.read()) {
    return runBatch(account, req, res, params);
  }
  return runAtomically(collection, body, res);
};

// Synchronous from the first operation to the rollback, so no other request sees (or
// writes between) the operations of a batch that fails.
function runAtomically(collection, body, res) {
  const undo = []; // [id, partition key, the document before the operation or undefined]
  const answers = [];
  let failed = -1;
  for (const input of body) {
    const apply = APPLY[input && input.operationType];
    if (!apply) {
      rollback(collection, undo);
      res.statusCode = 400;
      return { message: `Operation type '${input && input.operationType}' is not supported in Batch.` };
    }
    let result;
    try {
      const id = input.resourceBody ? input.resourceBody.id : input.id;
      const key = id === undefined ? undefined : parsePartitionKey(input.partitionKey, id);
      const before = id === undefined ? undefined : collection.document(id, key).read();
      result = apply(collection, input);
      if (result.statusCode < 400 && input.operationType !== "Read") undo.push([id, key, before]);
    } catch (error) {
      rollback(collection, undo); // an operation that throws leaves nothing of the batch behind
      throw error;
    }
    if (result.statusCode >= 400) {
      failed = answers.length;
      answers.push({ statusCode: result.statusCode, requestCharge: 0 });
      break;
    }
    answers.push({
      statusCode: result.statusCode,
      requestCharge: 1,
      eTag: result.body ? result.body._etag : undefined,
      resourceBody: result.body,
    });
  }
  if (failed < 0) return answers;
  rollback(collection, undo);
  return body.map((_, index) => (index === failed ? answers[failed] : { statusCode: 424, requestCharge: 0 }));
}

function rollback(collection, undo) {
  for (const [id, key, before] of undo.reverse()) {
    if (collection.document(id, key).read()) collection.documents.delete(id, key);
    if (before) collection.documents._set(before); // with its own _rid, _etag and _ts
  }
}

const read = require("@vercel/cosmosdb-server/lib/handler/read-document");
const readDocument = read.default;
read.default = (account, req, res, params) => {
  try {
    return readDocument(account, req, res, params);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    res.statusCode = 404;
    return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
  }
};
