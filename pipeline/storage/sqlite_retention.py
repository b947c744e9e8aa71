"""The embedded store's retention: what Cosmos DB's TTL does, done by pruning now and then.

Readings, summaries and windows are pruned by when this store last wrote them, as a TTL
counts from an item's last write: a summary of a reading a device sent months late is kept
as long as that reading. (Summaries written before the store recorded write times go by
their own timestamp.) The sensors' latest pointers are never pruned, as the Cosmos DB
pointer documents never expire.
"""

from __future__ import annotations

import time

from pipeline.settings import FOREVER, Retention
from pipeline.storage.sqlite_engine import SqliteEngine

DAY = 86_400.0


class SqliteRetention(SqliteEngine):
    """Pruning by the retention the store was opened with (None: keep everything)."""

    retention: Retention | None = None
    _pruned_at: float = 0.0

    def prune(self, retention: Retention, now: float | None = None) -> dict[str, int]:
        """Delete what is older than its retention; returns how many rows of each kind went."""
        now_day = (time.time() if now is None else now) / DAY + 2440587.5  # Julian day
        removed: dict[str, int] = {}
        with self._transaction() as connection:
            if retention.readings_seconds != FOREVER:
                cutoff = now_day - retention.readings_seconds / DAY
                removed["readings"] = connection.execute(
                    f"DELETE FROM readings WHERE {self._written_at} < ?", (cutoff,)
                ).rowcount
            if retention.summaries_seconds != FOREVER:
                cutoff = now_day - retention.summaries_seconds / DAY
                removed["summaries"] = connection.execute(
                    "DELETE FROM summaries WHERE COALESCE(written_at, julianday(timestamp)) < ?", (cutoff,)
                ).rowcount
            if retention.rollups_seconds != FOREVER:
                cutoff = now_day - retention.rollups_seconds / DAY
                removed["rollups"] = connection.execute(
                    "DELETE FROM rollups WHERE written_at < ?", (cutoff,)
                ).rowcount
        return removed

    def maybe_prune(self) -> None:
        """Prune at most once per `prune_every_seconds` (0: at every call)."""
        retention = self.retention
        if retention is None:
            return
        now = time.monotonic()
        if self._pruned_at and now - self._pruned_at < retention.prune_every_seconds:
            return
        self._pruned_at = now
        self.prune(retention)
