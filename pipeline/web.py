"""The web app's shell: error handling, security headers and HEAD, for any routes.

It knows no service: `web_app.py` (the composition root, beside `function_app.py`) adds
the visualiser's and the generator's routes. Errors never leak a stack trace: bad input
is a 4xx with a JSON reason, a store outage a 503 with Retry-After, and every answer,
errors included, carries the security headers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.openapi_contract import use_true_openapi
from pipeline.settings import Settings
from pipeline.storage import Store, StoreError
from pipeline.web_context import CORRELATION_SCOPE_KEY

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
RETRY_AFTER_SECONDS = 5
CORRELATION_HEADER = "X-Correlation-Id"
PARAMETER_CHECKED_PREFIXES = ("/api/", "/plot/")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def error_response(status_code: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error `{"error": reason}` with the security headers (and any others given)."""
    return JSONResponse(
        {"error": reason}, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})}
    )


def _validation_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    # Only where and what: echoing the input back could reflect an attacker's payload.
    return [
        {"location": ".".join(str(part) for part in item.get("loc", ())), "error": item.get("msg")}
        for item in error.errors()
    ]


def retry_after(error: Exception) -> int:
    return getattr(error, "retry_after", RETRY_AFTER_SECONDS)


class HeadAsGet:
    """Answer HEAD on every GET route: the same status and headers, no body.

    FastAPI routes a HEAD request to nothing (405), while the visualiser's binding
    declares HEAD and HTTP says every GET resource answers it; running the GET and
    dropping its body is what HTTP means by HEAD. Content-Length stays the GET's.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # the rest of the body is dropped too
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


def repeated_parameter(path: str, query_string: bytes) -> str | None:
    """The first query parameter named twice on an API or chart route (each takes one value).

    The dashboard page itself is left alone: its query is read by the page's script.
    """
    if not path.startswith(PARAMETER_CHECKED_PREFIXES):
        return None
    seen: set[str] = set()
    for name, _ in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return name[:64]
        seen.add(name)
    return None


def create_base_app(store: Store | None = None, settings: Settings | None = None) -> FastAPI:
    """An app with no routes yet; without arguments it uses the process-wide store and settings."""
    app = FastAPI(
        title="sensor-pipeline",
        version="1.0.0",
        description="Live per-sensor temperature summaries.",
        # visualiser.api_docs serves /api/docs with our own assets, and /api/openapi.json
        # gzipped (FastAPI's own route is not); app.openapi() builds the document either way.
        docs_url=None,
        openapi_url=None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.settings = settings
    use_true_openapi(app)  # 400 for invalid parameters, as bad_request below answers

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": "invalid request", "details": _validation_errors(error)}, status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(error, "headers", None) or {})
        allowed = [method.strip() for method in headers.get("Allow", "").split(",") if method.strip()]
        if "GET" in allowed and "HEAD" not in allowed:  # HeadAsGet answers HEAD on every GET route
            headers["Allow"] = ", ".join([*allowed, "HEAD"])
        status = error.status_code
        return JSONResponse({"error": str(error.detail)}, status_code=status, headers=headers or None)

    @app.exception_handler(StoreError)
    async def store_unavailable(request: Request, error: StoreError) -> JSONResponse:
        log.warning(
            "store error on %s: %s", request.url.path, error, extra={"path": request.url.path, "status": 503}
        )
        return JSONResponse(
            {"error": "store unavailable, retry later"},
            status_code=503,
            headers={"Retry-After": str(retry_after(error))},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # The last resort (Starlette's outermost layer, which then re-raises).
        log.exception("unhandled error on %s", request.url.path)
        return error_response(500, "internal error")

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        # `?limit=1&limit=500` would otherwise silently take the last: say which one came twice
        # (here, not in a middleware of its own: one layer less on every request).
        repeated = repeated_parameter(request.url.path, request.scope.get("query_string", b""))
        if repeated is not None:
            details = [{"location": f"query.{repeated}", "error": "given more than once"}]
            return JSONResponse(
                {"error": "invalid request", "details": details}, status_code=400, headers=SECURITY_HEADERS
            )
        try:
            response = await call_next(request)
        except Exception:
            # Answered here, so that nothing re-raises into the Functions worker (which
            # would fail the invocation and the host answer a bare 500 of its own).
            log.exception("unhandled error on %s", request.url.path)
            return error_response(500, "internal error")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        correlation_id = request.scope.get(CORRELATION_SCOPE_KEY)
        if correlation_id:  # set by routes that record where their data came from
            response.headers.setdefault(CORRELATION_HEADER, correlation_id)
        return response

    app.add_middleware(HeadAsGet)
    return app
