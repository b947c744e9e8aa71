"""`/api/docs`: Swagger UI from files we serve ourselves, so it works offline and under our CSP;
and `/api/openapi.json`, gzipped like every other text answer.

FastAPI's default page loads Swagger UI from a CDN and starts it with an inline script;
our Content-Security-Policy (`script-src 'self'`) blocks both. The assets come from the
`fastapi-offline` package (pinned in requirements.txt) and the start-up script is a file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Request, Response
from fastapi.responses import JSONResponse

from visualiser.compression import Asset, compressed, etag_matches, not_modified

router = APIRouter(include_in_schema=False)
_STATIC = FilePath(__file__).parent / "static"
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="description" content="The sensor-pipeline HTTP API, from its OpenAPI document.">
  <title>sensor-pipeline API</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <meta name="color-scheme" content="light dark">
  <link rel="stylesheet" href="/api/docs/swagger-ui.css">
  <link rel="stylesheet" href="/static/api-docs.css">
</head>
<body>
  <p class="back"><a href="/">‹ Sensor dashboard</a></p>
  <div id="swagger-ui"></div>
  <script src="/api/docs/swagger-ui-bundle.js"></script>
  <script src="/static/api-docs.js"></script>
</body>
</html>
"""


def _bundle_dir() -> FilePath:
    import fastapi_offline

    return FilePath(fastapi_offline.__file__).parent / "static"


_cache: dict[str, Asset] = {}


def _asset(name: str) -> Asset | None:
    if name not in _ASSETS:
        return None
    if name not in _cache:
        body = (_bundle_dir() / name).read_bytes()
        _cache[name] = Asset(body, _ASSETS[name], f'"{hashlib.sha256(body).hexdigest()[:20]}"')
    return _cache[name]


def _openapi_asset(app: FastAPI) -> Asset:
    asset = getattr(app.state, "openapi_asset", None)
    if asset is None:  # the routes do not change while the app runs: encode once
        body = json.dumps(app.openapi(), separators=(",", ":")).encode()
        asset = Asset(body, "application/json", f'"{hashlib.sha256(body).hexdigest()[:20]}"')
        app.state.openapi_asset = asset
    return asset


@router.get("/api/openapi.json")
def openapi_document(request: Request) -> Response:
    """The OpenAPI document of every route (FastAPI's own route would not compress it)."""
    asset = _openapi_asset(request.app)
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}
    if etag_matches(request, asset.etag):
        return not_modified(headers, asset.media_type)
    return compressed(request, asset.body, asset.media_type, headers, key=asset.etag)


@router.get("/api/docs")
def docs_page(request: Request) -> Response:
    return compressed(request, PAGE.encode(), "text/html; charset=utf-8", {"Cache-Control": "no-cache"})


@router.get("/api/docs/{name}")
def docs_asset(request: Request, name: Annotated[str, Path(max_length=40)]) -> Response:
    asset = _asset(name)
    if asset is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}
    if etag_matches(request, asset.etag):
        return not_modified(headers, asset.media_type)
    return compressed(request, asset.body, asset.media_type, headers, key=asset.etag)
