"""Per-process objects the web routes depend on, resolved on first request."""

from __future__ import annotations

import threading

from fastapi import Request

from pipeline import correlation, live_settings
from pipeline.circuit import GuardedStore
from pipeline.settings import Settings
from pipeline.storage import Store, get_store

CORRELATION_SCOPE_KEY = "sensor_pipeline.correlation_id"
_lock = threading.Lock()


def current_settings(request: Request) -> Settings:
    """The app's settings with the live values (pipeline.live_settings) applied."""
    return live_settings.current(getattr(request.app.state, "settings", None))


def current_store(request: Request) -> Store:
    """The store behind the app's circuit breaker (one breaker per app)."""
    state = request.app.state
    if getattr(state, "guarded_store", None) is None:
        with _lock:
            if getattr(state, "guarded_store", None) is None:
                store = getattr(state, "store", None)
                settings = current_settings(request)
                state.guarded_store = GuardedStore(
                    store if store is not None else get_store(),
                    fail_max=settings.store_breaker_failures,
                    cooldown_seconds=settings.store_breaker_cooldown_seconds,
                )
    return state.guarded_store


def request_correlation_id(request: Request) -> str:
    """This request's correlation id (pipeline.correlation), also sent back as a response header.

    The device's `traceparent` trace id, else the trace the Functions host started for the
    invocation (passed by the ASGI middleware in the scope), else a new one.
    """
    correlation_id = correlation.correlation_id_for(
        request.headers.get("traceparent"), request.scope.get("azure_functions.trace_context")
    )
    # In the scope, not request.state: the Functions ASGI middleware passes no shared state.
    request.scope[CORRELATION_SCOPE_KEY] = correlation_id
    return correlation_id
