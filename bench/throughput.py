"""Summariser throughput and store operations: ours against the original lab's algorithm.

Both run in this process, on the same store, over the same readings. The store first holds
each sensor's history and the state a running summariser would have left (its latest
summary and window); then one change-feed batch is summarised:

- ours: `summarise_batch` as deployed (per-instance state, concurrent sensors, two writes
  per sensor);
- baseline (the original lab): for every sensor in the batch, one after another, query its
  10 latest readings and write a summary under a fresh uuid.

The baseline is slow on the Cosmos-compatible server (the server scans every document per
query), so at 10,000 sensors it runs for a fixed time over the batch's first sensors; its
cost per sensor does not depend on which sensors, so the rate is the same.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.readings import Reading, format_timestamp
from pipeline.storage import LatestMarker, Publication, SensorState, Store
from pipeline.storage.cosmos_store import CosmosStore
from pipeline.storage.sqlite_store import SqliteStore
from summariser.batch import summarise_batch
from summariser.state_cache import SensorStateCache, newest_first
from summariser.window import summarise_window

START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = 10
# Documented Cosmos DB charges (serverless): a write of an item up to 1 KB ~ 5-6 RU,
# a small single-partition query ~ 7 RU. Larger items are charged per started KB.
RU_PER_KB_WRITE = 6.0
RU_PER_QUERY = 7.0


@dataclass(frozen=True)
class Run:
    readings: int
    seconds: float
    # HTTP requests by kind (Cosmos DB) or SQL statements by verb (SQLite).
    operations: dict[str, int]

    @property
    def rate(self) -> float:
        return self.readings / self.seconds

    @property
    def operations_per_reading(self) -> float:
        return sum(self.operations.values()) / self.readings


@contextmanager
def counting(store: Store) -> Iterator[Counter[str]]:
    """What the store executes inside the block: the SDK's requests, or SQLite's statements."""
    counted: Counter[str] = Counter()
    if isinstance(store, SqliteStore):

        def count(statement: str) -> None:
            verb = statement.split(None, 1)[0].upper()
            if verb not in ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA"):
                counted[verb] += 1

        connection = store._connection()  # this thread's: the measured paths run on it
        connection.set_trace_callback(count)
        try:
            yield counted
        finally:
            connection.set_trace_callback(None)
        return
    meter = getattr(store, "meter", None)
    before = Counter(meter.requests) if meter else Counter()
    try:
        yield counted
    finally:
        if meter:
            counted.update(Counter(meter.requests) - before)


def _temperature(key: str) -> float:
    """A temperature in 15-40 °C derived from the key: the same data in every run."""
    return round(15 + zlib.crc32(key.encode()) % 2500 / 100, 2)


def _readings(sensor_ids: list[str], label: str, first_second: int, count: int) -> list[Reading]:
    return [
        Reading(
            f"{sid}-{label}{n}",
            sid,
            _temperature(f"{sid}-{label}{n}"),
            format_timestamp(START + timedelta(seconds=first_second + n)),
        )
        for n in range(count)
        for sid in sensor_ids
    ]


def prepare(store: Store, sensors: int, history: int) -> tuple[list[str], SensorStateCache]:
    """History readings plus the state a running summariser would hold (store and memory)."""
    sensor_ids = [f"bench-{n:05d}" for n in range(sensors)]
    past = _readings(sensor_ids, "h", 0, history)
    store.put_readings(r.to_document() for r in past)
    by_sensor: dict[str, list[Reading]] = {}
    for reading in past:
        by_sensor.setdefault(reading.sensor_id, []).append(reading)
    states = []
    for sid, readings in by_sensor.items():
        window = newest_first(readings, WINDOW)
        states.append((summarise_window(sid, window[0].timestamp, window), tuple(window)))
    cache = SensorStateCache()
    if isinstance(store, CosmosStore):
        # Create the pointer documents directly: publishing would first query for each
        # (slow on the test server, and not what is being measured).
        for summary, window in states:
            written = store._summaries.create_item(CosmosStore.pointer_document(summary, window))
            marker = LatestMarker(summary.timestamp, written["_etag"])
            cache.put(summary.sensor_id, SensorState(summary, window, marker))
    else:
        markers = store.publish([Publication(summary, window, None) for summary, window in states])
        for (summary, window), published in zip(states, markers, strict=True):
            assert published is not None
            cache.put(summary.sensor_id, SensorState(summary, window, published))
    return sensor_ids, cache


def run_ours(
    store: Store,
    sensor_ids: list[str],
    cache: SensorStateCache,
    history: int,
    per_sensor: int,
) -> Run:
    """One batch of `per_sensor` new readings per sensor, through `summarise_batch`."""
    batch = [r.to_document() for r in _readings(sensor_ids, "b", history, per_sensor)]
    store.put_readings(batch)
    with counting(store) as operations:
        started = time.perf_counter()
        summarise_batch(batch, store, WINDOW, datetime.now(UTC), cache)
        seconds = time.perf_counter() - started
    return Run(len(batch), seconds, dict(operations))


class BaselineSummaries:
    """Where the original algorithm writes: its own container or table, same store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        if isinstance(store, CosmosStore):
            from azure.cosmos import PartitionKey

            database = store._client.get_database_client(store._database_name)
            self.container = database.create_container_if_not_exists(
                id="baseline_summaries", partition_key=PartitionKey(path="/sensor_id")
            )
        else:
            assert isinstance(store, SqliteStore)
            store._connection().execute(
                "CREATE TABLE IF NOT EXISTS baseline_summaries (id TEXT PRIMARY KEY, body TEXT)"
            )

    def write(self, summary: dict[str, Any]) -> None:
        if isinstance(self.store, CosmosStore):
            self.container.upsert_item(summary, response_hook=self.store.meter.hook("upsert"))
        else:
            self.store._write(
                [
                    (
                        "INSERT INTO baseline_summaries (id, body) VALUES (?, ?)",
                        (summary["id"], json.dumps(summary)),
                    )
                ]
            )


def run_baseline(
    store: Store,
    sensor_ids: list[str],
    history: int,
    per_sensor: int,
    time_limit: float,
) -> Run:
    """The original lab: sensor after sensor, query the latest 10, write under a fresh uuid.

    Its batch comes after ours, so its readings are newer still (`history` later).
    """
    target = BaselineSummaries(store)
    batch = [r.to_document() for r in _readings(sensor_ids, "o", history, per_sensor)]
    store.put_readings(batch)
    with counting(store) as operations:
        started = time.perf_counter()
        by_sensor: dict[str, list[dict[str, Any]]] = {}
        for document in batch:  # the original grouped the batch's documents by sensor
            by_sensor.setdefault(document["sensor_id"], []).append(document)
        done = 0
        for sensor_id, readings in by_sensor.items():
            latest = store.recent_readings(sensor_id, WINDOW)  # one query of the 10 latest
            temperatures = [r.temperature for r in latest]
            target.write(
                {
                    "id": str(uuid.uuid4()),
                    "sensor_id": sensor_id,
                    "timestamp": latest[0].timestamp,
                    "max_temp": max(temperatures),
                    "min_temp": min(temperatures),
                    "avg_temp": round(sum(temperatures) / len(temperatures), 2),
                }
            )
            done += len(readings)
            if time.perf_counter() - started > time_limit:
                break
        seconds = time.perf_counter() - started
    return Run(done, seconds, dict(operations))


def estimated_ru(run: Run, write_kb: dict[str, float]) -> float:
    """RU per reading from Cosmos DB request counts and the documented per-operation charges."""
    total = 0.0
    for kind, count in run.operations.items():
        if kind == "query":
            total += count * RU_PER_QUERY
        else:
            total += count * RU_PER_KB_WRITE * max(1.0, write_kb.get(kind, 1.0))
    return total / run.readings
