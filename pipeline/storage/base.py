"""The storage contract: only the operations the generator, summariser and visualiser need."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.readings import (
    DeadLetter,
    InvalidReading,
    Reading,
    Summary,
    normalise_timestamp,
    reading_from_document,
)
from pipeline.rollups import Rollup, bucket_end, bucket_start, rollup_of

# A summary history never includes the per-sensor "latest" pointer.
LATEST_POINTER_ID = "latest"
# Later than every canonical timestamp: a window "as of" it is the newest readings.
END_OF_TIME = "9999-12-31T23:59:59.999Z"


class StoreError(RuntimeError):
    """The store failed; callers on a trigger let it raise so the retry policy redelivers."""


class StoreUnavailable(StoreError):
    """The store could not be reached or is throttling beyond the configured retries."""


class StoreNotWritable(StoreUnavailable):
    """The store answers but cannot persist a write: its file is gone, read-only or full.

    `reason` says which in words fit for a public health report (no file paths).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LatestMoved(StoreError):
    """The sensor's latest pointer changed since the caller last saw it (another writer)."""


class ReadingConflict(Exception):
    """Readings already stored under these (sensor_id, id) hold other content: nothing was written.

    Not a StoreError: the store is healthy, the request is wrong, so circuit breakers and
    retry policies must not count it.
    """

    def __init__(self, keys: Sequence[tuple[str, str]]) -> None:
        self.keys = list(keys)
        shown = ", ".join(f"{sensor_id}/{reading_id}" for sensor_id, reading_id in self.keys[:20])
        more = f" and {len(self.keys) - 20} more" if len(self.keys) > 20 else ""
        super().__init__(f"readings are immutable; stored with other content: {shown}{more}")


def reading_key(document: Mapping[str, Any]) -> tuple[str, str]:
    """A reading's identity, as in Cosmos DB: (partition key, id).

    The partition key is written as its text when it is a string, else as JSON, so
    that malformed documents (kept for the dead-letter path) still have one identity.
    """
    sensor_id = document.get("sensor_id")
    partition = sensor_id if isinstance(sensor_id, str) else json.dumps(sensor_id, default=repr)
    return partition, str(document.get("id"))


def _temperature_content(value: Any) -> Any:
    # 20 and 20.0 are the same temperature; NaN is kept as text by the SQLite store.
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else repr(number)
    return value


def _timestamp_content(value: Any) -> Any:
    try:
        return normalise_timestamp(value)
    except ValueError:
        return value


def reading_content(document: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    """What makes two documents the same reading: sensor, temperature, canonical timestamp.

    Other fields (a correlation id, Cosmos DB's `_rid`, `_ts`, `_etag`) are not content.
    """
    return (
        document.get("sensor_id"),
        _temperature_content(document.get("temperature")),
        _timestamp_content(document.get("timestamp")),
    )


def new_readings(
    documents: Iterable[Mapping[str, Any]],
    stored: Mapping[tuple[str, str], Mapping[str, Any]],
) -> list[Mapping[str, Any]]:
    """The documents not stored yet, once each; raise ReadingConflict if any id is taken.

    `stored` holds the documents already in the store under the same keys. A document
    equal in content to the stored one (or to an earlier one of the same request) is an
    idempotent retry; one with other content refuses the whole request.
    """
    fresh: dict[tuple[str, str], Mapping[str, Any]] = {}
    conflicts: dict[tuple[str, str], None] = {}
    for document in documents:
        key = reading_key(document)
        earlier = stored.get(key) or fresh.get(key)
        if earlier is None:
            fresh[key] = document
        elif reading_content(earlier) != reading_content(document):
            conflicts[key] = None
    if conflicts:
        raise ReadingConflict(list(conflicts))
    return [document for key, document in fresh.items() if key not in stored]


@dataclass(frozen=True)
class LatestMarker:
    """What a writer knows of a sensor's latest pointer: its timestamp and version (etag)."""

    timestamp: str
    version: str


@dataclass(frozen=True)
class LatestSummary:
    """A sensor's newest summary and the revision of its pointer.

    The revision moves with every publication for the sensor: a new summary, a corrected
    one, older ones repaired by a late reading (the newest unchanged), or a redelivered
    batch writing the same values again. So a reader that keeps it knows when anything in
    the sensor's history may have changed, not only its newest summary.
    """

    summary: Summary
    revision: str
    # The revision this one replaced, when the publication that made it only appended one
    # summary newer than every other (`is_append`); None: not an append, or not known (the
    # SQLite store does not say). A reader holding the history as of `appended_to` knows
    # the history now without asking: the new summary, then the one it holds.
    appended_to: str | None = None


def is_append(expected: LatestMarker, summary: Summary, repairs: Sequence[Summary]) -> bool:
    """Whether a publication's sole change to the sensor's summaries is one new newest summary.

    `expected` is the pointer the compare-and-swap replaces, which names the newest summary
    stored: a summary strictly newer than it is new (no rewrite of an existing id), and with
    no repairs nothing older is touched. A first pointer (`NO_POINTER`) is never an append:
    no reader can hold a history to extend.
    """
    return expected != NO_POINTER and not repairs and summary.timestamp > expected.timestamp


@dataclass(frozen=True)
class SensorState:
    """A sensor's latest summary, the window it was computed from, and the pointer's version.

    Kept in the sensor's "latest" pointer document, so a summariser that starts cold, or
    takes over a sensor from another instance, needs no window query to continue.
    """

    summary: Summary
    window: tuple[Reading, ...]
    marker: LatestMarker


def valid_readings(documents: Iterable[Mapping[str, Any]]) -> list[Reading]:
    """The documents that are valid readings; the others are the summariser's dead letters."""
    valid = []
    for document in documents:
        try:
            valid.append(reading_from_document(document))
        except InvalidReading:
            continue  # dead-lettered by the summariser; never part of a window
    return valid


def encode_window(window: Sequence[Reading]) -> list[list[Any]]:
    """A window as compact JSON: [[timestamp, id, temperature], ...], newest first."""
    return [[reading.timestamp, reading.id, reading.temperature] for reading in window]


def decode_window(sensor_id: str, encoded: Sequence[Sequence[Any]]) -> tuple[Reading, ...]:
    return tuple(
        Reading(
            id=str(reading_id), sensor_id=sensor_id, temperature=float(temperature), timestamp=str(timestamp)
        )
        for timestamp, reading_id, temperature in encoded
    )


# The marker of a sensor that has no pointer yet: publishing against it creates the pointer.
NO_POINTER = LatestMarker("", "")


@dataclass(frozen=True)
class Publication:
    """Summaries to write for one sensor, then its pointer moved by compare-and-swap.

    `summary` and `window` are the pointer's new content (the sensor's newest summary);
    `repairs` are older summaries of the same sensor rewritten with it. The summaries are
    written before the pointer moves, so a writer whose compare-and-swap succeeds knows
    that nobody published for the sensor between its reading `expected` and its write.

    `expected=None` means "read the pointer first": it then moves forward only, and a newer
    pointer is touched (new version, same content) instead, so that every writer that
    remembers it learns the sensor's history changed. With an `expected` older than the
    pointer's summary, the pointer is touched as well.
    """

    summary: Summary
    window: tuple[Reading, ...]
    expected: LatestMarker | None
    repairs: tuple[Summary, ...] = ()


class Store(Protocol):
    """What the three services need from a document store.

    Every write is idempotent: documents are upserted by id, so a retry or a replay of
    the same input leaves the store as one delivery would.
    """

    def ensure_ready(self) -> None:
        """Create the database and containers if missing (local runs and tests only)."""

    def put_readings(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Store raw reading documents, all or nothing; return how many were accepted.

        Readings are immutable: a document whose (sensor_id, id) is stored already is
        accepted without a write when its content is the same (a retry), and refuses the
        whole call with ReadingConflict when it differs.
        """

    def reading_window(self, sensor_id: str, as_of: str, size: int) -> list[Reading]:
        """The sensor's latest `size` valid readings with timestamp <= as_of, newest first.

        Ties on timestamp are broken by id, descending, so the window is deterministic.
        """

    def sensor_states(self, sensor_ids: Sequence[str]) -> dict[str, SensorState]:
        """The latest state of each of these sensors that has one (point reads of their pointers)."""

    def publish(self, publications: Sequence[Publication]) -> list[LatestMarker | None]:
        """Upsert each publication's summaries, then move its sensor's pointer (compare-and-swap).

        Returns, per publication, the pointer as it now is, or None where `expected` was
        stale (another writer moved it). Then the summaries may or may not have been
        written (a transactional store rolls them back): the caller must publish them
        again, recomputed from what the store holds now.
        """

    def readings_after(self, sensor_id: str, after: str, size: int) -> list[Reading]:
        """The sensor's earliest `size` valid readings with timestamp > after, oldest first."""

    def summaries_between(self, sensor_id: str, start: str, end: str, limit: int) -> list[Summary]:
        """The sensor's summaries with start <= timestamp < end, oldest first, at most `limit`."""

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Upsert dead letters by id."""

    def latest_summaries(self) -> dict[str, Summary]:
        """Every sensor's newest summary, from one query."""

    def latest_pointers(self) -> dict[str, LatestSummary]:
        """Every sensor's newest summary with its pointer's revision, from one query."""

    def recent_summaries(self, sensor_id: str, limit: int, traced: bool = True) -> list[Summary]:
        """A sensor's summaries, newest first.

        With `traced=False` without their correlation ids (a chart needs only the
        statistics), which a store may use to return less: on Cosmos DB a query is
        charged for the data it returns.
        """

    def recent_readings(self, sensor_id: str, limit: int) -> list[Reading]:
        """A sensor's valid readings, newest first."""

    def recent_dead_letters(self, limit: int) -> list[DeadLetter]:
        """Dead letters, newest first."""

    def readings_between(self, sensor_id: str, start: str, end: str) -> list[Reading]:
        """The sensor's valid readings with start <= timestamp < end, oldest first."""

    def put_rollups(self, rollups: Sequence[Rollup]) -> None:
        """Upsert time windows by (sensor, bucket, start), never over one with a higher count."""

    def stored_rollups(self, sensor_id: str, bucket: str, start: str, end: str) -> list[Rollup]:
        """The windows written for bucket starts in [start, end), oldest first (never the open one)."""

    def rollups(self, sensor_id: str, bucket: str, start: str, end: str) -> list[Rollup]:
        """The sensor's non-empty `bucket` windows ("1m", "1h") starting in [start, end), oldest first.

        The closed windows as written, and the open one (the bucket of the sensor's newest
        summary) computed from its readings. ValueError for an unknown bucket size.
        """

    def ping(self) -> None:
        """Raise StoreError if the store cannot answer a trivial request."""

    def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True)
class FeedBatch:
    """Documents from a change feed and the position to commit once they are processed."""

    documents: list[dict[str, Any]]
    position: int


class ChangeFeed(Protocol):
    """A resumable change feed of the readings container, ordered per sensor."""

    def read_feed(self, consumer: str, max_items: int) -> FeedBatch:
        """The next documents after the consumer's committed position (at least once)."""

    def commit_feed(self, consumer: str, position: int) -> None:
        """Checkpoint: the consumer has processed everything up to `position`."""

    def feed_backlog(self, consumer: str) -> int:
        """How many changes the consumer has not processed yet."""


class _ReadsBuckets(Protocol):
    def readings_between(self, sensor_id: str, start: str, end: str) -> list[Reading]: ...


def with_open_bucket(
    store: _ReadsBuckets,
    sensor_id: str,
    bucket: str,
    start: str,
    end: str,
    latest: str | None,
    stored: Sequence[Rollup],
) -> list[Rollup]:
    """The stored windows plus the open one, computed from its readings, oldest first.

    The open bucket is the one holding `latest`, the sensor's newest summary's timestamp:
    the summariser writes a window only once a later reading closed it (see
    summariser/rollups.py).
    """
    by_start = {rollup.start: rollup for rollup in stored}
    if latest:
        still_open = bucket_start(latest, bucket)
        if start <= still_open < end:
            readings = store.readings_between(sensor_id, still_open, bucket_end(still_open, bucket))
            window = rollup_of(sensor_id, bucket, still_open, readings)
            if window is not None:
                by_start[still_open] = window
    return [by_start[key] for key in sorted(by_start)]
