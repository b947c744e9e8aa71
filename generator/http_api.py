"""`POST /api/readings`: readings from real devices, validated, all or nothing."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from generator.ingest import MAX_READINGS_PER_REQUEST, RejectedSubmission, readings_from_submission
from pipeline.readings import MAX_TEMPERATURE, MIN_TEMPERATURE, SENSOR_ID_PATTERN
from pipeline.storage import ReadingConflict, Store
from pipeline.web_context import current_store, request_correlation_id

log = logging.getLogger(__name__)
router = APIRouter()
MAX_BODY_BYTES = MAX_READINGS_PER_REQUEST * 1024
_READING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["sensor_id", "temperature", "timestamp"],
    "properties": {
        "id": {"type": "string", "description": "generated when absent"},
        "sensor_id": {"type": "string", "pattern": SENSOR_ID_PATTERN.pattern},
        "temperature": {"type": "number", "minimum": MIN_TEMPERATURE, "maximum": MAX_TEMPERATURE},
        "timestamp": {"type": "string", "format": "date-time"},
    },
}


async def _read_at_most(request: Request, limit: int) -> bytes | None:
    """The body, read chunk by chunk; None as soon as it passes `limit` (memory stays bounded)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/api/readings",
    status_code=201,
    responses={
        400: {"description": "not JSON, or nested too deeply"},
        411: {"description": "no Content-Length (a chunked body never reaches a function in Azure)"},
        409: {"description": "an id already holds another reading"},
        413: {},
        422: {"description": "invalid readings"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            _READING_SCHEMA,
                            {"type": "array", "items": _READING_SCHEMA, "maxItems": MAX_READINGS_PER_REQUEST},
                        ],
                    }
                }
            },
        }
    },
)
async def post_readings(
    request: Request,
    store: Annotated[Store, Depends(current_store)],
    correlation_id: Annotated[str, Depends(request_correlation_id)],
) -> JSONResponse:
    """Store one reading or a list; every reading is valid or none is written."""
    declared = request.headers.get("content-length")
    if declared is None:
        # The Functions host forwards a body only with Content-Length > 0: a chunked one
        # would arrive empty. Say so, rather than "not JSON".
        return JSONResponse(
            {"error": "Content-Length required: send the body with its length, not chunked"},
            status_code=411,
        )
    if not declared.isdigit():
        return JSONResponse({"error": "Content-Length is not a number"}, status_code=400)
    if int(declared) > MAX_BODY_BYTES:  # refused before a byte of it is read
        return JSONResponse({"error": f"body over {MAX_BODY_BYTES} bytes"}, status_code=413)
    body = await _read_at_most(request, MAX_BODY_BYTES)
    if body is None:
        return JSONResponse({"error": f"body over {MAX_BODY_BYTES} bytes"}, status_code=413)
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return JSONResponse({"error": "body is not JSON"}, status_code=400)
    except RecursionError:  # e.g. 100,000 nested "[": no reading is that deep
        return JSONResponse({"error": "body is nested too deeply"}, status_code=400)
    try:
        readings = readings_from_submission(payload, datetime.now(UTC))
    except RejectedSubmission as rejected:
        return JSONResponse({"error": "invalid readings", "details": rejected.errors}, status_code=422)
    documents = [dict(reading.to_document(), correlation_id=correlation_id) for reading in readings]
    try:
        await run_in_threadpool(store.put_readings, documents)
    except ReadingConflict as conflict:  # readings are immutable; nothing of the request was written
        ids = [{"sensor_id": sensor_id, "id": reading_id} for sensor_id, reading_id in conflict.keys]
        return JSONResponse({"error": str(conflict), "conflicts": ids}, status_code=409)
    log.info(
        "accepted %d readings (correlation id %s)",
        len(readings),
        correlation_id,
        extra={"batch_size": len(readings), "correlation_id": correlation_id},
    )
    return JSONResponse(
        {"accepted": len(readings), "ids": [r.id for r in readings], "correlation_id": correlation_id},
        status_code=201,
    )
