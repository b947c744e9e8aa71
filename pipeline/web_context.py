"""Per-process objects the web routes depend on, resolved on first request."""

from __future__ import annotations

import threading

from fastapi import Request

from pipeline import live_settings
from pipeline.circuit import GuardedStore
from pipeline.settings import Settings
from pipeline.storage import Store, get_store

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
                state.guarded_store = GuardedStore(store if store is not None else get_store())
    return state.guarded_store
