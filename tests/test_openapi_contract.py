"""The OpenAPI document is a contract: Schemathesis with every check finds nothing.

Runs `schemathesis run --checks all` (coverage, fuzzing and stateful phases) against
`python -m local_host`, the real HTTP server and gateway `make run` serves, so that what
the server in front decides (405 with Allow, 431, framing) is checked too. Settings the
document cannot state are in tests/contract/schemathesis.toml.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import ROOT, LocalHost, local_host, skip_or_fail

MAX_EXAMPLES = 8  # per operation and phase: about 300 requests in all, ~30 s on a busy 2-core machine
SEED = 22


@pytest.fixture
def host(tmp_path: Path) -> Iterator[LocalHost]:
    with local_host(tmp_path, "--no-generator") as running:
        yield running


def test_schemathesis_with_every_check_finds_nothing(host: LocalHost, tmp_path: Path) -> None:
    executable = Path(sys.executable).parent / "schemathesis"
    if not executable.exists():
        skip_or_fail("schemathesis is not installed (requirements-dev.txt)")
    done = subprocess.run(
        [
            str(executable),
            "--config-file",
            str(ROOT / "tests" / "contract" / "schemathesis.toml"),
            "run",
            f"{host.url}/api/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--workers",
            "1",
        ],
        cwd=tmp_path,  # its cassettes and caches stay out of the checkout
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = done.stdout + done.stderr
    tested = re.search(r"(\d+) generated", output)
    print(f"schemathesis: {tested.group(0) if tested else '?'} test cases")
    assert done.returncode == 0, output[-6000:]
    assert tested and int(tested.group(1)) >= 100, output[-2000:]
    assert re.search(r"Stateful", output), output[-2000:]
