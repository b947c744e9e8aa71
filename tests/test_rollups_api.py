"""`GET /api/sensors/{id}/rollups`, the backfill command and the SQLite store's retention."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from pipeline.readings import format_timestamp
from pipeline.settings import Retention, SettingsError, settings_from
from pipeline.storage import Store
from pipeline.storage.sqlite_schema import SCHEMA_VERSION
from pipeline.storage.sqlite_store import SqliteStore
from summariser.backfill import backfill
from summariser.backfill import main as backfill_main
from summariser.batch import summarise_batch
from tests.rollup_checks import EVERYTHING, assert_windows_exact, expected_windows, late_load
from tests.servers import ROOT
from web_app import create_web_app

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def hour_ago(minutes: float) -> str:
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    return format_timestamp(base + timedelta(minutes=minutes))


@pytest.fixture
def loaded(sqlite_store: SqliteStore) -> Iterator[tuple[TestClient, list[dict], SqliteStore]]:
    readings = [
        {"id": f"r{n}", "sensor_id": "dev-1", "temperature": 20.0 + n / 10, "timestamp": hour_ago(n * 0.5)}
        for n in range(100)
    ]
    sqlite_store.put_readings(readings)
    for start in range(0, len(readings), 10):
        summarise_batch(readings[start : start + 10], sqlite_store, 10, NOW)
    with TestClient(create_web_app(store=sqlite_store, settings=settings_from({}))) as client:
        yield client, readings, sqlite_store


URL = "/api/sensors/dev-1/rollups"


def test_defaults_answer_the_last_two_hours_of_minutes(loaded) -> None:
    client, readings, _ = loaded
    answer = client.get(URL).json()
    assert answer["sensor_id"] == "dev-1" and answer["bucket"] == "1m"
    span = datetime.fromisoformat(answer["to"]) - datetime.fromisoformat(answer["from"])
    assert span == timedelta(hours=2)
    assert answer["buckets"] == expected_windows(readings, "dev-1", "1m")
    hours = client.get(URL, params={"bucket": "1h"}).json()
    assert datetime.fromisoformat(hours["to"]) - datetime.fromisoformat(hours["from"]) == timedelta(days=7)
    assert hours["buckets"] == expected_windows(readings, "dev-1", "1h")


def test_only_bucket_starts_in_from_to_are_answered(loaded) -> None:
    client, readings, _ = loaded
    start, end = hour_ago(10), hour_ago(20)
    answer = client.get(URL, params={"from": start, "to": end}).json()
    assert [b["start"] for b in answer["buckets"]] == [hour_ago(m) for m in range(10, 20)]
    assert (answer["from"], answer["to"]) == (start, end)
    # Any RFC 3339 form is read; the answer is canonical.
    offset = client.get(URL, params={"from": start.replace("Z", "+00:00"), "to": end}).json()
    assert offset == answer


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"bucket": "5m"}, "bucket: one of ['1m', '1h']"),
        ({"bucket": "1m" * 50}, "bucket: one of ['1m', '1h']"),
        ({"from": "2026-01-01T00:00:00Z" * 10}, "from: not an RFC 3339 time"),
        ({"from": "yesterday"}, "from: not an RFC 3339 time"),
        ({"to": "2026-02-30T00:00:00Z"}, "to: not a real date and time"),
        ({"from": "2026-01-01T10:00:00Z", "to": "2026-01-01T10:00:00Z"}, "from must be before to"),
        ({"from": "2026-01-01T11:00:00Z", "to": "2026-01-01T10:00:00Z"}, "from must be before to"),
        (
            {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00.001Z"},
            "1441 buckets of 1m; at most 1440",
        ),
        ({"bucket": "1h", "from": "2026-01-01T00:00:00Z", "to": "2026-03-02T00:00:01Z"}, "at most 1440"),
    ],
)
def test_bad_input_is_400_with_the_reason(loaded, params: dict, reason: str) -> None:
    client, _, _ = loaded
    response = client.get(URL, params=params)
    assert response.status_code == 400
    assert reason in response.json()["error"]


def test_1440_buckets_are_allowed_and_an_unknown_sensor_is_404(loaded) -> None:
    client, _, _ = loaded
    day = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}
    assert client.get(URL, params=day).status_code == 200
    missing = client.get("/api/sensors/nobody/rollups")
    assert missing.status_code == 404 and "nobody" in missing.json()["error"]


def test_etag_304_head_and_the_openapi_document(loaded) -> None:
    client, _, store = loaded
    first = client.get(URL, params={"bucket": "1h"})
    etag = first.headers["etag"]
    again = client.get(URL, params={"bucket": "1h"}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    head = client.head(URL, params={"bucket": "1h"})
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag
    # A new reading changes the answer, so its ETag.
    new = {"id": "new", "sensor_id": "dev-1", "temperature": 99.0, "timestamp": hour_ago(55)}
    assert client.post("/api/readings", json=new).status_code == 201
    summarise_batch([new], store, 10, NOW)
    changed = client.get(URL, params={"bucket": "1h"}, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    operation = client.get("/api/openapi.json").json()["paths"]["/api/sensors/{sensor_id}/rollups"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"sensor_id", "bucket", "from", "to"}
    assert {"200", "304", "400", "404"} <= set(operation["responses"])


def test_backfill_builds_every_window_of_stored_readings_idempotently(store: Store, capsys) -> None:
    readings, posts = late_load(sensors=2, hours=1.5, gap_s=300, seed=3)
    for post in posts:
        store.put_readings(post)
    # The summaries exist (the summariser ran) but no window was written: an older deployment.
    newest = {s: max(r["timestamp"] for r in readings if r["sensor_id"] == s) for s in ("dev-1", "dev-2")}
    summarise_batch([r for r in readings if r["timestamp"] == newest[r["sensor_id"]]], store, 10, NOW)
    assert all(store.stored_rollups(s, "1m", *EVERYTHING) == [] for s in newest)

    first = backfill(store)
    assert_windows_exact(store, readings)
    assert backfill(store) == first  # again: the same windows, nothing else
    assert_windows_exact(store, readings)
    with pytest.raises(ValueError, match="sensor: no summary yet for ghost"):
        backfill(store, ["ghost"])


def test_backfill_command_names_an_unknown_sensor(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "p.db"))
    from pipeline.settings import load_settings

    load_settings.cache_clear()
    try:
        assert backfill_main(["ghost"]) == 2
    finally:
        load_settings.cache_clear()
    assert "ghost" in capsys.readouterr().err


def test_make_backfill_writes_the_windows_and_says_how_many(tmp_path) -> None:
    """`python -m summariser.backfill` (what `make backfill` runs): exit 0, one line per sensor."""
    path = tmp_path / "p.db"
    store = SqliteStore(path)
    store.ensure_ready()
    readings, posts = late_load(sensors=1, hours=0.5, gap_s=60, seed=5)
    for post in posts:
        store.put_readings(post)
    summarise_batch([max(readings, key=lambda r: r["timestamp"])], store, 10, NOW)
    store.close()
    env = {**os.environ, "SQLITE_PATH": str(path)}

    done = subprocess.run(
        [sys.executable, "-m", "summariser.backfill"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    store = SqliteStore(path)
    written = len(store.stored_rollups("dev-1", "1m", *EVERYTHING))
    assert written > 0
    assert f"dev-1: {written} windows" in done.stderr
    assert f"backfilled 1 sensors, {written} windows written or confirmed" in done.stderr
    assert_windows_exact(store, readings)
    store.close()


def test_sqlite_prunes_by_retention_and_windows_outlive_readings(sqlite_store: SqliteStore) -> None:
    readings, posts = late_load(sensors=1, hours=1, gap_s=60, seed=4)
    sqlite_store.put_readings(readings)
    summarise_batch(readings, sqlite_store, 10, NOW)
    windows = sqlite_store.stored_rollups("dev-1", "1m", *EVERYTHING)
    assert windows
    later = time.time() + 2 * 86_400  # two days on: readings (1 day) go, windows (3 days) stay
    removed = sqlite_store.prune(Retention(86_400, 86_400, 3 * 86_400), now=later)
    assert removed["readings"] == len(readings) and removed["rollups"] == 0
    assert sqlite_store.recent_readings("dev-1", 10) == []
    assert sqlite_store.stored_rollups("dev-1", "1m", *EVERYTHING) == windows
    assert sqlite_store.latest_summaries()  # the pointers are kept
    hours = sqlite_store.stored_rollups("dev-1", "1h", *EVERYTHING)
    assert sqlite_store.prune(Retention(86_400, 86_400, 86_400), now=later)["rollups"] == len(windows + hours)


def test_summaries_of_readings_sent_late_are_kept_from_their_write_as_on_cosmos_db(
    sqlite_store: SqliteStore,
) -> None:
    """A device uploads readings stamped 60 days ago: their summaries stay as long as they do."""
    sent = datetime.now(UTC) - timedelta(days=60)
    readings = [
        {
            "id": f"r{i}",
            "sensor_id": "late",
            "temperature": 20.0 + i,
            "timestamp": format_timestamp(sent + timedelta(minutes=i)),
        }
        for i in range(3)
    ]
    sqlite_store.put_readings(readings)
    summarise_batch(readings, sqlite_store, 10, NOW)
    month = Retention(30 * 86_400, 30 * 86_400, 90 * 86_400)

    removed = sqlite_store.prune(month, now=time.time() + 86_400)

    assert removed == {"readings": 0, "summaries": 0, "rollups": 0}
    assert len(sqlite_store.recent_readings("late", 10)) == 3
    assert sqlite_store.recent_summaries("late", 10)
    removed = sqlite_store.prune(month, now=time.time() + 31 * 86_400)
    assert removed["readings"] == 3 and removed["summaries"] >= 1
    assert sqlite_store.recent_summaries("late", 10) == []


def test_a_store_from_before_summary_write_times_prunes_those_rows_by_their_timestamp(tmp_path) -> None:
    """Schema 3 kept no write time for summaries: its rows go by their own time, new rows by their write."""
    path = tmp_path / "p.db"
    made = SqliteStore(path)
    made.ensure_ready()
    made.close()
    with sqlite3.connect(path) as connection:  # back to the shape schema 3 had
        connection.executescript("ALTER TABLE summaries DROP COLUMN written_at; PRAGMA user_version = 3;")
    old = format_timestamp(datetime.now(UTC) - timedelta(days=60))
    store = SqliteStore(path)
    store.ensure_ready()
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO summaries (sensor_id, id, timestamp, body) VALUES ('s', ?, ?, '{}')",
            (f"s-{old}", old),
        )
    reading = {"id": "new", "sensor_id": "s", "temperature": 20.0, "timestamp": old}
    store.put_readings([reading])
    summarise_batch([dict(reading, id="new", timestamp=old)], store, 10, NOW)  # rewrites s-{old} now

    with sqlite3.connect(path) as connection:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        written = connection.execute("SELECT written_at FROM summaries").fetchall()
    assert version == SCHEMA_VERSION and written and all(at is not None for (at,) in written)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE summaries SET written_at = NULL")  # as migrated rows are
    assert store.prune(Retention(-1, 30 * 86_400, -1))["summaries"] == len(written)
    store.close()


def test_pruning_runs_after_a_checkpoint_at_most_once_per_interval(tmp_path) -> None:
    store = SqliteStore(tmp_path / "p.db", retention=Retention(1, 1, 1, prune_every_seconds=3600))
    store.ensure_ready()
    store.put_readings([{"id": "a", "sensor_id": "s", "temperature": 1.0, "timestamp": hour_ago(0)}])
    time.sleep(1.1)
    store.commit_feed("c", 1)
    assert store.recent_readings("s", 5) == []
    store.put_readings([{"id": "b", "sensor_id": "s", "temperature": 1.0, "timestamp": hour_ago(1)}])
    time.sleep(1.1)
    store.commit_feed("c", 2)  # within the interval: not pruned again
    assert len(store.recent_readings("s", 5)) == 1
    store.close()


def test_windows_must_outlive_readings() -> None:
    with pytest.raises(SettingsError, match="ROLLUPS_TTL_SECONDS"):
        settings_from({"READINGS_TTL_SECONDS": "-1", "ROLLUPS_TTL_SECONDS": "100"})
    with pytest.raises(SettingsError, match="SUMMARIES_TTL_SECONDS"):
        settings_from({"SUMMARIES_TTL_SECONDS": "0"})
    assert settings_from({}).retention == Retention(30 * 86_400, 30 * 86_400, 90 * 86_400, 3600.0)


def test_a_store_of_schema_2_gains_the_windows_table_and_keeps_its_readings(tmp_path) -> None:
    path = tmp_path / "old.db"
    store = SqliteStore(path)
    store.put_readings([{"id": "a", "sensor_id": "s", "temperature": 1.5, "timestamp": hour_ago(0)}])
    connection = store._connection()
    connection.execute("DROP TABLE rollups")
    connection.execute("PRAGMA user_version = 2")
    store.close()

    reopened = SqliteStore(path)
    assert [r.id for r in reopened.recent_readings("s", 5)] == ["a"]
    assert reopened.read_feed("consumer", 10).position == 1  # feed positions kept
    assert reopened.stored_rollups("s", "1m", *EVERYTHING) == []
    (version,) = reopened._connection().execute("PRAGMA user_version").fetchone()
    assert version == SCHEMA_VERSION
    reopened.close()
