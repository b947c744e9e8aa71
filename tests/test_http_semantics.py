"""HTTP semantics that hold in Azure and locally: HEAD, 411, 400 for hostile bodies, no 500.

Each rule is checked on the web app and through the HTTP-triggered functions as the
Functions worker calls them (`func.HttpRequest` in, `func.HttpResponse` out).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import azure.functions as func
import pytest
from fastapi.testclient import TestClient

from pipeline.settings import settings_from
from pipeline.storage import reset_store
from pipeline.storage.sqlite_store import SqliteStore
from pipeline.web import SECURITY_HEADERS
from tests.servers import registered_functions
from tests.test_web_api import seed
from web_app import create_web_app

GET_ROUTES = [
    "/",
    "/plot/sensor-1.png",
    "/api/summary-timestamps",
    "/api/sensors",
    "/api/sensors/sensor-1/summaries?limit=3",
    "/api/sensors/sensor-1/readings",
    "/api/deadletter",
    "/api/health",
    "/api/openapi.json",
    "/static/app.js",
    "/plot/no-such-sensor.png",
    "/api/sensors/bad%20id/summaries",
]
# Headers that are the same for two answers of one resource (no Date here: the app sets none).
COMPARED_HEADERS = (
    "content-type",
    "content-length",
    "etag",
    "cache-control",
    *(h.lower() for h in SECURITY_HEADERS),
)


@pytest.fixture
def client(sqlite_store: SqliteStore) -> Iterator[TestClient]:
    seed(sqlite_store)
    with TestClient(create_web_app(store=sqlite_store, settings=settings_from({}))) as test_client:
        yield test_client


def _reading() -> dict:
    return {"sensor_id": "dev-1", "temperature": 21.5, "timestamp": datetime.now(UTC).isoformat()}


@pytest.mark.parametrize("route", GET_ROUTES)
def test_every_get_route_answers_head_with_the_same_status_and_headers_and_no_body(
    client: TestClient, route: str
) -> None:
    got = client.get(route)
    head = client.head(route)
    assert head.status_code == got.status_code
    assert head.content == b""
    for name in COMPARED_HEADERS:
        if name == "content-length" and route == "/api/health":
            continue  # its body holds the feed lag at the moment of asking: one digit more or less
        assert head.headers.get(name) == got.headers.get(name), name


def test_a_post_without_content_length_gets_411_with_a_reason(client: TestClient, sqlite_store) -> None:
    body = json.dumps(_reading()).encode()
    chunked = client.post(
        "/api/readings", content=iter([body[:10], body[10:]]), headers={"Content-Type": "application/json"}
    )
    assert chunked.status_code == 411
    assert "Content-Length" in chunked.json()["error"]
    assert chunked.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    assert sqlite_store.recent_readings("dev-1", 10) == []
    assert client.post("/api/readings", content=body).status_code == 201


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"[" * 100_000, 400),
        (b'{"a":' * 100_000, 400),
        (b"[" * 100_000 + b"]" * 100_000, 400),
        (b"\xff\xfe", 400),
        (b"", 400),
        (b"{", 400),
        (
            b'{"sensor_id": "dev-1", "temperature": 1'
            + b"0" * 400
            + b', "timestamp": "2026-01-01T00:00:00Z"}',
            422,
        ),
        (b'{"sensor_id": "dev-1", "temperature": 20, "timestamp": "0001-01-01T00:00:00+01:00"}', 422),
        (b'{"sensor_id": "dev-1", "temperature": 20, "timestamp": "9999-12-31T23:59:59-01:00"}', 422),
        (b'{"sensor_id": "dev-1", "temperature": 20, "timestamp": "2026-01-01T00:00:00\\u0000Z"}', 422),
        (b'{"sensor_id": "sensor-1\\n", "temperature": 20, "timestamp": "2026-01-01T00:00:00Z"}', 422),
        (b'{"sensor_id": "dev-1", "temperature": 1e999, "timestamp": "2026-01-01T00:00:00Z"}', 422),
        (b'{"sensor_id": "dev-1", "temperature": ' + b"9" * 5000 + b"}", 422),  # the field, 422
    ],
)
def test_hostile_bodies_get_a_4xx_with_a_reason_and_the_security_headers(
    client: TestClient, body: bytes, status: int
) -> None:
    response = client.post("/api/readings", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["error"]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


class ExplodingStore(SqliteStore):
    """A store with a bug (not a StoreError): what an unexpected failure looks like."""

    def latest_pointers(self):  # type: ignore[override]
        raise KeyError("a bug")


@pytest.mark.parametrize(
    ("method", "route", "status"),
    [
        ("GET", "/api/sensors/sensor-1/summaries?limit=0", 400),
        ("GET", "/nowhere", 404),
        ("GET", "/api/readings", 405),
        ("GET", "/api/sensors", 500),
    ],
)
def test_every_error_response_carries_the_security_headers(
    tmp_path, method: str, route: str, status: int
) -> None:
    store = ExplodingStore(tmp_path / "x.db")
    store.ensure_ready()
    with TestClient(
        create_web_app(store=store, settings=settings_from({})), raise_server_exceptions=False
    ) as c:
        response = c.request(method, route)
    assert response.status_code == status
    assert "Traceback" not in response.text
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    store.close()


def _call(name: str, request: func.HttpRequest) -> func.HttpResponse:
    function = registered_functions()[name].get_user_function()
    return asyncio.run(function(request, None))


@pytest.fixture
def functions_on_a_store(sqlite_store: SqliteStore) -> Iterator[SqliteStore]:
    import pipeline.functions_http as functions_http

    seed(sqlite_store)
    reset_store(sqlite_store)
    functions_http._middleware = None  # a fresh web app on this store
    try:
        yield sqlite_store
    finally:
        reset_store(None)
        functions_http._middleware = None


@pytest.mark.parametrize("route", ["/", "/plot/sensor-1.png", "/api/summary-timestamps", "/api/sensors"])
def test_the_azure_function_answers_head_like_get(functions_on_a_store, route: str) -> None:
    def request(method: str) -> func.HttpRequest:
        return func.HttpRequest(
            method=method,
            url=f"https://app.azurewebsites.net{route}",
            headers={"host": "app.azurewebsites.net"},
            params={},
            route_params={"path": route.lstrip("/")} if route != "/" else {},
            body=b"",
        )

    got, head = _call("visualiser", request("GET")), _call("visualiser", request("HEAD"))
    assert head.status_code == got.status_code == 200
    assert head.get_body() == b""
    assert head.headers.get("content-type") == got.headers.get("content-type")
    assert head.headers.get("content-length") == got.headers.get("content-length")


def _content_type(response: func.HttpResponse) -> str:
    """The Content-Type the worker sends: the answer's own, else its `mimetype` (`text/plain`)."""
    return response.headers.get("content-type") or response.mimetype


@pytest.mark.parametrize(
    "route",
    [
        "/api/summary-timestamps",
        "/api/summary-timestamps?since=0",
        "/plot/sensor-1.png",
        "/api/sensors/sensor-1/rollups",
        "/static/dashboard.js",
        "/api/openapi.json",
    ],
)
def test_a_304_from_the_azure_function_names_the_content_type_of_its_200(
    functions_on_a_store, route: str
) -> None:
    # A cache takes a 304's headers into the answer it keeps (RFC 9111 §4.3.4): a 304 left
    # without one would turn the kept JSON into text/plain.
    def request(headers: dict[str, str]) -> func.HttpRequest:
        return func.HttpRequest(
            method="GET",
            url=f"https://app.azurewebsites.net{route}",
            headers={"host": "app.azurewebsites.net", **headers},
            params={},
            route_params={"path": route.lstrip("/").split("?")[0]},
            body=b"",
        )

    got = _call("visualiser", request({}))
    unchanged = _call("visualiser", request({"if-none-match": "*"}))
    assert (got.status_code, unchanged.status_code) == (200, 304)
    assert _content_type(unchanged) == _content_type(got) != "text/plain"
    assert unchanged.get_body() == b""


def test_the_azure_function_refuses_a_chunked_post_with_411_and_deep_nesting_with_400(
    functions_on_a_store,
) -> None:
    def post(headers: dict, body: bytes) -> func.HttpResponse:
        return _call(
            "post_readings",
            func.HttpRequest(
                method="POST",
                url="https://app.azurewebsites.net/api/readings",
                headers={"host": "app.azurewebsites.net", "content-type": "application/json", **headers},
                params={},
                route_params={},
                body=body,
            ),
        )

    # What the host forwards for a chunked request: the header, and no body at all.
    chunked = post({"transfer-encoding": "chunked"}, b"")
    assert chunked.status_code == 411
    assert "Content-Length" in json.loads(chunked.get_body())["error"]
    deep = b"[" * 100_000
    nested = post({"content-length": str(len(deep))}, deep)
    assert nested.status_code == 400
    assert nested.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    body = json.dumps(_reading()).encode()
    assert post({"content-length": str(len(body))}, body).status_code == 201


def test_an_unexpected_failure_is_a_500_answer_from_the_azure_function_not_an_exception(tmp_path) -> None:
    """The worker would fail the invocation and the host answer a bare 500 of its own."""
    import pipeline.functions_http as functions_http

    store = ExplodingStore(tmp_path / "x.db")
    store.ensure_ready()
    reset_store(store)
    functions_http._middleware = None
    try:
        response = _call(
            "visualiser",
            func.HttpRequest(
                method="GET",
                url="https://app.azurewebsites.net/api/sensors",
                headers={"host": "app.azurewebsites.net"},
                params={},
                route_params={"path": "api/sensors"},
                body=b"",
            ),
        )
    finally:
        reset_store(None)
        functions_http._middleware = None
        store.close()
    assert response.status_code == 500
    assert json.loads(response.get_body()) == {"error": "internal error"}
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
