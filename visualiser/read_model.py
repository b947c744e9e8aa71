"""What the dashboard reads, cached per instance so viewers do not multiply store queries.

Every viewer polls `/api/summary-timestamps` every few seconds; all of them share one
answer for a short time-to-live, so store cost per instance does not grow with viewers.
Rendered charts are cached by (sensor, latest summary timestamp): a chart changes only
when a new summary lands, and then its key changes too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

from pipeline import metrics
from pipeline.readings import Summary
from pipeline.storage import Store
from visualiser.charts import render_chart

log = logging.getLogger(__name__)

CHART_CACHE_ENTRIES = 512


@dataclass(frozen=True)
class Chart:
    png: bytes
    etag: str


class ReadModel:
    """Latest summaries (shared for `ttl_seconds`) and rendered charts, for one store."""

    def __init__(
        self,
        store: Store,
        chart_points: int,
        ttl_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._chart_points = chart_points
        self._ttl = ttl_seconds
        self._clock = clock
        self._latest: dict[str, Summary] = {}
        self._latest_at = float("-inf")
        self._generation = 0
        self._refreshing = threading.Lock()  # held while a refresh is under way
        self._encoded: dict[str, tuple[int, bytes]] = {}
        self._latest_lock = threading.Lock()
        self._charts: LRUCache[tuple[str, str], Chart] = LRUCache(maxsize=CHART_CACHE_ENTRIES)
        self._charts_lock = threading.Lock()

    def latest(self) -> dict[str, Summary]:
        """Every sensor's newest summary; at most one store query per time-to-live."""
        return self._refreshed()[0]

    def _refresh(self) -> None:
        try:
            latest = self._store.latest_summaries()
        finally:
            self._refreshing.release()
        with self._latest_lock:
            self._latest = latest
            self._latest_at = self._clock()
            self._generation += 1

    def _refresh_in_background(self) -> None:
        try:
            self._refresh()
        except Exception:
            log.warning("refreshing the latest summaries failed; serving the previous ones", exc_info=True)

    def _refreshed(self) -> tuple[dict[str, Summary], int]:
        """The latest summaries, refreshed after the time-to-live.

        The first answer is read on the request; later ones are refreshed in the background
        while requests are served the previous answer (stale-while-revalidate), so no
        viewer waits for a query over thousands of sensors.
        """
        with self._latest_lock:
            expired = self._clock() - self._latest_at >= self._ttl
            first = self._generation == 0
        if expired and self._refreshing.acquire(blocking=first):
            if first:
                self._refresh()  # store errors reach the caller: there is nothing to serve
            else:
                threading.Thread(target=self._refresh_in_background, daemon=True).start()
        with self._latest_lock:
            return self._latest, self._generation

    def encoded(self, view: str) -> bytes:
        """The JSON body of `/api/summary-timestamps` ("timestamps") or `/api/sensors` ("sensors").

        Encoded once per refresh and shared by every viewer: with thousands of sensors,
        encoding the answer for each poll cost more than the query behind it.
        """
        latest, generation = self._refreshed()
        with self._latest_lock:
            cached = self._encoded.get(view)
            if cached is not None and cached[0] == generation:
                return cached[1]
        ordered = sorted(latest.items())
        if view == "timestamps":
            value: Any = {sensor_id: summary.timestamp for sensor_id, summary in ordered}
        else:
            value = [
                {"sensor_id": sensor_id, "latest": summary.to_document()} for sensor_id, summary in ordered
            ]
        body = json.dumps(value, separators=(",", ":")).encode()
        with self._latest_lock:
            self._encoded[view] = (generation, body)
        return body

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
                metrics.record_chart(None)
                return cached
        summaries = self._store.recent_summaries(sensor_id, self._chart_points)
        started = time.perf_counter()
        chart = Chart(png=render_chart(sensor_id, summaries), etag=self._etag(newest))
        metrics.record_chart((time.perf_counter() - started) * 1000)
        with self._charts_lock:
            self._charts[key] = chart
        return chart
