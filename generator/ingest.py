"""Validation of readings that devices send to `POST /api/readings`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pipeline.readings import InvalidReading, Reading, reading_from_submission

MAX_READINGS_PER_REQUEST = 1000


class RejectedSubmission(ValueError):
    """The request as a whole is refused; `errors` lists what is wrong, per reading and field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid reading(s)")
        self.errors = errors


def readings_from_submission(
    payload: Any, now: datetime, new_id: Callable[[], str] = lambda: str(uuid.uuid4())
) -> list[Reading]:
    """Validate one reading or a list of them; all are accepted or none (nothing half written)."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise RejectedSubmission([{"index": None, "errors": {"body": "no readings"}}])
    if len(items) > MAX_READINGS_PER_REQUEST:
        raise RejectedSubmission([{
            "index": None,
            "errors": {"body": f"at most {MAX_READINGS_PER_REQUEST} readings per request"},
        }])
    readings: list[Reading] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            readings.append(reading_from_submission(item, now, new_id()))
        except InvalidReading as invalid:
            errors.append({"index": index, "errors": invalid.errors})
    ids = [reading.id for reading in readings]
    if len(set(ids)) != len(ids):
        errors.append({"index": None, "errors": {"id": "the same id appears twice"}})
    if errors:
        raise RejectedSubmission(errors)
    return readings
