"""Count what repairing one late reading costs, on both stores.

    python -m bench.late_repair            # SQLite and the Cosmos-compatible server

A sensor has 30 readings, one summary each (the window is 10). Then one reading arrives
late, between the 15th and the 16th: it enters the summaries as of readings 16 to 24 and
gets its own. The summariser's store calls, and what each store executed for them (HTTP
requests on Cosmos DB, SQL statements on SQLite, every thread counted), are printed as a
Markdown section for docs/benchmarks.md.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.readings import Reading, format_timestamp
from pipeline.storage import Store
from pipeline.storage.sqlite_store import SqliteStore
from summariser.batch import summarise_batch
from summariser.state_cache import SensorStateCache

WINDOW = 10
START = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)


def measure(store: Store) -> tuple[int, Counter[str]]:
    """Summaries repaired, and the store's operations (by kind) for the late reading's batch."""
    cache = SensorStateCache()
    for n in range(30):
        reading = Reading(
            f"r{n:02d}", "sensor-1", 20.0 + n % 7, format_timestamp(START + timedelta(seconds=n))
        )
        store.put_readings([reading.to_document()])
        summarise_batch([reading.to_document()], store, WINDOW, START, cache=cache)
    late = Reading(
        "late", "sensor-1", 39.5, format_timestamp(START + timedelta(seconds=14, milliseconds=500))
    )
    store.put_readings([late.to_document()])
    before = Counter(store.meter.requests)  # type: ignore[attr-defined]
    outcome = summarise_batch([late.to_document()], store, WINDOW, START, cache=cache)
    return outcome.repaired, Counter(store.meter.requests) - before  # type: ignore[attr-defined]


def describe(backend: str, repaired: int, spent: Counter[str]) -> str:
    unit = "SQL statements" if backend == "SQLite" else "HTTP requests"
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(spent.items()))
    return f"| {backend} | {repaired} | {sum(spent.values())} {unit}: {kinds} |"


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "late.db")
        rows.append(describe("SQLite", *measure(store)))
        store.close()
    from tests.conftest import make_cosmos_store
    from tests.servers import cosmos_server

    with cosmos_server() as server:
        store = make_cosmos_store(server)
        rows.append(describe("Cosmos-compatible server", *measure(store)))
        store.close()
    print("| store | summaries repaired | operations for the late reading's batch |")
    print("| --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
