"""The time parameters of the read routes, checked at the edge: a chart's or history's
`start` / `end`, and the rollups route's `from` / `to` (visualiser/rollups_api.py)."""

from __future__ import annotations

from datetime import datetime

from pipeline.readings import format_timestamp, parse_timestamp

MAX_WINDOW_SECONDS = 31 * 86400


class WindowError(ValueError):
    """A time window a viewer asked for that cannot be answered; the message names the field."""


def parsed_time(name: str, text: str) -> datetime:
    """The moment `text` names; WindowError naming the parameter `name` when it is not one."""
    try:
        return parse_timestamp(text)
    except ValueError as error:
        if " " in text and _is_time(text.replace(" ", "+")):
            # `?start=…T10:00:00+01:00` typed as it is: a query string reads `+` as a space.
            raise WindowError(f"{name}: a '+' in a query string means a space: send it as %2B") from None
        raise WindowError(f"{name}: {error}") from None


def _is_time(text: str) -> bool:
    try:
        parse_timestamp(text)
    except ValueError:
        return False
    return True


def checked_window(start: str | None, end: str | None) -> tuple[str, str] | None:
    """(start, end) in the canonical form, None when neither is given; WindowError otherwise."""
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise WindowError(f"{'start' if start is None else 'end'}: required with the other")
    moments = [parsed_time("start", start), parsed_time("end", end)]
    seconds = (moments[1] - moments[0]).total_seconds()
    if not 0 < seconds <= MAX_WINDOW_SECONDS:
        raise WindowError(f"end: after start and at most {MAX_WINDOW_SECONDS // 86400} days after it")
    return format_timestamp(moments[0]), format_timestamp(moments[1])
