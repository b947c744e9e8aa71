"""azd postprovision hook: write local.settings.json for running against the provisioned account.

azd passes the Bicep outputs as environment variables. The written settings use the
identity form (your `az login` / azd credentials through DefaultAzureCredential), so no
key is ever written; the deploying user was granted Cosmos DB data access by the Bicep.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REQUIRED = ("COSMOS_ENDPOINT", "COSMOS_DATABASE")


def local_settings(environment: dict[str, str]) -> dict:
    missing = [name for name in REQUIRED if not environment.get(name)]
    if missing:
        raise SystemExit(f"postprovision: missing azd outputs {', '.join(missing)}; run `azd provision`")
    return {
        "IsEncrypted": False,
        "Values": {
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "COSMOS_CONNECTION__accountEndpoint": environment["COSMOS_ENDPOINT"],
            "COSMOS_DATABASE": environment["COSMOS_DATABASE"],
            "READINGS_CONTAINER": "readings",
            "SUMMARIES_CONTAINER": "summaries",
            "LEASES_CONTAINER": "leases",
            "DEADLETTER_CONTAINER": "deadletter",
            "CREATE_LEASE_CONTAINER": "false",
            "PIPELINE_STORE": "cosmos",
            "SENSOR_COUNT": "5",
            "WINDOW_SIZE": "10",
            "GENERATOR_SCHEDULE": "*/10 * * * * *",
            "DASHBOARD_POLL_SECONDS": "2",
            "CHART_POINTS": "50",
        },
    }


def main() -> None:
    target = Path(__file__).resolve().parents[2] / "local.settings.json"
    target.write_text(json.dumps(local_settings(dict(os.environ)), indent=2) + "\n")
    print(f"postprovision: wrote {target.name} for {os.environ['COSMOS_ENDPOINT']}", file=sys.stderr)


if __name__ == "__main__":
    main()
