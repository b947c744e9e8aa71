"""The embedded store's time windows (rollups): one row per sensor, bucket size and start."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pipeline.readings import Reading
from pipeline.rollups import Rollup, bucket_seconds
from pipeline.storage.base import valid_readings, with_open_bucket
from pipeline.storage.sqlite_engine import SqliteEngine

# Never replaced by a window of fewer readings: a bucket's readings only grow (until they
# expire), so the window with the higher count is the more complete one.
PUT_ROLLUP_SQL = (
    "INSERT INTO rollups (sensor_id, bucket, start, count, min, max, avg) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (sensor_id, bucket, start) DO UPDATE SET count = excluded.count, min = excluded.min, "
    "max = excluded.max, avg = excluded.avg, written_at = excluded.written_at "
    "WHERE excluded.count > rollups.count"
)


def rollup_rows(rollups: Sequence[Rollup]) -> list[tuple[str, str, str, int, float, float, float]]:
    """The parameters of `PUT_ROLLUP_SQL`, one row per window."""
    return [(r.sensor_id, r.bucket, r.start, r.count, r.min, r.max, r.avg) for r in rollups]


class SqliteRollups(SqliteEngine):
    """Closed windows as rows; the open one computed from the readings when read."""

    def readings_between(self, sensor_id: str, start: str, end: str) -> list[Reading]:
        rows = (
            self._connection()
            .execute(
                "SELECT body FROM readings WHERE sensor_id = ? AND timestamp >= ? AND timestamp < ? "
                "ORDER BY timestamp, id",
                (sensor_id, start, end),
            )
            .fetchall()
        )
        return valid_readings(json.loads(body) for (body,) in rows)

    def put_rollups(self, rollups: Sequence[Rollup]) -> None:
        with self._transaction() as connection:
            connection.executemany(PUT_ROLLUP_SQL, rollup_rows(rollups))

    def stored_rollups(self, sensor_id: str, bucket: str, start: str, end: str) -> list[Rollup]:
        """The windows written for these bucket starts, oldest first (not the open one)."""
        rows = (
            self._connection()
            .execute(
                "SELECT start, count, min, max, avg FROM rollups WHERE sensor_id = ? AND bucket = ? "
                "AND start >= ? AND start < ? ORDER BY start",
                (sensor_id, bucket, start, end),
            )
            .fetchall()
        )
        return [Rollup(sensor_id, bucket, *row) for row in rows]

    def rollups(self, sensor_id: str, bucket: str, start: str, end: str) -> list[Rollup]:
        bucket_seconds(bucket)  # ValueError naming the bucket sizes
        row = (
            self._connection()
            .execute("SELECT timestamp FROM latest_summaries WHERE sensor_id = ?", (sensor_id,))
            .fetchone()
        )
        stored = self.stored_rollups(sensor_id, bucket, start, end)
        return with_open_bucket(self, sensor_id, bucket, start, end, row[0] if row else None, stored)
