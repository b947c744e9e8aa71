"""Each sensor's last state (summary, window, pointer version), kept per instance.

The same state lives in the sensor's "latest" pointer document; keeping it in memory too
saves the one state query per batch in the steady state. An entry is trusted only
together with the pointer version this instance wrote: every instance that summarises a
sensor moves (or touches) that pointer with a compare-and-swap, so an unchanged version
proves nobody else has added to the sensor's history since.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter

from pipeline.readings import Reading
from pipeline.storage import LatestMarker, SensorState

DEFAULT_SENSORS_REMEMBERED = 100_000
# An open minute holding more readings than this is read from the store when it closes.
MAX_READINGS_IN_HAND = 64


@dataclass(frozen=True)
class OpenMinute:
    """Every reading of a sensor's open 1-minute bucket as of one pointer version.

    Complete by construction: it starts empty when a publication of this instance moves the
    pointer into a new minute (nothing newer than the old pointer had been processed), and
    grows only with publications whose compare-and-swap succeeded from `marker`'s
    predecessor, so nobody else processed a reading of the sensor in between. When the
    minute closes its window is computed from these readings instead of a query.
    """

    marker: LatestMarker
    start: str
    readings: tuple[Reading, ...]


# A reading's place in time: by timestamp, ties broken by id (attrgetter: no Python call per reading).
_BY_TIME = attrgetter("timestamp", "id")


def newest_first(readings: Iterable[Reading], size: int) -> list[Reading]:
    """The `size` newest readings by (timestamp, id), without duplicate ids."""
    by_id = {reading.id: reading for reading in readings}
    return sorted(by_id.values(), key=_BY_TIME, reverse=True)[:size]


class SensorStateCache:
    """Thread-safe, bounded map of sensor id to its last state as this instance wrote it."""

    def __init__(self, max_sensors: int = DEFAULT_SENSORS_REMEMBERED) -> None:
        # Least recently used first (an OrderedDict: cheaper per call than cachetools' LRUCache).
        self._entries: OrderedDict[str, SensorState] = OrderedDict()
        self._max_sensors = max_sensors
        self._minutes: dict[str, OpenMinute] = {}
        self._lock = threading.Lock()

    def get(self, sensor_id: str) -> SensorState | None:
        with self._lock:
            state = self._entries.get(sensor_id)
            if state is not None:
                self._entries.move_to_end(sensor_id)
            return state

    def open_minute(self, sensor_id: str) -> OpenMinute | None:
        with self._lock:
            return self._minutes.get(sensor_id)

    def put(self, sensor_id: str, state: SensorState, minute: OpenMinute | None = None) -> None:
        """Remember the sensor's state (and its open minute's readings, if known: else none)."""
        with self._lock:
            self._entries[sensor_id] = state
            self._entries.move_to_end(sensor_id)
            if minute is None:
                self._minutes.pop(sensor_id, None)
            else:
                self._minutes[sensor_id] = minute
            while len(self._entries) > self._max_sensors:
                evicted, _ = self._entries.popitem(last=False)
                self._minutes.pop(evicted, None)

    def forget(self, sensor_ids: Iterable[str]) -> None:
        with self._lock:
            for sensor_id in sensor_ids:
                self._entries.pop(sensor_id, None)
                self._minutes.pop(sensor_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
