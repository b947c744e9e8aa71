"""The whole system's requests, ours and the original's, counted while it runs on simulated time.

One side at a time, on a fresh database of the Cosmos-compatible server: the simulated
generator ticks every 10 s (the real `SensorSimulation`, seeded: both sides get the same
readings), each tick's readings reach the summariser as change-feed batches of up to 100
documents, and viewers poll every 2 s and fetch the charts that changed. Every request is
recorded by `bench.metering.OperationLog` with the size of its documents, labelled by
what caused it (generator, summariser, poll, chart), and priced by `bench.cost_model`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import original
from bench.cost_model import Operation
from bench.metering import DEFAULT_POLICY, IndexPolicy, OperationLog
from bench.read_side import Original, Ours, Viewers
from generator.simulation import SensorSimulation
from pipeline.storage.cosmos_store import CosmosStore
from summariser.batch import summarise_batch
from summariser.state_cache import SensorStateCache

TICK_SECONDS = 10
POLL_SECONDS = 2
FEED_PAGE = 100  # documents per change-feed batch (the change feed processor's default)
# Before anything is counted every sensor has a full window and a chart's 50 summaries.
WARM_UP_SECONDS = 500
START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = 10


@dataclass
class Recording:
    """What one side did over `seconds` of simulated time."""

    side: str
    sensors: int
    viewers: int
    seconds: float
    readings: int = 0
    ticks: int = 0
    batches: int = 0
    polls: int = 0
    chart_requests: int = 0
    operations: dict[str, list[Operation]] = field(default_factory=dict)

    def per_hour(self, count: float) -> float:
        return count * 3600 / self.seconds


class Summariser:
    def summarise(self, batch: list[dict[str, Any]]) -> None:
        raise NotImplementedError


class OurSummariser(Summariser):
    def __init__(self, store: CosmosStore) -> None:
        self.store = store
        self.cache = SensorStateCache()

    def summarise(self, batch: list[dict[str, Any]]) -> None:
        summarise_batch(batch, self.store, WINDOW, datetime.now(UTC), self.cache)


class OriginalSummariser(Summariser):
    def __init__(self, store: CosmosStore) -> None:
        self.store = original.OriginalStore(store)

    def summarise(self, batch: list[dict[str, Any]]) -> None:
        original.summarise_batch(batch, self.store)


@contextmanager
def windows_apart(log: OperationLog, store: CosmosStore) -> Iterator[None]:
    """The time windows our summariser writes (rollups), recorded as "windows", not "summariser".

    `summariser.rollup_writer` computes them (`windows_for`: a query of the bucket's
    readings) and the store writes them (`put_rollups`); both are wrapped for the block, so
    the summariser's figures count its summaries, state and pointers only, and the windows
    are reported beside them. Without rollups (an older tree) nothing changes.
    """
    try:
        from summariser import rollup_writer
    except ImportError:
        yield
        return

    def apart(work):  # type: ignore[no-untyped-def]
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with log.labelled("windows" if log.phase == "summariser" else log.phase):
                return work(*args, **kwargs)

        return wrapped

    windows_for = rollup_writer.windows_for
    rollup_writer.windows_for = apart(windows_for)
    put_rollups = getattr(store, "put_rollups", None)
    if put_rollups is not None:
        store.put_rollups = apart(put_rollups)  # type: ignore[method-assign]
    try:
        yield
    finally:
        rollup_writer.windows_for = windows_for
        if put_rollups is not None:
            del store.put_rollups


def write_as_output_binding(store: CosmosStore, documents: list[dict[str, Any]]) -> None:
    """What the timer's Cosmos DB output binding does in Azure: an upsert per document.

    (Not `put_readings`, which serves `POST /api/readings` and may check for duplicates
    first.) The same for both designs: the original's generator also used the binding.
    """
    for document in documents:
        store._readings.upsert_item(document, response_hook=store.meter.hook("upsert"))


def run(
    side: str,
    store: CosmosStore,
    policies: dict[str, IndexPolicy],
    sensor_ids: list[str],
    viewers: int,
    seconds: float,
    seed: int = 11,
) -> Recording:
    """Run one side for `seconds` of simulated time after a warm-up; record its requests."""
    log = OperationLog(policies if side == "ours" else {name: DEFAULT_POLICY for name in policies})
    store.meter = log
    simulation = SensorSimulation(sensor_ids, seed=seed)
    summariser: Summariser = OurSummariser(store) if side == "ours" else OriginalSummariser(store)
    page: Viewers | None = None
    if viewers:
        page = Ours(store, START) if side == "ours" else Original(store, sensor_ids)
    recording = Recording(side, len(sensor_ids), viewers, seconds)
    seen: list[dict[str, str]] = [{} for _ in range(viewers)]
    steps = int((WARM_UP_SECONDS + seconds) / POLL_SECONDS)
    try:
        with windows_apart(log, store):
            _simulate(log, store, simulation, summariser, page, recording, seen, viewers, steps)
    finally:
        if isinstance(page, Ours):
            page.client.close()
    recording.operations = {k: v for k, v in log.by_phase().items() if k != "warm-up"}
    return recording


def _simulate(  # type: ignore[no-untyped-def]
    log: OperationLog,
    store: CosmosStore,
    simulation: SensorSimulation,
    summariser: Summariser,
    page: Viewers | None,
    recording: Recording,
    seen: list[dict[str, str]],
    viewers: int,
    steps: int,
) -> None:
    """The simulated seconds: ticks, change-feed batches, polls and charts."""
    for step in range(steps):
        moment = step * POLL_SECONDS
        counted = moment >= WARM_UP_SECONDS
        if moment % TICK_SECONDS == 0:
            log.phase = "generator" if counted else "warm-up"
            documents = [
                r.to_document() for r in simulation.readings_until(START + timedelta(seconds=moment))
            ]
            if documents:
                write_as_output_binding(store, documents)
            log.phase = "summariser" if counted else "warm-up"
            for first in range(0, len(documents), FEED_PAGE):
                summariser.summarise(documents[first : first + FEED_PAGE])
                recording.batches += counted
            recording.readings += len(documents) if counted else 0
            recording.ticks += counted
        # The page opens just before counting starts: its first load of every chart
        # is not part of the steady state.
        opening = moment == WARM_UP_SECONDS - POLL_SECONDS
        if page is None or not (counted or opening):
            continue
        for viewer in range(viewers):
            # Viewers are spread evenly over the poll interval, as real ones are.
            log.phase = "poll" if counted else "warm-up"
            latest = page.poll(viewer, moment + viewer * POLL_SECONDS / viewers)
            page.settle()
            recording.polls += counted
            log.phase = "chart" if counted else "warm-up"
            for sensor, timestamp in latest.items():
                if seen[viewer].get(sensor) != timestamp:
                    page.chart(viewer, sensor)
                    recording.chart_requests += counted
            seen[viewer] = latest


def summariser_per_reading(
    side: str, store: CosmosStore, policies: dict[str, IndexPolicy], sensors: int, per_sensor: int
) -> float:
    """RU per reading when every batch holds one reading of each of `sensors` sensors.

    The shape of the change feed at 10,000 sensors: a batch of 100 documents rarely holds
    two readings of the same sensor.
    """
    from bench import throughput
    from bench.cost_model import total_ru

    log = OperationLog(policies if side == "ours" else {name: DEFAULT_POLICY for name in policies})
    store.meter = log
    ids = throughput.sensor_ids(sensors)
    log.phase = "warm-up"
    cache = throughput.prepare(store, ids, warm=side == "ours")
    summarise = throughput.ours_side(store, cache) if side == "ours" else throughput.original_side(store)
    stream = throughput.readings(ids, throughput.HISTORY, per_sensor, seed=2)
    with windows_apart(log, store):
        for batch in throughput.batches(stream, FEED_PAGE):
            log.phase = "warm-up"
            store.put_readings(batch)
            log.phase = "summariser"
            summarise(batch)
    return total_ru(log.by_phase().get("summariser", [])) / len(stream)
