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
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar, cast

from pipeline.correlation import distinct, valid_correlation_id
from pipeline.readings import (
    DeadLetter,
    InvalidReading,
    Reading,
    Summary,
    format_timestamp,
    reading_from_document,
)
from pipeline.storage import Publication, SensorState, Store
from summariser.collector import spaced_collections
from summariser.repair import plan_sensor, publish_until_swapped
from summariser.rollup_writer import WindowingStore, next_open_minute
from summariser.state_cache import OpenMinute, SensorStateCache, newest_first
from summariser.window import summarise_window

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

MAX_PARALLEL_SENSORS = 16
# A dead letter keeps the original payload; past this it is cut (and says so) so that
# one absurd document cannot exceed the store's 2 MB item limit and block the batch.
MAX_DEAD_LETTER_PAYLOAD = 100_000


@dataclass(frozen=True)
class BatchOutcome:
    readings: int
    summaries: list[Summary]
    dead_letters: list[DeadLetter]
    # Summaries rewritten besides the batch's own: those late readings entered.
    repaired: int = 0


class _Pool:
    """The batch's worker threads, started only if a sensor takes the slow path."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None

    def map(self, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
        if not items:
            return []
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="summarise")
        return list(self._executor.map(work, items))

    def __enter__(self) -> _Pool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._executor is not None:
            self._executor.shutdown()


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
    correlation_id = document.get("correlation_id") if isinstance(document, Mapping) else None
    return DeadLetter(
        id=hashlib.sha256(payload.encode()).hexdigest()[:32],
        source_id=source_id[:200] if isinstance(source_id, str) else None,
        reason=reason[:1000],
        received_at=format_timestamp(now),
        payload=payload,
        correlation_id=valid_correlation_id(correlation_id),
    )


def _from_state(
    state: SensorState, batch_readings: list[Reading], window_size: int, received: str
) -> Publication:
    """The fast path: every reading is newer than the state's window, so extend that.

    The summary is new, so it is traced and heard (`_heard`) here, in one copy.
    """
    as_of = max(reading.timestamp for reading in batch_readings)
    window = newest_first([*state.window, *batch_readings], window_size)
    summary = summarise_window(
        state.summary.sensor_id,
        as_of,
        window,
        correlation_ids=distinct(r.correlation_id for r in batch_readings),
        last_heard=min(as_of, received),
    )
    return Publication(summary, tuple(window), state.marker)


def _heard(publication: Publication, received: str) -> Publication:
    """The publication with `last_heard` on its newest summary, when this batch made that summary.

    The earlier of the newest reading's stamp and `received` (when the summariser got the
    batch): a device clock minutes fast cannot keep a dead sensor looking fresh.
    """
    summary = publication.summary
    if summary.last_heard is not None:
        return publication
    return replace(publication, summary=replace(summary, last_heard=min(summary.timestamp, received)))


def _extends(state: SensorState | None, batch_readings: list[Reading]) -> bool:
    return state is not None and min(r.timestamp for r in batch_readings) > state.summary.timestamp


def _summarise_sensors(
    store: Store,
    cache: SensorStateCache,
    by_sensor: dict[str, list[Reading]],
    window_size: int,
    pool: _Pool,
    received: str,
    minutes: Mapping[str, OpenMinute],
) -> tuple[list[Summary], int]:
    """Each sensor's summary as of its newest reading in the batch, and the repairs made.

    `minutes` are the sensors' open minutes in hand as the batch began.
    """
    states = {sensor_id: cache.get(sensor_id) for sensor_id in by_sensor}
    fresh: dict[str, SensorState] = {}
    unknown = [sensor_id for sensor_id, state in states.items() if state is None]
    if unknown:
        fresh = store.sensor_states(unknown)  # point reads of the pointers
        states.update(fresh)
    fast = {
        s: _from_state(states[s], r, window_size, received)
        for s, r in by_sensor.items()
        if _extends(states[s], r)
    }
    summaries: dict[str, Summary] = {}
    fast_markers = store.publish(list(fast.values())) if fast else []
    for (sensor_id, publication), marker in zip(fast.items(), fast_markers, strict=True):
        if marker is not None:
            minute = next_open_minute(minutes.get(sensor_id), publication, marker, by_sensor[sensor_id])
            state = SensorState(publication.summary, publication.window, marker)
            cache.put(sensor_id, state, minute)
            summaries[sensor_id] = publication.summary

    # Sensors without a usable state, late batches, and lost compare-and-swaps: plan from
    # the store, after reading the pointer (its version is what the plan rests on).
    slow = [sensor_id for sensor_id in by_sensor if sensor_id not in summaries]
    cache.forget(slow)
    # A state read above for this batch is fresh (a missing one too); a cached one, or one a
    # lost swap proved old, is read again.
    looked_up = set(unknown)
    stale = [sensor_id for sensor_id in slow if sensor_id in fast or sensor_id not in looked_up]
    if stale:
        fresh.update(store.sensor_states(stale))
    plans = list(
        pool.map(
            lambda sensor_id: plan_sensor(
                store, sensor_id, by_sensor[sensor_id], window_size, fresh.get(sensor_id), set()
            ),
            slow,
        )
    )
    markers = store.publish([_heard(plan.publication(), received) for plan in plans]) if plans else []
    outcomes = list(zip(plans, markers, strict=True))
    lost = [plan for plan, marker in outcomes if marker is None]
    outcomes = [(plan, marker) for plan, marker in outcomes if marker is not None]
    outcomes += pool.map(
        lambda plan: publish_until_swapped(
            store,
            plan.sensor_id,
            by_sensor[plan.sensor_id],
            window_size,
            plan.written,
            lambda publication: _heard(publication, received),
        ),
        lost,
    )
    repaired = 0
    for plan, marker in outcomes:
        cache.put(plan.sensor_id, SensorState(plan.latest, plan.latest_window, marker))
        summaries[plan.sensor_id] = plan.own
        repaired += plan.repaired
    return list(summaries.values()), repaired


def summarise_batch(
    documents: Iterable[Any],
    store: Store,
    window_size: int,
    now: datetime,
    cache: SensorStateCache | None = None,
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
        if type(document) is not dict and not isinstance(document, Mapping):
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
            log.warning(
                "dead-lettered reading %s (correlation id %s): %s",
                letter.source_id,
                letter.correlation_id or "-",
                letter.reason,
                extra={"reading_id": letter.source_id, "correlation_id": letter.correlation_id},
            )

    summaries: list[Summary] = []
    repaired = 0
    cache = cache if cache is not None else SensorStateCache()
    if by_sensor:
        workers = min(MAX_PARALLEL_SENSORS, len(by_sensor))
        try:
            with spaced_collections(), _Pool(workers) as pool:
                # Any store error propagates, so the batch fails (and is retried) as a whole.
                # Every publication writes the time windows it closes or repairs first.
                minutes = {s: m for s in by_sensor if (m := cache.open_minute(s)) is not None}
                windowing = cast(Store, WindowingStore(store, by_sensor, minutes))
                summaries, repaired = _summarise_sensors(
                    windowing, cache, by_sensor, window_size, pool, format_timestamp(now), minutes
                )
        except BaseException:
            # The batch will be redelivered (or skipped): what was cached for its sensors
            # may no longer be their history, so they take the query path next time.
            cache.forget(by_sensor)
            raise
    return BatchOutcome(readings=count, summaries=summaries, dead_letters=dead_letters, repaired=repaired)
