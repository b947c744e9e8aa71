"""The embedded store: one SQLite file (WAL mode) with its own change feed.

Readings keep their raw JSON so the change feed hands the summariser exactly what a
device wrote, valid or not, as Cosmos DB's change feed does. The store is composed by
concern, one module each:

- `sqlite_engine`: connections, transactions that are acknowledged only once on disk,
  the store file's safety checks, the statement meter;
- `sqlite_schema`: the tables and the migration of older stores;
- `sqlite_readings`: idempotent ingest and a sensor's readings nearest a time;
- `sqlite_summaries`: the latest pointers (compare-and-swap), history, dead letters;
- `sqlite_feed`: the change feed of the readings table and its checkpoints.
"""

from __future__ import annotations

from pipeline.storage.sqlite_engine import MIN_FREE_BYTES, StatementMeter
from pipeline.storage.sqlite_feed import SqliteFeed
from pipeline.storage.sqlite_readings import KEY_CHUNK, SqliteReadings
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


class SqliteStore(SqliteReadings, SqliteSummaries, SqliteFeed):
    """Store and ChangeFeed on a SQLite file; safe to share between threads."""
