"""The Bicep templates, parsed with pycep (the Bicep CLI downloads a binary, unavailable here).

Checks what would hurt in Azure: keys, TLS, the lease container's partition key, role
ids, and that the names the templates create are the names the code and bindings use.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pycep import BicepParser

from pipeline import names
from pipeline.settings import StoreKind, settings_from
from tests.servers import ROOT, registered_functions

INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
KNOWN_TYPES = {
    "Microsoft.Resources/resourceGroups",
    "Microsoft.ManagedIdentity/userAssignedIdentities",
    "Microsoft.OperationalInsights/workspaces",
    "Microsoft.Insights/components",
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.Storage/storageAccounts",
    "Microsoft.Storage/storageAccounts/blobServices",
    "Microsoft.Storage/storageAccounts/blobServices/containers",
    "Microsoft.DocumentDB/databaseAccounts",
    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases",
    "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers",
    "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments",
    "Microsoft.Web/serverfarms",
    "Microsoft.Web/sites",
    "Microsoft.Web/sites/config",
    "Microsoft.Insights/actionGroups",
    "Microsoft.Insights/scheduledQueryRules",
    "Microsoft.Insights/webtests",
    "Microsoft.Insights/metricAlerts",
    "Microsoft.AppConfiguration/configurationStores",
}


def parse(path: Path) -> dict:
    return BicepParser().parse(text=path.read_text())


@pytest.fixture(scope="module")
def templates() -> dict[str, dict]:
    return {str(path.relative_to(INFRA)): parse(path) for path in BICEP_FILES}


def resources_of(templates: dict[str, dict], resource_type: str) -> list[dict]:
    return [
        resource
        for template in templates.values()
        for resource in template.get("resources", {}).values()
        if resource["type"] == resource_type and not resource.get("existing")
    ]


def test_every_template_parses_with_known_types_and_api_versions(templates) -> None:
    assert {
        "main.bicep",
        "app/cosmos.bicep",
        "app/function.bicep",
        "app/storage.bicep",
        "app/cosmos-rbac.bicep",
        "app/monitoring.bicep",
        "app/identity.bicep",
        "app/alerts.bicep",
        "app/appconfig.bicep",
    } <= set(templates)
    for name, template in templates.items():
        for resource in template.get("resources", {}).values():
            assert resource["type"] in KNOWN_TYPES, (name, resource["type"])
            assert API_VERSION.match(resource["api_version"]), (name, resource["api_version"])
        for module in template.get("modules", {}).values():
            assert (INFRA / module["detail"]["path"]).is_file()


def test_no_keys_anywhere() -> None:
    for path in [*BICEP_FILES, INFRA / "main.parameters.json", INFRA / "hooks" / "write_local_settings.py"]:
        text = path.read_text()
        for forbidden in (
            "listKeys",
            "listConnectionStrings",
            "AccountKey",
            "primaryMasterKey",
            "SharedAccessKey",
            "DefaultEndpointsProtocol",
        ):
            assert forbidden not in text, f"{forbidden} in {path.name}"


def test_outputs_carry_no_secrets(templates) -> None:
    for name, template in templates.items():
        for output in template.get("outputs", {}):
            assert not re.search(r"key|secret|password", output, re.I), (name, output)


def test_local_auth_disabled_https_only_tls_1_2(templates) -> None:
    [cosmos] = resources_of(templates, "Microsoft.DocumentDB/databaseAccounts")
    assert cosmos["config"]["properties"]["disableLocalAuth"] is True
    assert cosmos["config"]["properties"]["minimalTlsVersion"] == "Tls12"
    [storage] = resources_of(templates, "Microsoft.Storage/storageAccounts")
    assert storage["config"]["properties"]["allowSharedKeyAccess"] is False
    assert storage["config"]["properties"]["minimumTlsVersion"] == "TLS1_2"
    assert storage["config"]["properties"]["supportsHttpsTrafficOnly"] is True
    [site] = resources_of(templates, "Microsoft.Web/sites")
    assert site["config"]["properties"]["httpsOnly"] is True
    assert site["config"]["properties"]["siteConfig"]["minTlsVersion"] == "1.2"
    [insights] = resources_of(templates, "Microsoft.Insights/components")
    assert insights["config"]["properties"]["DisableLocalAuth"] is True


def test_flex_consumption_python_311_with_user_assigned_identity(templates) -> None:
    [plan] = resources_of(templates, "Microsoft.Web/serverfarms")
    assert plan["config"]["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    [site] = resources_of(templates, "Microsoft.Web/sites")
    assert site["config"]["identity"]["type"] == "UserAssigned"
    runtime = site["config"]["properties"]["functionAppConfig"]["runtime"]
    assert runtime == {"name": "python", "version": "3.11"}
    deployment = site["config"]["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert deployment["authentication"]["type"] == "UserAssignedIdentity"


def test_role_definitions(templates) -> None:
    rbac = (INFRA / "app" / "cosmos-rbac.bicep").read_text()
    assert "00000000-0000-0000-0000-000000000002" in rbac  # Cosmos DB Built-in Data Contributor
    [assignment] = resources_of(templates, "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments")
    assert "roleDefinitionId" in assignment["config"]["properties"]
    storage = (INFRA / "app" / "storage.bicep").read_text()
    for role in (
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
        "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
        "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    ):
        assert role in storage
    assert "3913510d-42f4-4e42-8a64-420c390055eb" in (INFRA / "app" / "monitoring.bicep").read_text()


def main_variables(templates) -> dict:
    return templates["main.bicep"]["variables"]["pipeline"]["value"]


def test_database_containers_and_partition_keys_match_the_code(templates) -> None:
    pipeline = main_variables(templates)
    assert pipeline["database"] == names.DEFAULT_DATABASE
    containers = {c["name"]: c["partitionKey"] for c in pipeline["containers"]}
    assert containers == names.PARTITION_KEYS
    assert containers[names.DEFAULT_LEASES] == "/id"  # the change-feed processor requires it
    excluded = {c["name"]: [p["path"] for p in c["excludedPaths"]] for c in pipeline["containers"]}
    assert excluded[names.DEFAULT_SUMMARIES] == ["/window/*"]  # pointer windows are never queried


def app_settings(templates) -> dict:
    return templates["main.bicep"]["modules"]["function"]["config"]["params"]["appSettings"]


def test_app_settings_use_the_identity_form_and_match_bindings(templates) -> None:
    settings = app_settings(templates)
    assert {
        f"{names.COSMOS_CONNECTION}__accountEndpoint",
        f"{names.COSMOS_CONNECTION}__credential",
        f"{names.COSMOS_CONNECTION}__clientId",
    } <= set(settings)
    assert names.COSMOS_CONNECTION not in settings  # never a connection string with a key
    assert settings[f"{names.COSMOS_CONNECTION}__credential"] == "managedidentity"
    assert settings[names.CREATE_LEASE_CONTAINER] == "false"
    expressions = set()
    for function in registered_functions().values():
        for binding in function.get_bindings_dict()["bindings"]:
            expressions |= {
                v.strip("%")
                for v in binding.values()
                if isinstance(v, str) and v.startswith("%") and v.endswith("%")
            }
    assert expressions <= set(settings), f"app settings missing: {expressions - set(settings)}"
    # The literal values resolve to the containers the templates create.
    pipeline = main_variables(templates)
    for setting, default in (
        (names.READINGS_CONTAINER, names.DEFAULT_READINGS),
        (names.SUMMARIES_CONTAINER, names.DEFAULT_SUMMARIES),
        (names.LEASES_CONTAINER, names.DEFAULT_LEASES),
        (names.DEADLETTER_CONTAINER, names.DEFAULT_DEADLETTER),
    ):
        index = setting_index(settings[setting])
        assert pipeline["containers"][index]["name"] == default


def test_the_app_is_told_the_ttl_the_summaries_container_has(templates) -> None:
    """A chart's kept history is extended only while the summaries' TTL cannot have cut it
    (visualiser/read_model.py): the app must know the TTL the container really has, not
    assume the default while `summariesTtlSeconds` says otherwise."""
    [summaries] = [c for c in main_variables(templates)["containers"] if c["name"] == names.DEFAULT_SUMMARIES]
    told = app_settings(templates).get(names.SUMMARIES_TTL_SECONDS)
    assert told == {"function": {"type": "string", "parameters": {"value_to_convert": summaries["ttl"]}}}


def setting_index(value: object) -> int:
    """`pipeline.containers[2].name` parsed by pycep: find the array index."""
    text = json.dumps(value)
    found = re.search(r'"index"\s*:\s*(\d+)|\[(\d+)\]|"operand_2"\s*:\s*(\d+)', text)
    assert found, text
    return int(next(group for group in found.groups() if group is not None))


def test_the_settings_module_accepts_the_deployed_settings(templates) -> None:
    literal = {k: v for k, v in app_settings(templates).items() if isinstance(v, str)}
    literal[f"{names.COSMOS_CONNECTION}__accountEndpoint"] = "https://acct.documents.azure.com:443/"
    literal["WEBSITE_INSTANCE_ID"] = "azure"
    settings = settings_from(literal)
    assert settings.store is StoreKind.COSMOS
    assert settings.create_lease_container is False


def test_parameters_file_and_azure_yaml() -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = parse(INFRA / "main.bicep")["parameters"]
    assert set(parameters) <= set(declared)
    azure_yaml = (ROOT / "azure.yaml").read_text()
    assert "host: function" in azure_yaml and "postprovision" in azure_yaml


def test_postprovision_hook_writes_identity_settings_only() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("hook", INFRA / "hooks" / "write_local_settings.py")
    assert spec and spec.loader
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    values = hook.local_settings(
        {"COSMOS_ENDPOINT": "https://a.documents.azure.com:443/", "COSMOS_DATABASE": "sensor-pipeline"}
    )["Values"]
    assert values["COSMOS_CONNECTION__accountEndpoint"] == "https://a.documents.azure.com:443/"
    assert not any("Key" in str(v) for v in values.values())
    assert settings_from(values).store is StoreKind.COSMOS
    with pytest.raises(SystemExit, match="COSMOS_ENDPOINT"):
        hook.local_settings({})


def test_app_configuration_on_request_with_rbac_and_no_keys(templates) -> None:
    [store] = resources_of(templates, "Microsoft.AppConfiguration/configurationStores")
    assert store["config"]["properties"]["disableLocalAuth"] is True
    main = templates["main.bicep"]
    module = main["modules"]["appConfig"]
    assert module["config"]["condition"] == "appConfiguration"  # created only when asked
    assert main["parameters"]["appConfiguration"]["default"] is False
    reader = json.dumps(module["config"]["config"]["params"]["readerPrincipalId"])
    assert '"identity"' in reader and '"principalId"' in reader  # the app's identity reads
    settings = app_settings(templates)
    endpoint = json.dumps(settings[names.APP_CONFIGURATION_ENDPOINT])
    assert "appConfiguration" in endpoint and "endpoint" in endpoint
    assert names.APP_CONFIGURATION_CLIENT_ID in settings
    assert names.LIVE_SETTINGS_REFRESH_SECONDS in settings


APP_CONFIGURATION_DATA_READER = "516239f1-63e1-4d78-a4de-a74fb236a071"  # Azure built-in role id


def test_the_apps_identity_reads_app_configuration_through_a_role_on_the_store(templates) -> None:
    template = templates["app/appconfig.bicep"]
    variables = {name: v["value"] for name, v in template.get("variables", {}).items()}

    def resolved(value: object) -> object:
        """A variable's value where pycep gives its name (pycep writes both as plain strings)."""
        return variables.get(value, value) if isinstance(value, str) else value

    [store_name] = [
        name
        for name, r in template["resources"].items()
        if r["type"] == "Microsoft.AppConfiguration/configurationStores" and not r["existing"]
    ]
    readers = []
    for resource in template["resources"].values():
        if resource["type"] != "Microsoft.Authorization/roleAssignments":
            continue
        assert API_VERSION.match(resource["api_version"])
        # pycep nests a conditional resource's body under config.config, beside its condition.
        config = resource["config"]["config"] if "condition" in resource["config"] else resource["config"]
        role = config["properties"]["roleDefinitionId"]["function"]
        assert role["type"] == "subscription_resource_id"
        assert role["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
        if resolved(role["parameters"]["resource_name_1"]) == APP_CONFIGURATION_DATA_READER:
            readers.append(resource["config"])
    assert len(readers) == 1, f"{len(readers)} App Configuration Data Reader role assignments"
    [reader] = readers
    assert "condition" not in reader  # always granted: the store exists only to be read by the app
    assert reader.get("scope") == store_name  # on the store itself, not the resource group
    assert reader["properties"]["principalId"] == "readerPrincipalId"
    assert "readerPrincipalId" in template["parameters"]
    assert reader["properties"]["principalType"] == "ServicePrincipal"  # a managed identity
    # A deterministic name from store, principal and role: re-provisioning does not duplicate it.
    name = reader["name"]["function"]
    assert name["type"] == "guid"
    assert json.dumps(name["parameters"]["base_string"]).count(f'"{store_name}"') == 1
    assert {resolved(v) for k, v in name["parameters"].items() if k.startswith("extra")} == {
        "readerPrincipalId",
        APP_CONFIGURATION_DATA_READER,
    }


AZD_VALUE = re.compile(r"^\$\{(?P<name>[A-Z][A-Z0-9_]*)(?:=(?P<default>[^}]*))?\}$")
# Alert parameters the deployment wires from other resources, not settings anyone chooses.
ALERT_WIRING = {"appInsightsName", "location", "tags", "appUri"}


def constraints(parameter: dict) -> list[dict]:
    """A parameter's limits (allowed values, min, max): its decorators but the description."""
    return [d for d in parameter["decorators"] if d["type"] != "description"]


def azd_default(value: object) -> str:
    """How azd writes a default in `${NAME=default}` (it converts the text to the Bicep type)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def test_every_alert_threshold_is_settable_with_azd_env_set(templates) -> None:
    alerts = templates["app/alerts.bicep"]["parameters"]
    main = templates["main.bicep"]
    passed = main["modules"]["alerts"]["config"]["params"]
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert {name for name, p in alerts.items() if p["default"] is None} == ALERT_WIRING
    assert ALERT_WIRING <= set(passed)
    settable = sorted(set(alerts) - ALERT_WIRING)
    assert len(settable) >= 8, settable
    runbook = (ROOT / "docs" / "operations.md").read_text().split("\n## Alerts", 1)[1].split("\n## ", 1)[0]
    for name in settable:
        # alerts.bicep <- main.bicep: the main template's parameter of the same name, unchanged.
        assert passed.get(name) == name, f"main.bicep does not pass {name} to the alerts module"
        declared = main["parameters"][name]
        assert declared["type"] == alerts[name]["type"], name
        assert declared["default"] == alerts[name]["default"], name
        assert constraints(declared) == constraints(alerts[name]), name
        # main.bicep <- main.parameters.json: an azd environment value, defaulting to the same.
        assert name in mapped, f"{name} is not mapped in main.parameters.json"
        value = AZD_VALUE.match(mapped[name]["value"])
        assert value, (name, mapped[name]["value"])
        expected = re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()  # feedLagMinutes -> FEED_LAG_MINUTES
        assert value["name"] == expected, (name, value["name"])
        default = alerts[name]["default"]
        assert (value["default"] or "") == azd_default(default), (name, value["default"])
        assert f"`{expected}`" in runbook, f"docs/operations.md's alert table does not name {expected}"


def test_the_deployed_ttls_are_the_settings_defaults() -> None:
    """The cost model prices storage with the settings' TTLs: the deployment must keep the same."""
    from pipeline.settings import Retention

    bicep = (INFRA / "main.bicep").read_text()
    deployed = {name: int(value) for name, value in re.findall(r"param (\w+TtlSeconds) int = (-?\d+)", bicep)}
    kept = Retention()
    assert deployed == {
        "readingsTtlSeconds": kept.readings_seconds,
        "summariesTtlSeconds": kept.summaries_seconds,
        "rollupsTtlSeconds": kept.rollups_seconds,
    }


def test_the_refresh_interval_infra_accepts_is_one_the_app_accepts(templates) -> None:
    """A value azd would deploy must not be one the app refuses at start (every invocation failing)."""
    from pipeline import names

    limits = {
        d["type"]: d["argument"]
        for d in constraints(templates["main.bicep"]["parameters"]["liveSettingsRefreshSeconds"])
    }
    low, high = names.LIVE_SETTINGS_REFRESH_SECONDS_RANGE
    assert low <= limits["min_value"] and limits["max_value"] <= high
