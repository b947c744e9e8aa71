"""The Cosmos DB store on `azure-cosmos`.

Queries are written to run on real Cosmos DB, the emulator and our test server alike:
no GROUP BY, DISTINCT or OFFSET/LIMIT, and the partition key always in WHERE. Each
sensor's newest summary is mirrored in a small pointer document (id "latest", same
partition) so the dashboard gets every sensor's latest summary from one query.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError
from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosHttpResponseError

from pipeline import names
from pipeline.readings import DeadLetter, Reading, Summary, summary_id
from pipeline.storage.base import (
    END_OF_TIME,
    LATEST_POINTER_ID,
    NO_POINTER,
    LatestMarker,
    LatestSummary,
    Publication,
    SensorState,
    StoreUnavailable,
    decode_window,
    encode_window,
    is_append,
    new_readings,
    reading_key,
    valid_readings,
)
from pipeline.storage.cosmos_client import RequestMeter
from pipeline.storage.cosmos_errors import translated as _translate
from pipeline.storage.cosmos_rollups import CosmosRollups

log = logging.getLogger(__name__)

_CONCURRENCY_RETRIES = 8
# Items per `read_items` call: the SDK sends one query per physical partition and 1,000 ids.
POINT_READ_CHUNK = 1000
# Cosmos DB's limit on the operations of one transactional batch.
BATCH_OPERATIONS = 100
PARALLEL_REQUESTS = 16
# The SDK retries a write whose answer was lost only when told to. Ours are safe to
# repeat: a create that had landed answers 409 (compared, then dropped), a swap that had
# landed answers 412 (the summariser plans again).
WRITE_RETRIES = 3


def _pointer_summary_id(pointer: Mapping[str, Any]) -> str:
    """The id of the summary a pointer holds: the deterministic one unless it says otherwise."""
    return str(pointer.get("summary_id") or summary_id(str(pointer["sensor_id"]), str(pointer["timestamp"])))


def _group_by_sensor(documents: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for document in documents:
        groups.setdefault(str(document["sensor_id"]), []).append(document)
    return groups


class CosmosStore(CosmosRollups):
    """Store on one Cosmos DB database; containers are resolved lazily, without I/O."""

    def __init__(
        self,
        client: CosmosClient,
        database: str,
        readings: str = names.DEFAULT_READINGS,
        summaries: str = names.DEFAULT_SUMMARIES,
        deadletter: str = names.DEFAULT_DEADLETTER,
        leases: str = names.DEFAULT_LEASES,
        rollups: str = names.DEFAULT_ROLLUPS,
    ) -> None:
        self._client = client
        self.meter = RequestMeter()
        self._database_name = database
        self._container_names = {
            names.DEFAULT_READINGS: readings,
            names.DEFAULT_SUMMARIES: summaries,
            names.DEFAULT_DEADLETTER: deadletter,
            names.DEFAULT_LEASES: leases,
            names.DEFAULT_ROLLUPS: rollups,
        }
        database_client = client.get_database_client(database)
        self._readings = database_client.get_container_client(readings)
        self._summaries = database_client.get_container_client(summaries)
        self._deadletter = database_client.get_container_client(deadletter)

    def ensure_ready(self) -> None:
        try:
            database = self._client.create_database_if_not_exists(self._database_name)
            for role, name in self._container_names.items():
                database.create_container_if_not_exists(
                    id=name,
                    partition_key=PartitionKey(path=names.PARTITION_KEYS[role]),
                    indexing_policy=names.indexing_policy(role),
                )
        except AzureError as error:
            raise _translate(error) from error

    def _read_many(self, container: ContainerProxy, items: Sequence[tuple[str, Any]]) -> list[dict[str, Any]]:
        """Point reads of many items, (id, partition key) each; missing ones are left out."""
        found: list[dict[str, Any]] = []
        try:
            for start in range(0, len(items), POINT_READ_CHUNK):
                found.extend(
                    container.read_items(
                        list(items[start : start + POINT_READ_CHUNK]),
                        response_hook=self.meter.hook("read_items"),
                    )
                )
        except AzureError as error:
            raise _translate(error) from error
        return found

    def _stored_readings(
        self, documents: Sequence[Mapping[str, Any]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        keys = {(str(d["id"]), d["sensor_id"]) for d in documents}
        return {reading_key(found): found for found in self._read_many(self._readings, sorted(keys))}

    def _create_batch(self, sensor_id: str, documents: Sequence[Mapping[str, Any]]) -> None:
        """Create up to 100 readings of one sensor in one round trip, all or nothing."""
        pending = list(documents)
        for _ in range(_CONCURRENCY_RETRIES):
            try:
                self._readings.execute_item_batch(
                    [("create", (dict(document),)) for document in pending],
                    partition_key=sensor_id,
                    response_hook=self.meter.hook("batch"),
                    retry_write=WRITE_RETRIES,
                )
                return
            except CosmosBatchOperationError as error:
                if error.status_code != 409:
                    raise _translate(error) from error
                # Another request stored some of these ids since we looked: same content is
                # fine (drop them), other content is a conflict.
                pending = new_readings(pending, self._stored_readings(pending))
                if not pending:
                    return
            except AzureError as error:
                raise _translate(error) from error
        raise StoreUnavailable(f"readings of {sensor_id} kept conflicting with concurrent writes")

    def put_readings(self, documents: Iterable[Mapping[str, Any]]) -> int:
        documents = list(documents)
        if any(not isinstance(d.get("id"), str) or not d["id"] for d in documents):
            raise ValueError("every reading document needs a string id")
        keyed = [d for d in documents if isinstance(d.get("sensor_id"), str)]
        malformed = [d for d in documents if not isinstance(d.get("sensor_id"), str)]
        # Look first, so that a conflict anywhere refuses the whole request before any write.
        fresh = new_readings(keyed, self._stored_readings(keyed)) if keyed else []
        batches = [
            (sensor_id, group[start : start + BATCH_OPERATIONS])
            for sensor_id, group in _group_by_sensor(fresh).items()
            for start in range(0, len(group), BATCH_OPERATIONS)
        ]
        # Each sensor is its own partition: its batches are independent of the others'.
        with ThreadPoolExecutor(max(1, min(PARALLEL_REQUESTS, len(batches)))) as pool:
            list(pool.map(lambda batch: self._create_batch(*batch), batches))
        try:
            # A document without a string sensor id has no usable partition key: it is
            # stored as it came (the summariser dead-letters it) and is never a reading.
            for document in malformed:
                self._readings.upsert_item(dict(document), response_hook=self.meter.hook("upsert"))
        except AzureError as error:
            raise _translate(error) from error
        return len(documents)

    def _query(
        self,
        container: ContainerProxy,
        query: str,
        parameters: list[dict[str, Any]],
        partition_key: str | None = None,
    ) -> list[dict[str, Any]]:
        try:
            if partition_key is None:
                items = container.query_items(
                    query,
                    parameters=parameters,
                    enable_cross_partition_query=True,
                    response_hook=self.meter.hook("query"),
                )
            else:
                items = container.query_items(
                    query,
                    parameters=parameters,
                    partition_key=partition_key,
                    response_hook=self.meter.hook("query"),
                )
            return list(items)
        except AzureError as error:
            raise _translate(error) from error

    def _reading_page(self, sensor_id: str, bound: str, size: int, newest_first: bool) -> list[Reading]:
        """The `size` valid readings nearest `bound`: at or before it, newest first, or after it.

        Ties on timestamp are broken by id over every reading that shares the page's last
        timestamp, so the page is the same whatever order the server returns ties in.
        """
        condition, order = ("<=", "DESC") if newest_first else (">", "ASC")
        fetch = size + 1
        while True:
            documents = self._query(
                self._readings,
                f"SELECT TOP @n * FROM c WHERE c.sensor_id = @sensor AND c.timestamp {condition} @bound "
                f"ORDER BY c.timestamp {order}",
                [
                    {"name": "@n", "value": fetch},
                    {"name": "@sensor", "value": sensor_id},
                    {"name": "@bound", "value": bound},
                ],
                partition_key=sensor_id,
            )
            valid = valid_readings(documents)
            valid.sort(key=lambda r: (r.timestamp, r.id), reverse=newest_first)
            complete = len(documents) < fetch
            if complete or len(valid) > size and valid[size - 1].timestamp != valid[size].timestamp:
                return valid[:size]
            # Either invalid documents took places, or readings share the boundary
            # timestamp and ties must be broken by id over all of them: look further on.
            fetch *= 2

    def reading_window(self, sensor_id: str, as_of: str, size: int) -> list[Reading]:
        return self._reading_page(sensor_id, as_of, size, newest_first=True)

    def _state_of(self, document: Mapping[str, Any]) -> SensorState:
        sensor_id = str(document["sensor_id"])
        summary = Summary.from_document(dict(document, id=_pointer_summary_id(document)))
        return SensorState(
            summary,
            decode_window(sensor_id, document.get("window") or []),
            LatestMarker(summary.timestamp, str(document["_etag"])),
        )

    def sensor_states(self, sensor_ids: Sequence[str]) -> dict[str, SensorState]:
        pointers = self._read_many(
            self._summaries, [(LATEST_POINTER_ID, sensor_id) for sensor_id in sensor_ids]
        )
        return {str(document["sensor_id"]): self._state_of(document) for document in pointers}

    def _read_pointer(self, sensor_id: str) -> dict[str, Any] | None:
        try:
            return self._summaries.read_item(
                LATEST_POINTER_ID, partition_key=sensor_id, response_hook=self.meter.hook("read")
            )
        except CosmosHttpResponseError as error:
            if error.status_code == 404:
                return None
            raise _translate(error) from error
        except AzureError as error:
            raise _translate(error) from error

    @staticmethod
    def pointer_document(
        summary: Summary, window: Sequence[Reading], appended_to: str | None = None
    ) -> dict[str, Any]:
        """The sensor's "latest" document: its newest summary and the window behind it.

        `appended_to`: the etag it replaces, when its publication only appends (`is_append`);
        a reader holding the history as of that etag extends it instead of querying.
        """
        # ttl -1: the pointer never expires, whatever the summaries' default TTL.
        pointer = dict(summary.to_document(), id=LATEST_POINTER_ID, ttl=-1)
        if summary.id != summary_id(summary.sensor_id, summary.timestamp):
            # Only an id that is not the deterministic one is written: every byte of the
            # pointer is paid at each write and at each dashboard refresh.
            pointer["summary_id"] = summary.id
        if appended_to is not None:
            pointer["appended_to"] = appended_to
        return dict(pointer, window=encode_window(window))

    def _batch(self, sensor_id: str, operations: list[tuple[Any, ...]]) -> list[dict[str, Any]] | None:
        """One transactional batch whose last operation is the pointer's; None if that one failed."""
        try:
            return self._summaries.execute_item_batch(
                operations,
                partition_key=sensor_id,
                response_hook=self.meter.hook("batch"),
                retry_write=WRITE_RETRIES,
            )
        except CosmosBatchOperationError as error:
            if error.error_index == len(operations) - 1 and error.status_code in (404, 409, 412):
                return None  # the compare-and-swap failed: another writer moved the pointer
            raise _translate(error) from error
        except AzureError as error:
            raise _translate(error) from error

    def _swap_pointer(
        self, sensor_id: str, upserts: list[dict[str, Any]], pointer: dict[str, Any], expected: LatestMarker
    ) -> LatestMarker | None:
        """Upsert the summaries, then create or replace the pointer at `expected`: one round trip.

        A transactional batch (one partition, at most 100 operations) is atomic on Cosmos DB:
        when the compare-and-swap fails, the summaries are not written either. So every
        summary written moves the pointer with it, which lets a reader trust `appended_to`:
        more than 99 summaries (repairs) go in several batches, each moving the pointer
        by compare-and-swap (its content unchanged, never marked as an append).
        """
        head, tail = upserts[: -(BATCH_OPERATIONS - 1)], upserts[-(BATCH_OPERATIONS - 1) :]
        if head and expected != NO_POINTER:
            current = self._read_pointer(sensor_id)
            if current is None or current["_etag"] != expected.version:
                return None
            between = {k: v for k, v in current.items() if not k.startswith("_") and k != "appended_to"}
            version = expected.version
            for start in range(0, len(head), BATCH_OPERATIONS - 1):
                between["touched"] = int(between.get("touched", 0)) + 1
                chunk: list[tuple[Any, ...]] = [
                    ("upsert", (document,)) for document in head[start : start + BATCH_OPERATIONS - 1]
                ]
                chunk.append(("replace", (LATEST_POINTER_ID, dict(between)), {"if_match_etag": version}))
                written = self._batch(sensor_id, chunk)
                if written is None:
                    return None
                version = str(written[-1]["eTag"])
            expected = LatestMarker(expected.timestamp, version)
            if "appended_to" in pointer:  # not an append now; `is_append` says so already
                pointer = {k: v for k, v in pointer.items() if k != "appended_to"}
        else:
            # No pointer to move yet: nobody can hold this sensor's history to extend.
            for start in range(0, len(head), BATCH_OPERATIONS):
                upserted = head[start : start + BATCH_OPERATIONS]
                self._batch(sensor_id, [("upsert", (document,)) for document in upserted])
        operations: list[tuple[Any, ...]] = [("upsert", (document,)) for document in tail]
        if expected == NO_POINTER:
            operations.append(("create", (pointer,)))
        else:
            operations.append(("replace", (LATEST_POINTER_ID, pointer), {"if_match_etag": expected.version}))
        results = self._batch(sensor_id, operations)
        if results is None:
            return None
        written = results[-1].get("resourceBody") or {}
        return LatestMarker(str(written.get("timestamp", pointer["timestamp"])), str(results[-1]["eTag"]))

    def _publish_one(self, publication: Publication) -> LatestMarker | None:
        summary = publication.summary
        upserts = {s.id: s.to_document() for s in (*publication.repairs, summary)}
        for _ in range(_CONCURRENCY_RETRIES):
            expected = publication.expected
            current: dict[str, Any] | None = None
            if expected is None or expected.timestamp > summary.timestamp:
                current = self._read_pointer(summary.sensor_id)
                seen = LatestMarker(current["timestamp"], current["_etag"]) if current else NO_POINTER
                if expected is not None and seen != expected:
                    return None
                expected = seen
            if current is not None and expected.timestamp > summary.timestamp:
                # Newer already: touch it (same content, new etag) so other writers know
                # this sensor's history changed under their cached windows.
                pointer = {k: v for k, v in current.items() if not k.startswith("_") and k != "appended_to"}
                pointer["touched"] = int(pointer.get("touched", 0)) + 1
            else:
                appended_to = expected.version if is_append(expected, summary, publication.repairs) else None
                pointer = self.pointer_document(summary, publication.window, appended_to)
            marker = self._swap_pointer(summary.sensor_id, list(upserts.values()), pointer, expected)
            if marker is not None or publication.expected is not None:
                return marker
        raise StoreUnavailable(f"latest pointer of {summary.sensor_id} kept changing under us")

    def publish(self, publications: Sequence[Publication]) -> list[LatestMarker | None]:
        if len(publications) <= 1:
            return [self._publish_one(publication) for publication in publications]
        # Each sensor is its own partition: the requests are independent, so send them
        # side by side; the first error is re-raised once all have finished.
        with ThreadPoolExecutor(min(PARALLEL_REQUESTS, len(publications))) as pool:
            return list(pool.map(self._publish_one, publications))

    def readings_after(self, sensor_id: str, after: str, size: int) -> list[Reading]:
        return self._reading_page(sensor_id, after, size, newest_first=False)

    def summaries_between(self, sensor_id: str, start: str, end: str, limit: int) -> list[Summary]:
        documents = self._query(
            self._summaries,
            "SELECT TOP @n * FROM c WHERE c.sensor_id = @sensor AND c.id != @pointer "
            "AND c.timestamp >= @start AND c.timestamp < @end ORDER BY c.timestamp",
            [
                {"name": "@n", "value": limit},
                {"name": "@sensor", "value": sensor_id},
                {"name": "@pointer", "value": LATEST_POINTER_ID},
                {"name": "@start", "value": start},
                {"name": "@end", "value": end},
            ],
            partition_key=sensor_id,
        )
        return [Summary.from_document(document) for document in documents]

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        try:
            for letter in letters:
                self._deadletter.upsert_item(letter.to_document(), response_hook=self.meter.hook("upsert"))
        except AzureError as error:
            raise _translate(error) from error

    def latest_summaries(self) -> dict[str, Summary]:
        return {sensor_id: latest.summary for sensor_id, latest in self.latest_pointers().items()}

    def latest_pointers(self) -> dict[str, LatestSummary]:
        # Not the windows: the dashboard needs none.
        documents = self._query(
            self._summaries,
            "SELECT c.sensor_id, c.summary_id, c.timestamp, c.max_temp, c.min_temp, c.avg_temp, "
            "c.count, c.last_heard, c._etag, c.appended_to FROM c WHERE c.id = @id",
            [{"name": "@id", "value": LATEST_POINTER_ID}],
        )
        latest = {}
        for document in documents:
            summary = Summary.from_document(dict(document, id=_pointer_summary_id(document)))
            # Every replace of the pointer gives it a new etag: its revision.
            appended_to = document.get("appended_to")
            latest[summary.sensor_id] = LatestSummary(
                summary, str(document["_etag"]), None if appended_to is None else str(appended_to)
            )
        return latest

    def recent_summaries(self, sensor_id: str, limit: int, traced: bool = True) -> list[Summary]:
        # Untraced (a chart): only the statistics come back, not the ids, correlation ids
        # and system fields (about a third of each document); the id is the deterministic
        # one, known from the sensor and the timestamp.
        fields = "*" if traced else "c.timestamp, c.max_temp, c.min_temp, c.avg_temp, c.count"
        documents = self._query(
            self._summaries,
            f"SELECT TOP @n {fields} FROM c WHERE c.sensor_id = @sensor AND c.id != @pointer "
            "ORDER BY c.timestamp DESC",
            [
                {"name": "@n", "value": limit},
                {"name": "@sensor", "value": sensor_id},
                {"name": "@pointer", "value": LATEST_POINTER_ID},
            ],
            partition_key=sensor_id,
        )
        if not traced:
            documents = [
                {**document, "id": summary_id(sensor_id, document["timestamp"]), "sensor_id": sensor_id}
                for document in documents
            ]
        return [Summary.from_document(document) for document in documents]

    def recent_readings(self, sensor_id: str, limit: int) -> list[Reading]:
        return self.reading_window(sensor_id, END_OF_TIME, limit)

    def recent_dead_letters(self, limit: int) -> list[DeadLetter]:
        documents = self._query(
            self._deadletter,
            "SELECT TOP @n * FROM c ORDER BY c.received_at DESC",
            [{"name": "@n", "value": limit}],
        )
        fields = ("id", "source_id", "reason", "received_at", "payload", "correlation_id")
        return [DeadLetter(**{field: document.get(field) for field in fields}) for document in documents]

    def feed_lag_seconds(self, consumer: str | None = None) -> float:
        """Age of the oldest reading written after the summariser's last write (0 when none).

        The change feed's position lives in the Functions host's leases, which are not ours
        to read; write times (`_ts`, whole seconds, set by Cosmos DB, not by a device) stand
        in for it: a reading written after the newest summary write has not been summarised
        yet. `consumer` is accepted for the contract and ignored.
        """
        newest_reading = self._max_write_time(self._readings)
        if newest_reading is None:
            return 0.0
        newest_summary = self._max_write_time(self._summaries)
        if newest_summary is not None and newest_summary >= newest_reading:
            return 0.0
        oldest_waiting = self._query(
            self._readings,
            "SELECT VALUE MIN(c._ts) FROM c WHERE c._ts > @since",
            [{"name": "@since", "value": newest_summary or 0}],
        )
        if not oldest_waiting or oldest_waiting[0] is None:
            return 0.0
        return max(0.0, datetime.now(UTC).timestamp() - float(oldest_waiting[0]))

    def _max_write_time(self, container: ContainerProxy) -> int | None:
        found = self._query(container, "SELECT VALUE MAX(c._ts) FROM c", [])
        return int(found[0]) if found and found[0] is not None else None

    def ping(self) -> None:
        try:
            self._client.get_database_client(self._database_name).read()
        except AzureError as error:
            raise _translate(error) from error

    def close(self) -> None:
        self._client.close()
