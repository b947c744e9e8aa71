"""Small loopback proxies that cause real network faults between our code and the test server."""

from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TcpProxy:
    """Forwards a loopback port to another; `cut()` refuses and drops every connection."""

    def __init__(self, target_port: int, listen_port: int) -> None:
        self.target_port = target_port
        self.port = listen_port
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """The network goes away: new connections are refused, open ones are reset."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone leaves the
            # kernel socket listening while that thread holds it.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def restore(self) -> None:
        self.start()

    def close(self) -> None:
        self.cut()


class _LoopbackHttpServer:
    """What the HTTP proxies share: a threaded server on a free loopback port, and its stop."""

    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class ThrottlingProxy(_LoopbackHttpServer):
    """An HTTP proxy that answers every `every`-th request with 429, as a busy Cosmos DB does."""

    def __init__(self, target_port: int, every: int = 3, retry_after_ms: int = 20) -> None:
        self.target_port = target_port
        self.every = every
        self.retry_after_ms = retry_after_ms
        self.requests = 0
        self.throttled = 0
        self._lock = threading.Lock()

    def _should_throttle(self) -> bool:
        with self._lock:
            self.requests += 1
            throttle = self.requests % self.every == 0
            self.throttled += throttle
            return throttle

    def start(self) -> ThrottlingProxy:
        proxy = self
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy._should_throttle():
                    payload = b'{"code":"TooManyRequests","message":"Request rate is large"}'
                    self.send_response(429)
                    self.send_header("x-ms-retry-after-ms", str(proxy.retry_after_ms))
                    self.send_header("x-ms-substatus", "3200")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                for attempt in range(2):
                    connection = getattr(local, "connection", None)
                    if connection is None:
                        connection = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=30)
                        local.connection = connection
                    try:
                        connection.request(self.command, self.path, body=body or None, headers=headers)
                        upstream = connection.getresponse()
                        data = upstream.read()
                        break
                    except (http.client.RemoteDisconnected, ConnectionError):
                        # The server closed an idle keep-alive connection (Node: after 5 s);
                        # reconnect once, as any proxy does.
                        connection.close()
                        local.connection = None
                        if attempt:
                            raise
                self.send_response(upstream.status)
                for key, value in upstream.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self._serve(Handler)
        return self


class PathFaultProxy(_LoopbackHttpServer):
    """An HTTP proxy in front of a web server that answers 503 for paths with a prefix while failing."""

    def __init__(self, target_port: int, prefix: str) -> None:
        self.target_port = target_port
        self.prefix = prefix
        self.failing = False
        self.refused = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PathFaultProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in (
                        "transfer-encoding",
                        "connection",
                        "content-length",
                        "date",
                        "server",
                    ):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.failing and self.path.startswith(proxy.prefix):
                    proxy.refused += 1
                    self._reply(503, [("Content-Type", "text/plain"), ("Retry-After", "1")], b"unavailable")
                    return
                connection = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=30)
                try:
                    headers = {
                        k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
                    }
                    connection.request(self.command, self.path, body=body or None, headers=headers)
                    upstream = connection.getresponse()
                    self._reply(upstream.status, upstream.getheaders(), upstream.read())
                except OSError:
                    self._reply(502, [("Content-Type", "text/plain")], b"bad gateway")
                finally:
                    connection.close()

            do_GET = do_POST = do_HEAD = _forward

        self._serve(Handler)
        return self
