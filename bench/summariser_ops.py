"""Count the store operations the summariser makes per reading, ours beside the original.

    python -m bench.summariser_ops                       # 5 and 10,000 sensors, SQLite
    python -m bench.summariser_ops --cosmos --sensors 5 --sensors 100

Both sides start from the same container and summarise the same readings in change-feed
batches of 100 documents (see `bench.throughput`). On the Cosmos-compatible server the
store's request meter counts HTTP requests (what Cosmos DB bills); on SQLite a trace
callback on every connection the store opens counts SQL statements, on every thread.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import throughput


def describe(backend: str, unit: str, sensors: int, runs: dict[str, throughput.Run]) -> str:
    ours, original = runs["ours"], runs["original"]
    return (
        f"summariser on {backend}, {sensors} sensors, {ours.readings:,} readings: "
        f"ours {ours.operations_per_reading:.2f} {unit}/reading {dict(sorted(ours.operations.items()))}, "
        f"original {original.operations_per_reading:.2f} {dict(sorted(original.operations.items()))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sensors", type=int, action="append", help="repeatable; default 5 and 10000")
    parser.add_argument("--cosmos", action="store_true", help="on the Cosmos-compatible server")
    arguments = parser.parse_args()
    counts = arguments.sensors or [5, 10_000]
    if arguments.cosmos:
        from tests.conftest import make_cosmos_store
        from tests.servers import cosmos_server

        with cosmos_server() as server:
            for sensors in counts:
                runs = throughput.cosmos_pair(
                    lambda: make_cosmos_store(server), sensors, max(2, 200 // sensors)
                )
                print(describe("the Cosmos-compatible server", "HTTP requests", sensors, runs), flush=True)
        return
    with tempfile.TemporaryDirectory() as folder:
        for sensors in counts:
            runs = throughput.sqlite_pair(Path(folder), sensors, max(2, 2000 // sensors))
            print(describe("SQLite", "SQL statements", sensors, runs), flush=True)


if __name__ == "__main__":
    main()
