"""With LOG_FORMAT=json every line the local host prints is one JSON object with context."""

from __future__ import annotations

import json
import signal
import sqlite3
import time

import httpx
import pytest

from tests.checks import eventually
from tests.servers import local_host

pytestmark = pytest.mark.slow


def test_every_line_is_json_with_function_and_invocation(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    with local_host(tmp_path, "--interval", "1", "--speed", "4") as host:
        eventually(lambda: len(httpx.get(f"{host.url}/api/summary-timestamps").json()) == 5, 30, "summaries")
        # Traffic that logs: a chart render, bad input, an unknown sensor, a poison document.
        httpx.get(f"{host.url}/plot/sensor-1.png", timeout=60)  # the first chart imports matplotlib
        httpx.get(f"{host.url}/plot/nobody.png")
        httpx.get(f"{host.url}/api/sensors/bad%20id/readings")
        httpx.post(f"{host.url}/api/readings", json={"sensor_id": "x", "temperature": "hot"})
        with sqlite3.connect(host.store_path, timeout=30) as connection:
            connection.execute(
                "INSERT INTO readings (id, sensor_id, timestamp, body) VALUES (?, ?, ?, ?)",
                (
                    "poison-1",
                    "sensor-1",
                    "2026-01-01T00:00:00.000Z",
                    json.dumps(
                        {
                            "id": "poison-1",
                            "sensor_id": "sensor-1",
                            "temperature": "hot",
                            "timestamp": "2026-01-01T00:00:00.000Z",
                        }
                    ),
                ),
            )
        eventually(lambda: httpx.get(f"{host.url}/api/deadletter").json() != [], 15, "a dead letter")
        eventually(lambda: '"progress:' in host.log(), 15, "a progress line")
        assert host.stop(signal.SIGINT) == 0

    lines = [line for line in host.log().splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not JSON: {line[:200]}")
    assert len(records) >= 10
    assert all({"time", "level", "logger", "message"} <= set(record) for record in records)
    batches = [r for r in records if r["message"].startswith("summarised")]
    assert batches and all(r["function"] == "summarise_readings" for r in batches)
    assert all(r.get("invocation_id") and r.get("batch_size") is not None for r in batches)
    assert all("duration_ms" in r for r in batches)
    assert len({r["invocation_id"] for r in batches}) == len(batches)
    warnings = [r for r in records if r["level"] == "warning" and "dead-lettered" in r["message"]]
    assert warnings and warnings[0]["reading_id"] == "poison-1"
    assert any(r["message"].startswith("progress:") for r in records)
    assert any("checkpoint saved" in r["message"] for r in records)


def test_metrics_count_batches_dead_letters_and_chart_renders(sqlite_store, monkeypatch) -> None:
    import azure.functions as func
    from fastapi.testclient import TestClient

    import summariser.bindings
    from local_host.triggers import LocalContext
    from pipeline import metrics
    from pipeline.settings import settings_from
    from pipeline.storage import reset_store
    from summariser.state_cache import SensorStateCache
    from tests.servers import registered_functions
    from tests.test_summariser import make_readings
    from web_app import create_web_app

    monkeypatch.setattr(summariser.bindings, "_states", SensorStateCache())
    before = metrics.snapshot()
    readings = [r.to_document() for r in make_readings(30, sensors=3)]
    sqlite_store.put_readings(readings)
    reset_store(sqlite_store)
    try:
        function = registered_functions()["summarise_readings"].get_user_function()
        documents = [*readings, {"id": "bad", "sensor_id": "sensor-1", "temperature": "x"}]
        # As Cosmos DB's trigger delivers them: with the store's write time, 5 s ago.
        written = int(time.time()) - 5
        documents = [{**document, "_ts": written} for document in documents]
        function(
            func.DocumentList(func.Document.from_dict(d) for d in documents),
            LocalContext("summarise_readings"),
        )
    finally:
        reset_store(None)
    with TestClient(create_web_app(store=sqlite_store, settings=settings_from({}))) as client:
        assert client.get("/plot/sensor-1.png").status_code == 200
        assert client.get("/plot/sensor-1.png").status_code == 200

    after = metrics.snapshot()

    def grew(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    assert grew("readings_summarised") == 31
    assert grew("summaries_written") == 3
    assert grew("dead_letters") == 1
    assert grew("feed_lag.count") == 1 and grew("batch_duration.count") == 1
    assert grew("feed_lag.sum") >= 5  # from the write time, not from the readings' timestamps
    assert grew("chart_requests{cache=miss}") == 1
    assert grew("chart_requests{cache=hit}") == 1
    assert grew("chart_render.count") == 1 and grew("chart_render.sum") > 0
