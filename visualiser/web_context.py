"""The visualiser's per-app read model, built on first request and shared by every viewer."""

from __future__ import annotations

import threading

from fastapi import Request

from pipeline.settings import Settings
from pipeline.web_context import current_settings, current_store
from visualiser.read_model import ReadModel

_lock = threading.Lock()


def read_model_shape(settings: Settings) -> tuple[object, ...]:
    """The (live) settings a read model is built with: a change rebuilds it."""
    return (settings.chart_points, settings.dashboard_poll_seconds, settings.dashboard)


def current_read_model(request: Request) -> ReadModel:
    """The shared read model, rebuilt when a live setting it was built with changes."""
    state = request.app.state
    settings = current_settings(request)
    shape = read_model_shape(settings)
    if getattr(state, "read_model", None) is None or state.read_model_shape != shape:
        with _lock:
            if getattr(state, "read_model", None) is None or state.read_model_shape != shape:
                state.read_model_shape = shape
                state.read_model = ReadModel(
                    current_store(request),
                    settings.chart_points,
                    # Fresh enough for a poll interval, shared by every viewer meanwhile.
                    ttl_seconds=min(1.0, settings.dashboard_poll_seconds / 2),
                    dashboard=settings.dashboard,
                )
    return state.read_model
