"""Functions bindings of the visualiser: every read-only route, served by the web app."""

from __future__ import annotations

import azure.functions as func

from pipeline.functions_http import forward_to_web_app

visualiser_functions = func.Blueprint()


@visualiser_functions.function_name("visualiser")
@visualiser_functions.route(
    route="{*path}",
    methods=["GET", "HEAD"],
    auth_level=func.AuthLevel.ANONYMOUS,
)
async def visualiser(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """The dashboard, charts and JSON API (the route prefix is "" in host.json)."""
    return await forward_to_web_app(req, context)
