"""Composition root of the web app: the shell from `pipeline.web` and every service's routes.

Azure serves it through the HTTP-triggered functions registered in `function_app.py`
(`pipeline.functions_http` builds it on the first request); the local host serves those
same functions. Only this module and `function_app.py` know every service.
"""

from __future__ import annotations

from fastapi import FastAPI

from generator.http_api import router as ingest_router
from pipeline.health import health_router
from pipeline.settings import Settings
from pipeline.storage import Store
from pipeline.web import create_base_app
from pipeline.web_context import current_settings, current_store
from visualiser.http_api import router as visualiser_router


def create_web_app(store: Store | None = None, settings: Settings | None = None) -> FastAPI:
    """The whole web app; without arguments it uses the process-wide store and settings."""
    app = create_base_app(store=store, settings=settings)
    app.include_router(visualiser_router)
    app.include_router(ingest_router)
    app.include_router(health_router(current_store, current_settings))
    return app
