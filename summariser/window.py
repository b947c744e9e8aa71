"""Window statistics: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from math import fsum

from pipeline.readings import Reading, Summary, summary_id


def summarise_window(sensor_id: str, as_of: str, window: Sequence[Reading]) -> Summary:
    """Min, max and mean (2 dp) of the window's temperatures, as of the given timestamp."""
    if not window:
        raise ValueError(f"empty window for {sensor_id} as of {as_of}")
    temperatures = [reading.temperature for reading in window]
    # fsum is exact, so the rounded mean never depends on the order of the readings.
    return Summary(
        id=summary_id(sensor_id, as_of),
        sensor_id=sensor_id,
        timestamp=as_of,
        max_temp=max(temperatures),
        min_temp=min(temperatures),
        avg_temp=round(fsum(temperatures) / len(temperatures), 2),
        count=len(temperatures),
    )
