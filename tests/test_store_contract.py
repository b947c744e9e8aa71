"""One contract, two back-ends: every test here runs on SQLite and on the Cosmos-compatible server."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest

from pipeline.readings import DeadLetter, Reading, Summary
from pipeline.storage import Publication, ReadingConflict, Store, StoreError, StoreUnavailable
from pipeline.storage.sqlite_store import SqliteStore


def reading(n: int, sensor: str = "sensor-1", temperature: float | None = None) -> Reading:
    return Reading(
        id=f"{sensor}-r{n:03d}",
        sensor_id=sensor,
        temperature=20.0 + n if temperature is None else temperature,
        timestamp=f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000Z",
    )


def summary(sensor: str, second: int, avg: float = 20.0) -> Summary:
    timestamp = f"2026-01-01T00:00:{second:02d}.000Z"
    return Summary(
        id=f"{sensor}-{timestamp}",
        sensor_id=sensor,
        timestamp=timestamp,
        max_temp=avg + 1,
        min_temp=avg - 1,
        avg_temp=avg,
        count=3,
    )


def test_window_is_the_latest_readings_up_to_as_of_newest_first(store: Store) -> None:
    store.put_readings(reading(n).to_document() for n in range(30))
    store.put_readings(reading(n, sensor="sensor-2").to_document() for n in range(5))

    window = store.reading_window("sensor-1", reading(20).timestamp, 10)

    assert [r.id for r in window] == [reading(n).id for n in range(20, 10, -1)]
    assert window[0] == reading(20)


def test_window_skips_invalid_documents_and_still_fills_up(store: Store) -> None:
    store.put_readings(reading(n).to_document() for n in range(12))
    poison = [
        {
            "id": f"bad-{n}",
            "sensor_id": "sensor-1",
            "temperature": "hot",
            "timestamp": f"2026-01-01T00:00:{20 + n:02d}.000Z",
        }
        for n in range(5)
    ]
    store.put_readings(poison)

    window = store.reading_window("sensor-1", "2026-01-01T00:00:30.000Z", 10)

    assert [r.id for r in window] == [reading(n).id for n in range(11, 1, -1)]


def test_window_breaks_timestamp_ties_by_id(store: Store) -> None:
    same_time = "2026-01-01T00:00:05.000Z"
    store.put_readings(
        Reading(id=f"tie-{n}", sensor_id="sensor-1", temperature=20.0 + n, timestamp=same_time).to_document()
        for n in range(6)
    )
    store.put_readings(reading(n).to_document() for n in range(5))  # seconds 0..4

    window = store.reading_window("sensor-1", same_time, 4)

    assert [r.id for r in window] == ["tie-5", "tie-4", "tie-3", "tie-2"]


def test_the_same_reading_again_is_accepted_and_stored_once(store: Store) -> None:
    store.put_readings([reading(1).to_document(), reading(2).to_document()])
    # The same content in another form: 21 for 21.0, another time zone, extra fields.
    again = dict(reading(1).to_document(), temperature=21, timestamp="2026-01-01T01:00:01+01:00")
    again.update(correlation_id="retry-7", _rid="abc", _ts=1, _etag='"x"')

    assert store.put_readings([again, reading(3).to_document(), reading(3).to_document()]) == 3

    assert store.recent_readings("sensor-1", 10) == [reading(3), reading(2), reading(1)]


def test_a_reading_is_immutable_and_a_conflict_writes_nothing(store: Store) -> None:
    store.put_readings([reading(1).to_document()])
    changed = reading(1, temperature=33.0).to_document()

    with pytest.raises(ReadingConflict) as refused:
        store.put_readings([reading(2).to_document(), changed, reading(3, sensor="sensor-2").to_document()])

    assert refused.value.keys == [("sensor-1", reading(1).id)]
    assert reading(1).id in str(refused.value)
    assert not isinstance(refused.value, StoreError)  # a client error: breakers ignore it
    assert store.recent_readings("sensor-1", 10) == [reading(1)]
    assert store.recent_readings("sensor-2", 10) == []
    with pytest.raises(ReadingConflict):  # two contents for one id in one request
        store.put_readings([reading(5).to_document(), reading(5, temperature=1.0).to_document()])
    assert store.recent_readings("sensor-1", 10) == [reading(1)]


def test_a_reading_is_identified_by_sensor_and_id(store: Store) -> None:
    mine = reading(1)
    theirs = Reading(mine.id, "sensor-2", 30.0, mine.timestamp)

    store.put_readings([mine.to_document()])
    store.put_readings([theirs.to_document()])

    assert store.recent_readings("sensor-1", 10) == [mine]
    assert store.recent_readings("sensor-2", 10) == [theirs]


def test_readings_after_are_the_earliest_newer_ones_oldest_first(store: Store) -> None:
    store.put_readings(reading(n).to_document() for n in range(20))
    same_time = reading(12).timestamp
    store.put_readings(Reading(f"tie-{n}", "sensor-1", 20.0, same_time).to_document() for n in range(3))

    after = store.readings_after("sensor-1", reading(10).timestamp, 4)

    assert [r.id for r in after] == [reading(11).id, reading(12).id, "tie-0", "tie-1"]
    assert store.readings_after("sensor-1", reading(19).timestamp, 4) == []


def test_recent_readings_are_newest_first_and_limited(store: Store) -> None:
    store.put_readings(reading(n).to_document() for n in range(8))

    assert [r.id for r in store.recent_readings("sensor-1", 3)] == [
        reading(7).id,
        reading(6).id,
        reading(5).id,
    ]
    assert store.recent_readings("sensor-9", 3) == []


def publish(store: Store, *summaries: Summary) -> None:
    store.publish([Publication(item, (), None) for item in summaries])


def second_handle(store: Store) -> Store:
    """Another instance's view of the same data: its own connections, nothing shared."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store._path)
    return type(store)(store._client, store._database_name)


def test_summaries_upsert_by_id_and_latest_pointer_never_moves_back(store: Store) -> None:
    publish(store, summary("sensor-1", 10), summary("sensor-2", 4))
    publish(store, summary("sensor-1", 20, avg=25.0))
    publish(store, summary("sensor-1", 15))  # a replay of an older batch
    publish(store, summary("sensor-1", 20, avg=26.0))  # same id again: replaced

    latest = store.latest_summaries()

    assert latest == {"sensor-1": summary("sensor-1", 20, avg=26.0), "sensor-2": summary("sensor-2", 4)}
    history = store.recent_summaries("sensor-1", 10)
    assert [s.timestamp for s in history] == [summary("sensor-1", t).timestamp for t in (20, 15, 10)]
    assert history[0].avg_temp == 26.0
    assert [s.id for s in store.recent_summaries("sensor-1", 2)] == [
        summary("sensor-1", 20).id,
        summary("sensor-1", 15).id,
    ]


def test_the_pointer_revision_moves_with_every_publication_even_of_older_summaries(store: Store) -> None:
    revisions = []
    for item in (summary("sensor-1", 10), summary("sensor-1", 20), summary("sensor-1", 15, avg=30.0)):
        publish(store, item)  # the last one only repairs history: the newest stays as of 20 s
        pointers = store.latest_pointers()
        assert pointers["sensor-1"].summary == store.latest_summaries()["sensor-1"]
        revisions.append(pointers["sensor-1"].revision)
    assert store.latest_pointers()["sensor-1"].summary == summary("sensor-1", 20)
    assert len(set(revisions)) == 3


def test_untraced_history_has_the_same_statistics_and_ids_without_the_trace(store: Store) -> None:
    traced = [replace(summary("sensor-1", t, avg=20.0 + t), correlation_ids=(f"{t:032x}",)) for t in (10, 20)]
    for item in traced:
        publish(store, item)
    full = store.recent_summaries("sensor-1", 10)
    statistics = store.recent_summaries("sensor-1", 10, traced=False)
    assert [s.correlation_ids for s in full] == [(f"{20:032x}",), (f"{10:032x}",)]
    untraced = [replace(s, correlation_ids=()).to_document() for s in full]
    assert [s.to_document() for s in statistics] == untraced


def test_sensor_states_keep_the_window_and_version(store: Store) -> None:
    window = tuple(reading(n) for n in (5, 4, 3))
    [marker] = store.publish([Publication(summary("sensor-1", 5), window, None)])
    publish(store, summary("sensor-2", 7))

    states = store.sensor_states(["sensor-1", "sensor-2", "sensor-9"])

    assert set(states) == {"sensor-1", "sensor-2"}
    assert states["sensor-1"].summary == summary("sensor-1", 5)
    assert states["sensor-1"].window == window
    assert states["sensor-1"].marker == marker
    many = [f"s-{n}" for n in range(1200)]  # more than one request's worth
    store.publish([Publication(summary(sensor, 1), (), None) for sensor in many[::100]])
    before = Counter(store.meter.requests)
    assert set(store.sensor_states(many)) == set(many[::100])
    spent = Counter(store.meter.requests) - before
    # Point reads, not queries: `read_items` on Cosmos DB (1,000 ids per request and physical
    # partition), one indexed look-up per 500 sensors on SQLite.
    assert spent == (Counter({"SELECT": 3}) if isinstance(store, SqliteStore) else Counter({"read_items": 2}))


def test_a_single_point_read_of_a_missing_pointer_is_none(store: Store) -> None:
    """One id per request is a plain point read; a missing item is a 404, not an error."""
    assert store.sensor_states(["sensor-9"]) == {}
    publish(store, summary("sensor-1", 5))
    assert list(store.sensor_states(["sensor-1"])) == ["sensor-1"]


def test_publish_is_a_compare_and_swap_between_two_instances(store: Store) -> None:
    other = second_handle(store)
    [mine] = store.publish([Publication(summary("sensor-1", 10), (), None)])
    assert mine.timestamp == summary("sensor-1", 10).timestamp

    [theirs] = other.publish([Publication(summary("sensor-1", 20), (), None)])
    # My remembered version is stale: the pointer stays, and the summary is not written
    # either (a transaction on SQLite, a transactional batch on Cosmos DB). A chart that
    # extends its history on the next append (`appended_to`) relies on it.
    assert store.publish([Publication(summary("sensor-1", 30), (), mine)]) == [None]
    assert store.latest_summaries()["sensor-1"] == summary("sensor-1", 20)
    assert summary("sensor-1", 30).id not in {s.id for s in store.recent_summaries("sensor-1", 10)}

    [mine] = store.publish([Publication(summary("sensor-1", 30), (), None)])
    # A late summary never moves the pointer back, but touches it: every remembered version
    # (theirs, mine) is stale afterwards.
    assert other.publish([Publication(summary("sensor-1", 25), (), theirs)]) == [None]
    [touched] = other.publish([Publication(summary("sensor-1", 25), (), None)])
    assert touched.timestamp == mine.timestamp and touched.version != mine.version
    assert store.publish([Publication(summary("sensor-1", 40), (), mine)]) == [None]
    assert store.latest_summaries()["sensor-1"] == summary("sensor-1", 30)
    assert summary("sensor-1", 25).id in {s.id for s in store.recent_summaries("sensor-1", 10)}

    [again] = store.publish([Publication(summary("sensor-1", 40), (), touched)])
    assert again.timestamp == summary("sensor-1", 40).timestamp
    assert other.latest_summaries()["sensor-1"] == summary("sensor-1", 40)


def test_dead_letters_upsert_by_id_newest_first(store: Store) -> None:
    older = DeadLetter("a1", "r1", "temperature: required", "2026-01-01T00:00:01.000Z", '{"id": "r1"}')
    newer = DeadLetter("b2", None, "not a JSON object", "2026-01-01T00:00:02.000Z", "[1, 2]")
    store.add_dead_letters([older, newer])
    store.add_dead_letters([older])

    assert store.recent_dead_letters(10) == [newer, older]
    assert store.recent_dead_letters(1) == [newer]


def test_ping_answers_on_a_live_store(store: Store) -> None:
    """A live store answers the probe; once its data is gone it does not (the probe asks the store)."""
    assert store.ping() is None
    store.put_readings([reading(1).to_document()])
    assert store.ping() is None
    if isinstance(store, SqliteStore):
        os.rename(store._path, f"{store._path}.elsewhere")  # the store file moved away
    else:
        store._client.delete_database(store._database_name)
    with pytest.raises(StoreError):
        store.ping()


@pytest.mark.parametrize("max_items", [1, 3, 100])
def test_sqlite_change_feed_is_ordered_resumable_and_at_least_once(
    sqlite_store: SqliteStore, max_items: int
) -> None:
    docs = [reading(n, sensor=f"sensor-{n % 3}").to_document() for n in range(10)]
    sqlite_store.put_readings(docs)

    first = sqlite_store.read_feed("consumer", max_items)
    again = sqlite_store.read_feed("consumer", max_items)
    assert first == again  # nothing is consumed until it is committed

    delivered = []
    while batch := sqlite_store.read_feed("consumer", max_items):
        if not batch.documents:
            break
        delivered.extend(batch.documents)
        sqlite_store.commit_feed("consumer", batch.position)
    assert delivered == docs
    assert sqlite_store.feed_backlog("consumer") == 0

    sqlite_store.put_readings([docs[4]])  # the same reading again is not a change
    assert sqlite_store.read_feed("consumer", max_items).documents == []
    assert sqlite_store.feed_backlog("other-consumer") == 10


OLD_READINGS_TABLE = """
CREATE TABLE readings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    sensor_id TEXT,
    timestamp TEXT,
    body TEXT NOT NULL
);
CREATE INDEX readings_by_sensor_time ON readings (sensor_id, timestamp);
CREATE TABLE leases (consumer TEXT PRIMARY KEY, position INTEGER NOT NULL);
"""


def test_a_store_of_the_previous_version_is_migrated_with_its_feed_positions(tmp_path) -> None:
    import json
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.executescript(OLD_READINGS_TABLE)
        for n in range(5):
            document = reading(n).to_document()
            old.execute(
                "INSERT INTO readings (id, sensor_id, timestamp, body) VALUES (?, ?, ?, ?)",
                (document["id"], document["sensor_id"], document["timestamp"], json.dumps(document)),
            )
        old.execute("INSERT INTO leases VALUES ('summariser', 3)")
    old.close()

    store = SqliteStore(path)
    store.put_readings([reading(5).to_document()])
    # An id of sensor-1 is now free under another sensor: the identity is (sensor_id, id).
    store.put_readings([Reading(reading(0).id, "sensor-2", 1.0, reading(0).timestamp).to_document()])
    with pytest.raises(ReadingConflict):
        store.put_readings([reading(2, temperature=0.0).to_document()])

    assert [r.id for r in store.recent_readings("sensor-1", 10)] == [reading(n).id for n in range(5, -1, -1)]
    assert store.feed_backlog("summariser") == 4  # readings 3, 4, 5 and sensor-2's
    assert [d["id"] for d in store.read_feed("summariser", 10).documents] == [
        reading(3).id,
        reading(4).id,
        reading(5).id,
        reading(0).id,
    ]
    store.close()
    assert SqliteStore(path).recent_readings("sensor-2", 10)[0].sensor_id == "sensor-2"  # opens again


@pytest.mark.parametrize("sensors", [1, 5, 10])
def test_a_thousand_readings_are_stored_in_at_most_20_round_trips_on_cosmos(
    cosmos_store, sensors: int
) -> None:
    """One look-up of the ids, then one transactional batch per 100 readings of a sensor."""
    documents = [reading(n, sensor=f"dev-{n % sensors}", temperature=20.0).to_document() for n in range(1000)]
    before = cosmos_store.meter.total()

    assert cosmos_store.put_readings(documents) == 1000

    trips = cosmos_store.meter.total() - before
    print(f"1,000 readings of {sensors} sensor(s): {trips} round trips")
    assert trips <= 20
    assert len(cosmos_store.recent_readings("dev-0", 500)) == min(500, 1000 // sensors)
    # The same request again (a client's retry) is one look-up, and writes nothing.
    before = cosmos_store.meter.total()
    assert cosmos_store.put_readings(documents) == 1000
    assert cosmos_store.meter.requests["batch"] == len(range(0, 1000 // sensors, 100)) * sensors
    assert cosmos_store.meter.total() - before == 1


def test_a_conflict_in_a_thousand_readings_writes_none_of_them(store: Store) -> None:
    store.put_readings([reading(999, sensor="dev-3", temperature=2.0).to_document()])
    documents = [reading(n, sensor=f"dev-{n % 5}", temperature=20.0).to_document() for n in range(1000)]
    documents[998] = reading(999, sensor="dev-3", temperature=1.0).to_document()  # taken, other content
    with pytest.raises(ReadingConflict):
        store.put_readings(documents)

    for sensor in range(5):
        expected = [reading(999, sensor="dev-3", temperature=2.0)] if sensor == 3 else []
        assert store.recent_readings(f"dev-{sensor}", 500) == expected


def test_sqlite_commits_are_on_disk_before_they_are_acknowledged(sqlite_store: SqliteStore) -> None:
    """WAL with synchronous=FULL (2) on every connection: a power cut loses no commit."""
    seen: list[tuple[str, int]] = []

    def settings() -> None:
        connection = sqlite_store._connection()
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        seen.append((mode, connection.execute("PRAGMA synchronous").fetchone()[0]))

    settings()
    other_thread = threading.Thread(target=settings)
    other_thread.start()
    other_thread.join()
    assert seen == [("wal", 2), ("wal", 2)]


def rival_writes_after_each_lookup(
    store: Store, monkeypatch: pytest.MonkeyPatch, theirs: Callable[[int], list[Reading]]
) -> list[list[Reading]]:
    """Another instance stores `theirs(n)` right after this store's n-th look-up of existing
    readings, before its create: the window a Cosmos DB transactional batch cannot close."""
    rival, look_up, rounds = second_handle(store), store._stored_readings, []

    def looked_up(documents):
        found = look_up(documents)
        written = theirs(len(rounds))
        rounds.append(written)
        if written:
            rival.put_readings(r.to_document() for r in written)
        return found

    monkeypatch.setattr(store, "_stored_readings", looked_up)
    return rounds


def test_the_same_readings_stored_by_another_instance_meanwhile_are_accepted_once(
    cosmos_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = [reading(n) for n in range(3)]
    rival_writes_after_each_lookup(cosmos_store, monkeypatch, lambda n: mine if n == 0 else [])
    before = Counter(cosmos_store.meter.requests)
    assert cosmos_store.put_readings(r.to_document() for r in mine) == 3
    # The create lost to theirs (409: the meter records only batches that succeed), then
    # nothing was left to send: no empty batch after it (real Cosmos DB refuses one).
    assert Counter(cosmos_store.meter.requests)["batch"] == before["batch"]
    assert sorted(cosmos_store.recent_readings("sensor-1", 10), key=lambda r: r.id) == mine


def test_other_content_stored_by_another_instance_meanwhile_is_a_conflict(
    cosmos_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine, theirs = [reading(1), reading(2)], reading(2, temperature=33.0)
    rival_writes_after_each_lookup(cosmos_store, monkeypatch, lambda n: [theirs] if n == 0 else [])
    with pytest.raises(ReadingConflict) as refused:
        cosmos_store.put_readings(r.to_document() for r in mine)
    assert refused.value.keys == [("sensor-1", theirs.id)]
    assert cosmos_store.recent_readings("sensor-1", 10) == [theirs]  # all or nothing: not reading 1


def test_readings_that_keep_colliding_are_refused_as_unavailable_never_acknowledged(
    cosmos_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each create loses to another instance storing one more of its readings: after the retries
    the request is 503 material (StoreUnavailable), not a 201 for readings that were not stored."""
    mine = [reading(n) for n in range(12)]
    rounds = rival_writes_after_each_lookup(cosmos_store, monkeypatch, lambda n: mine[n : n + 1])
    with pytest.raises(StoreUnavailable, match="kept conflicting"):
        cosmos_store.put_readings(r.to_document() for r in mine)
    assert len(rounds) == 9  # the first look-up, then one after each of 8 lost creates
    monkeypatch.undo()
    assert cosmos_store.put_readings(r.to_document() for r in mine) == 12  # the device's retry
    assert len(cosmos_store.recent_readings("sensor-1", 20)) == 12


@pytest.mark.cosmos
def test_the_configured_store_is_cosmos_db_with_the_named_database_and_containers(cosmos, tmp_path) -> None:
    """`open_store` (what every function's `get_store()` builds) reads the Cosmos DB settings:
    the connection string, TLS, and the database and container names, not their defaults."""
    import uuid

    from pipeline.settings import settings_from
    from pipeline.storage import open_store
    from pipeline.storage.cosmos_store import CosmosStore

    database = f"test-{uuid.uuid4().hex[:12]}"
    settings = settings_from(
        {
            "PIPELINE_STORE": "cosmos",
            "COSMOS_CONNECTION": cosmos.connection_string,
            "COSMOS_VERIFY_TLS": "false",
            "COSMOS_DATABASE": database,
            "READINGS_CONTAINER": "my-readings",
            "SUMMARIES_CONTAINER": "my-summaries",
            "DEADLETTER_CONTAINER": "my-deadletter",
            "SQLITE_PATH": str(tmp_path / "unused.db"),
        }
    )
    store = open_store(settings)
    try:
        assert isinstance(store, CosmosStore)
        store.ensure_ready()
        store.put_readings([Reading("r1", "sensor-1", 20.5, "2026-12-06T10:00:00.000Z").to_document()])
        assert [r.id for r in store.recent_readings("sensor-1", 5)] == ["r1"]
        containers = {c["id"] for c in store._client.get_database_client(database).list_containers()}
        assert {"my-readings", "my-summaries", "my-deadletter"} <= containers
        assert not (tmp_path / "unused.db").exists()
    finally:
        store.close()
