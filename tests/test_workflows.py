"""CI and the Makefile: a red commit is never deployed, and `make test` checks what it claims."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.servers import ROOT, skip_or_fail

WORKFLOWS = ROOT / ".github" / "workflows"


def load(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean True.
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def triggers(workflow: dict) -> dict:
    on = workflow["on"]
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return dict.fromkeys(on)
    return on


def test_the_test_workflow_runs_make_test_on_pushes_to_main() -> None:
    workflow = load(WORKFLOWS / "test.yml")
    on = triggers(workflow)
    assert "main" in on["push"]["branches"]
    commands = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any(command.strip() in ("make test", "bash .ci/run") for command in commands), commands


def test_deploy_runs_only_after_the_test_workflow_passed_for_the_same_commit() -> None:
    test_name = load(WORKFLOWS / "test.yml")["name"]
    deploy = load(WORKFLOWS / "deploy.yml")
    on = triggers(deploy)
    # Nothing else may start it: a push or a manual dispatch would skip the tests.
    assert set(on) == {"workflow_run"}, f"deploy.yml has other triggers: {set(on) - {'workflow_run'}}"
    assert on["workflow_run"]["workflows"] == [test_name]
    assert on["workflow_run"]["types"] == ["completed"]
    assert deploy["jobs"], "deploy.yml has no jobs"
    for name, job in deploy["jobs"].items():
        condition = " ".join(str(job.get("if", "")).split())
        assert "github.event.workflow_run.conclusion == 'success'" in condition, (name, condition)
        checkouts = [
            step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/checkout")
        ]
        # The commit the tests passed on, not whatever main points at by now.
        for checkout in checkouts:
            assert checkout.get("with", {}).get("ref") == "${{ github.event.workflow_run.head_sha }}", name


def make_commands(target: str) -> list[str]:
    """The commands `make TARGET` runs, with installs left out (their stamps taken as done)."""
    make = shutil.which("make")
    if make is None:
        skip_or_fail("make is not installed")
    stamps = [".venv/.installed-dev", ".venv/.installed-local", "node_modules/.installed"]
    result = subprocess.run(
        [make, "--dry-run", "--no-print-directory", *[f"--old-file={stamp}" for stamp in stamps], target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def test_make_test_checks_lint_and_formatting_and_lets_them_fail() -> None:
    commands = make_commands("test")
    assert ".venv/bin/ruff check ." in commands
    assert ".venv/bin/ruff format --check ." in commands
    assert any(command.startswith(".venv/bin/python -m pytest") for command in commands), commands
    # A check whose failure is swallowed checks nothing.
    assert not [command for command in commands if "|| true" in command]


@pytest.fixture
def installed_checkout(tmp_path: Path) -> Path:
    """A copy of the Makefile and requirements files with both sets marked installed."""
    files = ("Makefile", "requirements.txt", "requirements-local.txt", "requirements-dev.txt")
    for name in (*files, "package.json", "package-lock.json"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / "node_modules").mkdir()
    (tmp_path / ".venv" / "bin" / "python").touch()
    for stamp in (".venv/.installed-dev", ".venv/.installed-local", "node_modules/.installed"):
        (tmp_path / stamp).touch()
    return tmp_path


def installs(checkout: Path, target: str, changed: str | None = None) -> list[str]:
    """The requirements files `make TARGET` would install, as if CHANGED had just been edited."""
    make = shutil.which("make")
    if make is None:
        skip_or_fail("make is not installed")
    what_if = [f"--what-if={changed}"] if changed else []
    result = subprocess.run(
        [make, "--dry-run", *what_if, target],
        cwd=checkout,
        capture_output=True,
        text=True,
        check=True,
    )
    pattern = r"uv pip install --quiet --python \S+ pip -r ([\w.-]+\.txt)"
    return sorted(set(re.findall(pattern, result.stdout)))


def test_make_run_installs_only_the_local_set_and_only_when_it_changes(installed_checkout: Path) -> None:
    assert installs(installed_checkout, "run") == []
    assert installs(installed_checkout, "run", "requirements-dev.txt") == []
    assert installs(installed_checkout, "run", "requirements-local.txt") == ["requirements-local.txt"]
    assert installs(installed_checkout, "run", "requirements.txt") == ["requirements-local.txt"]
    assert installs(installed_checkout, "test", "requirements-dev.txt") == ["requirements-dev.txt"]
    assert installs(installed_checkout, "test") == []


def test_the_local_set_has_no_test_tools_and_the_dev_set_builds_on_it() -> None:
    def names_in(path: Path) -> set[str]:
        lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
        return {re.split(r"[=<>\[ ]", line)[0].lower() for line in lines if line and not line.startswith("-")}

    local = names_in(ROOT / "requirements-local.txt")
    assert "-r requirements.txt" in (ROOT / "requirements-local.txt").read_text()
    assert "-r requirements-local.txt" in (ROOT / "requirements-dev.txt").read_text()
    assert {"uvicorn", "croniter"} <= local
    tools = {"pytest", "pytest-timeout", "hypothesis", "playwright", "ruff", "schemathesis", "pycep-parser"}
    assert not (local | names_in(ROOT / "requirements.txt")) & tools


def test_make_run_after_make_test_installs_nothing(tmp_path: Path) -> None:
    """The dev set's install (really run, with a stub uv) marks the local set done too."""
    for name in ("Makefile", "requirements.txt", "requirements-local.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for stub in ("python", "uv"):
        (bin_dir / stub).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / stub).chmod(0o755)
    make = shutil.which("make")
    if make is None:
        skip_or_fail("make is not installed")
    subprocess.run([make, ".venv/.installed-dev"], cwd=tmp_path, capture_output=True, check=True)
    assert installs(tmp_path, "run") == []


def test_a_new_venv_takes_uv_from_the_tool_cache_instead_of_pypi(tmp_path: Path) -> None:
    """With warm caches no pip runs at all: uv is copied from UV_TOOL_DIR."""
    for name in ("Makefile", "requirements.txt", "requirements-local.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / "calls"
    # A python that records being asked for pip: the bootstrap must not reach it.
    (bin_dir / "python").write_text(f'#!/bin/sh\necho "python $*" >> {calls}\nexit 0\n')
    (bin_dir / "python").chmod(0o755)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "uv").write_text(f'#!/bin/sh\necho "uv $*" >> {calls}\nexit 0\n')
    (tools / "uv").chmod(0o755)
    make = shutil.which("make")
    if make is None:
        skip_or_fail("make is not installed")
    subprocess.run(
        [make, ".venv/.installed-local", f"UV_TOOL_DIR={tools}", "PYTHON=/bin/false"],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    )
    assert (bin_dir / "uv").read_text() == (tools / "uv").read_text()
    recorded = calls.read_text().splitlines()
    assert not [line for line in recorded if "pip" in line and line.startswith("python")], recorded
    assert any(line.startswith("uv pip install") and "requirements-local.txt" in line for line in recorded)
