"""SQLite publishes a batch's pointers in one statement run, and its windows in the same transaction.

The swaps of a batch's sensors run as one `executemany`; when any of them finds its
pointer moved, the whole attempt is undone (a savepoint) and they run one by one, so each
publication still succeeds or fails on its own. Windows handed to `publish` are written in
its transaction; a wrapper that overrides `publish` never has them bypass it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.readings import Reading, Summary, summary_id
from pipeline.rollups import Rollup
from pipeline.storage import NO_POINTER, Publication, StoreUnavailable
from pipeline.storage.sqlite_store import SqliteStore
from summariser.rollup_writer import WindowingStore


def summary(sensor_id: str, second: int) -> Summary:
    timestamp = f"2026-01-01T00:00:{second:02d}.000Z"
    return Summary(summary_id(sensor_id, timestamp), sensor_id, timestamp, 21.0, 19.0, 20.0, 3)


def history_ids(store: SqliteStore, sensor_id: str) -> set[str]:
    return {s.id for s in store.recent_summaries(sensor_id, 50)}


def test_one_stale_swap_fails_alone_and_writes_nothing_of_its_own(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "p.db")
    sensors = ["a", "b", "c"]
    first = store.publish([Publication(summary(s, 1), (), NO_POINTER) for s in sensors])
    assert all(marker is not None for marker in first)
    # Another instance moves b's pointer: the version this one remembers is stale.
    other = SqliteStore(tmp_path / "p.db")
    [moved] = other.publish([Publication(summary("b", 2), (), first[1])])
    assert moved is not None

    second = store.publish([Publication(summary(s, 3), (), m) for s, m in zip(sensors, first, strict=True)])

    assert second[1] is None
    assert second[0] is not None and second[2] is not None
    assert (second[0].timestamp, second[0].version) == (summary("a", 3).timestamp, "2")
    latest = store.latest_summaries()
    assert latest["a"] == summary("a", 3) and latest["c"] == summary("c", 3)
    assert latest["b"] == summary("b", 2)  # not moved by the stale swap
    assert summary("b", 3).id not in history_ids(store, "b")  # nor its summary written
    assert summary("a", 3).id in history_ids(store, "a") and summary("c", 3).id in history_ids(store, "c")
    # The markers returned are the pointers' real versions: the next swaps succeed.
    third = store.publish(
        [Publication(summary(s, 4), (), m) for s, m in zip(("a", "c"), (second[0], second[2]), strict=True)]
    )
    assert all(marker is not None for marker in third)
    store.close()
    other.close()


def test_all_fresh_swaps_move_every_pointer_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "p.db")
    sensors = [f"s{n}" for n in range(5)]
    markers = store.publish([Publication(summary(s, 1), (), NO_POINTER) for s in sensors])
    window = (Reading("r1", "s0", 20.0, summary("s0", 5).timestamp),)
    publications = [
        Publication(summary(s, 5), window if s == "s0" else (), m)
        for s, m in zip(sensors, markers, strict=True)
    ]

    moved = store.publish(publications)

    assert [m.version for m in moved if m is not None] == ["2"] * 5
    states = store.sensor_states(sensors)
    assert {s: states[s].marker for s in sensors} == dict(zip(sensors, moved, strict=True))
    assert states["s0"].window == window
    assert all(summary(s, 5).id in history_ids(store, s) for s in sensors)
    store.close()


def test_windows_are_written_with_the_publications(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "p.db")
    window = Rollup("a", "1m", "2026-01-01T00:00:00.000Z", 3, 19.0, 21.0, 20.0)
    [marker] = store.publish([Publication(summary("a", 1), (), NO_POINTER)], windows=[window])
    assert marker is not None
    assert store.stored_rollups("a", "1m", "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z") == [window]
    # A window of fewer readings never replaces it, even through publish.
    fewer = Rollup("a", "1m", "2026-01-01T00:00:00.000Z", 2, 19.0, 20.0, 19.5)
    store.publish([Publication(summary("a", 2), (), marker)], windows=[fewer])
    assert store.stored_rollups("a", "1m", "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z") == [window]
    store.close()


class Failing:
    """A wrapper whose publish fails; everything else is the store's."""

    def __init__(self, inner: SqliteStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._inner, name)

    def publish(self, publications):  # type: ignore[no-untyped-def]
        raise StoreUnavailable("simulated outage")


def test_a_wrapper_overriding_publish_is_always_called(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "p.db")
    readings = [Reading(f"r{n}", "a", 20.0, f"2026-01-01T00:0{n}:30.000Z") for n in range(2)]
    windowing = WindowingStore(Failing(store), {"a": readings})  # type: ignore[arg-type]
    publication = Publication(
        Summary(summary_id("a", readings[1].timestamp), "a", readings[1].timestamp, 20.0, 20.0, 20.0, 2),
        (),
        NO_POINTER,
    )
    with pytest.raises(StoreUnavailable):
        windowing.publish([publication])
    store.close()
