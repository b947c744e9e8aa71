"""Production settings in the Bicep templates: always-ready instances, capacity, sign-in, trigger tuning."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pycep import BicepParser

from pipeline import names
from tests.servers import ROOT, registered_functions

INFRA = ROOT / "infra"


@pytest.fixture(scope="module")
def main() -> dict:
    return BicepParser().parse(text=(INFRA / "main.bicep").read_text())


@pytest.fixture(scope="module")
def function_module() -> dict:
    return BicepParser().parse(text=(INFRA / "app" / "function.bicep").read_text())


@pytest.fixture(scope="module")
def azd_values() -> dict[str, str]:
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    return {name: spec["value"] for name, spec in parameters.items()}


def dicts_in(value: object) -> Iterator[dict]:
    """Every mapping nested anywhere in pycep's parse tree."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from dicts_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from dicts_in(item)


def test_the_summariser_is_always_ready_by_name_and_http_on_request(
    main, function_module, azd_values
) -> None:
    entries = {
        entry["name"]: entry["instanceCount"]
        for entry in dicts_in(main["variables"]["alwaysReady"])
        if "instanceCount" in entry
    }
    # The entry names the function exactly as the app registers it, or Flex ignores it.
    trigger_functions = [
        name
        for name, function in registered_functions().items()
        if function.get_trigger().get_dict_repr()["type"] == "cosmosDBTrigger"
    ]
    assert trigger_functions == ["summarise_readings"]
    assert entries == {"function:summarise_readings": "summariserAlwaysReady", "http": "httpAlwaysReady"}
    assert main["parameters"]["summariserAlwaysReady"]["default"] == 1
    assert main["parameters"]["httpAlwaysReady"]["default"] == 0
    assert azd_values["summariserAlwaysReady"] == "${SUMMARISER_ALWAYS_READY=1}"
    assert azd_values["httpAlwaysReady"] == "${HTTP_ALWAYS_READY=0}"
    # main.bicep hands the list to the Function App module, which puts it on the plan's scale settings.
    assert main["modules"]["function"]["config"]["params"]["alwaysReady"] == "alwaysReady"
    [site] = [r for r in function_module["resources"].values() if r["type"] == "Microsoft.Web/sites"]
    scale = site["config"]["properties"]["functionAppConfig"]["scaleAndConcurrency"]
    assert scale["alwaysReady"] == "alwaysReady"


def test_cosmos_capacity_is_a_parameter_with_its_autoscale_ceiling(main, azd_values) -> None:
    capacity = main["parameters"]["cosmosCapacity"]
    assert capacity["default"] == "serverless"
    allowed = [d for d in capacity["decorators"] if d["type"] == "allowed"]
    assert allowed and set(allowed[0]["argument"]) == {"serverless", "autoscale"}
    assert azd_values["cosmosCapacity"] == "${COSMOS_CAPACITY=serverless}"
    assert azd_values["cosmosAutoscaleMaxThroughput"] == "${COSMOS_AUTOSCALE_MAX_THROUGHPUT=1000}"
    assert main["parameters"]["cosmosAutoscaleMaxThroughput"]["default"] == 1000


def test_dashboard_sign_in_is_an_off_by_default_switch_that_keeps_devices_out_of_it(
    main, function_module, azd_values
) -> None:
    assert main["parameters"]["dashboardSignIn"]["default"] is False
    assert azd_values["dashboardSignIn"] == "${DASHBOARD_SIGN_IN=false}"
    assert azd_values["signInClientId"] == "${SIGN_IN_CLIENT_ID}"
    passed = main["modules"]["function"]["config"]["params"]
    assert (passed["signIn"], passed["signInClientId"]) == ("dashboardSignIn", "signInClientId")
    auth = function_module["resources"]["auth"]
    assert auth["type"] == "Microsoft.Web/sites/config"
    assert auth["config"]["condition"] == "signIn"  # deployed only when switched on
    config = auth["config"]["config"]
    assert config["name"] == "authsettingsV2"
    validation = config["properties"]["globalValidation"]
    assert validation["requireAuthentication"] is True
    # Devices post with a function key, the availability test reads health: neither can sign in.
    assert {"/api/readings", "/api/health", "/api/deadletter"} <= set(validation["excludedPaths"])
    aad = config["properties"]["identityProviders"]["azureActiveDirectory"]
    assert "clientSecretSettingName" not in aad["registration"]  # no secret to keep


def test_the_deployed_trigger_tuning_is_the_bindings_default(main) -> None:
    settings = main["modules"]["function"]["config"]["params"]["appSettings"]
    assert settings[names.SUMMARISER_FEED_POLL_DELAY_MS] == str(names.DEFAULT_FEED_POLL_DELAY_MS)
    assert settings[names.SUMMARISER_MAX_ITEMS_PER_INVOCATION] == str(names.DEFAULT_MAX_ITEMS_PER_INVOCATION)
