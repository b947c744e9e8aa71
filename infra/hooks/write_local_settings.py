"""azd postprovision hook: settings for running `func start` against the provisioned account.

azd passes the Bicep outputs as environment variables. The written settings use the
identity form (your `az login` / azd credentials through DefaultAzureCredential), so no
key is ever written; the deploying user was granted Cosmos DB data access by the Bicep.

It never overwrites `local.settings.json`, which may hold your own settings: it writes that
file only when it is missing; otherwise it writes `local.settings.azure.json` beside it
(a file this hook owns and rewrites on every provision) and says so.

    python3 infra/hooks/write_local_settings.py [path of local.settings.json]
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


SIDE_FILE = "local.settings.azure.json"


def write_settings(target: Path, settings: dict) -> str:
    """Write `settings` to `target` if it is missing, else to the side file; say which."""
    text = json.dumps(settings, indent=2) + "\n"
    endpoint = settings["Values"]["COSMOS_CONNECTION__accountEndpoint"]
    if not target.exists():
        target.write_text(text)
        return f"postprovision: wrote {target.name} for {endpoint}"
    if target.read_text() == text:
        return f"postprovision: {target.name} already points at {endpoint}; left unchanged"
    side = target.with_name(SIDE_FILE)
    side.write_text(text)
    return (
        f"postprovision: {target.name} exists and was left unchanged; the settings for {endpoint} "
        f"are in {side.name} (copy what you need into {target.name}, or delete it and run "
        "`azd hooks run postprovision`)"
    )


def main(argv: list[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else argv
    target = Path(arguments[0]) if arguments else Path(__file__).resolve().parents[2] / "local.settings.json"
    print(write_settings(target, local_settings(dict(os.environ))), file=sys.stderr)


if __name__ == "__main__":
    main()
