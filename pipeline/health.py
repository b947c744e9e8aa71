"""`GET /api/health`: is the store persisting writes, is the summariser succeeding, is the feed keeping up.

The report names each part that fails, in words fit for anyone to read (no file paths,
no error texts): `store` (a write now would not be persisted, or the store does not
answer, or the circuit breaker is open), a function failing `FAILURES_UNHEALTHY` times in
a row (as seen by this process), and `feed_lag` (the oldest unprocessed change is older
than `HEALTH_MAX_FEED_LAG_SECONDS`, when that is set).
"""

# No `from __future__ import annotations`: FastAPI must see the route's Depends(...) of
# the closure's arguments as objects, not strings it would resolve in this module.

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from pipeline.circuit import CircuitOpen
from pipeline.invocations import INVOCATIONS, FunctionRecord, Invocations
from pipeline.settings import Settings
from pipeline.storage import Store, StoreError, StoreNotWritable

FAILURES_UNHEALTHY = 3
RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class HealthReport:
    """What `/api/health` found; `failing` lists the parts that make it unhealthy."""

    store: str  # "ok", or why not
    functions: dict[str, FunctionRecord]
    feed_lag_seconds: float | None
    max_feed_lag_seconds: float  # 0: feed lag alone never makes it unhealthy
    retry_after: int | None = None

    @property
    def failing(self) -> list[str]:
        parts = [] if self.store == "ok" else ["store"]
        parts += [
            name
            for name, record in sorted(self.functions.items())
            if record.consecutive_failures >= FAILURES_UNHEALTHY
        ]
        limit, lag = self.max_feed_lag_seconds, self.feed_lag_seconds
        if limit and lag is not None and lag > limit:
            parts.append("feed_lag")
        return parts

    def to_document(self) -> dict[str, Any]:
        failing = self.failing
        return {
            "status": "unhealthy" if failing else "healthy",
            "failing": failing,
            "store": self.store,
            "functions": {
                name: {"consecutive_failures": record.consecutive_failures, "last_error": record.last_failure}
                for name, record in sorted(self.functions.items())
            },
            "feed_lag_seconds": self.feed_lag_seconds,
        }


def describe_store_error(error: StoreError) -> str:
    """Why the store failed, without paths, hosts or the error's own text."""
    if isinstance(error, CircuitOpen):
        cause = f" ({describe_store_error(error.cause)})" if error.cause is not None else ""
        return f"circuit open after repeated store failures{cause}"
    if isinstance(error, StoreNotWritable):
        return f"not writable: {error.reason}"
    return "unreachable"


def check_health(store: Store, invocations: Invocations, max_feed_lag_seconds: float) -> HealthReport:
    """Probe the store (a real write where the store can), then read the feed lag and the outcomes."""
    lag: float | None = None
    try:
        store.ping()
        lag = round(max(0.0, store.feed_lag_seconds()), 3)
    except StoreError as error:
        return HealthReport(
            describe_store_error(error),
            invocations.records(),
            None,
            max_feed_lag_seconds,
            retry_after=getattr(error, "retry_after", RETRY_AFTER_SECONDS),
        )
    return HealthReport("ok", invocations.records(), lag, max_feed_lag_seconds)


def health_router(
    store_dependency: Callable[..., Store],
    settings_dependency: Callable[..., Settings],
    invocations: Invocations = INVOCATIONS,
) -> APIRouter:
    """The route, resolving the store (behind the app's circuit breaker) and settings as the app does."""
    router = APIRouter()

    @router.get(
        "/api/health",
        responses={503: {"description": "a part is failing: store, a function, or the feed lag"}},
    )
    def health(
        store: Annotated[Store, Depends(store_dependency)],
        settings: Annotated[Settings, Depends(settings_dependency)],
    ) -> JSONResponse:
        """Store persisting writes, functions not failing in a row, age of the oldest unprocessed change."""
        report = check_health(store, invocations, settings.health_max_feed_lag_seconds)
        if not report.failing:
            return JSONResponse(report.to_document())
        headers = {"Retry-After": str(report.retry_after or RETRY_AFTER_SECONDS)}
        return JSONResponse(report.to_document(), status_code=503, headers=headers)

    return router
