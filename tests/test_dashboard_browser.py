"""The dashboard in a real headless Chromium, against the local host running for real."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from pipeline.readings import format_timestamp
from tests.servers import LocalHost, local_host, skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


def post_readings(url: str, sensor: str, count: int, start: datetime) -> None:
    body = [
        {
            "sensor_id": sensor,
            "temperature": 20 + (n * 3.7) % 15,
            "timestamp": format_timestamp(start + timedelta(seconds=n)),
        }
        for n in range(count)
    ]
    response = httpx.post(f"{url}/api/readings", json=body)
    assert response.status_code == 201, response.text


def wait_for_summary(url: str, sensor: str, at_least: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/api/summary-timestamps").json().get(sensor, "") >= at_least:
            return
        time.sleep(0.1)
    raise AssertionError(f"{sensor} not summarised as of {at_least}")


def card_state(page, sensor: str) -> dict:
    return page.eval_on_selector(
        f'.card[data-sensor-id="{sensor}"]',
        """card => ({updated: card.dataset.updated, src: card.querySelector('img').src,
                     width: card.querySelector('img').naturalWidth,
                     complete: card.querySelector('img').complete})""",
    )


def test_dashboard_live_updates_red_dots_and_connection_loss(browser, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    start = datetime.now(UTC) - timedelta(minutes=5)
    with local_host(tmp_path, "--no-generator") as host:
        for sensor in ("sensor-1", "sensor-2", "sensor-3"):
            post_readings(host.url, sensor, 15, start)
            wait_for_summary(host.url, sensor, format_timestamp(start + timedelta(seconds=14)))

        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{host.url}/")
        page.wait_for_function("() => document.querySelectorAll('.card').length === 3", timeout=10_000)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.card img')].every(i => i.complete && i.naturalWidth > 0)",
            timeout=15_000,
        )
        before = {s: card_state(page, s) for s in ("sensor-1", "sensor-2", "sensor-3")}
        assert all(state["width"] > 0 for state in before.values())
        assert all(state["updated"] == "false" for state in before.values())

        # New readings for sensor-2 only: exactly its chart reloads and gets the red dot.
        post_readings(host.url, "sensor-2", 3, start + timedelta(seconds=60))
        page.wait_for_function(
            "() => document.querySelector('.card[data-sensor-id=\"sensor-2\"]').dataset.updated === 'true'",
            timeout=10_000,
        )
        page.wait_for_function(
            "() => { const i = document.querySelector('.card[data-sensor-id=\"sensor-2\"] img');"
            " return i.complete && i.naturalWidth > 0; }",
            timeout=10_000,
        )
        after = {s: card_state(page, s) for s in ("sensor-1", "sensor-2", "sensor-3")}
        assert after["sensor-2"]["src"] != before["sensor-2"]["src"]
        assert after["sensor-2"]["width"] > 0
        for unchanged in ("sensor-1", "sensor-3"):
            assert after[unchanged]["src"] == before[unchanged]["src"]
            assert after[unchanged]["updated"] == "false"
        dot = page.eval_on_selector(
            '.card[data-sensor-id="sensor-2"] .dot',
            "d => [getComputedStyle(d).visibility, getComputedStyle(d).backgroundColor]",
        )
        assert dot[0] == "visible" and dot[1] == "rgb(224, 30, 30)"
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

        # A new sensor appears without a reload.
        post_readings(host.url, "sensor-4", 4, start)
        page.wait_for_function("() => document.querySelectorAll('.card').length === 4", timeout=10_000)

        # The server goes away: the page says so, and recovers when it returns.
        port, store_path, log_path = host.port, host.store_path, host.log_path
        assert host.stop(signal.SIGINT) == 0
        page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('connection lost')",
            timeout=10_000,
        )
        assert "lost" in page.get_attribute("#status", "class")
        page.screenshot(path=str(ARTIFACTS / "dashboard-connection-lost.png"))
        returned = LocalHost(port, store_path, ("--no-generator",), log_path).start()
        try:
            page.wait_for_function(
                "() => document.getElementById('status').textContent.startsWith('live')",
                timeout=20_000,
            )
            assert "lost" not in (page.get_attribute("#status", "class") or "")
        finally:
            assert returned.stop(signal.SIGINT) == 0
        assert errors == []
        page.close()
