"""The Accept-Encoding parser (visualiser/content_coding.py), against RFC 9110 §12.5.3."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from visualiser.content_coding import choose_coding, parse_accept_encoding, weight_of


@pytest.mark.parametrize(
    ("header", "weights"),
    [
        ("gzip", {"gzip": 1.0}),
        ("gzip, deflate, br", {"gzip": 1.0, "deflate": 1.0, "br": 1.0}),
        ("GZIP ; Q=0.5 , Identity", {"gzip": 0.5, "identity": 1.0}),
        ("x-gzip;q=0.3", {"gzip": 0.3}),
        ("gzip;q=0", {"gzip": 0.0}),
        ("gzip;q=0.000", {"gzip": 0.0}),
        ("gzip;q=1.000", {"gzip": 1.0}),
        ("*;q=0.1", {"*": 0.1}),
        ("", {}),
        (" , ,", {}),
        ("gzip;q=2", {}),  # out of range: ignored, never read as consent
        ("gzip;q=0.5000", {}),  # more than three decimals
        ("gzip;q=.5", {}),
        ("gzip;q=abc", {}),
        ("gzip;q=-0", {}),
        ("gzip;q=0, gzip", {"gzip": 0.0}),  # the first entry counts
        ("gzip;level=9", {"gzip": 1.0}),  # other parameters do not matter
    ],
)
def test_parse(header: str, weights: dict[str, float]) -> None:
    assert parse_accept_encoding(header) == weights


@pytest.mark.parametrize(
    ("header", "coding"),
    [
        (None, "identity"),  # no header: a plain client gets bytes it can read
        ("", "identity"),  # RFC 9110: an empty value wants no coding
        ("gzip", "gzip"),
        ("gzip, deflate, br, zstd", "gzip"),
        ("gzip;q=0", "identity"),  # a refusal (this used to be answered with gzip)
        ("gzip;q=0, identity", "identity"),
        ("identity;q=1, gzip;q=0.000", "identity"),
        ("gzip;q=0.2, identity;q=0.5", "identity"),
        ("gzip;q=0.5, identity;q=0.5", "gzip"),  # a tie: the smaller answer
        ("gzip;q=0.001", "gzip"),  # listed, so preferred to an identity not listed
        ("br", "identity"),
        ("deflate, *", "gzip"),
        ("*", "gzip"),
        ("*;q=0", "identity"),  # everything refused: identity all the same, not a 406
        ("*;q=0, identity;q=0.1", "identity"),
        ("*;q=0.5, gzip;q=0", "identity"),
        ("x-gzip", "gzip"),
        ("GZip", "gzip"),
        ("gzip;q=2", "identity"),  # malformed: as if not listed
        ("notgzip, gzipped", "identity"),  # no substring matching
    ],
)
def test_choose(header: str | None, coding: str) -> None:
    assert choose_coding(header) == coding


def test_identity_is_acceptable_unless_refused() -> None:
    assert weight_of("identity", {}) > 0
    assert weight_of("identity", {"gzip": 1.0}) > 0
    assert weight_of("identity", {"*": 0.0}) == 0
    assert weight_of("identity", {"*": 0.0, "identity": 0.2}) == 0.2
    assert weight_of("identity", {"*": 0.7}) < 0.001  # `*` speaks for codings, not for identity


@given(st.text(max_size=200))
def test_any_header_gets_an_offered_coding_or_identity(header: str) -> None:
    assert choose_coding(header) in ("gzip", "identity")


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["gzip", "x-gzip", "identity", "*", "br", "deflate"]),
            st.sampled_from(["", ";q=0", ";q=0.0", ";q=0.5", ";q=1", ";q=0.001"]),
        ),
        max_size=6,
    )
)
def test_gzip_only_when_its_weight_is_positive_and_at_least_identitys(entries: list[tuple[str, str]]) -> None:
    header = ", ".join(coding + weight for coding, weight in entries)
    weights = parse_accept_encoding(header)
    gzip, identity = weight_of("gzip", weights), weight_of("identity", weights)
    assert (choose_coding(header) == "gzip") == (gzip > 0 and gzip >= identity)
