"""The embedded store: one SQLite file (WAL mode) with its own change feed.

Readings keep their raw JSON so the change feed hands the summariser exactly what a
device wrote, valid or not, as Cosmos DB's change feed does. The store is composed by
concern, one module each:

- `sqlite_engine`: connections, transactions that are acknowledged only once on disk,
  the store file's safety checks, the statement meter;
- `sqlite_schema`: the tables and the migration of older stores;
- `sqlite_readings`: idempotent ingest and a sensor's readings nearest a time;
- `sqlite_summaries`: the latest pointers (compare-and-swap), history, dead letters;
- `sqlite_feed`: the change feed of the readings table and its checkpoints;
- `sqlite_rollups`: time windows (1 minute, 1 hour) of each sensor's readings;
- `sqlite_retention`: pruning by the retention settings, as Cosmos DB's TTL expires items.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.settings import Retention
from pipeline.storage.sqlite_engine import MIN_FREE_BYTES, StatementMeter
from pipeline.storage.sqlite_feed import SqliteFeed
from pipeline.storage.sqlite_readings import KEY_CHUNK, SqliteReadings
from pipeline.storage.sqlite_retention import SqliteRetention
from pipeline.storage.sqlite_rollups import SqliteRollups
from pipeline.storage.sqlite_schema import SCHEMA_VERSION, prepare_schema
from pipeline.storage.sqlite_summaries import STATE_CHUNK, SqliteSummaries

__all__ = [
    "KEY_CHUNK",
    "MIN_FREE_BYTES",
    "SCHEMA_VERSION",
    "STATE_CHUNK",
    "SqliteStore",
    "StatementMeter",
    "prepare_schema",
]


class SqliteStore(SqliteReadings, SqliteSummaries, SqliteFeed, SqliteRollups, SqliteRetention):
    """Store and ChangeFeed on a SQLite file; safe to share between threads.

    With `retention`, what is older than it is pruned after a feed checkpoint, at most
    once per `retention.prune_every_seconds`.
    """

    def __init__(self, path: Path | str, retention: Retention | None = None) -> None:
        super().__init__(path)
        self.retention = retention

    def commit_feed(self, consumer: str, position: int) -> None:
        super().commit_feed(consumer, position)
        self.maybe_prune()
