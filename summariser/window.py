"""Window statistics: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.readings import Reading, Summary, summary_id
from pipeline.statistics import CENT, mean_to_cents

__all__ = ["CENT", "mean_to_cents", "summarise_window"]


def summarise_window(
    sensor_id: str,
    as_of: str,
    window: Sequence[Reading],
    correlation_ids: tuple[str, ...] = (),
    last_heard: str | None = None,
) -> Summary:
    """Min, max and mean (2 dp) of the window's temperatures, as of the given timestamp.

    `correlation_ids` and `last_heard` are the summary's trace, not statistics (see `Summary`).
    """
    if not window:
        raise ValueError(f"empty window for {sensor_id} as of {as_of}")
    temperatures = [reading.temperature for reading in window]
    return Summary(
        id=summary_id(sensor_id, as_of),
        sensor_id=sensor_id,
        timestamp=as_of,
        max_temp=max(temperatures),
        min_temp=min(temperatures),
        avg_temp=mean_to_cents(temperatures),
        count=len(temperatures),
        correlation_ids=correlation_ids,
        last_heard=last_heard,
    )
