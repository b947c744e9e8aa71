"""Correlation ids: a reading's origin followed from the POST to its summary, logs and dead letters."""

from __future__ import annotations

import json
import signal
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.functions.timer import TimerRequest

from local_host.triggers import CollectingOut, LocalContext
from pipeline.correlation import correlation_id_for, trace_id
from pipeline.readings import Reading, format_timestamp, reading_from_document
from tests.checks import eventually
from tests.servers import local_host

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


class HostTraceContext:
    """What the Functions host passes as `context.trace_context`."""

    def __init__(self, trace_parent: str) -> None:
        self.trace_parent = trace_parent
        self.trace_state = ""
        self.attributes: dict[str, str] = {}


def test_trace_ids_from_w3c_traceparent() -> None:
    assert trace_id(TRACEPARENT) == TRACE
    assert trace_id(f"01-{TRACE}-00f067aa0ba902b7-01-future") == TRACE  # later versions may add fields
    for bad in (
        None,
        "",
        f"00-{TRACE}-00f067aa0ba902b7-01-extra",  # version 00 has exactly four fields
        f"ff-{TRACE}-00f067aa0ba902b7-01",  # version ff is invalid
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE.upper()}-00f067aa0ba902b7-01",  # upper case is invalid
        f"00-{TRACE}-00f067aa0ba902b7",
    ):
        assert trace_id(bad) is None, bad


def test_the_devices_trace_wins_then_the_hosts_then_a_new_one() -> None:
    host = HostTraceContext(f"00-{'a' * 32}-{'b' * 16}-01")
    assert correlation_id_for(TRACEPARENT, host) == TRACE
    assert correlation_id_for("garbage", host) == "a" * 32
    fresh = {correlation_id_for(None, None) for _ in range(3)}
    assert len(fresh) == 3 and all(len(i) == 32 for i in fresh)


def test_the_correlation_id_is_not_part_of_what_a_reading_is() -> None:
    reading = Reading("r1", "sensor-1", 21.5, "2026-01-01T00:00:00.000Z", correlation_id=TRACE)
    assert reading == Reading("r1", "sensor-1", 21.5, "2026-01-01T00:00:00.000Z", correlation_id="b" * 32)
    assert reading_from_document(reading.to_document()).correlation_id == TRACE
    forged = dict(reading.to_document(), correlation_id="not\nan id")
    assert reading_from_document(forged).correlation_id is None  # never copied into logs unchecked


def test_a_dead_letter_carries_only_a_well_formed_stored_correlation_id() -> None:
    from summariser.batch import dead_letter_for

    now = datetime.now(UTC)
    poison = {"id": "p1", "sensor_id": "sensor-1", "temperature": "hot", "correlation_id": TRACE}
    assert dead_letter_for(poison, "bad temperature", now).correlation_id == TRACE
    forged = dict(poison, correlation_id="not\nan id")
    assert dead_letter_for(forged, "bad temperature", now).correlation_id is None  # never into logs
    assert dead_letter_for({"id": "p2"}, "no sensor", now).correlation_id is None
    assert dead_letter_for(["not", "a", "document"], "not an object", now).correlation_id is None


@pytest.mark.slow
def test_a_posted_reading_is_followed_to_its_summary_logs_and_a_poison_dead_letter(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    poison_trace = uuid.uuid4().hex
    now = datetime.now(UTC)
    with local_host(tmp_path, "--no-generator") as host:
        reading = {"sensor_id": "probe-1", "temperature": 21.25, "timestamp": format_timestamp(now)}
        answer = httpx.post(f"{host.url}/api/readings", json=reading, headers={"traceparent": TRACEPARENT})
        assert answer.status_code == 201, answer.text
        assert answer.json()["correlation_id"] == TRACE
        assert answer.headers["x-correlation-id"] == TRACE
        # Without a traceparent the request gets a new id, returned too.
        later = dict(reading, timestamp=format_timestamp(now + timedelta(milliseconds=5)))
        untraced = httpx.post(f"{host.url}/api/readings", json=later).json()["correlation_id"]
        assert len(untraced) == 32 and untraced != TRACE

        def summary_names_it() -> bool:
            summaries = httpx.get(f"{host.url}/api/sensors/probe-1/summaries").json()
            return any(TRACE in s.get("correlation_ids", []) for s in summaries)

        eventually(summary_names_it, 20, "a summary naming the POST's trace id")
        stored = httpx.get(f"{host.url}/api/sensors/probe-1/readings").json()
        assert {r["correlation_id"] for r in stored} == {TRACE, untraced}

        # A POST refuses an invalid reading itself (422, its id in the header), writing nothing:
        # the feed never sees it, so it is never dead-lettered.
        refused = httpx.post(
            f"{host.url}/api/readings",
            json=dict(reading, temperature="hot"),
            headers={"traceparent": f"00-{poison_trace}-00f067aa0ba902b7-01"},
        )
        assert refused.status_code == 422, refused.text
        assert refused.headers["x-correlation-id"] == poison_trace
        assert len(httpx.get(f"{host.url}/api/sensors/probe-1/readings").json()) == 2

        # So a poison document in the feed was written by other means (here straight into the
        # store); the dead letter names the correlation id the document was stored with.
        poison = {
            "id": "poison-traced",
            "sensor_id": "probe-1",
            "temperature": "hot",
            "timestamp": format_timestamp(now),
            "correlation_id": poison_trace,
        }
        with sqlite3.connect(host.store_path, timeout=30) as connection:
            connection.execute(
                "INSERT INTO readings (id, sensor_id, timestamp, body) VALUES (?, ?, ?, ?)",
                (poison["id"], poison["sensor_id"], poison["timestamp"], json.dumps(poison)),
            )

        def dead_letter() -> dict | None:
            letters = httpx.get(f"{host.url}/api/deadletter").json()
            return next((d for d in letters if d["source_id"] == "poison-traced"), None)

        eventually(lambda: dead_letter() is not None, 20, "the poison document dead-lettered")
        assert dead_letter()["correlation_id"] == poison_trace
        # The only dead letter: the refused POST left nothing behind.
        assert [d["source_id"] for d in httpx.get(f"{host.url}/api/deadletter").json()] == ["poison-traced"]
        assert host.stop(signal.SIGINT) == 0

    records = [json.loads(line) for line in host.log().splitlines() if line.strip()]
    accepted = [r for r in records if r["message"].startswith("accepted")]
    assert any(r.get("correlation_id") == TRACE for r in accepted), accepted
    batches = [r for r in records if r["message"].startswith("summarised")]
    traced = [r for r in batches if TRACE in r.get("correlation_id", "").split(",")]
    assert traced, batches
    assert all(r["function"] == "summarise_readings" and TRACE in r["message"] for r in traced)
    letters = [r for r in records if r["message"].startswith("dead-lettered reading poison-traced")]
    assert letters and all(r["correlation_id"] == poison_trace for r in letters)


class TracedContext(LocalContext):
    """A local invocation context carrying the trace the Functions host started."""

    def __init__(self, name: str, trace_parent: str) -> None:
        super().__init__(name)
        self._trace = HostTraceContext(trace_parent)

    @property
    def trace_context(self) -> HostTraceContext:
        return self._trace


HOST_TRACE = "a1" * 16
HOST_TRACEPARENT = f"00-{HOST_TRACE}-{'b2' * 8}-01"


def test_a_generator_tick_records_the_hosts_trace(monkeypatch) -> None:
    import generator.bindings as bindings
    from generator.simulation import SensorSimulation

    monkeypatch.setattr(bindings, "_simulation", SensorSimulation(["sensor-1", "sensor-2"], seed=3))
    out = CollectingOut()
    bindings.generate_readings(
        TimerRequest(past_due=False), out, TracedContext("generate_readings", HOST_TRACEPARENT)
    )
    assert {document["correlation_id"] for document in out.get()} == {HOST_TRACE}


def test_in_azure_an_untraced_post_takes_the_hosts_trace_through_the_asgi_middleware(sqlite_store) -> None:
    import asyncio

    import azure.functions as func

    from pipeline.settings import settings_from
    from web_app import create_web_app

    middleware = func.AsgiMiddleware(create_web_app(store=sqlite_store, settings=settings_from({})))
    body = json.dumps(
        {"sensor_id": "sensor-1", "temperature": 20.0, "timestamp": format_timestamp(datetime.now(UTC))}
    )
    request = func.HttpRequest(
        method="POST",
        url="https://app.azurewebsites.net/api/readings",
        headers={"content-type": "application/json", "content-length": str(len(body))},
        body=body.encode(),
    )
    response = asyncio.run(middleware.handle_async(request, TracedContext("post_readings", HOST_TRACEPARENT)))
    assert response.status_code == 201
    assert json.loads(response.get_body())["correlation_id"] == HOST_TRACE
    assert response.headers["X-Correlation-Id"] == HOST_TRACE
    [stored] = sqlite_store.recent_readings("sensor-1", 5)
    assert stored.correlation_id == HOST_TRACE
