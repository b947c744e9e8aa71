"""Count the store operations the summariser makes per reading.

    python -m bench.summariser_ops                       # 5 and 10,000 sensors, SQLite
    python -m bench.summariser_ops --cosmos --sensors 5 --sensors 1000

Each sensor gets a short history, a first batch warms the instance up (as a running
instance is), then one change-feed batch holding one new reading per sensor (the
steady state: every device reports once per batch) is measured. Store operations are
counted at the store interface; on the Cosmos-compatible server the SDK's response
hook also counts the HTTP requests, which is what Cosmos DB bills.
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
COUNTED = ("reading_window", "sensor_states", "publish", "add_dead_letters")


class OperationCounter:
    """A store that counts the summariser's calls on the way through."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in COUNTED:
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


@dataclass(frozen=True)
class OpsFigure:
    sensors: int
    readings: int
    operations: dict[str, int]
    requests: dict[str, int] | None
    seconds: float

    @property
    def operations_per_reading(self) -> float:
        return sum(self.operations.values()) / self.readings

    @property
    def requests_per_reading(self) -> float | None:
        return None if self.requests is None else sum(self.requests.values()) / self.readings


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
    meter = getattr(store, "meter", None)
    requests_before = Counter(meter.requests) if meter else None
    counter = OperationCounter(store)
    started = time.perf_counter()
    summarise_batch([r.to_document() for r in batch], counter, window_size, datetime.now(UTC), cache)
    seconds = time.perf_counter() - started
    requests = dict(Counter(meter.requests) - requests_before) if meter else None
    return OpsFigure(sensors, len(batch), dict(counter.calls), requests, seconds)


def describe(backend: str, figure: OpsFigure) -> str:
    line = (f"summariser on {backend}, {figure.sensors} sensors: "
            f"{figure.operations_per_reading:.2f} store operations per reading {figure.operations}")
    if figure.requests is not None:
        line += f", {figure.requests_per_reading:.2f} HTTP requests per reading {figure.requests}"
    return line + f", {figure.readings / figure.seconds:,.0f} readings/s"


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
