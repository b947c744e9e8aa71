"""Functions bindings of the visualiser: every read-only route, served by the web app."""

from __future__ import annotations

import json
from urllib.parse import unquote, urlsplit

import azure.functions as func

from pipeline.functions_http import forward_to_web_app

visualiser_functions = func.Blueprint()

# Dead letters hold raw device payloads: in Azure they need the function key, like ingest.
# A literal route wins over the catch-all in the host's routing (and in the local host's).
DEAD_LETTER_ROUTE = "api/deadletter"


def names_dead_letters(url: str) -> bool:
    """Whether a URL reaching the catch-all is the dead-letter route in another spelling."""
    path = unquote(urlsplit(url).path)
    return "/".join(part for part in path.split("/") if part).lower() == DEAD_LETTER_ROUTE


@visualiser_functions.function_name("read_dead_letters")
@visualiser_functions.route(
    route=DEAD_LETTER_ROUTE,
    methods=["GET", "HEAD"],
    auth_level=func.AuthLevel.FUNCTION,
)
async def read_dead_letters(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Refused documents with their payloads (function key in Azure); served by the web app."""
    return await forward_to_web_app(req, context)


@visualiser_functions.function_name("visualiser")
@visualiser_functions.route(
    route="{*path}",
    methods=["GET", "HEAD"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
async def visualiser(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """The dashboard, charts and JSON API (the route prefix is "" in host.json)."""
    if names_dead_letters(req.url):
        # Never serve the keyed route anonymously, whatever spelling got it here.
        from pipeline.web import SECURITY_HEADERS  # the web stack loads on first request, not at import

        return func.HttpResponse(
            json.dumps({"error": "not found"}),
            status_code=404,
            mimetype="application/json",
            headers=SECURITY_HEADERS,
        )
    return await forward_to_web_app(req, context)
