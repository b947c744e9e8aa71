"""The embedded store's tables, and the migration of a store written by an older version."""

from __future__ import annotations

import sqlite3

# Readings are identified by (sensor_id, id), as in Cosmos DB where the sensor id is the
# partition key. `sensor_id` is the document's sensor id as text (JSON when it is not a
# string: such documents are kept only to be dead-lettered).
_READINGS_TABLE = """
CREATE TABLE {name} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    sensor_id TEXT,
    timestamp TEXT,
    body TEXT NOT NULL,
    -- When this store wrote the change (Julian day, UTC): the feed's lag is measured
    -- from it, never from a device's timestamp, which may lie in the future or the past.
    written_at REAL NOT NULL DEFAULT (julianday('now')),
    UNIQUE (sensor_id, id)
)
"""
_SCHEMA = """
CREATE INDEX IF NOT EXISTS readings_by_sensor_time ON readings (sensor_id, timestamp);
CREATE TABLE IF NOT EXISTS summaries (
    sensor_id TEXT NOT NULL,
    id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    body TEXT NOT NULL,
    -- When this store last wrote the row (Julian day, UTC): retention counts from it, as a
    -- Cosmos DB TTL counts from an item's last write (a device may send old readings).
    written_at REAL,
    PRIMARY KEY (sensor_id, id)
);
CREATE INDEX IF NOT EXISTS summaries_by_sensor_time ON summaries (sensor_id, timestamp);
CREATE TABLE IF NOT EXISTS latest_summaries (
    sensor_id TEXT PRIMARY KEY,
    timestamp TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    window TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
-- Time windows of a sensor's readings (see pipeline/rollups.py), one row per bucket.
CREATE TABLE IF NOT EXISTS rollups (
    sensor_id TEXT NOT NULL,
    bucket TEXT NOT NULL,
    start TEXT NOT NULL,
    count INTEGER NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    avg REAL NOT NULL,
    written_at REAL NOT NULL DEFAULT (julianday('now')),
    PRIMARY KEY (sensor_id, bucket, start)
) WITHOUT ROWID;
"""
# 1: readings unique by id alone (INSERT OR REPLACE); 2: by (sensor_id, id), immutable;
# 3: time windows (rollups); 4: summaries' write time.
SCHEMA_VERSION = 4


def prepare_schema(connection: sqlite3.Connection) -> None:
    """Create the tables, or migrate a store written by an older version, in one transaction.

    The migration keeps every reading and its feed sequence number, so consumers'
    checkpoints stay valid. Two processes opening the same old file migrate it once:
    the version is read again under the write lock.
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        if version < 2:
            exists = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'readings'"
            ).fetchone()
            if exists:
                connection.execute(_READINGS_TABLE.format(name="readings_migrated"))
                # Ids were unique across sensors before, so the copy cannot collide. A
                # store made before `written_at` gets the readings' own times as estimates.
                columns = {row[1] for row in connection.execute("PRAGMA table_info(readings)").fetchall()}
                written_at = "written_at" if "written_at" in columns else "julianday(timestamp)"
                connection.execute(
                    "INSERT INTO readings_migrated (seq, id, sensor_id, timestamp, body, written_at) "
                    f"SELECT seq, id, sensor_id, timestamp, body, COALESCE({written_at}, julianday('now')) "
                    "FROM readings"
                )
                connection.execute("DROP TABLE readings")
                connection.execute("ALTER TABLE readings_migrated RENAME TO readings")
            else:
                connection.execute(_READINGS_TABLE.format(name="readings"))
        if version < SCHEMA_VERSION:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(summaries)").fetchall()}
            if "written_at" not in columns:
                # Rows written before keep NULL: retention takes their own timestamp instead.
                connection.execute("ALTER TABLE summaries ADD COLUMN written_at REAL")
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
