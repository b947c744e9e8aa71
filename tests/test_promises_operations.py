"""Promises of the local host, the trigger tuning, dead-letter access and smoke that `make mutate`
found unguarded (tests/mutation/open_issues.py).

The gateway refuses ambiguous framing on every route itself (not only where ingest checks it
again); the local host takes the batch bound from the binding; the catch-all knows the
dead-letter route in any spelling; smoke waits for the very reading it posted.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

import infra.smoke
from infra.smoke import Smoke, StepFailed
from local_host.http_gateway import FunctionsHttpGateway, http_functions
from local_host.triggers import Counters, FeedTriggerRunner
from pipeline.settings import settings_from
from tests.checks import ListFeed
from tests.servers import registered_functions, serve_handler
from visualiser.bindings import names_dead_letters


def asgi_exchange(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """One request through an ASGI app: the answer's status, headers (lower-cased) and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return {
        "status": start["status"],
        "headers": {k.decode().lower(): v.decode() for k, v in start["headers"]},
        "body": b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
    }


@pytest.mark.parametrize(("method", "path"), [("PUT", "/api/readings"), ("DELETE", "/api/sensors")])
def test_the_gateway_refuses_chunked_with_a_length_on_any_route_and_closes(method: str, path: str) -> None:
    gateway = FunctionsHttpGateway(http_functions(registered_functions().values(), ""), None)
    answer = asgi_exchange(
        gateway,
        method,
        path,
        [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
            (b"content-length", b"2"),
        ],
    )
    assert answer["status"] == 400, answer
    assert answer["headers"]["connection"] == "close"
    assert "Transfer-Encoding and Content-Length" in json.loads(answer["body"])["error"]


class TunedFunction:
    """The summariser's function with other tuning in its trigger binding."""

    def __init__(self, function: Any, **tuning: int) -> None:
        self._function = function
        self._trigger = dict(function.get_trigger().get_dict_repr(), **tuning)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._function, name)

    def get_trigger(self) -> TunedFunction:
        return self

    def get_dict_repr(self) -> dict[str, Any]:
        return self._trigger


def test_the_local_host_takes_delay_and_batch_bound_from_whatever_the_binding_says() -> None:
    function = TunedFunction(
        registered_functions()["summarise_readings"], feedPollDelay=400, maxItemsPerInvocation=250
    )
    feed = ListFeed()
    bounds: list[int] = []
    original = feed.read_feed

    def recording_read(consumer: str, max_items: int):
        bounds.append(max_items)
        return original(consumer, max_items)

    feed.read_feed = recording_read  # type: ignore[method-assign]
    runner = FeedTriggerRunner(function, settings_from({}), feed, Counters())
    assert (runner.poll_delay, runner.max_items) == (0.4, 250)
    assert runner.run_once(threading.Event()) == 0
    assert bounds == [250]


@pytest.mark.parametrize(
    "url",
    [
        "https://app.azurewebsites.net/api/deadletter",
        "https://app.azurewebsites.net/API/DeadLetter",
        "https://app.azurewebsites.net/Api//DEADLETTER/?limit=1",
        "https://app.azurewebsites.net/api/dead%4Cetter",
    ],
)
def test_the_catch_all_knows_the_dead_letter_route_in_any_spelling(url: str) -> None:
    assert names_dead_letters(url)


def test_the_catch_all_knows_other_routes_are_not_dead_letters() -> None:
    assert not names_dead_letters("https://app.azurewebsites.net/api/deadletters")
    assert not names_dead_letters("https://app.azurewebsites.net/api/sensors")


class Versions(BaseHTTPRequestHandler):
    """/api/summary-timestamps with one sensor's version, as a read side would answer."""

    version = ""

    def do_GET(self) -> None:
        body = json.dumps({"smoke-1": Versions.version}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def versions() -> Iterator[str]:
    with serve_handler(Versions) as url:
        yield url


def test_smoke_waits_for_the_reading_it_posted_not_any_version(
    versions: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(infra.smoke, "READ_FRESHNESS_S", 0.3)
    checks = Smoke(versions, request_timeout=5, poll_interval=0.05, sensor_id="smoke-1")
    checks.timestamp = "2026-01-01T00:00:10.000Z"
    Versions.version = "2026-01-01T00:00:00.000Z.1"  # an older summary of the sensor
    with pytest.raises(StepFailed, match="missing or stale"):
        checks.summary_timestamps()
    Versions.version = "2026-01-01T00:00:10.000Z.2"
    assert checks.summary_timestamps() == "smoke-1: 2026-01-01T00:00:10.000Z.2"
