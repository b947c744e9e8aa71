"""Read-only HTTP routes: dashboard page, PNG charts and the JSON API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from pipeline.readings import SENSOR_ID_PATTERN
from pipeline.settings import Settings
from pipeline.storage import Store
from pipeline.web_context import current_settings, current_store
from visualiser.alerts import alerts_now
from visualiser.api_docs import router as docs_router
from visualiser.chart_options import POINT_CHOICES, ChartOptions
from visualiser.compression import compressed, etag_matches, json_answer, not_modified, static_asset
from visualiser.history_api import router as history_router
from visualiser.read_model import ReadModel
from visualiser.rollups_api import router as rollups_router
from visualiser.time_window import WindowError, checked_window
from visualiser.web_context import current_read_model

router = APIRouter()
router.include_router(docs_router)
router.include_router(history_router)
router.include_router(rollups_router)
STATIC_DIR = FilePath(__file__).parent / "static"
MAX_IDS = 100

SensorId = Annotated[str, Path(pattern=SENSOR_ID_PATTERN.pattern, max_length=64, description="sensor id")]
DATE_TIME = {"format": "date-time"}
Limit = Annotated[int, Query(ge=1, le=500, description="how many, newest first")]
NO_CACHE = {"Cache-Control": "no-cache"}


def _not_found(sensor_id: str) -> JSONResponse:
    return JSONResponse({"error": f"unknown sensor {sensor_id!r}"}, status_code=404)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard(request: Request, settings: Annotated[Settings, Depends(current_settings)]) -> Response:
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    # The view the URL asks for is shown from the first paint: nothing moves when the script runs.
    query = request.query_params
    view = "detail" if query.get("sensor") else "fleet" if query.get("view") == "fleet" else "cards"
    poll_ms = str(int(settings.dashboard_poll_seconds * 1000))
    stale_ms = str(int(settings.dashboard.stale_after_seconds * 1000))
    body = (
        page.replace("{{POLL_MS}}", poll_ms)
        .replace("{{STALE_MS}}", stale_ms)
        .replace("{{WINDOW}}", str(settings.window_size))
        .replace("{{CHART_POINTS}}", str(settings.chart_points))
        .replace("{{STALE_TEXT}}", _spoken_seconds(settings.dashboard.stale_after_seconds))
        .replace("{{VIEW}}", view)
        .encode()
    )
    return compressed(request, body, "text/html; charset=utf-8", dict(NO_CACHE))


def _spoken_seconds(seconds: float) -> str:
    """ "90 s", "3 min", "2 h": the stale limit as the page's explanation says it."""
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


@router.get("/static/{name}", include_in_schema=False)
def static_file(request: Request, name: Annotated[str, Path(pattern=r"^[a-z-]+\.(js|css|svg)$")]) -> Response:
    asset = static_asset(STATIC_DIR / name)
    if asset is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    headers = {"ETag": asset.etag, **NO_CACHE}
    if etag_matches(request, asset.etag):
        return not_modified(headers, asset.media_type)
    return compressed(request, asset.body, asset.media_type, headers, key=asset.etag)


@router.get(
    "/plot/{sensor_id}.png",
    responses={200: {"content": {"image/png": {}}}, 304: {}, 404: {}},
    response_class=Response,
)
def plot(
    sensor_id: SensorId,
    request: Request,
    read_model: Annotated[ReadModel, Depends(current_read_model)],
    points: Annotated[
        int,
        Query(
            ge=0,
            le=1000,
            description="newest summaries drawn (0: CHART_POINTS)",
            json_schema_extra={"enum": list(POINT_CHOICES)},
        ),
    ] = 0,
    scale: Annotated[int, Query(ge=1, le=2, description="2 for high-DPI screens")] = 1,
    theme: Annotated[Literal["light", "dark"], Query()] = "light",
    y: Annotated[
        Literal["auto", "shared"], Query(description="shared: one y-range for every chart")
    ] = "auto",
    v: Annotated[str | None, Query(max_length=80, description="the version drawn; only busts caches")] = None,
    start: Annotated[
        str | None,
        Query(max_length=40, description="window start (UTC), with end", json_schema_extra=DATE_TIME),
    ] = None,
    end: Annotated[
        str | None,
        Query(max_length=40, description="window end (UTC), with start", json_schema_extra=DATE_TIME),
    ] = None,
) -> Response:
    """The sensor's avg/min/max chart; answers If-None-Match with 304 without rendering.

    With `start` and `end` it draws exactly that window (every chart of the page then has
    the same time axis) instead of the newest `points` summaries.
    """
    if points not in POINT_CHOICES:
        return JSONResponse({"error": f"points: one of {list(POINT_CHOICES)}"}, status_code=400)
    try:
        window = checked_window(start, end) or (None, None)
    except WindowError as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    options = ChartOptions(
        points=points, scale=scale, theme=theme, shared_y=y == "shared", start=window[0], end=window[1]
    )
    etag = read_model.chart_etag(sensor_id, options)
    if etag is None:
        return _not_found(sensor_id)
    headers = {"ETag": etag, **NO_CACHE}
    if etag_matches(request, etag):
        return Response(status_code=304, media_type="image/png", headers=headers)  # see not_modified
    chart = read_model.chart(sensor_id, options)
    if chart is None:
        return _not_found(sensor_id)
    return Response(chart.png, media_type="image/png", headers=dict(headers, ETag=chart.etag))


_VERSIONS_SCHEMA = {"type": "object", "additionalProperties": {"type": "string"}}
_DELTA_SCHEMA = {
    "type": "object",
    "properties": {
        "cursor": {"type": "string"},
        "full": {"type": "boolean"},
        "versions": _VERSIONS_SCHEMA,
        "removed": {"type": "array", "items": {"type": "string"}},
        "alerts": {"type": "object", "additionalProperties": {"type": "string", "enum": ["high", "low"]}},
        "heard": {"type": "object", "additionalProperties": {"type": "string", "format": "date-time"}},
    },
}


@router.get(
    "/api/summary-timestamps",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {"schema": {"anyOf": [_VERSIONS_SCHEMA, _DELTA_SCHEMA]}}}},
        304: {"description": "nothing changed since the ETag sent in If-None-Match"},
    },
)
def summary_timestamps(
    request: Request,
    read_model: Annotated[ReadModel, Depends(current_read_model)],
    since: Annotated[
        str | None, Query(max_length=64, description="a cursor from an earlier delta answer")
    ] = None,
) -> Response:
    """`{sensor_id: version of its latest summary}` for the dashboard's polling.

    A version is `{timestamp}~{digest}`: it moves whenever the latest summary's timestamp
    or values do. With `since` (any value; `0` at first) the answer is the delta form:
    only the versions changed after that cursor, the sensors removed, every threshold
    alert, and the next `cursor`. Both forms carry an ETag and answer 304 to it.
    """
    answer = read_model.full("timestamps") if since is None else read_model.delta(since)
    headers = {"ETag": answer.etag, **NO_CACHE}
    if etag_matches(request, answer.etag):
        return not_modified(headers, "application/json")
    return compressed(request, answer.body, "application/json", headers, key=answer.etag)


@router.get(
    "/api/sensors",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "sensor_id": {"type": "string"},
                                "latest": {"type": "object"},
                                "version": {"type": "string"},
                                "last_heard": {
                                    "type": "string",
                                    "description": "the earlier of the newest reading's timestamp and "
                                    "when the summariser received it: staleness counts from here",
                                },
                            },
                        },
                    }
                }
            }
        }
    },
)
def sensors(
    request: Request,
    read_model: Annotated[ReadModel, Depends(current_read_model)],
    ids: Annotated[
        str | None,
        Query(
            max_length=MAX_IDS * 65,
            pattern=r"^[A-Za-z0-9._,-]*$",
            description=f"comma-separated sensor ids (at most {MAX_IDS})",
        ),
    ] = None,
) -> Response:
    """Every sensor with its latest summary, sorted by sensor id; `ids` picks some of them."""
    if ids is None:
        return compressed(request, read_model.full("sensors").body, "application/json", {}, key="sensors")
    wanted = [part for part in ids.split(",") if part]
    if len(wanted) > MAX_IDS:
        return JSONResponse({"error": f"at most {MAX_IDS} ids"}, status_code=400)
    latest, versions = read_model.current()
    picked = [
        {
            "sensor_id": sensor_id,
            "latest": latest[sensor_id].to_document(),
            "version": versions.get(sensor_id),
            "last_heard": latest[sensor_id].heard,
        }
        for sensor_id in sorted(set(wanted))
        if sensor_id in latest
    ]
    return compressed(request, json.dumps(picked, separators=(",", ":")).encode(), "application/json", {})


_ALERTS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["sensor_id", "kind", "avg_temp", "low", "high", "timestamp", "last_heard"],
        "properties": {
            "sensor_id": {"type": "string"},
            "kind": {"type": "string", "enum": ["high", "low", "stale"]},
            "avg_temp": {"type": "number"},
            "low": {"type": "number"},
            "high": {"type": "number"},
            "timestamp": {"type": "string"},
            "last_heard": {"type": "string"},
        },
    },
}


@router.get(
    "/api/alerts",
    response_model=list[dict[str, Any]],
    responses={200: {"content": {"application/json": {"schema": _ALERTS_SCHEMA}}}},
)
def alerts(
    request: Request,
    read_model: Annotated[ReadModel, Depends(current_read_model)],
) -> Response:
    """Sensors that need attention: latest average above `high` or below `low` first, then stale ones."""
    now = datetime.now(UTC)
    found = alerts_now(read_model.latest(), read_model.dashboard, now)
    return json_answer(request, [alert.to_document() for alert in found])


@router.get("/api/sensors/{sensor_id}/summaries", response_model=list[dict[str, Any]])
def sensor_summaries(
    request: Request,
    sensor_id: SensorId,
    store: Annotated[Store, Depends(current_store)],
    limit: Limit = 50,
) -> Response:
    """The sensor's summaries, newest first."""
    return json_answer(request, [s.to_document() for s in store.recent_summaries(sensor_id, limit)])


@router.get("/api/sensors/{sensor_id}/readings", response_model=list[dict[str, Any]])
def sensor_readings(
    request: Request,
    sensor_id: SensorId,
    store: Annotated[Store, Depends(current_store)],
    limit: Limit = 50,
) -> Response:
    """The sensor's readings, newest first."""
    return json_answer(request, [r.to_document() for r in store.recent_readings(sensor_id, limit)])


@router.get("/api/deadletter", response_model=list[dict[str, Any]])
def dead_letters(
    request: Request,
    store: Annotated[Store, Depends(current_store)],
    limit: Limit = 50,
) -> Response:
    """Documents the summariser refused, newest first, with the reason."""
    return json_answer(request, [letter.to_document() for letter in store.recent_dead_letters(limit)])
