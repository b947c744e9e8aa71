"""The benchmark's counters see what every thread executes, and the baseline is the original."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from bench import original, throughput
from summariser.batch import summarise_batch


def test_sql_statements_of_every_thread_are_counted(tmp_path: Path) -> None:
    store = throughput.CountedSqliteStore(tmp_path / "count.db")
    store.ensure_ready()
    workers = [threading.Thread(target=store.latest_summaries) for _ in range(5)]  # one SELECT each
    with throughput.counting(store) as counted:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    store.close()

    assert counted["SELECT"] == len(workers)


def test_the_summarisers_pool_threads_are_counted(tmp_path: Path) -> None:
    store = throughput.CountedSqliteStore(tmp_path / "count.db")
    sensors = throughput.sensor_ids(8)
    store.put_readings(throughput.readings(sensors, 0, 3, seed=1))
    threads_seen: set[int] = set()
    window = store.reading_window

    def spy(*arguments, **keywords):  # type: ignore[no-untyped-def]
        threads_seen.add(threading.get_ident())
        return window(*arguments, **keywords)

    store.reading_window = spy  # type: ignore[method-assign]
    mark = store.mark()
    summarise_batch(throughput.readings(sensors, 3, 1, seed=2), store, 10, datetime.now(UTC))
    window_queries = sum(1 for s in store.statements.executed[mark:] if "FROM readings" in s)
    store.close()

    assert threading.get_ident() not in threads_seen  # windows are read on the pool's threads
    assert window_queries >= len(sensors)


def test_the_original_summariser_queries_and_inserts_once_per_document(tmp_path: Path) -> None:
    store = throughput.CountedSqliteStore(tmp_path / "original.db")
    sensors = throughput.sensor_ids(2)
    store.put_readings(throughput.readings(sensors, 0, 12, seed=1))
    batch = throughput.readings(sensors, 12, 3, seed=2)  # 3 documents of each sensor
    store.put_readings(batch)
    with throughput.counting(store) as counted:
        written = original.summarise_batch(batch, original.OriginalStore(store))
    summaries = original.OriginalStore(store).newest_summaries(sensors[0], 10)
    store.close()

    assert written == len(batch)
    assert counted["SELECT"] == len(batch) and counted["INSERT"] == len(batch)
    assert counted["COMMIT"] == len(batch)  # each summary committed on its own
    assert all(summary["count"] == 10 for summary in summaries)
    assert len({summary["id"] for summary in summaries}) == 3  # fresh uuids, no upsert
