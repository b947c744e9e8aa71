"""Create the Cosmos DB database and the app's four containers if they are missing.

`make func-start` runs it before `func start`, and the compose file runs it before the
Functions host starts, so nobody creates containers by hand in Data Explorer. Idempotent:
what exists is left as it is. The containers and partition keys come from
`pipeline.names.PARTITION_KEYS` through `CosmosStore.ensure_ready`, the code the app's own
store uses, so they cannot drift from `infra/main.bicep` (tests/test_infra.py checks both).

Settings are read as the Functions host sees them: the environment, over the `Values` of
`local.settings.json`. Only a connection string (the emulator's) is provisioned here; with
the identity form (`COSMOS_CONNECTION__accountEndpoint`, written by the azd hook) Bicep has
created the containers and an Entra ID identity could not create them anyway.

    python -m infra.provision_local [--settings local.settings.json] [--wait SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from azure.core.exceptions import AzureError

from pipeline import names
from pipeline.settings import Settings, SettingsError, settings_from
from pipeline.storage.base import StoreError

ROOT = Path(__file__).resolve().parent.parent


def settings_environment(settings_file: Path, environment: Mapping[str, str]) -> dict[str, str]:
    """`local.settings.json` Values (when the file exists) overlaid with the environment."""
    values: dict[str, str] = {}
    if settings_file.is_file():
        document = json.loads(settings_file.read_text())
        values = {key: str(value) for key, value in document.get("Values", {}).items()}
    return {**values, **environment}


def container_plan(settings: Settings) -> dict[str, str]:
    """Container name -> partition key, for the names these settings give the four containers."""
    by_role = {
        names.DEFAULT_READINGS: settings.readings_container,
        names.DEFAULT_SUMMARIES: settings.summaries_container,
        names.DEFAULT_LEASES: settings.leases_container,
        names.DEFAULT_DEADLETTER: settings.deadletter_container,
    }
    return {name: names.PARTITION_KEYS[role] for role, name in by_role.items()}


def provision(settings: Settings, wait_seconds: float = 0.0) -> str:
    """Create what is missing; return one line saying what was done. Retries until `wait_seconds`."""
    from pipeline.storage.cosmos_client import build_client
    from pipeline.storage.cosmos_store import CosmosStore

    cosmos = settings.cosmos
    if cosmos is None:
        return "provision: no Cosmos DB connection is configured (COSMOS_CONNECTION): nothing to create"
    if cosmos.connection_string is None:
        return (
            "provision: identity connection (COSMOS_CONNECTION__accountEndpoint): the containers are "
            "created by infra/ (`azd provision`), not here"
        )
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            # One region, and the emulator may advertise an address the client cannot reach:
            # talk to the endpoint in the connection string, nothing else.
            client = build_client(cosmos, enable_endpoint_discovery=False)
            store = CosmosStore(
                client,
                settings.database,
                readings=settings.readings_container,
                summaries=settings.summaries_container,
                deadletter=settings.deadletter_container,
                leases=settings.leases_container,
            )
            try:
                store.ensure_ready()
            finally:
                store.close()
            break
        except (StoreError, AzureError, OSError) as error:
            if time.monotonic() >= deadline:
                raise StoreError(f"Cosmos DB did not answer: {error}") from error
            print(f"provision: waiting for Cosmos DB ({str(error)[:120]})", file=sys.stderr)
            time.sleep(3)
    planned = ", ".join(f"{name} ({key})" for name, key in container_plan(settings).items())
    return f"provision: database {settings.database} with containers {planned} ready"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.provision_local", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--settings", type=Path, default=ROOT / "local.settings.json")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for Cosmos DB to answer")
    arguments = parser.parse_args(argv)
    try:
        settings = settings_from(settings_environment(arguments.settings, os.environ))
        print(provision(settings, arguments.wait), file=sys.stderr)
    except (SettingsError, StoreError) as error:
        print(f"provision: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
