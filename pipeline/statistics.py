"""Exact statistics shared by summaries and time windows: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def mean_to_cents(values: Sequence[float]) -> float:
    """The mean rounded to 2 decimals (halves away from zero), computed exactly in decimal.

    Exact arithmetic makes the result independent of the order of the values, so a
    redelivered or reshuffled batch can never produce a summary that differs by a cent.
    """
    total = sum((Decimal(repr(value)) for value in values), Decimal(0))
    return float((total / len(values)).quantize(CENT, rounding=ROUND_HALF_UP))
