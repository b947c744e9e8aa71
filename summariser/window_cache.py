"""Each sensor's last window, kept per instance, so the steady state needs no window query.

An entry is only trusted together with the version of the sensor's latest pointer that
this instance wrote: every instance that summarises a sensor writes (or touches) that
pointer with a compare-and-swap, so an unchanged version proves nobody else has added to
the sensor's history since. Measured on the Cosmos-compatible server this turns three
requests per sensor per batch (window query, summary upsert, pointer write) into two.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from cachetools import LRUCache

from pipeline.readings import Reading
from pipeline.storage import LatestMarker

DEFAULT_SENSORS_REMEMBERED = 100_000


@dataclass(frozen=True)
class CachedWindow:
    as_of: str
    window: tuple[Reading, ...]
    marker: LatestMarker


def newest_first(readings: Iterable[Reading], size: int) -> list[Reading]:
    """The `size` newest readings by (timestamp, id), without duplicate ids."""
    by_id = {reading.id: reading for reading in readings}
    return sorted(by_id.values(), key=lambda r: (r.timestamp, r.id), reverse=True)[:size]


class WindowCache:
    """Thread-safe, bounded map of sensor id to its last window and pointer version."""

    def __init__(self, max_sensors: int = DEFAULT_SENSORS_REMEMBERED) -> None:
        self._entries: LRUCache[str, CachedWindow] = LRUCache(maxsize=max_sensors)
        self._lock = threading.Lock()

    def get(self, sensor_id: str) -> CachedWindow | None:
        with self._lock:
            return self._entries.get(sensor_id)

    def put(self, sensor_id: str, entry: CachedWindow) -> None:
        with self._lock:
            self._entries[sensor_id] = entry

    def forget(self, sensor_ids: Iterable[str]) -> None:
        with self._lock:
            for sensor_id in sensor_ids:
                self._entries.pop(sensor_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
