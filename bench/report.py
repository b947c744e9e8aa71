"""What `make bench` says: its table of measurements, the targets, the report and the README blocks.

Every section of `bench.run` reports through `say`; at the end `write_report` writes
docs/benchmarks.md from what was said, and `update_readme` the README's generated blocks.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import throughput
from tests.servers import ROOT

REPORT = ROOT / "docs" / "benchmarks.md"


README = ROOT / "README.md"


# What the issue asked of each figure: (key, comparison, target).
TARGETS: list[tuple[str, str, float]] = [
    ("summariser_ru_ratio_5", "<=", 1.0),
    ("summariser_ru_ratio_10k", "<=", 1.0),
    ("window_ru_ratio_10k", "<=", 0.15),
    ("rollup_query_ms", "<=", 50),
    ("ru_ratio_a", "<=", 0.6),
    ("ru_ratio_c", "<=", 0.05),
    ("speedup_sqlite_5_batched", ">=", 3),
    ("speedup_sqlite_10k_batched", ">=", 1.0),
    ("repeats", ">=", 5),
    ("usd_per_million_c", "<=", 1.0),
    ("speedup_sqlite_5", ">=", 20),
    ("speedup_sqlite_10k", ">=", 2),
    ("ingest_trips_per_1000", "<=", 20),
    ("render_ratio", "<=", 0.5),
    ("viewers_ratio", "<=", 0.2),
    ("render_ms", "<=", 40),
    ("cached_ms", "<=", 2),
    ("e2e_p95_s", "<=", 2),
    ("import_s", "<=", 0.3),
    ("timestamps_p95_ms", "<=", 200),
    ("sqlite_5_rate", ">=", 20_000),
    ("idle_poll_bytes_40k", "<=", 1024),
]


# Every timed figure is measured this many times; printed as min / median / max.
REPEATS = throughput.REPEATS


rows: list[tuple[str, str, str]] = []


STARTED = time.perf_counter()


LOAD_AT_START = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def say(section: str, what: str, value: str) -> None:
    rows.append((section, what, value))
    elapsed = time.perf_counter() - STARTED
    print(f"{section:<11} {what:<78} {value}  [{elapsed:.0f} s]", flush=True)


def spread(values: list[float], digits: int = 1) -> str:
    """min / median / max, for every timed figure."""
    return f"{min(values):,.{digits}f} / {statistics.median(values):,.{digits}f} / {max(values):,.{digits}f}"


def timed(work: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return times


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
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    cores = os.cpu_count() or 1
    shared = (
        f" The load average was {LOAD_AT_START:.1f} when the run started and {load:.1f} when it ended"
        f" on {cores} cores"
    )
    if max(LOAD_AT_START, load) > cores:
        shared += (
            ": the machine was shared with other work while it was measured, so absolute timings"
            " are noisy; ratios measured side by side in the same run much less so"
        )
    return f"{cores} cores ({model}), {memory:.0f} GiB, Python {platform.python_version()}.{shared}"


def verdicts(figures: dict[str, float]) -> list[str]:
    lines = ["| key | target | measured | |", "| --- | --- | --- | --- |"]
    for key, comparison, target in TARGETS:
        value = figures.get(key)
        if value is None:
            continue
        met = value >= target if comparison == ">=" else value <= target
        lines.append(
            f"| `{key}` | {comparison} {target:g} | {value:,.3g} | {'met' if met else '**MISSED**'} |"
        )
    return lines


def late_repair() -> list[str]:
    """`python -m bench.late_repair`'s table (what repairing one late reading costs), if present."""
    if not (ROOT / "bench" / "late_repair.py").exists():
        return []
    result = subprocess.run(
        [sys.executable, "-m", "bench.late_repair"], cwd=ROOT, capture_output=True, text=True
    )
    table = [line for line in result.stdout.splitlines() if line.startswith("|")]
    if result.returncode != 0 or not table:
        # Never lose the whole run for this section: say it failed, and why.
        table = [
            "```",
            f"bench.late_repair failed ({result.returncode}):",
            *result.stderr.splitlines()[-5:],
            "```",
        ]
    return [
        "## Repairing a late reading (operation count)",
        "",
        "`python -m bench.late_repair`, run by `make bench`: a sensor has 30 readings, one summary",
        "each (window 10); one reading then arrives late, between the 15th and the 16th. What the",
        "summariser's batch for it cost, counted by each store's meter on every thread (the",
        "scenario is also asserted by `tests/test_summariser.py`):",
        "",
        *table,
        "",
    ]


def write_report(
    final_line: str, figures: dict[str, float], cost_table: list[str], seconds: float, extra: list[str]
) -> None:
    revision = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "# Benchmarks",
        "",
        f"Command: `make bench` (`python -m bench.run`), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"revision {revision or 'uncommitted'}, {seconds / 60:.1f} minutes.",
        "",
        f"Machine: {machine()}.",
        "",
        "Every comparison is ours against the original design as written (`bench/original.py`:",
        "per change-feed document a TOP 10 query of `c.timestamp, c.temperature` and a uuid insert,",
        "each its own request, on SQLite its own commit; per viewer every 2 s a TOP 1 query per",
        "sensor; a new pyplot figure per chart), on the same store, from the same starting data, in",
        "the same run. On SQLite a second baseline is the same loop with one commit per batch",
        "(`original, one commit per batch`: what anyone porting it would do), and a third runs it",
        "with ours' concurrency (16 threads). Every timed figure is measured at least",
        f"{REPEATS} times and printed as min / median / max; the order of the sides rotates from",
        "repeat to repeat, and every ratio is taken between medians. The Cosmos-compatible server",
        "is `@vercel/cosmosdb-server` (in memory, one Node process, every query scans the",
        "container), not Cosmos DB: its timings (`test_server_speedup`) are not Cosmos DB's and",
        "are no target. Request units are priced from the requests counted and the documents'",
        "measured sizes with `bench/cost_model.py`; [costs.md](costs.md) gives each charge's",
        "source, the query pricing rule and how sensitive the ratios are to it.",
        "",
        "## Targets",
        "",
        *verdicts(figures),
        "",
        "## Measurements",
        "",
        "| section | measurement | value |",
        "| --- | --- | --- |",
        *[f"| {section} | {what} | {value} |" for section, what, value in rows],
        "",
        "## Cost per hour and per month (730 hours), and per million readings at 10,000 sensors",
        "",
        "(a) 5 sensors, 10 s tick, 1 viewer; (b) 5 sensors, no viewer; (c) 10,000 sensors, 100",
        "viewers. Cosmos DB serverless and provisioned autoscale (one region); the Function App on",
        "Flex Consumption, on demand, 2,048 MB. How each line is computed: [costs.md](costs.md).",
        "",
        *cost_table,
        "",
        "```",
        final_line,
        "```",
        "",
        *extra,
    ]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines))


def update_readme(blocks: dict[str, list[str]]) -> None:
    """Rewrite the README's generated blocks (between `<!-- bench:NAME -->` markers)."""
    text = README.read_text()
    for name, lines in blocks.items():
        start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
        if start not in text or end not in text:
            print(f"README has no {start} block: not updated", flush=True)
            continue
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + start + "\n" + "\n".join(lines) + "\n" + end + tail
    README.write_text(text)


# The last line: the figures first, then the keys earlier runs printed (same names).
FINAL_KEYS: list[tuple[str, str]] = [
    ("summariser_ru_ratio_5", ".3f"),
    ("summariser_ru_ratio_10k", ".3f"),
    ("window_ru_ratio_10k", ".3f"),
    ("rollup_query_ms", ".1f"),
    ("ru_ratio_a", ".3f"),
    ("ru_ratio_c", ".4f"),
    ("speedup_sqlite_5_batched", ".2f"),
    ("speedup_sqlite_10k_batched", ".2f"),
    ("repeats", ".0f"),
    ("usd_per_million_c", ".3f"),
    ("usd_per_million_c_original", ".3f"),
    ("ops_ratio", ".3f"),
    ("ru_ratio", ".3f"),
    ("viewers_ratio", ".4f"),
    ("render_ms", ".1f"),
    ("cached_ms", ".3f"),
    ("e2e_p95_s", ".2f"),
    ("import_s", ".3f"),
    ("scale_lag_s", ".1f"),
    ("speedup_sqlite_5", ".2f"),
    ("speedup_sqlite_10k", ".2f"),
    ("ingest_trips_per_1000", ".0f"),
    ("render_ratio", ".2f"),
    ("idle_poll_bytes_40k", ".0f"),
    ("test_server_speedup", ".2f"),
]


def final_line(figures: dict[str, float | None]) -> str:
    """`bench: key=value ...`; a figure not measured in this run is "n/a"."""
    values = []
    for key, form in FINAL_KEYS:
        value = figures.get(key)
        values.append(f"{key}={'n/a' if value is None else format(value, form)}")
    return "bench: " + " ".join(values)
