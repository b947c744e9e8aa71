"""Hostile clients against `python -m local_host` (what `make run` serves), over raw sockets.

What the HTTP server decides: framing (Transfer-Encoding with Content-Length), slow
headers, slow bodies and idle keep-alive connections (timeouts scaled down to about a
second through the command line), and 405 with `Allow` for a method no function declares.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.servers import ROOT, LocalHost, local_host

TIMEOUT = 1.0  # seconds, for headers and bodies alike (the defaults are 30 s)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    arguments = ("--no-generator", "--header-timeout", str(TIMEOUT), "--body-timeout", str(TIMEOUT))
    with local_host(tmp_path_factory.mktemp("hostile"), *arguments) as running:
        yield running


def _connect(host: LocalHost) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", host.port), timeout=10)
    return connection


def _read_until_closed(connection: socket.socket, limit: float = 10.0) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    received = b""
    connection.settimeout(limit)
    while True:
        try:
            chunk = connection.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        received += chunk
    return received, time.monotonic() - started


def _dribble(connection: socket.socket, data: bytes) -> None:
    """Send one byte every 50 ms until done, cut off, or 5 timeouts have passed."""
    started = time.monotonic()
    try:
        for byte in data:
            connection.sendall(bytes([byte]))
            time.sleep(0.05)
            if time.monotonic() - started > 5 * TIMEOUT:
                break
    except (BrokenPipeError, ConnectionResetError):
        pass


def _reading() -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return json.dumps({"sensor_id": "hostile-1", "temperature": 20.5, "timestamp": now}).encode()


def _readings_of(host: LocalHost, sensor_id: str = "hostile-1") -> list:
    return httpx.get(f"{host.url}/api/sensors/{sensor_id}/readings", timeout=10).json()


def test_chunked_with_content_length_is_400_and_the_connection_closed(host: LocalHost) -> None:
    body = _reading()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    request = (
        b"POST /api/readings HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + chunked
    )
    with _connect(host) as connection:
        connection.sendall(request)
        received, _ = _read_until_closed(connection)
    assert received.startswith(b"HTTP/1.1 400"), received[:200]
    assert received.count(b"HTTP/1.1 ") == 1  # nothing smuggled after it, and closed
    assert _readings_of(host) == []


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/readings", "POST"),
        ("DELETE", "/api/readings", "POST"),
        ("TRACE", "/api/sensors", "GET, HEAD"),
        ("POST", "/api/sensors", "GET, HEAD"),
        ("DELETE", "/api/alerts", "GET, HEAD"),
    ],
)
def test_an_undeclared_method_is_405_with_allow(host: LocalHost, method: str, path: str, allow: str) -> None:
    response = httpx.request(method, f"{host.url}{path}", timeout=10)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow


def test_a_body_of_1000001_bytes_is_413_and_nothing_is_written(host: LocalHost) -> None:
    body = _reading().ljust(1_000_001, b" ")
    response = httpx.post(
        f"{host.url}/api/readings", content=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 413, response.text
    assert _readings_of(host) == []


def test_headers_sent_a_byte_at_a_time_are_cut_off(host: LocalHost) -> None:
    with _connect(host) as connection:
        started = time.monotonic()
        _dribble(connection, b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 200)
        received, _ = _read_until_closed(connection)
        elapsed = time.monotonic() - started
    assert elapsed < 3 * TIMEOUT, f"headers were still being read after {elapsed:.1f} s"
    assert received == b"" or received.startswith(b"HTTP/1.1 408"), received[:200]


def test_a_body_sent_slowly_is_cut_off_and_nothing_is_written(host: LocalHost) -> None:
    body = _reading()
    with _connect(host) as connection:
        connection.sendall(
            b"POST /api/readings HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        started = time.monotonic()
        _dribble(connection, body[:-1])  # every read is quick, the whole body is not
        received, _ = _read_until_closed(connection)
        elapsed = time.monotonic() - started
    assert elapsed < 3 * TIMEOUT, f"the body was still being read after {elapsed:.1f} s"
    assert received == b"" or received.startswith(b"HTTP/1.1 408"), received[:200]
    assert _readings_of(host) == []


def test_an_idle_keep_alive_connection_is_closed(host: LocalHost) -> None:
    with _connect(host) as connection:
        connection.sendall(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received, elapsed = _read_until_closed(connection)
    assert received.startswith(b"HTTP/1.1 "), received[:200]
    assert elapsed < 3 * TIMEOUT


@pytest.mark.parametrize("option", ["--header-timeout", "--body-timeout"])
@pytest.mark.parametrize("value", ["0", "-1", "abc", "601"])
def test_a_bad_timeout_fails_at_start_naming_the_option(tmp_path: Path, option: str, value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "local_host", "--store", str(tmp_path / "p.db"), option, value],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert option in done.stderr


def test_many_slow_connections_are_all_cut_off_and_others_still_served(host: LocalHost) -> None:
    connections = [_connect(host) for _ in range(300)]
    try:
        for connection in connections:
            connection.sendall(b"GET /api/health HTTP/1.1\r\nHost: loc")  # and never the rest
        assert httpx.get(f"{host.url}/api/health", timeout=10).status_code == 200
        time.sleep(2 * TIMEOUT)
        still_open = 0
        for connection in connections:
            connection.settimeout(2)
            try:
                still_open += connection.recv(1024) != b""
            except ConnectionResetError:
                pass  # closed too
            except TimeoutError:
                still_open += 1
        assert still_open == 0, f"{still_open} of {len(connections)} slow connections still open"
    finally:
        for connection in connections:
            connection.close()
