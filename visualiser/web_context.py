"""The visualiser's per-app read model, built on first request and shared by every viewer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fastapi import Request

from pipeline.settings import Settings
from pipeline.web_context import current_settings, current_store
from visualiser.read_model import ReadModel

_lock = threading.Lock()


def read_model_shape(settings: Settings) -> tuple[object, ...]:
    """The (live) settings a read model is built with: a change rebuilds it."""
    return (
        settings.chart_points,
        settings.dashboard_poll_seconds,
        settings.dashboard,
        settings.retention.summaries_seconds,
    )


def read_model_for(
    store: object, settings: Settings, clock: Callable[[], float] = time.monotonic
) -> ReadModel:
    """A read model as the settings say: fresh within `read_max_age_seconds` (docs/http-api.md).

    It refreshes in the background after `read_refresh_seconds`, or after half a poll
    interval if that is shorter: one shared copy per poll, however many viewers.
    """
    return ReadModel(
        store,
        settings.chart_points,
        ttl_seconds=min(settings.read_refresh_seconds, settings.dashboard_poll_seconds / 2),
        clock=clock,
        dashboard=settings.dashboard,
        max_age_seconds=settings.read_max_age_seconds,
        summaries_ttl_seconds=settings.retention.summaries_seconds,
    )


def current_read_model(request: Request) -> ReadModel:
    """The shared read model, rebuilt when a live setting it was built with changes."""
    state = request.app.state
    settings = current_settings(request)
    shape = read_model_shape(settings)
    if getattr(state, "read_model", None) is None or state.read_model_shape != shape:
        with _lock:
            if getattr(state, "read_model", None) is None or state.read_model_shape != shape:
                state.read_model_shape = shape
                # `app.state.clock`: a test's hand clock; time.monotonic otherwise.
                clock = getattr(state, "clock", None) or time.monotonic
                state.read_model = read_model_for(current_store(request), settings, clock)
    return state.read_model
