"""What the dashboard relies on, through the real web app on both stores.

A summary whose values change (a late reading) moves its version, the chart's ETag and
the PNG; an idle poll is a 304 and a delta carries only what changed; alerts follow the
thresholds; and the store is queried as often with 25 viewers as with one.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from matplotlib.image import imread

from pipeline.readings import Reading, format_timestamp
from pipeline.settings import settings_from
from pipeline.storage import Store
from pipeline.storage.base import LATEST_POINTER_ID
from pipeline.storage.sqlite_store import SqliteStore
from summariser.batch import summarise_batch
from tests.checks import eventually
from tests.test_web_api import NOW, seed
from visualiser.charts import MARGINS_PX
from visualiser.read_model import ReadModel
from visualiser.web_context import read_model_shape
from web_app import create_web_app


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingStore:
    """The real store, counting the calls the read side makes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.store, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


def app_with(store: Any, clock: Clock, env: dict[str, str] | None = None) -> tuple[TestClient, ReadModel]:
    settings = settings_from(env or {})
    app = create_web_app(store=store, settings=settings)
    read_model = ReadModel(
        store, settings.chart_points, ttl_seconds=1.0, clock=clock, dashboard=settings.dashboard
    )
    app.state.read_model = read_model
    app.state.read_model_shape = read_model_shape(settings)
    return TestClient(app), read_model


def late_reading(store: Store, sensor: str, temperature: float, seconds_before: float = 2.5) -> None:
    """A reading older than the sensor's newest one. By default inside its window: the newest
    summary's values change, its timestamp does not. Older than the window (the seeds' first
    reading is 12 s before NOW): only older summaries change."""
    newest = store.recent_summaries(sensor, 1)[0].timestamp
    late = Reading(
        f"{sensor}-late-{temperature}",
        sensor,
        temperature,
        format_timestamp(NOW - timedelta(seconds=seconds_before)),
        # As every reading in production has one: its summaries then name it.
        correlation_id=f"ingest-{temperature}",
    )
    assert late.timestamp < newest
    store.put_readings([late.to_document()])
    summarise_batch([late.to_document()], store, 10, NOW)


def pixels(png: bytes, tmp_path: Path, name: str) -> np.ndarray:
    path = tmp_path / name
    path.write_bytes(png)
    return imread(path)


@pytest.fixture
def seeded(store: Store) -> Iterator[Store]:
    seed(store)
    yield store


@pytest.mark.parametrize(
    "seconds_before", [2.5, 12.5], ids=["changes-the-newest-summary", "changes-only-older-summaries"]
)
def test_a_late_reading_moves_the_version_the_etag_and_the_pixels(
    seeded: Store, tmp_path: Path, seconds_before: float
) -> None:
    clock = Clock()
    client, read_model = app_with(seeded, clock)
    with client:
        before = client.get("/api/summary-timestamps").json()["sensor-1"]
        chart = client.get("/plot/sensor-1.png", params={"v": before})
        assert chart.status_code == 200
        assert (
            client.get("/plot/sensor-1.png", headers={"If-None-Match": chart.headers["etag"]}).status_code
            == 304
        )
        history_before = seeded.recent_summaries("sensor-1", 10)

        late_reading(seeded, "sensor-1", 95.5, seconds_before)

        history_after = seeded.recent_summaries("sensor-1", 10)
        assert history_after[0].timestamp == history_before[0].timestamp  # same as-of reading
        if seconds_before < 12:
            assert history_after[0].max_temp == 95.5  # ...other values
        else:  # the newest summary is the same; the chart's history is not
            assert history_after[0] == history_before[0]
            assert {s.max_temp for s in history_after[1:]} == {95.5}  # (with its own summary)

        def moved() -> str | None:
            clock.now += 1.0  # past the time-to-live: the next poll refreshes
            read_model.settled()
            version = client.get("/api/summary-timestamps").json()["sensor-1"]
            return version if version != before else None

        after = eventually(moved, 10, "the new version in /api/summary-timestamps", interval=0.02)
        assert after.split("~")[0] == before.split("~")[0]  # the timestamp did not move
        refreshed = client.get("/plot/sensor-1.png", headers={"If-None-Match": chart.headers["etag"]})
        assert refreshed.status_code == 200, "the old ETag must not match a chart with other values"
        assert refreshed.headers["etag"] != chart.headers["etag"]
        assert refreshed.content != chart.content
        old, new = pixels(chart.content, tmp_path, "old.png"), pixels(refreshed.content, tmp_path, "new.png")
        assert np.abs(old - new).max() > 0.5  # the max line moved up to 95.5
        # The other sensor did not change: same version, its chart still a 304.
        untouched = client.get("/plot/sensor-2.png")
        assert (
            client.get("/plot/sensor-2.png", headers={"If-None-Match": untouched.headers["etag"]}).status_code
            == 304
        )


def test_idle_polls_are_304_and_deltas_carry_only_what_changed(seeded: Store) -> None:
    clock = Clock()
    client, read_model = app_with(seeded, clock)
    with client:
        first = client.get("/api/summary-timestamps", params={"since": "0"})
        body = first.json()
        assert body["full"] is True and set(body["versions"]) == {"sensor-1", "sensor-2"}
        etag, cursor = first.headers["etag"], body["cursor"]

        idle = client.get(
            "/api/summary-timestamps", params={"since": cursor}, headers={"If-None-Match": etag}
        )
        assert idle.status_code == 304 and idle.content == b""
        plain = client.get("/api/summary-timestamps")
        assert (
            client.get(
                "/api/summary-timestamps", headers={"If-None-Match": plain.headers["etag"]}
            ).status_code
            == 304
        )

        late_reading(seeded, "sensor-2", 5.0)

        def changed() -> Any:
            clock.now += 1.0
            read_model.settled()
            response = client.get(
                "/api/summary-timestamps", params={"since": cursor}, headers={"If-None-Match": etag}
            )
            return response if response.status_code == 200 else None

        delta = eventually(changed, 10, "a delta after the late reading", interval=0.02).json()
        assert delta["full"] is False
        assert list(delta["versions"]) == ["sensor-2"]  # only what changed
        assert delta["cursor"] != cursor
        assert (
            client.get(
                "/api/summary-timestamps", headers={"If-None-Match": plain.headers["etag"]}
            ).status_code
            == 200
        )
        # A cursor from another instance or an earlier process gets everything, flagged.
        foreign = client.get("/api/summary-timestamps", params={"since": "0123abcd.7"}).json()
        assert foreign["full"] is True and set(foreign["versions"]) == {"sensor-1", "sensor-2"}


def delete_pointer(store: Store, sensor: str) -> None:
    """The sensor's pointer deleted in the store itself (an operator's clean-up, a restore)."""
    if isinstance(store, SqliteStore):
        with closing(sqlite3.connect(store._path)) as connection, connection:
            connection.execute("DELETE FROM latest_summaries WHERE sensor_id = ?", (sensor,))
    else:
        store._summaries.delete_item(LATEST_POINTER_ID, partition_key=sensor)


def test_a_sensor_gone_from_the_store_is_removed_in_the_delta(seeded: Store) -> None:
    """Every viewer drops it: a cursor from before its last change gets it in `removed`, not a 500."""
    clock = Clock()
    client, read_model = app_with(seeded, clock)
    with client:
        cursor = client.get("/api/summary-timestamps", params={"since": "0"}).json()["cursor"]
        late_reading(seeded, "sensor-2", 5.0)  # sensor-2 changes after that cursor...

        def refreshed(sensors: set[str]) -> Any:
            clock.now += 1.0
            read_model.settled()
            current = client.get("/api/summary-timestamps").json()
            return current if set(current) == sensors else None

        before = client.get("/api/summary-timestamps").json()["sensor-2"]
        eventually(
            lambda: refreshed({"sensor-1", "sensor-2"}) and read_model.current()[1]["sensor-2"] != before,
            10,
            "sensor-2's new version",
            interval=0.02,
        )
        delete_pointer(seeded, "sensor-2")  # ...then goes
        eventually(lambda: refreshed({"sensor-1"}), 10, "sensor-2 gone", interval=0.02)

        delta = client.get("/api/summary-timestamps", params={"since": cursor})
        assert delta.status_code == 200
        body = delta.json()
        assert (body["full"], body["versions"], body["removed"]) == (False, {}, ["sensor-2"])
        assert [entry["sensor_id"] for entry in client.get("/api/sensors").json()] == ["sensor-1"]
        newest = client.get("/api/summary-timestamps", params={"since": body["cursor"]}).json()
        assert (newest["versions"], newest["removed"]) == ({}, [])


def test_alerts_follow_thresholds_overrides_and_staleness(seeded: Store) -> None:
    # sensor-1's latest average is 26.5 (test_web_api's seed), sensor-2's the same.
    env = {"ALERT_HIGH_CELSIUS": "26", "ALERT_LOW_CELSIUS": "0", "ALERT_OVERRIDES": "sensor-1:27:40"}
    client, _ = app_with(seeded, Clock(), env)
    with client:
        alerts = client.get("/api/alerts").json()
        assert [(a["sensor_id"], a["kind"]) for a in alerts] == [("sensor-1", "low"), ("sensor-2", "high")]
        assert alerts[0]["low"] == 27.0 and alerts[1]["high"] == 26.0
        delta = client.get("/api/summary-timestamps", params={"since": "0"}).json()
        assert delta["alerts"] == {"sensor-1": "low", "sensor-2": "high"}
    quiet = {"SENSOR_INTERVAL_SECONDS": "3600"}
    with app_with(seeded, Clock(), quiet)[0] as client:
        assert client.get("/api/alerts").json() == []
    stale = {"SENSOR_INTERVAL_SECONDS": "0.1", "STALE_AFTER_MISSED_INTERVALS": "1"}
    with app_with(seeded, Clock(), stale)[0] as client:
        assert [(a["sensor_id"], a["kind"]) for a in client.get("/api/alerts").json()] == [
            ("sensor-1", "stale"),
            ("sensor-2", "stale"),
        ]
    # Stale wins over a threshold, as on the dashboard: a dead sensor's last average is old news.
    with app_with(seeded, Clock(), env | stale)[0] as client:
        assert [(a["sensor_id"], a["kind"]) for a in client.get("/api/alerts").json()] == [
            ("sensor-1", "stale"),
            ("sensor-2", "stale"),
        ]


def test_sensor_details_for_the_visible_cards_only(seeded: Store) -> None:
    with app_with(seeded, Clock())[0] as client:
        picked = client.get("/api/sensors", params={"ids": "sensor-2,nope"}).json()
        assert [entry["sensor_id"] for entry in picked] == ["sensor-2"]
        assert picked[0]["version"].startswith(picked[0]["latest"]["timestamp"] + "~")
        too_many = ",".join(f"s-{n}" for n in range(101))
        assert client.get("/api/sensors", params={"ids": too_many}).status_code == 400


def simulate_viewers(store: Store, viewers: int, hotter: float, spread: bool = True) -> Counter[str]:
    """`viewers` dashboards poll every 2 s for 40 simulated seconds and fetch the charts that
    changed, while one sensor gets a late reading (new values) twice. Returns store calls."""
    counting = CountingStore(store)
    clock = Clock()
    client, read_model = app_with(counting, clock)
    seen: list[dict[str, str]] = [{} for _ in range(viewers)]
    etags: dict[tuple[int, str], str] = {}
    with client:
        for step in range(20):
            if step in (4, 12):
                late_reading(store, "sensor-1", hotter + step)  # a new maximum each time
            for viewer in range(viewers):
                clock.now = step * 2.0 + (viewer * 2.0 / viewers if spread else 0.0)
                latest = client.get("/api/summary-timestamps").json()
                read_model.settled()
                for sensor, version in latest.items():
                    if seen[viewer].get(sensor) != version:
                        known = etags.get((viewer, sensor))
                        chart = client.get(
                            f"/plot/{sensor}.png",
                            params={"v": version},
                            headers={"If-None-Match": known} if known else {},
                        )
                        etags[(viewer, sensor)] = chart.headers["etag"]
                seen[viewer] = latest
    assert all(view["sensor-1"] == seen[0]["sensor-1"] for view in seen)
    return counting.calls


def test_read_cost_does_not_grow_with_viewers(seeded: Store) -> None:
    one = simulate_viewers(seeded, 1, hotter=40.0)
    together = simulate_viewers(seeded, 10, hotter=50.0, spread=False)
    spread = simulate_viewers(seeded, 10, hotter=60.0)
    # Charts: drawn once per version whatever the viewers (both sensors, then sensor-1 twice).
    assert one["recent_summaries"] == together["recent_summaries"] == spread["recent_summaries"] == 2 + 2
    # Polls at the same moments: 10 viewers cost exactly what one does (one query per poll).
    assert together["latest_pointers"] == one["latest_pointers"] == 20
    # Viewers spread over the interval: still at most one query per time-to-live (1 s).
    assert spread["latest_pointers"] <= 40 / 1.0 + 1


def max_line_top(png: bytes, tmp_path: Path) -> int:
    """The highest row of the plot area (below the legend) where the max line is drawn."""
    image = pixels(png, tmp_path, "shared.png")[..., :3]
    top = MARGINS_PX["top"] * 2 - 3  # scale 2; the legend's own max swatch sits above it
    red = np.abs(image - np.array([0xC6, 0x28, 0x28]) / 255).sum(axis=-1) < 0.15
    return int(np.flatnonzero(red[top:].any(axis=1))[0]) + top - MARGINS_PX["top"] * 2


def test_a_shared_y_range_never_cuts_off_older_values(seeded: Store, tmp_path: Path) -> None:
    """The shared range comes from every sensor's latest summary; an older 90 °C still shows."""
    late_reading(seeded, "sensor-1", 90.0, seconds_before=12.5)  # only an older summary
    latest = seeded.recent_summaries("sensor-1", 1)[0]
    assert latest.max_temp < 40 and max(s.max_temp for s in seeded.recent_summaries("sensor-1", 50)) == 90
    client, _ = app_with(seeded, Clock())
    with client:
        chart = client.get("/plot/sensor-1.png", params={"points": 200, "y": "shared", "scale": 2})
        assert chart.status_code == 200
        # Cut off, the line would run into the plot's top edge (row 0); it peaks below it.
        assert max_line_top(chart.content, tmp_path) >= 8
