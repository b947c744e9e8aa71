"""The azd postprovision hook never overwrites a local.settings.json that exists."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.servers import ROOT

HOOK = ROOT / "infra" / "hooks" / "write_local_settings.py"
OUTPUTS = {"COSMOS_ENDPOINT": "https://acct.documents.azure.com:443/", "COSMOS_DATABASE": "sensor-pipeline"}


def run_hook(target: Path, outputs: dict[str, str] = OUTPUTS) -> subprocess.CompletedProcess:
    """The hook as azd runs it: Bicep outputs in the environment."""
    return subprocess.run(
        [sys.executable, str(HOOK), str(target)],
        env={"PATH": "/usr/bin:/bin", **outputs},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )


def test_writes_local_settings_when_missing(tmp_path: Path) -> None:
    target = tmp_path / "local.settings.json"
    result = run_hook(target)
    values = json.loads(target.read_text())["Values"]
    assert values["COSMOS_CONNECTION__accountEndpoint"] == OUTPUTS["COSMOS_ENDPOINT"]
    assert f"wrote {target.name}" in result.stderr
    assert not (tmp_path / "local.settings.azure.json").exists()


def test_an_existing_file_is_left_byte_for_byte_and_the_side_file_says_where(tmp_path: Path) -> None:
    target = tmp_path / "local.settings.json"
    mine = (
        '{"IsEncrypted": false, "Values": {"COSMOS_CONNECTION": "AccountEndpoint=https://localhost:8081/;"}}'
    )
    target.write_text(mine)
    result = run_hook(target)
    assert target.read_text() == mine
    side = tmp_path / "local.settings.azure.json"
    assert (
        json.loads(side.read_text())["Values"]["COSMOS_CONNECTION__accountEndpoint"]
        == OUTPUTS["COSMOS_ENDPOINT"]
    )
    assert "left unchanged" in result.stderr and side.name in result.stderr
    # A new environment rewrites the side file (the hook owns it), never the user's file.
    other = {**OUTPUTS, "COSMOS_ENDPOINT": "https://other.documents.azure.com:443/"}
    run_hook(target, other)
    assert target.read_text() == mine
    assert "other.documents" in side.read_text()


def test_a_file_it_wrote_itself_is_reported_up_to_date(tmp_path: Path) -> None:
    target = tmp_path / "local.settings.json"
    run_hook(target)
    written = target.read_text()
    result = run_hook(target)
    assert target.read_text() == written
    assert "already points at" in result.stderr
    assert not (tmp_path / "local.settings.azure.json").exists()
