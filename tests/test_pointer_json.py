"""The embedded store's JSON (orjson, with json.dumps where orjson would differ) reads back as written."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeline.readings import Reading, Summary, summary_id
from pipeline.storage import NO_POINTER, Publication
from pipeline.storage.sqlite_store import SqliteStore
from pipeline.storage.sqlite_summaries import _json


def same(written: Any, read: Any) -> bool:
    """Equal, and of the same type: a NaN equals a NaN, -0.0 is not 0.0, a tuple reads back as a list."""
    if isinstance(written, tuple):
        written = list(written)
    if type(written) is not type(read):
        return False
    if isinstance(written, float):
        if math.isnan(written):
            return math.isnan(read)
        return written == read and math.copysign(1.0, written) == math.copysign(1.0, read)
    if isinstance(written, list):
        return len(written) == len(read) and all(same(w, r) for w, r in zip(written, read, strict=True))
    if isinstance(written, dict):
        return list(written) == list(read) and all(same(written[key], read[key]) for key in written)
    return bool(written == read)


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**70), 2**70),  # orjson refuses beyond 64 bits
    st.floats(),  # NaN and infinities: orjson writes them as null
    st.text(),  # lone surrogates: orjson refuses them
    st.sampled_from([-0.0, 1e16, 5e-324, 2**64 - 1, 2**64, -(2**63) - 1, "null", "a null", "\ud800"]),
)
documents = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text() | st.just("null"), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)  # the @examples below pin the known hard cases
@given(documents)
@example({"avg_temp": math.nan, "max_temp": math.inf, "min_temp": -math.inf})
@example([["2026-01-01T00:00:00.000Z", "null", 20.5]])
@example({"id": "\udc00", "count": 10**30, "t": [-0.0, 1e16, 5e-324]})
@example({"ü": "温度 🌡"})
def test_a_document_reads_back_as_written(document: Any) -> None:
    assert same(document, json.loads(_json(document)))


def test_a_pointer_with_hostile_reading_ids_reads_back_as_written(tmp_path: Path) -> None:
    # Change-feed reading ids are any non-empty string: these take json.dumps' path.
    stamp = "2026-01-01T00:00:00.000Z"
    window = tuple(
        Reading(reading_id, "s", temperature, stamp)
        for reading_id, temperature in [("\ud800", -100.0), ("null", 5e-324), ("温度", 100.0), ("n", 0.01)]
    )
    summary = Summary(summary_id("s", stamp), "s", stamp, 100.0, -100.0, 0.0, 4, ("c-1",), stamp)
    store = SqliteStore(tmp_path / "store.db")
    try:
        assert store.publish([Publication(summary, window, NO_POINTER)]) != [None]
        state = store.sensor_states(["s"])["s"]
    finally:
        store.close()
    assert state.summary == summary and state.summary.last_heard == stamp
    assert state.window == window
    assert [repr(r.temperature) for r in state.window] == [repr(r.temperature) for r in window]
