"""A default chart extends the history it drew when the pointer says only one summary was
appended, and queries otherwise: what it draws always equals the store's answer.

On the Cosmos-compatible server, through the real summariser: pure appends, two
publications between refreshes, a redelivery, late readings repairing older summaries, a
second instance, a publication between the pointer read and the history read, and
repairs spanning several transactional batches (docs/http-api.md, "Caches and their keys").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pipeline.readings import Reading, Summary, format_timestamp
from pipeline.storage.base import NO_POINTER, LatestMarker, is_append
from pipeline.storage.cosmos_store import CosmosStore
from summariser.batch import summarise_batch
from summariser.state_cache import SensorStateCache
from visualiser.chart_options import ChartOptions
from visualiser.read_model import ReadModel

SENSOR = "sensor-1"
POINTS = 5
WINDOW = 10
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
START = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)


def at(second: float) -> str:
    return format_timestamp(START + timedelta(seconds=second))


def reading(second: float, temperature: float = 20.0, sensor: str = SENSOR) -> Reading:
    return Reading(f"r-{sensor}-{second}", sensor, temperature, at(second))


@dataclass
class Counting:
    """The store as the read model sees it, counting its history queries.

    `before_query` runs once before the next query: a publication between the pointer
    read and the history read.
    """

    store: CosmosStore
    queries: int = 0
    before_query: list[Callable[[], None]] = field(default_factory=list)

    def recent_summaries(self, sensor_id: str, limit: int, traced: bool = True) -> list[Summary]:
        self.queries += 1
        while self.before_query:
            self.before_query.pop()()
        return self.store.recent_summaries(sensor_id, limit, traced=traced)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class Dashboard:
    """A read model on a hand clock; `look()` refreshes it and reads what the chart draws."""

    def __init__(self, store: CosmosStore, **options: Any) -> None:
        self.now = 1000.0
        self.counting = Counting(store)
        self.model = ReadModel(self.counting, POINTS, ttl_seconds=1.0, clock=lambda: self.now, **options)

    def look(self, points: int = POINTS) -> tuple[tuple[Summary, ...], int]:
        """What the chart draws now, and how many history queries that took."""
        self.now += 10.0  # past max_age: the next read refreshes the pointers first
        before = self.counting.queries
        drawn = self.model.history(SENSOR, points)
        return drawn, self.counting.queries - before


def deliver(
    store: CosmosStore, batch: Sequence[Reading], cache: SensorStateCache, window: int = WINDOW
) -> None:
    """Write the batch (as the feed's source) and summarise it, as one summariser instance."""
    documents = [r.to_document() for r in batch]
    store.put_readings(documents)
    summarise_batch(documents, store, window, NOW, cache=cache)


def truth(store: CosmosStore, points: int = POINTS) -> list[Summary]:
    return store.recent_summaries(SENSOR, points, traced=False)


def exactly(drawn: Sequence[Summary]) -> list[dict[str, Any]]:
    """Every field, correlation ids and last_heard included (Summary equality ignores them)."""
    return [asdict(summary) for summary in drawn]


def test_is_append_only_for_one_summary_newer_than_the_pointer() -> None:
    newest = Summary("s-3", SENSOR, at(3), 1.0, 1.0, 1.0, 1)
    older = Summary("s-1", SENSOR, at(1), 1.0, 1.0, 1.0, 1)
    assert is_append(LatestMarker(at(2), "e"), newest, ())
    assert not is_append(LatestMarker(at(2), "e"), newest, (older,))  # a repair with it
    assert not is_append(LatestMarker(at(3), "e"), newest, ())  # the same id written again
    assert not is_append(LatestMarker(at(4), "e"), newest, ())  # older than the newest
    assert not is_append(NO_POINTER, newest, ())  # the first: nothing to extend


def test_the_drawn_history_equals_the_stores_after_every_hostile_step(cosmos_store: CosmosStore) -> None:
    store = cosmos_store
    mine, theirs = SensorStateCache(), SensorStateCache()
    second = CosmosStore(store._client, store._database_name)  # another app instance
    viewer, rare = Dashboard(store), Dashboard(store)  # `rare` looks only now and then
    second_viewer = Dashboard(second)

    def step(publish: Callable[[], None], appended: bool) -> None:
        before = viewer.model.history(SENSOR, POINTS) and viewer.model._pointers[SENSOR].revision
        publish()
        drawn, queries = viewer.look()
        assert exactly(drawn) == exactly(truth(store))
        assert viewer.model._pointers[SENSOR].revision != before  # the pointer moved
        assert queries == (0 if appended else 1)

    for second_ in range(1, 4):
        deliver(store, [reading(second_, 20.0 + second_)], mine)
    drawn, queries = viewer.look()
    assert (exactly(drawn), queries) == (exactly(truth(store)), 1)
    for second_ in range(4, 9):  # pure appends, past POINTS: the oldest fall off
        step(lambda s=second_: deliver(store, [reading(s, 20.0 + s)], mine), appended=True)
    assert viewer.look() == (tuple(truth(store)), 0)  # nothing moved: nothing asked

    def twice() -> None:  # two publications between refreshes: the first one was not seen
        deliver(store, [reading(9, 29.0)], mine)
        deliver(store, [reading(10, 30.0)], mine)

    step(twice, appended=False)
    # Two readings in one batch: one summary, as of the newer.
    step(lambda: deliver(store, [reading(11, 31.0), reading(12, 32.0)], mine), appended=True)
    step(lambda: deliver(store, [reading(13, 33.0)], mine), appended=True)
    step(lambda: deliver(store, [reading(13, 33.0)], SensorStateCache()), appended=False)  # redelivered
    step(lambda: deliver(store, [reading(11.5, 90.0)], mine), appended=False)  # late: repairs 12, 13
    step(lambda: deliver(store, [reading(0.5, -5.0)], mine), appended=False)  # late, older than drawn
    step(lambda: deliver(store, [reading(14, 34.0)], mine), appended=True)
    step(lambda: deliver(second, [reading(15, 35.0)], theirs), appended=True)  # the other instance
    step(lambda: deliver(store, [reading(16, 36.0)], mine), appended=True)  # `mine` is stale: re-plans
    # A publication lands between the pointer read and the history read: drawn as read, not kept.
    viewer.counting.before_query.append(lambda: deliver(store, [reading(18, 38.0)], mine))
    step(lambda: deliver(store, [reading(16, 36.0)], SensorStateCache()), appended=False)  # redelivered
    assert viewer.model.history(SENSOR, POINTS)[0].timestamp == at(18)
    drawn, queries = viewer.look()
    assert (exactly(drawn), queries) == (exactly(truth(store)), 1)  # the kept one was not extended
    step(lambda: deliver(store, [reading(19, 39.0)], mine), appended=True)
    # Another number of points, another viewer, another instance: each its own history.
    for dashboard, points in ((viewer, 3), (rare, POINTS), (second_viewer, 7), (viewer, 3)):
        drawn, _ = dashboard.look(points)
        assert exactly(drawn) == exactly(truth(store, points))
    deliver(store, [reading(20, 40.0)], mine)
    for dashboard, points in ((viewer, 3), (rare, POINTS), (second_viewer, 7)):
        drawn, queries = dashboard.look(points)
        assert (exactly(drawn), queries) == (exactly(truth(store, points)), 0)
    # The chart draws that history: a PNG with no query.
    deliver(store, [reading(21, 41.0)], mine)
    viewer.now += 10.0
    before = viewer.counting.queries
    assert viewer.model.chart(SENSOR, ChartOptions(points=3)) is not None
    assert viewer.counting.queries == before


def test_repairs_in_several_batches_are_never_taken_for_an_append(cosmos_store: CosmosStore) -> None:
    """More than 99 summaries repaired: each batch moves the pointer, none says it appended."""
    store, cache, window = cosmos_store, SensorStateCache(), 120
    documents = [reading(n, 20.0 + n % 7).to_document() for n in range(1, 111)]
    store.put_readings(documents)
    for document in documents:  # one summary each: 110 summaries
        summarise_batch([document], store, window, NOW, cache=cache)
    viewer = Dashboard(store)
    assert viewer.look() == (tuple(truth(store)), 1)
    revision = viewer.model._pointers[SENSOR].revision
    deliver(store, [reading(0.5, 99.0)], cache, window=window)  # repairs all 110
    drawn, queries = viewer.look()
    pointer = viewer.model._pointers[SENSOR]
    assert (exactly(drawn), queries) == (exactly(truth(store)), 1)
    assert pointer.revision != revision and pointer.appended_to is None
    deliver(store, [reading(111, 20.0)], cache, window=window)
    assert viewer.look() == (tuple(truth(store)), 0)


@pytest.mark.parametrize(("days_later", "queries"), [(1, 0), (3, 1)])
def test_a_history_that_ttl_may_have_cut_is_queried(
    cosmos_store: CosmosStore, days_later: int, queries: int
) -> None:
    """Summaries kept 3 days: a history is used again or extended only while TTL cannot have cut it."""
    store, cache = cosmos_store, SensorStateCache()
    viewer = Dashboard(
        store, summaries_ttl_seconds=3 * 86400, wall_clock=lambda: START + timedelta(days=days_later)
    )
    for second_ in range(1, 4):
        deliver(store, [reading(second_)], cache)
    viewer.look()
    deliver(store, [reading(4)], cache)
    assert viewer.look() == (tuple(truth(store)), queries)
    assert viewer.look() == (tuple(truth(store)), queries)  # unchanged, and kept only while unexpired


def test_an_append_during_repairs_in_several_batches_is_not_extended(
    cosmos_store: CosmosStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another instance appends after our first repair batch landed: the viewer queries."""
    store, cache, window, points = cosmos_store, SensorStateCache(), 120, 120
    rival = CosmosStore(store._client, store._database_name)
    documents = [reading(n, 20.0 + n % 7).to_document() for n in range(1, 111)]
    store.put_readings(documents)
    for document in documents:
        summarise_batch([document], store, window, NOW, cache=cache)
    viewer = Dashboard(store)
    assert viewer.look(points) == (tuple(truth(store, points)), 1)
    batch, seen = store._batch, []

    def then_the_rival_appends(*arguments: Any) -> Any:
        written = batch(*arguments)
        if not seen:  # once, after our first batch
            deliver(rival, [reading(112, 20.0)], SensorStateCache(), window=window)
            seen.append(viewer.look(points))
            seen.append((tuple(truth(store, points)), 1))
        return written

    monkeypatch.setattr(store, "_batch", then_the_rival_appends)
    deliver(store, [reading(0.5, 99.0)], cache, window=window)  # repairs all 110
    drawn, expected = seen
    assert [exactly(drawn[0]), drawn[1]] == [exactly(expected[0]), expected[1]]
    monkeypatch.undo()
    assert viewer.look(points)[0] == tuple(truth(store, points))


def test_a_lost_compare_and_swap_leaves_no_summary_for_an_append_to_hide(
    cosmos_store: CosmosStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale instance's publication loses its compare-and-swap; before it plans again, the
    rival appends. The kept history is extended: right only if the lost batch wrote nothing
    (Cosmos DB's transactional batch is atomic), as `is_append` assumes."""
    store = cosmos_store
    rival = CosmosStore(store._client, store._database_name)
    mine, theirs = SensorStateCache(), SensorStateCache()
    for second_ in range(1, 4):
        deliver(store, [reading(second_, 20.0 + second_)], mine)
    viewer = Dashboard(store)
    assert viewer.look() == (tuple(truth(store)), 1)
    deliver(rival, [reading(4, 24.0)], theirs)  # `mine` still holds the pointer before it
    assert viewer.look() == (tuple(truth(store)), 0)
    batch, seen = store._batch, []

    def then_the_rival_appends(*arguments: Any) -> Any:
        written = batch(*arguments)
        if written is None and not seen:  # our swap was lost: the rival appends meanwhile
            deliver(rival, [reading(6, 26.0)], theirs)
            seen.append((viewer.look(), truth(store)))
        return written

    monkeypatch.setattr(store, "_batch", then_the_rival_appends)
    deliver(store, [reading(5, 55.0)], mine)  # fast path on the stale pointer: its swap fails
    [((drawn, queries), expected)] = seen
    assert (exactly(drawn), queries) == (exactly(expected), 0)
    monkeypatch.undo()
    assert exactly(viewer.look()[0]) == exactly(truth(store))
