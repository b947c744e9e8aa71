"""`GET /api/sensors/{id}/history`: the points behind the interactive detail chart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from pipeline.readings import SENSOR_ID_PATTERN
from pipeline.settings import Settings
from pipeline.storage import Store
from pipeline.web_context import current_settings, current_store
from visualiser.chart_data import chart_series
from visualiser.compression import json_answer
from visualiser.time_window import WindowError, checked_window

router = APIRouter()
Timestamp = Annotated[
    str, Query(max_length=40, description="RFC 3339 UTC time", json_schema_extra={"format": "date-time"})
]


@router.get("/api/sensors/{sensor_id}/history")
def sensor_history(
    request: Request,
    sensor_id: Annotated[str, Path(pattern=SENSOR_ID_PATTERN.pattern, max_length=64)],
    start: Timestamp,
    end: Timestamp,
    store: Annotated[Store, Depends(current_store)],
    settings: Annotated[Settings, Depends(current_settings)],
) -> Response:
    """avg/min/max in [start, end), oldest first, as `[time, avg, min, max]` rows, and the thresholds.

    Short windows come from summaries, windows of 6 h and more from rollups where the store
    has them (`source` says which); at most 600 rows.
    """
    try:
        window = checked_window(start, end)
    except WindowError as error:
        return JSONResponse({"error": str(error)}, status_code=400)
    assert window is not None
    series = chart_series(store, sensor_id, *window)
    thresholds = settings.dashboard.thresholds_for(sensor_id)
    return json_answer(
        request,
        {
            "sensor_id": sensor_id,
            "start": window[0],
            "end": window[1],
            "source": series.source,
            "thresholds": {"low": thresholds.low, "high": thresholds.high},
            "columns": ["timestamp", "avg_temp", "min_temp", "max_temp"],
            "rows": [[s.timestamp, s.avg_temp, s.min_temp, s.max_temp] for s in series.summaries],
        },
        {"Cache-Control": "no-cache"},
    )
