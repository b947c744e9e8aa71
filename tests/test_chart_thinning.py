"""Merging chart points: a merged point's average is that of the readings it covers."""

from __future__ import annotations

from pipeline.readings import Summary
from visualiser.chart_data import thinned


def test_a_merged_average_weighs_each_window_by_its_readings() -> None:
    # Two 1-minute windows drawn as one point: 1 reading at 10 °C, then 59 at 30 °C.
    windows = [
        Summary("a", "s", "2026-01-01T00:00:00.000Z", 10.0, 10.0, 10.0, 1),
        Summary("b", "s", "2026-01-01T00:01:00.000Z", 30.0, 30.0, 30.0, 59),
    ]
    (merged,) = thinned(windows, 1)
    assert merged.count == 60
    assert abs(merged.avg_temp - (10.0 * 1 + 30.0 * 59) / 60) < 1e-9, merged.avg_temp
    assert (merged.min_temp, merged.max_temp, merged.timestamp) == (10.0, 30.0, windows[-1].timestamp)
