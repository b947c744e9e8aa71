"""Writes the time windows a batch closes or repairs, just before its pointers move.

The summariser's store is wrapped so that every `publish` first writes the windows of its
publications. Before, not after: a publication's `expected` marker is the pointer it will
swap from, so the buckets it closes are known, and if the batch fails after the windows
were written, its redelivery swaps from the same marker and writes them again. A window
is recomputed from the stored readings of its bucket (read after the marker was read, so
every reading an earlier publication processed is in it) plus the batch's own; a store
keeps the window with the higher count, and a bucket's readings only grow, so the last
word is always the most complete one whatever the order the writers finish in.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any, cast

from pipeline.readings import Reading
from pipeline.rollups import Rollup, bucket_end, rollup_of
from pipeline.storage import LatestMarker, Publication, Store
from summariser.rollups import buckets_to_write
from summariser.state_cache import MAX_READINGS_IN_HAND, OpenMinute

# Canonical timestamps (`2026-01-01T00:00:10.000Z`) up to the minute: two that share it
# share their 1-minute and 1-hour buckets (both UTC-aligned, and an hour holds whole minutes).
_MINUTE = len("2026-01-01T00:00")


def minute_start(timestamp: str) -> str:
    """The start of the 1-minute bucket of a canonical timestamp (`bucket_start`, without parsing)."""
    return timestamp[:_MINUTE] + ":00.000Z"


def next_open_minute(
    before: OpenMinute | None, publication: Publication, marker: LatestMarker, batch: Sequence[Reading]
) -> OpenMinute | None:
    """The readings of the sensor's open minute once `publication` succeeded (moved to `marker`).

    Known when the publication moved the pointer into a new minute (no reading of it was
    processed before: the pointer is the newest one processed), or stayed in the minute
    `before` holds completely as of the version it swapped from. None otherwise.
    """
    expected = publication.expected
    if expected is None or not expected.timestamp:
        return None
    start = minute_start(publication.summary.timestamp)
    if expected.timestamp[:_MINUTE] == start[:_MINUTE]:
        if before is None or before.marker != expected or before.start != start:
            return None
        carried = before.readings
    elif expected.timestamp < start:
        carried = ()
    else:
        return None
    readings = {reading.id: reading for reading in carried}
    readings.update((r.id, r) for r in batch if r.timestamp[:_MINUTE] == start[:_MINUTE])
    if len(readings) > MAX_READINGS_IN_HAND:
        return None
    return OpenMinute(marker, start, tuple(readings.values()))


class _InHand:
    """The store, answering for one closing minute from the readings in hand (no query)."""

    def __init__(self, store: Store, minute: OpenMinute, sensor_id: str) -> None:
        self._store = store
        self._minute = minute
        self._sensor_id = sensor_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def readings_between(self, sensor_id: str, start: str, end: str) -> list[Reading]:
        # The minute's end is worked out only here: most publications close no bucket.
        minute = self._minute
        if (sensor_id, start) == (self._sensor_id, minute.start) and end == bucket_end(minute.start, "1m"):
            return list(minute.readings)
        return self._store.readings_between(sensor_id, start, end)


def _all_in_one_minute(latest: str, previous: str, batch: Sequence[Reading]) -> bool:
    """Whether every time lies in `latest`'s minute: then the publication closes no bucket."""
    minute = latest[:_MINUTE]
    return (not previous or previous[:_MINUTE] == minute) and all(
        reading.timestamp[:_MINUTE] == minute for reading in batch
    )


def windows_for(store: Store, publication: Publication, batch: Sequence[Reading]) -> list[Rollup]:
    """The windows this publication closes or repairs, recomputed from the store."""
    sensor_id = publication.summary.sensor_id
    previous = publication.expected.timestamp if publication.expected is not None else ""
    if _all_in_one_minute(publication.summary.timestamp, previous, batch):
        return []  # the common case, decided without parsing a time
    # One reading per minute decides that minute's buckets (and its hour's); the latest
    # minute's are still open: written by none.
    open_minute = publication.summary.timestamp[:_MINUTE]
    deciding = {r.timestamp[:_MINUTE]: r for r in batch if r.timestamp[:_MINUTE] != open_minute}
    windows = []
    for bucket, start in buckets_to_write(previous, publication.summary.timestamp, deciding.values()):
        stored = store.readings_between(sensor_id, start, bucket_end(start, bucket))
        window = rollup_of(sensor_id, bucket, start, [*stored, *batch])
        if window is not None:
            windows.append(window)
    return windows


class WindowingStore:
    """The store, with `publish` writing the publications' windows first.

    A store whose class declares `PUBLISHES_WINDOWS` (SQLite) takes them with the
    publications, in the same transaction: one commit instead of two. The capability is
    looked up on the wrapped object's class, never through a wrapper's `__getattr__`, so
    a wrapper that overrides `publish` (a test's failing store) is always the one called.
    """

    def __init__(
        self,
        store: Store,
        by_sensor: Mapping[str, Sequence[Reading]],
        minutes: Mapping[str, OpenMinute] | None = None,
    ) -> None:
        self._store = store
        self._by_sensor = by_sensor
        # Open minutes in hand (summariser.state_cache), trusted for a publication only if it
        # swaps from the very version they are complete as of.
        self._minutes = minutes or {}
        self._lock = threading.Lock()
        self.windows_written = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def _source(self, publication: Publication) -> Store:
        sensor_id = publication.summary.sensor_id
        minute = self._minutes.get(sensor_id)
        if minute is None or publication.expected != minute.marker:
            return self._store
        return cast(Store, _InHand(self._store, minute, sensor_id))

    def publish(self, publications: Sequence[Publication]) -> list[LatestMarker | None]:
        # Called from the batch's worker threads too: no pool of its own (it could deadlock).
        windows = [
            window
            for publication in publications
            for window in windows_for(
                self._source(publication), publication, self._by_sensor.get(publication.summary.sensor_id, ())
            )
        ]
        if windows and getattr(type(self._store), "PUBLISHES_WINDOWS", False):
            # Atomic with the publications, written whether or not their swaps succeed, as
            # when they were written first: a window is its stored readings' own.
            markers = self._store.publish(publications, windows=windows)  # type: ignore[call-arg]
        else:
            if windows:
                self._store.put_rollups(windows)
            markers = self._store.publish(publications)
        if windows:
            with self._lock:
                self.windows_written += len(windows)
        return markers
