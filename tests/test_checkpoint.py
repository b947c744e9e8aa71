"""The change-feed trigger checkpoints only what the function has processed (at least once).

In-process, with the function registered in function_app.py and the local host's trigger
runner: a batch whose function keeps failing while the host shuts down stays ahead of the
checkpoint, so the next start delivers it again; a batch that succeeded is checkpointed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator

import pytest

import summariser.bindings
from local_host.triggers import Counters, FeedTriggerRunner, RetryPolicy
from pipeline.invocations import Invocations
from pipeline.settings import settings_from
from pipeline.storage import StoreUnavailable, reset_store
from pipeline.storage.sqlite_store import SqliteStore
from summariser.state_cache import SensorStateCache
from tests.checks import ListFeed, eventually
from tests.servers import ROOT, registered_functions
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
    # The failures these tests cause are not the process's: /api/health reads that record.
    monkeypatch.setattr(summariser.bindings, "INVOCATIONS", Invocations())
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


def test_a_batch_failing_every_retry_is_named_then_skipped_as_the_host_does(runner, caplog) -> None:
    """When the retries run out the lease moves on (Azure's behaviour, modelled here), and the
    summariser names the batch on its last attempt: the line the `summariser-gave-up` alert
    matches, which the local host's log shows too."""
    trigger, feed, store = runner
    trigger._policy = RetryPolicy(max_retry_count=2, minimum_interval=0.01, maximum_interval=0.01)
    store.down.set()

    with caplog.at_level(logging.ERROR):
        assert trigger.run_once(threading.Event()) == 20

    given_up = json.loads((ROOT / "pipeline" / "telemetry_names.json").read_text())["logs"]["batch_given_up"]
    named = [record for record in caplog.records if record.getMessage().startswith(given_up)]
    assert len(named) == 1  # on the third (last) attempt only
    assert trigger._counters.failed_attempts == 3
    assert trigger._counters.batches_skipped == 1
    assert feed.feed_backlog(CONSUMER) == 0  # skipped: replayed by resetting the checkpoint
