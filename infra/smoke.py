"""`make smoke URL=... [KEY=...]`: check any deployment end to end, step by step.

    python -m infra.smoke https://func-abc.azurewebsites.net   (function key in SMOKE_FUNCTION_KEY)

Steps: health; the page and its own files; a reading posted under a new sensor id; its summary
within `--summary-timeout` seconds; its place in /api/summary-timestamps (within the read
side's freshness bound); that sensor's chart (a PNG); the dead letters (function key in
Azure). Each step prints its latency; the first that fails ends the run with exit status 1
and its name. Standard library only, so it runs on any CI runner without the app's
requirements. The sensor it creates
(`smoke-<random>`) stays in the store like any other: one reading, one summary.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

KEY_VARIABLE = "SMOKE_FUNCTION_KEY"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The read side's stated bound (READ_MAX_AGE_SECONDS, 2 s by default) with room for a slow link.
READ_FRESHNESS_S = 5.0
# What the Function App must answer within, cold start included, with the summariser always
# ready and the change feed polled every second (docs/operations.md).
DEFAULT_SUMMARY_TIMEOUT_S = 60.0
ASSET = re.compile(r"""(?:src|href)="(/[^"]*)\"""")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to check, not to follow (sign-in pages answer 302)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class StepFailed(Exception):
    """A step's check did not hold; the message says what was seen."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise StepFailed(f"not JSON: {self.body[:80]!r}") from None


@dataclass
class Smoke:
    base_url: str
    key: str | None = None
    request_timeout: float = 30.0
    summary_timeout: float = DEFAULT_SUMMARY_TIMEOUT_S
    poll_interval: float = 0.25
    sensor_id: str = field(default_factory=lambda: f"smoke-{uuid.uuid4().hex[:12]}")
    timestamp: str = ""

    def request(self, method: str, path: str, body: Any = None, keyed: bool = False) -> Answer:
        headers = {"Accept": "*/*", "User-Agent": "sensor-pipeline-smoke"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if keyed and self.key:
            headers["x-functions-key"] = self.key
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with _OPENER.open(request, timeout=self.request_timeout) as response:
                return Answer(
                    response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
                )
        except urllib.error.HTTPError as error:
            return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())
        except (urllib.error.URLError, OSError) as error:
            raise StepFailed(f"{method} {path}: {getattr(error, 'reason', error)}") from None

    def expect(self, answer: Answer, status: int, what: str) -> None:
        if answer.status in (301, 302, 303, 307, 308) and status != answer.status:
            where = answer.headers.get("location", "?")
            raise StepFailed(f"{what}: HTTP {answer.status}, redirected to {where[:100]} (sign-in on?)")
        if answer.status != status:
            raise StepFailed(f"{what}: HTTP {answer.status}, expected {status}: {answer.body[:160]!r}")

    # Steps, in order. Each raises StepFailed, or returns a short note of what it saw.

    def health(self) -> str:
        answer = self.request("GET", "/api/health")
        document = answer.json()
        if not isinstance(document, dict) or "status" not in document or "store" not in document:
            raise StepFailed(f"/api/health: not a health report: {answer.body[:160]!r}")
        self.expect(answer, 200, f"/api/health (failing: {document.get('failing')})")
        return f"status {document['status']}, store {document['store']}"

    def page(self) -> str:
        answer = self.request("GET", "/")
        self.expect(answer, 200, "/")
        text = answer.body.decode("utf-8", "replace")
        if "text/html" not in answer.headers.get("content-type", "") or "<html" not in text.lower():
            raise StepFailed(f"/: not an HTML page: {answer.body[:80]!r}")
        assets = sorted(set(ASSET.findall(text)) - {"/"})
        if not assets:
            raise StepFailed("/: the page names none of its own files")
        for path in assets:
            asset = self.request("GET", path)
            self.expect(asset, 200, path)
            if not asset.body:
                raise StepFailed(f"{path}: empty")
        return f"{len(assets)} files: {', '.join(assets)}"

    def post_reading(self) -> str:
        self.timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        reading = {
            "id": uuid.uuid4().hex,
            "sensor_id": self.sensor_id,
            "temperature": 21.5,
            "timestamp": self.timestamp,
        }
        answer = self.request("POST", "/api/readings", reading, keyed=True)
        if answer.status in (401, 403):
            raise StepFailed(f"POST /api/readings: HTTP {answer.status}: give the function key (KEY=...)")
        self.expect(answer, 201, "POST /api/readings")
        document = answer.json()
        if not isinstance(document, dict) or not document.get("correlation_id"):
            raise StepFailed(f"POST /api/readings: no correlation_id in {answer.body[:160]!r}")
        return f"{self.sensor_id} at {self.timestamp}, correlation id {document['correlation_id']}"

    def summary(self) -> str:
        deadline = time.monotonic() + self.summary_timeout
        path = f"/api/sensors/{self.sensor_id}/summaries?limit=1"
        while True:
            answer = self.request("GET", path)
            if answer.status == 200:
                found = answer.json()
                if isinstance(found, list) and found and isinstance(found[0], dict):
                    latest = found[0]
                    if latest.get("timestamp", "") >= self.timestamp and latest.get("avg_temp") == 21.5:
                        return f"avg {latest['avg_temp']} as of {latest['timestamp']}"
            elif answer.status != 404:
                self.expect(answer, 200, path)
            if time.monotonic() > deadline:
                raise StepFailed(f"no summary of {self.sensor_id} within {self.summary_timeout:g} s")
            time.sleep(self.poll_interval)

    def chart(self) -> str:
        path = f"/plot/{self.sensor_id}.png"
        answer = self.request("GET", path)
        self.expect(answer, 200, path)
        if not answer.body.startswith(PNG_SIGNATURE) or answer.headers.get("content-type") != "image/png":
            raise StepFailed(f"{path}: not a PNG ({answer.headers.get('content-type')}, {answer.body[:8]!r})")
        return f"{len(answer.body)} bytes of PNG"

    def summary_timestamps(self) -> str:
        # The read routes share a copy of the latest summaries that may be up to the stated
        # freshness bound behind the store (docs/http-api.md): wait that long, no longer.
        deadline = time.monotonic() + READ_FRESHNESS_S
        while True:
            answer = self.request("GET", "/api/summary-timestamps")
            self.expect(answer, 200, "/api/summary-timestamps")
            versions = answer.json()
            version = versions.get(self.sensor_id) if isinstance(versions, dict) else None
            if isinstance(version, str) and version.startswith(self.timestamp[:19]):
                return f"{self.sensor_id}: {version}"
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"/api/summary-timestamps: {self.sensor_id} missing or stale ({version!r}) "
                    f"{READ_FRESHNESS_S:g} s after its summary was stored"
                )
            time.sleep(self.poll_interval)

    def dead_letters(self) -> str:
        answer = self.request("GET", "/api/deadletter?limit=1", keyed=True)
        if answer.status in (401, 403):
            raise StepFailed(f"/api/deadletter: HTTP {answer.status}: give the function key (KEY=...)")
        self.expect(answer, 200, "/api/deadletter")
        if not isinstance(answer.json(), list):
            raise StepFailed(f"/api/deadletter: not a list: {answer.body[:160]!r}")
        return "readable" + (" with the function key" if self.key else "")

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("health", self.health),
            ("page", self.page),
            ("post reading", self.post_reading),
            ("summary", self.summary),
            ("summary-timestamps", self.summary_timestamps),
            ("chart", self.chart),
            ("dead letters", self.dead_letters),
        ]


def run(smoke: Smoke, out: Callable[[str], None] = print) -> int:
    """Run every step in order; 0 when all pass, 1 naming the first that failed."""
    out(f"smoke: {smoke.base_url} (sensor {smoke.sensor_id})")
    started = time.perf_counter()
    for name, step in smoke.steps():
        begun = time.perf_counter()
        try:
            note = step()
        except StepFailed as error:
            out(f"FAIL {name} after {time.perf_counter() - begun:.2f} s: {error}")
            out(f"smoke: failed at step '{name}'")
            return 1
        out(f"ok   {name:<20} {time.perf_counter() - begun:6.2f} s  {note}")
    out(f"smoke: all steps passed in {time.perf_counter() - started:.2f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.smoke", description=__doc__.split("\n")[0])
    parser.add_argument("url", help="the deployment's base URL, e.g. https://func-abc.azurewebsites.net")
    parser.add_argument(
        "--summary-timeout",
        type=float,
        default=DEFAULT_SUMMARY_TIMEOUT_S,
        metavar="S",
        help=f"seconds a reading may take to become a summary (default {DEFAULT_SUMMARY_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--request-timeout", type=float, default=30.0, metavar="S", help="per request (default 30)"
    )
    arguments = parser.parse_args(argv)
    url = arguments.url.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", url):
        parser.error(f"URL must start with http:// or https:// (got {arguments.url!r})")
    key = os.environ.get(KEY_VARIABLE, "").strip() or None  # from the environment: never on a command line
    smoke = Smoke(
        url, key, request_timeout=arguments.request_timeout, summary_timeout=arguments.summary_timeout
    )
    return run(smoke)


if __name__ == "__main__":
    sys.exit(main())
