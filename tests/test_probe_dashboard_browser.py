"""A custom time range the server cannot draw (probe, 2026-12-06): the page says so, no retry storm."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fleet_server import Fleet, WebApp, fleet_app
from tests.test_dashboard_browser import browser  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebApp]:
    with fleet_app(tmp_path_factory.mktemp("fleet"), Fleet(6, alerting=1, stale=1, stale_hot=0)) as app:
        yield app


@pytest.fixture
def page(browser) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.refused = []
    page.on("response", lambda r: page.refused.append(r.url) if r.status >= 400 else None)
    yield page
    context.close()


# 35 days: the charts' and history's limit is 31 (visualiser/time_window.py).
TOO_LONG = "range=custom&from=2026-11-01T00:00&to=2026-12-06T00:00"


def test_a_custom_range_over_31_days_is_explained_not_retried(served, page) -> None:
    page.goto(f"{served.url}/?{TOO_LONG}")
    page.wait_for_function("() => document.getElementById('status').dataset.total === '6'", timeout=10_000)
    page.wait_for_function(
        """() => { const images = [...document.querySelectorAll('.card .chart-box img')];
                   return images.length > 0 && images.every(i => i.complete && i.naturalWidth > 0); }""",
        timeout=10_000,
    )
    message = page.text_content("#range-error") or ""
    assert "31 days" in message, message
    assert page.refused == [], page.refused[:3]
    assert "not loading" not in (page.text_content("#status") or "")


def test_a_detail_view_with_a_too_long_range_still_draws(served, page) -> None:
    page.goto(f"{served.url}/?sensor=sensor-1&{TOO_LONG}")
    page.wait_for_function(
        "() => document.getElementById('detail-chart').dataset.ready === 'true'", timeout=10_000
    )
    assert page.refused == [], page.refused[:3]


def test_a_detail_view_whose_history_is_refused_says_so(served, page) -> None:
    # An id the API refuses (400): the view said nothing at all under its heading.
    page.goto(f"{served.url}/?sensor=no%20such%20id")
    page.wait_for_function(
        "() => (document.getElementById('detail-summary').textContent || '').includes('HTTP 400')",
        timeout=10_000,
    )
