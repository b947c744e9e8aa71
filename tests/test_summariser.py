"""The summariser under the change feed's real delivery semantics.

Every expected value comes from `expected_summary`, an independent recomputation over
all readings (exact fractions, not the implementation's decimals), never from the
code under test.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.readings import Reading, Summary, format_timestamp
from pipeline.storage import Store
from pipeline.storage.sqlite_store import SqliteStore
from summariser.batch import summarise_batch
from summariser.state_cache import SensorStateCache
from summariser.window import summarise_window

WINDOW = 10
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
START = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)


def expected_summary(readings: Sequence[Reading], sensor_id: str, as_of: str) -> Summary:
    """Latest WINDOW readings of the sensor with timestamp <= as_of, by (timestamp, id)."""
    mine = [r for r in readings if r.sensor_id == sensor_id and r.timestamp <= as_of]
    window = sorted(mine, key=lambda r: (r.timestamp, r.id), reverse=True)[:WINDOW]
    exact_mean = sum(Fraction(str(r.temperature)) for r in window) / len(window)
    # Half away from zero, as people round: 0.625 -> 0.63 and -0.625 -> -0.63.
    cents = math.copysign(math.floor(abs(exact_mean) * 100 + Fraction(1, 2)), exact_mean)
    temperatures = [r.temperature for r in window]
    return Summary(
        id=f"{sensor_id}-{as_of}",
        sensor_id=sensor_id,
        timestamp=as_of,
        max_temp=max(temperatures),
        min_temp=min(temperatures),
        avg_temp=float(Fraction(int(cents), 100)),
        count=len(window),
    )


def make_readings(count: int, sensors: int, seed: int = 1) -> list[Reading]:
    rng = random.Random(seed)
    readings = []
    for n in range(count):
        moment = START + timedelta(milliseconds=n * 700 + rng.randint(0, 300))
        readings.append(
            Reading(
                id=f"r{n:05d}",
                sensor_id=f"sensor-{rng.randint(1, sensors)}",
                temperature=round(rng.uniform(15, 40), 2),
                timestamp=format_timestamp(moment),
            )
        )
    return readings


def storable(document: object) -> bool:
    """What Cosmos DB accepts: JSON (no NaN/Infinity), an id, a partition key under 2 KB."""
    if not isinstance(document, dict) or not isinstance(document.get("id"), str):
        return False
    try:
        json.dumps(document, allow_nan=False)
    except ValueError:
        return False
    return len(str(document.get("sensor_id", ""))) <= 2048


def deliver(
    store: Store,
    batch: Sequence[Reading | dict],
    cache: SensorStateCache | None = None,
) -> list[Summary]:
    """Write the batch to the store (as the feed's source) and summarise it."""
    documents = [r.to_document() if isinstance(r, Reading) else r for r in batch]
    store.put_readings(d for d in documents if storable(d))
    return summarise_batch(documents, store, WINDOW, NOW, cache=cache).summaries


def process_in_batches(
    store: Store,
    readings: Sequence[Reading],
    cuts: Sequence[int],
    instances: Sequence[tuple[Store, SensorStateCache]] = (),
    choices: Sequence[int] = (),
) -> None:
    """Deliver the readings cut into batches; batch i goes to instance choices[i] if given."""
    edges = [0, *sorted(set(cuts)), len(readings)]
    instances = instances or [(store, SensorStateCache())]
    for number, (start, end) in enumerate(zip(edges, edges[1:], strict=False)):
        if end > start:
            handle, cache = instances[choices[number % len(choices)] if choices else 0]
            deliver(handle, readings[start:end], cache)


def stored_summaries(store: Store, sensors: Sequence[str]) -> dict[str, Summary]:
    found: dict[str, Summary] = {}
    for sensor in sensors:
        history = store.recent_summaries(sensor, 500)
        # Not the ids (the store's key makes those unique anyway): two summaries as of the
        # same reading would mean a redelivery wrote a duplicate under another id.
        as_of = [s.timestamp for s in history]
        assert len(as_of) == len(set(as_of)), f"two summaries as of the same reading for {sensor}"
        found.update((s.id, s) for s in history)
    return found


def assert_every_summary_is_exact(store: Store, readings: Sequence[Reading]) -> dict[str, Summary]:
    sensors = sorted({r.sensor_id for r in readings})
    found = stored_summaries(store, sensors)
    for summary in found.values():
        assert summary == expected_summary(readings, summary.sensor_id, summary.timestamp)
    # Each sensor's newest summary is as of its newest reading, whatever the batches were.
    latest = store.latest_summaries()
    for sensor in sensors:
        newest = max(r.timestamp for r in readings if r.sensor_id == sensor)
        assert latest[sensor] == expected_summary(readings, sensor, newest)
    return found


@given(
    st.lists(
        st.floats(min_value=-100, max_value=100, allow_nan=False).map(lambda t: round(t, 2)),
        min_size=1,
        max_size=WINDOW,
    )
)
def test_window_statistics_match_an_exact_recomputation(temperatures: list[float]) -> None:
    window = [
        Reading(f"r{n}", "s", t, format_timestamp(START + timedelta(seconds=n)))
        for n, t in enumerate(temperatures)
    ]
    as_of = window[-1].timestamp

    assert summarise_window("s", as_of, window) == expected_summary(window, "s", as_of)
    assert summarise_window("s", as_of, window[::-1]) == summarise_window("s", as_of, window)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cuts=st.lists(st.integers(min_value=1, max_value=59), max_size=10),
    choices=st.lists(st.integers(min_value=0, max_value=1), min_size=1, max_size=11),
)
def test_any_batch_split_gives_exact_summaries(
    tmp_path_factory,
    cuts: list[int],
    choices: list[int],
) -> None:
    """Any batch boundaries, with the batches shared by two instances (two window caches)."""
    path = tmp_path_factory.mktemp("split") / "p.db"
    store = SqliteStore(path)
    readings = make_readings(60, sensors=4, seed=7)
    instances = [(store, SensorStateCache()), (SqliteStore(path), SensorStateCache())]

    process_in_batches(store, readings, cuts, instances, choices)

    found = assert_every_summary_is_exact(store, readings)
    # One summary per sensor per batch, as of that sensor's newest reading in the batch.
    edges = [0, *sorted(set(cuts)), len(readings)]
    expected_ids = set()
    for start, end in zip(edges, edges[1:], strict=False):
        by_sensor: dict[str, str] = {}
        for r in readings[start:end]:
            by_sensor[r.sensor_id] = max(by_sensor.get(r.sensor_id, ""), r.timestamp)
        expected_ids |= {f"{sensor}-{ts}" for sensor, ts in by_sensor.items()}
    assert set(found) == expected_ids
    store.close()


def test_redelivered_batch_changes_nothing(store: Store) -> None:
    readings = make_readings(40, sensors=3)
    deliver(store, readings[:25])
    before = stored_summaries(store, ["sensor-1", "sensor-2", "sensor-3"])

    again = deliver(store, readings[:25])

    assert stored_summaries(store, ["sensor-1", "sensor-2", "sensor-3"]) == before
    assert {s.id for s in again} <= set(before)


def test_full_replay_gives_the_same_summaries(store: Store) -> None:
    readings = make_readings(50, sensors=3)
    process_in_batches(store, readings, [10, 20, 35])
    first = assert_every_summary_is_exact(store, readings)

    process_in_batches(store, readings, [10, 20, 35])  # the lease reset to the beginning

    assert stored_summaries(store, ["sensor-1", "sensor-2", "sensor-3"]) == first


def test_shuffled_batch_and_duplicates_give_the_same_result(store: Store) -> None:
    readings = make_readings(30, sensors=2)
    shuffled = readings[:]
    random.Random(3).shuffle(shuffled)

    summaries = deliver(store, shuffled + shuffled[:7])  # at-least-once: some twice

    assert sorted(summaries, key=lambda s: s.sensor_id) == [
        expected_summary(readings, sensor, max(r.timestamp for r in readings if r.sensor_id == sensor))
        for sensor in ("sensor-1", "sensor-2")
    ]


def test_out_of_order_reading_lands_in_its_place_in_the_window(store: Store) -> None:
    readings = make_readings(30, sensors=1)
    deliver(store, readings[:20])
    late = Reading("late", "sensor-1", 39.99, readings[25].timestamp[:-4] + "999Z")
    newer = readings[20:]

    [summary] = deliver(store, [*newer, late])

    everything = [*readings, late]
    assert summary == expected_summary(everything, "sensor-1", readings[-1].timestamp)
    assert summary.max_temp == 39.99


POISON: list[object] = [
    {"id": "p-text", "sensor_id": "sensor-1", "temperature": "hot", "timestamp": "2026-11-28T11:00:00.500Z"},
    {
        "id": "p-nan",
        "sensor_id": "sensor-1",
        "temperature": float("nan"),
        "timestamp": "2026-11-28T11:00:00.600Z",
    },
    {
        "id": "p-inf",
        "sensor_id": "sensor-2",
        "temperature": float("inf"),
        "timestamp": "2026-11-28T11:00:00.700Z",
    },
    {"id": "p-hot", "sensor_id": "sensor-2", "temperature": 1e9, "timestamp": "2026-11-28T11:00:00.800Z"},
    {"id": "p-bool", "sensor_id": "sensor-2", "temperature": True, "timestamp": "2026-11-28T11:00:00.900Z"},
    {"id": "p-nosensor", "temperature": 20.0, "timestamp": "2026-11-28T11:00:01.000Z"},
    {"id": "p-sensortype", "sensor_id": 42, "temperature": 20.0, "timestamp": "2026-11-28T11:00:01.000Z"},
    {
        "id": "p-badsensor",
        "sensor_id": "../../etc",
        "temperature": 20.0,
        "timestamp": "2026-11-28T11:00:01.000Z",
    },
    {"id": "p-notime", "sensor_id": "sensor-1", "temperature": 20.0},
    {"id": "p-badtime", "sensor_id": "sensor-1", "temperature": 20.0, "timestamp": "yesterday"},
    {
        # A time without a zone is not a time (an offset is fine: it is normalised).
        "id": "p-nozone",
        "sensor_id": "sensor-1",
        "temperature": 20.0,
        "timestamp": "2026-11-28T11:00:01",
    },
    {
        "id": "p-huge",
        "sensor_id": "x" * 100_000,
        "temperature": 20.0,
        "timestamp": "2026-11-28T11:00:01.000Z",
    },
    {
        "id": "p-hugetext",
        "sensor_id": "sensor-1",
        "temperature": "9" * 300_000,
        "timestamp": "2026-11-28T11:00:01.000Z",
    },
    {"sensor_id": "sensor-1", "temperature": 20.0, "timestamp": "2026-11-28T11:00:01.000Z"},
    [1, 2, 3],
    "just a string",
]


def test_poison_documents_are_dead_lettered_and_never_stop_the_batch(store: Store) -> None:
    readings = make_readings(30, sensors=2)
    documents: list[object] = [r.to_document() for r in readings]
    for index, poison in enumerate(POISON):
        documents.insert(index * 2 + 1, poison)
    store.put_readings(d for d in documents if storable(d))

    outcome = summarise_batch(documents, store, WINDOW, NOW)

    assert outcome.readings == len(documents)
    assert len(outcome.dead_letters) == len(POISON)
    assert sorted(outcome.summaries, key=lambda s: s.sensor_id) == [
        expected_summary(readings, sensor, max(r.timestamp for r in readings if r.sensor_id == sensor))
        for sensor in ("sensor-1", "sensor-2")
    ]
    letters = store.recent_dead_letters(100)
    assert len(letters) == len(POISON)
    by_source = {letter.source_id: letter for letter in letters}
    assert "temperature" in by_source["p-text"].reason
    assert "finite" in by_source["p-nan"].reason
    assert "between" in by_source["p-hot"].reason
    assert "sensor_id" in by_source["p-nosensor"].reason
    assert "timestamp" in by_source["p-nozone"].reason
    assert json.loads(by_source["p-badtime"].payload)["timestamp"] == "yesterday"
    assert all(len(letter.payload) < 200_000 for letter in letters)
    assert "cut" in by_source["p-hugetext"].payload[-60:]

    # Redelivery dead-letters the same documents under the same ids: no duplicates.
    summarise_batch(documents, store, WINDOW, NOW)
    assert len(store.recent_dead_letters(100)) == len(POISON)


def test_many_sensors_in_one_batch(store: Store) -> None:
    readings = [
        Reading(
            f"m{s:03d}-{n}",
            f"dev-{s:03d}",
            round(15 + (s * 7 + n * 3) % 25 + n / 10, 2),
            format_timestamp(START + timedelta(seconds=n, milliseconds=s)),
        )
        for s in range(120)
        for n in range(12)
    ]

    summaries = deliver(store, readings)

    assert len(summaries) == 120
    for summary in summaries:
        newest = max(r.timestamp for r in readings if r.sensor_id == summary.sensor_id)
        assert summary == expected_summary(readings, summary.sensor_id, newest)
        assert summary.count == WINDOW
    assert len(store.latest_summaries()) == 120


class FailingStore:
    """A store whose writes fail, as during an outage: the batch must raise, not half-succeed."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def publish(self, publications):
        from pipeline.storage import StoreUnavailable

        raise StoreUnavailable("simulated outage")


def test_store_errors_raise_so_the_retry_policy_redelivers(sqlite_store: SqliteStore) -> None:
    from pipeline.storage import StoreUnavailable

    readings = make_readings(20, sensors=2)
    sqlite_store.put_readings(r.to_document() for r in readings)

    with pytest.raises(StoreUnavailable):
        summarise_batch([r.to_document() for r in readings], FailingStore(sqlite_store), WINDOW, NOW)

    # The retry (redelivery) on a healthy store produces the exact summaries.
    summarise_batch([r.to_document() for r in readings], sqlite_store, WINDOW, NOW)
    assert_every_summary_is_exact(sqlite_store, readings)


def test_summary_documents_have_the_documented_shape(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "p.db")
    readings = make_readings(12, sensors=1)
    [summary] = deliver(store, readings)
    assert set(summary.to_document()) == {
        "id",
        "sensor_id",
        "timestamp",
        "max_temp",
        "min_temp",
        "avg_temp",
        "count",
    }
    assert summary.id == f"sensor-1-{readings[-1].timestamp}"


class CountingStore:
    """Counts window queries, to show which path the summariser took."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.window_queries = 0

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def reading_window(self, *args, **kwargs):
        self.window_queries += 1
        return self._inner.reading_window(*args, **kwargs)


def test_steady_state_needs_no_window_query_and_stays_exact(store: Store) -> None:
    readings = make_readings(90, sensors=3, seed=11)
    counting = CountingStore(store)
    cache = SensorStateCache()
    deliver(counting, readings[:30], cache)
    assert counting.window_queries == 3  # cold: one query per sensor

    deliver(counting, readings[30:60], cache)
    assert counting.window_queries == 3  # warm: the cached windows were enough

    deliver(counting, readings[60:], SensorStateCache())  # a new instance takes over
    assert counting.window_queries == 3  # the windows kept in the pointer documents were enough
    assert_every_summary_is_exact(store, readings)


def test_late_reading_and_a_second_instance_invalidate_cached_windows(store: Store) -> None:
    readings = make_readings(60, sensors=1, seed=12)
    mine, theirs = SensorStateCache(), SensorStateCache()
    deliver(store, readings[:20], mine)
    deliver(store, readings[20:30], theirs)  # the lease moved to another instance for a while
    late = Reading("late", "sensor-1", 39.99, readings[35].timestamp[:-4] + "999Z")
    deliver(store, [*readings[30:40]], mine)  # my cached window is stale: must not be used
    deliver(store, [late], theirs)  # a late reading, older than the latest summary
    deliver(store, readings[40:], mine)  # must see the late reading in its window

    # Every summary is exact over all readings: the one as of the late reading, the newest
    # one at the time it arrived (recomputed), and those computed after it.
    everything = [*readings, late]
    found = assert_every_summary_is_exact(store, everything)
    assert f"sensor-1-{late.timestamp}" in found
    assert found[f"sensor-1-{readings[39].timestamp}"].max_temp == 39.99


def test_timestamp_ties_are_broken_by_id_whatever_the_delivery_order(store: Store) -> None:
    """Twelve readings with one timestamp: the window keeps the ten with the largest ids."""
    first = make_readings(5, sensors=1)
    same_time = format_timestamp(START + timedelta(hours=1))
    tied = [Reading(f"tie-{n:02d}", "sensor-1", 15.0 + n, same_time) for n in range(12)]
    cache = SensorStateCache()
    deliver(store, first, cache)

    [summary] = deliver(store, tied, cache)  # extends the cached state: no window query

    assert summary == expected_summary([*first, *tied], "sensor-1", same_time)
    assert summary.min_temp == 17.0  # tie-00 and tie-01 are the two left out
