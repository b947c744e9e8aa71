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
//   at most MAX_OPERATIONS operations (else 400), a payload of at most MAX_BYTES (else 413).
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
  return runBatch(account, req, res, params);
};

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
