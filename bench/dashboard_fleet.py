"""The dashboard with 5,000 sensors in headless Chromium: what a viewer waits for and pays.

Serves the real web app (uvicorn, SQLite store filled with 5,000 sensors' summaries: 180
alerting, 300 stale) and opens the fleet view in Debian's Chromium through Playwright.
Prints one `name=value` line per figure; the targets (issue 24) are in brackets:

- `first_rows_ms`: navigation start until the counts line and the table's first rows with
  their values are on screen [<= 2000];
- `sort_ms`, `filter_ms`: a click on "Latest avg" and a search typed, until the table has
  been redrawn and the next frame painted [<= 200];
- `js_heap_mb`: the page's JS heap after a garbage collection [<= 50];
- `idle_poll_bytes`: one idle poll on the wire (request and 304 answer, headers included)
  [<= 1024].

Run: `python -m bench.dashboard_fleet` (about 20 s; CHROMIUM=/path overrides the browser).
`python -m bench.dashboard_fleet --serve 8765 500` only serves a fleet (500 sensors, 18
alerting, 30 stale) on that port until interrupted: what Lighthouse was run against.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.fleet_server import Fleet, fleet_app

SENSORS = Fleet(5000, alerting=180, stale=300)
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
NEXT_FRAME = "() => new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)))"


def timed(page: Any, action: str, done: str) -> float:
    """ms from `action` (JS run in the page) until `done` holds and a frame has been painted."""
    return page.evaluate(
        f"""async () => {{
              const started = performance.now();
              {action};
              while (!({done})) await new Promise(resolve => setTimeout(resolve, 1));
              await ({NEXT_FRAME})();
              return performance.now() - started;
            }}"""
    )


def measure() -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder, fleet_app(Path(folder), SENSORS, stale_seconds=600) as app:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-extensions"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            idle: list[int] = []

            def on_response(response: Any) -> None:
                if "/api/summary-timestamps" in response.url and response.status == 304:
                    sizes = response.request.sizes()
                    keys = ("requestHeadersSize", "responseHeadersSize", "responseBodySize")
                    idle.append(sum(sizes[key] for key in keys))

            page.on("response", on_response)
            page.goto(f"{app.url}/?view=fleet", wait_until="commit")
            page.wait_for_function(
                """() => document.getElementById('status').dataset.total === '5000'
                         && document.querySelector('#fleet-rows td.num')?.textContent.match(/\\d/)""",
                timeout=30_000,
                polling="raf",
            )
            figures["first_rows_ms"] = page.evaluate("() => performance.now()")
            figures["sort_ms"] = timed(
                page,
                "document.querySelector('th[data-key=avg] button').click()",
                "document.querySelector('th[data-key=avg]').getAttribute('aria-sort') === 'descending'",
            )
            figures["filter_ms"] = timed(
                page,
                "const box = document.getElementById('search'); box.value = 'sensor-42';"
                " box.dispatchEvent(new Event('input'))",
                "document.getElementById('fleet-caption').textContent.includes('of 5000')",
            )
            deadline = time.monotonic() + 15
            while not idle and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            figures["idle_poll_bytes"] = min(idle) if idle else -1
            cdp = page.context.new_cdp_session(page)
            cdp.send("HeapProfiler.collectGarbage")
            cdp.send("Performance.enable")
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            figures["js_heap_mb"] = round(metrics["JSHeapUsedSize"] / 1e6, 1)
            browser.close()
    return {name: round(value, 1) for name, value in figures.items()}


def serve(port: int, total: int) -> None:
    """Serve a fleet of `total` sensors (3.6 % alerting, 6 % stale) until interrupted."""
    fleet = Fleet(total, alerting=round(total * 0.036), stale=round(total * 0.06))
    with tempfile.TemporaryDirectory() as folder, fleet_app(Path(folder), fleet, stale_seconds=3600) as app:
        app.stop()
        app.port = port
        app.start()
        print(f"serving {total} sensors on {app.url}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 500)
    else:
        for name, value in measure().items():
            print(f"{name}={value}")
