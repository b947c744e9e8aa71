"""Read-only HTTP routes: dashboard page, PNG charts and the JSON API."""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from pipeline.readings import SENSOR_ID_PATTERN
from pipeline.settings import Settings
from pipeline.storage import Store
from pipeline.web_context import current_settings, current_store
from visualiser.read_model import ReadModel
from visualiser.web_context import current_read_model

router = APIRouter()
STATIC_DIR = FilePath(__file__).parent / "static"

SensorId = Annotated[str, Path(pattern=SENSOR_ID_PATTERN.pattern, max_length=64, description="sensor id")]
Limit = Annotated[int, Query(ge=1, le=500, description="how many, newest first")]


def _not_found(sensor_id: str) -> JSONResponse:
    return JSONResponse({"error": f"unknown sensor {sensor_id!r}"}, status_code=404)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def dashboard(settings: Annotated[Settings, Depends(current_settings)]) -> HTMLResponse:
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    poll_ms = str(int(settings.dashboard_poll_seconds * 1000))
    return HTMLResponse(page.replace("{{POLL_MS}}", poll_ms), headers={"Cache-Control": "no-cache"})


@router.get("/static/{name}", include_in_schema=False)
def static_file(name: Annotated[str, Path(pattern=r"^[a-z]+\.(js|css)$")]) -> Response:
    path = STATIC_DIR / name
    if not path.is_file():
        return JSONResponse({"error": "not found"}, status_code=404)
    media = "text/javascript" if name.endswith(".js") else "text/css"
    return Response(path.read_bytes(), media_type=media, headers={"Cache-Control": "no-cache"})


@router.get(
    "/plot/{sensor_id}.png",
    responses={200: {"content": {"image/png": {}}}, 304: {}, 404: {}},
    response_class=Response,
)
def plot(
    sensor_id: SensorId,
    request: Request,
    read_model: Annotated[ReadModel, Depends(current_read_model)],
) -> Response:
    """The sensor's avg/min/max chart; answers If-None-Match with 304 without rendering."""
    etag = read_model.chart_etag(sensor_id)
    if etag is None:
        return _not_found(sensor_id)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    chart = read_model.chart(sensor_id)
    if chart is None:
        return _not_found(sensor_id)
    return Response(chart.png, media_type="image/png", headers=dict(headers, ETag=chart.etag))


@router.get(
    "/api/summary-timestamps",
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/json": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}
            }
        }
    },
)
def summary_timestamps(read_model: Annotated[ReadModel, Depends(current_read_model)]) -> Response:
    """`{sensor_id: timestamp of its latest summary}`, for the dashboard's polling."""
    return Response(read_model.encoded("timestamps"), media_type="application/json")


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
                            "properties": {"sensor_id": {"type": "string"}, "latest": {"type": "object"}},
                        },
                    }
                }
            }
        }
    },
)
def sensors(read_model: Annotated[ReadModel, Depends(current_read_model)]) -> Response:
    """Every sensor with its latest summary, sorted by sensor id."""
    return Response(read_model.encoded("sensors"), media_type="application/json")


@router.get("/api/sensors/{sensor_id}/summaries")
def sensor_summaries(
    sensor_id: SensorId,
    store: Annotated[Store, Depends(current_store)],
    limit: Limit = 50,
) -> list[dict[str, Any]]:
    """The sensor's summaries, newest first."""
    return [summary.to_document() for summary in store.recent_summaries(sensor_id, limit)]


@router.get("/api/sensors/{sensor_id}/readings")
def sensor_readings(
    sensor_id: SensorId,
    store: Annotated[Store, Depends(current_store)],
    limit: Limit = 50,
) -> list[dict[str, Any]]:
    """The sensor's readings, newest first."""
    return [reading.to_document() for reading in store.recent_readings(sensor_id, limit)]


@router.get("/api/deadletter")
def dead_letters(
    store: Annotated[Store, Depends(current_store)],
    limit: Limit = 50,
) -> list[dict[str, Any]]:
    """Documents the summariser refused, newest first, with the reason."""
    return [letter.to_document() for letter in store.recent_dead_letters(limit)]
