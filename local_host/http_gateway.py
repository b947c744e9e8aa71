"""The local host's HTTP front: what the Functions host and worker do with a request.

Each request is matched to a registered HTTP-triggered function by the binding's route
template and methods, turned into `func.HttpRequest` by the `azure.functions` library's
own converter from the data the host would send (lower-cased headers, route parameters,
a body only when `Content-Length` > 0), and the function's `func.HttpResponse` is encoded
by the library's converter and written back. So `make run` serves the functions, not the
web app behind them.

What it adds, because it runs on a laptop, not behind Azure's front end (see README):
only the `Host` names it serves are answered (DNS rebinding), POST needs a JSON
content type (no cross-site "simple" requests), and a declared body over
`max_body_bytes` is refused before it is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

import azure.functions as func
from azure.functions.meta import Datum
from starlette.concurrency import run_in_threadpool

from local_host.triggers import LocalContext
from pipeline.web import SECURITY_HEADERS, error_response

log = logging.getLogger("local_host")

# Azure's front end accepts about 100 MB; a laptop needs far less, and no function here
# takes more than 1 MB (the ingest route's own limit).
MAX_BODY_BYTES = 4 * 1024 * 1024
BODY_TIMEOUT_SECONDS = 30.0
# A request line plus headers over this is 431, as Hypercorn does for a head arriving in pieces.
MAX_HEAD_BYTES = 16 * 1024
# The order methods are listed in an `Allow` header.
METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
JSON_CONTENT_TYPE = re.compile(r"application/(?:[\w.+-]+\+)?json", re.ASCII | re.IGNORECASE)


def _segment_pattern(segment: str) -> tuple[str, int]:
    """A template segment as a regex, and whether it is a literal (1) or a parameter (0)."""
    parameter = re.fullmatch(r"\{(\*)?([A-Za-z_]\w*)(?::[^}]*)?(\?)?\}", segment)
    if parameter is None:
        return re.escape(segment), 1
    catch_all, name, optional = parameter.groups()
    if catch_all:
        return f"(?P<{name}>.*)", 0
    return f"(?P<{name}>[^/]+){'?' if optional else ''}", 0


def _discarding_unread_body(send: Any, receive: Any) -> Any:
    """`send`, with the answer's last message sent while any request body still arriving is discarded.

    Hypercorn passes a body to the app through a queue of 10 messages, and on finishing the
    response puts "disconnect" on that queue before it closes the connection (which
    `Connection: close`, or a body left unread, asks for). A body the app never reads (a
    chunked upload, one refused with 413) fills the queue: the close then waits for room
    that never comes, and the client is left sending into a full TCP window until its own
    timeout. Taking what arrives while the answer is written frees the queue; nothing taken
    is kept, and a body already read leaves nothing to take.
    """

    async def discard() -> None:
        while (await receive())["type"] == "http.request":
            pass

    async def finishing(message: dict[str, Any]) -> None:
        if message["type"] != "http.response.body" or message.get("more_body", False):
            await send(message)
            return
        discarding = asyncio.ensure_future(discard())
        try:
            await send(message)
        finally:
            discarding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await discarding

    return finishing


@dataclass(frozen=True)
class HttpFunction:
    """One HTTP-triggered function: its route template compiled, its methods, its callable."""

    name: str
    route: str
    methods: frozenset[str]
    argument: str
    function: Any
    pattern: re.Pattern[str]
    literals: int
    catch_all: bool
    takes_context: bool

    @classmethod
    def of(cls, function: Any, route_prefix: str) -> HttpFunction:
        trigger = function.get_trigger().get_dict_repr()
        template = "/".join(part for part in (route_prefix.strip("/"), trigger.get("route") or "") if part)
        template = template or function.get_function_name()
        parts = [_segment_pattern(segment) for segment in template.strip("/").split("/")]
        regex = "/".join(pattern for pattern, _ in parts)
        methods = trigger.get("methods") or ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
        return cls(
            name=function.get_function_name(),
            route=template,
            methods=frozenset(str(getattr(m, "value", m)).upper() for m in methods),
            argument=trigger["name"],
            function=function.get_user_function(),
            # ASP.NET Core routing compares literals case-insensitively.
            pattern=re.compile(regex, re.IGNORECASE | re.DOTALL),
            literals=sum(literal for _, literal in parts),
            catch_all="{*" in template,
            # Looked up once: inspect.signature costs more than the rest of the dispatch.
            takes_context="context" in inspect.signature(function.get_user_function()).parameters,
        )

    def route_params(self, path: str) -> dict[str, str] | None:
        match = self.pattern.fullmatch(path.strip("/"))
        if match is None:
            return None
        # The host leaves out parameters without a value (an empty catch-all included).
        return {name: value for name, value in match.groupdict().items() if value}


def http_functions(functions: Iterable[Any], route_prefix: str) -> list[HttpFunction]:
    """The registered HTTP functions, most specific route first (catch-alls last)."""
    found = [
        HttpFunction.of(function, route_prefix)
        for function in functions
        if function.get_trigger().get_dict_repr()["type"] == "httpTrigger"
    ]
    return sorted(found, key=lambda f: (f.catch_all, -f.literals))


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):  # [::1]:7071
        return host_header[1 : host_header.find("]")].lower()
    return host_header.rsplit(":", 1)[0].lower() if host_header.count(":") == 1 else host_header.lower()


def allowed_host_names(listen_host: str, extra: Iterable[str]) -> frozenset[str] | None:
    """The Host names answered: localhost, the listen address, and `extra` (`*`: any)."""
    names = {name.strip().lower() for name in extra if name.strip()}
    if "*" in names:
        return None
    names.update(LOCAL_NAMES)
    if listen_host not in ("0.0.0.0", "::", ""):
        names.add(listen_host.strip("[]").lower())
    return frozenset(names)


class FunctionsHttpGateway:
    """An ASGI app that dispatches to the registered HTTP functions as the host does."""

    def __init__(
        self,
        functions: list[HttpFunction],
        allowed_hosts: frozenset[str] | None,
        max_body_bytes: int = MAX_BODY_BYTES,
        body_timeout: float = BODY_TIMEOUT_SECONDS,
    ) -> None:
        self._functions = functions
        self._allowed_hosts = allowed_hosts
        self._max_body_bytes = max_body_bytes
        self._body_timeout = body_timeout
        # The converters the worker looks up for an httpTrigger binding and its response.
        registry = func.get_binding_registry()
        self._request_converter = registry.get("httpTrigger")
        self._response_converter = registry.get("http")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # nothing to start: functions build what they need
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        send = _discarding_unread_body(send, receive)
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            # The host forwards header names lower-cased and repeated headers comma-joined.
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await self._write(send, refusal)
            return
        method, path = scope["method"], scope["path"]
        routed = self._route(method, path)
        if not isinstance(routed, tuple):
            await self._write(send, routed)
            return
        candidate, params = routed
        if method == "POST" and not JSON_CONTENT_TYPE.fullmatch(
            headers.get("content-type", "").split(";")[0].strip()
        ):
            await self._write(send, error_response(415, "POST needs Content-Type: application/json"))
            return
        declared = headers.get("content-length", "")
        if declared and not declared.isdigit():
            await self._write(send, error_response(400, "Content-Length is not a number"))
            return
        length = int(declared or 0)
        if length > self._max_body_bytes:  # refused before a byte of it is read
            # The body is left unread: close, or the client's upload has nowhere to go
            # until the body timeout (RFC 9112 §9.6).
            await self._write(
                send, error_response(413, f"body over {self._max_body_bytes} bytes", {"Connection": "close"})
            )
            return
        # The host reads a body only when Content-Length > 0: a chunked body never arrives.
        try:
            async with asyncio.timeout(self._body_timeout):
                body = await self._read_body(receive, length) if length > 0 else b""
        except TimeoutError:  # a slow (or stalled) body: 408, and the connection is closed
            await self._write(
                send,
                error_response(
                    408, f"body not received within {self._body_timeout:g} s", {"Connection": "close"}
                ),
            )
            return
        request = self._request_converter.decode(
            self._request_datum(scope, headers, params, body), trigger_metadata={}
        )
        try:
            response = await self._invoke(candidate, request)
            datum = self._response_converter.encode(response, expected_type=None)
        except Exception:
            # The host answers a failed invocation with a bare 500; ours says so in JSON.
            log.exception("%s failed on %s %s", candidate.name, method, path)
            await self._write(send, error_response(500, "internal error"))
            return
        # A chunked body is never forwarded (as in Azure) and so never read: close after answering.
        await self._write_datum(send, datum, close="transfer-encoding" in headers)

    def _route(self, method: str, path: str) -> tuple[HttpFunction, dict[str, str]] | Any:
        """The function serving this method and path with its route parameters, or the refusal.

        A known path without the method is 405 with `Allow`: the methods of the most
        specific functions on it (a catch-all's only when nothing else matches).
        """
        matched: list[HttpFunction] = []
        for candidate in self._functions:
            params = candidate.route_params(path)
            if params is None:
                continue
            if method in candidate.methods:
                return candidate, params
            matched.append(candidate)
        specific = [f for f in matched if not f.catch_all] or matched
        if not specific:
            return error_response(404, "no function serves this route")
        methods = set().union(*(f.methods for f in specific))
        allow = ", ".join(sorted(methods, key=lambda m: (METHOD_ORDER + (m,)).index(m)))
        return error_response(405, f"{method[:20]} is not allowed here", {"Allow": allow})

    def _refusal(self, scope: dict[str, Any], headers: dict[str, str]) -> Any:
        """What a laptop must refuse that Azure's front end never lets through."""
        host = headers.get("host", "")
        if self._allowed_hosts is not None and _host_name(host) not in self._allowed_hosts:
            return error_response(
                403,
                f"host {host[:100]!r} is not served here (DNS rebinding guard); "
                "add it to LOCAL_ALLOWED_HOSTS to allow it",
            )
        head = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        head += len(scope["method"]) + sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if head > MAX_HEAD_BYTES:
            # Hypercorn's 16 KB (h11_max_incomplete_size) binds only a head still incomplete
            # after one read; one sent in a single piece of up to 64 KB would get through.
            return error_response(431, f"request line and headers over {MAX_HEAD_BYTES} bytes")
        if "transfer-encoding" in headers and "content-length" in headers:
            # Request smuggling (RFC 9112 §6.3): refused, and the connection closed.
            return error_response(
                400, "Transfer-Encoding and Content-Length together: refused", {"Connection": "close"}
            )
        return None

    async def _read_body(self, receive: Any, length: int) -> bytes:
        chunks: list[bytes] = []
        received = 0
        while received < length:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away
            chunk = message.get("body", b"")
            chunks.append(chunk[: length - received])
            received += len(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _request_datum(
        scope: dict[str, Any], headers: dict[str, str], params: dict[str, str], body: bytes
    ) -> Datum:
        """The request as the worker receives it (RpcHttp, decoded by the worker's datumdef)."""
        query_string = scope.get("query_string", b"").decode("latin-1")
        query: dict[str, str] = {}
        for name, value in parse_qsl(query_string, keep_blank_values=True):
            if value:  # the host drops empty query values; repeated ones are comma-joined
                query[name] = f"{query[name]},{value}" if name in query else value
        host = headers.get("host", "localhost")
        url = f"{scope.get('scheme', 'http')}://{host}{quote(scope['path'])}"
        if query_string:
            url += f"?{query_string}"
        return Datum(
            type="http",
            value={
                "method": Datum(scope["method"], "string"),
                "url": Datum(url, "string"),
                "headers": {name: Datum(value, "string") for name, value in headers.items()},
                "body": Datum(body, "bytes"),
                "params": {name: Datum(value, "string") for name, value in params.items()},
                "query": {name: Datum(value, "string") for name, value in query.items()},
            },
        )

    @staticmethod
    async def _invoke(candidate: HttpFunction, request: func.HttpRequest) -> Any:
        arguments: dict[str, Any] = {candidate.argument: request}
        if candidate.takes_context:
            arguments["context"] = LocalContext(candidate.name)
        if inspect.iscoroutinefunction(candidate.function):
            return await candidate.function(**arguments)
        return await run_in_threadpool(candidate.function, **arguments)

    @staticmethod
    async def _write_datum(send: Any, datum: Datum, close: bool = False) -> None:
        if datum.type == "string":  # a function may return a str: the host sends it as 200
            status, headers, body = 200, {"content-type": "text/plain; charset=utf-8"}, datum.value.encode()
        else:
            value = datum.value
            status = int(value["status_code"].value)
            headers = {name: item.value for name, item in value["headers"].items()}
            raw = value["body"].value
            body = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw or b"")
        if close:
            headers["connection"] = "close"
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (name.encode("latin-1"), str(v).encode("latin-1")) for name, v in headers.items()
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _write(send: Any, response: Any) -> None:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        await response({"type": "http"}, None, send)
