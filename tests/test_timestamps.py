"""One canonical timestamp, whatever form a reading's time arrives in.

The Functions host hands change-feed documents to Python after a Json.NET round trip
that rewrites date-like strings (`.120Z` -> `.12Z`, `.000Z` -> `Z`, offsets moved); a
device may post any RFC 3339 form. Each must give exactly what the canonical form gives.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from generator.ingest import RejectedSubmission, readings_from_submission
from pipeline.readings import (
    CANONICAL_TIMESTAMP,
    InvalidReading,
    format_timestamp,
    normalise_timestamp,
    parse_timestamp,
    reading_from_document,
)
from pipeline.storage import Store
from summariser.batch import summarise_batch
from summariser.state_cache import SensorStateCache

WINDOW = 10
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
START = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2026-11-28T13:09:40.123Z", "2026-11-28T13:09:40.123Z"),
        ("2026-11-28T13:09:40.12Z", "2026-11-28T13:09:40.120Z"),
        ("2026-11-28T13:09:40.1Z", "2026-11-28T13:09:40.100Z"),
        ("2026-11-28T13:09:40Z", "2026-11-28T13:09:40.000Z"),
        ("2026-11-28T13:09:40.1230000Z", "2026-11-28T13:09:40.123Z"),
        ("2026-11-28T13:09:40.123+00:00", "2026-11-28T13:09:40.123Z"),
        ("2026-11-28T15:09:40.123+02:00", "2026-11-28T13:09:40.123Z"),
        ("2026-11-28T00:30:00-05:30", "2026-11-28T06:00:00.000Z"),
        ("2026-01-01T01:00:00.5+02:00", "2025-12-31T23:00:00.500Z"),
        ("2026-11-28t13:09:40.123z", "2026-11-28T13:09:40.123Z"),
        # Below the millisecond: truncated, never rounded up into the next second/day/year.
        ("2026-11-28T13:09:40.1239999Z", "2026-11-28T13:09:40.123Z"),
        ("2026-12-31T23:59:59.9999Z", "2026-12-31T23:59:59.999Z"),
        ("9999-12-31T23:59:59.9999999Z", "9999-12-31T23:59:59.999Z"),
        ("9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59.999Z"),  # Go RFC3339Nano, Java Instant
        ("2026-11-28T15:09:40.12345678+02:00", "2026-11-28T13:09:40.123Z"),
        ("0999-01-01T00:00:00Z", "0999-01-01T00:00:00.000Z"),
    ],
)
def test_every_accepted_form_normalises_to_the_canonical_string(text: str, canonical: str) -> None:
    assert normalise_timestamp(text) == canonical
    assert format_timestamp(parse_timestamp(text)) == canonical


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-11-28T13:09:40.123", "RFC 3339"),  # no zone: which time is it?
        ("2026-11-28 13:09:40Z", "RFC 3339"),
        ("2026-11-28T13:09Z", "RFC 3339"),
        ("2026-11-28T13:09:40.1234567891Z", "more than 9 fraction digits"),  # beyond nanoseconds
        ("2026-11-28T13:09:40.123456789012+01:00", "more than 9 fraction digits"),
        ("2026-11-28T13:09:40.123Z\n", "RFC 3339"),
        ("2026-11-28T13:09:40\x00.123Z", "RFC 3339"),
        ("\x002026-11-28T13:09:40.123Z", "RFC 3339"),
        ("２０２６-11-28T13:09:40Z", "RFC 3339"),  # non-ASCII digits
        ("2026-02-30T00:00:00Z", "real date"),
        ("2026-11-28T24:00:00Z", "real date"),
        ("2026-11-28T13:09:40+24:00", "offset"),
        ("0001-01-01T00:00:00+01:00", "0001-9999"),
        ("9999-12-31T23:59:59-01:00", "0001-9999"),
        ("yesterday", "RFC 3339"),
    ],
)
def test_what_is_not_a_time_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_timestamp(text)
    with pytest.raises(InvalidReading) as refused:
        reading_from_document({"id": "r1", "sensor_id": "s", "temperature": 20.0, "timestamp": text})
    assert reason in refused.value.errors["timestamp"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
        ({"timestamp": "9999-12-31T23:59:59-01:00"}, "timestamp"),
        ({"timestamp": "2026-11-28T11:00:00\x00Z"}, "timestamp"),
        ({"temperature": 10**400}, "temperature"),
        ({"temperature": -(10**400)}, "temperature"),
        ({"sensor_id": "sensor-1\n"}, "sensor_id"),
        ({"sensor_id": "sensor\x001"}, "sensor_id"),
        ({"id": "r1\n"}, "id"),
    ],
)
def test_submissions_out_of_range_or_with_control_characters_are_refused(payload: dict, field: str) -> None:
    good = {"sensor_id": "sensor-1", "temperature": 20.0, "timestamp": "2026-11-28T11:00:00Z"}
    with pytest.raises(RejectedSubmission) as refused:
        readings_from_submission({**good, **payload}, NOW)
    [error] = refused.value.errors
    assert field in error["errors"]


def _fraction_trimmed(canonical: str) -> str:
    """Json.NET's `FFFFFFF`: trailing zeros of the fraction dropped, `.000` dropped whole."""
    head, fraction = canonical[:-1].split(".")
    fraction = fraction.rstrip("0")
    return f"{head}.{fraction}Z" if fraction else f"{head}Z"


def _seven_digits(canonical: str) -> str:
    return canonical[:-1] + "0000Z"


def _utc_offset(canonical: str) -> str:
    return canonical[:-1] + "+00:00"


def _plus_two_hours(canonical: str) -> str:
    moment = parse_timestamp(canonical).astimezone(timezone(timedelta(hours=2)))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+02:00"


# The forms the issue names, each with the milliseconds that make the host produce it.
FORMS: dict[str, tuple[int, Callable[[str], str]]] = {
    ".12Z": (120, _fraction_trimmed),
    ".1Z": (100, _fraction_trimmed),
    "Z": (0, _fraction_trimmed),
    ".1230000Z": (123, _seven_digits),
    "+00:00": (123, _utc_offset),
    "+02:00": (123, _plus_two_hours),
}


def _documents(sensor_id: str, millis: int) -> list[dict]:
    return [
        {
            "id": f"{sensor_id}-r{n:02d}",
            "sensor_id": sensor_id,
            "temperature": round(15 + (n * 7.31) % 25, 2),
            "timestamp": format_timestamp(START + timedelta(seconds=n, milliseconds=millis)),
        }
        for n in range(WINDOW + 5)
    ]


def _comparable(summary) -> tuple:
    return (summary.timestamp, summary.max_temp, summary.min_temp, summary.avg_temp, summary.count)


@pytest.mark.parametrize("form", list(FORMS))
def test_change_feed_documents_in_each_reserialised_form_summarise_like_canonical_ones(
    store: Store, form: str
) -> None:
    millis, reserialise = FORMS[form]
    canonical = _documents("canonical", millis)
    altered = _documents("altered", millis)
    delivered = [{**doc, "timestamp": reserialise(doc["timestamp"])} for doc in altered]
    assert all(d["timestamp"].endswith(form) for d in delivered), delivered[0]["timestamp"]
    # The container keeps the string it was given; only the trigger's copy is re-serialised.
    store.put_readings(canonical + altered)
    results: dict[str, list] = {"canonical": [], "altered": []}
    for sensor_id, documents in (("canonical", canonical), ("altered", delivered)):
        cache = SensorStateCache()
        for batch in (documents[:7], documents[7:], documents[5:9]):  # the last one redelivered
            outcome = summarise_batch(batch, store, WINDOW, NOW, cache=cache)
            assert outcome.dead_letters == []
            results[sensor_id].extend(outcome.summaries)
    assert [_comparable(s) for s in results["altered"]] == [_comparable(s) for s in results["canonical"]]
    # Ids are built from the canonical string, so a redelivery rewrites the same summary.
    assert f"altered-{canonical[-1]['timestamp']}" in {s.id for s in results["altered"]}
    history = {sensor: [_comparable(s) for s in store.recent_summaries(sensor, 50)] for sensor in results}
    assert history["altered"] == history["canonical"]
    assert store.recent_dead_letters(10) == []
    latest = store.latest_summaries()
    assert _comparable(latest["altered"]) == _comparable(latest["canonical"])


def parsed_in_full(text: str) -> str:
    """`normalise_timestamp` as it was before its canonical fast path: every time parsed."""
    if CANONICAL_TIMESTAMP.fullmatch(text):
        parse_timestamp(text)
        return text
    return format_timestamp(parse_timestamp(text))


def normalised(normalise: Callable[[str], str], text: str) -> str:
    try:
        return normalise(text)
    except ValueError as error:
        return f"ValueError: {error}"


def two_digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


# The canonical shape with every field around and beyond its edges: years 0000 and 9999,
# months 00 and 13, February 29th to 31st, hours 23 to 29, minutes and seconds 59 to 99.
canonical_shaped = st.builds(
    "{}-{}-{}T{}:{}:{}.{}Z".format,
    st.integers(0, 9999).map(lambda n: f"{n:04d}")
    | st.sampled_from(["0000", "0001", "1900", "2000", "2024", "9999"]),
    two_digits(0, 13),
    two_digits(0, 32),
    two_digits(0, 29),
    two_digits(0, 99),
    two_digits(0, 99),
    st.integers(0, 999).map(lambda n: f"{n:03d}"),
)


@settings(max_examples=3000, deadline=None)
@given(canonical_shaped | st.text(alphabet="0123456789-:.TZ", min_size=20, max_size=26))
@example("2024-02-29T23:59:59.999Z")
@example("2026-02-29T00:00:00.000Z")
@example("2026-01-01T24:00:00.000Z")
@example("2026-01-01T23:60:00.000Z")
@example("2026-01-01T23:59:60.000Z")
@example("0000-01-01T00:00:00.000Z")
@example("9999-12-31T23:59:59.999Z")
# Digits str.isdigit() and \d accept, but no time has: Arabic-Indic and fullwidth, in each field.
@example("2026-01-01T1\u0663:00:00.000Z")
@example("2026-01-01T12:0\u0663:0\u0663.000Z")
@example("2026-01-01T12:00:00.\uff11\uff12\uff13Z")
@example("\u0662\u0660\u0662\u0666-01-01T12:00:00.000Z")
@example("2026-01-01T12:00:00.000Z\n")
@example("2026-01-01T12:00:00.000z")
def test_a_canonical_time_is_checked_as_parsing_it_would(text: str) -> None:
    """The fast check of a canonical string accepts and refuses what parsing it does, for the same reason."""
    assert normalised(normalise_timestamp, text) == normalised(parsed_in_full, text)
