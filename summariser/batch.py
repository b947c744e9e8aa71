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
from pipeline.storage import Store
from summariser.window import summarise_window

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
    store: Store, sensor_id: str, batch_readings: list[Reading], window_size: int
) -> Summary:
    as_of = max(reading.timestamp for reading in batch_readings)
    stored = store.reading_window(sensor_id, as_of, window_size)
    # The batch's own readings are merged in, so a store that has not yet made a
    # just-written reading visible to queries cannot leave it out of its own window.
    by_id = {reading.id: reading for reading in stored}
    by_id.update((reading.id, reading) for reading in batch_readings)
    window = sorted(by_id.values(), key=lambda r: (r.timestamp, r.id), reverse=True)[:window_size]
    summary = summarise_window(sensor_id, as_of, window)
    store.upsert_summaries([summary])
    return summary


def summarise_batch(
    documents: Iterable[Any], store: Store, window_size: int, now: datetime
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
            log.warning("dead-lettered reading %s: %s", letter.source_id, letter.reason)

    summaries: list[Summary] = []
    if by_sensor:
        workers = min(MAX_PARALLEL_SENSORS, len(by_sensor))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="summarise") as pool:
            futures = [
                pool.submit(_summarise_sensor, store, sensor_id, readings, window_size)
                for sensor_id, readings in by_sensor.items()
            ]
            # result() re-raises the first store error, so the batch fails as a whole.
            summaries = [future.result() for future in futures]
    return BatchOutcome(readings=count, summaries=summaries, dead_letters=dead_letters)
