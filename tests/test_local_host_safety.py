"""`make run` is safe on a laptop, and at least once under a kill: real processes, real signals.

Each test starts `python -m local_host` as a subprocess (what `make run` starts), talks
to it over TCP and reads what it left in its SQLite file.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from local_host.triggers import PARK_FEED_HOOK
from pipeline.readings import format_timestamp
from pipeline.storage.sqlite_store import SqliteStore
from pipeline.web import SECURITY_HEADERS
from tests.checks import eventually
from tests.servers import ROOT, LocalHost, free_port, local_host

pytestmark = pytest.mark.slow
CONSUMER = "summarise_readings:readings"
MiB = 1024 * 1024


def run_local_host(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A local host that is expected to refuse to start."""
    return subprocess.run(
        [sys.executable, "-m", "local_host", "--port", str(free_port()), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_sigterm_stops_like_ctrl_c_with_the_checkpoint_saved(tmp_path: Path) -> None:
    with local_host(tmp_path, "--interval", "1", "--speed", "4") as host:
        eventually(lambda: httpx.get(f"{host.url}/api/summary-timestamps").json() != {}, 30, "a summary")
        status = host.stop(signal.SIGTERM)
    assert status == 0, host.log()
    assert "checkpoint saved" in host.log()
    assert "Traceback" not in host.log()
    store = SqliteStore(host.store_path)
    assert store._position(CONSUMER) > 0
    store.close()


def test_a_second_local_host_on_the_same_store_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with local_host(tmp_path, "--no-generator") as first:
        second = run_local_host("--store", str(first.store_path), "--no-generator")
        assert second.returncode == 2
        [line] = second.stderr.strip().splitlines()
        assert "another local host" in line and str(first.process.pid) in line and "--store" in line
        assert httpx.get(f"{first.url}/api/health").status_code == 200  # the first one carries on
    # Once the first has stopped, however it stopped, the store is free again.
    with local_host(tmp_path, "--no-generator") as again:
        assert again.stop(signal.SIGKILL) == -signal.SIGKILL
    with local_host(tmp_path, "--no-generator") as after_kill:
        assert httpx.get(f"{after_kill.url}/api/health").status_code == 200


@pytest.mark.parametrize("case", ["directory", "under a file", "not a database"])
def test_a_bad_store_path_gives_one_line_and_no_traceback(tmp_path: Path, case: str) -> None:
    if case == "directory":
        store = tmp_path / "folder"
        store.mkdir()
    elif case == "under a file":
        (tmp_path / "plain-file").write_text("x")
        store = tmp_path / "plain-file" / "pipeline.db"
    else:
        store = tmp_path / "pipeline.db"
        store.write_bytes(b"this is not a SQLite database, it is text " * 100)
    result = run_local_host("--store", str(store))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert str(store) in lines[0]


def _raw_request(port: int, head: str, body_chunks, rss_of: int) -> tuple[bytes, int, int, OSError | None]:
    """Send a request (body from `body_chunks`) while sampling the server's RSS; return
    the first bytes of the answer, the bytes of body sent, the peak RSS growth in bytes, and
    what stopped the upload (None: it was all sent)."""
    baseline = rss(rss_of)
    peak = [baseline]
    sent = [0]
    stopped: list[OSError | None] = [None]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss(rss_of))

    def pump(connection: socket.socket) -> None:
        try:
            for chunk in body_chunks:
                connection.sendall(chunk)
                sent[0] += len(chunk)
        except OSError as error:  # the server closed (it did not want the rest), or our timeout
            stopped[0] = error

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
        connection.sendall(head.encode())
        sender = threading.Thread(target=pump, args=(connection,), daemon=True)
        sender.start()
        answer = connection.recv(4096)
        sender.join(120)
    done.set()
    sampler.join()
    return answer, sent[0], peak[0] - baseline, stopped[0]


def rss(pid: int) -> int:
    """Resident set size of a process, in bytes (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _chunked(total: int, size: int = 64 * 1024):
    piece = b"[" * size
    for _ in range(total // size):
        yield b"%x\r\n%s\r\n" % (size, piece)
    yield b"0\r\n\r\n"


def _plain(total: int, size: int = 64 * 1024):
    piece = b"[" * size
    for _ in range(total // size):
        yield piece


def test_huge_bodies_are_refused_without_the_process_growing(tmp_path: Path) -> None:
    with local_host(tmp_path, "--no-generator") as host:
        assert host.process is not None
        pid = host.process.pid
        httpx.get(f"{host.url}/api/summary-timestamps")  # the web app is built and warm
        head = (
            f"POST /api/readings HTTP/1.1\r\nHost: localhost:{host.port}\r\n"
            "Content-Type: application/json\r\n"
        )
        # 32 chunks of 1 KiB in the head's packet: more body messages than Hypercorn queues
        # for the app (10) arrive before the app runs, whatever the timing; then 200 MiB.
        small = "".join(f"400\r\n{'[' * 1024}\r\n" for _ in range(32))
        answer, sent, growth, stopped = _raw_request(
            host.port, head + "Transfer-Encoding: chunked\r\n\r\n" + small, _chunked(200 * MiB), pid
        )
        assert answer.startswith(b"HTTP/1.1 411"), answer[:200]
        print(f"chunked: {sent / MiB:.0f} MiB sent, RSS grew {growth / MiB:.1f} MiB")
        assert growth < 20 * MiB
        # The host closed the connection after answering: the client was not left sending
        # into a full window until its own socket timeout (a TimeoutError, not a ConnectionError).
        assert isinstance(stopped, ConnectionError), repr(stopped)

        answer, sent, growth, stopped = _raw_request(
            host.port, head + f"Content-Length: {200 * MiB}\r\n\r\n", _plain(200 * MiB), pid
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        print(f"declared 200 MiB: {sent / MiB:.0f} MiB sent, RSS grew {growth / MiB:.1f} MiB")
        assert growth < 20 * MiB
        assert isinstance(stopped, ConnectionError), repr(stopped)
        assert httpx.get(f"{host.url}/api/health").status_code == 200
        for name, value in SECURITY_HEADERS.items():
            assert httpx.post(f"{host.url}/api/readings", content=b"x" * (5 * MiB)).headers[name] == value


def test_foreign_host_names_and_non_json_posts_are_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LOCAL_ALLOWED_HOSTS", "devbox.internal")
    reading = {"sensor_id": "laptop-1", "temperature": 21.5, "timestamp": format_timestamp(datetime.now(UTC))}
    with local_host(tmp_path, "--no-generator") as host:
        url = f"{host.url}/api/summary-timestamps"
        assert httpx.get(url).status_code == 200  # Host: 127.0.0.1:PORT
        assert httpx.get(url, headers={"Host": f"localhost:{host.port}"}).status_code == 200
        assert httpx.get(url, headers={"Host": "devbox.internal"}).status_code == 200
        rebound = httpx.get(url, headers={"Host": f"attacker.example:{host.port}"})
        assert rebound.status_code == 403
        assert rebound.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
        # What a page on another site can send without a CORS preflight:
        for content_type in ("text/plain", "application/x-www-form-urlencoded"):
            posted = httpx.post(
                f"{host.url}/api/readings",
                content=json.dumps(reading),
                headers={"Content-Type": content_type},
            )
            assert posted.status_code == 415
        assert httpx.head(f"{host.url}/").status_code == 200
        assert httpx.post(f"{host.url}/api/readings", json=reading).status_code == 201
        store = SqliteStore(host.store_path)
        assert len(store.recent_readings("laptop-1", 10)) == 1
        store.close()


def test_the_generator_fires_at_start_up_not_only_on_its_schedule(tmp_path: Path, monkeypatch) -> None:
    # Once a year: any reading in the first minute comes from the start-up tick.
    monkeypatch.setenv("GENERATOR_SCHEDULE", "0 0 0 1 1 *")
    with local_host(tmp_path, "--speed", "20") as host:
        eventually(lambda: len(httpx.get(f"{host.url}/api/summary-timestamps").json()) > 0, 30, "a summary")
    assert "generated" in host.log()


def test_a_batch_in_flight_when_the_host_is_killed_is_delivered_again(tmp_path: Path, monkeypatch) -> None:
    parked = tmp_path / "parked"
    monkeypatch.setenv(PARK_FEED_HOOK, str(parked))
    start = datetime.now(UTC) - timedelta(minutes=1)
    readings = [
        {
            "id": f"k{n}",
            "sensor_id": "killed-1",
            "temperature": 20 + n,
            "timestamp": format_timestamp(start + timedelta(seconds=n)),
        }
        for n in range(5)
    ]
    with local_host(tmp_path, "--no-generator") as host:
        assert httpx.post(f"{host.url}/api/readings", json=readings).status_code == 201
        # The summariser now holds the batch and is parked inside the invocation.
        eventually(parked.exists, 30, "the batch in flight")
        assert parked.read_text().strip() == "5"
        assert host.stop(signal.SIGKILL) == -signal.SIGKILL
    store = SqliteStore(host.store_path)
    assert store._position(CONSUMER) == 0, "checkpointed before the function succeeded"
    assert store.feed_backlog(CONSUMER) == 5
    assert "killed-1" not in store.latest_summaries()
    store.close()

    monkeypatch.delenv(PARK_FEED_HOOK)
    restarted = LocalHost(host.port, host.store_path, ("--no-generator",), host.log_path).start()
    try:
        store = SqliteStore(host.store_path)
        eventually(lambda: store.feed_backlog(CONSUMER) == 0, 30, "the batch delivered again")
        latest = store.latest_summaries()["killed-1"]
        assert latest.timestamp == readings[-1]["timestamp"] and latest.count == 5
        assert latest.avg_temp == 22.0
        store.close()
    finally:
        assert restarted.stop(signal.SIGINT) == 0, restarted.log()
