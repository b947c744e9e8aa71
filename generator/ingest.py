"""Validation of readings that devices send to `POST /api/readings`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.readings import InvalidReading, Reading, reading_from_submission

MAX_READINGS_PER_REQUEST = 1000


class RejectedSubmission(ValueError):
    """The request as a whole is refused; `errors` lists what is wrong, per reading and field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid reading(s)")
        self.errors = errors


def readings_from_submission(payload: Any, now: datetime) -> list[Reading]:
    """Validate one reading or a list of them; all are accepted or none (nothing half written)."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise RejectedSubmission([{"index": None, "errors": {"body": "no readings"}}])
    if len(items) > MAX_READINGS_PER_REQUEST:
        raise RejectedSubmission(
            [
                {
                    "index": None,
                    "errors": {"body": f"at most {MAX_READINGS_PER_REQUEST} readings per request"},
                }
            ]
        )
    readings: list[tuple[int, Reading]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            readings.append((index, reading_from_submission(item, now)))
        except InvalidReading as invalid:
            errors.append({"index": index, "errors": invalid.errors})
    # A reading is identified by (sensor_id, id), as in the stores: the same reading twice
    # (a device resending within one request) is written once; one identity for two
    # different readings is a client error, named at the later of the two. Two sensors may
    # use the same id.
    unique: dict[tuple[str, str], tuple[int, Reading]] = {}
    for index, reading in readings:
        first_index, first = unique.setdefault((reading.sensor_id, reading.id), (index, reading))
        if first != reading:
            message = f"{reading.id!r} names another reading of {reading.sensor_id!r} at index {first_index}"
            errors.append({"index": index, "errors": {"id": message}})
    if errors:
        raise RejectedSubmission(errors)
    return [reading for _, reading in unique.values()]
