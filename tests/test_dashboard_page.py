"""The dashboard page as served: the URL's view from the first byte, every module it imports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipeline.settings import settings_from
from pipeline.storage.sqlite_store import SqliteStore
from web_app import create_web_app


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    store = SqliteStore(tmp_path / "page.db")
    store.ensure_ready()
    return TestClient(create_web_app(store=store, settings=settings_from({})))


@pytest.mark.parametrize(
    ("query", "view"),
    [
        ("", "cards"),
        ("?view=fleet", "fleet"),
        ("?view=fleet&sensor=s-1", "detail"),
        ("?view=nonsense", "cards"),
    ],
)
def test_the_first_paint_shows_the_view_the_url_asks_for(client: TestClient, query: str, view: str) -> None:
    page = client.get(f"/{query}").text
    assert f'data-view="{view}"' in page
    assert "{{" not in page, "every placeholder filled"
    assert 'data-backoff-cap-ms="8000"' in page and "is stale, whatever its last values were" in page


def test_every_module_the_page_imports_is_served_from_our_own_files(client: TestClient) -> None:
    seen: set[str] = set()
    waiting = ["dashboard.js", "detail.js", "uplot.js", "uplot.css", "api-docs.css"]
    while waiting:
        name = waiting.pop()
        if name in seen:
            continue
        seen.add(name)
        answer = client.get(f"/static/{name}")
        assert answer.status_code == 200, name
        assert "http://" not in answer.text.replace("http://www.w3.org", ""), name
        waiting += re.findall(r'from "\./([a-z-]+\.js)"', answer.text)
        waiting += re.findall(r'import\("\./([a-z-]+\.js)"\)', answer.text)
    assert {"cards.js", "fleet.js", "page-state.js", "detail.js"} <= seen
    assert client.get("/static/uplot.js").text.startswith(
        "/*! https://github.com/leeoniya/uPlot (v1.6.32) */"
    )


@pytest.mark.parametrize(
    ("interval", "missed", "said"),
    [("10", "6", "60 s"), ("10", "30", "5 min"), ("60", "119", "119 min"), ("3600", "2", "2 h")],
)
def test_the_page_says_the_stale_limit_in_the_unit_people_read(
    tmp_path: Path, interval: str, missed: str, said: str
) -> None:
    store = SqliteStore(tmp_path / "page.db")
    store.ensure_ready()
    env = {"SENSOR_INTERVAL_SECONDS": interval, "STALE_AFTER_MISSED_INTERVALS": missed}
    page = TestClient(create_web_app(store=store, settings=settings_from(env))).get("/").text
    assert f"A sensor not heard from for {said} is stale" in page
