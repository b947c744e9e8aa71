"""`stored_rollups` returns exactly one bucket size's windows in [start, end), on each store.

On Cosmos DB the query ranges over window ids (`rollup_id`: sensor, bucket, start), not over
`bucket` and `start`, which the rollups container does not index (docs/costs.md): this pins
that the id range selects the same windows as those fields would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.readings import format_timestamp
from pipeline.rollups import Rollup
from pipeline.storage.base import Store

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def at(minutes: int) -> str:
    return format_timestamp(T0 + timedelta(minutes=minutes))


def window(sensor: str, bucket: str, minutes: int, count: int = 1) -> Rollup:
    return Rollup(sensor, bucket, at(minutes), count, 20.0, 21.0, 20.5)


def test_only_the_bucket_size_and_the_half_open_range_asked_for(store: Store) -> None:
    written = [window("dev-1", "1m", m) for m in (-1, 0, 1, 59, 60, 61)]
    written += [window("dev-1", "1h", m) for m in (-60, 0, 60)]
    # Another sensor whose id the first's starts with, and one the first's id starts with.
    written += [window("dev-1-b", "1m", m) for m in (0, 1)] + [window("dev-", "1m", m) for m in (0, 1)]
    store.put_rollups(written)

    minutes = store.stored_rollups("dev-1", "1m", at(0), at(60))
    assert [r.start for r in minutes] == [at(0), at(1), at(59)]
    assert {(r.sensor_id, r.bucket) for r in minutes} == {("dev-1", "1m")}
    assert [r.start for r in store.stored_rollups("dev-1", "1h", at(0), at(61))] == [at(0), at(60)]
    assert store.stored_rollups("dev-1", "1h", at(1), at(60)) == []
    assert [r.start for r in store.stored_rollups("dev-1-b", "1m", at(-60), at(60))] == [at(0), at(1)]
