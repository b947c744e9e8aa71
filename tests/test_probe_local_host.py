"""`python -m local_host` against what the docs promise of it (probe, 2026-12-06), over raw sockets."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.servers import LocalHost, local_host


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    with local_host(tmp_path_factory.mktemp("probe"), "--no-generator") as running:
        yield running


def _status(host: LocalHost, request: bytes) -> bytes:
    """The status line of the answer to a request sent in one piece."""
    with socket.create_connection(("127.0.0.1", host.port), timeout=10) as connection:
        connection.sendall(request)
        received = b""
        while b"\r\n" not in received:
            chunk = connection.recv(4096)
            if not chunk:
                break
            received += chunk
    return received.split(b"\r\n")[0]


def _get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n".encode()


def test_a_request_line_over_16_kb_is_431_even_in_one_piece(host: LocalHost) -> None:
    # docs/http-api.md: "431 to a request line plus headers over 16 KB"; Hypercorn alone let
    # one sent in a single piece through up to 64 KB.
    assert _status(host, _get("/api/health?x=" + "a" * 20_000)).startswith(b"HTTP/1.1 431")
    assert _status(host, _get("/api/health", "X-Big: " + "a" * 20_000 + "\r\n")).startswith(b"HTTP/1.1 431")
    assert _status(host, _get("/api/health?x=" + "a" * 15_000)).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("value", ["-1", "nan", "0", "0.01", "61", "inf"])
def test_a_feed_poll_outside_the_settings_range_stops_at_start(value: str) -> None:
    # SUMMARISER_FEED_POLL_DELAY_MS is checked to 50-60,000 ms; --feed-poll overrode it
    # unchecked ("polled every -1 s", "every nan s": a busy loop).
    from local_host.__main__ import parse_arguments

    with pytest.raises(SystemExit) as stopped:
        parse_arguments(["--feed-poll", value])
    assert stopped.value.code == 2


def test_a_feed_poll_inside_the_range_is_taken() -> None:
    from local_host.__main__ import parse_arguments

    assert parse_arguments(["--feed-poll", "0.25"]).feed_poll == 0.25
    assert parse_arguments([]).feed_poll is None


def test_a_body_refused_unread_closes_the_connection_at_once(host: LocalHost) -> None:
    # RFC 9112 §9.6: a server that will not read a body closes after its answer; kept open, the
    # client's upload would have nowhere to go until the body timeout.
    head = (
        f"POST /api/readings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {200 * 1024 * 1024}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", host.port), timeout=5) as connection:
        connection.sendall(head + b"[" * 65536)
        received = b""
        while chunk := connection.recv(4096):  # a timeout here fails the test: not closed
            received += chunk
    assert received.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in received.lower()


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--port", "0", "--port must be from 1 to 65535"),
        ("--port", "65536", "--port must be from 1 to 65535"),
        ("--interval", "0", "--interval must be from 1 to 59 seconds"),
        ("--interval", "60", "--interval must be from 1 to 59 seconds"),
    ],
)
def test_a_port_or_interval_out_of_range_stops_at_start_saying_so(
    option: str, value: str, said: str, capsys
) -> None:
    from local_host.__main__ import parse_arguments

    with pytest.raises(SystemExit) as stopped:
        parse_arguments([option, value])
    assert stopped.value.code == 2
    assert said in capsys.readouterr().err


def test_a_port_and_interval_at_their_limits_are_taken() -> None:
    from local_host.__main__ import parse_arguments

    assert parse_arguments(["--port", "65535", "--interval", "59"]).port == 65535
    assert parse_arguments(["--port", "1", "--interval", "1"]).interval == 1
