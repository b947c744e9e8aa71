"""The documents of the pipeline (readings, summaries, dead letters) and their validation.

Timestamps are UTC, ISO-8601 with millisecond precision and a `Z` suffix, so that string
order is time order: stores sort and compare them as strings. Wherever a reading enters
(a device's POST, the timer's output, the change feed) its time may be any RFC 3339 form
with 0-9 fraction digits and `Z` or a numeric offset; it is normalised to that canonical
form first, digits below the millisecond truncated (see `parse_timestamp`).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipeline.correlation import valid_correlation_id

# Every pattern is applied with `fullmatch`: `$` alone would also match before a final
# newline, and "sensor-1\n" would be a second sensor. The anchors stay for the OpenAPI
# document, where a JSON Schema pattern is not anchored by itself.
SENSOR_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CANONICAL_TIMESTAMP = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$")
READING_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
# An id a device may not choose: the form of every string the Cosmos DB extension's Json.NET
# reads as a date-time (`DateParseHandling.DateTime`) and hands to the summariser rewritten
# (`….120Z` as `….12Z`, see local_host/jsonnet_dates.py), where the reading would be counted
# twice: under its stored id and under the rewritten one. Json.NET wants `yyyy-MM-ddTHH:mm:ss`,
# reads up to 7 fraction digits, then a lenient zone (`Z`/`z`, or an optional sign and two
# digits followed by an optional `:` and two digits) that must end the string. This takes the
# form only, not whether the date exists: `tests/test_jsonnet_dates.py` checks it against a
# port of Json.NET's reader. The OpenAPI document states the same pattern.
DATE_TIME_ID = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,7})?"
    r"([Zz]|([+-][0-9]{2})?(:([0-9]{2})?|[0-9]{2})?)$"
)
# RFC 3339 date-time (`T` or `t`, `Z`, `z` or +hh:mm), 0-9 fraction digits: every form in
# which the Functions host's Json.NET round trip can hand a canonical time back (it drops
# trailing zeros, keeps 7-digit ticks, may rewrite the offset), and the nanoseconds that
# Go's RFC3339Nano and Java's Instant write. ASCII digits only.
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
# The same with more fraction digits than any clock resolves: refused, but saying so, not
# as if it were no RFC 3339 time.
_LONG_FRACTION = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{10,}(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
# The coldest and hottest air temperatures ever recorded on Earth, with a margin:
# anything outside is a broken sensor, not weather.
MIN_TEMPERATURE = -100.0
MAX_TEMPERATURE = 100.0
# Readings stamped further ahead than this are a device clock gone wrong.
MAX_CLOCK_SKEW = timedelta(minutes=5)


class InvalidReading(ValueError):
    """A document is not a valid reading; `errors` maps each bad field to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {why}" for field, why in errors.items()))
        self.errors = errors


def format_timestamp(moment: datetime) -> str:
    """The canonical form: `2026-11-28T13:09:10.123Z` (microseconds truncated)."""
    utc = moment.astimezone(UTC)
    # Not strftime("%Y"): it drops the leading zeros of years before 1000 on glibc.
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 time with a zone into UTC; raise ValueError saying why not.

    Digits below the millisecond are truncated, never rounded: rounding could carry a
    reading into the next second, day or year (`9999-12-31T23:59:59.9999Z` would not
    exist), and truncation is what the canonical form already does to a datetime, so a
    time always keeps the millisecond it was taken in.
    """
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        if isinstance(text, str) and _LONG_FRACTION.fullmatch(text):
            raise ValueError("more than 9 fraction digits: send at most 9 (the milliseconds are kept)")
        raise ValueError("not an RFC 3339 time with a zone, e.g. 2026-01-31T12:00:00.000Z")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    millis = int((match[7] or "")[:3].ljust(3, "0"))
    try:
        local = datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    except ValueError:
        raise ValueError("not a real date and time") from None
    offset = timedelta()
    if match[8]:
        hours, minutes = int(match[9]), int(match[10])
        if hours > 23 or minutes > 59:
            raise ValueError("not a real time zone offset")
        offset = timedelta(hours=hours, minutes=minutes) * (1 if match[8] == "+" else -1)
    try:
        return local - offset
    except OverflowError:
        raise ValueError("outside the years 0001-9999 once converted to UTC") from None


def _real_canonical(text: str) -> bool:
    """Whether a string of the canonical shape is a real time, as `parse_timestamp` decides.

    Its fields are ASCII digits: a real date (years 0001-9999, no February 30th) and a time
    before 24:00:00 make a real time, and a zero offset cannot leave the years 0001-9999.
    """
    try:
        date.fromisoformat(text[:10])  # YYYY-MM-DD
    except ValueError:
        return False
    return text[11:13] < "24" and text[14:16] < "60" and text[17:19] < "60"


def normalise_timestamp(text: str) -> str:
    """Any accepted RFC 3339 form of a time as the canonical UTC string; ValueError if none."""
    if isinstance(text, str) and CANONICAL_TIMESTAMP.fullmatch(text):
        if not _real_canonical(text):  # the common case, without parsing the whole time
            parse_timestamp(text)  # still a real date (no February 30th): raises saying why
        return text
    return format_timestamp(parse_timestamp(text))


@dataclass(frozen=True, slots=True)
class Reading:
    id: str
    sensor_id: str
    temperature: float
    timestamp: str
    # Where it came from (pipeline.correlation); not part of what the reading is, so a
    # retried POST under a new trace is still the same reading.
    correlation_id: str | None = field(default=None, compare=False)

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.id,
            "sensor_id": self.sensor_id,
            "temperature": self.temperature,
            "timestamp": self.timestamp,
        }
        if self.correlation_id:
            document["correlation_id"] = self.correlation_id
        return document


@dataclass(frozen=True, slots=True)
class Summary:
    """Statistics over a sensor's latest readings as of one reading."""

    id: str
    sensor_id: str
    timestamp: str
    max_temp: float
    min_temp: float
    avg_temp: float
    count: int
    # The correlation ids of the readings of the batch that produced it: a trace, not a
    # statistic, so equality (and exactness) ignore it.
    correlation_ids: tuple[str, ...] = field(default=(), compare=False)
    # When the sensor was last heard of: the earlier of its newest reading's own stamp and
    # when the summariser received it, so a device clock running fast cannot keep a dead
    # sensor fresh. Not a statistic: equality ignores it. None in summaries written before it.
    last_heard: str | None = field(default=None, compare=False)

    @property
    def heard(self) -> str:
        """`last_heard`, or the timestamp for a summary written before it existed."""
        return self.last_heard or self.timestamp

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.id,
            "sensor_id": self.sensor_id,
            "timestamp": self.timestamp,
            "max_temp": self.max_temp,
            "min_temp": self.min_temp,
            "avg_temp": self.avg_temp,
            "count": self.count,
        }
        if self.correlation_ids:
            document["correlation_ids"] = list(self.correlation_ids)
        if self.last_heard:
            document["last_heard"] = self.last_heard
        return document

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Summary:
        return cls(
            id=str(doc["id"]),
            sensor_id=str(doc["sensor_id"]),
            timestamp=str(doc["timestamp"]),
            max_temp=float(doc["max_temp"]),
            min_temp=float(doc["min_temp"]),
            avg_temp=float(doc["avg_temp"]),
            count=int(doc["count"]),
            correlation_ids=tuple(str(i) for i in doc.get("correlation_ids") or ()),
            last_heard=str(doc["last_heard"]) if doc.get("last_heard") else None,
        )


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A document the summariser refused, kept with the reason so nothing is lost."""

    id: str
    source_id: str | None
    reason: str
    received_at: str
    payload: str
    correlation_id: str | None = None  # of the refused document, when it carried a valid one

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source_id": self.source_id,
            "reason": self.reason,
            "received_at": self.received_at,
            "payload": self.payload,
            "correlation_id": self.correlation_id,
        }


def summary_id(sensor_id: str, as_of_timestamp: str) -> str:
    """Deterministic: the same sensor and as-of reading always give the same summary id."""
    return f"{sensor_id}-{as_of_timestamp}"


def _check_sensor_id(value: Any, errors: dict[str, str]) -> None:
    if not isinstance(value, str):
        errors["sensor_id"] = "required, a string"
    elif not SENSOR_ID_PATTERN.fullmatch(value):
        errors["sensor_id"] = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"


def _check_temperature(value: Any, errors: dict[str, str]) -> float | None:
    if type(value) is float and MIN_TEMPERATURE <= value <= MAX_TEMPERATURE:
        number = value  # nearly every reading: none of the refusals below can apply
    else:
        checked = _temperature_number(value, errors)
        if checked is None:
            return None
        number = checked
    return number + 0.0  # -0.0 is stored and shown as 0.0


def _temperature_number(value: Any, errors: dict[str, str]) -> float | None:
    """The value as a float temperature, or None with the reason in `errors`."""
    # bool is an int subclass; true/false is not a temperature.
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors["temperature"] = "required, a number"
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer with hundreds of digits
        errors["temperature"] = f"must be between {MIN_TEMPERATURE} and {MAX_TEMPERATURE} °C"
        return None
    if math.isinf(number):  # e.g. an integer of thousands of digits
        errors["temperature"] = f"must be between {MIN_TEMPERATURE} and {MAX_TEMPERATURE} °C"
        return None
    if not math.isfinite(number):
        errors["temperature"] = "must be finite"
        return None
    if not MIN_TEMPERATURE <= number <= MAX_TEMPERATURE:
        errors["temperature"] = f"must be between {MIN_TEMPERATURE} and {MAX_TEMPERATURE} °C"
        return None
    return number


def reading_from_document(doc: Mapping[str, Any]) -> Reading:
    """Validate a stored document as the summariser sees it; raise InvalidReading.

    The timestamp is normalised to the canonical form: the Functions host re-serialises
    date-like strings of change-feed documents (`.120Z` arrives as `.12Z`, `.000Z` as `Z`),
    and everything downstream (ids, windows, comparisons) needs the one canonical string.
    """
    errors: dict[str, str] = {}
    reading_id = doc.get("id")
    if not isinstance(reading_id, str) or not reading_id:
        errors["id"] = "required, a string"
    _check_sensor_id(doc.get("sensor_id"), errors)
    temperature = _check_temperature(doc.get("temperature"), errors)
    raw_time = doc.get("timestamp")
    timestamp = ""
    if not isinstance(raw_time, str):
        errors["timestamp"] = "required, an RFC 3339 time with a zone"
    else:
        try:
            timestamp = normalise_timestamp(raw_time)
        except ValueError as error:
            errors["timestamp"] = str(error)
    if errors:
        raise InvalidReading(errors)
    assert temperature is not None
    return Reading(
        id=str(reading_id),
        sensor_id=str(doc["sensor_id"]),
        temperature=temperature,
        timestamp=timestamp,
        correlation_id=valid_correlation_id(doc.get("correlation_id")),
    )


# Ids of submitted readings that came without one: derived from their content, so a
# device (or a proxy) that retries a request writes the same documents, not duplicates.
SUBMISSION_ID_NAMESPACE = uuid.UUID("6f1d3c1e-4b4a-4e0e-9a59-2b8e3f0c7d21")


def submission_id(sensor_id: str, timestamp: str, temperature: float) -> str:
    return str(uuid.uuid5(SUBMISSION_ID_NAMESPACE, f"{sensor_id}\n{timestamp}\n{temperature!r}"))


def reading_from_submission(payload: Any, now: datetime) -> Reading:
    """Validate a reading sent by a device; accept any RFC 3339 time with a zone.

    The timestamp is normalised to the canonical form; a missing id is derived from the
    reading's content (see `submission_id`).
    """
    if not isinstance(payload, Mapping):
        raise InvalidReading({"body": "each reading must be a JSON object"})
    errors: dict[str, str] = {}
    unknown = sorted(set(payload) - {"id", "sensor_id", "temperature", "timestamp"})
    if unknown:
        # A name may hold a lone surrogate (`"\ud800"` is valid JSON): escaped, so that the
        # answer can be encoded as UTF-8.
        names = ", ".join(unknown)[:200].encode("utf-8", "backslashreplace").decode("utf-8")
        errors["body"] = f"unknown fields: {names}"
    reading_id = payload.get("id")
    if "id" in payload and (  # null is not a missing id
        not isinstance(reading_id, str) or not READING_ID_PATTERN.fullmatch(reading_id)
    ):
        errors["id"] = "1-128 letters, digits, '.', '_', ':' or '-'"
    elif isinstance(reading_id, str) and DATE_TIME_ID.fullmatch(reading_id):
        errors["id"] = "not of the form of a date-time (the change feed rewrites those): e.g. a UUID"
    _check_sensor_id(payload.get("sensor_id"), errors)
    temperature = _check_temperature(payload.get("temperature"), errors)
    raw_time = payload.get("timestamp")
    timestamp = ""
    if not isinstance(raw_time, str) or len(raw_time) > 40:
        errors["timestamp"] = "required, an RFC 3339 time with a zone, e.g. 2026-01-31T12:00:00Z"
    else:
        try:
            moment = parse_timestamp(raw_time)
        except ValueError as error:
            errors["timestamp"] = str(error)
        else:
            if moment > now + MAX_CLOCK_SKEW:
                errors["timestamp"] = "is in the future"
            elif moment.year < 2000:
                errors["timestamp"] = "is before the year 2000"
            timestamp = format_timestamp(moment)
    if errors:
        raise InvalidReading(errors)
    assert temperature is not None
    sensor_id = str(payload["sensor_id"])
    return Reading(
        id=reading_id or submission_id(sensor_id, timestamp, temperature),
        sensor_id=sensor_id,
        temperature=temperature,
        timestamp=timestamp,
    )
