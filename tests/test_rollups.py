"""Time windows (1 minute, 1 hour): exact under lateness, duplicates, redelivery and two instances."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipeline.readings import Reading
from pipeline.rollups import bucket_count, bucket_start, rollup_of
from pipeline.settings import settings_from
from pipeline.storage import LatestMoved, Store
from pipeline.storage.sqlite_store import SqliteStore
from summariser.batch import summarise_batch
from summariser.rollups import buckets_to_write
from summariser.state_cache import SensorStateCache
from tests.checks import ListFeed
from tests.rollup_checks import assert_windows_exact, late_load, late_share
from web_app import create_web_app

NOW = datetime(2026, 1, 1, tzinfo=UTC)
# Seconds between a sensor's readings: every one on a minute boundary unless offset.
SPACING = {"sqlite": 60, "cosmos": 300}
# Readings per post at most (fewer posts on the Cosmos-compatible server: each is slow there).
MAX_POST = {"sqlite": 12, "cosmos": 30}


def backend_of(store: Store) -> str:
    return "sqlite" if isinstance(store, SqliteStore) else "cosmos"


CONSUMER = "summarise_readings:readings"


def reading(n: int, timestamp: str, temperature: float, sensor: str = "s") -> Reading:
    return Reading(f"r{n}", sensor, temperature, timestamp)


def test_a_reading_on_a_boundary_opens_its_bucket() -> None:
    assert bucket_start("2026-01-01T10:00:00.000Z", "1m") == "2026-01-01T10:00:00.000Z"
    assert bucket_start("2026-01-01T09:59:59.999Z", "1m") == "2026-01-01T09:59:00.000Z"
    assert bucket_start("2026-01-01T10:00:00.000Z", "1h") == "2026-01-01T10:00:00.000Z"
    assert bucket_start("2026-01-01T10:59:59.999Z", "1h") == "2026-01-01T10:00:00.000Z"


def test_the_mean_rounds_halves_away_from_zero_and_a_duplicate_counts_once() -> None:
    start = "2026-01-01T10:00:00.000Z"
    up = rollup_of(
        "s", "1m", start, [reading(1, start, 0.01), reading(2, start, 0.0), reading(1, start, 0.01)]
    )
    assert up is not None and (up.count, up.avg, up.min, up.max) == (2, 0.01, 0.0, 0.01)
    down = rollup_of(
        "s", "1m", start, [reading(1, start, -0.01), reading(2, "2026-01-01T10:00:59.999Z", 0.0)]
    )
    assert down is not None and down.avg == -0.01
    # Outside the bucket: left out.
    assert rollup_of("s", "1m", start, [reading(3, "2026-01-01T10:01:00.000Z", 5.0)]) is None


def test_bucket_count_counts_starts_in_the_half_open_range() -> None:
    def at(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    assert bucket_count(at("2026-01-01T00:00:00Z"), at("2026-01-02T00:00:00Z"), "1m") == 1440
    assert bucket_count(at("2026-01-01T00:00:00.001Z"), at("2026-01-02T00:00:00.001Z"), "1m") == 1440
    assert bucket_count(at("2026-01-01T00:00:30Z"), at("2026-01-01T00:00:40Z"), "1m") == 0
    assert bucket_count(at("2026-01-01T00:00:00Z"), at("2026-01-01T00:00:00.001Z"), "1h") == 1


def test_a_publication_writes_the_buckets_it_closes_and_the_late_ones_it_repairs() -> None:
    batch = [reading(1, "2026-01-01T10:02:10.000Z", 1.0), reading(2, "2026-01-01T09:30:00.000Z", 2.0)]
    wanted = buckets_to_write("2026-01-01T10:01:59.999Z", "2026-01-01T10:02:10.000Z", batch)
    assert wanted == [
        ("1m", "2026-01-01T09:30:00.000Z"),  # late: repaired
        ("1m", "2026-01-01T10:01:00.000Z"),  # closed by this publication
        ("1h", "2026-01-01T09:00:00.000Z"),  # late: repaired (10:00 is still open)
    ]
    # In the open bucket, nothing is written.
    assert buckets_to_write("2026-01-01T10:02:00.000Z", "2026-01-01T10:02:30.000Z", batch[:1]) == []


def test_posted_late_and_duplicated_readings_give_exact_windows(store: Store) -> None:
    """Several sensors, ~3 h of event time, ~20% late, ~5% twice, boundaries included: every bucket."""
    # Fewer readings on the Cosmos-compatible server: each batch is a few HTTP requests.
    backend = backend_of(store)
    readings, posts = late_load(3, hours=3, gap_s=SPACING[backend], seed=11, max_post=MAX_POST[backend])
    assert 0.12 < late_share(posts) < 0.3
    assert any(r["timestamp"].endswith(":00:00.000Z") for r in readings)  # on hour boundaries
    assert sum(r["timestamp"].endswith(":00.000Z") for r in readings) > 50  # on minute boundaries
    cache = SensorStateCache()
    with TestClient(create_web_app(store=store, settings=settings_from({}))) as client:
        for post in posts:
            assert client.post("/api/readings", json=post).status_code == 201
            # What the trigger delivers: the batch as posted (a second post is a redelivery).
            summarise_batch(post, store, 10, NOW, cache=cache)
    assert assert_windows_exact(store, readings) >= 3 * (3 * 3600 // SPACING[backend_of(store)] + 3)


def two_redelivering_instances(first: Any, second: Any, feed: Any) -> list[BaseException]:
    """Both stores' summarisers read `feed` side by side, each redelivering; the errors they met."""
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=redelivering_instance, args=(handle, feed, seed, errors))
        for seed, handle in ((1, first), (2, second))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def redelivering_instance(
    handle: SqliteStore | Any, feed: Any, seed: int, errors: list[BaseException]
) -> None:
    """One summariser instance reading the shared feed; a batch is sometimes redelivered."""
    rng = random.Random(seed)
    cache = SensorStateCache()
    try:
        while feed.feed_backlog(CONSUMER) > 0:
            batch = feed.read_feed(CONSUMER, rng.randint(1, 25))
            try:
                summarise_batch(batch.documents, handle, 10, NOW, cache=cache)
            except LatestMoved:
                continue  # the other instance kept winning: the batch is delivered again
            if rng.random() < 0.15:
                continue  # "crashed" before its checkpoint: the batch is delivered again
            feed.commit_feed(CONSUMER, batch.position)
    except BaseException as error:  # noqa: BLE001 - reported by the main thread
        errors.append(error)


@pytest.mark.parametrize("backend", ["sqlite", "cosmos"])
def test_through_the_change_feed_with_redelivery_and_two_parallel_summarisers(
    backend: str, request: pytest.FixtureRequest, tmp_path
) -> None:
    readings, posts = late_load(sensors=3, hours=3, gap_s=SPACING[backend], seed=5)
    if backend == "sqlite":
        first: Any = SqliteStore(tmp_path / "p.db")
        second: Any = SqliteStore(tmp_path / "p.db")
        feed: Any = first  # the store's own change feed
    else:
        from pipeline.storage.cosmos_store import CosmosStore
        from tests.conftest import make_cosmos_store

        first = make_cosmos_store(request.getfixturevalue("cosmos"))
        second = CosmosStore(first._client, first._database_name)
        feed = ListFeed()  # what the trigger's change feed delivers: each new reading once, in order
    first.ensure_ready()
    stored: set[tuple[str, str]] = set()
    arrival = [reading for post in posts for reading in post]
    for start in range(0, len(arrival), 100):  # stored in arrival order, 100 at a time
        chunk = arrival[start : start + 100]
        first.put_readings(chunk)
        if backend == "cosmos":
            feed.append([r for r in chunk if (r["sensor_id"], r["id"]) not in stored])
        stored.update((r["sensor_id"], r["id"]) for r in chunk)
    assert two_redelivering_instances(first, second, feed) == []
    assert assert_windows_exact(first, readings) >= 3 * (3 * 3600 // SPACING[backend] + 3)
    first.close()
    second.close()
