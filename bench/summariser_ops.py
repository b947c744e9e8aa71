"""Count the store operations the summariser makes per reading.

    python -m bench.summariser_ops                       # 5 and 10,000 sensors, SQLite
    python -m bench.summariser_ops --cosmos --sensors 5 --sensors 10000

The store holds each sensor's history and the state a running summariser keeps (see
`bench.throughput.prepare`); then one change-feed batch holding one new reading per
sensor (the steady state: every device reports once per batch) is summarised. On the
Cosmos-compatible server the SDK's response hook counts the HTTP requests (what Cosmos DB
bills); on SQLite a trace callback counts the SQL statements.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.throughput import Run, prepare, run_ours
from pipeline.storage import Store
from pipeline.storage.sqlite_store import SqliteStore


def measure(store: Store, sensors: int) -> Run:
    sensor_ids, cache = prepare(store, sensors, history=2)
    return run_ours(store, sensor_ids, cache, history=2, per_sensor=1)


def describe(backend: str, sensors: int, run: Run) -> str:
    unit = "SQL statements" if backend == "SQLite" else "HTTP requests"
    return (
        f"summariser on {backend}, {sensors} sensors: {run.operations_per_reading:.2f} "
        f"{unit} per reading {run.operations}, {run.rate:,.0f} readings/s"
    )


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
                run = measure(store, sensors)
                print(describe("the Cosmos-compatible server", sensors, run), flush=True)
                store.close()
        return
    for sensors in counts:
        with tempfile.TemporaryDirectory() as folder:
            store = SqliteStore(Path(folder) / "ops.db")
            print(describe("SQLite", sensors, measure(store, sensors)), flush=True)
            store.close()


if __name__ == "__main__":
    main()
