"""Turn one change-feed batch of reading documents into summaries and dead letters.

Correct under the trigger's real delivery semantics: at least once, ordered only per
sensor. Each sensor's summary is "as of" its newest reading in the batch and covers the
latest readings with timestamp <= that reading's, read from the store, so the result
does not depend on how the feed was split into batches, nor on redelivery or replays.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.readings import (
    DeadLetter,
    InvalidReading,
    Reading,
    Summary,
    format_timestamp,
    reading_from_document,
)
from pipeline.storage import LatestMoved, Store
from summariser.window import summarise_window
from summariser.window_cache import CachedWindow, WindowCache, newest_first

log = logging.getLogger(__name__)

MAX_PARALLEL_SENSORS = 16
# A dead letter keeps the original payload; past this it is cut (and says so) so that
# one absurd document cannot exceed the store's 2 MB item limit and block the batch.
MAX_DEAD_LETTER_PAYLOAD = 100_000


@dataclass(frozen=True)
class BatchOutcome:
    readings: int
    summaries: list[Summary]
    dead_letters: list[DeadLetter]


def _payload_text(document: Any) -> str:
    try:
        text = json.dumps(document, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        text = repr(document)
    if len(text) > MAX_DEAD_LETTER_PAYLOAD:
        return text[:MAX_DEAD_LETTER_PAYLOAD] + f"... [cut: {len(text)} characters in all]"
    return text


def dead_letter_for(document: Any, reason: str, now: datetime) -> DeadLetter:
    """A deterministic dead letter: the same document always gets the same id."""
    payload = _payload_text(document)
    source_id = document.get("id") if isinstance(document, Mapping) else None
    return DeadLetter(
        id=hashlib.sha256(payload.encode()).hexdigest()[:32],
        source_id=source_id[:200] if isinstance(source_id, str) else None,
        reason=reason[:1000],
        received_at=format_timestamp(now),
        payload=payload,
    )


def _summarise_sensor(
    store: Store, cache: WindowCache, sensor_id: str, batch_readings: list[Reading],
    window_size: int,
) -> Summary:
    as_of = max(reading.timestamp for reading in batch_readings)
    cached = cache.get(sensor_id)
    if cached is not None and min(r.timestamp for r in batch_readings) > cached.as_of:
        # Fast path: every reading is newer than the cached window, which is still the
        # sensor's history if the pointer is where this instance left it.
        window = newest_first([*cached.window, *batch_readings], window_size)
        summary = summarise_window(sensor_id, as_of, window)
        try:
            marker = store.move_latest(summary, cached.marker)
        except LatestMoved:
            cache.forget([sensor_id])
        else:
            store.put_summary(summary)
            cache.put(sensor_id, CachedWindow(as_of, tuple(window), marker))
            return summary
    stored = store.reading_window(sensor_id, as_of, window_size)
    # The batch's own readings are merged in, so a store that has not yet made a
    # just-written reading visible to queries cannot leave it out of its own window.
    window = newest_first([*stored, *batch_readings], window_size)
    summary = summarise_window(sensor_id, as_of, window)
    marker = store.move_latest(summary, None)
    store.put_summary(summary)
    if marker.timestamp == as_of:
        cache.put(sensor_id, CachedWindow(as_of, tuple(window), marker))
        return summary
    # A late batch: newer summaries exist and their windows may now miss these readings.
    # Recompute the newest one, so the summary users see covers every reading that arrived.
    cache.forget([sensor_id])
    newest = summarise_window(
        sensor_id, marker.timestamp, store.reading_window(sensor_id, marker.timestamp, window_size)
    )
    store.move_latest(newest, marker)
    store.put_summary(newest)
    return summary


def summarise_batch(
    documents: Iterable[Any], store: Store, window_size: int, now: datetime,
    cache: WindowCache | None = None,
) -> BatchOutcome:
    """Summarise every sensor in the batch; dead-letter what fails validation.

    Store errors propagate: the trigger's retry policy then redelivers the whole batch,
    which is safe because every write is an idempotent upsert under a deterministic id.
    """
    by_sensor: dict[str, list[Reading]] = defaultdict(list)
    dead_letters: list[DeadLetter] = []
    count = 0
    for document in documents:
        count += 1
        if not isinstance(document, Mapping):
            dead_letters.append(dead_letter_for(document, "not a JSON object", now))
            continue
        try:
            reading = reading_from_document(document)
        except InvalidReading as invalid:
            dead_letters.append(dead_letter_for(document, str(invalid), now))
            continue
        by_sensor[reading.sensor_id].append(reading)

    if dead_letters:
        store.add_dead_letters(dead_letters)
        for letter in dead_letters:
            log.warning("dead-lettered reading %s: %s", letter.source_id, letter.reason,
                        extra={"reading_id": letter.source_id})

    summaries: list[Summary] = []
    cache = cache if cache is not None else WindowCache()
    if by_sensor:
        workers = min(MAX_PARALLEL_SENSORS, len(by_sensor))
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="summarise") as pool:
                futures = [
                    pool.submit(_summarise_sensor, store, cache, sensor_id, readings, window_size)
                    for sensor_id, readings in by_sensor.items()
                ]
                # result() re-raises the first store error, so the batch fails as a whole.
                summaries = [future.result() for future in futures]
        except BaseException:
            # The batch will be redelivered (or skipped): what was cached for its sensors
            # may no longer be their history, so they take the query path next time.
            cache.forget(by_sensor)
            raise
    return BatchOutcome(readings=count, summaries=summaries, dead_letters=dead_letters)
