"""Windows of minutes closed from the readings in hand (no query) stay exact.

A summariser keeps the readings of each sensor's open minute while its own compare-and-swaps
prove nobody else processed any; the window of that minute is then computed without reading
the bucket back. Dense readings (many per minute, split over many batches), late ones,
duplicates, redelivery and two instances: every window must still equal its recomputation,
and most closed minutes must not have been read back.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from pipeline.readings import Reading
from pipeline.storage.sqlite_store import SqliteStore
from summariser.batch import summarise_batch
from summariser.state_cache import MAX_READINGS_IN_HAND, SensorStateCache
from tests.rollup_checks import assert_windows_exact, late_load, late_share
from tests.test_rollups import two_redelivering_instances

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class CountingStore(SqliteStore):
    """The SQLite store, counting the bucket queries the window writer makes."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.bucket_queries = 0
        self._count_lock = threading.Lock()

    def readings_between(self, sensor_id: str, start: str, end: str) -> list[Reading]:
        with self._count_lock:
            self.bucket_queries += 1
        return super().readings_between(sensor_id, start, end)


def test_dense_late_and_duplicated_posts_give_exact_windows(tmp_path: Path) -> None:
    readings, posts = late_load(3, hours=0.5, gap_s=2, seed=23, max_post=12)
    assert 0.12 < late_share(posts) < 0.3
    store = CountingStore(tmp_path / "p.db")
    cache = SensorStateCache()
    for post in posts:
        store.put_readings(post)
        summarise_batch(post, store, 10, NOW, cache=cache)  # a second post is a redelivery
    assert assert_windows_exact(store, readings) >= 3 * 30
    store.close()


def test_in_order_batches_close_their_minutes_from_the_readings_in_hand(tmp_path: Path) -> None:
    readings, _ = late_load(2, hours=0.25, gap_s=3, seed=7)
    store = CountingStore(tmp_path / "p.db")
    cache = SensorStateCache()
    for start in range(0, len(readings), 7):  # in order, batches cutting across minutes
        batch = readings[start : start + 7]
        store.put_readings(batch)
        summarise_batch(batch, store, 10, NOW, cache=cache)
    # Only the first minute each sensor closes is read back (its start was not seen).
    assert store.bucket_queries == 2
    assert assert_windows_exact(store, readings) >= 2 * 15
    store.close()


def test_two_instances_with_redelivery_and_dense_readings(tmp_path: Path) -> None:
    readings, posts = late_load(sensors=3, hours=0.5, gap_s=2, seed=31)
    first = SqliteStore(tmp_path / "p.db")
    second = SqliteStore(tmp_path / "p.db")
    first.ensure_ready()
    arrival = [reading for post in posts for reading in post]
    for start in range(0, len(arrival), 100):
        first.put_readings(arrival[start : start + 100])
    assert two_redelivering_instances(first, second, first) == []
    assert assert_windows_exact(first, readings) >= 3 * 30
    first.close()
    second.close()


def test_readings_another_instance_processed_are_in_the_minute_it_closes(tmp_path: Path) -> None:
    """The minute in hand is one instance's; once another moved the pointer it is not trusted."""
    store = SqliteStore(tmp_path / "p.db")

    def at(n: int, second: str, temperature: float) -> dict:
        return {
            "id": f"r{n}",
            "sensor_id": "s",
            "temperature": temperature,
            "timestamp": f"2026-01-01T10:{second}Z",
        }

    mine, theirs = SensorStateCache(), SensorStateCache()
    batches = [
        (mine, [at(1, "00:10.000", 10.0), at(2, "00:50.000", 11.0)]),
        (mine, [at(3, "01:05.000", 12.0), at(4, "01:10.000", 13.0)]),  # into minute 10:01: in hand
        (theirs, [at(5, "01:20.000", 30.0), at(6, "01:30.000", 31.0)]),  # another instance, same minute
        (mine, [at(7, "02:00.000", 14.0)]),  # closes 10:01 with a stale pointer version
    ]
    for cache, batch in batches:
        store.put_readings(batch)
        summarise_batch(batch, store, 10, NOW, cache=cache)
    readings = [reading for _, batch in batches for reading in batch]
    assert assert_windows_exact(store, readings) >= 4
    [closed] = store.stored_rollups("s", "1m", "2026-01-01T10:01:00.000Z", "2026-01-01T10:02:00.000Z")
    assert (closed.count, closed.max) == (4, 31.0)
    store.close()


def test_a_minute_denser_than_the_bound_is_not_held_but_read_back_when_it_closes(tmp_path: Path) -> None:
    """Memory per sensor is bounded: past MAX_READINGS_IN_HAND readings its open minute is let go."""
    store = CountingStore(tmp_path / "p.db")
    cache = SensorStateCache()
    dense = MAX_READINGS_IN_HAND + 6

    def at(n: int, minute: int) -> dict:
        millis = n * 800  # all within one minute
        return {
            "id": f"r{minute}-{n:03d}",
            "sensor_id": "s",
            "temperature": 15.0 + n % 17,
            "timestamp": f"2026-01-01T10:{minute:02d}:{millis // 1000:02d}.{millis % 1000:03d}Z",
        }

    first = [at(0, 0)]  # a first pointer, so the next batch moves it into a new minute
    batches = [first, *([at(n, 1) for n in range(start, start + 10)] for start in range(0, dense, 10))]
    for batch in batches[:-1]:
        store.put_readings(batch)
        summarise_batch(batch, store, 10, NOW, cache=cache)
    held = cache.open_minute("s")
    assert held is not None and len(held.readings) == dense - 10  # still within the bound
    store.put_readings(batches[-1])
    summarise_batch(batches[-1], store, 10, NOW, cache=cache)
    assert cache.open_minute("s") is None

    queries = store.bucket_queries
    closing = [at(0, 2)]
    store.put_readings(closing)
    summarise_batch(closing, store, 10, NOW, cache=cache)
    assert store.bucket_queries > queries  # the dense minute was read back from the store
    readings = [reading for batch in [*batches, closing] for reading in batch]
    assert assert_windows_exact(store, readings) >= 3
    [closed] = store.stored_rollups("s", "1m", "2026-01-01T10:01:00.000Z", "2026-01-01T10:02:00.000Z")
    assert closed.count == dense
    store.close()
