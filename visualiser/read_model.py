"""What the dashboard reads, cached per instance so viewers do not multiply store queries.

Every viewer polls `/api/summary-timestamps` every few seconds; all of them share one
answer for a short time-to-live, so store cost per instance does not grow with viewers.
Rendered charts are cached by (sensor, latest summary timestamp): a chart changes only
when a new summary lands, and then its key changes too.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache

from pipeline import metrics
from pipeline.readings import Summary
from pipeline.storage import Store
from visualiser.charts import render_chart

CHART_CACHE_ENTRIES = 512


@dataclass(frozen=True)
class Chart:
    png: bytes
    etag: str


class ReadModel:
    """Latest summaries (shared for `ttl_seconds`) and rendered charts, for one store."""

    def __init__(
        self, store: Store, chart_points: int, ttl_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._chart_points = chart_points
        self._ttl = ttl_seconds
        self._clock = clock
        self._latest: dict[str, Summary] = {}
        self._latest_at = float("-inf")
        self._latest_lock = threading.Lock()
        self._charts: LRUCache[tuple[str, str], Chart] = LRUCache(maxsize=CHART_CACHE_ENTRIES)
        self._charts_lock = threading.Lock()
        self.chart_renders = 0
        self.chart_hits = 0

    def latest(self) -> dict[str, Summary]:
        """Every sensor's newest summary; at most one store query per time-to-live."""
        with self._latest_lock:
            if self._clock() - self._latest_at >= self._ttl:
                self._latest = self._store.latest_summaries()
                self._latest_at = self._clock()
            return self._latest

    def _etag(self, newest: Summary) -> str:
        key = f"{newest.sensor_id}\n{newest.timestamp}\n{self._chart_points}".encode()
        return f'"{hashlib.sha256(key).hexdigest()[:32]}"'

    def chart_etag(self, sensor_id: str) -> str | None:
        """The ETag the sensor's chart has now, known without rendering it."""
        newest = self.latest().get(sensor_id)
        return None if newest is None else self._etag(newest)

    def chart(self, sensor_id: str) -> Chart | None:
        """The sensor's chart as of its newest summary, or None for an unknown sensor."""
        newest = self.latest().get(sensor_id)
        if newest is None:
            return None
        key = (sensor_id, newest.timestamp)
        with self._charts_lock:
            cached = self._charts.get(key)
            if cached is not None:
                self.chart_hits += 1
                metrics.record_chart(None)
                return cached
        summaries = self._store.recent_summaries(sensor_id, self._chart_points)
        started = time.perf_counter()
        chart = Chart(png=render_chart(sensor_id, summaries), etag=self._etag(newest))
        metrics.record_chart((time.perf_counter() - started) * 1000)
        with self._charts_lock:
            self._charts[key] = chart
            self.chart_renders += 1
        return chart
