"""`POST /api/readings`: readings from real devices, validated, all or nothing."""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from generator.ingest import MAX_READINGS_PER_REQUEST, RejectedSubmission, readings_from_submission
from pipeline.readings import (
    DATE_TIME_ID,
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    READING_ID_PATTERN,
    SENSOR_ID_PATTERN,
)
from pipeline.storage import ReadingConflict, Store
from pipeline.web_context import current_store, request_correlation_id

log = logging.getLogger(__name__)
router = APIRouter()
# 1 MB, in the README's sense: 1,000,000 bytes (room for 1,000 readings of ~1 KB of JSON).
MAX_BODY_BYTES = 1_000_000
# Python refuses to convert integers longer than this (a CPU-time guard); a temperature never is.
_MAX_INTEGER_DIGITS = 4300
_READING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["sensor_id", "temperature", "timestamp"],
    "additionalProperties": False,
    "properties": {
        "id": {
            "type": "string",
            "pattern": READING_ID_PATTERN.pattern,
            "not": {"pattern": DATE_TIME_ID.pattern},
            "description": "generated when absent; not of the form of a date-time (the change feed "
            "rewrites those)",
        },
        "sensor_id": {"type": "string", "pattern": SENSOR_ID_PATTERN.pattern},
        "temperature": {"type": "number", "minimum": MIN_TEMPERATURE, "maximum": MAX_TEMPERATURE},
        "timestamp": {
            "type": "string",
            "format": "date-time",
            "maxLength": 40,
            "description": "RFC 3339 with a zone, from the year 2000 and at most 5 minutes ahead "
            "of the server's clock (a later one is refused with 422)",
        },
    },
}


class DuplicateKey(ValueError):
    """A JSON object names a key twice: which value a parser keeps is not defined (RFC 8259 §4)."""


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise DuplicateKey(key)
        document[key] = value
    return document


def _integer(text: str) -> int | float:
    # Too long for int(): an infinity, which validation refuses as out of range, naming the field.
    if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS:
        return -math.inf if text.startswith("-") else math.inf
    return int(text)


def parse_body(body: bytes) -> Any:
    """The body as JSON; DuplicateKey, ValueError or RecursionError when it is not acceptable JSON."""
    return json.loads(body, object_pairs_hook=_object_without_duplicates, parse_int=_integer)


def _refused_framing(request: Request) -> JSONResponse | None:
    """A request whose body cannot be read safely: ambiguous framing, or an encoding we do not decode."""
    if "transfer-encoding" in request.headers and "content-length" in request.headers:
        # Request smuggling (RFC 9112 §6.3): refuse, and close the connection.
        return JSONResponse(
            {"error": "Transfer-Encoding and Content-Length together: refused"},
            status_code=400,
            headers={"Connection": "close"},
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return JSONResponse(
            {"error": f"Content-Encoding {encoding[:40]!r} is not supported: send the body uncompressed"},
            status_code=415,
        )
    return None


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
        400: {"description": "not JSON, a key named twice, nested too deeply, or ambiguous framing"},
        411: {"description": "no Content-Length (a chunked body never reaches a function in Azure)"},
        409: {"description": "an id already holds another reading"},
        413: {"description": f"body over {MAX_BODY_BYTES} bytes"},
        415: {"description": "not Content-Type: application/json, or a Content-Encoding other than identity"},
        422: {
            "description": "invalid readings, each error named by field: also a timestamp before the "
            "year 2000 or more than 5 minutes ahead of the server's clock"
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            _READING_SCHEMA,
                            {
                                "type": "array",
                                "items": _READING_SCHEMA,
                                "minItems": 1,
                                "maxItems": MAX_READINGS_PER_REQUEST,
                            },
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
    refused = _refused_framing(request)
    if refused is not None:
        return refused
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
        payload: Any = parse_body(body)
    except DuplicateKey as duplicate:
        return JSONResponse({"error": f"body names the key {str(duplicate)[:80]!r} twice"}, status_code=400)
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
