"""The embedded store: one SQLite file (WAL mode) with its own change feed.

Readings keep their raw JSON so the change feed hands the summariser exactly what a
device wrote, valid or not, as Cosmos DB's change feed does. Every upsert of a reading
gets a new, ever-increasing sequence number: that is the feed's order (per sensor too),
and a consumer's checkpoint is the last sequence number it processed.

A commit is acknowledged only once it is on disk in the store's own files: `synchronous=FULL`
(the log is fsynced at every commit, so a 201 survives a power cut, not only a crash), and
before and after every commit the store checks that the file it opened is still the one at
its path, that its write-ahead log is still the one this connection writes to, and that
both are writable. A store that cannot persist raises StoreNotWritable (a 503), never
succeeds into a file that is gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from pipeline.readings import (
    DeadLetter,
    Reading,
    Summary,
)
from pipeline.storage.base import (
    END_OF_TIME,
    NO_POINTER,
    FeedBatch,
    LatestMarker,
    LatestSummary,
    Publication,
    SensorState,
    StoreError,
    StoreNotWritable,
    StoreUnavailable,
    decode_window,
    encode_window,
    new_readings,
    reading_key,
    valid_readings,
)

log = logging.getLogger(__name__)

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
# 1: readings unique by id alone (INSERT OR REPLACE); 2: by (sensor_id, id), immutable.
SCHEMA_VERSION = 2


def prepare_schema(connection: sqlite3.Connection) -> None:
    """Create the tables, or migrate a store written by an older version, in one transaction.

    The migration keeps every reading and its feed sequence number, so consumers'
    checkpoints stay valid. Two processes opening the same old file migrate it once:
    the version is read again under the write lock.
    """
    connection.execute("BEGIN IMMEDIATE")
    try:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        if version < SCHEMA_VERSION:
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
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


STATE_CHUNK = 500
# A sensor's readings nearest a time, ties broken by id: at or before it (a window), or after it.
_WINDOW_SQL = (
    "SELECT body FROM readings WHERE sensor_id = ? AND timestamp <= ? "
    "ORDER BY timestamp DESC, id DESC LIMIT ?"
)
_AFTER_SQL = "SELECT body FROM readings WHERE sensor_id = ? AND timestamp > ? ORDER BY timestamp, id LIMIT ?"
# Pairs of parameters per `(sensor_id, id) IN (VALUES ...)` look-up.
KEY_CHUNK = 400


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


# Primary result codes that mean the store cannot answer or persist now (a disk, file or
# lock problem), not a bug or a constraint: callers get a 503 and retry later.
_NOT_WRITABLE = {
    sqlite3.SQLITE_PERM: "store file is read-only",
    sqlite3.SQLITE_READONLY: "store file is read-only",
    sqlite3.SQLITE_IOERR: "store file I/O error",
    sqlite3.SQLITE_CORRUPT: "store file is corrupt",
    sqlite3.SQLITE_FULL: "disk full",
    sqlite3.SQLITE_CANTOPEN: "store file cannot be opened",
    sqlite3.SQLITE_NOTADB: "store file is not a database",
}
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
# Health reports the disk as full below this much free space: SQLite reuses its log, so
# small writes can still succeed on a full disk until a checkpoint needs to grow the file.
MIN_FREE_BYTES = 1 << 20


def _translated(error: sqlite3.Error) -> Exception:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:
        return error
    if code & 0xFF in _BUSY:
        return StoreUnavailable("store busy")
    reason = _NOT_WRITABLE.get(code & 0xFF)
    return StoreNotWritable(reason) if reason else error


class _Cursor(sqlite3.Cursor):
    """A cursor whose disk, file and lock faults are StoreErrors (the store's contract)."""

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as error:
            raise _translated(error) from error

    def executescript(self, script: str, /) -> _Cursor:
        try:
            return super().executescript(script)
        except sqlite3.Error as error:
            raise _translated(error) from error

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.Error as error:
            raise _translated(error) from error

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.Error as error:
            raise _translated(error) from error


class _Connection(sqlite3.Connection):
    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        return self.cursor(_Cursor).execute(sql, parameters)

    def executescript(self, script: str, /) -> _Cursor:
        return self.cursor(_Cursor).executescript(script)


class _FileId(NamedTuple):
    device: int
    inode: int


def _file_id(path: str) -> _FileId | None:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return _FileId(status.st_dev, status.st_ino)


@dataclass
class _Opened:
    """One thread's connection, the reconnection generation it belongs to, and its log file."""

    connection: _Connection
    generation: int
    wal: _FileId | None


class StatementMeter:
    """Counts the SQL statements every thread's connection executes, by verb (SELECT, INSERT...).

    The SQLite counterpart of the Cosmos DB store's request meter; transaction control
    (BEGIN, COMMIT, ROLLBACK) and PRAGMAs are not counted.
    """

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, statement: str) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if verb and verb not in ("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA"):
            with self._lock:
                self.requests[verb] += 1

    def total(self) -> int:
        with self._lock:
            return sum(self.requests.values())


class SqliteStore:
    """Store and ChangeFeed on a SQLite file; safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self.meter = StatementMeter()
        self._wal_path = f"{self._path}-wal"
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._ready = False
        self._written_at = "written_at"  # or an estimate, in a store made before that column
        # The file this store opened first: whatever later sits at the path must be it.
        self._file: _FileId | None = None
        self._generation = 0  # moved on to make every thread reconnect
        # The pointers as last read, by sensor: (body, version) -> its parsed form, so a
        # dashboard refresh over thousands of sensors parses only the pointers that moved.
        self._pointers_read: dict[str, tuple[str, int, LatestSummary]] = {}

    def _connect(self, create: bool) -> _Connection:
        if create:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            target, uri = self._path, False
        else:
            # Never create a new, empty file where the store's file was.
            target, uri = f"{Path(self._path).absolute().as_uri()}?mode=rw", True
        return sqlite3.connect(target, timeout=30, isolation_level=None, factory=_Connection, uri=uri)

    def _open(self) -> _Opened:
        try:
            connection = self._connect(create=self._file is None)
            connection.execute("PRAGMA journal_mode=WAL")
            # FULL: the log is fsynced at each commit, so an acknowledged write survives a
            # power cut too (NORMAL survives only a crash of this process).
            connection.execute("PRAGMA synchronous=FULL")
            connection.set_trace_callback(self.meter.record)
            if not self._ready:
                prepare_schema(connection)
                columns = {row[1] for row in connection.execute("PRAGMA table_info(readings)").fetchall()}
                if "written_at" not in columns:
                    self._written_at = "julianday(timestamp)"
                self._ready = True
        except (OSError, sqlite3.Error) as error:
            raise StoreUnavailable(f"cannot open the SQLite store: {error}") from error
        if self._file is None:
            self._file = _file_id(self._path)
        return _Opened(connection, self._generation, _file_id(self._wal_path))

    def _opened(self) -> _Opened:
        opened: _Opened | None = getattr(self._local, "opened", None)
        if opened is not None and opened.generation != self._generation:
            with contextlib.suppress(sqlite3.Error, StoreError):
                opened.connection.close()
            opened = self._local.opened = None
        if self._file is not None:
            self._check_store_file()
        if opened is None:
            opened = self._open()
            self._local.opened = opened
        return opened

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, to the file this store opened first (else StoreError)."""
        return self._opened().connection

    def _file_fault(self) -> str | None:
        current = _file_id(self._path)
        if current is None:
            return "store file deleted"
        if current != self._file:
            return "store file replaced by another file"
        return None

    def _check_store_file(self) -> None:
        if (fault := self._file_fault()) is not None:
            raise StoreNotWritable(fault)

    def _fault(self, opened: _Opened) -> str | None:
        """Why a commit on this connection now would not be persisted, or None."""
        if (fault := self._file_fault()) is not None:
            return fault
        wal = _file_id(self._wal_path)
        if opened.wal is None:
            opened.wal = wal
        elif wal != opened.wal:
            return "write-ahead log deleted or replaced"
        if not os.access(self._path, os.W_OK) or (wal is not None and not os.access(self._wal_path, os.W_OK)):
            return "store file is read-only"
        return None

    def _refuse_if_not_writable(self, opened: _Opened) -> None:
        """Raise StoreNotWritable if a commit would not be persisted; call with the write lock held."""
        fault = self._fault(opened)
        if fault is None:
            return
        if fault.startswith("write-ahead log"):
            self._save_lost_log(opened.connection)
        raise StoreNotWritable(fault)

    def _save_lost_log(self, connection: _Connection) -> None:
        """Copy what a deleted log holds into the store file, then make every thread reconnect.

        This connection still has the lost log open; a checkpoint copies every committed
        page from it into the store file, which is still the right one. New connections
        then start a new log at the path. Without this, every write since the last
        checkpoint would vanish when the process exits.
        """
        (busy, _, _) = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise StoreNotWritable("write-ahead log deleted or replaced; saving it is waiting for readers")
        self._generation += 1

    @staticmethod
    def _rollback(connection: _Connection) -> None:
        with contextlib.suppress(sqlite3.Error, StoreError):
            connection.execute("ROLLBACK")

    def ensure_ready(self) -> None:
        self._connection()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction on this thread's connection; committed only if persisted."""
        opened = self._opened()
        connection = opened.connection
        # One writer at a time inside this process; BEGIN IMMEDIATE orders writers
        # across processes.
        with self._write_lock:
            self._refuse_if_not_writable(opened)
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                self._rollback(connection)
                raise
            if self._fault(opened) is not None:  # lost while the statements ran
                self._rollback(connection)
                self._refuse_if_not_writable(opened)
            connection.execute("COMMIT")
            # Lost between the check and the commit: the write is not acknowledged (a
            # retry is idempotent); a lost log is saved into the store file first.
            self._refuse_if_not_writable(opened)

    def _write(self, statements: Iterable[tuple[str, Sequence[Any]]]) -> None:
        with self._transaction() as connection:
            for sql, params in statements:
                connection.execute(sql, params)

    def _stored_readings(
        self, connection: sqlite3.Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        stored: dict[tuple[str, str], dict[str, Any]] = {}
        for start in range(0, len(keys), KEY_CHUNK):
            chunk = keys[start : start + KEY_CHUNK]
            rows = connection.execute(
                "SELECT sensor_id, id, body FROM readings WHERE (sensor_id, id) IN "
                f"(VALUES {', '.join(['(?, ?)'] * len(chunk))})",
                [value for key in chunk for value in key],
            ).fetchall()
            stored.update(((sensor_id, reading_id), json.loads(body)) for sensor_id, reading_id, body in rows)
        return stored

    def put_readings(self, documents: Iterable[Mapping[str, Any]]) -> int:
        documents = list(documents)
        for document in documents:
            reading_id = document.get("id")
            if not isinstance(reading_id, str) or not reading_id:
                raise ValueError("every reading document needs a string id")
        keys = list(dict.fromkeys(reading_key(document) for document in documents))
        # Look-up and insert in one write transaction: no other writer can slip between.
        with self._transaction() as connection:
            fresh = new_readings(documents, self._stored_readings(connection, keys))
            for document in fresh:
                sensor_id, reading_id = reading_key(document)
                connection.execute(
                    "INSERT INTO readings (id, sensor_id, timestamp, body) VALUES (?, ?, ?, ?)",
                    (
                        reading_id,
                        sensor_id,
                        document.get("timestamp") if isinstance(document.get("timestamp"), str) else None,
                        _dumps(document),
                    ),
                )
        return len(documents)

    def _reading_page(self, sensor_id: str, bound: str, size: int, newest_first: bool) -> list[Reading]:
        """The `size` valid readings nearest `bound`: at or before it, newest first, or after it."""
        sql = _WINDOW_SQL if newest_first else _AFTER_SQL
        fetch = size + 1
        while True:
            rows = self._connection().execute(sql, (sensor_id, bound, fetch)).fetchall()
            valid = valid_readings(json.loads(body) for (body,) in rows)
            if len(valid) >= size or len(rows) < fetch:
                return valid[:size]
            fetch *= 2  # invalid documents took places in the page; look further on

    def reading_window(self, sensor_id: str, as_of: str, size: int) -> list[Reading]:
        return self._reading_page(sensor_id, as_of, size, newest_first=True)

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
        if expected == NO_POINTER:
            changed = connection.execute(
                "INSERT OR IGNORE INTO latest_summaries (sensor_id, timestamp, version, body, window) "
                "VALUES (?, ?, 1, ?, ?)",
                (summary.sensor_id, summary.timestamp, body, window),
            ).rowcount
            if changed == 0:
                return None
            moved = LatestMarker(summary.timestamp, "1")
        elif expected is not None and expected.timestamp <= summary.timestamp:
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
        # In the same transaction as the compare-and-swap: written only if it succeeded.
        for written in {s.id: s for s in (*publication.repairs, summary)}.values():
            connection.execute(
                "INSERT OR REPLACE INTO summaries (sensor_id, id, timestamp, body) VALUES (?, ?, ?, ?)",
                (written.sensor_id, written.id, written.timestamp, json.dumps(written.to_document())),
            )
        return moved

    def publish(self, publications: Sequence[Publication]) -> list[LatestMarker | None]:
        # One transaction for the whole batch: SQLite's cost is per commit, not per row.
        with self._transaction() as connection:
            return [self._publish_one(connection, publication) for publication in publications]

    def readings_after(self, sensor_id: str, after: str, size: int) -> list[Reading]:
        return self._reading_page(sensor_id, after, size, newest_first=False)

    def summaries_between(self, sensor_id: str, start: str, end: str, limit: int) -> list[Summary]:
        rows = (
            self._connection()
            .execute(
                "SELECT body FROM summaries WHERE sensor_id = ? AND timestamp >= ? AND timestamp < ? "
                "ORDER BY timestamp LIMIT ?",
                (sensor_id, start, end, limit),
            )
            .fetchall()
        )
        return [Summary.from_document(json.loads(body)) for (body,) in rows]

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self._write(
            (
                "INSERT OR REPLACE INTO dead_letters (id, received_at, body) VALUES (?, ?, ?)",
                (letter.id, letter.received_at, json.dumps(letter.to_document())),
            )
            for letter in letters
        )

    def latest_summaries(self) -> dict[str, Summary]:
        return {sensor_id: latest.summary for sensor_id, latest in self.latest_pointers().items()}

    def latest_pointers(self) -> dict[str, LatestSummary]:
        rows = self._connection().execute("SELECT sensor_id, body, version FROM latest_summaries").fetchall()
        known = self._pointers_read
        pointers: dict[str, LatestSummary] = {}
        for sensor_id, body, version in rows:
            cached = known.get(sensor_id)
            if cached is not None and cached[0] == body and cached[1] == version:
                pointers[sensor_id] = cached[2]
                continue
            # The version is the compare-and-swap's: it moves with every publication.
            pointers[sensor_id] = LatestSummary(Summary.from_document(json.loads(body)), str(version))
        # Replaced whole (never mutated), so threads reading it concurrently are safe.
        self._pointers_read = {sensor: (body, version, pointers[sensor]) for sensor, body, version in rows}
        return pointers

    def recent_summaries(self, sensor_id: str, limit: int, traced: bool = True) -> list[Summary]:
        rows = (
            self._connection()
            .execute(
                "SELECT body FROM summaries WHERE sensor_id = ? ORDER BY timestamp DESC LIMIT ?",
                (sensor_id, limit),
            )
            .fetchall()
        )
        summaries = [Summary.from_document(json.loads(body)) for (body,) in rows]
        return summaries if traced else [replace(summary, correlation_ids=()) for summary in summaries]

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
        """Raise StoreError unless a write now would be persisted: files, free space, a real write."""
        if (free := self._free_bytes()) is not None and free < MIN_FREE_BYTES:
            raise StoreNotWritable("disk full")
        with self._transaction() as connection:
            connection.execute("CREATE TABLE IF NOT EXISTS store_probe (id INTEGER PRIMARY KEY, at TEXT)")
            connection.execute(
                "INSERT OR REPLACE INTO store_probe (id, at) VALUES (1, ?)", (datetime.now(UTC).isoformat(),)
            )

    def _free_bytes(self) -> int | None:
        try:
            status = os.statvfs(Path(self._path).parent)
        except OSError:
            return None
        return status.f_bavail * status.f_frsize

    def close(self) -> None:
        opened: _Opened | None = getattr(self._local, "opened", None)
        if opened is not None:
            if opened.generation == self._generation:
                with self._write_lock:
                    self._save_before_closing(opened)
            opened.connection.close()
            self._local.opened = None

    def _save_before_closing(self, opened: _Opened) -> None:
        """Keep what would vanish with this process: a lost log, or a store file deleted meanwhile."""
        if self._file_fault() is None:
            with contextlib.suppress(StoreError):
                self._refuse_if_not_writable(opened)  # saves a lost log into the store file
            return
        # The file at the path is gone or another one: this connection still reads the
        # store this process wrote to; copy it beside the path rather than lose it.
        saved = f"{self._path}.saved-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        try:
            with contextlib.closing(sqlite3.connect(saved)) as target:
                opened.connection.backup(target)
        except (OSError, sqlite3.Error, StoreError) as error:
            log.error("the store file was deleted or replaced while running; saving it failed: %s", error)
            return
        log.warning("the store file was deleted or replaced while running; its content is saved as %s", saved)

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

    def dead_letter_count(self) -> int:
        (count,) = self._connection().execute("SELECT COUNT(*) FROM dead_letters").fetchone()
        return int(count)

    def feed_backlog(self, consumer: str) -> int:
        start = self._position(consumer)
        (count,) = (
            self._connection().execute("SELECT COUNT(*) FROM readings WHERE seq > ?", (start,)).fetchone()
        )
        return int(count)
