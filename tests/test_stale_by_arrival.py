"""A fast device clock cannot hide a dead sensor: staleness counts from `last_heard`.

A sensor's `last_heard` is the earlier of its newest reading's own timestamp and the time
the summariser received that reading; `/api/alerts` judges `stale` by it, and
`/api/sensors` shows it. On SQLite and on the Cosmos-compatible server, and end to end
through `python -m local_host`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from pipeline.readings import Reading, format_timestamp
from pipeline.settings import settings_from
from pipeline.storage import Store
from summariser.batch import summarise_batch
from summariser.repair import publish_until_swapped
from tests.checks import eventually
from tests.servers import local_host
from web_app import create_web_app

STALE_SETTINGS = {"SENSOR_INTERVAL_SECONDS": "3", "STALE_AFTER_MISSED_INTERVALS": "3"}  # stale after 9 s


def _ahead_reading(now: datetime, ahead: timedelta) -> dict:
    return Reading("fast-1", "fast-clock", 21.0, format_timestamp(now + ahead)).to_document()


def test_a_reading_stamped_ahead_is_heard_when_it_arrived(store: Store) -> None:
    arrived = datetime.now(UTC) - timedelta(seconds=20)  # summarised 20 s ago, stamped 4 min ahead of that
    reading = _ahead_reading(arrived, timedelta(minutes=4))
    store.put_readings([reading])
    summarise_batch([reading], store, 10, arrived)
    (latest,) = store.latest_summaries().values()
    assert latest.timestamp == reading["timestamp"]  # the device's stamp is kept as it was sent
    assert latest.last_heard == format_timestamp(arrived)

    with TestClient(create_web_app(store=store, settings=settings_from(STALE_SETTINGS))) as client:
        (entry,) = client.get("/api/sensors").json()
        assert entry["last_heard"] == format_timestamp(arrived)
        (picked,) = client.get("/api/sensors?ids=fast-clock").json()
        assert picked["last_heard"] == format_timestamp(arrived)
        # The delta form names it too: a page counts it stale without asking for its card.
        assert client.get("/api/summary-timestamps?since=0").json()["heard"] == {
            "fast-clock": format_timestamp(arrived)
        }
        alerts = client.get("/api/alerts").json()
    assert [(a["sensor_id"], a["kind"]) for a in alerts] == [("fast-clock", "stale")]
    assert alerts[0]["last_heard"] == format_timestamp(arrived)


def test_a_reading_stamped_in_the_past_is_heard_at_its_stamp(store: Store) -> None:
    now = datetime.now(UTC)
    reading = _ahead_reading(now, timedelta(seconds=-3))
    store.put_readings([reading])
    summarise_batch([reading], store, 10, now)
    with TestClient(create_web_app(store=store, settings=settings_from(STALE_SETTINGS))) as client:
        (entry,) = client.get("/api/sensors").json()
        assert entry["last_heard"] == reading["timestamp"]
        assert client.get("/api/alerts").json() == []  # 3 s of silence is not 9
        assert client.get("/api/summary-timestamps?since=0").json()["heard"] == {}  # its stamp says it


def test_through_the_local_host_a_sensor_stamped_4_minutes_ahead_turns_stale(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Scaled down: stale after 2 s of silence (9 s against `make run`: docs/http-api.md).
    monkeypatch.setenv("SENSOR_INTERVAL_SECONDS", "1")
    monkeypatch.setenv("STALE_AFTER_MISSED_INTERVALS", "2")
    with local_host(tmp_path, "--no-generator") as host:
        posted = datetime.now(UTC)
        reading = {
            "sensor_id": "fast-clock",
            "temperature": 21.0,
            "timestamp": format_timestamp(posted + timedelta(minutes=4)),
        }
        assert httpx.post(f"{host.url}/api/readings", json=reading, timeout=10).status_code == 201

        def stale() -> bool:
            alerts = httpx.get(f"{host.url}/api/alerts", timeout=10).json()
            return [(a["sensor_id"], a["kind"]) for a in alerts] == [("fast-clock", "stale")]

        eventually(stale, timeout=10, what="the sensor stamped 4 minutes ahead listed as stale")
        assert (datetime.now(UTC) - posted).total_seconds() < 10


def test_a_publication_retried_after_a_lost_swap_is_heard_too(store: Store) -> None:
    arrived = datetime.now(UTC)
    reading = _ahead_reading(arrived, timedelta(minutes=4))
    store.put_readings([reading])
    heard = format_timestamp(arrived)
    publish_until_swapped(
        store,
        "fast-clock",
        [Reading("fast-1", "fast-clock", 21.0, reading["timestamp"])],
        10,
        set(),
        lambda publication: replace(publication, summary=replace(publication.summary, last_heard=heard)),
    )
    (latest,) = store.latest_summaries().values()
    assert latest.last_heard == heard


def test_a_late_reading_or_a_redelivery_does_not_move_last_heard_on(store: Store) -> None:
    """The newest summary stays heard when its newest reading arrived, whatever comes after."""
    arrived = datetime.now(UTC) - timedelta(seconds=300)
    ahead = timedelta(minutes=4)  # the device's clock runs 4 minutes fast

    def reading(name: str, temperature: float, seconds: int) -> dict:
        stamp = format_timestamp(arrived + ahead + timedelta(seconds=seconds))
        return Reading(name, "late-one", temperature, stamp).to_document()

    first, newest = reading("r-1", 20.0, -20), reading("r-2", 22.0, 0)
    for document in (first, newest):
        store.put_readings([document])
        summarise_batch([document], store, 10, arrived)
    # Stamped between the two, arriving a minute later: the newest summary's values change.
    late = reading("r-3", 35.0, -10)
    store.put_readings([late])
    summarise_batch([late], store, 10, arrived + timedelta(seconds=60))
    (latest,) = store.latest_summaries().values()
    assert (latest.timestamp, latest.max_temp) == (newest["timestamp"], 35.0)
    assert latest.last_heard == format_timestamp(arrived)
    # The newest reading delivered again two minutes on: nothing new was heard.
    summarise_batch([newest], store, 10, arrived + timedelta(seconds=120))
    (latest,) = store.latest_summaries().values()
    assert latest.last_heard == format_timestamp(arrived)
    # A new reading of the very same time is news: heard when it arrived.
    twin = reading("r-4", 22.0, 0)
    store.put_readings([twin])
    summarise_batch([twin], store, 10, arrived + timedelta(seconds=180))
    (latest,) = store.latest_summaries().values()
    assert latest.last_heard == format_timestamp(arrived + timedelta(seconds=180))
