"""`make bench`: every figure side by side in one run; a table, docs/benchmarks.md, one last line.

Each figure compares ours with the original design as written (`bench.original`) on the
same store and data, in the same run. The last line printed is always `bench: key=value
...` (one line), so runs can be compared; README and docs cite its keys.

This module runs the measurements; `bench.cost_report` prices what they recorded and
`bench.report` writes the table, the targets, docs/benchmarks.md and the README blocks.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from bench import ingest, latency, original, read_side, system, throughput
from bench.cost_model import total_ru
from bench.cost_report import (
    LARGE_SENSORS,
    MANY_VIEWERS,
    Recorded,
    costs,
    describe_operations,
    window_ru_ratio,
)
from bench.metering import deployed_policies
from bench.report import (
    REPEATS,
    REPORT,
    final_line,
    late_repair,
    say,
    spread,
    timed,
    update_readme,
    verdicts,
    write_report,
)
from pipeline.settings import settings_from
from pipeline.storage import Publication
from pipeline.storage.sqlite_store import SqliteStore
from tests.conftest import make_cosmos_store
from tests.servers import ROOT, cosmos_server
from tests.test_chart import fixed_summaries
from visualiser.charts import render_chart
from web_app import create_web_app

SENSORS_A = [f"sensor-{n}" for n in range(1, 6)]
# BENCH_QUICK=1 checks the plumbing in a minute; its figures are not for the docs.
QUICK = os.environ.get("BENCH_QUICK") == "1"
SIMULATED_SECONDS = 20.0 if QUICK else 240.0
MANY_VIEWERS_SECONDS = 10.0 if QUICK else 40.0
PER_SENSOR = 2 if QUICK else 3  # readings of each of 100 sensors, for RU per reading (counts, not timings)
SQLITE_LARGE_SENSORS = 1_000 if QUICK else LARGE_SENSORS


def charts(folder: Path) -> dict[str, float]:
    """Ours (one reused figure per thread) and the original (a new pyplot figure), same run."""
    summaries = fixed_summaries()
    render_chart("warm-up", summaries)
    original.render_chart("warm-up", summaries)
    ours_ms: list[float] = []
    original_ms: list[float] = []
    for n in range(30):  # interleaved, so both see the same machine
        ours_ms += timed(lambda n=n: render_chart(f"sensor-{n}", summaries[n % 5 :]), 1)
        original_ms += timed(lambda n=n: original.render_chart(f"sensor-{n}", summaries[n % 5 :]), 1)
    first = latency.first_render_seconds() * 1000
    store = SqliteStore(folder / "charts.db")
    store.publish([Publication(s, (), None) for s in summaries[::-1]])
    app = create_web_app(store=store, settings=settings_from({}))
    with TestClient(app) as client:
        etag = client.get("/plot/sensor-1.png").headers["etag"]
        read_model = app.state.read_model
        hits = timed(lambda: read_model.chart("sensor-1"), 200)
        http_hits = timed(lambda: client.get("/plot/sensor-1.png"), 200)
        not_modified = timed(lambda: client.get("/plot/sensor-1.png", headers={"If-None-Match": etag}), 200)
    store.close()
    figures = {
        "render_ms": statistics.median(ours_ms),
        "original_render_ms": statistics.median(original_ms),
        "first_ms": first,
        "cached_ms": statistics.median(hits),
    }
    figures["render_ratio"] = figures["render_ms"] / figures["original_render_ms"]
    say(
        "charts",
        "render, 50 summaries, 30 runs: ours (reused figure), min / median / max ms",
        spread(ours_ms),
    )
    say(
        "charts",
        "render, same charts, 30 runs: original (new pyplot figure), min / median / max ms",
        spread(original_ms),
    )
    say("charts", "render ours / original (medians)", f"{figures['render_ratio']:.2f}")
    say("charts", "first render in a fresh process (import included), ms", f"{first:.0f}")
    say("charts", "cache hit in the read model, 200 runs, min / median / max ms", spread(hits, 3))
    say("charts", "cache hit through HTTP (in-process test client), 200 runs, ms", spread(http_hits, 2))
    say("charts", "304 Not Modified through HTTP, 200 runs, min / median / max ms", spread(not_modified, 2))
    return figures


def describe(runs: dict[str, throughput.Series], label: str, unit: str, cpu: bool) -> dict[str, float]:
    """Print every side's repeats; return ours ÷ each baseline, from the medians (readings/s).

    Where the store runs in this process (SQLite) the rate per CPU second is printed too:
    it is not inflated by other work on a shared machine, but it leaves out waiting for
    the disk (each commit is flushed), which is part of the cost.
    """
    ours = runs["ours"]
    for name, series in runs.items():
        rates = series.spread() + (f" ({series.cpu_rate:,.0f} per CPU second)" if cpu else "")
        say(
            "summariser",
            f"{label}: {name}, readings/s, {len(series.runs)} repeats of "
            f"{series.readings // max(1, len(series.runs)):,} readings, min / median / max",
            rates,
        )
    ratios = {}
    for name, series in runs.items():
        if name == "ours":
            continue
        ratios[name] = ours.rate / series.rate
        by_cpu = f" ({ours.cpu_rate / series.cpu_rate:.2f}x per CPU second)" if cpu else ""
        say("summariser", f"{label}: ours / {name} (medians)", f"{ratios[name]:.2f}x{by_cpu}")
    baseline = runs["original"]
    say(
        "summariser",
        f"{label}: {unit}/reading ours vs original",
        f"{ours.operations_per_reading:.2f} vs {baseline.operations_per_reading:.2f} "
        f"({dict(sorted(ours.operations.items()))} vs {dict(sorted(baseline.operations.items()))})",
    )
    return ratios


def summariser_sqlite(folder: Path) -> dict[str, float]:
    five = throughput.sqlite_pair(folder, 5, 400 if QUICK else 2000)
    ratios = describe(five, "SQLite, 5 sensors", "SQL statements", cpu=True)
    figures = {
        "speedup_sqlite_5": ratios["original"],
        "speedup_sqlite_5_batched": ratios[throughput.BATCHED],
        "sqlite_5_rate": five["ours"].rate,
    }
    large = throughput.sqlite_pair(folder, SQLITE_LARGE_SENSORS, 2 if QUICK else 1)
    ratios = describe(large, f"SQLite, {SQLITE_LARGE_SENSORS:,} sensors", "SQL statements", cpu=True)
    figures["speedup_sqlite_10k"] = ratios["original"]
    figures["speedup_sqlite_10k_batched"] = ratios[throughput.BATCHED]
    return figures


def on_cosmos(server) -> tuple[dict[str, float], Recorded]:  # type: ignore[no-untyped-def]
    """Summariser, ingest and whole-system requests on the Cosmos-compatible server."""
    figures: dict[str, float] = {}
    pair = throughput.cosmos_pair(lambda: make_cosmos_store(server), 5, 200)
    # The in-memory test server's speed, not Cosmos DB's: reported, never a target.
    figures["test_server_speedup"] = describe(
        pair, "Cosmos-compatible test server (not Cosmos DB), 5 sensors", "HTTP requests", cpu=False
    )["original"]
    figures["ops_ratio"] = pair["ours"].operations_per_reading / pair["original"].operations_per_reading

    store = make_cosmos_store(server)
    figures["ingest_trips_per_1000"] = ingest.round_trips(store)
    store.close()
    say(
        "ingest",
        "Cosmos requests for one POST of 1,000 readings (5 sensors)",
        f"{figures['ingest_trips_per_1000']:.0f}",
    )

    policies = deployed_policies(ROOT)
    recorded = Recorded()
    for side in ("ours", "original"):
        store = make_cosmos_store(server)
        recording = system.run(side, store, policies, SENSORS_A, 1, SIMULATED_SECONDS)
        store.close()
        recorded.runs[side] = recording
        recorded.summariser_ru_per_reading_5[side] = total_ru(
            recording.operations.get("summariser", [])
        ) / max(1, recording.readings)
        recorded.windows_ru_per_reading[side] = total_ru(recording.operations.get("windows", [])) / max(
            1, recording.readings
        )
        say(
            "system",
            f"{side}: 5 sensors, 1 viewer, {SIMULATED_SECONDS:.0f} simulated s: "
            "readings, batches, polls, charts",
            f"{recording.readings}, {recording.batches}, {recording.polls}, {recording.chart_requests}",
        )
        for phase in ("generator", "summariser", "windows", "poll", "chart"):
            say(
                "system",
                f"{side}: {phase} requests, per kind: count x mean bytes (indexed values), RU each",
                describe_operations(recording.operations.get(phase, [])),
            )
        store = make_cosmos_store(server)
        per_reading = system.summariser_per_reading(side, store, policies, 100, PER_SENSOR)
        store.close()
        recorded.summariser_ru_per_reading[side] = per_reading
        say(
            "system",
            f"{side}: summariser RU/reading at 5 sensors (the run above)",
            f"{recorded.summariser_ru_per_reading_5[side]:.2f}",
        )
        say(
            "system",
            f"{side}: summariser RU/reading, the feed's shape at 10,000 sensors (batches of one "
            f"reading of each of 100 sensors, {100 * PER_SENSOR:,} readings)",
            f"{per_reading:.2f}",
        )
    figures["ru_ratio"] = (
        recorded.summariser_ru_per_reading["ours"] / recorded.summariser_ru_per_reading["original"]
    )
    figures["summariser_ru_ratio_10k"] = figures["ru_ratio"]
    figures["summariser_ru_ratio_5"] = (
        recorded.summariser_ru_per_reading_5["ours"] / recorded.summariser_ru_per_reading_5["original"]
    )
    for key in ("summariser_ru_ratio_5", "summariser_ru_ratio_10k"):
        say("system", f"{key}: summariser RU/reading ours / original", f"{figures[key]:.3f}")

    store = make_cosmos_store(server)
    many = system.run("ours", store, policies, SENSORS_A, MANY_VIEWERS, MANY_VIEWERS_SECONDS)
    store.close()
    page = {
        "ours": many.per_hour(
            sum(o.request_units for p in ("poll", "chart") for o in many.operations.get(p, []))
        ),
    }
    one_viewer = recorded.runs["original"]
    # The original keeps nothing between requests: 100 viewers cost 100 times one viewer.
    page["original"] = MANY_VIEWERS * one_viewer.per_hour(
        sum(o.request_units for p in ("poll", "chart") for o in one_viewer.operations.get(p, []))
    )
    figures["viewers_ratio"] = page["ours"] / page["original"]
    say(
        "read side",
        f"ours, {MANY_VIEWERS} viewers ({many.polls:,} polls measured): page RU/hour",
        f"{page['ours']:,.0f}",
    )
    say(
        "read side",
        f"original, {MANY_VIEWERS} viewers (100 x 1 viewer measured): page RU/hour",
        f"{page['original']:,.0f}",
    )
    say("read side", "ours / original", f"{figures['viewers_ratio']:.4f}")
    figures.update(rollup_windows(server))
    return figures, recorded


def rollup_query(folder: Path) -> dict[str, float]:
    """24 h of one sensor's 1-minute windows through the route and the store, SQLite, warm."""
    from bench import rollups

    found = rollups.query_ms(folder)
    say(
        "rollups",
        f"rollup_query_ms: 1,440 1-minute buckets via the route, {rollups.RUNS} runs, min / median / max ms",
        spread(found["route_runs_ms"], 1),
    )
    say(
        "rollups",
        f"the same buckets from the store alone, {rollups.RUNS} runs, min / median / max ms",
        spread(found["store_runs_ms"], 1),
    )
    return {"rollup_query_ms": found["rollup_query_ms"]}


def rollup_windows(server) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The time windows' RU per reading at the 10,000-sensor shape, by `bench.rollups` (if present)."""
    try:
        from bench import rollups
    except ImportError:
        return {}
    measure = getattr(rollups, "cosmos_figures", None)
    if measure is None:
        return {}
    found = measure(lambda: make_cosmos_store(server))
    say(
        "rollups",
        "time windows (bench.rollups, 10,000 shape): reads / writes / RU per reading",
        f"{found['windows_reads_per_reading']:.3f} / {found['windows_writes_per_reading']:.3f} / "
        f"{found['windows_ru_per_reading']:.3f}",
    )
    say(
        "rollups",
        "the original summariser's RU per reading, measured the same way",
        f"{found['original_ru_per_reading']:.2f}",
    )
    return {"window_ru_ratio_10k": found["windows_ru_ratio"]}


def end_to_end(folder: Path) -> dict[str, float]:
    """`REPEATS` fresh local hosts, each timing its own readings; p95 of each, then the median."""
    runs = [latency.end_to_end(folder / f"e2e-{n}", readings=8 if QUICK else 40) for n in range(REPEATS)]
    p50s, p95s = [run.p50 for run in runs], [run.p95 for run in runs]
    count = sum(len(run.latencies) for run in runs)
    say(
        "end to end",
        f"reading written -> summary visible, {REPEATS} hosts, {count} readings: p50 min / median / max s",
        spread(p50s, 2),
    )
    say("end to end", "p95 of each host, min / median / max s", spread(p95s, 2))
    return {"e2e_p95_s": statistics.median(p95s)}


def at_scale(folder: Path) -> tuple[dict[str, float], int | None]:
    """`REPEATS` fresh local hosts with 10,000 sensors; each figure's median over them."""
    runs = [latency.scale(folder / f"scale-{n}", seconds=4 if QUICK else 20) for n in range(REPEATS)]
    first = runs[0]
    say(
        "scale",
        f"{first.sensors} sensors, {REPEATS} hosts x {first.seconds:.0f} s: readings written, "
        "min / median / max",
        spread([float(run.readings) for run in runs], 0),
    )
    say("scale", "feed lag, max of each host, min / median / max s", spread([run.max_lag for run in runs]))
    say(
        "scale",
        "/api/summary-timestamps p50 of each host, min / median / max ms",
        spread([run.timestamps_p50_ms for run in runs], 0),
    )
    say(
        "scale",
        "/api/summary-timestamps p95 of each host, min / median / max ms",
        spread([run.timestamps_p95_ms for run in runs], 0),
    )
    cards = next((run.cards_on_page for run in runs if run.cards_on_page), None)
    say("scale", "chart images on the dashboard at once", str(cards))
    return {
        "scale_lag_s": statistics.median(run.max_lag for run in runs),
        "timestamps_p95_ms": statistics.median(run.timestamps_p95_ms for run in runs),
    }, cards


def main() -> None:
    started = time.perf_counter()
    print(f"{'section':<11} {'measurement':<78} value", flush=True)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        # The process-local figures first, before the big runs leave garbage behind.
        figures: dict[str, float] = charts(folder)
        imports = latency.import_seconds_runs(REPEATS)
        figures["import_s"] = statistics.median(imports)
        say("cold start", f"import function_app, {REPEATS} runs, min / median / max s", spread(imports, 3))
        figures.update(summariser_sqlite(folder))
        figures.update(rollup_query(folder))
        with cosmos_server() as server:
            cosmos_figures, recorded = on_cosmos(server)
        figures.update(cosmos_figures)
        figures.update(end_to_end(folder))
        scale_figures, cards = at_scale(folder)
        figures.update(scale_figures)
        polled = 4_000 if QUICK else 40_000
        poll = read_side.poll_bytes(sensors=polled)
        figures["idle_poll_bytes_40k"] = poll["idle"]
        say(
            "read side",
            f"one poll at {polled:,} sensors, bytes on the wire: first (gzip) / idle (304) / one changed",
            f"{poll['first']:,} / {poll['idle']:,} / {poll['one_changed']:,}",
        )
    visible = cards or 24
    cost_figures, cost_table, fleet_table = costs(recorded, visible)
    figures.update(cost_figures)
    figures["repeats"] = REPEATS
    # The windows: `bench.rollups`' measurement when present; the system run's otherwise.
    recorded_ratio = window_ru_ratio(recorded)
    if recorded_ratio is not None:
        say(
            "rollups",
            "time windows in the 5-sensor system run: RU/reading / the original summariser's (10,000 shape)",
            f"{recorded_ratio:.3f}",
        )
    window = figures.get("window_ru_ratio_10k", recorded_ratio)
    reported: dict[str, float | None] = {**figures, "window_ru_ratio_10k": window}
    if window is None:
        say("rollups", "window_ru_ratio_10k: no time windows on this tree", "n/a")
    else:
        figures["window_ru_ratio_10k"] = window
        say("rollups", "window_ru_ratio_10k", f"{window:.3f}")
    line = final_line(reported)
    for verdict in verdicts(figures)[2:]:
        if "MISSED" in verdict:
            print(f"target missed: {verdict}", flush=True)
    if QUICK:
        print("quick run (BENCH_QUICK=1): nothing written", flush=True)
    else:
        write_report(
            line, figures, cost_table + ["", *fleet_table], time.perf_counter() - started, late_repair()
        )
        update_readme({"last-line": ["```", line, "```"], "targets": verdicts(figures), "costs": cost_table})
        print(f"wrote {REPORT.relative_to(ROOT)} and the README's benchmark and cost tables", flush=True)
    print(line, flush=True)


if __name__ == "__main__":
    main()
