"""Shared by the time-window tests: a late, duplicated load and its windows recomputed independently."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from pipeline.readings import format_timestamp, parse_timestamp
from pipeline.storage import Store

BUCKET_SECONDS = {"1m": 60, "1h": 3600}
EVERYTHING = ("0000-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z")


def late_load(
    sensors: int, hours: float, gap_s: int, seed: int
) -> tuple[list[dict[str, Any]], list[list[dict]]]:
    """Readings over `hours` of event time ending about now, and the posts that carry them.

    Every `gap_s` seconds per sensor from an hour boundary, so some fall exactly on minute
    and hour boundaries; the others get a random millisecond offset. About 20% arrive after
    later ones and about 5% are posted twice.
    """
    rng = random.Random(seed)
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=math.ceil(hours))
    steps = int(hours * 3600 / gap_s)
    readings = []
    for n in range(steps):
        for s in range(sensors):
            moment = start + timedelta(seconds=n * gap_s)
            if rng.random() < 0.5:
                moment += timedelta(milliseconds=rng.randint(1, gap_s * 1000 - 1))
            readings.append(
                {
                    "id": f"r{n:05d}-{s}",
                    "sensor_id": f"dev-{s + 1}",
                    "temperature": round(rng.uniform(-10, 35), rng.choice([1, 2])),
                    "timestamp": format_timestamp(moment),
                }
            )
    # ~20% of the readings are held back by 1-300 places: they arrive after later ones.
    held = {n: rng.randint(1, 300) if rng.random() < 0.2 else 0 for n in range(len(readings))}
    arrival = [readings[n] for n in sorted(range(len(readings)), key=lambda n: n + held[n])]
    posts: list[list[dict]] = []
    while arrival:
        size = rng.randint(1, 12)
        posts.append(arrival[:size])
        arrival = arrival[size:]
    # ~5% posted twice, later (a device retrying, or a resend).
    for post in list(posts):
        again = [reading for reading in post if rng.random() < 0.05]
        if again:
            posts.insert(min(len(posts), posts.index(post) + rng.randint(1, 40)), again)
    return readings, posts


def late_share(posts: Sequence[Sequence[Mapping[str, Any]]]) -> float:
    newest: dict[str, str] = {}
    late = total = 0
    for post in posts:
        for reading in post:
            total += 1
            late += reading["timestamp"] < newest.get(reading["sensor_id"], "")
            newest[reading["sensor_id"]] = max(newest.get(reading["sensor_id"], ""), reading["timestamp"])
    return late / total


def expected_windows(readings: Sequence[Mapping[str, Any]], sensor_id: str, bucket: str) -> list[dict]:
    """Every non-empty window of the sensor, recomputed here without the code under test."""
    size = BUCKET_SECONDS[bucket]
    by_start: dict[datetime, dict[str, float]] = {}
    for reading in readings:
        if reading["sensor_id"] != sensor_id:
            continue
        moment = parse_timestamp(reading["timestamp"])
        start = datetime.fromtimestamp(int(moment.timestamp()) // size * size, UTC)
        by_start.setdefault(start, {})[reading["id"]] = reading["temperature"]
    windows = []
    for start in sorted(by_start):
        values = list(by_start[start].values())
        mean = sum(Fraction(str(v)) for v in values) / len(values)
        cents = math.copysign(math.floor(abs(mean) * 100 + Fraction(1, 2)), mean) / 100
        windows.append(
            {
                "start": format_timestamp(start),
                "count": len(values),
                "min": min(values),
                "max": max(values),
                "avg": cents + 0.0,
            }
        )
    return windows


def assert_windows_exact(store: Store, readings: Sequence[Mapping[str, Any]]) -> int:
    """Every 1m and 1h window the store answers equals its recomputation; returns how many."""
    checked = 0
    for sensor_id in sorted({r["sensor_id"] for r in readings}):
        for bucket in BUCKET_SECONDS:
            found = [window.to_document() for window in store.rollups(sensor_id, bucket, *EVERYTHING)]
            expected = expected_windows(readings, sensor_id, bucket)
            assert found == expected, (sensor_id, bucket)
            # The written ones alone: all but the open (newest) bucket, read without it.
            written = [w.to_document() for w in store.stored_rollups(sensor_id, bucket, *EVERYTHING)]
            assert written == expected[:-1], (sensor_id, bucket)
            checked += len(found)
    return checked
