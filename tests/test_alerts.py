"""Alerts, availability test, App Configuration and the generator switch in infra/ (parsed by pycep).

The alert rules query metrics, functions and log lines by the names in
pipeline/telemetry_names.json; these tests prove each name a rule uses is one the code
really emits, so renaming a metric cannot silently disarm an alert.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import azure.functions as func
import httpx
import pytest
from pycep import BicepParser

import summariser.bindings
from local_host.triggers import LocalContext
from pipeline import metrics
from pipeline.invocations import Invocations
from pipeline.settings import SettingsError, load_settings
from pipeline.storage import StoreError, reset_store
from pipeline.storage.sqlite_store import SqliteStore
from summariser.state_cache import SensorStateCache
from tests.checks import eventually
from tests.servers import ROOT, local_host, registered_functions

INFRA = ROOT / "infra"
ALERTS = INFRA / "app" / "alerts.bicep"
NAMES = json.loads((ROOT / "pipeline" / "telemetry_names.json").read_text())
REFERENCE = re.compile(r"telemetry\.(metrics|functions|logs)\.(\w+)")


def parse(path: Path) -> dict:
    return BicepParser().parse(text=path.read_text())


@pytest.fixture(scope="module")
def alerts() -> dict:
    return parse(ALERTS)


@pytest.fixture(scope="module")
def main() -> dict:
    return parse(INFRA / "main.bicep")


def resource(template: dict, name: str) -> dict:
    return template["resources"][name]


def test_action_group_emails_the_azd_value_and_exists_only_when_set(alerts, main) -> None:
    group = resource(alerts, "actionGroup")
    assert group["type"] == "Microsoft.Insights/actionGroups"
    assert "alertEmail" in json.dumps(group["config"]["condition"])  # none without an email
    [receiver] = group["config"]["config"]["properties"]["emailReceivers"]
    assert receiver["emailAddress"] == "alertEmail"
    assert alerts["parameters"]["alertEmail"]["default"] == ""
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["alertEmail"]["value"] == "${ALERT_EMAIL}"
    assert main["modules"]["alerts"]["config"]["params"]["alertEmail"] == "alertEmail"


def test_one_log_rule_per_failure_with_parameterised_thresholds(alerts) -> None:
    rules = {rule["name"]: rule for rule in alerts["variables"]["logRules"]["value"]}
    assert set(rules) == {"summariser-failing", "summariser-gave-up", "feed-lag", "dead-letters"}
    rule = resource(alerts, "logAlerts")
    assert rule["type"] == "Microsoft.Insights/scheduledQueryRules"
    assert rule["config"]["loop_type"]["detail"]["array_name"] == "logRules"
    properties = rule["config"]["config"]["properties"]
    assert properties["scopes"] and properties["autoMitigate"] is True
    assert properties["windowSize"] == "PT${rule.minutes}M"
    # Thresholds and durations are parameters with defaults, used by the rules.
    for parameter, default in (
        ("summariserFailingMinutes", 15),
        ("feedLagThresholdSeconds", 120),
        ("feedLagMinutes", 10),
        ("deadLetterThreshold", 0),
        ("dashboardDownMinutes", 5),
    ):
        assert alerts["parameters"][parameter]["default"] == default
    assert rules["summariser-failing"]["minutes"] == "summariserFailingMinutes"
    assert rules["feed-lag"]["minutes"] == "feedLagMinutes"
    assert "${feedLagThresholdSeconds}" in rules["feed-lag"]["query"]
    assert "${deadLetterThreshold}" in rules["dead-letters"]["query"]
    assert "success == false" in rules["summariser-failing"]["query"]


def test_dashboard_down_is_a_standard_availability_test_on_health(alerts) -> None:
    test = resource(alerts, "healthTest")
    assert test["type"] == "Microsoft.Insights/webtests"
    config = test["config"]
    assert config["kind"] == "standard" and config["properties"]["Kind"] == "standard"
    assert config["properties"]["Request"]["RequestUrl"] == "${appUri}${telemetry.health_path}"
    assert NAMES["health_path"] == "/api/health"
    assert config["properties"]["ValidationRules"]["ExpectedHttpStatusCode"] == 200
    assert len(config["properties"]["Locations"]) >= 2
    assert "hidden-link" in json.dumps(config["tags"])
    alert = resource(alerts, "dashboardDown")
    assert alert["type"] == "Microsoft.Insights/metricAlerts"
    criteria = alert["config"]["properties"]["criteria"]
    assert criteria["'odata.type'"] == "Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria"
    assert criteria["failedLocationCount"] == "failedLocationCount"


def test_the_health_route_the_test_probes_exists() -> None:
    from web_app import create_web_app

    assert NAMES["health_path"] in create_web_app().openapi()["paths"]


def test_rules_name_metrics_only_through_the_shared_file() -> None:
    text = ALERTS.read_text()
    assert "loadJsonContent('../../pipeline/telemetry_names.json')" in text
    without_references = re.sub(r"\$\{[^}]*\}", "", text)
    for name in NAMES["metrics"].values():
        assert f'"{name}"' not in without_references, f"{name} written as a literal in alerts.bicep"
    referenced = REFERENCE.findall(text)
    assert {section for section, _ in referenced} == {"metrics", "functions", "logs"}
    for section, key in referenced:
        assert key in NAMES[section], f"telemetry.{section}.{key} is not in telemetry_names.json"


def emitted_metric_names() -> set[str]:
    metrics.record_generated(1)
    metrics.record_batch(2, 1, 1, 0.5, 3.0, 4, 5.0)
    metrics.record_chart(12.0)
    return {re.split(r"[{.]", key)[0] for key in metrics.snapshot()}


def test_every_metric_a_rule_uses_is_emitted_by_the_code() -> None:
    emitted = emitted_metric_names()
    used = {
        NAMES["metrics"][key]
        for section, key in REFERENCE.findall(ALERTS.read_text())
        if section == "metrics"
    }
    assert used and used <= emitted, used - emitted
    assert set(NAMES["metrics"].values()) == emitted  # the file lists exactly what is emitted


def test_every_function_a_rule_or_setting_names_is_registered(main) -> None:
    registered = set(registered_functions())
    assert set(NAMES["functions"].values()) == registered
    settings = main["modules"]["function"]["config"]["params"]["appSettings"]
    switch = f"'AzureWebJobs.{NAMES['functions']['generator']}.Disabled'"
    assert switch in settings  # pycep keeps the quotes of a quoted key
    assert "generatorEnabled" in json.dumps(settings[switch])
    assert main["parameters"]["generatorEnabled"]["default"] is True  # the demo runs by default
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["generatorEnabled"]["value"] == "${GENERATOR_ENABLED=true}"


@dataclass(frozen=True)
class Retry:
    """What the host passes as `context.retry_context` (retry_count counts from 0)."""

    retry_count: int
    max_retry_count: int
    exception: None = None


class RetryingContext(LocalContext):
    def __init__(self, retry: Retry) -> None:
        super().__init__("summarise_readings")
        self._retry = retry

    @property
    def retry_context(self) -> Retry:
        return self._retry


@pytest.fixture(autouse=True)
def own_invocation_record(monkeypatch) -> None:
    """The failures these tests cause are not the process's: /api/health reads that record."""
    monkeypatch.setattr(summariser.bindings, "INVOCATIONS", Invocations())


def summarise_on_attempt(
    attempt: int, caplog, failure: tuple[type[BaseException], ...], match: str | None = None
) -> bool:
    """Run the registered summariser on one reading as retry `attempt` of 8, expecting it to
    fail with `failure`; whether it logged the given-up line the alert rule matches."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    reading = {"id": "r1", "sensor_id": "sensor-1", "temperature": 20.5, "timestamp": now}
    documents = func.DocumentList([func.Document.from_dict(reading)])
    function = registered_functions()["summarise_readings"].get_user_function()
    with caplog.at_level(logging.ERROR, logger="summariser.bindings"), pytest.raises(failure, match=match):
        function(documents, context=RetryingContext(Retry(attempt, 8)))
    return any(r.getMessage().startswith(NAMES["logs"]["batch_given_up"]) for r in caplog.records)


@pytest.mark.parametrize("attempt, logged", [(8, True), (3, False)])
def test_the_given_up_log_line_the_rule_matches_is_emitted_on_the_last_retry(
    tmp_path, monkeypatch, caplog, attempt, logged
) -> None:
    # A store whose summaries table is gone: every attempt fails for real.
    store = SqliteStore(tmp_path / "broken.db")
    store.ensure_ready()
    with sqlite3.connect(tmp_path / "broken.db") as connection:
        connection.execute("DROP TABLE summaries")
    reset_store(store)
    monkeypatch.setattr(summariser.bindings, "_states", SensorStateCache())
    try:
        assert summarise_on_attempt(attempt, caplog, (StoreError, sqlite3.Error)) is logged
    finally:
        reset_store(None)


@pytest.mark.parametrize("attempt, logged", [(8, True), (3, False)])
def test_a_bad_setting_fails_the_batch_and_its_last_retry_is_named_as_given_up(
    tmp_path, monkeypatch, caplog, attempt, logged
) -> None:
    """In Azure the settings are read on first use: a bad one fails every batch, and the one the
    host is about to skip must raise the same alert as a failed write, not vanish silently."""
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "p.db"))
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=ABC")
    load_settings.cache_clear()
    monkeypatch.setattr(summariser.bindings, "_states", SensorStateCache())
    try:
        failed_as = (SettingsError,)
        assert (
            summarise_on_attempt(attempt, caplog, failed_as, "APPLICATIONINSIGHTS_CONNECTION_STRING")
            is logged
        )
    finally:
        load_settings.cache_clear()


@pytest.mark.slow
def test_the_generator_switch_stops_the_timer_and_keeps_ingest(tmp_path, monkeypatch) -> None:
    # The app setting infra sets from GENERATOR_ENABLED=false, honoured by the local host as by Azure's.
    monkeypatch.setenv(f"AzureWebJobs.{NAMES['functions']['generator']}.Disabled", "true")
    with local_host(tmp_path, "--interval", "1") as host:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        posted = httpx.post(
            f"{host.url}/api/readings", json={"sensor_id": "probe-1", "temperature": 20.5, "timestamp": now}
        )
        assert posted.status_code == 201
        eventually(lambda: httpx.get(f"{host.url}/api/summary-timestamps").json() != {}, 20, "a summary")
        # Only the device's sensor: the simulated sensors never reported (not even the start-up tick).
        assert set(httpx.get(f"{host.url}/api/summary-timestamps").json()) == {"probe-1"}
    started = next(line for line in host.log().splitlines() if "running at" in line)
    assert "functions: summarise_readings" in started and "generate_readings" not in started
