"""The dashboard in a real headless Chromium, against the local host running for real.

One local host serves 30 sensors (so the pager shows): sensor-7 is hot (threshold alert),
sensor-12 stopped reporting 10 minutes ago (stale). Each test opens its own browser
context (viewport, time zone, device scale, colour scheme) on that host.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from matplotlib.image import imread

from pipeline.readings import format_timestamp
from tests.checks import eventually
from tests.proxies import PathFaultProxy
from tests.servers import ROOT, LocalHost, local_host, skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SENSORS = [f"sensor-{n}" for n in range(1, 31)]
HIDE = (
    "() => { Object.defineProperty(document, 'visibilityState', {value: '%s', configurable: true});"
    " document.dispatchEvent(new Event('visibilitychange')); }"
)
HOT, SILENT = "sensor-7", "sensor-12"
STALE_SECONDS = 300  # SENSOR_INTERVAL_SECONDS x STALE_AFTER_MISSED_INTERVALS below
CHART_POINTS = 80  # not the default (50): the range label must say the real number
HOST_ENV = {
    "CHART_POINTS": str(CHART_POINTS),
    "ALERT_HIGH_CELSIUS": "35",
    "ALERT_LOW_CELSIUS": "5",
    "SENSOR_INTERVAL_SECONDS": "30",
    "STALE_AFTER_MISSED_INTERVALS": "10",
    # Seeding waits for twelve rounds of summaries to show: without the read side's 2 s
    # shared copy each shows as soon as it is stored (the pages poll every 2 s all the same).
    "READ_MAX_AGE_SECONDS": "0",
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
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


def readings(sensor: str, count: int, end: datetime, temperature: Callable[[int], float]) -> list[dict]:
    return [
        {
            "sensor_id": sensor,
            "temperature": round(temperature(n), 2),
            "timestamp": format_timestamp(end - timedelta(seconds=count - 1 - n)),
        }
        for n in range(count)
    ]


def post(url: str, body: list[dict]) -> None:
    response = httpx.post(f"{url}/api/readings", json=body)
    assert response.status_code == 201, response.text


def versions(url: str) -> dict[str, str]:
    return httpx.get(f"{url}/api/summary-timestamps").json()


def wait_until(page: Any, check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    """eventually(), letting Playwright deliver the page's events to our handlers meanwhile."""

    def pause(seconds: float) -> None:
        page.wait_for_timeout(seconds * 1000)

    return eventually(check, timeout, what, interval=0.1, pause=pause)


def wait_summarised(url: str, expected: dict[str, str]) -> None:
    """Until every sensor's latest summary is as of (at least) the given timestamp."""

    def caught_up() -> bool:
        seen = versions(url)  # one request per check, not one per sensor
        return all(seen.get(s, "").split("~")[0] >= t for s, t in expected.items())

    eventually(
        caught_up,
        20,
        f"summaries of {sorted(expected)[:3]}…",
    )


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    saved = {name: os.environ.get(name) for name in HOST_ENV}
    os.environ.update(HOST_ENV)
    try:
        # A drained feed polled every 0.1 s (not the binding's 1 s): twelve rounds seed in seconds.
        with local_host(
            tmp_path_factory.mktemp("dashboard"), "--no-generator", "--feed-poll", "0.1"
        ) as running:
            now = datetime.now(UTC).replace(microsecond=0)
            # Twelve rounds, each summarised before the next: twelve points on every chart.
            for round_number in range(12):
                body: list[dict] = []
                expected = {}
                for index, sensor in enumerate(SENSORS):
                    end = now - timedelta(minutes=10) if sensor == SILENT else now - timedelta(seconds=2)
                    moment = end - timedelta(seconds=5 * (11 - round_number))
                    base = 38 if sensor == HOT else 18 + index % 5
                    temperature = base + (round_number * 3.7 + index) % 7
                    body.append(
                        {
                            "sensor_id": sensor,
                            "temperature": temperature,
                            "timestamp": format_timestamp(moment),
                        }
                    )
                    expected[sensor] = format_timestamp(moment)
                post(running.url, body)
                wait_summarised(running.url, expected)
            yield running
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def opener(url: str, **context_options: Any) -> Any:
        options = {"viewport": {"width": 1400, "height": 1000}, **context_options}
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.goto(url)
        return page

    yield opener
    for context in contexts:
        context.close()


def wait_for_cards(page: Any, count: int) -> None:
    page.wait_for_function(f"() => document.querySelectorAll('.card').length === {count}", timeout=15_000)
    page.wait_for_function(
        """count => [...document.querySelectorAll('.card')].every(card => {
             const img = card.querySelector('.chart-box img');
             const values = card.querySelector('.big').textContent !== '–';
             return img && img.complete && img.naturalWidth > 0 && values;
           })""",
        arg=count,
        timeout=30_000,
    )


def card_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all(".card", "cards => cards.map(c => c.dataset.sensorId)")


def card(page: Any, sensor: str) -> dict:
    return page.eval_on_selector(
        f'.card[data-sensor-id="{sensor}"]',
        """card => ({...card.dataset, big: card.querySelector('.big').textContent,
                     meta: card.querySelector('.meta').textContent,
                     badges: card.querySelector('.badges').textContent,
                     src: card.querySelector('.chart-box img')?.currentSrc,
                     width: card.querySelector('.chart-box img')?.naturalWidth,
                     shown: card.querySelector('.chart-box img')?.clientWidth})""",
    )


def run_axe(page: Any) -> list[dict]:
    # evaluate() is not subject to the page's CSP, which blocks an injected <script>.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:3]} for v in result]


def chart_pixels(page: Any, sensor: str) -> np.ndarray:
    png = page.locator(f'.card[data-sensor-id="{sensor}"] .chart-box img').screenshot()
    return imread(io.BytesIO(png))


def test_alert_first_natural_order_stale_values_on_every_page_and_no_axe_violations(host, open_page) -> None:
    if not AXE.exists():
        skip_or_fail("axe-core is not installed (npm ci)")
    ARTIFACTS.mkdir(exist_ok=True)
    page = open_page(f"{host.url}/")
    wait_for_cards(page, 24)
    ids = card_ids(page)
    assert ids[0] == HOT, "an alerting sensor comes first"
    assert ids[1:5] == ["sensor-1", "sensor-2", "sensor-3", "sensor-4"]
    assert ids.index("sensor-2") < ids.index("sensor-10"), "natural order, not text order"
    hot = card(page, HOT)
    assert hot["alert"] == "true" and "HIGH" in hot["badges"]  # said in words, not only colour
    silent = card(page, SILENT)
    assert silent["stale"] == "true" and "STALE" in silent["badges"] and silent["alert"] == "false"
    assert card(page, "sensor-1")["stale"] == "false"
    alerts = httpx.get(f"{host.url}/api/alerts").json()
    assert [(a["sensor_id"], a["kind"]) for a in alerts] == [(HOT, "high"), (SILENT, "stale")]
    assert page.is_visible("#next") and page.is_enabled("#next")
    assert run_axe(page) == []
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"))

    page.click("#next")
    wait_for_cards(page, 6)  # page 2: every card shows its values at once
    assert card_ids(page) == [f"sensor-{n}" for n in range(25, 31)]
    for sensor in card_ids(page):
        assert card(page, sensor)["big"].endswith("°C")
        assert "UTC" in card(page, sensor)["meta"]
    assert page.text_content("#page-label").startswith("page 2 of 2")
    assert page.errors == []

    phone = open_page(f"{host.url}/", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    wait_for_cards(phone, 24)
    assert run_axe(phone) == []
    # The chart's 13.5 px text is drawn at least 11 CSS px wide on a phone.
    assert card(phone, "sensor-1")["shown"] * 13.5 / 420 >= 11
    overflow = phone.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "nothing cut off or scrolling sideways"
    phone.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"))


LAYOUT_SHIFTS = """
window.layoutShifts = [];
new PerformanceObserver(list => {
  for (const entry of list.getEntries()) {
    window.layoutShifts.push({value: entry.value, sources: (entry.sources || []).map(source => {
      const node = source.node;
      const text = (node && node.textContent || '').slice(0, 40);
      const name = node ? `${node.nodeName}.${node.className || node.id} "${text}"` : '?';
      const [before, after] = [source.previousRect, source.currentRect];
      return `${name}: (${before.x},${before.y} ${before.width}x${before.height})`
           + ` -> (${after.x},${after.y} ${after.width}x${after.height})`;
    })});
  }
}).observe({type: 'layout-shift', buffered: true});
// Each card's height as it is first shown, before its values arrive.
window.firstHeights = {};
new MutationObserver(records => {
  for (const record of records) for (const node of record.addedNodes) {
    if (node.dataset && node.dataset.sensorId) window.firstHeights[node.dataset.sensorId] = node.offsetHeight;
  }
}).observe(document, {childList: true, subtree: true});
"""


@pytest.mark.parametrize("width", [390, 412])
def test_nothing_moves_when_data_arrives_on_a_phone(host, open_page, width) -> None:
    """Cumulative layout shift over the first polls: what Lighthouse counts, and a user feels.

    Every shift counts, also those Chromium marks as just after input (it marks the first
    ones after a navigation so, though no one touched the page). 412 px is Lighthouse's
    phone; the stale card's longer "no data" text is what used to wrap.
    """
    page = open_page("about:blank", viewport={"width": width, "height": 844}, is_mobile=True, has_touch=True)
    polls: list[int] = []
    page.on("response", lambda r: polls.append(r.status) if "/api/summary-timestamps" in r.url else None)
    page.add_init_script(LAYOUT_SHIFTS)
    page.goto(f"{host.url}/")
    wait_for_cards(page, 24)
    wait_until(page, lambda: len(polls) >= 4, "three polls after the first")
    shifts = page.evaluate("() => window.layoutShifts")
    total = sum(shift["value"] for shift in shifts)
    assert total < 0.02, f"layout shift {total:.3f}: " + json.dumps(shifts, indent=1)[:3000]
    # Below the fold too (where no shift is counted): a card keeps the height it was
    # first shown with, and every card has the same, whether alerting, stale or neither.
    heights = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.card')].map(
                   c => [c.dataset.sensorId, [window.firstHeights[c.dataset.sensorId], c.offsetHeight]]))"""
    )
    assert all(first == now for first, now in heights.values()), heights
    assert len({now for _, now in heights.values()}) == 1, heights
    assert heights[SILENT][1] == heights[HOT][1] == heights["sensor-1"][1]


def test_one_time_zone_whatever_the_browser_zone(host, open_page) -> None:
    page = open_page(f"{host.url}/", timezone_id="America/New_York")
    wait_for_cards(page, 24)
    assert page.evaluate("() => Intl.DateTimeFormat().resolvedOptions().timeZone") == "America/New_York"
    latest = httpx.get(f"{host.url}/api/sensors", params={"ids": "sensor-1"}).json()[0]["latest"]
    utc = latest["timestamp"][11:19]
    assert f"as of {utc} UTC" in card(page, "sensor-1")["meta"]  # the chart's axis is UTC too
    assert "All times UTC" in page.text_content("#last-poll")


def test_high_dpi_screens_get_the_2x_chart(host, open_page) -> None:
    page = open_page(f"{host.url}/", device_scale_factor=2)
    wait_for_cards(page, 24)
    state = card(page, "sensor-1")
    assert "scale=2" in state["src"]  # the browser picked the 2x candidate of srcset...
    png = imread(io.BytesIO(httpx.get(state["src"]).content))
    assert png.shape[:2] == (440, 840)  # ...which has twice the pixels
    # Width descriptors with the box's width as `sizes`: the image is laid out at the size
    # it is shown, from a source with at least as many pixels (no blurry upscaling at 1x).
    assert abs(state["width"] - state["shown"]) <= 1 and 840 >= state["shown"]


def test_time_range_search_and_shared_axis(host, open_page) -> None:
    page = open_page(f"{host.url}/")
    wait_for_cards(page, 24)
    page.select_option('.card[data-sensor-id="sensor-3"] select', "200")
    page.wait_for_function(
        """() => { const img = document.querySelector('.card[data-sensor-id="sensor-3"] .chart-box img');
                   return img.currentSrc.includes('points=200') && img.complete && img.naturalWidth > 0; }"""
    )
    assert "points=" not in card(page, "sensor-4")["src"]
    # The default range is labelled with what CHART_POINTS really draws.
    options = page.eval_on_selector(
        '.card[data-sensor-id="sensor-4"] select',
        "s => [...s.options].map(o => [o.value, o.textContent, o.selected])",
    )
    assert options == [
        ["50", "last 50 summaries", False],
        ["0", f"last {CHART_POINTS} summaries", True],
        ["200", "last 200 summaries", False],
        ["1000", "last 1000 summaries", False],
    ]

    page.fill("#search", "sensor-1")
    page.wait_for_function("() => document.querySelectorAll('.card').length === 11")
    assert set(card_ids(page)) == {"sensor-1"} | {f"sensor-{n}" for n in range(10, 20)}
    page.fill("#search", "30")
    page.wait_for_function("() => document.querySelectorAll('.card').length === 1")
    page.fill("#search", "")
    wait_for_cards(page, 24)

    page.check("#shared-y")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.chart-box img')].every(i => i.currentSrc.includes('y=shared'))"
    )


def test_dark_mode_follows_the_system_charts_included(host, open_page) -> None:
    page = open_page(f"{host.url}/", color_scheme="dark")
    wait_for_cards(page, 24)
    background = page.evaluate("() => getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(22, 23, 26)"
    assert "theme=dark" in card(page, "sensor-1")["src"]
    assert chart_pixels(page, "sensor-1")[..., :3].mean() < 0.35  # a dark chart, not a white one
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-dark.png"))


def test_favicon_description_and_compressed_text(host, open_page) -> None:
    encodings: dict[str, str | None] = {}
    page = open_page("about:blank")
    page.on("response", lambda r: encodings.update({r.url.split("?")[0]: r.headers.get("content-encoding")}))
    page.goto(f"{host.url}/")
    wait_for_cards(page, 24)
    description = page.get_attribute('meta[name="description"]', "content")
    assert description and len(description) > 40
    icon = page.evaluate(
        """async () => { const href = document.querySelector('link[rel="icon"]').href;
                         const response = await fetch(href);
                         const image = new Image(); image.src = href; await image.decode();
                         const type = response.headers.get('content-type');
                         return [response.status, type, image.naturalWidth]; }"""
    )
    assert icon[0] == 200 and icon[1].startswith("image/svg+xml") and icon[2] > 0
    page.goto(f"{host.url}/api/openapi.json")
    # The browser asks for gzip (Accept-Encoding): every text answer above 1 KiB is gzipped.
    for path in ("/", "/static/dashboard.js", "/static/dashboard.css", "/api/openapi.json"):
        assert encodings.get(f"{host.url}{path}") == "gzip", (path, encodings)


def test_api_docs_render_offline_without_csp_violations(host, open_page) -> None:
    page = open_page("about:blank")
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    external: list[str] = []
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(host.url) else None)
    page.goto(f"{host.url}/api/docs")
    page.wait_for_function("() => document.querySelectorAll('.opblock').length >= 8", timeout=20_000)
    assert "/api/summary-timestamps" in page.text_content("#swagger-ui")
    assert violations == [] and external == []
    assert page.errors == []


def test_idle_polls_are_304_and_changes_come_as_deltas(host, open_page) -> None:
    polls: list[tuple[int, str]] = []
    page = open_page("about:blank")
    page.on(
        "response",
        lambda r: polls.append((r.status, r.url)) if "/api/summary-timestamps" in r.url else None,
    )
    page.goto(f"{host.url}/")
    wait_for_cards(page, 24)
    wait_until(page, lambda: sum(status == 304 for status, _ in polls) >= 2, "idle polls answered 304")
    assert polls[0][0] == 200 and "since=0" in polls[0][1]
    deltas: list[dict] = []

    def on_response(response: Any) -> None:
        if "/api/summary-timestamps" in response.url and response.status == 200:
            deltas.append(json.loads(response.body()))

    page.on("response", on_response)
    before = versions(host.url)["sensor-5"]
    post(host.url, readings("sensor-5", 1, datetime.now(UTC) - timedelta(seconds=1), lambda n: 21.0))
    page.wait_for_function(
        "() => document.querySelector('.card[data-sensor-id=\"sensor-5\"]').dataset.updated === 'true'"
    )
    delta = wait_until(
        page, lambda: next((d for d in deltas if "sensor-5" in d["versions"]), None), "the delta"
    )
    assert delta["full"] is False and list(delta["versions"]) == ["sensor-5"]
    assert delta["versions"]["sensor-5"] != before


def test_polling_stops_while_hidden_and_resumes_at_once(host, open_page) -> None:
    page = open_page("about:blank")
    page.clock.install()  # timers still run, and run_for() moves them on at once
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/api/summary-timestamps" in r.url else None)
    page.goto(f"{host.url}/")
    page.wait_for_function("() => document.querySelectorAll('.card').length === 24")

    def settle() -> None:
        # A request the page makes after this one reaches us after it: a round trip as a fence.
        with page.expect_request(lambda r: "/api/health" in r.url):
            page.evaluate("fetch('/api/health')")

    with page.expect_request(lambda r: "/api/summary-timestamps" in r.url):
        page.clock.run_for(2_000)  # visible: a poll every interval
    page.evaluate(HIDE % "hidden")
    settle()
    hidden_at = len(polls)
    page.clock.run_for(60_000)  # thirty intervals, hidden
    settle()
    assert len(polls) == hidden_at, "no poll while the tab is hidden"
    with page.expect_request(lambda r: "/api/summary-timestamps" in r.url):
        page.evaluate(HIDE % "visible")  # shown again: a poll at once, without advancing the clock


def test_a_stale_sensor_turns_stale_and_new_values_change_the_pixels(host, open_page) -> None:
    now = datetime.now(UTC)
    going = "sensor-0"  # a new sensor, first in natural order: on page 1
    # Newest reading 60 s short of the stale limit: fresh while the page opens (which may
    # take many seconds on a loaded machine); then the server's clock moves a minute on.
    post(host.url, readings(going, 3, now - timedelta(seconds=STALE_SECONDS - 60), lambda n: 22.0))
    newest = format_timestamp(now - timedelta(seconds=STALE_SECONDS - 60))
    wait_summarised(host.url, {going: newest})
    page = open_page("about:blank")
    # The page judges staleness by the server's clock (each poll's Date header), not the
    # browser's: moving the Date header on is the server's clock moving on, at once.
    server_ahead = timedelta(0)

    def server_clock(route: Any) -> None:
        response = route.fetch()
        headers = dict(response.headers)
        headers["date"] = format_datetime(parsedate_to_datetime(headers["date"]) + server_ahead, usegmt=True)
        route.fulfill(response=response, headers=headers)

    page.route("**/api/summary-timestamps*", server_clock)
    page.goto(f"{host.url}/")
    wait_for_cards(page, 24)
    assert card(page, going)["stale"] == "false"
    server_ahead = timedelta(seconds=61)  # the limit passed by one second, at the next poll
    page.wait_for_function(
        f"() => document.querySelector('.card[data-sensor-id=\"{going}\"]').dataset.stale === 'true'",
        timeout=15_000,
    )
    assert card(page, going)["badges"] == "STALE"

    # A late reading changes sensor-2's newest summary values, not its timestamp.
    target = "sensor-2"
    before_version = versions(host.url)[target]
    before_pixels = chart_pixels(page, target)
    before_src = card(page, target)["src"]
    other = card(page, "sensor-3")
    latest = httpx.get(f"{host.url}/api/sensors", params={"ids": target}).json()[0]["latest"]
    late_time = datetime.fromisoformat(latest["timestamp"].replace("Z", "+00:00")) - timedelta(
        milliseconds=1500
    )
    post(host.url, [{"sensor_id": target, "temperature": 60.0, "timestamp": format_timestamp(late_time)}])
    eventually(lambda: versions(host.url)[target] != before_version, 20, "a new version for the late reading")
    after_version = versions(host.url)[target]
    assert after_version.split("~")[0] == before_version.split("~")[0]
    # The dot as the page shows it the moment it marks the card updated (it hides again
    # 5 s later, which a slow render on a loaded machine could outlast).
    dot = page.wait_for_function(
        f"""() => {{ const c = document.querySelector('.card[data-sensor-id="{target}"]');
                    if (c.dataset.updated !== 'true') return null;
                    const d = c.querySelector('.dot'), style = getComputedStyle(d);
                    return [style.visibility, style.backgroundColor, d.getAttribute('aria-label')]; }}""",
    ).json_value()
    assert dot == ["visible", "rgb(224, 30, 30)", "just updated"]
    page.wait_for_function(
        f"""src => {{ const img = document.querySelector('.card[data-sensor-id="{target}"] .chart-box img');
                     return img.currentSrc !== src && img.complete; }}""",
        arg=before_src,
    )
    after_pixels = chart_pixels(page, target)
    assert after_pixels.shape == before_pixels.shape
    assert np.abs(after_pixels - before_pixels).max() > 0.3, "the chart on screen changed"
    assert card(page, target)["meta"].endswith("max 60.00 °C")
    assert card(page, "sensor-3")["src"] == other["src"]  # only the changed chart reloads
    assert card(page, "sensor-3")["updated"] == "false"


def test_charts_recover_from_503s_without_a_reload(host, open_page) -> None:
    proxy = PathFaultProxy(host.port, "/plot/").start()
    try:
        proxy.failing = True
        page = open_page(f"{proxy.url}/")
        page.evaluate("() => { window.sameDocument = true; }")
        page.wait_for_function(
            "() => document.querySelectorAll('.card[data-chart-error=\"true\"]').length === 24"
        )
        assert "not loading" in page.text_content("#status")
        proxy.failing = False
        wait_for_cards(page, 24)  # every chart back, with backoff, no reload
        # Connected, no chart failing (the line counts the host's alerting and stale sensors).
        page.wait_for_function("() => document.getElementById('status').dataset.state === 'live'")

        # A new summary while charts fail: the last good image stays, the card says so.
        good = card(page, "sensor-4")
        proxy.failing = True
        post(host.url, readings("sensor-4", 1, datetime.now(UTC) - timedelta(seconds=1), lambda n: 23.0))
        page.wait_for_function(
            "() => document.querySelector('.card[data-sensor-id=\"sensor-4\"]')"
            ".dataset.chartError === 'true'",
            timeout=20_000,
        )
        still = card(page, "sensor-4")
        assert still["src"] == good["src"] and still["width"] > 0  # not a broken image
        assert page.is_visible('.card[data-sensor-id="sensor-4"] .chart-error')
        proxy.failing = False
        page.wait_for_function(
            """src => { const c = document.querySelector('.card[data-sensor-id="sensor-4"]');
                        const img = c.querySelector('.chart-box img');
                        return c.dataset.chartError === 'false' && img.currentSrc !== src
                               && img.naturalWidth > 0; }""",
            arg=good["src"],
            timeout=20_000,
        )
        assert page.evaluate("() => window.sameDocument") is True
        assert page.errors == []
    finally:
        proxy.close()


def test_connection_loss_and_return(browser, tmp_path: Path) -> None:
    """The server goes away: the page says so, keeps its charts, and recovers when it returns."""
    start = datetime.now(UTC) - timedelta(minutes=1)
    with local_host(tmp_path, "--no-generator") as server:
        for sensor in ("sensor-1", "sensor-2", "sensor-3"):
            post(server.url, readings(sensor, 12, start, lambda n: 20 + (n * 3.7) % 15))
        wait_summarised(
            server.url, {s: format_timestamp(start) for s in ("sensor-1", "sensor-2", "sensor-3")}
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.clock.install()  # time flows as usual; run_for() below skips the backoff
        page.goto(f"{server.url}/")
        wait_for_cards(page, 3)
        port, store_path, log_path = server.port, server.store_path, server.log_path
        assert server.stop(signal.SIGINT) == 0
        page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('connection lost')", timeout=15_000
        )
        assert "lost" in page.get_attribute("#status", "class")
        assert all(card(page, s)["width"] > 0 for s in ("sensor-1", "sensor-2", "sensor-3"))
        returned = LocalHost(port, store_path, ("--no-generator",), log_path).start()
        try:
            # After failures the page backs off up to 30 s between polls: move its clock on
            # by that much, so that the next poll is due now.
            page.clock.run_for(30_000)
            page.wait_for_function(
                "() => document.getElementById('status').textContent === 'live'", timeout=20_000
            )
        finally:
            assert returned.stop(signal.SIGINT) == 0
        context.close()


ANNOUNCEMENTS = """
window.heard = [];      // every text #announcer was given
window.statusTexts = []; // every text the visible status line showed
addEventListener('DOMContentLoaded', () => {
  const watch = (id, into) => new MutationObserver(() => into.push(document.getElementById(id).textContent))
    .observe(document.getElementById(id), {childList: true, characterData: true, subtree: true});
  watch('announcer', window.heard);
  watch('status', window.statusTexts);
});
"""


def test_screen_readers_hear_changes_not_polls(browser, tmp_path: Path) -> None:
    """#announcer speaks on a new alert, on charts failing or back (once, not per chart) and
    on a connection change; idle polls change no text a screen reader hears; "updated N s
    ago" moves on. Its own host: an alert here would reorder the shared host's cards."""
    sensors = ("sensor-1", "sensor-2", "sensor-3")
    now = datetime.now(UTC)
    with local_host(tmp_path, "--no-generator") as server:
        for sensor in sensors:
            post(server.url, readings(sensor, 12, now - timedelta(seconds=1), lambda n: 20 + n % 3))
        wait_summarised(server.url, {s: format_timestamp(now - timedelta(seconds=1)) for s in sensors})
        proxy = PathFaultProxy(server.port, "/plot/").start()
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.clock.install()  # time flows as usual; run_for() below skips the backoffs
            polls: list[int] = []
            page.on("response", lambda r: polls.append(r.status) if "/summary-timestamps" in r.url else None)
            page.add_init_script(ANNOUNCEMENTS)
            page.goto(f"{proxy.url}/")
            wait_for_cards(page, 3)
            page.wait_for_function("() => document.getElementById('status').textContent === 'live'")
            assert page.get_attribute("#announcer", "aria-live") == "polite"
            # The status line changes with every failing chart: not a live region itself.
            assert page.get_attribute("#status", "aria-live") in (None, "off")
            assert page.get_attribute("#status", "role") not in ("status", "alert", "log")

            # Idle polls: nothing a screen reader would hear changes; the age does.
            page.evaluate("() => { window.heard.length = 0; window.statusTexts.length = 0; }")
            ago = '.card[data-sensor-id="sensor-1"] .ago'
            age = page.text_content(ago)
            assert re.fullmatch(r"updated \d+ s ago", age), age
            idle_from = len(polls)
            wait_until(page, lambda: polls[idle_from:].count(304) >= 3, "three idle polls")
            assert page.evaluate("() => [window.heard, window.statusTexts]") == [[], []]
            wait_until(page, lambda: page.text_content(ago) != age, "the age to move on")
            assert re.fullmatch(r"updated \d+ s ago", page.text_content(ago))

            # A new alert is said once, by name.
            post(server.url, readings("sensor-2", 10, datetime.now(UTC), lambda n: 45.0))
            page.wait_for_function("() => window.heard.length > 0")
            assert page.evaluate("() => window.heard") == ["New alert: sensor-2 high."]

            # Every chart fails, one after another: one announcement, while the visible
            # line counts them; and one when they are all back.
            page.evaluate("() => { window.heard.length = 0; window.statusTexts.length = 0; }")
            proxy.failing = True
            post(server.url, [r for s in sensors for r in readings(s, 1, datetime.now(UTC), lambda n: 21.0)])
            page.wait_for_function(
                "() => document.querySelectorAll('[data-chart-error=\"true\"]').length === 3"
            )
            # (sensor-2 is still alerting: the line counts it instead of saying "live".)
            texts = page.evaluate("() => window.statusTexts")
            assert "3 sensors · 1 alerting · 0 stale · 3 charts not loading — retrying" in texts
            proxy.failing = False
            page.clock.run_for(8_000)  # the longest wait between two tries of a chart
            page.wait_for_function("() => window.heard.length >= 2", timeout=20_000)
            heard = page.evaluate("() => window.heard")
            assert heard == ["Some charts are not loading; retrying.", "All charts loading again."], heard

            # The connection goes and comes back: said once each way.
            page.evaluate("() => { window.heard.length = 0; }")
            proxy.prefix, proxy.failing = "/api/summary-timestamps", True
            page.wait_for_function("() => window.heard.length >= 1", timeout=15_000)
            assert page.evaluate("() => window.heard") == ["Connection lost; retrying."]
            proxy.failing = False
            page.clock.run_for(30_000)  # the longest backoff between two polls
            page.wait_for_function("() => window.heard.length >= 2", timeout=20_000)
            assert page.evaluate("() => window.heard") == [
                "Connection lost; retrying.",
                "Connection back; live.",
            ]
            assert page.text_content("#status") == "3 sensors · 1 alerting · 0 stale"
        finally:
            context.close()
            proxy.close()
