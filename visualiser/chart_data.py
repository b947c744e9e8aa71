"""Which data a time-window chart draws: summaries for short windows, rollups for long ones.

The one place that decides. A window shorter than `ROLLUPS_FROM_SECONDS` is drawn from the
sensor's summaries; a longer one from the store's per-minute (up to 2 days) or per-hour
rollups (`Store.rollups`, docs/rollups.md). Where there are none, a long window falls back to
summaries, at most `MAX_SUMMARIES` of them; either way at most `MAX_POINTS` points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.readings import Summary, parse_timestamp
from pipeline.rollups import Rollup
from pipeline.storage import Store

ROLLUPS_FROM_SECONDS = 6 * 3600
MINUTE_ROLLUPS_UP_TO_SECONDS = 2 * 86400
MAX_SUMMARIES = 20_000
MAX_POINTS = 600  # more than a chart is wide in CSS px


@dataclass(frozen=True)
class Series:
    """What a chart draws, oldest first, and where it came from ("summaries" or "rollups:1m")."""

    summaries: list[Summary]
    source: str


def window_seconds(start: str, end: str) -> float:
    """How long `[start, end)` is, in seconds."""
    return (parse_timestamp(end) - parse_timestamp(start)).total_seconds()


def chart_series(store: Store, sensor_id: str, start: str, end: str) -> Series:
    """The sensor's avg/min/max points in [start, end), at most MAX_POINTS of them."""
    seconds = window_seconds(start, end)
    if seconds >= ROLLUPS_FROM_SECONDS:
        bucket = "1m" if seconds <= MINUTE_ROLLUPS_UP_TO_SECONDS else "1h"
        from_rollups = _from_rollups(store, sensor_id, bucket, start, end)
        if from_rollups is not None:
            return from_rollups
    summaries = store.summaries_between(sensor_id, start, end, MAX_SUMMARIES)
    return Series(thinned(summaries, MAX_POINTS), "summaries")


def _from_rollups(store: Store, sensor_id: str, bucket: str, start: str, end: str) -> Series | None:
    """Rollups drawn as summaries (one point per window, at its start), or None without any.

    None when the store has no rollups in the window (a store filled before rollups
    existed, or a sensor whose readings were never rolled up): its summaries are drawn.
    """
    windows: list[Rollup] = store.rollups(sensor_id, bucket, start, end)
    if not windows:
        return None
    summaries = [
        Summary(window.id, sensor_id, window.start, window.max, window.min, window.avg, window.count)
        for window in sorted(windows, key=lambda window: window.start)
    ]
    return Series(thinned(summaries, MAX_POINTS), f"rollups:{bucket}")


def thinned(summaries: Sequence[Summary], limit: int) -> list[Summary]:
    """At most `limit` points: consecutive summaries merged (max of max, min of min, and the
    mean of avg weighted by count: the average of the readings the merged points cover)."""
    if len(summaries) <= limit:
        return list(summaries)
    size = -(-len(summaries) // limit)
    merged = []
    for first in range(0, len(summaries), size):
        group = summaries[first : first + size]
        last = group[-1]
        count = sum(s.count for s in group)
        merged.append(
            Summary(
                last.id,
                last.sensor_id,
                last.timestamp,
                max(s.max_temp for s in group),
                min(s.min_temp for s in group),
                sum(s.avg_temp * s.count for s in group) / count if count else last.avg_temp,
                count,
            )
        )
    return merged
