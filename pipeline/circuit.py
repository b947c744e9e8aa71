"""A circuit breaker around the store on the HTTP paths (pybreaker).

After `fail_max` consecutive store failures the circuit opens: requests are answered
503 with Retry-After at once, instead of each waiting on a store that is down (and
adding load to it). After the cooldown one request is let through (half-open); its
success closes the circuit again.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import pybreaker

from pipeline.storage import Store, StoreError, StoreUnavailable

log = logging.getLogger(__name__)
GUARDED = (
    "latest_summaries",
    "latest_pointers",
    "recent_summaries",
    "recent_readings",
    "recent_dead_letters",
    "put_readings",
    "ping",
    "feed_lag_seconds",
)


class CircuitOpen(StoreUnavailable):
    """The store failed repeatedly; requests are refused until `retry_after` seconds pass."""

    def __init__(self, retry_after: int, cause: StoreError | None = None) -> None:
        super().__init__(f"store circuit open, retry in {retry_after} s")
        self.retry_after = retry_after
        self.cause = cause  # the last store failure before it opened


class _LogTransitions(pybreaker.CircuitBreakerListener):
    def state_change(self, breaker: pybreaker.CircuitBreaker, old: Any, new: Any) -> None:
        log.warning("store circuit %s -> %s", old.name, new.name)


class GuardedStore:
    """The store, with every call the web app makes going through one circuit breaker."""

    def __init__(self, inner: Store, fail_max: int = 5, cooldown_seconds: float = 10.0) -> None:
        self._inner = inner
        self._cooldown = cooldown_seconds
        self.last_error: StoreError | None = None
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=cooldown_seconds,
            # Only store failures count; a bug or bad input must not open the circuit.
            exclude=[lambda error: not isinstance(error, StoreError)],
            listeners=[_LogTransitions()],
            throw_new_error_on_trip=False,
        )

    def _retry_after(self) -> int:
        opened_at = self.breaker._state_storage.opened_at  # datetime of the last trip
        if opened_at is None:
            return math.ceil(self._cooldown)
        elapsed = time.time() - opened_at.timestamp()
        return max(1, math.ceil(self._cooldown - elapsed))

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in GUARDED:
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return self.breaker.call(attribute, *args, **kwargs)
            except pybreaker.CircuitBreakerError:
                raise CircuitOpen(self._retry_after(), self.last_error) from None
            except StoreError as error:
                self.last_error = error
                raise

        return guarded
