"""Issue 21, item 3, in a real Chromium: honest through an outage, back by itself.

The page runs on Playwright's fake clock, so 25 s of outage take well under a second of real
time: the web app (uvicorn, SQLite store) is stopped for real, the page's timers are run
forward, and the server is started again on the same port. Stale limit 9 s (3 missed
intervals of 3 s), poll every 2 s, backoff capped at 8 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fleet_server import Fleet, WebApp, fleet_app, publish
from tests.test_dashboard_browser import browser  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser]
FLEET = Fleet(5, alerting=1)
STALE_SECONDS = 9


@pytest.fixture
def served(tmp_path: Path) -> Iterator[WebApp]:
    with fleet_app(tmp_path, FLEET, stale_seconds=STALE_SECONDS) as app:
        yield app


def cards(page: Any) -> list[dict]:
    return page.eval_on_selector_all(
        ".card",
        """cards => cards.map(c => ({id: c.dataset.sensorId, stale: c.dataset.stale, alert: c.dataset.alert,
                                     ago: c.querySelector('.ago').textContent,
                                     badges: c.querySelector('.badges').textContent}))""",
    )


def age_of(card: dict) -> int:
    """Seconds in "no data for 31 s" or "updated 3 s ago"."""
    words = card["ago"].split()
    return int(words[words.index("s") - 1])


def run(page: Any, seconds: int, settle_ms: int = 15) -> list[int]:
    """The page's clock moves on `seconds`, one at a time, firing its timers; between them
    `settle_ms` of real time lets a fetch fail (refused: at once) or be answered. Returns
    every "retrying in N s" the status line showed on the way."""
    waits = []
    for _ in range(seconds):
        page.clock.run_for(1000)
        page.wait_for_timeout(settle_ms)
        status = page.text_content("#status") or ""
        if "retrying in " in status:
            waits.append(int(status.split("retrying in ")[1].split(" ")[0]))
    return waits


def open_dashboard(browser: Any, url: str) -> Any:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.clock.install()
    page.goto(url)
    page.wait_for_function(
        "() => document.querySelectorAll('.card .chart-box img').length === 5", timeout=15_000
    )
    # (A number would be taken for seconds: a datetime says what it is.)
    page.clock.pause_at(datetime.fromtimestamp(page.evaluate("() => Date.now()") / 1000 + 0.1, UTC))
    return page


def test_cards_turn_stale_and_ages_count_during_an_outage_then_live_within_10_s(browser, served) -> None:  # noqa: F811
    page = open_dashboard(browser, f"{served.url}/")
    assert all(card["stale"] == "false" for card in cards(page))
    assert page.get_attribute("#status", "data-alerting") == "1"
    charts_before = page.eval_on_selector_all(".card .chart-box img", "imgs => imgs.map(i => i.src)")

    served.stop()
    waits = run(page, 25)
    shown = cards(page)
    assert [card["stale"] for card in shown] == ["true"] * 5, shown
    assert all(25 <= age_of(card) <= 45 for card in shown), shown
    hot = next(card for card in shown if card["id"] == "sensor-1")
    # Stale wins over the old alert, and the card says what the last average was.
    assert hot["alert"] == "false" and "HIGH" not in hot["badges"] and "last avg was high" in hot["ago"]
    status = page.text_content("#status")
    assert status.startswith("connection lost since ") and " UTC — retrying in " in status, status
    assert page.is_visible("#retry-now")
    ages = [age_of(card) for card in shown]
    run(page, 2)
    assert [age_of(card) for card in cards(page)] == [age + 2 for age in ages], "ages keep counting"
    # Uncapped, the fifth try would wait 16–32 s: every wait shown stays within the cap.
    waits += run(page, 20)
    assert waits and max(waits) <= 8, f"backoff capped at 8 s: {waits}"

    publish(served.store, FLEET, datetime.now(UTC).replace(microsecond=0), STALE_SECONDS)
    plot_requests: list[str] = []
    page.on("request", lambda request: plot_requests.append(request.url) if "/plot/" in request.url else None)
    returned = WebApp(served.store, served.env, served.port).start()
    try:
        waited = 0.0
        while (
            page.get_attribute("#status", "data-state") != "live"
            or page.get_attribute("#status", "data-stale") != "0"
        ):
            assert waited <= 10, f"not live 10 s after the server's return: {page.text_content('#status')}"
            run(page, 1, settle_ms=150)
            waited += 1
        assert all(card["stale"] == "false" for card in cards(page))
        assert page.text_content("#status") == "5 sensors · 1 alerting · 0 stale"
        assert not page.is_visible("#retry-now")
        # Every chart asked for again, and shown: no reload of the page.
        page.wait_for_function(
            """before => [...document.querySelectorAll('.card .chart-box img')]
                 .every(i => i.complete && i.naturalWidth > 0 && !before.includes(i.src))""",
            arg=charts_before,
            timeout=10_000,
        )
        assert len({url.split("?")[0] for url in plot_requests}) == 5
        assert page.errors == []
    finally:
        served.stop()
        served.start = returned.start  # the fixture stops it
        served._server, served._thread = returned._server, returned._thread


def test_retry_now_asks_at_once(browser, served) -> None:  # noqa: F811
    page = open_dashboard(browser, f"{served.url}/")
    served.stop()
    run(page, 12)
    assert page.get_attribute("#status", "data-state") == "lost"
    returned = WebApp(served.store, served.env, served.port).start()
    try:
        page.click("#retry-now")
        # No time passes on the page's clock (so no timer fires): only the button can have asked.
        for _ in range(50):
            if page.get_attribute("#status", "data-state") == "live":
                break
            page.wait_for_timeout(100)
        assert page.get_attribute("#status", "data-state") == "live"
    finally:
        returned.stop()
        served._server, served._thread = returned._server, returned._thread
