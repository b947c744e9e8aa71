"""`GET /api/sensors/{id}/rollups`: a sensor's 1-minute or 1-hour time windows (docs/rollups.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from pipeline.readings import SENSOR_ID_PATTERN, format_timestamp
from pipeline.rollups import BUCKETS, bucket_count
from pipeline.storage import Store
from pipeline.web_context import current_store
from visualiser.compression import compressed, etag_matches, not_modified
from visualiser.read_model import ReadModel
from visualiser.time_window import WindowError, parsed_time
from visualiser.web_context import current_read_model

router = APIRouter()
SensorId = Annotated[str, Path(pattern=SENSOR_ID_PATTERN.pattern, max_length=64, description="sensor id")]
MAX_BUCKETS = 1440
# When `from` is not given: this long before `to`.
DEFAULT_SPAN = {"1m": timedelta(hours=2), "1h": timedelta(days=7)}

_BUCKET_SCHEMA = {
    "type": "object",
    "properties": {
        "start": {"type": "string", "format": "date-time"},
        "count": {"type": "integer"},
        "min": {"type": "number"},
        "max": {"type": "number"},
        "avg": {"type": "number"},
    },
}
_ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "sensor_id": {"type": "string"},
        "bucket": {"type": "string", "enum": list(BUCKETS)},
        "from": {"type": "string", "format": "date-time"},
        "to": {"type": "string", "format": "date-time"},
        "buckets": {"type": "array", "items": _BUCKET_SCHEMA},
    },
}
_ERROR = {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}


def _time(name: str, raw: str | None, default: Callable[[], datetime]) -> datetime:
    """The parameter's moment, or `default()` when it is not given."""
    return default() if raw is None else parsed_time(name, raw)


def time_range(
    bucket: str, raw_from: str | None, raw_to: str | None, now: datetime
) -> tuple[datetime, datetime]:
    """The validated `[from, to)`, with the defaults filled in; WindowError saying what is wrong."""
    if bucket not in BUCKETS:
        raise WindowError(f"bucket: one of {list(BUCKETS)}, not {bucket!r}")
    end = _time("to", raw_to, lambda: now)
    # The default is clamped at the first representable moment (a `to` in year 1 is not a 500).
    earliest = datetime.min.replace(tzinfo=UTC)
    start = _time("from", raw_from, lambda: end - min(DEFAULT_SPAN[bucket], end - earliest))
    if start >= end:
        shown = f"from {format_timestamp(start)}, to {format_timestamp(end)}"
        raise WindowError(f"from must be before to ({shown})")
    count = bucket_count(start, end, bucket)
    if count > MAX_BUCKETS:
        raise WindowError(f"from..to spans {count} buckets of {bucket}; at most {MAX_BUCKETS}")
    return start, end


@router.get(
    "/api/sensors/{sensor_id}/rollups",
    response_class=Response,
    responses={
        200: {"content": {"application/json": {"schema": _ANSWER_SCHEMA}}},
        304: {"description": "nothing changed since the ETag sent in If-None-Match"},
        400: {"description": "a bad parameter, named with the reason", "content": _ERROR},
        404: {"description": "unknown sensor", "content": _ERROR},
    },
)
def sensor_rollups(
    sensor_id: SensorId,
    request: Request,
    store: Annotated[Store, Depends(current_store)],
    read_model: Annotated[ReadModel, Depends(current_read_model)],
    bucket: Annotated[
        str, Query(description="window size: 1m or 1h", json_schema_extra={"enum": list(BUCKETS)})
    ] = "1m",
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            description="RFC 3339; default: 2 h (1m), 7 days (1h) before to",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    to: Annotated[
        str | None,
        Query(description="RFC 3339, exclusive; default: now", json_schema_extra={"format": "date-time"}),
    ] = None,
) -> Response:
    """The sensor's non-empty windows whose start is in `[from, to)`, oldest first.

    Each is count, min, max and avg (2 dp, halves away from zero) of the readings whose own
    timestamps fall in `[start, start + bucket)`, UTC-aligned; at most 1,440 buckets.
    """
    try:
        start, end = time_range(bucket, from_, to, datetime.now(UTC))
    except WindowError as bad:
        return JSONResponse({"error": str(bad)}, status_code=400)
    if sensor_id not in read_model.latest():
        return JSONResponse({"error": f"unknown sensor {sensor_id!r}"}, status_code=404)
    found = store.rollups(sensor_id, bucket, format_timestamp(start), format_timestamp(end))
    # Encoded once: the windows decide the ETag (weak: not the echoed range, whose default
    # `to` moves with every call) and make up the body.
    windows = json.dumps([window.to_document() for window in found], separators=(",", ":"))
    digest = hashlib.sha256(f"{sensor_id} {bucket} {windows}".encode()).hexdigest()[:20]
    headers = {"ETag": f'W/"{digest}"', "Cache-Control": "no-cache"}
    if etag_matches(request, headers["ETag"]):
        return not_modified(headers, "application/json")
    head = json.dumps(
        {
            "sensor_id": sensor_id,
            "bucket": bucket,
            "from": format_timestamp(start),
            "to": format_timestamp(end),
        },
        separators=(",", ":"),
    )
    body = f'{head[:-1]},"buckets":{windows}}}'.encode()
    return compressed(request, body, "application/json", headers)
