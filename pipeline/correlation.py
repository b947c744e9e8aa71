"""Correlation ids: which request or invocation a reading came from, carried to its summary.

A correlation id is a W3C trace id (32 lower-case hex digits): the one of the device's
`traceparent` header when it sends one, else the trace the Functions host started for the
invocation (`context.trace_context`), else a new one. In Azure the host's Application
Insights telemetry for the invocation has that trace id as `operation_Id`, so one id
finds the POST, the readings, the summariser's batch and any dead letter.
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

# version-traceid-parentid-flags; versions after 00 may append fields (W3C Trace Context).
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
CORRELATION_ID = re.compile(r"[0-9a-f]{32}")
# Ids named per log line: beyond this a line says how many more (a batch can hold 1,000s).
MAX_IDS_PER_LINE = 50

_current: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("correlation", default=())


def trace_id(traceparent: str | None) -> str | None:
    """The trace id of a valid W3C `traceparent` value, else None."""
    if not isinstance(traceparent, str):
        return None
    match = _TRACEPARENT.fullmatch(traceparent.strip())
    if match is None:
        return None
    version, trace, parent, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or set(trace) == {"0"} or set(parent) == {"0"}:
        return None
    return trace


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def host_trace_id(trace_context: Any) -> str | None:
    """The trace id of the Functions host's trace context for this invocation, if any."""
    return trace_id(getattr(trace_context, "trace_parent", None))


def correlation_id_for(traceparent_header: str | None, trace_context: Any = None) -> str:
    """The device's trace id, else the host's, else a new one."""
    return trace_id(traceparent_header) or host_trace_id(trace_context) or new_correlation_id()


def valid_correlation_id(value: Any) -> str | None:
    """A stored document's correlation id if well formed (never trusted blindly into logs)."""
    return value if isinstance(value, str) and CORRELATION_ID.fullmatch(value) else None


def distinct(ids: Iterable[str | None]) -> tuple[str, ...]:
    """The ids, each once, sorted (so the same readings always name the same ids)."""
    return tuple(sorted({i for i in ids if i}))


def shown(ids: tuple[str, ...]) -> str:
    """The ids for a log message: comma-separated, at most MAX_IDS_PER_LINE."""
    if len(ids) <= MAX_IDS_PER_LINE:
        return ",".join(ids) or "-"
    return ",".join(ids[:MAX_IDS_PER_LINE]) + f" (+{len(ids) - MAX_IDS_PER_LINE} more)"


@contextmanager
def correlated(ids: Iterable[str | None]) -> Iterator[tuple[str, ...]]:
    """Every log record inside the block carries these correlation ids."""
    named = distinct(ids)
    token = _current.set(named)
    try:
        yield named
    finally:
        _current.reset(token)


def current() -> tuple[str, ...]:
    return _current.get()
