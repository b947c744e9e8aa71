"""Content negotiation on every read route: the same document with and without gzip, whichever
route was asked first; a refused coding is never sent; `Vary: Accept-Encoding` on every
negotiated answer, 304s included.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipeline.storage.sqlite_store import SqliteStore
from tests.dashboard_viewers import Clock, Fleet, app_on

SENSORS = 30
# Routes whose answer does not depend on the URL of an earlier answer; `since` routes are
# added per app (a cursor names its instance).
PLAIN_ROUTES = [
    "/",
    "/static/dashboard.js",
    "/static/dashboard.css",
    "/api/summary-timestamps",
    "/api/summary-timestamps?since=0",
    "/api/sensors",
    "/api/sensors?ids=" + ",".join(f"sensor-{n}" for n in range(1, 16)),
    "/api/sensors?ids=sensor-2",
    "/api/alerts",
    "/api/sensors/sensor-1/summaries",
    "/api/sensors/sensor-1/readings",
    "/api/deadletter",
    "/api/openapi.json",
    "/api/docs",
    "/api/docs/swagger-ui.css",
    "/plot/sensor-1.png",
    "/plot/sensor-1.png?theme=dark&points=200&scale=2",
]
NEGOTIATED_WITH_ETAG = [
    "/static/dashboard.js",
    "/api/summary-timestamps",
    "/api/summary-timestamps?since=0",
    "/api/openapi.json",
    "/api/docs/swagger-ui.css",
]
IDENTITY = {"Accept-Encoding": "identity"}
GZIP = {"Accept-Encoding": "gzip"}


def two_generations(tmp_path: Path) -> tuple[TestClient, Clock, str, Fleet]:
    """An app whose read model has seen two generations; with the first one's cursor."""
    store = SqliteStore(tmp_path / "pipeline.db")
    client, clock = app_on(store)
    client.__enter__()
    fleet = Fleet(client, store)
    fleet.post(fleet.add(SENSORS), lambda sensor, n: 20.0 + n % 9)
    fleet.settle()
    first = client.get("/api/summary-timestamps", params={"since": "0"}, headers=IDENTITY).json()
    fleet.post(fleet.sensors[:3], lambda sensor, n: 40.0)  # three change, and alert
    fleet.settle()
    clock.now += 10
    return client, clock, first["cursor"], fleet


App = tuple[TestClient, Clock, str, Fleet]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    client, clock, cursor, fleet = two_generations(tmp_path)
    try:
        yield client, clock, cursor, fleet
    finally:
        client.__exit__(None, None, None)


def routes(cursor: str) -> list[str]:
    return [
        *PLAIN_ROUTES,
        f"/api/summary-timestamps?since={cursor}",
        "/api/summary-timestamps?since=0123abcd.1",
    ]


def test_every_route_answers_one_document_with_and_without_gzip_whichever_comes_first(app: App) -> None:
    client, clock, cursor, fleet = app
    every = routes(cursor)
    for first in range(len(every)):
        # A new generation: nothing the read model caches has been asked for yet.
        fleet.post([fleet.sensors[3 + first]], lambda sensor, n, first=first: 10.0 + first)
        fleet.settle()
        clock.now += 10
        ordered = every[first:] + every[:first]  # this route is asked first, with gzip
        packed = {route: client.get(route, headers=GZIP) for route in ordered}
        plain = {route: client.get(route, headers=IDENTITY) for route in reversed(ordered)}
        for route in every:
            assert packed[route].status_code == plain[route].status_code == 200, route
            assert "content-encoding" not in plain[route].headers, route
            assert packed[route].content == plain[route].content, f"{every[first]} first: {route} differs"
        # The big documents did go out compressed.
        for route in ("/api/sensors", "/api/summary-timestamps", "/api/openapi.json"):
            assert packed[route].headers["content-encoding"] == "gzip", route


REFUSALS_AND_CHOICES = [
    ("gzip;q=0, identity", "identity"),
    ("gzip;q=0", "identity"),
    ("identity, gzip;q=0.000", "identity"),
    ("*;q=0, identity", "identity"),
    ("br, zstd", "identity"),
    ("gzip;q=0.2, identity;q=0.5", "identity"),
    ("", "identity"),
    ("GZip;Q=0.5", "gzip"),
    ("x-gzip", "gzip"),
    ("deflate, *", "gzip"),
    ("gzip, deflate, br", "gzip"),
]


def test_accept_encoding_is_parsed_not_matched(app: App) -> None:
    client = app[0]
    client.get("/api/sensors", headers=GZIP)  # a compressed copy is cached: it must not leak
    for accept, coding in REFUSALS_AND_CHOICES:
        for route in ("/api/sensors", "/api/summary-timestamps?since=0", "/api/openapi.json", "/"):
            response = client.get(route, headers={"Accept-Encoding": accept})
            assert response.headers.get("content-encoding", "identity") == coding, (route, accept)
            assert response.headers["vary"] == "Accept-Encoding", route
            assert response.content == client.get(route, headers=IDENTITY).content, (route, accept)


def test_vary_on_every_negotiated_answer_304s_included(app: App) -> None:
    client, _, cursor, _ = app
    for route in [*NEGOTIATED_WITH_ETAG, f"/api/summary-timestamps?since={cursor}"]:
        for headers in (GZIP, IDENTITY):
            answer = client.get(route, headers=headers)
            assert answer.headers["vary"] == "Accept-Encoding", route
            again = client.get(route, headers={**headers, "If-None-Match": answer.headers["etag"]})
            assert again.status_code == 304, route
            assert again.headers["vary"] == "Accept-Encoding", f"{route}: a 304 without Vary"
    for route in ("/", "/api/docs", "/api/sensors", "/api/sensors?ids=sensor-1"):
        assert client.get(route, headers=IDENTITY).headers["vary"] == "Accept-Encoding", route
