"""Exact statistics shared by summaries and time windows: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
# Every temperature a reading may have with at most 2 decimals (-100.00 to 100.00), as a
# float, to its whole number of cents. The float nearest to n/100 has exactly that decimal
# as its repr (two decimals of at most 15 digits never round to the same float), so these
# are the values `Decimal(repr(value))` reads as n/100.
_LIMIT = 100_00
_CENTS: dict[float, int] = {cent / 100: cent for cent in range(-_LIMIT, _LIMIT + 1)}
_FLOATS = {float}


def _mean_of_cents(cents: list[int]) -> float:
    """The mean of whole cents, rounded to a cent, halves away from zero, as the decimal mean.

    The decimal mean rounds its quotient to 28 significant digits before the cents; that never
    decides a cent here: the exact quotient is on a half cent (then it has a few digits and is
    kept exactly) or at least 1/(200 * count) from one, far beyond the 28th digit of a mean of
    at most 100 over fewer than 10^20 values.
    """
    total, count = sum(cents), len(cents)
    rounded = (2 * abs(total) + count) // (2 * count)  # |total| / count, halves up
    return rounded / 100 if total >= 0 else -(rounded / 100) + 0.0  # + 0.0: never -0.0


def mean_to_cents(values: Sequence[float]) -> float:
    """The mean rounded to 2 decimals (halves away from zero), computed exactly in decimal.

    Exact arithmetic makes the result independent of the order of the values, so a
    redelivered or reshuffled batch can never produce a summary that differs by a cent.
    Floats of at most 2 decimals within +-100 (every temperature a sensor sends) are summed
    as whole cents, in integers: the same result, to the bit, as the decimal sum's.
    """
    if values and set(map(type, values)) == _FLOATS:  # not an int, a bool or a float subclass
        cents = list(map(_CENTS.get, values))
        if None not in cents:
            return _mean_of_cents(cents)  # type: ignore[arg-type]
    total = sum((Decimal(repr(value)) for value in values), Decimal(0))
    # A negative mean that rounds to 0 cents is 0.0, not -0.0: people read "-0.0" as below zero.
    return float((total / len(values)).quantize(CENT, rounding=ROUND_HALF_UP)) + 0.0
