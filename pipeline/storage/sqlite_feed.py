"""The embedded store's change feed: every upsert of a reading in sequence order, with checkpoints.

Every upsert of a reading gets a new, ever-increasing sequence number: that is the feed's
order (per sensor too), and a consumer's checkpoint is the last sequence number it processed.
"""

from __future__ import annotations

import json

from pipeline.storage.base import FeedBatch
from pipeline.storage.sqlite_engine import SqliteEngine


class SqliteFeed(SqliteEngine):
    """The change feed of the readings table, one checkpoint (lease) per consumer."""

    def _position(self, consumer: str) -> int:
        row = (
            self._connection()
            .execute("SELECT position FROM leases WHERE consumer = ?", (consumer,))
            .fetchone()
        )
        return row[0] if row else 0

    def read_feed(self, consumer: str, max_items: int) -> FeedBatch:
        start = self._position(consumer)
        rows = (
            self._connection()
            .execute("SELECT seq, body FROM readings WHERE seq > ? ORDER BY seq LIMIT ?", (start, max_items))
            .fetchall()
        )
        position = rows[-1][0] if rows else start
        return FeedBatch(documents=[json.loads(body) for _, body in rows], position=position)

    def commit_feed(self, consumer: str, position: int) -> None:
        self._write(
            [
                (
                    "INSERT INTO leases (consumer, position) VALUES (?, ?) ON CONFLICT (consumer) "
                    "DO UPDATE SET position = MAX(position, excluded.position)",
                    (consumer, position),
                )
            ]
        )

    def feed_lag_seconds(self, consumer: str | None = None) -> float:
        """Age of the oldest change the consumer (None: the slowest one) has not processed.

        0 when caught up. Measured from when this store wrote the change, never from the
        reading's own timestamp, so a device clock ahead or behind cannot fool it.
        """
        connection = self._connection()
        if consumer is not None:
            position = self._position(consumer)
        else:
            (slowest,) = connection.execute("SELECT MIN(position) FROM leases").fetchone()
            position = slowest or 0
        row = connection.execute(
            f"SELECT (julianday('now') - {self._written_at}) * 86400.0 FROM readings WHERE seq > ? "
            "ORDER BY seq LIMIT 1",
            (position,),
        ).fetchone()
        if not row or row[0] is None:
            return 0.0
        return max(0.0, float(row[0]))

    def feed_backlog(self, consumer: str) -> int:
        start = self._position(consumer)
        (count,) = (
            self._connection().execute("SELECT COUNT(*) FROM readings WHERE seq > ?", (start,)).fetchone()
        )
        return int(count)
