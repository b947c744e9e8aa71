"""The change-feed trigger checkpoints only what the function has processed (at least once).

In-process, with the function registered in function_app.py and the local host's trigger
runner: a batch whose function keeps failing while the host shuts down stays ahead of the
checkpoint, so the next start delivers it again; a batch that succeeded is checkpointed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

import summariser.bindings
from local_host.triggers import Counters, FeedTriggerRunner
from pipeline.settings import settings_from
from pipeline.storage import StoreUnavailable, reset_store
from pipeline.storage.sqlite_store import SqliteStore
from summariser.state_cache import SensorStateCache
from tests.checks import ListFeed, eventually
from tests.servers import registered_functions
from tests.test_summariser import make_readings

CONSUMER = "summarise_readings:readings"


class Outage:
    """The store, with every summary write failing while `down` is set."""

    def __init__(self, inner: SqliteStore) -> None:
        self._inner = inner
        self.down = threading.Event()

    def __getattr__(self, name: str):
        attribute = getattr(self._inner, name)
        if name not in ("publish", "add_dead_letters") or not callable(attribute):
            return attribute

        def write(*args, **kwargs):
            if self.down.is_set():
                raise StoreUnavailable("simulated outage")
            return attribute(*args, **kwargs)

        return write


@pytest.fixture
def runner(sqlite_store: SqliteStore, monkeypatch) -> Iterator[tuple[FeedTriggerRunner, ListFeed, Outage]]:
    monkeypatch.setattr(summariser.bindings, "_states", SensorStateCache())
    store = Outage(sqlite_store)
    reset_store(store)  # type: ignore[arg-type]
    feed = ListFeed()
    documents = [r.to_document() for r in make_readings(20, sensors=2)]
    sqlite_store.put_readings(documents)
    feed.append(documents)
    runner = FeedTriggerRunner(
        registered_functions()["summarise_readings"], settings_from({}), feed, Counters(), poll_delay=0.05
    )
    try:
        yield runner, feed, store
    finally:
        reset_store(None)


def test_a_batch_cut_short_by_shutdown_is_not_checkpointed(runner) -> None:
    trigger, feed, store = runner
    store.down.set()
    stopping = threading.Event()
    delivered: list[int] = []
    thread = threading.Thread(target=lambda: delivered.append(trigger.run_once(stopping)))
    thread.start()
    # Shut down while the function is failing and waiting for its retry.
    eventually(lambda: trigger._counters.failed_attempts >= 1, 30, "a failed attempt")
    stopping.set()
    thread.join(30)

    assert delivered == [0]
    assert feed.feed_backlog(CONSUMER) == 20  # delivered again after the restart


def test_a_processed_batch_is_checkpointed(runner) -> None:
    trigger, feed, _ = runner

    assert trigger.run_once(threading.Event()) == 20

    assert feed.feed_backlog(CONSUMER) == 0
    assert trigger._counters.batches == 1
