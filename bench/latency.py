"""Timings of whole processes: cold start, end-to-end latency and 10,000 sensors in the local host."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from pipeline.readings import format_timestamp
from pipeline.storage.sqlite_store import SqliteStore
from tests.servers import ROOT, LocalHost, free_port

CONSUMER = "summarise_readings:readings"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def import_seconds(runs: int = 5) -> float:
    """Median wall time of `import function_app` in a fresh interpreter (bytecode cached)."""
    return statistics.median(import_seconds_runs(runs))


def import_seconds_runs(runs: int = 5) -> list[float]:
    """Wall time of `import function_app` in `runs` fresh interpreters (bytecode cached)."""
    probe = "import time; t = time.perf_counter(); import function_app; print(time.perf_counter() - t)"
    subprocess.run([sys.executable, "-c", "import function_app"], cwd=ROOT, check=True)
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(runs)
    ]
    return times


def first_render_seconds() -> float:
    """A chart in a fresh process: matplotlib's import and the first figure included."""
    probe = (
        "import time; from tests.test_chart import fixed_summaries; s = fixed_summaries();"
        "from visualiser.charts import render_chart; t = time.perf_counter();"
        "render_chart('sensor-1', s); print(time.perf_counter() - t)"
    )
    return float(
        subprocess.run(
            [sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
    )


@dataclass(frozen=True)
class EndToEnd:
    latencies: list[float]

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.5)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95)


def end_to_end(folder: Path, readings: int = 120, writers: int = 4) -> EndToEnd:
    """Default local host: POST a reading, wait until its summary shows in summary-timestamps."""
    folder.mkdir(parents=True, exist_ok=True)
    host = LocalHost(free_port(), folder / "e2e.db", (), folder / "e2e.log").start()
    latencies: list[float] = []
    lock = threading.Lock()

    def writer(number: int) -> None:
        with httpx.Client(base_url=host.url, timeout=10) as client:
            for _ in range(readings // writers):
                sensor = f"e2e-{number}"
                timestamp = format_timestamp(datetime.now(UTC))
                client.post(
                    "/api/readings", json={"sensor_id": sensor, "temperature": 21.5, "timestamp": timestamp}
                ).raise_for_status()
                written = time.perf_counter()
                while client.get("/api/summary-timestamps").json().get(sensor, "") < timestamp:
                    time.sleep(0.02)
                with lock:
                    latencies.append(time.perf_counter() - written)
                time.sleep(0.05)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        host.stop()
    return EndToEnd(latencies)


@dataclass(frozen=True)
class Scale:
    sensors: int
    seconds: float
    readings: int
    max_lag: float
    final_lag: float
    timestamps_p95_ms: float
    timestamps_p50_ms: float
    cards_on_page: int | None


def scale(folder: Path, sensors: int = 10_000, seconds: float = 60.0) -> Scale:
    """10,000 sensors reporting every ~5.5 s for `seconds`: lag and dashboard latency."""
    folder.mkdir(parents=True, exist_ok=True)
    host = LocalHost(
        free_port(), folder / "scale.db", ("--sensors", str(sensors)), folder / "scale.log"
    ).start()
    store = SqliteStore(host.store_path)
    lags: list[float] = []
    timings: list[float] = []
    started = time.monotonic()
    try:
        with httpx.Client(base_url=host.url, timeout=10) as client:
            next_lag = 0.0
            while time.monotonic() - started < seconds:
                t = time.perf_counter()
                client.get("/api/summary-timestamps").raise_for_status()
                timings.append((time.perf_counter() - t) * 1000)
                if time.monotonic() - started >= next_lag:
                    lags.append(store.feed_lag_seconds(CONSUMER))
                    next_lag += 2.0
                time.sleep(0.5)
        final_lag = store.feed_lag_seconds(CONSUMER)
        (written,) = store._connection().execute("SELECT COUNT(*) FROM readings").fetchone()
        cards = dashboard_cards(host.url)
    finally:
        store.close()
        host.stop()
    return Scale(
        sensors,
        seconds,
        written,
        max(lags),
        final_lag,
        percentile(timings, 0.95),
        percentile(timings, 0.5),
        cards,
    )


def dashboard_cards(url: str) -> int | None:
    """How many chart cards the dashboard shows at once (Chromium, if installed)."""
    if not Path("/usr/bin/chromium").exists():
        return None
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page()
        page.goto(url + "/")
        page.wait_for_function("() => document.querySelectorAll('.card').length > 0", timeout=30_000)
        # Charts are swapped in once loaded: wait until every card on the page shows one.
        page.wait_for_function(
            "() => { const cards = document.querySelectorAll('.card[data-sensor-id]');"
            " return [...cards].every(card => card.querySelector('img')); }",
            timeout=60_000,
        )
        cards = page.evaluate("() => document.querySelectorAll('.card img').length")
        browser.close()
    return int(cards)


def to_json(value: object) -> str:
    return json.dumps(value, default=lambda o: o.__dict__)
