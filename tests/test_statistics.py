"""The exact mean: its integer path gives the decimal mean's float, to the bit, for every input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.statistics import mean_to_cents


def decimal_mean(values: Sequence[float]) -> float:
    """The mean as it was computed before whole cents: every value's repr summed in decimal."""
    total = sum((Decimal(repr(value)) for value in values), Decimal(0))
    # Plus 0.0: a negative mean that rounds to 0 cents is shown as 0.0, never -0.0.
    return float((total / len(values)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) + 0.0


def outcome(mean: Callable[[Sequence[float]], float], values: Sequence[float]) -> str:
    """The result's repr (which tells -0.0 from 0.0, and shows a NaN), or the error's type."""
    try:
        return repr(mean(values))
    except Exception as error:  # the same error, whichever path raised it
        return type(error).__name__


cents = st.integers(-100_00, 100_00).map(lambda cent: cent / 100)
temperatures = st.one_of(
    cents,  # what sensors send: the integer path
    st.floats(-100, 100).map(lambda value: round(value, 2)),  # round() can land off the cents
    st.floats(-100, 100).map(lambda value: round(value, 3)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 100.0, -100.0, 100.01, -100.01, 0.005, 1e-300]),
    st.integers(-200, 200),
    st.booleans(),
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(temperatures, max_size=25) | st.lists(cents, min_size=1, max_size=25))
@example([0.62, 0.63])  # 0.625: halves go away from zero
@example([-0.62, -0.63])
@example([-0.01, 0.0, 0.0])  # a negative mean that rounds to zero is 0.0, not -0.0
@example([0.01, 0.0, 0.0])
@example([-0.01, 0.01])
@example([-0.0])
@example([0.1, 0.2, 0.3])
@example([100.0] * 7 + [99.99])
@example([25.5, True])  # a bool is no temperature: the decimal path refuses it, as before
@example([20, 20.5])
@example([])
def test_the_mean_is_the_decimal_mean_to_the_bit(values: list[float]) -> None:
    assert outcome(mean_to_cents, values) == outcome(decimal_mean, values)


def test_a_negative_mean_that_rounds_to_zero_is_zero_not_minus_zero() -> None:
    """An average of -0.003 °C is shown as 0.0, as a single -0.0 reading is (docs/http-api.md)."""
    assert repr(mean_to_cents([-0.01, 0.0, 0.0])) == "0.0"
    assert repr(mean_to_cents([-0.001, 0.0, 0.0])) == "0.0"  # the decimal path: not whole cents
