"""The Docker path, checked statically (no Docker engine on our machines).

The compose file must give the real Functions host every setting a binding names, run the
same provisioning step as `make func-start` before the app, and carry no secret: the only
keys allowed are the emulators' published development keys.
"""

from __future__ import annotations

import re

import pytest
import yaml

from pipeline import names
from pipeline.settings import StoreKind, settings_from
from tests.servers import EMULATOR_KEY, ROOT, registered_functions

FUNCTIONS_PYTHON_311 = "mcr.microsoft.com/azure-functions/python:4-python3.11"
# Azurite's devstoreaccount1 key, published with Azurite, like the Cosmos DB emulator's.
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
PUBLIC_KEYS = {EMULATOR_KEY, AZURITE_KEY}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def binding_settings() -> set[str]:
    """Every app setting a binding names: `%SETTING%` expressions and connection names."""
    found = set()
    for function in registered_functions().values():
        for binding in function.get_bindings_dict()["bindings"]:
            for key, value in binding.items():
                if not isinstance(value, str):
                    continue
                if value.startswith("%") and value.endswith("%"):
                    found.add(value.strip("%"))
                elif key == "connection":
                    found.add(value)
    return found


def test_the_image_is_azure_functions_python_311_with_what_azure_installs() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", FUNCTIONS_PYTHON_311)
    runs = [argument for instruction, argument in instructions if instruction == "RUN"]
    assert any(re.search(r"pip install .*-r /?requirements\.txt", run) for run in runs), runs
    assert not any("requirements-dev" in run or "requirements-local" in run for run in runs)
    assert ("COPY", ". /home/site/wwwroot") in instructions
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"local.settings.json", ".venv", "node_modules", ".git"} <= set(ignored)


def test_nothing_secret_is_baked_into_the_image() -> None:
    for instruction, argument in dockerfile_instructions():
        if instruction in ("ENV", "ARG", "LABEL"):
            assert not re.search(r"key|secret|password|token|connection", argument, re.I), argument


def test_the_app_gets_every_setting_its_bindings_name(compose: dict) -> None:
    app = compose["services"]["app"]["environment"]
    needed = binding_settings()
    assert {names.COSMOS_CONNECTION, names.COSMOS_DATABASE, names.LEASES_CONTAINER} <= needed
    assert needed <= set(app), f"compose.yaml app is missing {needed - set(app)}"
    assert app["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert "azurite:10000" in app["AzureWebJobsStorage"]
    settings = settings_from({key: str(value) for key, value in app.items()})
    assert settings.store is StoreKind.COSMOS
    assert settings.cosmos is not None and settings.cosmos.connection_string


def test_the_app_starts_after_the_provisioning_step_with_the_same_cosmos_settings(compose: dict) -> None:
    services = compose["services"]
    provision, app = services["provision"], services["app"]
    assert provision["build"] == app["build"] == "."
    assert " ".join(provision["entrypoint"]).startswith("python -m infra.provision_local")
    assert app["depends_on"]["provision"]["condition"] == "service_completed_successfully"
    for setting, value in provision["environment"].items():
        assert app["environment"][setting] == value, setting
    assert services["cosmosdb"]["image"].startswith("mcr.microsoft.com/cosmosdb/linux/azure-cosmos-emulator")
    assert services["azurite"]["image"] == "mcr.microsoft.com/azure-storage/azurite"


def test_only_the_emulators_public_keys_appear(compose: dict) -> None:
    text = (ROOT / "compose.yaml").read_text() + (ROOT / "Dockerfile").read_text()
    keys = set(re.findall(r"AccountKey=([^;\"'\s]+)", text))
    assert keys, "no AccountKey found: has the connection moved?"
    assert keys <= PUBLIC_KEYS, f"unknown keys: {keys - PUBLIC_KEYS}"
