"""Checks shared by the end-to-end tests: independent recomputation, waiting, a list feed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from pipeline.storage import FeedBatch


def eventually(
    check: Callable[[], Any],
    timeout: float,
    what: str,
    interval: float = 0.2,
    pause: Callable[[float], None] = time.sleep,
) -> Any:
    """The first truthy result of `check` within `timeout` s (an HTTP error counts as not yet).

    `pause` waits between tries: a browser test passes one that lets Playwright deliver
    the page's events meanwhile.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := check():
                return result
        except httpx.HTTPError:
            pass
        pause(interval)
    raise AssertionError(f"not within {timeout} s: {what}")


def recompute(readings: list[Mapping[str, Any]], as_of: str, size: int = 10) -> dict[str, float]:
    """min/max/mean/count of the latest `size` readings with timestamp <= as_of."""
    window = sorted(
        (r for r in readings if r["timestamp"] <= as_of),
        key=lambda r: (r["timestamp"], r["id"]),
        reverse=True,
    )[:size]
    temperatures = [r["temperature"] for r in window]
    return {
        "max_temp": max(temperatures),
        "min_temp": min(temperatures),
        "count": len(window),
        "mean": sum(temperatures) / len(window),
    }


def assert_summaries_exact(
    sensor: str,
    readings: list[Mapping[str, Any]],
    summaries: list[Mapping[str, Any]],
) -> None:
    """Every summary equals a recomputation from the readings; one summary per as-of reading."""
    assert summaries, f"{sensor} has no summaries"
    # Not the ids (the store's key makes those unique anyway): two summaries as of the same
    # reading would mean a redelivery wrote a duplicate under another id.
    as_of = [s["timestamp"] for s in summaries]
    assert len(as_of) == len(set(as_of)), f"two summaries as of the same reading for {sensor}"
    for summary in summaries:
        expected = recompute(readings, summary["timestamp"])
        assert summary["id"] == f"{sensor}-{summary['timestamp']}"
        assert summary["count"] == expected["count"], summary
        assert summary["max_temp"] == expected["max_temp"], summary
        assert summary["min_temp"] == expected["min_temp"], summary
        assert abs(summary["avg_temp"] - expected["mean"]) <= 0.005 + 1e-9, summary


def check_api_summaries(url: str, sensors: list[str]) -> dict[str, list[dict]]:
    """Check every sensor's summaries against its readings, both read through the HTTP API."""
    found = {}
    for sensor in sensors:
        # Summaries first: readings written meanwhile are newer than every summary read, so
        # they cannot change any recomputation, while the other order races with the pipeline.
        summaries = httpx.get(f"{url}/api/sensors/{sensor}/summaries", params={"limit": 500}).json()
        readings = httpx.get(f"{url}/api/sensors/{sensor}/readings", params={"limit": 500}).json()
        assert_summaries_exact(sensor, readings, summaries)
        found[sensor] = summaries
    return found


class ListFeed:
    """A change feed over documents appended in order: what the trigger would deliver."""

    def __init__(self) -> None:
        self._documents: list[dict[str, Any]] = []
        self._positions: dict[str, int] = {}
        self._lock = threading.Lock()

    def append(self, documents: list[dict[str, Any]]) -> None:
        with self._lock:
            self._documents.extend(documents)

    def read_feed(self, consumer: str, max_items: int) -> FeedBatch:
        with self._lock:
            start = self._positions.get(consumer, 0)
            documents = [dict(d) for d in self._documents[start : start + max_items]]
            return FeedBatch(documents=documents, position=start + len(documents))

    def commit_feed(self, consumer: str, position: int) -> None:
        with self._lock:
            self._positions[consumer] = max(position, self._positions.get(consumer, 0))

    def feed_backlog(self, consumer: str) -> int:
        with self._lock:
            return len(self._documents) - self._positions.get(consumer, 0)
