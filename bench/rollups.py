"""What the time windows (docs/rollups.md) cost and how fast they are read.

    python -m bench.rollups            # both parts (the Cosmos part starts the test server)
    python -m bench.rollups --sqlite   # the read time only

`figures()` returns:

- `rollup_query_ms`: `GET /api/sensors/{id}/rollups` for 24 h of 1-minute buckets of one
  sensor (1,440 windows) on SQLite, warm, median of 7 (target <= 50); `rollup_store_ms`
  the store's `rollups()` call alone.
- On the Cosmos-compatible server, requests priced by `bench.cost_model` (the deployed
  indexing policy): the windows' reads, writes and RU per reading, in the shape of the
  feed at 10,000 sensors (every sensor reports every 5.5 s; a batch holds one reading of
  each of its sensors), minute windows measured over several minutes of readings and the
  hourly window measured at one hour's close and spread over that hour's readings; and
  `windows_ru_ratio`: that RU per reading over the original design's whole summariser RU
  per reading (`bench.original`, measured the same way; budget <= 0.15), and
  `windows_share_of_ours`: their share of our summariser's RU per reading, windows included.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.readings import format_timestamp
from pipeline.storage.sqlite_store import SqliteStore
from summariser import rollup_writer
from summariser.batch import summarise_batch
from summariser.state_cache import SensorStateCache

ROOT = Path(__file__).resolve().parent.parent
GAP_S = 5.5  # every sensor reports every 5.5 s on average (bench.scenarios)
START = datetime(2026, 1, 1, tzinfo=UTC)
RUNS = 7


def _reading(sensor_id: str, n: int, moment: datetime) -> dict[str, Any]:
    return {
        "id": f"{sensor_id}-{n:06d}",
        "sensor_id": sensor_id,
        "temperature": round(15 + (n * 7919 % 2500) / 100, 2),
        "timestamp": format_timestamp(moment),
    }


def query_ms(folder: Path) -> dict[str, Any]:
    """24 h of one sensor's minute windows, read warm through the HTTP route and the store."""
    from fastapi.testclient import TestClient

    from pipeline.settings import settings_from
    from web_app import create_web_app

    store = SqliteStore(folder / "rollups.db")
    store.ensure_ready()
    # 4 readings a minute for a day, summarised in batches of 40: every minute closes.
    readings = [_reading("dev-1", n, START + timedelta(seconds=15 * n)) for n in range(4 * 1440 + 1)]
    store.put_readings(readings)
    cache = SensorStateCache()
    for start in range(0, len(readings), 40):
        summarise_batch(readings[start : start + 40], store, 10, START, cache=cache)
    span = {
        "bucket": "1m",
        "from": format_timestamp(START),
        "to": format_timestamp(START + timedelta(days=1)),
    }
    with TestClient(create_web_app(store=store, settings=settings_from({}))) as client:
        answer = client.get("/api/sensors/dev-1/rollups", params=span).json()
        assert len(answer["buckets"]) == 1440, len(answer["buckets"])
        route = []
        for _ in range(RUNS):
            started = time.perf_counter()
            client.get("/api/sensors/dev-1/rollups", params=span)
            route.append((time.perf_counter() - started) * 1000)
    direct = []
    for _ in range(RUNS):
        started = time.perf_counter()
        store.rollups("dev-1", "1m", span["from"], span["to"])
        direct.append((time.perf_counter() - started) * 1000)
    store.close()
    return {
        "rollup_query_ms": statistics.median(route),
        "rollup_store_ms": statistics.median(direct),
        "route_runs_ms": route,
        "store_runs_ms": direct,
    }


@contextmanager
def windows_phase(log: Any) -> Iterator[None]:
    """Label every request the window writer makes as the phase "windows"."""
    original = rollup_writer.windows_for

    def labelled(store: Any, publication: Any, batch: Any) -> Any:
        before, log.phase = log.phase, "windows"
        try:
            return original(store, publication, batch)
        finally:
            log.phase = before

    rollup_writer.windows_for = labelled
    try:
        yield
    finally:
        rollup_writer.windows_for = original


def _windows_run(
    make_store: Callable[[], Any], sensors: int, readings_per_sensor: int, first: datetime
) -> dict:
    """Summarise readings 5.5 s apart, one per sensor per batch; the windows' priced requests."""
    from bench.cost_model import total_ru
    from bench.metering import OperationLog, deployed_policies

    store = make_store()
    log = OperationLog(deployed_policies(ROOT))
    store.meter = log
    cache = SensorStateCache()
    ids = [f"s{n:04d}" for n in range(sensors)]
    original_put = store.put_rollups

    def put_labelled(rollups: Any) -> None:
        before, log.phase = log.phase, "windows"
        try:
            original_put(rollups)
        finally:
            log.phase = before

    store.put_rollups = put_labelled
    with windows_phase(log):
        for n in range(readings_per_sensor):
            moment = first + timedelta(seconds=GAP_S * n)
            batch = [_reading(sensor, n, moment + timedelta(milliseconds=i)) for i, sensor in enumerate(ids)]
            log.phase = "ingest"
            store.put_readings(batch)
            log.phase = "summariser"
            summarise_batch(batch, store, 10, START, cache=cache)
    operations = log.by_phase().get("windows", [])
    store.close()
    reads = sum(1 for o in operations if o.kind in ("query", "read"))
    writes = sum(1 for o in operations if o.kind in ("insert", "replace"))
    return {
        "ru": total_ru(operations),
        "reads": reads,
        "writes": writes,
        "readings": sensors * readings_per_sensor,
    }


def cosmos_figures(make_store: Callable[[], Any]) -> dict[str, float]:
    """The windows' requests per reading at the 10,000-sensor shape, beside the original's RU."""
    from bench import system
    from bench.metering import deployed_policies

    # Minutes: 20 sensors for 4 minutes of readings (each closes 3-4 minute windows).
    minutes = _windows_run(make_store, 20, int(4 * 60 / GAP_S), START + timedelta(seconds=1))
    # The hour: one sensor's readings of a whole hour, then the reading that closes it.
    hour_store = make_store()
    per_hour = int(3600 / GAP_S)
    hour_start = START + timedelta(hours=1)
    history = [_reading("h", n, hour_start + timedelta(seconds=GAP_S * n)) for n in range(per_hour)]
    for start in range(0, len(history), 100):
        hour_store.put_readings(history[start : start + 100])
    summarise_batch(history[-1:], hour_store, 10, START)  # the sensor's pointer, within the hour
    closing = _closing_run(hour_store, hour_start + timedelta(hours=1, seconds=1))
    hour_store.close()
    # Less the minute window that reading closes too (a query and an insert, as measured above).
    hour_ru = closing["ru"] - minutes["ru"] / max(1, minutes["writes"])
    per_reading = minutes["ru"] / minutes["readings"] + max(0.0, hour_ru) / per_hour
    sides = {}
    for side in ("original", "ours"):
        store = make_store()
        sides[side] = system.summariser_per_reading(side, store, deployed_policies(ROOT), 20, 3)
        store.close()
    original = sides["original"]
    return {
        "windows_reads_per_reading": minutes["reads"] / minutes["readings"] + 1 / per_hour,
        "windows_writes_per_reading": minutes["writes"] / minutes["readings"] + 1 / per_hour,
        "windows_ru_per_reading": per_reading,
        "windows_hour_close_ru": hour_ru,
        "original_ru_per_reading": original,
        "windows_ru_ratio": per_reading / original,
        # Ours measured in the same shape, within one minute: no window closes in it.
        "ours_summaries_ru_per_reading": sides["ours"],
        "windows_share_of_ours": per_reading / (sides["ours"] + per_reading),
    }


def _closing_run(store: Any, moment: datetime) -> dict[str, float]:
    """The priced requests of the windows one reading that closes an hour writes."""
    from bench.cost_model import total_ru
    from bench.metering import OperationLog, deployed_policies

    log = OperationLog(deployed_policies(ROOT))
    store.meter = log
    log.phase = "summariser"
    with windows_phase(log):
        summarise_batch([_reading("h", 10**6, moment)], store, 10, START)
    return {"ru": total_ru(log.by_phase().get("windows", []))}


def figures(cosmos: bool = True) -> dict[str, float]:
    """Every figure of this module (the Cosmos part starts the Cosmos-compatible server)."""
    with tempfile.TemporaryDirectory() as folder:
        found = query_ms(Path(folder))
    if cosmos:
        from tests.conftest import make_cosmos_store
        from tests.servers import cosmos_server

        with cosmos_server() as server:
            found.update(cosmos_figures(lambda: make_cosmos_store(server)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sqlite", action="store_true", help="only the SQLite read time")
    arguments = parser.parse_args()
    for name, value in figures(cosmos=not arguments.sqlite).items():
        if isinstance(value, list):  # the timed runs behind a median
            print(f"{name} = {', '.join(f'{run:.4g}' for run in value)}", flush=True)
        else:
            print(f"{name} = {value:.4g}", flush=True)


if __name__ == "__main__":
    main()
