"""`make smoke`: passes against a real local host, fails against nothing and against a hollow server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from infra.smoke import Smoke
from tests.servers import ROOT, free_port, local_host, serve_handler

STEPS = ["health", "page", "post reading", "summary", "summary-timestamps", "chart", "dead letters"]


def smoke(url: str, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "infra.smoke", url, *arguments],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},  # the script needs nothing but Python's standard library
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_smoke_passes_against_the_local_host_make_run_starts(tmp_path: Path) -> None:
    with local_host(tmp_path) as host:  # what `make run` starts: the generator runs too
        done = smoke(host.url, "--summary-timeout", "30")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for step in STEPS:  # every step printed with its latency
        assert any(line.startswith("ok") and f" {step} " in line and " s " in line for line in lines), (
            step,
            lines,
        )
    assert "all steps passed" in lines[-1]


def test_smoke_fails_at_health_where_nothing_listens() -> None:
    done = smoke(f"http://127.0.0.1:{free_port()}", "--request-timeout", "5")
    assert done.returncode == 1
    assert "FAIL health" in done.stdout and "failed at step 'health'" in done.stdout


class Hollow(BaseHTTPRequestHandler):
    """Answers 200 `{}` to everything, remembering the function keys it was sent."""

    keys: list[str | None] = []

    def answer(self) -> None:
        Hollow.keys.append(self.headers.get("x-functions-key"))
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_HEAD = answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hollow() -> Iterator[str]:
    with serve_handler(Hollow) as url:
        yield url


def test_smoke_fails_against_a_server_answering_200_empty_json_to_everything(hollow: str) -> None:
    done = smoke(hollow, "--request-timeout", "5")
    assert done.returncode == 1
    assert "failed at step 'health'" in done.stdout, done.stdout
    # Past health, every other step refuses the hollow answer too.
    checks = Smoke(hollow, request_timeout=5, summary_timeout=0.3, poll_interval=0.1)
    checks.timestamp = "2026-01-01T00:00:00.000Z"
    for name, step in checks.steps()[1:]:
        with pytest.raises(Exception, match=r".") as failed:
            step()
        assert type(failed.value).__name__ == "StepFailed", (name, failed.value)


def test_the_function_key_goes_in_x_functions_key_for_ingest_and_dead_letters(hollow: str) -> None:
    Hollow.keys.clear()
    keyed = Smoke(hollow, key="secret-key", request_timeout=5)
    keyed.request("POST", "/api/readings", {"a": 1}, keyed=True)
    keyed.request("GET", "/api/deadletter", keyed=True)
    keyed.request("GET", "/api/health")
    assert Hollow.keys == ["secret-key", "secret-key", None]


def test_make_smoke_runs_the_script_and_needs_a_url() -> None:
    usage = subprocess.run(
        ["make", "--no-print-directory", "smoke"], cwd=ROOT, capture_output=True, text=True
    )
    assert usage.returncode == 2 and "usage: make smoke URL=" in usage.stdout
    dead = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        ["make", "--no-print-directory", "smoke", f"URL={dead}", "KEY=k", "ARGS=--request-timeout 5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "failed at step 'health'" in done.stdout, done.stdout + done.stderr
    assert "KEY=k" not in done.stdout and " k " not in done.stdout  # the key is never printed


def test_the_deploy_workflow_smoke_tests_what_it_published() -> None:
    import yaml

    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    [job] = deploy["jobs"].values()
    runs = [step.get("run", "") for step in job["steps"]]
    published = next(i for i, run in enumerate(runs) if "azd deploy" in run)
    smoked = next(i for i, run in enumerate(runs) if "make smoke" in run)
    assert smoked > published
    assert "::add-mask::" in runs[smoked] and "functionKeys.default" in runs[smoked]


class SignIn(Hollow):
    """A healthy app behind sign-in: health answers, everything else redirects to a login page."""

    def answer(self) -> None:
        if self.path.startswith("/api/health"):
            body = b'{"status": "healthy", "store": "ok", "failing": []}'
            self.send_response(200)
        else:
            body = b""
            self.send_response(302)
            self.send_header("location", "https://login.microsoftonline.com/tenant/oauth2/v2.0/authorize")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = answer


def test_smoke_reports_a_sign_in_redirect_instead_of_following_it() -> None:
    with serve_handler(SignIn) as url:
        done = smoke(url, "--request-timeout", "5")
    assert done.returncode == 1
    assert "ok   health" in done.stdout and "failed at step 'page'" in done.stdout
    assert "redirected to https://login.microsoftonline.com" in done.stdout, done.stdout
