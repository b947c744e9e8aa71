"""Which ids the Functions host's Json.NET would read as a date (and hand over rewritten)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from local_host.jsonnet_dates import reserialise_dates
from pipeline.readings import DATE_TIME_ID, READING_ID_PATTERN
from tests.jsonnet_reader import reads_as_date


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-06T10:00:00",
        "2026-12-06T10:00:00Z",
        "2026-12-06T10:00:00z",
        "2026-12-06T10:00:00.120Z",
        "2026-12-06T10:00:00.1234567-01:00",
        "2026-12-06T10:00:00.123456789",  # 7 fraction digits read, the last two taken for minutes
        "2026-12-06T10:00:00-05",
        "2026-12-06T10:00:00-0500",
        "2026-12-06T10:00:00-05:",  # the zone's minutes are optional, even after ':'
        "2026-01-31T12:00:00:30",  # no sign: ':' and two digits still end it
        "2026-01-31T12:00:0000",
        "2026-01-31T12:00:00:",
        "2024-02-29T23:59:59.9999999Z",
    ],
)
def test_strings_json_net_takes_for_a_date(text: str) -> None:
    assert reads_as_date(text)


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-06",  # too short
        "2026-12-06t10:00:00Z",  # 't': Json.NET wants 'T' at index 10
        "2026-12-06T10:00:00.12345678Z",  # the 8th digit is no zone
        "2026-12-06T10:00:00.Z",  # a point and no digit
        "2026-13-06T10:00:00Z",
        "2026-02-29T10:00:00Z",  # not a leap year
        "0000-01-01T10:00:00Z",
        "2026-12-06T10:60:00Z",
        "2026-12-06T10:00:00.120Z-dev",
        "2026-12-06T10-00-00",
        "dev-2026-12-06T10:00:00Z",
        "2026-12-06T10:00:00.1234567+01:00:00:00:00:00",  # over 40 characters
        "2026-12-06T10:00:00ZZ",
    ],
)
def test_strings_json_net_leaves_alone(text: str) -> None:
    assert not reads_as_date(text)


ids = st.from_regex(READING_ID_PATTERN, fullmatch=True)
dates = st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S"))
tails = st.from_regex(
    r"(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?|:[0-9]{0,3}|[0-9]{2})?", fullmatch=True
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(ids, st.builds(str.__add__, dates, tails)))
def test_every_id_json_net_or_the_local_host_takes_for_a_date_is_refused(text: str) -> None:
    """The pattern ingest refuses ids by (and the OpenAPI document states) names every string
    Json.NET's reader, or the local host's model of its rewrite, takes for a date."""
    if reads_as_date(text) or reserialise_dates(text) != text:
        assert DATE_TIME_ID.fullmatch(text), text


@pytest.mark.parametrize(
    "text",
    ["2026-12-06t10:00:00Z", "2026-12-06T10:00:00.120Z-dev", "2026-12-06T10-00-00", "2026-12-06T10:00:00ZZ"],
)
def test_the_pattern_leaves_ids_of_other_shapes_alone(text: str) -> None:
    assert not DATE_TIME_ID.fullmatch(text)
