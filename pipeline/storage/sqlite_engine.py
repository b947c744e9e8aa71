"""The embedded store's engine: per-thread connections, atomic transactions that are on disk.

A commit is acknowledged only once it is on disk in the store's own files: `synchronous=FULL`
(the log is fsynced at every commit, so a 201 survives a power cut, not only a crash), and
before and after every commit the store checks that the file it opened is still the one at
its path, that its write-ahead log is still the one this connection writes to, and that
both are writable. A store that cannot persist raises StoreNotWritable (a 503), never
succeeds into a file that is gone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from pipeline.storage.base import StoreError, StoreNotWritable, StoreUnavailable
from pipeline.storage.sqlite_schema import prepare_schema

log = logging.getLogger(__name__)

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

    def executemany(self, sql: str, parameters: Any, /) -> _Cursor:
        try:
            return super().executemany(sql, parameters)
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

    def executemany(self, sql: str, parameters: Any, /) -> _Cursor:
        return self.cursor(_Cursor).executemany(sql, parameters)

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


_NOT_COUNTED = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA"})


class StatementMeter:
    """Counts the SQL statements every thread's connection executes, by verb (SELECT, INSERT...).

    The SQLite counterpart of the Cosmos DB store's request meter; transaction control
    (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) and PRAGMAs are not counted.
    """

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, statement: str) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if verb and verb not in _NOT_COUNTED:
            with self._lock:
                self.requests[verb] += 1

    def total(self) -> int:
        with self._lock:
            return sum(self.requests.values())


class SqliteEngine:
    """Connections, transactions and the store file's safety checks; safe to share between threads."""

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
