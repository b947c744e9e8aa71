"""Per-process objects the web routes depend on, resolved on first request."""

from __future__ import annotations

import threading

from fastapi import Request

from pipeline import live_settings
from pipeline.circuit import GuardedStore
from pipeline.settings import Settings
from pipeline.storage import Store, get_store
from visualiser.read_model import ReadModel

_lock = threading.RLock()  # current_read_model builds the store inside it


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
                state.guarded_store = GuardedStore(store if store is not None else get_store())
    return state.guarded_store


def current_read_model(request: Request) -> ReadModel:
    """The shared read model, rebuilt when a live setting it was built with changes."""
    state = request.app.state
    settings = current_settings(request)
    shape = (settings.chart_points, settings.dashboard_poll_seconds)
    if getattr(state, "read_model", None) is None or state.read_model_shape != shape:
        with _lock:
            if getattr(state, "read_model", None) is None or state.read_model_shape != shape:
                state.read_model_shape = shape
                state.read_model = ReadModel(
                    current_store(request),
                    settings.chart_points,
                    # Fresh enough for a poll interval, shared by every viewer meanwhile.
                    ttl_seconds=min(1.0, settings.dashboard_poll_seconds / 2),
                )
    return state.read_model
