"""A model of what the Cosmos DB extension's Json.NET round trip does to date-like strings.

The extension (4.x) reads change-feed documents with the Cosmos SDK's default Json.NET
settings, `DateParseHandling.DateTime`, and writes them back for the worker: every string
that looks like an ISO-8601 date-time becomes a .NET `DateTime` and is written as
`yyyy-MM-ddTHH:mm:ss.FFFFFFFK`. So (Azure/Azure-Functions#1399, azure-webjobs-sdk-extensions#898):

- trailing zeros of the fraction go: `…:40.120Z` -> `…:40.12Z`, `…:40.000Z` -> `…:40Z`;
  up to 7 digits (ticks) survive: `…:40.1234567Z` stays;
- `Z` stays `Z` (a UTC DateTime);
- an offset is converted to the server's time zone (a local DateTime) and written with
  that zone's offset: on Azure's UTC servers `…T15:09:40.5+02:00` -> `…T13:09:40.5+00:00`;
- without a zone it stays without one;
- anything else (8+ fraction digits, impossible dates, other shapes) is left alone.

The document in the container keeps its original string; only the trigger's copy changes.
Not modelled: other .NET types (numbers keep Python's JSON reading), and zones other
than UTC for the server.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,7}))?(Z|[+-][0-9]{2}:[0-9]{2})?"
)


def _rewrite(text: str, server_zone: timezone) -> str:
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        return text
    fraction_digits = (match[7] or "").ljust(7, "0")
    zone = match[8]
    try:
        # Offsets are whole minutes: the fraction never changes, only the date and time.
        moment = datetime(*(int(part) for part in match.groups()[:6]))
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])) * sign
            moment = moment.replace(tzinfo=timezone(offset)).astimezone(server_zone).replace(tzinfo=None)
            zone = _offset_text(server_zone)
    except (ValueError, OverflowError):
        return text  # Json.NET would not have taken it for a date either
    fraction = fraction_digits.rstrip("0")
    head = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    return f"{head}{'.' + fraction if fraction else ''}{zone or ''}"


def _offset_text(zone: timezone) -> str:
    offset = zone.utcoffset(None)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def reserialise_dates(value: Any, server_zone: timezone = UTC) -> Any:
    """`value` (a JSON document) as the Functions host hands it to Python."""
    if isinstance(value, str):
        return _rewrite(value, server_zone)
    if isinstance(value, dict):
        return {key: reserialise_dates(item, server_zone) for key, item in value.items()}
    if isinstance(value, list):
        return [reserialise_dates(item, server_zone) for item in value]
    return value
