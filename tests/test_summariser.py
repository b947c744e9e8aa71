"""The summariser under the change feed's real delivery semantics.

Every expected value comes from `expected_summary`, an independent recomputation over
all readings (exact fractions, not the implementation's decimals), never from the
code under test.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.readings import Reading, Summary, format_timestamp
from pipeline.storage import LatestMoved, Store
from pipeline.storage.sqlite_store import SqliteStore
from summariser.batch import summarise_batch
from summariser.state_cache import SensorStateCache
from summariser.window import summarise_window

WINDOW = 10
MAX_REDELIVERIES = 8
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


def test_an_empty_window_is_refused_by_name() -> None:
    """No summary of nothing: the error names the sensor and the time, not `max()`."""
    with pytest.raises(ValueError, match="empty window for sensor-1 as of 2026-11-28T11:00:00.000Z"):
        summarise_window("sensor-1", "2026-11-28T11:00:00.000Z", [])


def open_instances(backend: str, request: pytest.FixtureRequest, tmp_path_factory) -> list[Store]:
    """Two handles on one fresh store, as two instances of the Function App would have."""
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("instances") / "p.db"
        return [SqliteStore(path), SqliteStore(path)]
    from pipeline.storage.cosmos_store import CosmosStore
    from tests.conftest import make_cosmos_store

    first = make_cosmos_store(request.getfixturevalue("cosmos"))
    return [first, CosmosStore(first._client, first._database_name)]


BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "cosmos"])
# Fewer examples on the Cosmos-compatible server: each one is a few hundred HTTP requests.
EXAMPLES = {"sqlite": 30, "cosmos": 10}


@BACKENDS
def test_any_batch_split_gives_exact_summaries(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory
) -> None:
    """Any batch boundaries, with the batches shared by two instances (two window caches)."""
    readings = make_readings(60, sensors=4, seed=7)

    @settings(max_examples=EXAMPLES[backend], deadline=None)
    @given(
        cuts=st.lists(st.integers(min_value=1, max_value=59), max_size=10),
        choices=st.lists(st.integers(min_value=0, max_value=1), min_size=1, max_size=11),
    )
    def check(cuts: list[int], choices: list[int]) -> None:
        handles = open_instances(backend, request, tmp_path_factory)
        instances = [(handle, SensorStateCache()) for handle in handles]

        process_in_batches(handles[0], readings, cuts, instances, choices)

        found = assert_every_summary_is_exact(handles[0], readings)
        # One summary per sensor per batch, as of that sensor's newest reading in the batch.
        edges = [0, *sorted(set(cuts)), len(readings)]
        expected_ids = set()
        for start, end in zip(edges, edges[1:], strict=False):
            by_sensor: dict[str, str] = {}
            for r in readings[start:end]:
                by_sensor[r.sensor_id] = max(by_sensor.get(r.sensor_id, ""), r.timestamp)
            expected_ids |= {f"{sensor}-{ts}" for sensor, ts in by_sensor.items()}
        assert set(found) == expected_ids

    check()


def tied_readings(count: int, sensors: int, seed: int) -> list[Reading]:
    """Readings in time order; some share a timestamp with the previous one (ties by id).

    Odd seeds draw temperatures from three values only: a late reading then often takes
    the place of one of the same temperature, changing a window but not its summary.
    """
    rng = random.Random(seed)
    coarse = seed % 2 == 1
    readings: list[Reading] = []
    moment = START
    for n in range(count):
        if n % 5 != 4:  # every fifth reading shares its predecessor's time
            moment += timedelta(milliseconds=rng.randint(1, 900))
        readings.append(
            Reading(
                id=f"r{rng.randint(0, 99):02d}-{n:03d}",
                sensor_id=f"sensor-{n % sensors + 1}",
                temperature=rng.choice((20.0, 25.0, 40.0)) if coarse else round(rng.uniform(15, 40), 2),
                timestamp=format_timestamp(moment),
            )
        )
    return readings


@st.composite
def deliveries(draw: st.DrawFn, count: int) -> list[tuple[int, list[int]]]:
    """A change feed's worst day: (instance, reading indexes) per batch.

    Readings arrive late (each delayed by a drawn number of places, some by the whole
    run), batches are cut anywhere and shuffled, readings are duplicated inside a batch,
    earlier batches are redelivered, and two instances take the batches in turns.
    """
    delays = draw(
        st.lists(
            st.one_of(st.just(0), st.integers(0, 8), st.integers(0, count)),
            min_size=count,
            max_size=count,
        )
    )
    order = sorted(range(count), key=lambda n: (n + delays[n], n))
    cuts = sorted(set(draw(st.lists(st.integers(1, count - 1), max_size=14))))
    batches = [order[a:b] for a, b in zip([0, *cuts], [*cuts, count], strict=True)]
    schedule: list[tuple[int, list[int]]] = []
    for number, batch in enumerate(batches):
        duplicates = draw(st.lists(st.sampled_from(batch), max_size=2))
        schedule.append((draw(st.integers(0, 1)), draw(st.permutations(batch + duplicates))))
        if draw(st.integers(0, 4)) == 0:  # a redelivery of an earlier batch
            _, earlier = schedule[draw(st.integers(0, number))]
            schedule.append((draw(st.integers(0, 1)), list(earlier)))
    return schedule


@BACKENDS
def test_late_duplicate_redelivered_and_out_of_order_across_two_instances_are_exact(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory
) -> None:
    """Every stored summary equals the recomputation from the stored readings: 0 mismatches."""

    @settings(max_examples=EXAMPLES[backend] * 2, deadline=None)
    @given(schedule=deliveries(48), seed=st.integers(0, 3))
    def check(schedule: list[tuple[int, list[int]]], seed: int) -> None:
        readings = tied_readings(48, sensors=2, seed=seed)
        handles = open_instances(backend, request, tmp_path_factory)
        instances = [(handle, SensorStateCache()) for handle in handles]

        for instance, indexes in schedule:
            handle, cache = instances[instance]
            deliver(handle, [readings[n] for n in indexes], cache)

        assert assert_every_summary_is_exact(handles[0], readings)  # 0 mismatches, none skipped

    check()


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


def test_a_document_json_cannot_encode_is_dead_lettered_as_its_repr(sqlite_store: SqliteStore) -> None:
    """A mapping with a key JSON cannot hold (from a caller, not the feed) still never stops the batch."""
    readings = make_readings(3, sensors=1)
    strange = {"id": "p-tuple-key", "sensor_id": "sensor-1", (1, 2): "no JSON key"}
    sqlite_store.put_readings(r.to_document() for r in readings)

    outcome = summarise_batch([strange, *(r.to_document() for r in readings)], sqlite_store, WINDOW, NOW)

    assert [s.sensor_id for s in outcome.summaries] == ["sensor-1"]
    [letter] = sqlite_store.recent_dead_letters(10)
    assert letter.source_id == "p-tuple-key" and letter.payload == repr(strange)


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


@pytest.mark.parametrize("extended_by", ["the same instance", "another instance"])
def test_a_late_reading_that_leaves_the_newest_values_unchanged_still_enters_its_window(
    store: Store, extended_by: str
) -> None:
    """The late reading replaces the oldest one of the newest window at the same temperature.

    The newest summary's values do not change, so nothing is repaired; its window does, and
    the next reading's summary, extended from the cached window or from the pointer's (another
    instance), must see it.
    """
    on_time = [
        Reading(
            f"n{n}", "sensor-1", 40.0 if n == 0 else 20.0, format_timestamp(START + timedelta(seconds=10 * n))
        )
        for n in range(10)
    ]
    late = Reading("late", "sensor-1", 40.0, format_timestamp(START + timedelta(seconds=85)))
    newest = Reading("new", "sensor-1", 20.0, format_timestamp(START + timedelta(seconds=100)))
    cache = SensorStateCache()
    deliver(store, on_time, cache)
    deliver(store, [late], cache)
    deliver(store, [newest], cache if extended_by == "the same instance" else SensorStateCache())

    found = assert_every_summary_is_exact(store, [*on_time, late, newest])
    assert found[f"sensor-1-{newest.timestamp}"].max_temp == 40.0  # n0 left, late (40) entered


@BACKENDS
def test_late_readings_one_per_batch_among_two_temperatures_are_exact(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory
) -> None:
    """One reading per batch, some late, each at one of two temperatures, one instance.

    The shape where a late reading most often changes the newest window but not its
    summary (it takes the place of a reading of the same temperature), and the very
    next batch extends that window.
    """

    @settings(max_examples=EXAMPLES[backend], deadline=None)
    @given(
        temperatures=st.lists(st.sampled_from([20.0, 40.0]), min_size=24, max_size=24),
        delays=st.lists(st.sampled_from([0, 0, 1, 2, 3]), min_size=24, max_size=24),
    )
    def check(temperatures: list[float], delays: list[int]) -> None:
        readings = [
            Reading(f"r{n:02d}", "sensor-1", temperature, format_timestamp(START + timedelta(seconds=n)))
            for n, temperature in enumerate(temperatures)
        ]
        order = sorted(range(len(readings)), key=lambda n: (n + delays[n], n))
        [handle, *_] = open_instances(backend, request, tmp_path_factory)
        cache = SensorStateCache()
        for n in order:
            deliver(handle, [readings[n]], cache)
        assert assert_every_summary_is_exact(handle, readings)

    check()


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


class CallCounter:
    """Counts the calls the summariser makes to the store contract, by method."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        method = getattr(self._inner, name)

        def counted(*args, **kwargs):
            with self._lock:
                self.calls[name] += 1
            return method(*args, **kwargs)

        return counted


def operations(store: Store) -> Counter[str]:
    """What the store executed so far, on every thread: HTTP requests or SQL statements."""
    return Counter(store.meter.requests)


def per_sensor_batches(sensors: int, batches: int) -> list[list[Reading]]:
    """One reading per sensor per batch, every batch newer than the one before."""
    return [
        [
            Reading(
                f"s{s}-b{b}",
                f"sensor-{s}",
                round(15 + (s * 7 + b * 3) % 25 + b / 10, 2),
                format_timestamp(START + timedelta(seconds=b, milliseconds=s)),
            )
            for s in range(1, sensors + 1)
        ]
        for b in range(batches)
    ]


def assert_one_batch_costs_the_steady_state(
    store: Store, batch: list[Reading], cache: SensorStateCache
) -> None:
    """Store the batch (one reading of each of 5 sensors), summarise it, count its operations."""
    store.put_readings(r.to_document() for r in batch)
    before = operations(store)

    summarise_batch([r.to_document() for r in batch], store, WINDOW, NOW, cache=cache)

    spent = operations(store) - before
    if isinstance(store, SqliteStore):
        # Per sensor: the pointer's compare-and-swap and the summary, in one transaction.
        assert spent == Counter({"UPDATE": 5, "INSERT": 5})
    else:
        # Per sensor: one transactional batch (summary upsert + pointer replace-if-match).
        assert spent == Counter({"batch": 5})


def test_steady_state_costs_one_write_of_two_operations_per_sensor_per_batch(store: Store) -> None:
    """The README's promise, counted on every thread: a filled state cache reads nothing."""
    batches = per_sensor_batches(sensors=5, batches=4)
    cache = SensorStateCache()
    deliver(store, batches[0], cache)  # cold: the states are read once
    deliver(store, batches[1], cache)
    assert_one_batch_costs_the_steady_state(store, batches[2], cache)
    assert_every_summary_is_exact(store, [r for batch in batches[:3] for r in batch])


def test_a_late_reading_repairs_the_summaries_it_enters_at_a_bounded_cost(store: Store) -> None:
    readings = [
        Reading(
            f"r{n:02d}",
            "sensor-1",
            round(20 + (n * 37) % 15 + 0.25, 2),
            format_timestamp(START + timedelta(seconds=n)),
        )
        for n in range(30)
    ]
    cache = SensorStateCache()
    for reading in readings:  # one summary per reading
        deliver(store, [reading], cache)
    late = Reading(
        "late", "sensor-1", 39.5, format_timestamp(START + timedelta(seconds=14, milliseconds=500))
    )
    store.put_readings([late.to_document()])
    counting = CallCounter(store)
    before = operations(store)

    outcome = summarise_batch([late.to_document()], counting, WINDOW, NOW, cache=cache)

    spent = operations(store) - before
    # It enters the summaries as of readings 15..23 (reading 24's window is 15..24): nine
    # rewritten, plus its own new summary.
    assert outcome.repaired == 9
    assert counting.calls == Counter(
        {"sensor_states": 1, "reading_window": 1, "readings_after": 1, "summaries_between": 1, "publish": 1}
    )
    if isinstance(store, SqliteStore):
        # 4 reads; then one transaction: the pointer swap, 9 repairs, its own, the newest.
        assert spent == Counter({"SELECT": 4, "UPDATE": 1, "INSERT": 11})
    else:
        # 1 point read, 3 queries, 1 transactional batch (12 operations).
        assert spent == Counter({"read_items": 1, "query": 3, "batch": 1})
    found = assert_every_summary_is_exact(store, [*readings, late])
    assert len(found) == 31


@pytest.mark.parametrize("seed", [1, 2])
def test_two_instances_summarising_concurrently_stay_exact(
    store: Store, seed: int, request: pytest.FixtureRequest, tmp_path_factory
) -> None:
    """Two instances in two threads on overlapping, late and redelivered batches."""
    readings = tied_readings(80, sensors=2, seed=seed)
    rng = random.Random(seed)
    order = sorted(range(len(readings)), key=lambda n: n + rng.choice([0, 0, 0, 3, 9, 40]))
    batches = [order[n : n + rng.randint(4, 7)] for n in range(0, len(order), 4)]  # overlapping
    other = (
        SqliteStore(store._path)
        if isinstance(store, SqliteStore)
        else type(store)(store._client, store._database_name)
    )
    errors: list[BaseException] = []

    def instance(handle: Store, mine: list[list[int]]) -> None:
        cache = SensorStateCache()
        try:
            for batch in mine:
                for _ in range(MAX_REDELIVERIES):  # the retry policy: redeliver on a store error
                    try:
                        deliver(handle, [readings[n] for n in batch], cache)
                        break
                    except LatestMoved:
                        continue
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    threads = [
        threading.Thread(target=instance, args=(store, batches[0::2] + batches[1::4])),
        threading.Thread(target=instance, args=(other, batches[1::2] + batches[0::4])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert_every_summary_is_exact(store, readings)


def test_an_id_reused_by_another_sensor_moves_nothing(store: Store) -> None:
    """Readings are (sensor_id, id): a second sensor's reading under the same id is its own."""
    readings = make_readings(24, sensors=1, seed=21)
    cache = SensorStateCache()
    deliver(store, readings[:12], cache)
    theirs = Reading(readings[11].id, "sensor-2", 15.5, readings[11].timestamp)
    deliver(store, [theirs], cache)

    deliver(store, readings[12:], cache)  # the fast path, from the window the cache holds

    assert store.recent_readings("sensor-1", 30) == sorted(readings, key=lambda r: r.timestamp, reverse=True)
    assert_every_summary_is_exact(store, [*readings, theirs])


def test_the_batch_after_a_cold_one_already_costs_the_steady_state(store: Store) -> None:
    """What a cold batch learnt (no state, windows read from the store) is kept in memory."""
    batches = per_sensor_batches(sensors=5, batches=2)
    cache = SensorStateCache()
    deliver(store, batches[0], cache)  # cold: no pointer yet, every window read from the store
    assert_one_batch_costs_the_steady_state(store, batches[1], cache)
    assert_every_summary_is_exact(store, [r for batch in batches for r in batch])


def other_instance(store: Store) -> Store:
    """A second handle on the same data, as another instance of the Function App has."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store._path)
    return type(store)(store._client, store._database_name)


def test_the_state_cache_forgets_the_least_recently_used_sensor_beyond_its_bound(store: Store) -> None:
    """Memory is bounded: past `max_sensors` the sensor used longest ago goes, open minute and all."""
    cache = SensorStateCache(max_sensors=2)
    minute = timedelta(minutes=1)

    def reading(sensor: int, at: timedelta) -> Reading:
        return Reading(
            f"s{sensor}-{at.seconds}", f"sensor-{sensor}", 20.0 + sensor, format_timestamp(START + at)
        )

    everything = [reading(1, timedelta()), reading(2, timedelta())]
    deliver(store, everything, cache)  # cold
    # Into a new minute on the fast path: both open minutes are held in memory.
    later = [reading(1, minute), reading(2, minute)]
    deliver(store, later, cache)
    assert cache.open_minute("sensor-2") is not None
    refresh = reading(1, minute + timedelta(seconds=5))
    deliver(store, [refresh], cache)  # sensor-1 used again: sensor-2 is now the oldest
    newcomer = reading(3, timedelta())
    deliver(store, [newcomer], cache)

    assert len(cache) == 2
    assert cache.get("sensor-2") is None and cache.open_minute("sensor-2") is None
    assert cache.get("sensor-1") is not None and cache.get("sensor-3") is not None
    # Forgotten is not lost: its next batch reads the state from its pointer, exactly.
    back = reading(2, 2 * minute)
    deliver(store, [back], cache)
    assert_every_summary_is_exact(store, [*everything, *later, refresh, newcomer, back])


class RivalPublishesAfterEachRead:
    """The store, with another instance summarising a new reading of the sensor right after
    every pointer read of ours: each of our compare-and-swaps then loses."""

    def __init__(self, inner: Store, rival: Store) -> None:
        self._inner = inner
        self._rival = rival
        self._rival_cache = SensorStateCache()
        self.publishes = 0
        self.rival_readings: list[Reading] = []

    def __getattr__(self, name: str):
        return getattr(self._inner, name)

    def sensor_states(self, sensor_ids):
        states = self._inner.sensor_states(sensor_ids)
        moment = START + timedelta(minutes=10, seconds=len(self.rival_readings))
        theirs = Reading(f"rival-{len(self.rival_readings)}", "sensor-1", 30.5, format_timestamp(moment))
        self.rival_readings.append(theirs)
        deliver(self._rival, [theirs], self._rival_cache)
        return states

    def publish(self, publications, **options):
        self.publishes += 1
        return self._inner.publish(publications, **options)


def test_a_pointer_that_keeps_moving_fails_the_batch_and_its_redelivery_is_exact(store: Store) -> None:
    """After MAX_ATTEMPTS lost compare-and-swaps the batch raises LatestMoved (never a silent
    give-up), the cache forgets the sensor, and the retry policy's redelivery is exact."""
    from summariser.repair import MAX_ATTEMPTS

    readings = make_readings(12, sensors=1, seed=31)
    deliver(store, readings[:10], SensorStateCache())
    cache = SensorStateCache()  # this instance reads the pointer before its first swap
    contended = RivalPublishesAfterEachRead(store, other_instance(store))
    batch = readings[10:]
    store.put_readings(r.to_document() for r in batch)

    with pytest.raises(LatestMoved, match="sensor-1"):
        summarise_batch([r.to_document() for r in batch], contended, WINDOW, NOW, cache=cache)

    # The fast path's swap, the slow path's first one, then every retry: all lost.
    assert contended.publishes == 2 + MAX_ATTEMPTS
    assert cache.get("sensor-1") is None
    deliver(store, batch, cache)  # redelivered once the rival is quiet
    assert_every_summary_is_exact(store, [*readings, *contended.rival_readings])


class RivalPublishesOnce(RivalPublishesAfterEachRead):
    """As above, but only after our first pointer read: one compare-and-swap lost, then quiet."""

    def sensor_states(self, sensor_ids):
        if self.rival_readings:
            return self._inner.sensor_states(sensor_ids)
        return super().sensor_states(sensor_ids)


def summarised_with_a_late_upload(store: Store) -> tuple[list[Reading], list[Reading], SensorStateCache]:
    """130 readings of one sensor summarised one by one, then 12 late ones stored (not yet
    summarised), each half a second after a reading: together they enter about 110 summaries."""
    readings = [
        Reading(
            f"r{n:03d}",
            "sensor-1",
            round(15 + (n * 7) % 25 + 0.5, 2),
            format_timestamp(START + timedelta(seconds=n)),
        )
        for n in range(130)
    ]
    cache = SensorStateCache()
    for reading in readings:  # one summary per reading
        deliver(store, [reading], cache)
    late = [
        Reading(
            f"late-{n:03d}",
            "sensor-1",
            39.75,
            format_timestamp(START + timedelta(seconds=n, milliseconds=500)),
        )
        for n in range(5, 125, 10)
    ]
    store.put_readings(r.to_document() for r in late)
    return readings, late, cache


@pytest.mark.parametrize("contended", [False, True], ids=["alone", "a-rival-publishes-first"])
def test_late_readings_repairing_more_summaries_than_one_batch_holds_stay_exact(
    store: Store, contended: bool
) -> None:
    """A device's buffered upload lands among 130 summarised readings: about 110 summaries to
    repair, more than one Cosmos DB transactional batch (100 operations) holds. They are
    written in several batches, each moving the pointer by compare-and-swap; a rival's
    publication before ours makes the first swap fail and the plan is made again."""
    readings, late, cache = summarised_with_a_late_upload(store)
    handle: Store = RivalPublishesOnce(store, other_instance(store)) if contended else store
    before = operations(store)

    outcome = summarise_batch([r.to_document() for r in late], handle, WINDOW, NOW, cache=cache)

    assert outcome.repaired > 100  # each late reading enters the 10 summaries after it (most change)
    if not isinstance(store, SqliteStore):
        assert operations(store)["batch"] - before["batch"] >= 2
    rivals = handle.rival_readings if isinstance(handle, RivalPublishesOnce) else []
    assert len(rivals) == (1 if contended else 0)
    found = assert_every_summary_is_exact(store, [*readings, *late, *rivals])
    assert len(found) == len(readings) + 1 + len(rivals)  # the batch's own summary: as of its newest


def test_a_swap_lost_between_the_batches_of_a_large_repair_writes_it_all_again(cosmos_store: Store) -> None:
    """Cosmos DB: a rival publishes after the first of our repair's batches landed, so the
    next batch's compare-and-swap fails. The summaries already written may rest on an old
    snapshot: the next attempt plans again and writes them all, and everything is exact."""
    readings, late, cache = summarised_with_a_late_upload(cosmos_store)
    ours = other_instance(cosmos_store)
    rival, rival_cache, rival_readings = other_instance(cosmos_store), SensorStateCache(), []
    landed, calls = ours._batch, []

    def batch_then_rival(sensor_id, operations):
        written = landed(sensor_id, operations)
        calls.append(written is not None)
        if written is not None and not rival_readings:
            moment = START + timedelta(minutes=10)
            rival_readings.append(Reading("rival", "sensor-1", 30.5, format_timestamp(moment)))
            deliver(rival, rival_readings, rival_cache)
        return written

    ours._batch = batch_then_rival

    outcome = summarise_batch([r.to_document() for r in late], ours, WINDOW, NOW, cache=cache)

    assert rival_readings and outcome.repaired  # (those the landed batch already put right are not counted)
    # First attempt: one batch landed, the next lost its swap; second attempt: all of it,
    # the landed batch's summaries included, in two batches again.
    assert calls == [True, False, True, True]
    found = assert_every_summary_is_exact(cosmos_store, [*readings, *late, *rival_readings])
    assert len(found) == len(readings) + 1 + len(rival_readings)
