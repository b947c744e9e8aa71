"""Count the Cosmos DB requests the summariser makes per reading, on the Cosmos-compatible server.

    python -m bench.summariser_ops --sensors 5 --sensors 10000

Each sensor gets a history of readings, then one change-feed batch holding one new
reading per sensor (the steady state: every device reports once per batch) is summarised.
Requests are counted by the SDK's response hook, so the figure is what Cosmos DB bills.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipeline.readings import Reading, format_timestamp
from pipeline.storage.cosmos_store import CosmosStore
from summariser.batch import summarise_batch
from summariser.window_cache import WindowCache

START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class OpsFigure:
    sensors: int
    readings: int
    requests: int
    by_kind: dict[str, int]
    seconds: float

    @property
    def per_reading(self) -> float:
        return self.requests / self.readings


def measure(store: CosmosStore, sensors: int, history: int = 3, window_size: int = 10) -> OpsFigure:
    """Summarise one batch of one new reading per sensor; count the requests it took.

    A first batch warms the instance up (as any running instance is); the second is measured.
    """
    ids = [f"ops-{n:05d}" for n in range(sensors)]
    past = [
        Reading(f"{sid}-h{h}", sid, 20.0 + h, format_timestamp(START + timedelta(seconds=h)))
        for sid in ids for h in range(history)
    ]
    store.put_readings(r.to_document() for r in past)
    warm_up = [r for r in past if r.id.endswith(f"-h{history - 1}")]
    cache = WindowCache()
    summarise_batch([r.to_document() for r in warm_up], store, window_size, datetime.now(UTC), cache)
    batch = [
        Reading(f"{sid}-new", sid, 30.0, format_timestamp(START + timedelta(seconds=history)))
        for sid in ids
    ]
    store.put_readings(r.to_document() for r in batch)
    before_total = store.meter.total()
    before = dict(store.meter.requests)
    started = time.perf_counter()
    summarise_batch([r.to_document() for r in batch], store, window_size, datetime.now(UTC), cache)
    seconds = time.perf_counter() - started
    by_kind = {k: v - before.get(k, 0) for k, v in store.meter.requests.items() if v - before.get(k, 0)}
    return OpsFigure(sensors, len(batch), store.meter.total() - before_total, by_kind, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, action="append", help="repeatable; default 5 and 10000")
    arguments = parser.parse_args()
    from tests.conftest import make_cosmos_store
    from tests.servers import cosmos_server

    with cosmos_server() as server:
        for sensors in arguments.sensors or [5, 10_000]:
            store = make_cosmos_store(server)
            figure = measure(store, sensors)
            print(f"summariser on the Cosmos-compatible server, {sensors} sensors: "
                  f"{figure.per_reading:.2f} requests per reading {figure.by_kind}, "
                  f"{figure.readings / figure.seconds:.0f} readings/s")
            store.close()


if __name__ == "__main__":
    main()
