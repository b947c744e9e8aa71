"""Window statistics: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from pipeline.readings import Reading, Summary, summary_id

CENT = Decimal("0.01")


def mean_to_cents(values: Sequence[float]) -> float:
    """The mean rounded to 2 decimals (halves away from zero), computed exactly in decimal.

    Exact arithmetic makes the result independent of the order of the values, so a
    redelivered or reshuffled batch can never produce a summary that differs by a cent.
    """
    total = sum((Decimal(repr(value)) for value in values), Decimal(0))
    return float((total / len(values)).quantize(CENT, rounding=ROUND_HALF_UP))


def summarise_window(sensor_id: str, as_of: str, window: Sequence[Reading]) -> Summary:
    """Min, max and mean (2 dp) of the window's temperatures, as of the given timestamp."""
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
    )
