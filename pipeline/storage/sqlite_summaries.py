"""The embedded store's summaries: the latest pointers (compare-and-swap), history, dead letters."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from pipeline.readings import DeadLetter, Summary
from pipeline.rollups import Rollup
from pipeline.storage.base import (
    NO_POINTER,
    LatestMarker,
    LatestSummary,
    Publication,
    SensorState,
    decode_window,
    encode_window,
)
from pipeline.storage.sqlite_engine import SqliteEngine
from pipeline.storage.sqlite_rollups import PUT_ROLLUP_SQL, rollup_rows

STATE_CHUNK = 500
_HISTORY_SQL = (
    "INSERT OR REPLACE INTO summaries (sensor_id, id, timestamp, body, written_at) "
    "VALUES (?, ?, ?, ?, julianday('now'))"
)
# The compare-and-swap in one statement: it changes a row only at that version.
_SWAP_SQL = (
    "UPDATE latest_summaries SET timestamp = ?, version = version + 1, body = ?, "
    "window = ? WHERE sensor_id = ? AND version = ?"
)


def _plain_swap(publication: Publication) -> bool:
    """Whether the publication moves an existing pointer forward from a version it read."""
    expected = publication.expected
    if expected is None or expected == NO_POINTER:
        return False
    return expected.timestamp <= publication.summary.timestamp


def _json(document: Any) -> str:
    """The document as JSON, as `json.loads` reads it back; orjson: a fifth of `json.dumps`' time.

    orjson writes a NaN as null where `json.dumps` writes NaN, and refuses integers beyond
    64 bits: the rare document that holds a null (or the word in a string) or such an integer
    is written by `json.dumps`, as before.
    """
    try:
        encoded = orjson.dumps(document)
    except orjson.JSONEncodeError:
        return json.dumps(document)
    return json.dumps(document) if b"null" in encoded else encoded.decode()


def _encoded(publication: Publication) -> tuple[str, str]:
    """The pointer's columns: the summary's document and the window, as JSON."""
    return _json(publication.summary.to_document()), _json(encode_window(publication.window))


def _history(publication: Publication, body: str, rows: list[tuple[str, str, str, str]]) -> None:
    """The rows of every summary the publication writes (its repairs, then its own)."""
    summary = publication.summary
    for written in {s.id: s for s in publication.repairs if s.id != summary.id}.values():
        rows.append((written.sensor_id, written.id, written.timestamp, _json(written.to_document())))
    rows.append((summary.sensor_id, summary.id, summary.timestamp, body))


class SqliteSummaries(SqliteEngine):
    """Every sensor's latest summary with its window, the summaries' history, and dead letters."""

    def __init__(self, path: Path | str) -> None:
        super().__init__(path)
        # The pointers as last read, by sensor: (body, version) -> its parsed form, so a
        # dashboard refresh over thousands of sensors parses only the pointers that moved.
        self._pointers_read: dict[str, tuple[str, int, LatestSummary]] = {}

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
        encoded: tuple[str, str],
        history: list[tuple[str, str, str, str]],
    ) -> LatestMarker | None:
        """The compare-and-swap of one pointer; the summaries to write go to `history`."""
        summary = publication.summary
        body, window = encoded
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
            changed = connection.execute(
                _SWAP_SQL, (summary.timestamp, body, window, summary.sensor_id, int(expected.version))
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
        _history(publication, body, history)
        return moved

    def _swap_together(
        self,
        connection: sqlite3.Connection,
        publications: Sequence[Publication],
        encoded: list[tuple[str, str]],
        history: list[tuple[str, str, str, str]],
    ) -> list[LatestMarker | None] | None:
        """Every pointer swapped in one run of the statement, or None (then one by one).

        Only when every publication is a plain swap of its own sensor's pointer: then the
        rows changed add up to their number exactly when every swap succeeded. Otherwise
        nothing of the attempt is kept, and the caller swaps one by one to learn which.
        """
        sensors = {publication.summary.sensor_id for publication in publications}
        if len(publications) < 2 or len(sensors) < len(publications):
            return None
        if not all(_plain_swap(publication) for publication in publications):
            return None
        versions = [int(p.expected.version) for p in publications if p.expected is not None]
        rows = [
            (p.summary.timestamp, body, window, p.summary.sensor_id, version)
            for p, (body, window), version in zip(publications, encoded, versions, strict=True)
        ]
        connection.execute("SAVEPOINT swap_together")
        if connection.executemany(_SWAP_SQL, rows).rowcount != len(rows):
            connection.execute("ROLLBACK TO swap_together")
            connection.execute("RELEASE swap_together")
            return None
        connection.execute("RELEASE swap_together")
        markers: list[LatestMarker | None] = []
        for publication, (body, _), version in zip(publications, encoded, versions, strict=True):
            _history(publication, body, history)
            markers.append(LatestMarker(publication.summary.timestamp, str(version + 1)))
        return markers

    # `publish` takes the time windows of its publications too (summariser.rollup_writer).
    PUBLISHES_WINDOWS = True

    def publish(
        self, publications: Sequence[Publication], windows: Sequence[Rollup] = ()
    ) -> list[LatestMarker | None]:
        """Every publication, and `windows`, in one transaction: SQLite's cost is per commit."""
        history: list[tuple[str, str, str, str]] = []
        with self._transaction() as connection:
            if windows:
                connection.executemany(PUT_ROLLUP_SQL, rollup_rows(windows))
            encoded = [_encoded(publication) for publication in publications]
            markers = self._swap_together(connection, publications, encoded, history)
            if markers is None:
                markers = [
                    self._publish_one(connection, publication, pair, history)
                    for publication, pair in zip(publications, encoded, strict=True)
                ]
            connection.executemany(_HISTORY_SQL, history)
        return markers

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

    def recent_dead_letters(self, limit: int) -> list[DeadLetter]:
        rows = (
            self._connection()
            .execute("SELECT body FROM dead_letters ORDER BY received_at DESC, id LIMIT ?", (limit,))
            .fetchall()
        )
        return [DeadLetter(**json.loads(body)) for (body,) in rows]

    def dead_letter_count(self) -> int:
        (count,) = self._connection().execute("SELECT COUNT(*) FROM dead_letters").fetchone()
        return int(count)
