"""Glue between HTTP-triggered functions and our ASGI web app (built on first request)."""

from __future__ import annotations

import threading

import azure.functions as func

_middleware: func.AsgiMiddleware | None = None
_lock = threading.Lock()


def _web_middleware() -> func.AsgiMiddleware:
    global _middleware
    if _middleware is None:
        with _lock:
            if _middleware is None:
                # FastAPI is slow to import: pay for it on the first request, not at
                # `import function_app`, so timers and triggers start fast.
                from pipeline.web import create_web_app

                _middleware = func.AsgiMiddleware(create_web_app())
    return _middleware


async def forward_to_web_app(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Serve an HTTP trigger's request with the web app, as `func.AsgiFunctionApp` would."""
    return await _web_middleware().handle_async(req, context)
