"""The composition root: fast, I/O-free import and the binding metadata the host indexes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline import names
from tests.servers import ROOT, registered_functions

MAX_IMPORTED_MODULES = 400
HEAVY_MODULES = (
    "azure.cosmos",
    "azure.identity",
    "azure.appconfiguration",
    "matplotlib",
    "fastapi",
    "sqlite3",
    "uvicorn",
)

_IMPORT_PROBE = """
import json, os, socket, sys, time
HEAVY_MODULES = HEAVY_MODULES_LIST
opened = []
def refuse(self, *args):
    opened.append(repr(args))
    raise OSError("no network at import time")
socket.socket.connect = refuse
before = set(os.listdir("."))
modules_before = set(sys.modules)
start = time.perf_counter()
import function_app
elapsed = time.perf_counter() - start
print(json.dumps({
    "seconds": elapsed,
    "modules": len(set(sys.modules) - modules_before),
    "connections": opened,
    "new_files": sorted(set(os.listdir(".")) - before),
    "heavy": sorted(m for m in HEAVY_MODULES if m in sys.modules),
}))
""".replace("HEAVY_MODULES_LIST", repr(HEAVY_MODULES))


def test_import_is_fast_and_does_no_io(tmp_path) -> None:
    # A fresh interpreter with no settings at all, as the host's first indexing pass sees it.
    # Warm the bytecode cache first: Azure deploys compiled files too.
    subprocess.run(
        [sys.executable, "-c", "import function_app"], cwd=ROOT, check=True, env={"PATH": "/usr/bin:/bin"}
    )
    times = []
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
            timeout=60,
            check=True,
        )
        probe = json.loads(result.stdout)
        assert probe["connections"] == []
        assert probe["new_files"] == []
        assert probe["heavy"] == [], "these belong on first use, not at import"
        times.append(probe["seconds"])
        modules = probe["modules"]
    print(f"import function_app: {modules} modules, {[round(t, 3) for t in times]} s")
    # What the import loads, counted rather than timed (timings are `make bench`'s): 271
    # modules today, ~0.15 s; one heavy library imported eagerly adds hundreds.
    assert modules <= MAX_IMPORTED_MODULES


@pytest.fixture(scope="module")
def functions() -> dict:
    return registered_functions()


def _binding(function, binding_type: str) -> dict:
    [binding] = [b for b in function.get_bindings_dict()["bindings"] if b["type"] == binding_type]
    return binding


def test_every_function_is_registered(functions: dict) -> None:
    assert set(functions) == {
        "generate_readings",
        "post_readings",
        "summarise_readings",
        "visualiser",
        "read_dead_letters",
    }


def test_generator_timer_and_output_binding(functions: dict) -> None:
    generator = functions["generate_readings"]
    timer = _binding(generator, "timerTrigger")
    assert timer["schedule"] == f"%{names.GENERATOR_SCHEDULE}%"
    output = _binding(generator, "cosmosDB")
    assert output["direction"].name == "OUT"
    assert output["connection"] == names.COSMOS_CONNECTION
    assert output["databaseName"] == f"%{names.COSMOS_DATABASE}%"
    assert output["containerName"] == f"%{names.READINGS_CONTAINER}%"
    assert generator.get_settings_dict("retry_policy")["strategy"] == "exponential_backoff"


def test_summariser_trigger_leases_and_retry_policy(functions: dict) -> None:
    summariser = functions["summarise_readings"]
    trigger = summariser.get_trigger().get_dict_repr()
    assert trigger["type"] == "cosmosDBTrigger"
    assert trigger["connection"] == names.COSMOS_CONNECTION
    assert trigger["databaseName"] == f"%{names.COSMOS_DATABASE}%"
    assert trigger["containerName"] == f"%{names.READINGS_CONTAINER}%"
    assert trigger["leaseContainerName"] == f"%{names.LEASES_CONTAINER}%"
    assert trigger["createLeaseContainerIfNotExists"] is False  # a managed identity cannot
    retry = summariser.get_settings_dict("retry_policy")
    assert retry["strategy"] == "exponential_backoff"
    assert int(retry["max_retry_count"]) >= 3
    assert retry["minimum_interval"] < retry["maximum_interval"]


def test_http_routes_and_auth_levels(functions: dict) -> None:
    visualiser = _binding(functions["visualiser"], "httpTrigger")
    assert visualiser["route"] == "{*path}"
    assert visualiser["authLevel"].value == "anonymous"
    assert {m.value for m in visualiser["methods"]} == {"GET", "HEAD"}
    ingest = _binding(functions["post_readings"], "httpTrigger")
    assert ingest["route"] == "api/readings"
    assert ingest["authLevel"].value == "function"
    assert [m.value for m in ingest["methods"]] == ["POST"]


def test_host_json_serves_the_dashboard_at_the_root_with_bundle_4() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == ""
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"


def test_host_json_sends_successful_invocations_to_application_insights_as_requests() -> None:
    # The host logs every invocation's result (the `requests` table) in category
    # Host.Results at Information: a higher level keeps only the failures.
    levels = ["Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"]
    logging = json.loads((ROOT / "host.json").read_text())["logging"]
    results = logging["logLevel"].get("Host.Results", logging["logLevel"]["default"])
    assert levels.index(results) <= levels.index("Information")
    # Exceptions are never sampled away; requests are sampled only above 20 items/s.
    assert "Exception" in logging["applicationInsights"]["samplingSettings"]["excludedTypes"].split(";")


def test_local_settings_example_defines_every_binding_expression(functions: dict) -> None:
    values = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    expressions = set()
    for function in functions.values():
        for binding in function.get_bindings_dict()["bindings"]:
            for value in binding.values():
                if isinstance(value, str) and value.startswith("%") and value.endswith("%"):
                    expressions.add(value.strip("%"))
    assert expressions <= set(values), f"missing: {expressions - set(values)}"
    assert values["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert values[names.COSMOS_CONNECTION].startswith("AccountEndpoint=https://localhost:8081/")
