"""Promised HTTP behaviour, seen on a real socket: HEAD, the declared-length 413, gzip and
Vary, the delta cursor, the chart's ETag and thresholds, the breaker's 5 failures and 10 s.

The web app runs under uvicorn in a thread (tests/servers.py: serve_app); requests that a
client library would rewrite (HEAD, no Accept-Encoding, a body shorter than declared) are
written byte for byte.
"""

from __future__ import annotations

import gzip
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from generator.http_api import MAX_BODY_BYTES
from pipeline.settings import settings_from
from pipeline.storage.sqlite_store import SqliteStore
from tests.servers import raw_exchange, serve_app
from tests.test_web_api import seed
from web_app import create_web_app


def split(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-cased names) and body of one HTTP/1.1 answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def request(url: str, method: str, path: str, *headers: str, body: bytes = b"", timeout: float = 30) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *headers]
    return raw_exchange(url, ("\r\n".join(lines) + "\r\n\r\n").encode() + body, timeout)


@pytest.fixture
def served(sqlite_store: SqliteStore) -> Iterator[str]:
    seed(sqlite_store, sensors=tuple(f"sensor-{n}" for n in range(1, 40)))
    with serve_app(create_web_app(store=sqlite_store, settings=settings_from({}))) as url:
        yield url


@pytest.mark.parametrize("path", ["/", "/api/summary-timestamps", "/plot/sensor-1.png", "/api/health"])
def test_head_over_a_socket_sends_the_get_headers_and_not_one_byte_of_body(served: str, path: str) -> None:
    get_status, get_headers, get_body = split(request(served, "GET", path))
    head_status, head_headers, head_body = split(request(served, "HEAD", path))
    assert head_status == get_status == 200
    assert head_body == b""  # read until the server closed: nothing after the headers
    assert get_body
    assert head_headers["content-type"] == get_headers["content-type"]
    if path != "/api/health":  # its body holds the feed lag of the moment
        assert head_headers["content-length"] == get_headers["content-length"] == str(len(get_body))
        assert head_headers.get("etag") == get_headers.get("etag")


def test_a_declared_length_over_the_limit_is_413_before_a_byte_of_body_is_sent(served: str) -> None:
    """The 413 comes at once: were the body awaited, this would time out (none is sent)."""
    started = time.monotonic()
    answer = request(
        served,
        "POST",
        "/api/readings",
        "Content-Type: application/json",
        f"Content-Length: {MAX_BODY_BYTES + 1}",
        timeout=10,
    )
    status, _, body = split(answer)
    assert status == 413 and str(MAX_BODY_BYTES) in json.loads(body)["error"]
    assert time.monotonic() - started < 5
    # At the limit itself the body is read (and judged on its content).
    at_limit = request(
        served,
        "POST",
        "/api/readings",
        "Content-Type: application/json",
        f"Content-Length: {MAX_BODY_BYTES}",
        body=b" " * MAX_BODY_BYTES,
    )
    assert split(at_limit)[0] == 400


def test_gzip_only_when_accepted_and_vary_always(served: str) -> None:
    path = "/api/summary-timestamps?since=0"  # over 1 kB with 39 sensors
    plain_status, plain, plain_body = split(request(served, "GET", path))
    assert plain_status == 200 and "content-encoding" not in plain
    assert len(plain_body) > 1024 and json.loads(plain_body)["full"] is True
    assert "accept-encoding" in plain["vary"].lower()
    identity = split(request(served, "GET", path, "Accept-Encoding: identity"))[1]
    assert "content-encoding" not in identity and "accept-encoding" in identity["vary"].lower()
    status, packed, packed_body = split(request(served, "GET", path, "Accept-Encoding: gzip, deflate, br"))
    assert status == 200 and packed["content-encoding"] == "gzip"
    assert "accept-encoding" in packed["vary"].lower()
    assert json.loads(gzip.decompress(packed_body)) == json.loads(plain_body)
    # A small answer is not worth it: sent as is, still with Vary.
    small_status, small, _ = split(request(served, "GET", "/api/deadletter", "Accept-Encoding: gzip"))
    assert small_status == 200 and "content-encoding" not in small


def test_the_newest_cursor_is_known_and_one_beyond_it_is_not(served: str) -> None:
    first = httpx.get(f"{served}/api/summary-timestamps", params={"since": "0"}).json()
    assert first["full"] is True and len(first["versions"]) == 39
    newest = httpx.get(f"{served}/api/summary-timestamps", params={"since": first["cursor"]}).json()
    assert newest["full"] is False and newest["versions"] == {} and newest["cursor"] == first["cursor"]
    epoch, _, generation = first["cursor"].partition(".")
    beyond = f"{epoch}.{int(generation) + 1}"  # from a future this process never had: unknown
    unknown = httpx.get(f"{served}/api/summary-timestamps", params={"since": beyond}).json()
    assert unknown["full"] is True and len(unknown["versions"]) == 39


def test_a_chart_drawn_with_other_thresholds_has_another_etag(tmp_path: Path) -> None:
    """Same data, same version: another threshold draws another chart, so no 304 for the old one."""
    store = SqliteStore(tmp_path / "pipeline.db")
    store.ensure_ready()
    seed(store)
    charts = {}
    for high in ("38", "30"):
        app = create_web_app(store=store, settings=settings_from({"ALERT_HIGH_CELSIUS": high}))
        with serve_app(app) as url:
            charts[high] = httpx.get(f"{url}/plot/sensor-1.png")
            assert charts[high].status_code == 200
            if high == "30":
                stale = httpx.get(
                    f"{url}/plot/sensor-1.png", headers={"If-None-Match": charts["38"].headers["etag"]}
                )
                assert stale.status_code == 200 and stale.content == charts["30"].content
    assert charts["38"].headers["etag"] != charts["30"].headers["etag"]
    assert charts["38"].content != charts["30"].content
    store.close()


def test_the_breaker_opens_on_the_fifth_store_failure_for_10_seconds(tmp_path: Path) -> None:
    """Defaults: 5 consecutive failures open it; it then refuses for 10 s, even once the store is back.

    A store failure answers Retry-After 5; the open circuit answers the cooldown left.
    """
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")  # the store's directory is a file: every call fails
    app = create_web_app(store=SqliteStore(blocker / "pipeline.db"), settings=settings_from({}))
    path = "/api/sensors/sensor-1/readings"
    with serve_app(app) as url:
        for attempt in range(5):  # the fifth failure opens it
            if attempt == 4:
                tripping = time.monotonic()
            failed = httpx.get(f"{url}{path}")
            assert failed.status_code == 503 and failed.headers["retry-after"] == "5"
        tripped = time.monotonic()  # it opened between `tripping` and `tripped`

        def refused() -> tuple[int, int, int]:
            """Retry-After of an open circuit, and its bounds for a cooldown of 10 s."""
            before = time.monotonic()
            response = httpx.get(f"{url}{path}")
            after = time.monotonic()
            assert response.status_code == 503
            low, high = math.ceil(10 - (after - tripping)), math.ceil(10 - (before - tripped))
            return int(response.headers["retry-after"]), low, min(high, 10)

        retry_after, low, high = refused()
        assert low <= retry_after <= high
        blocker.unlink()  # the store is back, but the circuit still refuses without asking it
        time.sleep(max(0.0, 1.2 - (time.monotonic() - tripped)))
        retry_after, low, high = refused()
        assert low <= retry_after <= high <= 9


def test_the_breaker_settings_are_honoured(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings = settings_from({"STORE_BREAKER_FAILURES": "2", "STORE_BREAKER_COOLDOWN_SECONDS": "2"})
    app = create_web_app(store=SqliteStore(blocker / "pipeline.db"), settings=settings)
    path = "/api/sensors/sensor-1/readings"
    with serve_app(app) as url:
        assert [httpx.get(f"{url}{path}").headers["retry-after"] for _ in range(2)] == ["5", "5"]
        opened = time.monotonic()
        assert httpx.get(f"{url}{path}").headers["retry-after"] in ("1", "2")  # open after two
        blocker.unlink()
        time.sleep(max(0.0, 2.1 - (time.monotonic() - opened)))
        assert httpx.get(f"{url}{path}").status_code == 200  # cooled down: let through, closes it
