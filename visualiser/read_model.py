"""What the dashboard reads, cached per instance so viewers do not multiply store queries.

Every viewer polls `/api/summary-timestamps` every few seconds; all of them share one
answer for a short time, so store cost per instance does not grow with viewers. Two
limits bound that sharing (docs/http-api.md, "Freshness"): past `refresh_seconds` a
request starts a refresh in the background and is served the copy it has; a copy
`max_age_seconds` old is never served: the request refreshes first (or waits for the
refresh under way), and a store error then reaches it (a 503). Age counts from the start
of the query that read the copy, so no answer is older than `max_age_seconds`.

Each sensor's latest summary has a *version*: its timestamp, `~`, and a digest of its
values and of its pointer's revision. A late reading that changes the newest summary's
values but not its timestamp, or only older summaries (the chart's history), still moves
the version, and so the poll's answer, the chart's ETag and its cache key. (So does a
redelivered batch that writes the same values again: a chart drawn again for nothing,
never one left stale.) Versions start with the timestamp, so they sort like timestamps.

A default chart (the newest `points` summaries) keeps the history it drew and the pointer
revision it was read at. When the pointer now says its publication only appended one
newest summary to that revision (`LatestSummary.appended_to`), the history is that summary
followed by the one kept, cut to `points`: no query (docs/http-api.md, "Caches and their keys").

Changes are numbered (a *generation* that moves only when some version does), so a
viewer that says which generation it has seen gets only what changed since (the delta
form), and a viewer that has seen the newest gets a 304.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from cachetools import LRUCache

from pipeline import metrics
from pipeline.readings import Summary, parse_timestamp, summary_id
from pipeline.settings import DashboardSettings
from pipeline.storage.base import LatestSummary
from visualiser.alerts import heard_early, sensor_alerts
from visualiser.chart_data import chart_series
from visualiser.chart_options import ChartOptions, covering, shared_range
from visualiser.charts import render_chart

log = logging.getLogger(__name__)

T = TypeVar("T")
CHART_CACHE_ENTRIES = 1024
# Chart histories are bounded by the summaries they hold (~400 bytes each in memory): room
# for 1,024 default charts of 50, or fewer of 200 or 1,000 points; about 20 MB.
HISTORY_CACHE_SUMMARIES = 1024 * 50
DELTA_CACHE_ENTRIES = 64
# A kept history is extended only while its oldest summary is this much younger than the
# summaries' TTL, which counts from a summary's last write (at or after its timestamp,
# give or take a device clock this fast): TTL never removes a summary we still draw.
EXPIRY_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class History:
    """A default chart's summaries (newest first) as of the pointer `revision`."""

    revision: str
    summaries: tuple[Summary, ...]


@dataclass(frozen=True)
class Chart:
    png: bytes
    etag: str


@dataclass(frozen=True)
class Delta:
    """One answer of the delta form: its body and the ETag a later conditional poll sends."""

    etag: str
    body: bytes


def summary_version(summary: Summary, revision: str) -> str:
    """`{timestamp}~{digest}` of the summary's statistics and its pointer's `revision`.

    The correlation ids are left out, as `Summary` equality leaves them out: they are a
    trace, which a Cosmos DB pointer does not carry.
    """
    statistics = replace(summary, correlation_ids=()).to_document()
    content = json.dumps([statistics, revision], sort_keys=True, separators=(",", ":")).encode()
    return f"{summary.timestamp}~{hashlib.sha256(content).hexdigest()[:10]}"


class ReadModel:
    """Latest summaries (shared for `ttl_seconds`) and rendered charts, for one store."""

    def __init__(
        self,
        store: Any,
        chart_points: int,
        ttl_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        dashboard: DashboardSettings | None = None,
        max_age_seconds: float | None = None,
        summaries_ttl_seconds: int = -1,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`ttl_seconds`: refresh in the background after it; `max_age_seconds` (default:
        `ttl_seconds`): never serve a copy that old; `summaries_ttl_seconds`: the store's
        retention of summaries (-1: forever), which bounds how long a kept history is extended."""
        self._store = store
        self._chart_points = chart_points
        self._ttl = ttl_seconds
        self._max_age = ttl_seconds if max_age_seconds is None else max(max_age_seconds, ttl_seconds)
        self._clock = clock
        self.dashboard = dashboard if dashboard is not None else DashboardSettings()
        self._latest: dict[str, Summary] = {}
        self._versions: dict[str, str] = {}
        self._pointers: dict[str, LatestSummary] = {}  # as of the last refresh
        self._latest_at = float("-inf")
        self._generation = 0  # moves when any version does
        self._refreshed_once = False
        # Cursors name this instance: a cursor from another instance or an earlier process
        # is answered with everything, never with a wrong delta.
        self._epoch = uuid.uuid4().hex[:8]
        self._changed_at: dict[str, int] = {}  # sensor -> generation of its last change
        self._removed_at: dict[str, int] = {}
        self._refreshing = threading.Lock()  # held while a refresh is under way
        self._encoded: dict[str, tuple[int, bytes]] = {}
        self._generation_memo: dict[str, tuple[int, Any]] = {}  # name -> (generation, value)
        self._deltas: LRUCache[tuple[int, int], Delta] = LRUCache(maxsize=DELTA_CACHE_ENTRIES)
        self._latest_lock = threading.Lock()
        self._charts: LRUCache[str, Chart] = LRUCache(maxsize=CHART_CACHE_ENTRIES)
        self._charts_lock = threading.Lock()
        self._summaries_ttl = summaries_ttl_seconds
        self._wall_clock = wall_clock
        self._histories: LRUCache[tuple[str, int], History] = LRUCache(
            maxsize=HISTORY_CACHE_SUMMARIES, getsizeof=lambda history: max(1, len(history.summaries))
        )

    def latest(self) -> dict[str, Summary]:
        """Every sensor's newest summary; at most one store query per time-to-live."""
        return self._refreshed()[0]

    def _refresh(self) -> None:
        """Read every pointer again; call with `_refreshing` held (store errors propagate)."""
        started = self._clock()  # the copy is as old as the query's start
        pointers = self._store.latest_pointers()
        latest = {sensor_id: pointer.summary for sensor_id, pointer in pointers.items()}
        versions = self._versions_of(pointers)
        with self._latest_lock:
            changed = [s for s, version in versions.items() if self._versions.get(s) != version]
            removed = [sensor for sensor in self._versions if sensor not in versions]
            if changed or removed or not self._refreshed_once:
                self._generation += 1
                for sensor in changed:
                    self._changed_at[sensor] = self._generation
                    self._removed_at.pop(sensor, None)
                for sensor in removed:
                    self._removed_at[sensor] = self._generation
                    self._changed_at.pop(sensor, None)
            self._latest = latest
            self._versions = versions
            self._pointers = pointers
            self._latest_at = started
            self._refreshed_once = True

    def _versions_of(self, pointers: dict[str, LatestSummary]) -> dict[str, str]:
        """Each pointer's version, reusing the last refresh's where the pointer is the same.

        At 10,000 sensors hashing every version again took about as long as the query; in
        one process with the summariser (the local host) that time held the GIL against
        every request. Only refreshes call this, one at a time.
        """
        versions = {}
        for sensor_id, pointer in pointers.items():
            before = self._pointers.get(sensor_id)
            if before == pointer:
                versions[sensor_id] = self._versions[sensor_id]
            else:
                versions[sensor_id] = summary_version(pointer.summary, pointer.revision)
        return versions

    def settled(self, timeout: float = 10.0) -> bool:
        """Wait until no background refresh is under way (benchmarks and tests count queries)."""
        if not self._refreshing.acquire(timeout=timeout):
            return False
        self._refreshing.release()
        return True

    def _refresh_in_background(self) -> None:
        try:
            self._refresh()
        except Exception:
            # The copy is served until it is max_age_seconds old; then a request refreshes
            # itself and answers 503 if the store still fails.
            log.warning("refreshing the latest summaries failed; serving the previous ones", exc_info=True)
        finally:
            self._refreshing.release()

    def _snapshot(self) -> tuple[dict[str, Summary], dict[str, str], int]:
        """The latest summaries, their versions and their generation, all of one refresh."""
        self._refreshed()
        with self._latest_lock:
            return self._latest, self._versions, self._generation

    def _chart_snapshot(
        self, sensor_id: str
    ) -> tuple[dict[str, Summary], dict[str, str], int, LatestSummary | None]:
        """`_snapshot()` and the sensor's pointer, all of one refresh."""
        self._refreshed()
        with self._latest_lock:
            return self._latest, self._versions, self._generation, self._pointers.get(sensor_id)

    def _age(self) -> float:
        with self._latest_lock:
            return self._clock() - self._latest_at

    def _refreshed(self) -> tuple[dict[str, Summary], int]:
        """The latest summaries, never older than `max_age_seconds` (see the module docstring).

        A busy dashboard refreshes in the background before its copy gets that old, so its
        viewers never wait for a query over thousands of sensors; a route read rarely
        waits for the query, and gets what the store holds now.
        """
        age = self._age()
        if age >= self._max_age:
            with self._refreshing:  # one query at a time; later requests wait for it
                if self._age() >= self._max_age:  # not refreshed meanwhile
                    self._refresh()  # store errors reach the caller: a 503
        elif age >= self._ttl and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh_in_background, daemon=True).start()
        with self._latest_lock:
            return self._latest, self._generation

    def full(self, view: str) -> Delta:
        """The JSON body of `/api/summary-timestamps` ("timestamps") or `/api/sensors` ("sensors"),
        with its ETag, both of one copy of the latest summaries.

        Encoded once per change and shared by every viewer: with thousands of sensors,
        encoding the answer for each poll cost more than the query behind it.
        """
        latest, versions, generation = self._snapshot()
        etag = f'"{"m" if view == "timestamps" else "s"}.{self._epoch}.{generation}"'
        with self._latest_lock:
            cached = self._encoded.get(view)
            if cached is not None and cached[0] == generation:
                return Delta(etag=etag, body=cached[1])
        ordered = sorted(latest.items())
        if view == "timestamps":
            value: Any = {sensor_id: versions[sensor_id] for sensor_id, _ in ordered}
        else:
            value = [
                {
                    "sensor_id": sensor_id,
                    "latest": summary.to_document(),
                    "version": versions[sensor_id],
                    "last_heard": summary.heard,
                }
                for sensor_id, summary in ordered
            ]
        body = json.dumps(value, separators=(",", ":")).encode()
        with self._latest_lock:
            self._encoded[view] = (generation, body)
        return Delta(etag=etag, body=body)

    def _per_generation(self, name: str, generation: int, compute: Callable[[], T]) -> T:
        """`compute()` once per generation, for what depends only on the latest summaries and
        on the settings this model was built with (every request would redo it otherwise:
        at 10,000 sensors the alerts cost ~7 ms and the shared y-range ~1 ms, 304s included)."""
        with self._latest_lock:
            cached = self._generation_memo.get(name)
        if cached is not None and cached[0] == generation:
            return cast(T, cached[1])
        value = compute()
        with self._latest_lock:
            self._generation_memo[name] = (generation, value)
        return value

    def _alerts_tag(self, latest: dict[str, Summary], generation: int) -> tuple[dict[str, str], str]:
        """Every threshold alert of this generation's summaries, and their digest."""

        def compute() -> tuple[dict[str, str], str]:
            alerts = {sensor: alert.kind for sensor, alert in sensor_alerts(latest, self.dashboard).items()}
            digest = hashlib.sha256(json.dumps(sorted(alerts.items())).encode()).hexdigest()[:8]
            return alerts, digest

        return self._per_generation("alerts", generation, compute)

    def delta(self, since: str | None) -> Delta:
        """What changed after the cursor `since`: versions, removals, and every alert now.

        An unknown cursor (another instance, an earlier process, or none) gets everything,
        flagged `"full": true`. Answers are shared by every viewer at the same cursor.
        """
        latest, versions, generation = self._snapshot()
        seen = -1
        if since:
            epoch, _, number = since.partition(".")
            if epoch == self._epoch and number.isdigit() and int(number) <= generation:
                seen = int(number)
        alerts, alerts_digest = self._alerts_tag(latest, generation)
        etag = f'"d.{self._epoch}.{generation}.{alerts_digest}"'
        with self._latest_lock:
            cached = self._deltas.get((generation, seen))
            if cached is not None and cached.etag == etag:
                return cached
            if self._generation != generation:  # refreshed since the snapshot: start again
                return self.delta(since)
            changed_at = dict(self._changed_at)
            removed_at = dict(self._removed_at)
        if seen < 0:
            changed = versions
            removed: list[str] = []
        else:
            changed = {sensor: versions[sensor] for sensor, at in changed_at.items() if at > seen}
            removed = sorted(sensor for sensor, at in removed_at.items() if at > seen)
        body = {
            "cursor": f"{self._epoch}.{generation}",
            "full": seen < 0,
            "versions": dict(sorted(changed.items())),
            "removed": removed,
            "alerts": alerts,
            "heard": heard_early(latest, changed),
        }
        delta = Delta(etag=etag, body=json.dumps(body, separators=(",", ":")).encode())
        with self._latest_lock:
            self._deltas[(generation, seen)] = delta
        return delta

    def current(self) -> tuple[dict[str, Summary], dict[str, str]]:
        """The latest summaries and their versions, from the same refresh."""
        return self._snapshot()[:2]

    def _chart_key(
        self, sensor_id: str, version: str, options: ChartOptions, y_range: tuple[float, float] | None
    ) -> str:
        thresholds = self.dashboard.thresholds_for(sensor_id)
        key = "\n".join(
            str(part)
            for part in (
                sensor_id,
                version,
                options.points or self._chart_points,
                options.start,
                options.end,
                options.scale,
                options.theme,
                y_range,
                (thresholds.low, thresholds.high),
                self.dashboard.stale_after_seconds,
            )
        ).encode()
        return f'"{hashlib.sha256(key).hexdigest()[:32]}"'

    def _y_range(
        self, options: ChartOptions, latest: dict[str, Summary], generation: int
    ) -> tuple[float, float] | None:
        """The shared y-range of this generation when the chart asks for one."""
        if not options.shared_y:
            return None
        return self._per_generation(
            "shared_y", generation, lambda: shared_range(latest.values(), self.dashboard)
        )

    def chart_etag(self, sensor_id: str, options: ChartOptions | None = None) -> str | None:
        """The ETag the sensor's chart has now, known without rendering it."""
        options = options or ChartOptions()
        latest, versions, generation = self._snapshot()
        if sensor_id not in latest:
            return None
        y_range = self._y_range(options, latest, generation)
        return self._chart_key(sensor_id, versions[sensor_id], options, y_range)

    def chart(self, sensor_id: str, options: ChartOptions | None = None) -> Chart | None:
        """The sensor's chart as of its newest summary, or None for an unknown sensor."""
        options = options or ChartOptions()
        latest, versions, generation, pointer = self._chart_snapshot(sensor_id)
        newest = latest.get(sensor_id)
        if newest is None or pointer is None:
            return None
        y_range = self._y_range(options, latest, generation)
        key = self._chart_key(sensor_id, versions[sensor_id], options, y_range)
        with self._charts_lock:
            cached = self._charts.get(key)
            if cached is not None:
                metrics.record_chart(None)
                return cached
        complete = False  # a window is complete as drawn when it ends before the newest summary
        if options.start and options.end:
            series = chart_series(self._store, sensor_id, options.start, options.end)
            summaries = series.summaries
            complete = options.end <= newest.timestamp or series.source != "summaries"
        else:
            summaries = list(self.drawn_history(sensor_id, options.points or self._chart_points, pointer))
        started = time.perf_counter()
        png = render_chart(
            sensor_id,
            summaries,
            scale=options.scale,
            theme=options.theme,
            # Nothing clipped: the key still names the chart, as the version and the
            # number of points determine the summaries drawn.
            y_range=None if y_range is None else covering(y_range, summaries),
            thresholds=self.dashboard.thresholds_for(sensor_id),
            gap_seconds=self.dashboard.stale_after_seconds,
            x_range=_x_range(options),
        )
        chart = Chart(png=png, etag=key)
        metrics.record_chart((time.perf_counter() - started) * 1000)
        drawn_newest = max(summaries, key=lambda summary: summary.timestamp, default=None)
        # The pointer moves before the summary is written: a history that does not end at
        # the pointer's summary yet is served but not kept, so the next request draws again.
        # (`Summary` equality compares the statistics, not the correlation ids the history
        # carries and a Cosmos DB pointer does not.)
        # (Thinning merges a window's newest summaries: its timestamp stays that of the newest.)
        if drawn_newest is not None and options.end is not None:
            complete = complete or drawn_newest.timestamp == newest.timestamp
        if complete or (drawn_newest is not None and drawn_newest == newest):
            with self._charts_lock:
                self._charts[key] = chart
        return chart

    def history(self, sensor_id: str, points: int | None = None) -> tuple[Summary, ...]:
        """What the sensor's default chart draws now (newest first): see `drawn_history`."""
        pointer = self._chart_snapshot(sensor_id)[3]
        if pointer is None:
            return ()
        return self.drawn_history(sensor_id, points or self._chart_points, pointer)

    def drawn_history(self, sensor_id: str, points: int, pointer: LatestSummary) -> tuple[Summary, ...]:
        """The summaries a default chart draws (newest first) as of `pointer`, the sensor's
        pointer in this model's copy: what `recent_summaries(sensor_id, points, traced=False)`
        answers, without asking when the pointer only appended to the history kept.

        A history is kept only when it ends at the pointer's summary. It was read after the
        pointer, so it may hold later writes, but none that appended (it would end later):
        only non-appends, which leave the next pointer's `appended_to` unequal to the
        revision kept, and the next chart queries. Every summary is written in the same
        transactional batch as a pointer move, so one move that appended changed nothing else.
        """
        key = (sensor_id, points)
        with self._charts_lock:
            kept = self._histories.get(key)
        if kept is not None and kept.revision == pointer.revision and self._unexpired(kept.summaries):
            return kept.summaries
        if (
            kept is not None
            and pointer.appended_to == kept.revision
            and self._unexpired(kept.summaries[: points - 1])
        ):
            # As the untraced query returns it: the statistics, under the deterministic id.
            newest = replace(
                pointer.summary,
                id=summary_id(sensor_id, pointer.summary.timestamp),
                correlation_ids=(),
                last_heard=None,
            )
            history = (newest, *kept.summaries[: points - 1])
        else:
            history = tuple(self._store.recent_summaries(sensor_id, points, traced=False))
            if not history or history[0] != pointer.summary:
                return history  # the pointer moved on since this model's copy: not kept
        with self._charts_lock:
            self._histories[key] = History(pointer.revision, history)
        return history

    def _unexpired(self, summaries: tuple[Summary, ...]) -> bool:
        """Whether none of these summaries (newest first) can have expired by TTL yet."""
        if self._summaries_ttl < 0 or not summaries:
            return True
        oldest = summaries[-1]
        horizon = self._wall_clock() - timedelta(seconds=self._summaries_ttl) + EXPIRY_MARGIN
        return parse_timestamp(oldest.timestamp) > horizon


def _x_range(options: ChartOptions) -> tuple[float, float] | None:
    """The chart's time axis in POSIX seconds when it draws a window, so every card aligns."""
    if not (options.start and options.end):
        return None
    return parse_timestamp(options.start).timestamp(), parse_timestamp(options.end).timestamp()
