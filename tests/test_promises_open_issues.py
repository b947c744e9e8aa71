"""Promises of the read model and the time windows that `make mutate` found unguarded
(tests/mutation/open_issues.py).

A copy's age counts from the start of the query that read it; a cursor from another instance
is answered with everything, whatever its number; the open window is in `[from, to)` or not
answered; a stored window is only replaced by a more complete one; windows outlive readings.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pipeline import names
from pipeline.readings import Reading
from pipeline.rollups import Rollup
from pipeline.settings import SettingsError, settings_from
from pipeline.storage.base import with_open_bucket
from pipeline.storage.sqlite_store import SqliteStore
from tests.test_web_api import seed
from visualiser.read_model import ReadModel


class SlowStore:
    """A store whose query for the latest pointers takes `query_seconds` of a fake clock."""

    def __init__(self, query_seconds: float) -> None:
        self.now = 0.0
        self.queries = 0
        self._query_seconds = query_seconds

    def clock(self) -> float:
        return self.now

    def latest_pointers(self) -> dict[str, Any]:
        self.queries += 1
        self.now += self._query_seconds
        return {}


def test_a_copy_is_as_old_as_the_start_of_the_query_that_read_it() -> None:
    store = SlowStore(query_seconds=1.5)
    read_model = ReadModel(store, 50, ttl_seconds=2.0, clock=store.clock, max_age_seconds=2.0)
    read_model.latest()  # read from 0.0 to 1.5: the copy is of 0.0
    assert store.queries == 1
    store.now = 1.9  # 1.9 s old: still served
    read_model.latest()
    assert store.queries == 1
    store.now = 2.0  # 2.0 s old although the query ended 0.5 s ago: read again, in the request
    read_model.latest()
    assert store.queries == 2


def test_a_cursor_of_another_instance_gets_everything_whatever_its_number(sqlite_store: SqliteStore) -> None:
    seed(sqlite_store)
    read_model = ReadModel(sqlite_store, 50)
    first = json.loads(read_model.delta(None).body)
    assert first["full"] is True and set(first["versions"]) == {"sensor-1", "sensor-2"}
    epoch, _, generation = first["cursor"].partition(".")
    own = json.loads(read_model.delta(first["cursor"]).body)
    assert own["full"] is False and own["versions"] == {}
    other_epoch = "0" * len(epoch) if epoch != "0" * len(epoch) else "1" * len(epoch)
    for number in range(int(generation) + 1):  # numbers this instance also had
        foreign = json.loads(read_model.delta(f"{other_epoch}.{number}").body)
        assert foreign["full"] is True, number
        assert set(foreign["versions"]) == {"sensor-1", "sensor-2"}


# --- time windows --------------------------------------------------------------------------


class Readings:
    """The one thing `with_open_bucket` reads: a sensor's readings in [start, end)."""

    def __init__(self, readings: list[Reading]) -> None:
        self._readings = readings

    def readings_between(self, sensor_id: str, start: str, end: str) -> list[Reading]:
        return [r for r in self._readings if r.sensor_id == sensor_id and start <= r.timestamp < end]


def test_the_open_window_is_answered_only_when_its_start_is_before_to() -> None:
    latest = "2026-01-01T00:05:30.000Z"  # the open minute starts at 00:05
    store = Readings([Reading("r-1", "s-1", 20.0, latest)])
    inside = with_open_bucket(
        store, "s-1", "1m", "2026-01-01T00:00:00.000Z", "2026-01-01T00:06:00.000Z", latest, []
    )
    assert [w.start for w in inside] == ["2026-01-01T00:05:00.000Z"] and inside[0].count == 1
    at_to = with_open_bucket(
        store, "s-1", "1m", "2026-01-01T00:00:00.000Z", "2026-01-01T00:05:00.000Z", latest, []
    )
    assert at_to == []  # to is exclusive: a window starting at to is not in [from, to)


def test_a_stored_window_is_never_replaced_by_one_of_fewer_readings(sqlite_store: SqliteStore) -> None:
    start = "2026-01-01T00:05:00.000Z"
    sqlite_store.put_rollups([Rollup("s-1", "1m", start, 3, 19.0, 21.0, 20.0)])
    sqlite_store.put_rollups([Rollup("s-1", "1m", start, 2, 19.0, 20.0, 19.5)])  # a writer that saw less
    (kept,) = sqlite_store.stored_rollups("s-1", "1m", start, "2026-01-01T00:06:00.000Z")
    assert (kept.count, kept.max, kept.avg) == (3, 21.0, 20.0)
    sqlite_store.put_rollups([Rollup("s-1", "1m", start, 4, 18.0, 21.0, 19.75)])  # one that saw more
    (grown,) = sqlite_store.stored_rollups("s-1", "1m", start, "2026-01-01T00:06:00.000Z")
    assert (grown.count, grown.min) == (4, 18.0)


def test_windows_may_not_expire_before_the_readings_they_are_computed_from() -> None:
    with pytest.raises(SettingsError, match=names.ROLLUPS_TTL_SECONDS):
        settings_from({names.READINGS_TTL_SECONDS: "86400", names.ROLLUPS_TTL_SECONDS: "86399"})
    equal = settings_from({names.READINGS_TTL_SECONDS: "86400", names.ROLLUPS_TTL_SECONDS: "86400"})
    assert equal.retention.rollups_seconds == equal.retention.readings_seconds == 86400
