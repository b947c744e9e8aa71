"""`make bench`: every figure side by side in one run; a table, docs/benchmarks.md, one last line.

The last line printed is always
`bench: speedup=<x> ops_ratio=<x> ru_ratio=<x> viewers_ratio=<x> render_ms=<x> cached_ms=<x>
e2e_p95_s=<x> import_s=<x> scale_lag_s=<x>` (one line), so runs can be compared.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from bench import latency, read_side, throughput
from pipeline.settings import settings_from
from pipeline.storage.cosmos_store import CosmosStore
from pipeline.storage.sqlite_store import SqliteStore
from pipeline.web import create_web_app
from tests.conftest import make_cosmos_store
from tests.servers import ROOT, cosmos_server
from tests.test_chart import fixed_summaries
from visualiser.charts import render_chart

REPORT = ROOT / "docs" / "benchmarks.md"
PRICE_PER_MILLION_RU = 0.25
BASELINE_SECONDS = 10.0
rows: list[tuple[str, str, str]] = []


def say(section: str, what: str, value: str) -> None:
    rows.append((section, what, value))
    print(f"{section:<12} {what:<62} {value}", flush=True)


def kb(document: dict) -> float:
    return math.ceil(len(json.dumps(document)) / 1024)


def summariser(folder: Path) -> dict[str, float]:
    figures: dict[str, float] = {}
    # Embedded store: a big batch over 5 sensors, and one reading for each of 10,000 sensors.
    for sensors, per_sensor in ((5, 400), (10_000, 1)):
        store = SqliteStore(folder / f"throughput-{sensors}.db")
        ids, cache = throughput.prepare(store, sensors, history=2)
        ours = throughput.run_ours(store, ids, cache, 2, per_sensor)
        base = throughput.run_baseline(store, ids, 2 + per_sensor, per_sensor, BASELINE_SECONDS)
        say("summariser", f"SQLite, {sensors} sensors: ours readings/s", f"{ours.rate:,.0f}")
        say("summariser", f"SQLite, {sensors} sensors: baseline readings/s", f"{base.rate:,.0f}")
        say(
            "summariser",
            f"SQLite, {sensors} sensors: SQL statements/reading ours vs baseline",
            f"{ours.operations_per_reading:.3f} vs {base.operations_per_reading:.3f}",
        )
        figures[f"sqlite_{sensors}"] = ours.rate
        store.close()
    with cosmos_server() as server:
        for sensors, per_sensor in ((5, 20), (10_000, 1)):
            store = make_cosmos_store(server)
            assert isinstance(store, CosmosStore)
            ids, cache = throughput.prepare(store, sensors, history=1)
            ours = throughput.run_ours(store, ids, cache, 1, per_sensor)
            base = throughput.run_baseline(store, ids, 1 + per_sensor, per_sensor, BASELINE_SECONDS)
            states = store.sensor_states(ids[:1])
            state = states[ids[0]]
            sizes = {
                "replace": kb(CosmosStore.pointer_document(state.summary, state.window)),
                "upsert": kb(state.summary.to_document()),
            }
            ours_ru = throughput.estimated_ru(ours, sizes)
            base_ru = throughput.estimated_ru(base, {"upsert": 1.0})
            label = f"Cosmos server, {sensors} sensors"
            say("summariser", f"{label}: ours readings/s", f"{ours.rate:,.0f}")
            say("summariser", f"{label}: baseline readings/s ({base.readings} measured)", f"{base.rate:,.1f}")
            say("summariser", f"{label}: speedup", f"{ours.rate / base.rate:.1f}x")
            say(
                "summariser",
                f"{label}: requests/reading ours vs baseline",
                f"{ours.operations_per_reading:.3f} vs {base.operations_per_reading:.3f} "
                f"{ours.operations} vs {base.operations}",
            )
            say("summariser", f"{label}: est. RU/reading ours vs baseline", f"{ours_ru:.2f} vs {base_ru:.2f}")
            figures[f"cosmos_{sensors}_speedup"] = ours.rate / base.rate
            figures[f"cosmos_{sensors}_ops_ratio"] = ours.operations_per_reading / base.operations_per_reading
            figures[f"cosmos_{sensors}_ru_ratio"] = ours_ru / base_ru
            figures[f"cosmos_{sensors}_ru"] = ours_ru
            figures[f"cosmos_{sensors}_base_ru"] = base_ru
            store.close()
        figures.update(reads(server))
    return figures


def reads(server) -> dict[str, float]:
    sensors = [f"sensor-{n}" for n in range(1, 6)]
    costs = {}
    for name, visualiser in (("ours", read_side.ours), ("original", read_side.original)):
        for viewers in (1, 100):
            store = make_cosmos_store(server)
            writer = CosmosStore(store._client, store._database_name)
            cost = visualiser(store, writer, sensors, viewers)
            per_hour = cost.queries_per_hour
            costs[(name, viewers)] = per_hour
            say(
                "read side",
                f"{name}, {viewers} viewer(s): queries/hour (RU/hour)",
                f"{per_hour:,.0f} ({per_hour * throughput.RU_PER_QUERY:,.0f} RU)",
            )
    ratio = costs[("ours", 100)] / costs[("original", 100)]
    say("read side", "ours / original at 100 viewers", f"{ratio:.3f}")
    say("read side", "ours: 100 viewers / 1 viewer", f"{costs[('ours', 100)] / costs[('ours', 1)]:.2f}")
    return {"viewers_ratio": ratio}


def charts(folder: Path) -> dict[str, float]:
    summaries = fixed_summaries()
    render_chart("warm-up", summaries)
    renders = []
    for n in range(30):
        started = time.perf_counter()
        render_chart(f"sensor-{n}", summaries[n % 5 :])
        renders.append((time.perf_counter() - started) * 1000)
    first = latency.first_render_seconds() * 1000
    store = SqliteStore(folder / "charts.db")
    from pipeline.storage import Publication

    store.publish([Publication(s, (), None) for s in summaries[::-1]])
    app = create_web_app(store=store, settings=settings_from({}))
    with TestClient(app) as client:
        etag = client.get("/plot/sensor-1.png").headers["etag"]
        read_model = app.state.read_model
        hits, http_hits, not_modified = [], [], []
        for _ in range(200):
            started = time.perf_counter()
            read_model.chart("sensor-1")
            hits.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            client.get("/plot/sensor-1.png")
            http_hits.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            client.get("/plot/sensor-1.png", headers={"If-None-Match": etag})
            not_modified.append((time.perf_counter() - started) * 1000)
    store.close()
    figures = {
        "render_ms": statistics.median(renders),
        "first_ms": first,
        "cached_ms": statistics.median(hits),
        "http_cached_ms": statistics.median(http_hits),
        "not_modified_ms": statistics.median(not_modified),
    }
    say("charts", "first render in a fresh process (import included), ms", f"{first:.0f}")
    say("charts", "render, median of 30, ms", f"{figures['render_ms']:.1f}")
    say("charts", "cache hit in the read model, median, ms", f"{figures['cached_ms']:.3f}")
    say(
        "charts",
        "cache hit through HTTP (in-process test client), median, ms",
        f"{figures['http_cached_ms']:.2f}",
    )
    say("charts", "304 Not Modified through HTTP, median, ms", f"{figures['not_modified_ms']:.2f}")
    return figures


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = cpu
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, Python {platform.python_version()}"


def write_report(final_line: str) -> None:
    revision = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "# Benchmarks",
        "",
        f"Command: `make bench` (`python -m bench.run`), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"revision {revision or 'uncommitted'}.",
        "",
        f"Machine: {machine()}.",
        "",
        "Ratios matter more than absolute times: both sides run in the same process, on the same",
        "store and data. The Cosmos-compatible server is `@vercel/cosmosdb-server` (in memory, one",
        "Node process, it scans every document per query), not Cosmos DB; RU are estimated from",
        "request counts with the documented charges (1 KB write ~ 6 RU, small query ~ 7 RU).",
        "",
        "| section | measurement | value |",
        "| --- | --- | --- |",
        *[f"| {section} | {what} | {value} |" for section, what, value in rows],
        "",
        "```",
        final_line,
        "```",
        "",
        "## What profiling changed (pyinstrument)",
        "",
        "- Charts: `tight_layout()` and matplotlib's date locator/formatter took more than half of",
        "  each render; fixed margins, a plain numeric time axis and one reused figure per thread",
        "  brought a render from ~120 ms to under 40 ms.",
        "- Summariser on SQLite: one transaction per batch and the pointer's compare-and-swap as one",
        "  `UPDATE ... WHERE version = ?` (was SELECT then UPDATE) roughly doubled throughput at",
        "  10,000 sensors.",
        "- `/api/summary-timestamps` at 10,000 sensors: FastAPI's encoding of a 10,000-entry answer",
        "  and the refresh on the request path gave a p95 of ~400 ms; the answer is now encoded once",
        "  per refresh and refreshed in the background (p95 ~110-150 ms).",
        "",
        "## Reading the figures",
        "",
        "- The speedup at 10,000 sensors is inflated by the test server, which scans every document",
        "  for each query: the baseline makes one query per sensor, ours none in the steady state.",
        "  On Cosmos DB (indexed, ~5 ms per request) expect the ratio of one sequential query+write",
        "  per sensor to two concurrent writes: roughly 10x with 16 requests in flight.",
        "- At 5 sensors with large batches the baseline looks faster per reading: it never looks at",
        "  the readings (no validation, one query per sensor), while ours validates every one.",
        "- The read side grows 1.5x from 1 to 100 viewers and cannot grow further: the shared cache is",
        "  refreshed at most once per second per instance, however many viewers poll.",
        "- Feed lag in the scale run includes the generator's own delay: a tick writes readings",
        "  stamped up to 10 s earlier.",
        "",
    ]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines))


def main() -> None:
    print(f"{'section':<12} {'measurement':<62} value", flush=True)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        # The process-local figures first, before the big runs leave garbage behind.
        figures = charts(folder)
        import_s = latency.import_seconds()
        say("cold start", "import function_app, median of 5, s", f"{import_s:.3f}")
        figures.update(summariser(folder))
        e2e = latency.end_to_end(folder)
        say(
            "end to end",
            f"reading written -> summary visible, {len(e2e.latencies)} readings, p50 s",
            f"{e2e.p50:.2f}",
        )
        say("end to end", "p95 s", f"{e2e.p95:.2f}")
        scale = latency.scale(folder)
        say(
            "scale",
            f"{scale.sensors} sensors for {scale.seconds:.0f} s: readings written",
            f"{scale.readings:,}",
        )
        say("scale", "feed lag, max / at the end, s", f"{scale.max_lag:.1f} / {scale.final_lag:.1f}")
        say(
            "scale",
            "/api/summary-timestamps p50 / p95, ms",
            f"{scale.timestamps_p50_ms:.0f} / {scale.timestamps_p95_ms:.0f}",
        )
        say("scale", "chart images on the dashboard at once", str(scale.cards_on_page))
    final_line = (
        f"bench: speedup={figures['cosmos_10000_speedup']:.1f} "
        f"ops_ratio={figures['cosmos_10000_ops_ratio']:.3f} "
        f"ru_ratio={figures['cosmos_10000_ru_ratio']:.3f} "
        f"viewers_ratio={figures['viewers_ratio']:.3f} "
        f"render_ms={figures['render_ms']:.1f} cached_ms={figures['cached_ms']:.3f} "
        f"e2e_p95_s={e2e.p95:.2f} import_s={import_s:.3f} scale_lag_s={scale.max_lag:.1f}"
    )
    write_report(final_line)
    print(f"wrote {REPORT.relative_to(ROOT)}", flush=True)
    print(final_line, flush=True)


if __name__ == "__main__":
    main()
