"""A late-heavy load posted to the local host: every summary it shows is exact."""

from __future__ import annotations

import random
import signal
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from pipeline.readings import format_timestamp
from pipeline.storage.sqlite_store import SqliteStore
from tests.checks import check_api_summaries, eventually
from tests.servers import local_host

pytestmark = pytest.mark.slow
SENSORS = [f"dev-{n}" for n in range(1, 5)]
CONSUMER = "summarise_readings:readings"


def late_heavy_posts(seed: int) -> list[list[dict]]:
    """Requests of 1-15 readings: about half of them late, some resent as devices retry."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(minutes=30)
    readings = [
        {
            "id": f"{sensor}-{n:03d}",
            "sensor_id": sensor,
            "temperature": round(rng.uniform(15, 40), 2),
            "timestamp": format_timestamp(
                start + timedelta(seconds=n * 10, milliseconds=rng.randint(0, 999))
            ),
        }
        for sensor in SENSORS
        for n in range(60)
    ]
    # Half arrive in order, the other half up to a hundred places late (minutes behind).
    arrival = sorted(readings, key=lambda r: readings.index(r) % 60 + rng.choice([0, 0, 3, 20, 100]))
    posts: list[list[dict]] = []
    while arrival:
        size = rng.randint(1, 15)
        posts.append(arrival[:size])
        arrival = arrival[size:]
        if rng.random() < 0.2:  # a device retrying a request it got no answer to
            posts.append(list(posts[-1]))
    return posts


def late_share(posts: list[list[dict]]) -> float:
    """The share of readings older than one of their sensor's posted before them."""
    newest: dict[str, str] = {}
    late = total = 0
    for body in posts:
        for reading in body:
            total += 1
            late += reading["timestamp"] < newest.get(reading["sensor_id"], "")
        for reading in body:
            newest[reading["sensor_id"]] = max(newest.get(reading["sensor_id"], ""), reading["timestamp"])
    return late / total


def test_late_heavy_load_through_post_gives_exact_summaries(tmp_path) -> None:
    posts = late_heavy_posts(seed=5)
    with local_host(tmp_path, "--no-generator") as host:
        with httpx.Client(base_url=host.url, timeout=30) as client:
            for body in posts:
                response = client.post("/api/readings", json=body)
                assert response.status_code == 201, response.text
        store = SqliteStore(host.store_path)
        eventually(lambda: store.feed_backlog(CONSUMER) == 0, 60, "the feed drained")
        store.close()

        summaries = check_api_summaries(host.url, SENSORS)  # each one against its readings

        latest = httpx.get(f"{host.url}/api/summary-timestamps").json()
        for sensor in SENSORS:
            readings = httpx.get(f"{host.url}/api/sensors/{sensor}/readings", params={"limit": 500}).json()
            assert len(readings) == 60  # every reading once, resent ones included
            # The poll answers a version: the newest summary's timestamp, then a digest of its values.
            newest_summary = latest[sensor].partition("~")[0]
            assert newest_summary == readings[0]["timestamp"] == summaries[sensor][0]["timestamp"]
        assert late_share(posts) > 0.25  # the load really was late-heavy
        assert host.stop(signal.SIGINT) == 0
