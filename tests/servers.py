"""Start and stop the real servers the tests talk to (no fakes of the Cosmos code path)."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
COSMOS_SERVER_PACKAGE = ROOT / "node_modules" / "@vercel" / "cosmosdb-server"
# The Cosmos DB emulator's well-known key: public, and the test server accepts any key.
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="


def require_all() -> bool:
    """In CI every test must run: a missing server or browser is a failure, not a skip."""
    return os.environ.get("REQUIRE_ALL", "") not in ("", "0", "false")


def skip_or_fail(reason: str) -> None:
    if require_all():
        pytest.fail(f"{reason} (REQUIRE_ALL is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


@functools.cache
def registered_functions() -> dict:
    """function_app's functions by name; get_functions() may be called once per app object."""
    import function_app

    return {fn.get_function_name(): fn for fn in function_app.app.get_functions()}


@dataclass(frozen=True)
class CosmosServer:
    port: int
    process: subprocess.Popen
    scheme: str = "https"

    @property
    def endpoint(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/"

    @property
    def connection_string(self) -> str:
        return f"AccountEndpoint={self.endpoint};AccountKey={EMULATOR_KEY};"


# Cosmos DB's limits on one transactional batch, enforced by the test server as Cosmos DB does.
BATCH_MAX_OPERATIONS = 100
BATCH_MAX_BYTES = 2 * 1024 * 1024
# Gaps of the test server closed, and those limits added (see the file's comments).
TEST_SERVER_FIXES = f"const MAX_OPERATIONS = {BATCH_MAX_OPERATIONS}, MAX_BYTES = {BATCH_MAX_BYTES};\n" + (
    ROOT / "tests" / "cosmos_server_fixes.js"
).read_text(encoding="utf-8")


@contextmanager
def cosmos_server(port: int | None = None, https: bool = True) -> Iterator[CosmosServer]:
    """`@vercel/cosmosdb-server` with keep-alive, in memory, on loopback (HTTPS by default)."""
    node = shutil.which("node")
    if node is None or not COSMOS_SERVER_PACKAGE.is_dir():
        skip_or_fail("the Cosmos-compatible server is not installed (run `npm ci`)")
    port = port or free_port()
    factory = "createHttpsServer" if https else "createHttpServer"
    script = (
        TEST_SERVER_FIXES
        + f'require("@vercel/cosmosdb-server").{factory}({{keepAlive: true}}).listen({port}, "127.0.0.1")'
    )
    process = subprocess.Popen(
        [node, "-e", script],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, 20, process)
        yield CosmosServer(port=port, process=process, scheme="https" if https else "http")
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class LocalHost:
    """`python -m local_host` (what `make run` starts) as a subprocess on a free port."""

    port: int
    store_path: Path
    arguments: tuple[str, ...]
    log_path: Path
    process: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)  # settings on top of this process's environment

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> LocalHost:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "local_host",
                "--port",
                str(self.port),
                "--store",
                str(self.store_path),
                *self.arguments,
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        wait_for_port(self.port, timeout, self.process)
        # The web app is built on the first request (seconds on a loaded machine): build
        # it here, so a test's own first request does not run into httpx's 5 s timeout.
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(f"{self.url}/", timeout=timeout)
        return self

    def stop(self, signal_number: int | None = None, timeout: float = 10.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal_number or signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def local_host(tmp_path: Path, *arguments: str) -> Iterator[LocalHost]:
    host = LocalHost(free_port(), tmp_path / "pipeline.db", arguments, tmp_path / "local_host.log")
    host.start()
    try:
        yield host
    finally:
        if host.process is not None and host.process.poll() is None:
            host.stop()


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """An ASGI app served by uvicorn in a thread on a free loopback port: its base URL."""
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, name="serve-app", daemon=True)
    thread.start()
    try:
        wait_for_port(server.config.port, 20)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def serve_handler(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A stub HTTP server (one thread per request) on a loopback port the OS picks: its base URL."""
    import threading

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="serve-handler", daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def raw_exchange(url: str, request: bytes, timeout: float = 30.0) -> bytes:
    """Send `request` as is over a new socket; everything the server sends until it closes."""
    host, port = url.removeprefix("http://").split(":")
    received = b""
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(request)
        while chunk := connection.recv(65536):
            received += chunk
    return received
