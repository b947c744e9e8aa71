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
from typing import Any

from pipeline.readings import Reading
from pipeline.rollups import Rollup, bucket_end, rollup_of
from pipeline.storage import LatestMarker, Publication, Store
from summariser.rollups import buckets_to_write


def windows_for(store: Store, publication: Publication, batch: Sequence[Reading]) -> list[Rollup]:
    """The windows this publication closes or repairs, recomputed from the store."""
    sensor_id = publication.summary.sensor_id
    previous = publication.expected.timestamp if publication.expected is not None else ""
    windows = []
    for bucket, start in buckets_to_write(previous, publication.summary.timestamp, batch):
        stored = store.readings_between(sensor_id, start, bucket_end(start, bucket))
        window = rollup_of(sensor_id, bucket, start, [*stored, *batch])
        if window is not None:
            windows.append(window)
    return windows


class WindowingStore:
    """The store, with `publish` writing the publications' windows first."""

    def __init__(self, store: Store, by_sensor: Mapping[str, Sequence[Reading]]) -> None:
        self._store = store
        self._by_sensor = by_sensor
        self._lock = threading.Lock()
        self.windows_written = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def publish(self, publications: Sequence[Publication]) -> list[LatestMarker | None]:
        # Called from the batch's worker threads too: no pool of its own (it could deadlock).
        windows = [
            window
            for publication in publications
            for window in windows_for(
                self._store, publication, self._by_sensor.get(publication.summary.sensor_id, ())
            )
        ]
        if windows:
            self._store.put_rollups(windows)
            with self._lock:
                self.windows_written += len(windows)
        return self._store.publish(publications)
