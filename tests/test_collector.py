"""The summariser spaces out the garbage collector's young collections only while a batch runs."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline.storage.sqlite_store import SqliteStore
from summariser import collector
from summariser.batch import summarise_batch
from summariser.collector import BATCH_THRESHOLD, spaced_collections


@pytest.fixture(autouse=True)
def default_thresholds() -> Iterator[tuple[int, ...]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)
    gc.enable()


def test_inside_a_batch_young_collections_wait_and_the_thresholds_come_back(
    default_thresholds: tuple[int, ...],
) -> None:
    with spaced_collections():
        assert gc.get_threshold() == (BATCH_THRESHOLD, *default_thresholds[1:])
    assert gc.get_threshold() == default_thresholds
    # The young generation was collected on leaving: nothing deferred is left to the next allocation.
    assert gc.get_count()[0] < default_thresholds[0]


def test_overlapping_batches_restore_the_thresholds_the_process_had() -> None:
    gc.set_threshold(900, 11, 12)
    inside, leave = threading.Event(), threading.Event()

    def other_batch() -> None:
        with spaced_collections():
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=other_batch)
    thread.start()
    inside.wait(5)
    with spaced_collections():
        assert gc.get_threshold() == (BATCH_THRESHOLD, 11, 12)
    assert gc.get_threshold() == (BATCH_THRESHOLD, 11, 12)  # the other batch still runs
    leave.set()
    thread.join()
    assert gc.get_threshold() == (900, 11, 12)
    assert collector._inside == 0


def test_a_disabled_collector_is_left_alone() -> None:
    gc.set_threshold(0)
    with spaced_collections():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0


def test_a_batch_that_raises_restores_the_thresholds() -> None:
    gc.set_threshold(900, 11, 12)
    with pytest.raises(RuntimeError), spaced_collections():
        raise RuntimeError("the store failed")
    assert gc.get_threshold() == (900, 11, 12)
    assert collector._inside == 0


def test_thresholds_someone_sets_while_a_batch_runs_are_kept() -> None:
    gc.set_threshold(900, 11, 12)
    with spaced_collections():
        gc.set_threshold(1000, 20, 30)  # e.g. the app tuning the collector from another thread
    assert gc.get_threshold() == (1000, 20, 30)


def test_older_generations_someone_sets_while_a_batch_runs_are_kept() -> None:
    gc.set_threshold(900, 11, 12)
    with spaced_collections():
        gc.set_threshold(gc.get_threshold()[0], 20, 30)
    assert gc.get_threshold() == (900, 20, 30)


def test_a_collector_disabled_by_someone_else_is_left_alone_with_their_thresholds() -> None:
    gc.disable()
    gc.set_threshold(900, 11, 12)
    with spaced_collections():
        assert gc.get_threshold() == (900, 11, 12)
        gc.set_threshold(1000, 20, 30)
    assert gc.get_threshold() == (1000, 20, 30)
    assert not gc.isenabled()


def test_summarise_batch_runs_with_spaced_collections_and_restores_them(tmp_path: Path) -> None:
    seen: list[tuple[int, ...]] = []
    store = SqliteStore(tmp_path / "store.db")
    real_publish = store.publish

    def publish(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.get_threshold())
        return real_publish(*args, **kwargs)

    store.publish = publish  # type: ignore[method-assign]
    before = gc.get_threshold()
    stamp = "2026-01-01T00:00:00.000000Z"
    document = {"id": "r1", "sensor_id": "s1", "temperature": 20.5, "timestamp": stamp}
    try:
        summarise_batch([document], store, 10, datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
    finally:
        store.close()
    assert seen and all(threshold[0] == BATCH_THRESHOLD for threshold in seen)
    assert gc.get_threshold() == before
