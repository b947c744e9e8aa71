"""The embedded store's summaries: the latest pointers (compare-and-swap), history, dead letters."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pipeline.readings import DeadLetter, Summary
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

STATE_CHUNK = 500


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
