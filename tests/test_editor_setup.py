"""`.vscode/`: F5 attaches to the worker under `func start`, or runs the local host under the debugger."""

from __future__ import annotations

import json
import shutil
import subprocess

from tests.servers import ROOT, skip_or_fail

VSCODE = ROOT / ".vscode"


def load(name: str) -> dict:
    # Plain JSON on purpose (no comments), so it can be read here and by any tool.
    return json.loads((VSCODE / name).read_text())


def tasks_by_label() -> dict[str, dict]:
    return {task["label"]: task for task in load("tasks.json")["tasks"]}


def test_attach_to_the_python_worker_started_by_func_host_start() -> None:
    configurations = {c["name"]: c for c in load("launch.json")["configurations"]}
    attach = configurations["Attach to Python Functions"]
    assert (attach["type"], attach["request"]) == ("debugpy", "attach")
    # 9091 is the port the Azure Functions extension tells the worker's debugpy to listen on.
    assert attach["connect"]["port"] == 9091
    host_start = tasks_by_label()[attach["preLaunchTask"]]
    assert (host_start["type"], host_start["command"]) == ("func", "host start")
    assert host_start["isBackground"] is True


def test_func_host_start_installs_what_azure_installs_and_provisions_first() -> None:
    tasks = tasks_by_label()
    host_start = tasks["func: host start"]
    assert host_start["dependsOrder"] == "sequence"
    commands = [tasks[label]["linux"]["command"] for label in host_start["dependsOn"]]
    assert commands[0].endswith("-m pip install -r requirements.txt")
    assert "-m infra.provision_local" in commands[1]
    assert all(command.startswith("${config:azureFunctions.pythonVenv}/bin/python") for command in commands)


def test_the_local_host_runs_under_the_debugger_with_its_own_packages() -> None:
    configurations = load("launch.json")["configurations"]
    [local] = [c for c in configurations if c.get("module") == "local_host"]
    assert local["request"] == "launch"
    assert tasks_by_label()[local["preLaunchTask"]]["command"] == "make install"
    assert (ROOT / "local_host" / "__main__.py").is_file()


def test_settings_and_recommended_extensions() -> None:
    settings = load("settings.json")
    assert settings["azureFunctions.pythonVenv"] == ".venv"
    assert settings["azureFunctions.projectRuntime"] == "~4"
    assert settings["python.testing.pytestEnabled"] is True
    assert settings["[python]"]["editor.defaultFormatter"] == "charliermarsh.ruff"
    recommended = set(load("extensions.json")["recommendations"])
    assert {"ms-azuretools.vscode-azurefunctions", "ms-python.python", "charliermarsh.ruff"} <= recommended


def test_git_does_not_ignore_the_editor_setup() -> None:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        skip_or_fail("not a git checkout")
    files = [str(path.relative_to(ROOT)) for path in VSCODE.glob("*.json")]
    assert len(files) == 4
    ignored = subprocess.run([git, "check-ignore", *files], cwd=ROOT, capture_output=True, text=True)
    assert ignored.stdout == "", f"ignored by .gitignore: {ignored.stdout}"
