"""Every HTTP route, on both store back-ends, through the real ASGI app."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest
from fastapi.testclient import TestClient

from pipeline.readings import Reading, format_timestamp
from pipeline.settings import settings_from
from pipeline.storage import Store
from pipeline.storage.sqlite_store import SqliteStore
from summariser.batch import summarise_batch
from tests.checks import eventually
from web_app import create_web_app

NOW = datetime.now(UTC).replace(microsecond=0)


def seed(store: Store, sensors: tuple[str, ...] = ("sensor-1", "sensor-2"), count: int = 12) -> None:
    readings = [
        # Traced as every reading in production is (pipeline.correlation): summaries name them.
        Reading(
            f"{sid}-{n}",
            sid,
            20.0 + n,
            format_timestamp(NOW - timedelta(seconds=count - n)),
            correlation_id=f"{n:032x}",
        )
        for sid in sensors
        for n in range(count)
    ]
    store.put_readings(r.to_document() for r in readings)
    for n in range(0, count, 4):  # three batches: three summaries per sensor
        batch = [r.to_document() for r in readings if r.id.endswith(tuple(f"-{k}" for k in range(n, n + 4)))]
        summarise_batch(batch, store, 10, NOW)


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    seed(store)
    app = create_web_app(store=store, settings=settings_from({"DASHBOARD_POLL_SECONDS": "2"}))
    with TestClient(app) as test_client:
        yield test_client


def test_dashboard_page_has_csp_and_no_external_resources(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert 'data-poll-ms="2000"' in response.text
    assert "http://" not in response.text and "https://" not in response.text
    script = client.get("/static/dashboard.js")
    assert script.status_code == 200 and "summary-timestamps" in script.text
    assert client.get("/static/missing.js").status_code == 404
    assert client.get("/static/..%2Fhttp_api.py").status_code in (400, 404)


def test_summary_timestamps_and_sensors(client: TestClient) -> None:
    timestamps = client.get("/api/summary-timestamps").json()
    assert set(timestamps) == {"sensor-1", "sensor-2"}
    # A version: the latest summary's timestamp, then a digest of its values.
    assert timestamps["sensor-1"].split("~")[0] == format_timestamp(NOW - timedelta(seconds=1))
    sensors = client.get("/api/sensors").json()
    assert [s["sensor_id"] for s in sensors] == ["sensor-1", "sensor-2"]
    latest = sensors[0]["latest"]
    assert latest["timestamp"] == timestamps["sensor-1"].split("~")[0]
    assert sensors[0]["version"] == timestamps["sensor-1"]
    assert (latest["min_temp"], latest["max_temp"], latest["avg_temp"], latest["count"]) == (
        22.0,
        31.0,
        26.5,
        10,
    )


def test_summaries_and_readings_newest_first_with_limits(client: TestClient) -> None:
    summaries = client.get("/api/sensors/sensor-1/summaries").json()
    assert len(summaries) == 3
    assert summaries[0]["timestamp"] > summaries[1]["timestamp"] > summaries[2]["timestamp"]
    readings = client.get("/api/sensors/sensor-1/readings", params={"limit": 5}).json()
    assert [r["id"] for r in readings] == [f"sensor-1-{n}" for n in (11, 10, 9, 8, 7)]
    assert len(client.get("/api/sensors/sensor-1/readings", params={"limit": 500}).json()) == 12
    assert client.get("/api/sensors/nobody/readings").json() == []
    for bad in ("0", "501", "-1", "abc", "1e3", "5 OR 1=1"):
        response = client.get("/api/sensors/sensor-1/summaries", params={"limit": bad})
        assert response.status_code == 400, bad
        assert "limit" in response.text


def test_malformed_sensor_ids_are_400_before_any_query(client: TestClient) -> None:
    for bad in ("a b", "x" * 65, "'; DROP", "-leading", "%2E%2E%2Fetc"):
        response = client.get(f"/api/sensors/{bad}/summaries")
        assert response.status_code in (400, 404), bad
        assert "Traceback" not in response.text
    assert client.get("/api/sensors/a%20b/readings").status_code == 400
    assert client.get("/plot/bad%20id.png").status_code == 400


def test_a_chart_of_points_not_offered_is_400_so_caches_cannot_be_busted(client: TestClient) -> None:
    """Only the offered sizes are drawn: 1,000 other values would be 1,000 renders and cache entries."""
    for points in (7, 51, 999):
        response = client.get("/plot/sensor-1.png", params={"points": points})
        assert response.status_code == 400, points
        assert response.json()["error"] == "points: one of [0, 50, 200, 1000]"
    assert client.get("/plot/sensor-1.png", params={"points": 50}).status_code == 200


def test_chart_png_etag_304_and_404(client: TestClient) -> None:
    response = client.get("/plot/sensor-1.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    etag = response.headers["etag"]
    again = client.get("/plot/sensor-1.png", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    stale = client.get("/plot/sensor-1.png", headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200
    missing = client.get("/plot/sensor-9.png")
    assert missing.status_code == 404
    assert missing.json() == {"error": "unknown sensor 'sensor-9'"}


def test_post_readings_all_or_nothing(client: TestClient, store: Store) -> None:
    good = {"sensor_id": "dev-7", "temperature": 22.25, "timestamp": format_timestamp(NOW)}
    created = client.post("/api/readings", json=[good, dict(good, id="fixed-id")])
    assert created.status_code == 201
    assert created.json()["accepted"] == 2
    assert "fixed-id" in created.json()["ids"]
    assert len(store.recent_readings("dev-7", 10)) == 2

    rejected = client.post("/api/readings", json=[dict(good, id="x1"), dict(good, temperature="hot")])
    assert rejected.status_code == 422
    assert rejected.json()["details"] == [{"index": 1, "errors": {"temperature": "required, a number"}}]
    assert len(store.recent_readings("dev-7", 10)) == 2  # nothing half written

    assert client.post("/api/readings", content=b"{not json").status_code == 400
    assert client.post("/api/readings", content=b"x" * 2_000_000).status_code == 413


def test_post_of_a_stored_reading_is_idempotent_and_other_content_is_409(
    client: TestClient, store: Store
) -> None:
    first = {"id": "dev-7-a", "sensor_id": "dev-7", "temperature": 22.25, "timestamp": format_timestamp(NOW)}
    assert client.post("/api/readings", json=first).status_code == 201
    assert client.post("/api/readings", json=first).status_code == 201  # a device's retry

    new = dict(first, id="dev-7-b")
    changed = dict(first, temperature=30.0)
    conflict = client.post("/api/readings", json=[new, changed])

    assert conflict.status_code == 409
    assert conflict.json()["conflicts"] == [{"sensor_id": "dev-7", "id": "dev-7-a"}]
    assert [r.id for r in store.recent_readings("dev-7", 10)] == ["dev-7-a"]  # nothing written
    assert store.recent_readings("dev-7", 10)[0].temperature == 22.25
    # The same id under another sensor is another reading, in one POST as in two.
    assert client.post("/api/readings", json=dict(first, sensor_id="dev-8")).status_code == 201
    both = [dict(first, id="shared", sensor_id="dev-7"), dict(first, id="shared", sensor_id="dev-9")]
    assert client.post("/api/readings", json=both).status_code == 201
    assert [r.id for r in store.recent_readings("dev-9", 10)] == ["shared"]
    # One identity for two different readings in one POST is refused, naming it.
    twice = [dict(first, id="twice"), dict(first, id="other"), dict(first, id="twice", temperature=23.0)]
    refused = client.post("/api/readings", json=twice)
    assert refused.status_code == 422
    assert refused.json()["details"] == [
        {"index": 2, "errors": {"id": "'twice' names another reading of 'dev-7' at index 0"}}
    ]
    assert {"twice", "other"}.isdisjoint(r.id for r in store.recent_readings("dev-7", 10))  # nothing written


def test_dead_letter_listing(client: TestClient, store: Store) -> None:
    summarise_batch([{"id": "poison", "sensor_id": "sensor-1", "temperature": "x"}], store, 10, NOW)
    letters = client.get("/api/deadletter", params={"limit": 5}).json()
    assert [letter["source_id"] for letter in letters] == ["poison"]
    assert "temperature" in letters[0]["reason"]
    assert client.get("/api/deadletter", params={"limit": 0}).status_code == 400


def test_circuit_opens_after_repeated_store_failures_then_half_opens(tmp_path) -> None:
    """A store that fails: 503s, then the circuit answers at once; after the cooldown one try."""
    from pipeline.circuit import GuardedStore

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    guarded = GuardedStore(SqliteStore(blocker / "pipeline.db"), fail_max=3, cooldown_seconds=3)
    app = create_web_app(store=SqliteStore(blocker / "x.db"), settings=settings_from({}))
    app.state.guarded_store = guarded
    with TestClient(app) as client:
        for _ in range(3):
            failed = client.get("/api/sensors/sensor-1/readings")
            assert failed.status_code == 503
        assert guarded.breaker.current_state == "open"
        refused = client.get("/api/sensors/sensor-1/readings")
        assert refused.status_code == 503
        # Still open (3 s, so a stalled machine does not half-open it first): the time left.
        assert 1 <= int(refused.headers["retry-after"]) <= 3
        assert client.get("/api/health").status_code == 503
        # Bad input does not count as a store failure.
        assert client.get("/api/sensors/sensor-1/readings", params={"limit": 0}).status_code == 400
        blocker.unlink()  # the store comes back, but the open circuit still refuses at once
        # After the cooldown one request is let through (half-open); its success closes it.
        eventually(
            lambda: client.get("/api/sensors/sensor-1/readings").status_code == 200,
            10,
            "the circuit let a request through after its cooldown",
        )
        recovered = client.get("/api/sensors/sensor-1/readings")
        assert recovered.status_code == 200 and recovered.json() == []
        assert guarded.breaker.current_state == "closed"


def test_health_is_503_when_the_store_cannot_answer(tmp_path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    broken = SqliteStore(blocker / "pipeline.db")
    with TestClient(create_web_app(store=broken, settings=settings_from({}))) as client:
        response = client.get("/api/health")
        assert response.status_code == 503
        assert response.json()["status"] == "unhealthy"
        assert response.headers["retry-after"]
        summaries = client.get("/api/sensors/sensor-1/summaries")
        assert summaries.status_code == 503
        assert "Traceback" not in summaries.text


def test_openapi_document_lists_the_public_routes(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    for route in (
        "/api/summary-timestamps",
        "/api/sensors",
        "/api/sensors/{sensor_id}/summaries",
        "/api/sensors/{sensor_id}/readings",
        "/api/readings",
        "/api/deadletter",
        "/api/health",
        "/plot/{sensor_id}.png",
    ):
        assert route in paths


def test_the_azure_http_function_serves_the_same_app(sqlite_store: SqliteStore, monkeypatch) -> None:
    """The HTTP trigger forwards to the web app exactly as the Functions host would call it."""
    import function_app  # noqa: F401 - the composition root registers the web app
    import pipeline.functions_http as functions_http
    from pipeline.storage import reset_store
    from visualiser.bindings import visualiser

    seed(sqlite_store)
    reset_store(sqlite_store)
    monkeypatch.setattr(functions_http, "_middleware", None)
    try:
        request = func.HttpRequest(
            method="GET",
            url="http://localhost:7071/api/summary-timestamps",
            headers={},
            params={},
            route_params={"path": "api/summary-timestamps"},
            body=b"",
        )
        response = asyncio.run(visualiser(request, None))
        assert response.status_code == 200
        assert set(response.get_body().decode() and __import__("json").loads(response.get_body())) == {
            "sensor-1",
            "sensor-2",
        }
    finally:
        reset_store(None)
