"""Structured logs: one JSON object per line with `LOG_FORMAT=json`, with invocation context.

Functions set the context (function name, invocation id, and the correlation ids of the
readings at hand, see `pipeline.correlation`) for the duration of an invocation; every
record logged meanwhile carries it, plus whatever domain fields the call passes in `extra`
(sensor_id, reading_id, batch_size, duration_ms, request_charge). `correlation_id` is one
id, or several separated by commas for a batch.
In Azure the Functions host forwards log records to Application Insights; locally the
local host writes them to stdout.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from pipeline import correlation
from pipeline.readings import format_timestamp
from pipeline.settings import SettingsError

LOG_FORMAT = "LOG_FORMAT"
LOG_LEVEL = "LOG_LEVEL"
# Domain fields a log call may pass in `extra`; anything else stays out of the JSON.
FIELDS = (
    "sensor_id",
    "reading_id",
    "batch_size",
    "duration_ms",
    "request_charge",
    "requests",
    "readings",
    "summaries",
    "dead_letters",
    "feed_lag_s",
    "status",
    "path",
    "method",
    "setting",
)

_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("function", default=None)
_invocation: contextvars.ContextVar[str | None] = contextvars.ContextVar("invocation", default=None)


@contextmanager
def invocation(function: str, invocation_id: str | None) -> Iterator[None]:
    """Mark every log record inside the block with the function and invocation id."""
    function_token = _function.set(function)
    invocation_token = _invocation.set(invocation_id)
    try:
        yield
    finally:
        _function.reset(function_token)
        _invocation.reset(invocation_token)


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON, exceptions included, never a bare traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": format_timestamp(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        function = getattr(record, "function", None) or _function.get()
        if function:
            entry["function"] = function
        invocation_id = getattr(record, "invocation_id", None) or _invocation.get()
        if invocation_id:
            entry["invocation_id"] = invocation_id
        correlation_ids = getattr(record, "correlation_id", None) or ",".join(correlation.current())
        if correlation_ids:
            entry["correlation_id"] = correlation_ids
        for field in FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = "".join(traceback.format_exception(*record.exc_info)).strip()
        return json.dumps(entry, default=str)


class ContextFormatter(logging.Formatter):
    """Plain text for people, with the invocation's function name when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        function = _function.get()
        return f"{text} [{function}]" if function and record.name != "local_host" else text


def configure_logging(log_format: str, level: str) -> None:
    """Send every log record (and Python warnings) to stdout in the chosen format.

    Both are checked before anything changes: SettingsError names a bad one.
    """
    if log_format not in ("text", "json"):
        raise SettingsError(LOG_FORMAT, "text or json", log_format)
    if level.upper() not in logging.getLevelNamesMapping():
        raise SettingsError(LOG_LEVEL, "DEBUG, INFO, WARNING or ERROR", level)
    handler = logging.StreamHandler(sys.stdout)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(ContextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.captureWarnings(True)
    # Third-party loggers that would otherwise print their own way or too much.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    for name in ("azure", "urllib3", "matplotlib", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
