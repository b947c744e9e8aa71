"""The original design, as written: the baseline every `make bench` figure is compared with.

- Summariser: for each change-feed document, one after another, a TOP 10 query of that
  sensor's newest readings (projected to `c.timestamp, c.temperature`, as it was written)
  and an insert of a summary under a fresh uuid, each insert its own request (on SQLite:
  its own commit).
- The same loop with one commit per batch (`summarise_batch_one_commit`): what anyone
  porting the original to an embedded database would do; the second baseline on SQLite.
  On Cosmos DB it is the same requests as the original (every insert is its own request).
- Page: every viewer, every 2 s, one TOP 1 query per sensor for its newest summary.
- Chart: every request draws a new pyplot figure (figure, plot, savefig, close).

It runs on the same stores as ours (SQLite or the Cosmos-compatible server), through
their connections, with no state kept between calls: that is how it was written.
"""

from __future__ import annotations

import io
import json
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pipeline.readings import Summary, parse_timestamp
from pipeline.storage import Store
from pipeline.storage.cosmos_store import CosmosStore
from pipeline.storage.sqlite_store import SqliteStore

WINDOW = 10
# The original's summariser query: only the two fields it summarises come back.
READINGS_QUERY = (
    "SELECT TOP @n c.timestamp, c.temperature FROM c WHERE c.sensor_id = @sensor ORDER BY c.timestamp DESC"
)
SUMMARIES_QUERY = "SELECT TOP @n * FROM c WHERE c.sensor_id = @sensor ORDER BY c.timestamp DESC"


def summary_document(sensor_id: str, newest: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The original summary of a sensor's newest readings, under a fresh uuid."""
    temperatures = [float(document["temperature"]) for document in newest]
    return {
        "id": str(uuid.uuid4()),
        "sensor_id": sensor_id,
        "timestamp": newest[0]["timestamp"],
        "max_temp": max(temperatures),
        "min_temp": min(temperatures),
        "avg_temp": round(sum(temperatures) / len(temperatures), 2),
        "count": len(temperatures),
    }


class OriginalStore:
    """The original's two queries and one write, on one of our stores."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._open: sqlite3.Connection | None = None  # inside `one_commit` (SQLite only)

    def _newest(self, container: str, sensor_id: str, count: int) -> list[dict[str, Any]]:
        """The original's `TOP n ... ORDER BY timestamp DESC` on "readings" or "summaries"."""
        if isinstance(self.store, CosmosStore):
            proxy = self.store._readings if container == "readings" else self.store._summaries
            return list(
                proxy.query_items(
                    READINGS_QUERY if container == "readings" else SUMMARIES_QUERY,
                    parameters=[{"name": "@n", "value": count}, {"name": "@sensor", "value": sensor_id}],
                    partition_key=sensor_id,
                    response_hook=self.store.meter.hook("query"),
                )
            )
        assert isinstance(self.store, SqliteStore)
        connection = self._open or self.store._connection()
        if container == "readings":  # the projection, in SQL
            rows = connection.execute(
                "SELECT timestamp, json_extract(body, '$.temperature') FROM readings "
                "WHERE sensor_id = ? ORDER BY timestamp DESC LIMIT ?",
                (sensor_id, count),
            ).fetchall()
            return [{"timestamp": timestamp, "temperature": temperature} for timestamp, temperature in rows]
        rows = connection.execute(
            "SELECT body FROM summaries WHERE sensor_id = ? ORDER BY timestamp DESC LIMIT ?",
            (sensor_id, count),
        ).fetchall()
        return [json.loads(body) for (body,) in rows]

    def newest_readings(self, sensor_id: str, count: int) -> list[dict[str, Any]]:
        return self._newest("readings", sensor_id, count)

    def newest_summaries(self, sensor_id: str, count: int) -> list[dict[str, Any]]:
        return self._newest("summaries", sensor_id, count)

    def insert_summary(self, document: dict[str, Any]) -> None:
        if isinstance(self.store, CosmosStore):
            self.store._summaries.create_item(document, response_hook=self.store.meter.hook("create"))
            return
        assert isinstance(self.store, SqliteStore)
        statement = (
            "INSERT INTO summaries (sensor_id, id, timestamp, body) VALUES (?, ?, ?, ?)",
            (document["sensor_id"], document["id"], document["timestamp"], json.dumps(document)),
        )
        if self._open is not None:
            self._open.execute(*statement)
            return
        # One write, committed on its own: each summary was its own request.
        self.store._write([statement])

    @contextmanager
    def one_commit(self) -> Iterator[None]:
        """Every insert inside the block in one transaction (SQLite); nothing changes on Cosmos DB."""
        if not isinstance(self.store, SqliteStore):
            yield
            return
        with self.store._transaction() as connection:
            self._open = connection
            try:
                yield
            finally:
                self._open = None


def summarise_batch(documents: Sequence[dict[str, Any]], store: OriginalStore) -> int:
    """The original trigger's body: per document, query the newest 10 and insert a summary."""
    written = 0
    for document in documents:
        sensor_id = document["sensor_id"]
        newest = store.newest_readings(sensor_id, WINDOW)
        if newest:
            store.insert_summary(summary_document(sensor_id, newest))
            written += 1
    return written


def summarise_batch_one_commit(documents: Sequence[dict[str, Any]], store: OriginalStore) -> int:
    """The same loop, its inserts committed once per batch: the second baseline."""
    with store.one_commit():
        return summarise_batch(documents, store)


def poll(store: OriginalStore, sensor_ids: Sequence[str]) -> dict[str, str]:
    """The original page's poll: one TOP 1 query per sensor."""
    latest = {}
    for sensor_id in sensor_ids:
        newest = store.newest_summaries(sensor_id, 1)
        if newest:
            latest[sensor_id] = newest[0]["timestamp"]
    return latest


def render_chart(sensor_id: str, summaries: Sequence[Summary]) -> bytes:
    """The original chart: a new pyplot figure per request, closed after saving (same pixels as ours)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from visualiser import charts

    ordered = sorted(summaries, key=lambda summary: summary.timestamp)
    times = [parse_timestamp(summary.timestamp) for summary in ordered]
    # As many pixels as ours draws, so the two renders are compared like for like.
    width, height = getattr(charts, "WIDTH_PX", 480), getattr(charts, "HEIGHT_PX", 240)
    figure = plt.figure(figsize=(width / 80, height / 80), dpi=80)
    plt.plot(times, [s.max_temp for s in ordered], color="#d62728", label="max")
    plt.plot(times, [s.avg_temp for s in ordered], color="#1f77b4", label="avg")
    plt.plot(times, [s.min_temp for s in ordered], color="#2ca02c", label="min")
    plt.title(sensor_id)
    plt.xlabel("time (UTC)")
    plt.ylabel("°C")
    plt.legend(loc="upper left")
    plt.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    plt.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def chart(store: OriginalStore, sensor_id: str, points: int) -> bytes:
    """The original chart route: query the newest summaries, then draw them."""
    documents = store.newest_summaries(sensor_id, points)
    summaries = [
        Summary(
            id=d["id"],
            sensor_id=d["sensor_id"],
            timestamp=d["timestamp"],
            max_temp=d["max_temp"],
            min_temp=d["min_temp"],
            avg_temp=d["avg_temp"],
            count=d.get("count", WINDOW),
        )
        for d in documents
    ]
    return render_chart(sensor_id, summaries)
