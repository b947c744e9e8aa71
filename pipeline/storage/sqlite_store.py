"""The embedded store: one SQLite file (WAL mode) with its own change feed.

Readings keep their raw JSON so the change feed hands the summariser exactly what a
device wrote, valid or not, as Cosmos DB's change feed does. Every upsert of a reading
gets a new, ever-increasing sequence number: that is the feed's order (per sensor too),
and a consumer's checkpoint is the last sequence number it processed.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.readings import (
    DeadLetter,
    Reading,
    Summary,
    parse_timestamp,
)
from pipeline.storage.base import (
    END_OF_TIME,
    FeedBatch,
    LatestMarker,
    Publication,
    SensorState,
    StoreUnavailable,
    decode_window,
    encode_window,
    valid_readings,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    sensor_id TEXT,
    timestamp TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_by_sensor_time ON readings (sensor_id, timestamp);
CREATE TABLE IF NOT EXISTS summaries (
    sensor_id TEXT NOT NULL,
    id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    body TEXT NOT NULL,
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
"""


STATE_CHUNK = 500


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dumps(document: Mapping[str, Any]) -> str:
    # Cosmos DB stores JSON, which has no NaN or Infinity; keep them as strings so a
    # poisoned reading is still stored (and dead-lettered later), never lost.
    try:
        return json.dumps(document, allow_nan=False)
    except ValueError:
        return json.dumps(
            {
                k: (repr(v) if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in document.items()
            }
        )


class SqliteStore:
    """Store and ChangeFeed on a SQLite file; safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._ready = False

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            try:
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(self._path, timeout=30, isolation_level=None)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                if not self._ready:
                    connection.executescript(_SCHEMA)
                    self._ready = True
            except (OSError, sqlite3.Error) as error:
                raise StoreUnavailable(f"cannot open SQLite store {self._path}: {error}") from error
            self._local.connection = connection
        return connection

    def ensure_ready(self) -> None:
        self._connection()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction on this thread's connection."""
        connection = self._connection()
        # One writer at a time inside this process; BEGIN IMMEDIATE orders writers
        # across processes.
        with self._write_lock:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _write(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        with self._transaction() as connection:
            for sql, params in statements:
                connection.execute(sql, params)

    def put_readings(self, documents: Iterable[Mapping[str, Any]]) -> int:
        rows = []
        for document in documents:
            reading_id = document.get("id")
            if not isinstance(reading_id, str) or not reading_id:
                raise ValueError("every reading document needs a string id")
            rows.append(
                (
                    "INSERT OR REPLACE INTO readings (id, sensor_id, timestamp, body) VALUES (?, ?, ?, ?)",
                    (
                        reading_id,
                        _text_or_none(document.get("sensor_id")),
                        _text_or_none(document.get("timestamp")),
                        _dumps(document),
                    ),
                )
            )
        self._write(rows)
        return len(rows)

    def reading_window(self, sensor_id: str, as_of: str, size: int) -> list[Reading]:
        fetch = size + 1
        while True:
            rows = (
                self._connection()
                .execute(
                    "SELECT body FROM readings WHERE sensor_id = ? AND timestamp <= ? "
                    "ORDER BY timestamp DESC, id DESC LIMIT ?",
                    (sensor_id, as_of, fetch),
                )
                .fetchall()
            )
            valid = valid_readings(json.loads(body) for (body,) in rows)
            if len(valid) >= size or len(rows) < fetch:
                return valid[:size]
            fetch *= 2  # invalid documents took places in the page; look further back

    def sensor_states(self, sensor_ids: Sequence[str]) -> dict[str, SensorState]:
        states: dict[str, SensorState] = {}
        for start in range(0, len(sensor_ids), STATE_CHUNK):
            chunk = list(sensor_ids[start : start + STATE_CHUNK])
            rows = (
                self._connection()
                .execute(
                    "SELECT sensor_id, version, body, window FROM latest_summaries "
                    f"WHERE sensor_id IN ({', '.join('?' * len(chunk))})",
                    chunk,
                )
                .fetchall()
            )
            for sensor_id, version, body, window in rows:
                summary = Summary.from_document(json.loads(body))
                states[sensor_id] = SensorState(
                    summary,
                    decode_window(sensor_id, json.loads(window)),
                    LatestMarker(summary.timestamp, str(version)),
                )
        return states

    def _publish_one(
        self,
        connection: sqlite3.Connection,
        publication: Publication,
    ) -> LatestMarker | None:
        summary = publication.summary
        body = json.dumps(summary.to_document())
        window = json.dumps(encode_window(publication.window))
        expected = publication.expected
        if expected is not None and expected.timestamp <= summary.timestamp:
            # The compare-and-swap in one statement: it changes a row only at that version.
            changed = connection.execute(
                "UPDATE latest_summaries SET timestamp = ?, version = version + 1, body = ?, "
                "window = ? WHERE sensor_id = ? AND version = ?",
                (summary.timestamp, body, window, summary.sensor_id, int(expected.version)),
            ).rowcount
            if changed == 0:
                return None
            moved = LatestMarker(summary.timestamp, str(int(expected.version) + 1))
        else:
            row = connection.execute(
                "SELECT timestamp, version FROM latest_summaries WHERE sensor_id = ?",
                (summary.sensor_id,),
            ).fetchone()
            current = LatestMarker(row[0], str(row[1])) if row else None
            if expected is not None and current != expected:
                return None
            version = int(current.version) + 1 if current else 1
            if current is not None and current.timestamp > summary.timestamp:
                connection.execute(
                    "UPDATE latest_summaries SET version = ? WHERE sensor_id = ?",
                    (version, summary.sensor_id),
                )
                moved = LatestMarker(current.timestamp, str(version))
            else:
                connection.execute(
                    "INSERT OR REPLACE INTO latest_summaries (sensor_id, timestamp, version, body, "
                    "window) VALUES (?, ?, ?, ?, ?)",
                    (summary.sensor_id, summary.timestamp, version, body, window),
                )
                moved = LatestMarker(summary.timestamp, str(version))
        connection.execute(
            "INSERT OR REPLACE INTO summaries (sensor_id, id, timestamp, body) VALUES (?, ?, ?, ?)",
            (summary.sensor_id, summary.id, summary.timestamp, body),
        )
        return moved

    def publish(self, publications: Sequence[Publication]) -> list[LatestMarker | None]:
        # One transaction for the whole batch: SQLite's cost is per commit, not per row.
        with self._transaction() as connection:
            return [self._publish_one(connection, publication) for publication in publications]

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self._write(
            (
                "INSERT OR REPLACE INTO dead_letters (id, received_at, body) VALUES (?, ?, ?)",
                (letter.id, letter.received_at, json.dumps(letter.to_document())),
            )
            for letter in letters
        )

    def latest_summaries(self) -> dict[str, Summary]:
        rows = self._connection().execute("SELECT body FROM latest_summaries").fetchall()
        latest = (Summary.from_document(json.loads(body)) for (body,) in rows)
        return {summary.sensor_id: summary for summary in latest}

    def recent_summaries(self, sensor_id: str, limit: int) -> list[Summary]:
        rows = (
            self._connection()
            .execute(
                "SELECT body FROM summaries WHERE sensor_id = ? ORDER BY timestamp DESC LIMIT ?",
                (sensor_id, limit),
            )
            .fetchall()
        )
        return [Summary.from_document(json.loads(body)) for (body,) in rows]

    def recent_readings(self, sensor_id: str, limit: int) -> list[Reading]:
        return self.reading_window(sensor_id, END_OF_TIME, limit)

    def recent_dead_letters(self, limit: int) -> list[DeadLetter]:
        rows = (
            self._connection()
            .execute("SELECT body FROM dead_letters ORDER BY received_at DESC, id LIMIT ?", (limit,))
            .fetchall()
        )
        return [DeadLetter(**json.loads(body)) for (body,) in rows]

    def ping(self) -> None:
        try:
            self._connection().execute("SELECT 1").fetchone()
        except sqlite3.Error as error:
            raise StoreUnavailable(f"SQLite store {self._path}: {error}") from error

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # The change feed of the readings table.

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

    def feed_lag_seconds(self, consumer: str) -> float:
        """Age of the oldest reading the consumer has not processed (0 when caught up)."""
        row = (
            self._connection()
            .execute(
                "SELECT MIN(timestamp) FROM readings WHERE seq > ? AND timestamp IS NOT NULL",
                (self._position(consumer),),
            )
            .fetchone()
        )
        if not row or not row[0]:
            return 0.0
        try:
            oldest = parse_timestamp(row[0])
        except ValueError:
            return 0.0
        return max(0.0, (datetime.now(UTC) - oldest).total_seconds())

    def dead_letter_count(self) -> int:
        (count,) = self._connection().execute("SELECT COUNT(*) FROM dead_letters").fetchone()
        return int(count)

    def feed_backlog(self, consumer: str) -> int:
        start = self._position(consumer)
        (count,) = (
            self._connection().execute("SELECT COUNT(*) FROM readings WHERE seq > ?", (start,)).fetchone()
        )
        return int(count)
