"""The hostile-client table of issue 22, on the web app, on SQLite and on the Cosmos-compatible server.

Each row: the request a hostile or careless client sends, and what HTTP says the answer is.
Nothing of a refused body is written. The rows the local host's HTTP server decides
(framing, timeouts) are in test_hostile_local_host.py.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient

from generator.http_api import MAX_BODY_BYTES
from pipeline.settings import settings_from
from pipeline.storage import Store
from tests.test_web_api import seed
from web_app import create_web_app


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    seed(store)
    with TestClient(create_web_app(store=store, settings=settings_from({}))) as test_client:
        yield test_client


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _post(client: TestClient, body: bytes, **headers: str):
    return client.post("/api/readings", content=body, headers={"Content-Type": "application/json", **headers})


def _nothing_written(store: Store, sensor_id: str = "hostile-1") -> bool:
    return store.recent_readings(sensor_id, 10) == []


def test_a_duplicate_key_is_refused_naming_it(client: TestClient, store: Store) -> None:
    fields = f'"sensor_id": "other-1", "temperature": 20.5, "timestamp": "{_now()}"'
    body = f'{{{fields}, "sensor_id": "hostile-1"}}'
    response = _post(client, body.encode())
    assert response.status_code == 400, response.text
    assert "sensor_id" in response.json()["error"]
    assert _nothing_written(store) and _nothing_written(store, "other-1")


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_a_compressed_body_is_refused_naming_the_encoding(
    client: TestClient, store: Store, encoding: str
) -> None:
    plain = json.dumps({"sensor_id": "hostile-1", "temperature": 20.5, "timestamp": _now()}).encode()
    # For br and deflate the plain body is sent: the server must not read it as if it were JSON.
    body = gzip.compress(plain) if encoding == "gzip" else plain
    response = _post(client, body, **{"Content-Encoding": encoding})
    assert response.status_code == 415, response.text
    assert encoding in response.json()["error"]
    assert _nothing_written(store)


def test_identity_content_encoding_is_plain_json(client: TestClient, store: Store) -> None:
    body = json.dumps({"sensor_id": "hostile-1", "temperature": 20.5, "timestamp": _now()}).encode()
    assert _post(client, body, **{"Content-Encoding": "identity"}).status_code == 201


@pytest.mark.parametrize("sign", ["", "-"])
def test_a_temperature_with_thousands_of_digits_is_a_422_naming_the_field(
    client: TestClient, store: Store, sign: str
) -> None:
    body = f'{{"sensor_id": "hostile-1", "temperature": {sign}{"9" * 5000}, "timestamp": "{_now()}"}}'
    response = _post(client, body.encode())
    assert response.status_code == 422, response.text
    assert "temperature" in response.json()["details"][0]["errors"]
    assert _nothing_written(store)


def test_the_body_limit_is_exactly_one_megabyte(client: TestClient, store: Store) -> None:
    assert MAX_BODY_BYTES == 1_000_000
    reading = json.dumps({"sensor_id": "hostile-1", "temperature": 20.5, "timestamp": _now()})
    at_limit = reading.encode().ljust(1_000_000, b" ")  # whitespace after JSON is still JSON
    assert _post(client, at_limit).status_code == 201
    over = reading.encode().ljust(1_000_001, b" ")
    response = _post(client, over)
    assert response.status_code == 413, response.text
    assert "1000000 bytes" in response.json()["error"]


def test_negative_zero_is_stored_and_shown_as_zero(client: TestClient, store: Store) -> None:
    body = json.dumps({"sensor_id": "hostile-1", "temperature": -0.0, "timestamp": _now()}).encode()
    assert b"-0.0" in body
    assert _post(client, body).status_code == 201
    (stored,) = store.recent_readings("hostile-1", 10)
    assert stored.temperature == 0.0 and math.copysign(1.0, stored.temperature) == 1.0
    shown = client.get("/api/sensors/hostile-1/readings")
    assert b"-0.0" not in shown.content and shown.json()[0]["temperature"] == 0.0


@pytest.mark.parametrize(
    "path",
    [
        "/api/summary-timestamps",
        "/api/summary-timestamps?since=0",
        "/plot/sensor-1.png",
        "/static/dashboard.js",
        "/api/openapi.json",
    ],
)
def test_if_none_match_star_on_an_existing_resource_is_304(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200
    response = client.get(path, headers={"If-None-Match": "*"})
    assert response.status_code == 304, response.text
    assert response.content == b""


def test_if_none_match_star_on_a_missing_resource_is_not_304(client: TestClient) -> None:
    assert client.get("/plot/no-such-sensor.png", headers={"If-None-Match": "*"}).status_code == 404


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/sensors/sensor-1/summaries?limit=1&limit=500", "limit"),
        ("/api/sensors/sensor-1/readings?limit=2&%6Cimit=3", "limit"),  # %6C is "l"
        ("/plot/sensor-1.png?points=20&points=50", "points"),
        ("/api/sensors?ids=sensor-1&ids=sensor-2", "ids"),
        ("/api/summary-timestamps?since=0&since=", "since"),
    ],
)
def test_a_query_parameter_given_twice_is_a_400_naming_it(client: TestClient, path: str, name: str) -> None:
    # One value each: silently taking the last would answer a question nobody asked.
    response = client.get(path)
    assert response.status_code == 400, response.text
    assert response.json()["details"] == [{"location": f"query.{name}", "error": "given more than once"}]
    assert response.headers["x-content-type-options"] == "nosniff"  # an answer like any other


def test_the_page_takes_its_query_as_it_comes(client: TestClient) -> None:
    assert client.get("/?page=1&page=2").status_code == 200  # read by the page's script


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "TRACE"])
def test_undeclared_methods_on_the_readings_route_are_405_with_allow(client: TestClient, method: str) -> None:
    response = client.request(method, "/api/readings")
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "TRACE"])
def test_undeclared_methods_on_a_read_route_are_405_with_allow(client: TestClient, method: str) -> None:
    response = client.request(method, "/api/sensors", headers={"Content-Type": "application/json"})
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == "GET, HEAD"


def test_chunked_and_content_length_together_are_refused_and_closed(client: TestClient, store: Store) -> None:
    body = json.dumps({"sensor_id": "hostile-1", "temperature": 20.5, "timestamp": _now()}).encode()
    response = _post(client, body, **{"Transfer-Encoding": "chunked", "Content-Length": str(len(body))})
    assert response.status_code == 400, response.text
    assert response.headers["connection"] == "close"
    assert _nothing_written(store)


def test_an_unknown_field_named_by_a_lone_surrogate_is_a_422_naming_it(
    client: TestClient, store: Store
) -> None:
    # "\ud800" is valid JSON but no UTF-8: echoed as it came, the answer could not be encoded (500).
    body = f'{{"\\ud800": 1, "sensor_id": "hostile-1", "temperature": 20.5, "timestamp": "{_now()}"}}'
    response = _post(client, body.encode())
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["errors"]["body"] == "unknown fields: \\ud800"
    assert _nothing_written(store)


@pytest.mark.parametrize(
    "reading_id",
    [
        "2026-12-06T10:00:00.120Z",
        "2026-12-06T10:00:00Z",
        "2026-12-06T10:00:00.1234567-01:00",
        "2026-12-06T10:00:00",
        "2026-01-31T12:00:00:30",  # Json.NET's zone reader is that lenient
        "2026-12-06T10:00:00-05:",
    ],
)
def test_an_id_of_the_form_of_a_date_time_is_a_422_naming_id(
    client: TestClient, store: Store, reading_id: str
) -> None:
    # The Functions host hands such an id to the summariser rewritten (`.120Z` as `.12Z`,
    # local_host/jsonnet_dates.py): the reading would be counted under both ids.
    body = json.dumps({"id": reading_id, "sensor_id": "hostile-1", "temperature": 20.5, "timestamp": _now()})
    response = _post(client, body.encode())
    assert response.status_code == 422, response.text
    assert "date-time" in response.json()["details"][0]["errors"]["id"]
    assert _nothing_written(store)


def test_ids_that_only_contain_a_date_time_are_accepted(client: TestClient, store: Store) -> None:
    ids = [
        "2026-12-06",
        "dev-2026-12-06T10:00:00.120Z",
        "2026-12-06T10:00:00.120Z-dev",
        "2026-12-06T10-00-00",
        "2026-12-06t10:00:00.120Z",  # Json.NET wants an upper-case T
    ]
    body = json.dumps(
        [{"id": i, "sensor_id": "hostile-1", "temperature": 20.5, "timestamp": _now()} for i in ids]
    )
    response = _post(client, body.encode())
    assert response.status_code == 201, response.text
    assert sorted(r.id for r in store.recent_readings("hostile-1", 10)) == sorted(ids)


def test_a_timestamp_with_nanoseconds_is_stored_at_its_millisecond(client: TestClient, store: Store) -> None:
    now = _now()
    nanoseconds = now[:-1] + "999999Z"  # 9 fraction digits, as Go's RFC3339Nano writes them
    body = json.dumps({"sensor_id": "hostile-1", "temperature": 20.5, "timestamp": nanoseconds})
    response = _post(client, body.encode())
    assert response.status_code == 201, response.text
    assert [r.timestamp for r in store.recent_readings("hostile-1", 10)] == [now]  # truncated, not rounded


def test_a_timestamp_beyond_nanoseconds_is_a_422_saying_so(client: TestClient, store: Store) -> None:
    picoseconds = _now()[:-1] + "999999999Z"  # 12 fraction digits
    body = json.dumps({"sensor_id": "hostile-1", "temperature": 20.5, "timestamp": picoseconds})
    response = _post(client, body.encode())
    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["errors"]["timestamp"].startswith("more than 9 fraction digits")
    assert _nothing_written(store)


@pytest.mark.parametrize(
    "path",
    [
        "/api/sensors/sensor-1/history?start={t}&end={end}",
        "/plot/sensor-1.png?start={t}&end={end}",
        "/api/sensors/sensor-1/rollups?from={t}",
    ],
)
def test_an_offset_whose_plus_arrived_as_a_space_is_a_400_saying_so(client: TestClient, path: str) -> None:
    now = datetime.now(UTC)
    start = (now - timedelta(minutes=30)).astimezone(timezone(timedelta(hours=1))).isoformat()
    end = now.isoformat().replace("+00:00", "Z")
    # Typed as it is, the `+` of the offset reaches the server as a space.
    refused = client.get(path.format(t=start, end=end))
    assert refused.status_code == 400, refused.text
    assert "a '+' in a query string means a space: send it as %2B" in refused.json()["error"]
    assert client.get(path.format(t=start.replace("+", "%2B"), end=end)).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/api/sensors/sensor-1/history?start={t}&end={end}",
        "/plot/sensor-1.png?start={t}&end={end}",
        "/api/sensors/sensor-1/rollups?from={t}",
    ],
)
def test_a_space_that_was_not_a_plus_is_a_400_without_the_plus_hint(client: TestClient, path: str) -> None:
    end = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    refused = client.get(path.format(t="yesterday noon", end=end))
    assert refused.status_code == 400, refused.text
    assert "%2B" not in refused.json()["error"]


@pytest.mark.parametrize(
    "name",
    ["no-such-file.js", "..%2F..%2Fpyproject.toml", "..%2Fapi_docs.py", "swagger-ui.css.map"],
)
def test_only_the_api_docs_own_files_are_served(client: TestClient, name: str) -> None:
    # The docs' assets are an allow-list: a name from a request never becomes a path.
    response = client.get(f"/api/docs/{name}")
    assert response.status_code == 404, response.text
    assert response.json()["error"].lower() == "not found"  # ours, or no route at all for a "/"
    assert client.get("/api/docs/swagger-ui.css").status_code == 200
