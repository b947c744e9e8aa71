"""What a viewer may ask of a chart: size, colours, how much history, and a shared y-axis."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.readings import Summary
from pipeline.settings import DashboardSettings

# The time-range choice: how many of the newest summaries a chart draws (0: the default,
# CHART_POINTS). Counts, not durations, so a chart costs one bounded query whatever the rate.
POINT_CHOICES = (0, 50, 200, 1000)
SCALES = (1, 2)
THEMES = ("light", "dark")
Y_STEP = 5.0  # a shared range moves in whole 5 °C steps, so it rarely invalidates every chart


@dataclass(frozen=True)
class ChartOptions:
    points: int = 0
    scale: int = 1
    theme: str = "light"
    shared_y: bool = False
    # A time window (canonical UTC timestamps, both or neither): every chart of the page then
    # spans exactly [start, end), so axes line up card to card. None: the newest `points`.
    start: str | None = None
    end: str | None = None


def shared_range(latest: Iterable[Summary], dashboard: DashboardSettings) -> tuple[float, float]:
    """One y-range for every chart: every sensor's latest min and max, and the default thresholds."""
    summaries = list(latest)
    limits = dashboard.thresholds
    low = min([s.min_temp for s in summaries] + [limits.low])
    high = max([s.max_temp for s in summaries] + [limits.high])
    return (math.floor(low / Y_STEP) * Y_STEP - Y_STEP, math.ceil(high / Y_STEP) * Y_STEP + Y_STEP)


def covering(y_range: tuple[float, float], summaries: Iterable[Summary]) -> tuple[float, float]:
    """The shared range, widened in whole steps where this chart's own summaries go beyond it.

    The shared range is built from every sensor's latest summary; a longer history (200 or
    1000 summaries) can hold older values outside it, which would be cut off at the edge.
    """
    low, high = y_range
    for summary in summaries:
        if summary.min_temp < low:
            low = math.floor(summary.min_temp / Y_STEP) * Y_STEP - Y_STEP
        if summary.max_temp > high:
            high = math.ceil(summary.max_temp / Y_STEP) * Y_STEP + Y_STEP
    return low, high
