"""The embedded store's readings: idempotent ingest and a sensor's readings nearest a time."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pipeline.readings import Reading
from pipeline.storage.base import END_OF_TIME, new_readings, reading_key, valid_readings
from pipeline.storage.sqlite_engine import SqliteEngine

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


class SqliteReadings(SqliteEngine):
    """Readings, identified by (sensor_id, id) and immutable once stored."""

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

    def readings_after(self, sensor_id: str, after: str, size: int) -> list[Reading]:
        return self._reading_page(sensor_id, after, size, newest_first=False)

    def recent_readings(self, sensor_id: str, limit: int) -> list[Reading]:
        return self.reading_window(sensor_id, END_OF_TIME, limit)
