"""Count the store operations the summariser makes per reading.

    python -m bench.summariser_ops                       # 5 and 10,000 sensors, SQLite
    python -m bench.summariser_ops --cosmos --sensors 5 --sensors 1000

Each sensor gets a short history, a first batch warms the instance up (as a running
instance is), then one change-feed batch holding one new reading per sensor (the
steady state: every device reports once per batch) is measured. On the Cosmos-compatible
server the SDK's response hook counts the HTTP requests (what Cosmos DB bills); on
SQLite a trace callback counts the SQL statements.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.readings import Reading, format_timestamp
from pipeline.storage import Store
from pipeline.storage.sqlite_store import SqliteStore
from summariser.batch import summarise_batch
from summariser.window_cache import WindowCache

START = datetime(2026, 1, 1, tzinfo=UTC)
class StatementCounter:
    """Counts the SQL statements SQLite runs on this thread's connection, by verb."""

    def __init__(self, store: SqliteStore) -> None:
        self.statements: Counter[str] = Counter()
        self._connection = store._connection()

    def __enter__(self) -> StatementCounter:
        self._connection.set_trace_callback(self._count)
        return self

    def _count(self, statement: str) -> None:
        verb = statement.split(None, 1)[0].upper()
        if verb not in ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA"):
            self.statements[verb] += 1

    def __exit__(self, *_: Any) -> None:
        self._connection.set_trace_callback(None)


@dataclass(frozen=True)
class OpsFigure:
    sensors: int
    readings: int
    operations: dict[str, int]  # HTTP requests (Cosmos DB) or SQL statements (SQLite), by kind
    seconds: float

    @property
    def operations_per_reading(self) -> float:
        return sum(self.operations.values()) / self.readings


def measure(
    store: Store, sensors: int, history: int = 2, window_size: int = 10, per_sensor: int = 1,
) -> OpsFigure:
    """Warm up with one batch, then measure a batch of `per_sensor` new readings per sensor."""
    ids = [f"ops-{n:05d}" for n in range(sensors)]
    past = [
        Reading(f"{sid}-h{h}", sid, 20.0 + h, format_timestamp(START + timedelta(seconds=h)))
        for h in range(history) for sid in ids
    ]
    store.put_readings(r.to_document() for r in past)
    cache = WindowCache()
    warm_up = [r.to_document() for r in past[-sensors:]]
    summarise_batch(warm_up, store, window_size, datetime.now(UTC), cache)
    batch = [
        Reading(f"{sid}-new{n}", sid, 30.0 + n % 7,
                format_timestamp(START + timedelta(seconds=history + n)))
        for n in range(per_sensor) for sid in ids
    ]
    store.put_readings(r.to_document() for r in batch)
    documents = [r.to_document() for r in batch]
    started = time.perf_counter()
    if isinstance(store, SqliteStore):
        with StatementCounter(store) as counter:
            summarise_batch(documents, store, window_size, datetime.now(UTC), cache)
        operations = dict(counter.statements)
    else:
        before = Counter(store.meter.requests)
        summarise_batch(documents, store, window_size, datetime.now(UTC), cache)
        operations = dict(Counter(store.meter.requests) - before)
    return OpsFigure(sensors, len(batch), operations, time.perf_counter() - started)


def describe(backend: str, figure: OpsFigure) -> str:
    unit = "SQL statements" if backend == "SQLite" else "HTTP requests"
    return (f"summariser on {backend}, {figure.sensors} sensors: {figure.operations_per_reading:.2f} "
            f"{unit} per reading {figure.operations}, {figure.readings / figure.seconds:,.0f} readings/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, action="append", help="repeatable; default 5 and 10000")
    parser.add_argument("--cosmos", action="store_true", help="on the Cosmos-compatible server")
    arguments = parser.parse_args()
    counts = arguments.sensors or [5, 10_000]
    if arguments.cosmos:
        from tests.conftest import make_cosmos_store
        from tests.servers import cosmos_server

        with cosmos_server() as server:
            for sensors in counts:
                store = make_cosmos_store(server)
                print(describe("the Cosmos-compatible server", measure(store, sensors)), flush=True)
                store.close()
        return
    for sensors in counts:
        with tempfile.TemporaryDirectory() as folder:
            store = SqliteStore(Path(folder) / "ops.db")
            print(describe("SQLite", measure(store, sensors)), flush=True)
            store.close()


if __name__ == "__main__":
    main()
