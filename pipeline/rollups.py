"""Tumbling time windows ("rollups") of a sensor's readings: pure arithmetic, no I/O.

A window is one sensor's readings whose own timestamps (event time) fall in one UTC-aligned
bucket `[start, start + size)`: 1 minute or 1 hour. Its statistics are count, min, max and
the mean to 2 decimals (halves away from zero, exactly as the summaries'). A reading is
identified by (sensor_id, id), so one stored twice counts once. The stores and the
summariser both use this module: it lives in the shared core, not in a service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.readings import Reading, format_timestamp, parse_timestamp
from pipeline.statistics import mean_to_cents

# Bucket name -> its length in seconds.
BUCKETS: dict[str, int] = {"1m": 60, "1h": 3600}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_seconds(bucket: str) -> int:
    """The bucket's length in seconds; ValueError naming the sizes for an unknown one."""
    try:
        return BUCKETS[bucket]
    except KeyError:
        raise ValueError(f"bucket: one of {list(BUCKETS)}, not {bucket!r}") from None


def floor_to_bucket(moment: datetime, bucket: str) -> datetime:
    """The start of the bucket holding this moment (UTC-aligned)."""
    size = bucket_seconds(bucket)
    seconds = int((moment.astimezone(UTC) - _EPOCH) // timedelta(seconds=1))
    return _EPOCH + timedelta(seconds=seconds - seconds % size)


def bucket_start(timestamp: str, bucket: str) -> str:
    """The canonical start of the bucket holding this canonical timestamp."""
    return format_timestamp(floor_to_bucket(parse_timestamp(timestamp), bucket))


def bucket_end(start: str, bucket: str) -> str:
    """The canonical (exclusive) end of the bucket starting at `start`."""
    return format_timestamp(parse_timestamp(start) + timedelta(seconds=bucket_seconds(bucket)))


def bucket_count(start: datetime, end: datetime, bucket: str) -> int:
    """How many bucket starts lie in `[start, end)`."""
    if end <= start:
        return 0
    first = floor_to_bucket(start, bucket)
    if first < start:
        first += timedelta(seconds=bucket_seconds(bucket))
    if first >= end:
        return 0
    return int((end - first - timedelta(microseconds=1)) // timedelta(seconds=bucket_seconds(bucket))) + 1


def rollup_id(sensor_id: str, bucket: str, start: str) -> str:
    """The window's deterministic id: the same bucket always has the same document."""
    return f"{sensor_id}-{bucket}-{start}"


@dataclass(frozen=True)
class Rollup:
    """One non-empty bucket of one sensor."""

    sensor_id: str
    bucket: str
    start: str
    count: int
    min: float
    max: float
    avg: float

    @property
    def id(self) -> str:
        """The document id: `rollup_id` of its sensor, bucket and start."""
        return rollup_id(self.sensor_id, self.bucket, self.start)

    def to_document(self) -> dict[str, Any]:
        """The bucket as the HTTP API shows it."""
        return {"start": self.start, "count": self.count, "min": self.min, "max": self.max, "avg": self.avg}

    def to_stored(self) -> dict[str, Any]:
        """The document a store keeps (Cosmos DB: one item per bucket, partitioned by sensor)."""
        return {"id": self.id, "sensor_id": self.sensor_id, "bucket": self.bucket, **self.to_document()}

    @classmethod
    def from_stored(cls, document: Mapping[str, Any]) -> Rollup:
        """The window a store kept (`to_stored`'s fields)."""
        return cls(
            sensor_id=str(document["sensor_id"]),
            bucket=str(document["bucket"]),
            start=str(document["start"]),
            count=int(document["count"]),
            min=float(document["min"]),
            max=float(document["max"]),
            avg=float(document["avg"]),
        )


def rollup_of(sensor_id: str, bucket: str, start: str, readings: Iterable[Reading]) -> Rollup | None:
    """The window of the bucket starting at `start` from these readings (others ignored).

    Readings of other sensors or outside the bucket are left out; a reading present twice
    (the same id) counts once. None when no reading is in the bucket.
    """
    end = bucket_end(start, bucket)
    inside = {r.id: r for r in readings if r.sensor_id == sensor_id and start <= r.timestamp < end}
    if not inside:
        return None
    temperatures = [reading.temperature for reading in inside.values()]
    return Rollup(
        sensor_id=sensor_id,
        bucket=bucket,
        start=start,
        count=len(temperatures),
        min=min(temperatures),
        max=max(temperatures),
        avg=mean_to_cents(temperatures),
    )


def rollups_of(sensor_id: str, bucket: str, readings: Iterable[Reading]) -> list[Rollup]:
    """Every non-empty window of these readings, oldest first: the recomputation."""
    by_start: dict[str, list[Reading]] = {}
    for reading in readings:
        if reading.sensor_id == sensor_id:
            by_start.setdefault(bucket_start(reading.timestamp, bucket), []).append(reading)
    # Each window from its own readings only: one pass, not one per window.
    found = (rollup_of(sensor_id, bucket, start, by_start[start]) for start in sorted(by_start))
    return [rollup for rollup in found if rollup is not None]
