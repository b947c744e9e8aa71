"""Glue between HTTP-triggered functions and an ASGI web app the composition root names.

The core knows no service: `function_app.py` registers the factory of the web app
(`use_web_app`); the app is built on the first request, as `func.AsgiFunctionApp` would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import azure.functions as func

_factory: Callable[[], Any] | None = None
_middleware: func.AsgiMiddleware | None = None
_lock = threading.Lock()


class NoWebApp(RuntimeError):
    """An HTTP function ran before the composition root registered the web app."""


def use_web_app(factory: Callable[[], Any]) -> None:
    """Serve HTTP functions with the ASGI app `factory()` returns (built on first request)."""
    global _factory, _middleware
    with _lock:
        _factory, _middleware = factory, None


def _web_middleware() -> func.AsgiMiddleware:
    global _middleware
    if _middleware is None:
        with _lock:
            if _middleware is None:
                if _factory is None:
                    raise NoWebApp("no web app registered: import function_app first")
                _middleware = func.AsgiMiddleware(_factory())
    return _middleware


async def forward_to_web_app(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Serve an HTTP trigger's request with the web app, as `func.AsgiFunctionApp` would."""
    return await _web_middleware().handle_async(req, context)
