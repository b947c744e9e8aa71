"""Defects a black-box probe of `make run` found (04:22 UTC, 2026-12-06), each pinned here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from pipeline.readings import format_timestamp
from pipeline.settings import settings_from
from pipeline.storage.sqlite_store import SqliteStore
from summariser.batch import summarise_batch
from web_app import create_web_app

ROLLUPS = "/api/sensors/dev-1/rollups"


@pytest.fixture
def client(sqlite_store: SqliteStore) -> Iterator[TestClient]:
    now = datetime.now(UTC)
    readings = [
        {
            "id": f"r{n}",
            "sensor_id": "dev-1",
            "temperature": 20.0 + n,
            "timestamp": format_timestamp(now - timedelta(seconds=10 * n)),
        }
        for n in reversed(range(30))
    ]
    sqlite_store.put_readings(readings)
    for reading in readings:  # a summary per reading: answers of a few KB
        summarise_batch([reading], sqlite_store, 10, now)
    with TestClient(create_web_app(store=sqlite_store, settings=settings_from({}))) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "params",
    [
        {"to": "0001-01-01T00:30:00Z"},  # the default `from` (2 h before) is before year 1
        {"to": "0001-01-03T00:00:00Z", "bucket": "1h"},  # 7 days before
        {"from": "0001-01-01T00:00:00Z", "to": "0001-01-01T00:01:00Z"},  # `from` given, still 500
    ],
)
def test_rollups_near_year_one_are_answered_not_500(client: TestClient, params: dict) -> None:
    answer = client.get(ROLLUPS, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.json()["buckets"] == []
    assert answer.json()["from"].startswith("0001-01-01T00:")


def test_rollups_if_none_match_compares_weakly(client: TestClient) -> None:
    """RFC 9110 §13.1.2: If-None-Match uses the weak comparison: W/"x" and "x" match."""
    etag = client.get(ROLLUPS).headers["etag"]
    assert etag.startswith('W/"')
    assert client.get(ROLLUPS, headers={"If-None-Match": etag.removeprefix("W/")}).status_code == 304
    # Only a whole entity-tag matches, not one the sent value merely contains.
    assert client.get(ROLLUPS, headers={"If-None-Match": f'"x{etag[3:]}'}).status_code == 200
    assert client.get(ROLLUPS, headers={"If-None-Match": f'"a", {etag}'}).status_code == 304


@pytest.mark.parametrize(
    "window",
    [
        {"start": "0001-01-01T00:00:00Z", "end": "0001-01-02T00:00:00Z"},
        {"start": "9999-12-31T00:00:00Z", "end": "9999-12-31T23:59:59.999Z"},
    ],
)
def test_chart_windows_at_the_ends_of_time_are_drawn_not_500(client: TestClient, window: dict) -> None:
    answer = client.get("/plot/dev-1.png", params=window)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"


def test_every_json_answer_of_1_kb_or_more_is_gzipped_when_asked(client: TestClient) -> None:
    """docs/http-api.md: text answers of 1 KB or more are gzipped when Accept-Encoding allows."""
    start = format_timestamp(datetime.now(UTC) - timedelta(hours=1))
    end = format_timestamp(datetime.now(UTC) + timedelta(minutes=1))
    for url in [
        "/api/sensors/dev-1/summaries?limit=30",
        "/api/sensors/dev-1/readings?limit=30",
        f"/api/sensors/dev-1/history?start={start}&end={end}",
    ]:
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        assert len(plain.content) >= 1024 and "content-encoding" not in plain.headers, url
        packed = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert packed.headers.get("content-encoding") == "gzip", url
        assert packed.headers.get("vary") == plain.headers.get("vary") == "Accept-Encoding", url
        assert packed.json() == plain.json(), url
