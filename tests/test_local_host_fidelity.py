"""`make run` delivers what Azure delivers: the worker's converters, Json.NET dates, HTTP as the host.

The runners and the HTTP gateway here are the ones `python -m local_host` starts, driving
the functions registered in `function_app.py`. The library's converters are observed (not
replaced): each test fails if the local host stops passing data through them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.functions.cosmosdb import CosmosDBConverter, CosmosDBTriggerConverter
from azure.functions.http import HttpRequestConverter, HttpResponseConverter
from azure.functions.meta import Datum
from azure.functions.timer import TimerRequestConverter
from fastapi.testclient import TestClient

from local_host.http_gateway import FunctionsHttpGateway, allowed_host_names, http_functions
from local_host.jsonnet_dates import reserialise_dates
from local_host.triggers import Counters, FeedTriggerRunner, LocalRetryContext, TimerRunner
from pipeline.readings import format_timestamp
from pipeline.settings import load_settings
from pipeline.storage import reset_store
from pipeline.storage.sqlite_store import SqliteStore
from pipeline.web import SECURITY_HEADERS
from tests.servers import registered_functions
from tests.test_web_api import seed

CONSUMER = "summarise_readings:readings"


class Observed:
    """Calls of one converter method, with what went in and what came out."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any]] = []


def observe(monkeypatch: pytest.MonkeyPatch, converter: type, method: str) -> Observed:
    original = getattr(converter, method)  # bound to the class: a classmethod
    observed = Observed()

    def spy(cls: type, data: Any, **keywords: Any) -> Any:
        result = original(data, **keywords)
        observed.calls.append((data, result))
        return result

    monkeypatch.setattr(converter, method, classmethod(spy))
    return observed


@pytest.fixture
def pipeline_store(sqlite_store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteStore]:
    import pipeline.functions_http as functions_http

    monkeypatch.setenv("PIPELINE_STORE", "sqlite")
    reset_store(sqlite_store)
    functions_http._middleware = None
    try:
        yield sqlite_store
    finally:
        reset_store(None)
        functions_http._middleware = None


def test_the_timer_gets_the_hosts_json_through_the_converter_and_its_output_is_encoded_by_it(
    pipeline_store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = observe(monkeypatch, TimerRequestConverter, "decode")
    encoded = observe(monkeypatch, CosmosDBConverter, "encode")
    runner = TimerRunner(
        registered_functions()["generate_readings"], load_settings(), pipeline_store, Counters()
    )
    runner._invoke(past_due=True, retry=LocalRetryContext(0, 3))
    [(datum, timer)] = decoded.calls
    assert datum.type == "json" and json.loads(datum.value)["IsPastDue"] is True
    assert timer.past_due is True
    [(_, output)] = encoded.calls
    assert output.type == "json"
    written = json.loads(output.value)
    assert written, "the simulated sensors reported nothing"
    stored = pipeline_store.recent_readings(written[0]["sensor_id"], 1000)
    assert {r.id for r in stored} >= {d["id"] for d in written if d["sensor_id"] == written[0]["sensor_id"]}


def _reading(n: int, millis: int) -> dict:
    moment = datetime(2026, 11, 28, 11, 0, tzinfo=UTC) + timedelta(seconds=n, milliseconds=millis)
    return {
        "id": f"r{n}",
        "sensor_id": "sensor-1",
        "temperature": 20.0 + n,
        "timestamp": format_timestamp(moment),
    }


@pytest.mark.parametrize("jsonnet_dates", [True, False])
def test_change_feed_documents_go_as_json_text_through_the_trigger_converter_with_jsonnet_dates(
    pipeline_store: SqliteStore, monkeypatch: pytest.MonkeyPatch, jsonnet_dates: bool
) -> None:
    decoded = observe(monkeypatch, CosmosDBTriggerConverter, "decode")
    documents = [_reading(0, 120), _reading(1, 0), _reading(2, 123)]
    pipeline_store.put_readings(documents)
    runner = FeedTriggerRunner(
        registered_functions()["summarise_readings"],
        load_settings(),
        pipeline_store,
        Counters(),
        jsonnet_dates=jsonnet_dates,
    )
    import threading

    assert runner.run_once(threading.Event()) == 3
    [(datum, delivered)] = decoded.calls
    assert datum.type == "json" and isinstance(datum.value, str)
    sent = [document["timestamp"] for document in json.loads(datum.value)]
    if jsonnet_dates:  # as the Cosmos DB extension hands them over
        assert sent == ["2026-11-28T11:00:00.12Z", "2026-11-28T11:00:01Z", "2026-11-28T11:00:02.123Z"]
    else:
        assert sent == [d["timestamp"] for d in documents]
    assert [document["timestamp"] for document in delivered] == sent
    # Whatever the form, the summariser normalises: the summary is as of the canonical time.
    assert pipeline_store.latest_summaries()["sensor-1"].timestamp == documents[-1]["timestamp"]
    assert pipeline_store.recent_dead_letters(10) == []
    assert pipeline_store.feed_backlog(CONSUMER) == 0


@pytest.mark.parametrize(
    ("stored", "delivered"),
    [
        ("2026-11-28T13:09:40.120Z", "2026-11-28T13:09:40.12Z"),
        ("2026-11-28T13:09:40.100Z", "2026-11-28T13:09:40.1Z"),
        ("2026-11-28T13:09:40.000Z", "2026-11-28T13:09:40Z"),
        ("2026-11-28T13:09:40.1234567Z", "2026-11-28T13:09:40.1234567Z"),
        ("2026-11-28T13:09:40.1230000Z", "2026-11-28T13:09:40.123Z"),
        ("2026-11-28T15:09:40.500+02:00", "2026-11-28T13:09:40.5+00:00"),
        ("2026-01-01T01:00:00+02:00", "2025-12-31T23:00:00+00:00"),
        ("2026-11-28T13:09:40.100", "2026-11-28T13:09:40.1"),
        ("2026-02-30T00:00:00.000Z", "2026-02-30T00:00:00.000Z"),  # not a date to Json.NET
        ("2026-11-28T13:09:40.12345678Z", "2026-11-28T13:09:40.12345678Z"),
        ("sensor-1", "sensor-1"),
    ],
)
def test_the_jsonnet_model_rewrites_date_strings_as_the_extension_does(stored: str, delivered: str) -> None:
    assert reserialise_dates({"timestamp": stored, "nested": [stored], "n": 1.5}) == {
        "timestamp": delivered,
        "nested": [delivered],
        "n": 1.5,
    }


@pytest.fixture
def gateway(pipeline_store: SqliteStore) -> Iterator[TestClient]:
    seed(pipeline_store)
    functions = http_functions(registered_functions().values(), route_prefix="")
    app = FunctionsHttpGateway(functions, allowed_host_names("127.0.0.1", ["devbox"]))
    with TestClient(app, base_url="http://localhost:7071") as client:
        yield client


def test_http_requests_are_built_by_the_converter_as_the_host_sends_them(
    gateway: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = observe(monkeypatch, HttpRequestConverter, "decode")
    encoded = observe(monkeypatch, HttpResponseConverter, "encode")
    response = gateway.get("/plot/sensor-1.png?size=big&empty=", headers={"X-Trace-Me": "Yes"})
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    [(datum, request)] = decoded.calls
    assert isinstance(datum, Datum) and datum.type == "http"
    assert request.method == "GET"
    assert request.route_params == {"path": "plot/sensor-1.png"}
    assert request.params == {"size": "big"}  # the host drops empty query values
    assert request.headers.get("x-trace-me") == "Yes"
    assert all(name == name.lower() for name in datum.value["headers"])
    [(_, written)] = encoded.calls
    assert written.type == "http" and written.value["body"].value == response.content

    decoded.calls.clear()
    assert gateway.get("/").status_code == 200
    assert decoded.calls[0][1].route_params == {}  # an empty catch-all is left out

    decoded.calls.clear()
    body = json.dumps({"sensor_id": "dev-1", "temperature": 20.5, "timestamp": datetime.now(UTC).isoformat()})
    chunked = gateway.post(
        "/api/readings", content=iter([body.encode()]), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 411
    assert decoded.calls[0][1].get_body() == b""  # no Content-Length: the body never arrives
    decoded.calls.clear()
    posted = gateway.post("/api/readings", content=body, headers={"Content-Type": "application/json"})
    assert posted.status_code == 201
    assert decoded.calls[0][1].get_body() == body.encode()


def test_the_gateway_dispatches_by_route_template_and_method(gateway: TestClient) -> None:
    functions = {f.name: f for f in http_functions(registered_functions().values(), route_prefix="")}
    assert functions["post_readings"].route_params("/API/Readings") == {}  # literals ignore case
    assert functions["visualiser"].route_params("/a/b.png") == {"path": "a/b.png"}
    # Sorted most specific first: the POST route is tried before the catch-all.
    assert [f.name for f in http_functions(registered_functions().values(), "")][-1] == "visualiser"
    assert gateway.head("/api/sensors").status_code == 200
    assert gateway.get("/api/readings").status_code == 405  # the catch-all's web app answers
    refused = gateway.put("/api/readings", content=b"{}")
    # No binding lists PUT: the local host says which methods the route has (docs/http-api.md).
    assert (refused.status_code, refused.headers["allow"]) == (405, "POST")
    assert refused.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("localhost:7071", 200),
        ("127.0.0.1:7071", 200),
        ("[::1]:7071", 200),
        ("devbox:7071", 200),  # LOCAL_ALLOWED_HOSTS
        ("attacker.example:7071", 403),
        ("localhost.attacker.example", 403),
        ("", 403),
    ],
)
def test_only_the_served_host_names_are_answered(gateway: TestClient, host: str, status: int) -> None:
    response = gateway.get("/api/summary-timestamps", headers={"Host": host})
    assert response.status_code == status
    assert response.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 201),
        ("application/json; charset=utf-8", 201),
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("multipart/form-data; boundary=x", 415),
        (None, 415),
    ],
)
def test_a_post_needs_a_json_content_type_locally(
    gateway: TestClient, content_type: str | None, status: int
) -> None:
    body = json.dumps({"sensor_id": "dev-2", "temperature": 20.5, "timestamp": datetime.now(UTC).isoformat()})
    headers = {"Content-Type": content_type} if content_type else {}
    response = gateway.post("/api/readings", content=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 415:
        assert "application/json" in response.json()["error"]


def test_any_host_name_with_a_star(pipeline_store: SqliteStore) -> None:
    assert allowed_host_names("0.0.0.0", ["*"]) is None
    assert "devbox" in allowed_host_names("0.0.0.0", [" devbox ", ""])  # type: ignore[operator]
    assert "0.0.0.0" not in allowed_host_names("0.0.0.0", [])  # type: ignore[operator]
