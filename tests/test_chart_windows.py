"""Time-window charts and /api/sensors/{id}/history: summaries for short windows, rollups for long ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipeline.readings import Summary, format_timestamp
from pipeline.rollups import Rollup
from pipeline.settings import settings_from
from pipeline.storage import Publication
from pipeline.storage.sqlite_store import SqliteStore
from visualiser.chart_data import MAX_POINTS, chart_series, thinned
from web_app import create_web_app

NOW = datetime.now(UTC).replace(microsecond=0)


def at(minutes_ago: float) -> str:
    return format_timestamp(NOW - timedelta(minutes=minutes_ago))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "windows.db")
    store.ensure_ready()
    for minutes_ago in range(30, -1, -1):  # one summary a minute for the last half hour
        t = at(minutes_ago)
        store.publish([Publication(Summary(f"s-1-{t}", "s-1", t, 31.0, 19.0, 25.0, 10), (), None)])
    yield store
    store.close()


def test_short_windows_come_from_summaries_long_ones_from_rollups(store: SqliteStore) -> None:
    short = chart_series(store, "s-1", at(60), at(-1))
    assert short.source == "summaries" and len(short.summaries) == 31
    assert chart_series(store, "s-1", at(10.5), at(-1)).summaries[0].timestamp == at(10)
    # No rollups stored yet: a long window still shows the summaries.
    assert chart_series(store, "s-1", at(24 * 60), at(-1)).source == "summaries"
    hour = format_timestamp((NOW - timedelta(hours=3)).replace(minute=0, second=0))
    store.put_rollups([Rollup("s-1", "1m", hour, 5, 10.0, 40.0, 22.5)])
    long = chart_series(store, "s-1", at(24 * 60), at(-1))
    assert long.source == "rollups:1m"
    assert [(s.timestamp, s.min_temp, s.max_temp, s.avg_temp) for s in long.summaries][0] == (
        hour,
        10.0,
        40.0,
        22.5,
    )


def test_thinning_keeps_extremes_and_the_newest_time() -> None:
    many = [
        Summary(f"x-{n}", "x", f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z", n, -n, 0.0, 1)
        for n in range(3000)
    ]
    thin = thinned(many, MAX_POINTS)
    assert len(thin) <= MAX_POINTS
    assert max(s.max_temp for s in thin) == 2999 and min(s.min_temp for s in thin) == -2999
    assert thin[-1].timestamp == many[-1].timestamp


def test_history_and_window_charts_over_http(store: SqliteStore) -> None:
    client = TestClient(create_web_app(store=store, settings=settings_from({})))
    answer = client.get("/api/sensors/s-1/history", params={"start": at(15), "end": at(-1)})
    assert answer.status_code == 200
    body = answer.json()
    assert body["source"] == "summaries" and body["columns"][1] == "avg_temp"
    assert len(body["rows"]) == 16 and body["rows"][-1][0] == at(0)
    assert body["thresholds"] == {"low": 16.0, "high": 38.0}
    for params, field in (
        ({"start": at(5)}, "end"),
        ({"start": at(1), "end": at(5)}, "end"),
        ({"start": "x", "end": at(1)}, "start"),
    ):
        refused = client.get("/api/sensors/s-1/history", params=params)
        assert refused.status_code == 400 and field in refused.text, refused.text  # names the field
        assert client.get("/plot/s-1.png", params=params).status_code == 400
    window = {"start": at(60), "end": at(-1)}
    chart = client.get("/plot/s-1.png", params=window)
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    latest = client.get("/plot/s-1.png")
    assert latest.headers["etag"] != chart.headers["etag"], "the window is part of the chart's key"
    again = client.get("/plot/s-1.png", params=window, headers={"If-None-Match": chart.headers["etag"]})
    assert again.status_code == 304
