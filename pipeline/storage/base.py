"""The storage contract: only the operations the generator, summariser and visualiser need."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.readings import DeadLetter, InvalidReading, Reading, Summary, reading_from_document

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


@dataclass(frozen=True)
class LatestMarker:
    """What a writer knows of a sensor's latest pointer: its timestamp and version (etag)."""

    timestamp: str
    version: str


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


@dataclass(frozen=True)
class Publication:
    """A summary to publish, with its window and the pointer version it was computed against.

    `expected=None` means "read the pointer first": it then moves forward only, and a newer
    pointer is touched (new version, same content) instead, so that every writer that
    remembers it learns the sensor's history changed.
    """

    summary: Summary
    window: tuple[Reading, ...]
    expected: LatestMarker | None


class Store(Protocol):
    """What the three services need from a document store.

    Every write is idempotent: documents are upserted by id, so a retry or a replay of
    the same input leaves the store as one delivery would.
    """

    def ensure_ready(self) -> None:
        """Create the database and containers if missing (local runs and tests only)."""

    def put_readings(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Upsert raw reading documents as a device or output binding would; return the count."""

    def reading_window(self, sensor_id: str, as_of: str, size: int) -> list[Reading]:
        """The sensor's latest `size` valid readings with timestamp <= as_of, newest first.

        Ties on timestamp are broken by id, descending, so the window is deterministic.
        """

    def sensor_states(self, sensor_ids: Sequence[str]) -> dict[str, SensorState]:
        """The latest state of each of these sensors that has one (one query per 500)."""

    def publish(self, publications: Sequence[Publication]) -> list[LatestMarker | None]:
        """Move each sensor's pointer (compare-and-swap) and, where it moved, upsert the summary.

        Returns, per publication, the pointer as it now is, or None where `expected` was
        stale (another writer moved it): then nothing of that publication was written.
        """

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Upsert dead letters by id."""

    def latest_summaries(self) -> dict[str, Summary]:
        """Every sensor's newest summary, from one query."""

    def recent_summaries(self, sensor_id: str, limit: int) -> list[Summary]:
        """A sensor's summaries, newest first."""

    def recent_readings(self, sensor_id: str, limit: int) -> list[Reading]:
        """A sensor's valid readings, newest first."""

    def recent_dead_letters(self, limit: int) -> list[DeadLetter]:
        """Dead letters, newest first."""

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
