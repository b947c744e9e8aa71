"""The slow path of one sensor: summaries recomputed from the store, late readings repaired.

A late reading (one not newer than the sensor's newest summary) enters the window of
every summary as of its time or later until `WINDOW_SIZE` newer readings push it out:
at most `WINDOW_SIZE` summaries, found and recomputed from three queries around it.

Concurrency is optimistic, with the sensor's "latest" pointer as its version: a plan is
computed after reading the pointer, its summaries are written, and the pointer is then
moved by compare-and-swap. Every instance that writes a summary of the sensor moves the
pointer the same way, so a successful swap proves that nobody published in between; a
failed one means the plan may rest on an old snapshot, and it is computed again —
including every summary the failed attempt wrote — until a swap succeeds. So the last
write of every summary was computed from a snapshot holding every reading stored before
that write; a reading stored later is repaired by its own (later) publication.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from pipeline.correlation import distinct
from pipeline.readings import Reading, Summary
from pipeline.storage import (
    NO_POINTER,
    LatestMarker,
    LatestMoved,
    Publication,
    SensorState,
    Store,
)
from pipeline.storage.base import END_OF_TIME
from summariser.state_cache import newest_first
from summariser.window import summarise_window

MAX_ATTEMPTS = 8


def traced(summary: Summary, batch_readings: Sequence[Reading]) -> Summary:
    """The summary naming the correlation ids of the batch's readings it was made from."""
    return replace(summary, correlation_ids=distinct(r.correlation_id for r in batch_readings))


def _key(reading: Reading) -> tuple[str, str]:
    return reading.timestamp, reading.id


@dataclass
class Plan:
    """What one attempt writes for a sensor: its summaries and the pointer's new content."""

    sensor_id: str
    expected: LatestMarker
    own: Summary
    latest: Summary
    latest_window: tuple[Reading, ...]
    others: dict[str, Summary] = field(default_factory=dict)
    # How many stored summaries the plan corrects (late readings entered them).
    repaired: int = 0

    def publication(self) -> Publication:
        repairs = tuple(s for s in self.others.values() if s.id != self.latest.id)
        return Publication(self.latest, self.latest_window, self.expected, repairs)

    @property
    def written(self) -> set[str]:
        """The as-of timestamps of every summary this plan writes."""
        return {self.latest.timestamp, *(s.timestamp for s in self.others.values())}


class Windows:
    """Reading windows of one sensor from the store, each as-of read once per attempt."""

    def __init__(self, store: Store, sensor_id: str, size: int, visible: Sequence[Reading]) -> None:
        self._store = store
        self._sensor_id = sensor_id
        self._size = size
        self._visible = visible
        self._read: dict[str, list[Reading]] = {}

    def as_of(self, as_of: str) -> list[Reading]:
        if as_of not in self._read:
            stored = self._store.reading_window(self._sensor_id, as_of, self._size)
            # The batch's own readings are merged in, so a store that has not yet made a
            # just-written reading visible to queries cannot leave it out of its window.
            mine = [reading for reading in self._visible if reading.timestamp <= as_of]
            self._read[as_of] = newest_first([*stored, *mine], self._size)
        return self._read[as_of]


def repair_late(
    store: Store,
    sensor_id: str,
    late: Sequence[Reading],
    windows: Windows,
    size: int,
) -> dict[str, tuple[Summary, list[Reading]]]:
    """Every stored summary a late reading enters, recomputed where its values are wrong.

    Per round (one for late readings close together): the `size` readings up to the
    first pending one, the readings after it, and the stored summaries in between.
    """
    repaired: dict[str, tuple[Summary, list[Reading]]] = {}
    pending = sorted({reading.id: reading for reading in late}.values(), key=_key)
    while pending:
        first = pending[0]
        before = windows.as_of(first.timestamp)
        wanted = size + len(pending) - 1
        after = store.readings_after(sensor_id, first.timestamp, wanted)
        exhausted = len(after) < wanted
        known = sorted({r.id: r for r in [*before, *after]}.values(), key=_key)
        position = {reading.id: index for index, reading in enumerate(known)}
        # A reading leaves every window as of the time of the `size`-th reading after it.
        ranges: list[tuple[str, str]] = []
        # The first is always settled: read with `size` readings after it, or absent from
        # `before` because `size` readings of its very time outrank it (then it enters no window).
        resolved: list[Reading] = [first]
        for reading in pending:
            index = position.get(reading.id)
            if index is None:
                continue  # beyond what this round read: a later round starts from it
            if index + size < len(known):
                ranges.append((reading.timestamp, known[index + size].timestamp))
            elif exhausted:
                ranges.append((reading.timestamp, END_OF_TIME))
            else:
                continue
            resolved.append(reading)
        end = max((stop for _, stop in ranges), default=first.timestamp)
        stored = store.summaries_between(sensor_id, first.timestamp, end, len(known) + 1) if ranges else []
        for summary in stored:
            if not any(start <= summary.timestamp < stop for start, stop in ranges):
                continue
            window = newest_first((r for r in known if r.timestamp <= summary.timestamp), size)
            correct = summarise_window(sensor_id, summary.timestamp, window)
            if correct != summary:  # values only: correlation ids are a trace, kept as they were
                repaired[correct.id] = (replace(correct, correlation_ids=summary.correlation_ids), window)
        done = {reading.id for reading in resolved}
        pending = [reading for reading in pending if reading.id not in done]
    return repaired


def _unseen(readings: Sequence[Reading], window: Sequence[Reading]) -> list[Reading]:
    """The readings not already in the window (a redelivery brings back ones that are)."""
    held = {reading.id for reading in window}
    return [reading for reading in readings if reading.id not in held]


def _enters(late: Sequence[Reading], window: Sequence[Reading], size: int) -> bool:
    """Whether a late reading not already in a window outranks its oldest (or it has room).

    One already in it (a redelivery) changes nothing, so costs no query.
    """
    new = _unseen(late, window)
    if len(window) < size:
        return bool(new)
    oldest = min(map(_key, window))
    return any(_key(reading) > oldest for reading in new)


def plan_sensor(
    store: Store,
    sensor_id: str,
    batch: Sequence[Reading],
    size: int,
    state: SensorState | None,
    rewrite: set[str],
) -> Plan:
    """One attempt's plan, computed from the store after `state` (the pointer) was read."""
    windows = Windows(store, sensor_id, size, batch)
    as_of = max(reading.timestamp for reading in batch)
    own_window = windows.as_of(as_of)
    own = traced(summarise_window(sensor_id, as_of, own_window), batch)
    plan = Plan(sensor_id, state.marker if state else NO_POINTER, own, own, tuple(own_window))
    plan.others[own.id] = own
    if state is None:
        late: list[Reading] = []
    else:
        late = [reading for reading in batch if reading.timestamp <= state.summary.timestamp]
        if state.summary.timestamp > as_of:
            # The pointer keeps the newest summary; its version moves all the same.
            plan.latest, plan.latest_window = state.summary, state.window
            if _enters(late, state.window, size):
                # A late reading can enter the newest window without changing the summary's
                # values (it takes the place of a reading of the same temperature), so no
                # repair below replaces it; the next summary is extended from this window.
                plan.latest_window = tuple(windows.as_of(state.summary.timestamp))
    repairs = repair_late(store, sensor_id, late, windows, size)
    plan.repaired = len(repairs)
    for summary, window in repairs.values():
        plan.others[summary.id] = summary
        if summary.timestamp == plan.latest.timestamp:
            plan.latest, plan.latest_window = summary, tuple(window)
    # What an earlier, failed attempt wrote may rest on an old snapshot: write it again.
    for earlier in sorted(rewrite - plan.written):
        window = windows.as_of(earlier)
        if window:
            summary = summarise_window(sensor_id, earlier, window)
            plan.others[summary.id] = summary
    if state is not None and plan.latest.timestamp == state.summary.timestamp:
        plan.latest = _heard_as_before(plan.latest, state, batch)
    return plan


def _heard_as_before(latest: Summary, state: SensorState, batch: Sequence[Reading]) -> Summary:
    """The newest summary, rewritten for a late reading or a redelivery, heard when it was.

    `last_heard` is when its newest reading arrived: a late reading's or a redelivered
    reading's arrival must not move it on (a device clock minutes fast would otherwise keep
    a dead sensor fresh after every retry). A reading of its very time not seen before is news.
    """
    news = any(reading.timestamp == latest.timestamp for reading in _unseen(batch, state.window))
    if latest.last_heard is not None or news:
        return latest
    return replace(latest, last_heard=state.summary.last_heard)


def publish_until_swapped(
    store: Store,
    sensor_id: str,
    batch: Sequence[Reading],
    size: int,
    rewrite: set[str],
    prepare: Callable[[Publication], Publication] = lambda publication: publication,
) -> tuple[Plan, LatestMarker]:
    """Read the pointer, plan and publish one sensor until its compare-and-swap succeeds.

    `rewrite` holds the as-of times of the summaries earlier attempts wrote; `prepare`
    finishes each attempt's publication (the batch's `last_heard`).
    """
    rewrite = set(rewrite)
    for _ in range(MAX_ATTEMPTS):
        state = store.sensor_states([sensor_id]).get(sensor_id)
        plan = plan_sensor(store, sensor_id, batch, size, state, rewrite)
        marker = store.publish([prepare(plan.publication())])[0]
        if marker is not None:
            return plan, marker
        rewrite |= plan.written
    raise LatestMoved(f"latest pointer of {sensor_id} kept moving while publishing its summaries")
