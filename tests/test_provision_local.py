"""The emulator path's provisioning step, against the Cosmos-compatible test server."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from azure.cosmos import CosmosClient

from infra import provision_local
from pipeline import names
from pipeline.settings import settings_from
from tests.servers import ROOT, CosmosServer


def containers_of(server: CosmosServer, database: str) -> dict[str, list[str]]:
    client = CosmosClient.from_connection_string(server.connection_string, connection_verify=False)
    try:
        db = client.get_database_client(database)
        return {c["id"]: c["partitionKey"]["paths"] for c in db.list_containers()}
    finally:
        client.close()


def run_step(environment: dict[str, str], settings_file: Path) -> subprocess.CompletedProcess:
    """`python -m infra.provision_local`, as `make func-start` and the compose file run it."""
    return subprocess.run(
        [sys.executable, "-m", "infra.provision_local", "--settings", str(settings_file), "--wait", "10"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_creates_the_database_and_four_containers_idempotently(cosmos: CosmosServer, tmp_path: Path) -> None:
    database = f"provision-{uuid.uuid4().hex[:8]}"
    settings_file = tmp_path / "local.settings.json"
    settings_file.write_text(
        json.dumps(
            {
                "IsEncrypted": False,
                "Values": {
                    "COSMOS_CONNECTION": cosmos.connection_string,
                    "COSMOS_VERIFY_TLS": "false",
                    "COSMOS_DATABASE": database,
                },
            }
        )
    )
    first = run_step({}, settings_file)
    assert first.returncode == 0, first.stderr
    expected = {name: [key] for name, key in names.PARTITION_KEYS.items()}
    assert containers_of(cosmos, database) == expected
    assert f"database {database}" in first.stderr
    # Again: nothing fails, nothing changes.
    second = run_step({}, settings_file)
    assert second.returncode == 0, second.stderr
    assert containers_of(cosmos, database) == expected


def test_the_environment_wins_over_local_settings(cosmos: CosmosServer, tmp_path: Path) -> None:
    """As in the Functions host: compose passes settings as environment variables, no file."""
    database = f"provision-{uuid.uuid4().hex[:8]}"
    environment = {
        "COSMOS_CONNECTION": cosmos.connection_string,
        "COSMOS_VERIFY_TLS": "false",
        "COSMOS_DATABASE": database,
        "READINGS_CONTAINER": "readings-b",
    }
    result = run_step(environment, tmp_path / "absent.json")
    assert result.returncode == 0, result.stderr
    found = containers_of(cosmos, database)
    assert found["readings-b"] == [names.PARTITION_KEYS[names.DEFAULT_READINGS]]
    assert set(found) == {"readings-b", "summaries", "leases", "deadletter", "rollups"}


def test_identity_connections_and_missing_connections_create_nothing() -> None:
    identity = settings_from({"COSMOS_CONNECTION__accountEndpoint": "https://acct.documents.azure.com:443/"})
    assert "created by infra/" in provision_local.provision(identity)
    assert "nothing to create" in provision_local.provision(settings_from({}))


def test_an_unreachable_account_fails_with_a_reason(tmp_path: Path) -> None:
    from tests.servers import EMULATOR_KEY, free_port

    unreachable = f"AccountEndpoint=https://127.0.0.1:{free_port()}/;AccountKey={EMULATOR_KEY};"
    result = subprocess.run(
        [sys.executable, "-m", "infra.provision_local", "--settings", str(tmp_path / "x"), "--wait", "0"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "COSMOS_CONNECTION": unreachable},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Cosmos DB did not answer" in result.stderr


@pytest.mark.parametrize("file_values", [{}, {"COSMOS_DATABASE": "from-file"}])
def test_settings_environment_overlays_the_file(tmp_path: Path, file_values: dict) -> None:
    settings_file = tmp_path / "local.settings.json"
    settings_file.write_text(json.dumps({"Values": {**file_values, "SENSOR_COUNT": "3"}}))
    merged = provision_local.settings_environment(settings_file, {"SENSOR_COUNT": "7"})
    assert merged["SENSOR_COUNT"] == "7"
    assert merged.get("COSMOS_DATABASE") == file_values.get("COSMOS_DATABASE")
