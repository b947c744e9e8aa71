"""The ASGI web app: the visualiser's routes, the ingest route, health and error handling.

Azure serves it through HTTP-triggered functions (`pipeline.functions_http`); the local
host serves it with uvicorn. Errors never leak a stack trace: bad input is a 4xx with a
JSON reason, a store outage a 503 with Retry-After.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from generator.http_api import router as ingest_router
from pipeline.health import health_router
from pipeline.settings import Settings
from pipeline.storage import Store, StoreError
from pipeline.web_context import current_settings, current_store
from visualiser.http_api import router as visualiser_router

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
RETRY_AFTER_SECONDS = 5


def _validation_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    # Only where and what: echoing the input back could reflect an attacker's payload.
    return [
        {"location": ".".join(str(part) for part in item.get("loc", ())), "error": item.get("msg")}
        for item in error.errors()
    ]


def _retry_after(error: Exception) -> int:
    return getattr(error, "retry_after", RETRY_AFTER_SECONDS)


def create_web_app(store: Store | None = None, settings: Settings | None = None) -> FastAPI:
    """The web app; without arguments it uses the process-wide store and settings."""
    app = FastAPI(
        title="sensor-pipeline",
        version="1.0.0",
        description="Live per-sensor temperature summaries.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.store = store
    app.state.settings = settings
    app.include_router(visualiser_router)
    app.include_router(ingest_router)
    app.include_router(health_router(current_store, current_settings))

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": "invalid request", "details": _validation_errors(error)}, status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code)

    @app.exception_handler(StoreError)
    async def store_unavailable(request: Request, error: StoreError) -> JSONResponse:
        log.warning(
            "store error on %s: %s", request.url.path, error, extra={"path": request.url.path, "status": 503}
        )
        return JSONResponse(
            {"error": "store unavailable, retry later"},
            status_code=503,
            headers={"Retry-After": str(_retry_after(error))},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"error": "internal error"}, status_code=500)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return app
