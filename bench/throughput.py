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

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.readings import Reading, Summary, format_timestamp
from pipeline.storage import Publication, SensorState, Store
from pipeline.storage.cosmos_store import CosmosStore
from pipeline.storage.sqlite_store import SqliteStore
from summariser.batch import summarise_batch
from summariser.window import summarise_window
from summariser.window_cache import WindowCache, newest_first

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
    requests: dict[str, int]

    @property
    def rate(self) -> float:
        return self.readings / self.seconds

    @property
    def requests_per_reading(self) -> float:
        return sum(self.requests.values()) / self.readings


def _history(sensor_ids: list[str], history: int) -> list[Reading]:
    return [
        Reading(f"{sid}-h{h}", sid, round(15 + (hash((sid, h)) % 2500) / 100, 2),
                format_timestamp(START + timedelta(seconds=h)))
        for h in range(history) for sid in sensor_ids
    ]


def _batch(sensor_ids: list[str], history: int, per_sensor: int) -> list[Reading]:
    return [
        Reading(f"{sid}-b{n}", sid, round(15 + (hash((sid, n)) % 2500) / 100, 2),
                format_timestamp(START + timedelta(seconds=history + n)))
        for n in range(per_sensor) for sid in sensor_ids
    ]


def prepare(store: Store, sensors: int, history: int) -> tuple[list[str], WindowCache]:
    """History readings plus the state a running summariser would hold (store and memory)."""
    sensor_ids = [f"bench-{n:05d}" for n in range(sensors)]
    past = _history(sensor_ids, history)
    store.put_readings(r.to_document() for r in past)
    cache = WindowCache()
    states = []
    for sid in sensor_ids:
        window = newest_first([r for r in past if r.sensor_id == sid], WINDOW)
        states.append((summarise_window(sid, window[0].timestamp, window), tuple(window)))
    if isinstance(store, CosmosStore):
        # Create the pointer documents directly: publishing would first query for each
        # (slow on the test server, and not what is being measured).
        container = store._summaries
        for summary, window in states:
            written = container.create_item(CosmosStore.pointer_document(summary, window))
            marker_version = written["_etag"]
            cache.put(summary.sensor_id, SensorState(summary, window, _marker(summary, marker_version)))
    else:
        markers = store.publish([Publication(summary, window, None) for summary, window in states])
        for (summary, window), marker in zip(states, markers, strict=True):
            assert marker is not None
            cache.put(summary.sensor_id, SensorState(summary, window, marker))
    return sensor_ids, cache


def _marker(summary: Summary, version: str) -> Any:
    from pipeline.storage import LatestMarker

    return LatestMarker(summary.timestamp, version)


def _requests(store: Store) -> Counter[str]:
    meter = getattr(store, "meter", None)
    return Counter(meter.requests) if meter else Counter()


def run_ours(store: Store, sensor_ids: list[str], cache: WindowCache, history: int, per_sensor: int) -> Run:
    batch = [r.to_document() for r in _batch(sensor_ids, history, per_sensor)]
    store.put_readings(batch)
    before = _requests(store)
    started = time.perf_counter()
    summarise_batch(batch, store, WINDOW, datetime.now(UTC), cache)
    seconds = time.perf_counter() - started
    return Run(len(batch), seconds, dict(_requests(store) - before))


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
            import json

            self.store._write([(
                "INSERT INTO baseline_summaries (id, body) VALUES (?, ?)",
                (summary["id"], json.dumps(summary)),
            )])


def run_baseline(
    store: Store, sensor_ids: list[str], history: int, per_sensor: int, time_limit: float,
) -> Run:
    """The same kind of batch, after ours: its readings are newer still (`history` later)."""
    """The original lab: sensor after sensor, query the latest 10, write under a fresh uuid."""
    target = BaselineSummaries(store)
    batch = [r.to_document() for r in _batch(sensor_ids, history, per_sensor)]
    store.put_readings(batch)
    before = _requests(store)
    started = time.perf_counter()
    by_sensor: dict[str, list[dict[str, Any]]] = {}
    for document in batch:  # the original grouped the batch's documents by sensor
        by_sensor.setdefault(document["sensor_id"], []).append(document)
    done = 0
    for sensor_id, readings in by_sensor.items():
        latest = store.recent_readings(sensor_id, WINDOW)  # one query of the 10 latest
        temperatures = [r.temperature for r in latest]
        target.write({
            "id": str(uuid.uuid4()), "sensor_id": sensor_id, "timestamp": latest[0].timestamp,
            "max_temp": max(temperatures), "min_temp": min(temperatures),
            "avg_temp": round(sum(temperatures) / len(temperatures), 2),
        })
        done += len(readings)
        if time.perf_counter() - started > time_limit:
            break
    seconds = time.perf_counter() - started
    return Run(done, seconds, dict(_requests(store) - before))


def estimated_ru(requests: dict[str, int], readings: int, write_kb: dict[str, float]) -> float:
    """RU per reading from request counts and the documented per-operation charges."""
    total = 0.0
    for kind, count in requests.items():
        if kind == "query":
            total += count * RU_PER_QUERY
        else:
            total += count * RU_PER_KB_WRITE * max(1.0, write_kb.get(kind, 1.0))
    return total / readings
