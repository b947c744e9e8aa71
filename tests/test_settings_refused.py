"""A bad value of any documented setting stops start-up with one line naming the setting.

docs/configuration.md promises it: "A bad value stops start-up with one line naming it". Its
table is the list: every setting there has a bad value below (or is one that takes any value,
with the reason), so a setting documented without one fails the first test. The local host
(`python -m local_host`, what `make run` starts) is where a user sees the line: it prints
exactly one `configuration error: setting NAME: ...` and exits with 2.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from local_host.__main__ import LOCAL_BODY_TIMEOUT, LOCAL_HEADER_TIMEOUT, parse_arguments
from pipeline import names
from pipeline.settings import CosmosConnection, SettingsError, Thresholds, settings_from
from pipeline.telemetry import LOG_FORMAT, LOG_LEVEL, configure_logging
from tests.servers import ROOT, free_port

CONFIGURATION = ROOT / "docs" / "configuration.md"
IKEY = "6f1c2e3d-4b5a-4c7d-8e9f-0a1b2c3d4e5f"

# (setting, bad value): settings_from must refuse each, naming that setting.
REFUSED: list[tuple[str, str]] = [
    *((names.COSMOS_CONNECTION, v) for v in ("not a connection string", "AccountEndpoint=https://x/;")),
    (names.COSMOS_VERIFY_TLS, "maybe"),
    (names.PIPELINE_STORE, "mongo"),
    *(
        (name, v)
        for name in (
            names.COSMOS_DATABASE,
            names.READINGS_CONTAINER,
            names.SUMMARIES_CONTAINER,
            names.LEASES_CONTAINER,
            names.DEADLETTER_CONTAINER,
        )
        for v in ("bad/name", "-leading")
    ),
    (names.CREATE_LEASE_CONTAINER, "maybe"),
    *((names.SENSOR_COUNT, v) for v in ("five", "0", "-3", "100001")),
    *((names.SENSOR_IDS, v) for v in ("ok,../etc", "a,a", ",")),
    *((names.WINDOW_SIZE, v) for v in ("abc", "0", "1001", "2.5")),
    *((names.GENERATOR_SCHEDULE, v) for v in ("*/10 * * * *", "* * * * * * *")),
    *((names.GENERATOR_SEED, v) for v in ("-1", "lucky")),
    (names.GENERATOR_TIMING, "sometimes"),
    *((names.GENERATOR_SPEED, v) for v in ("fast", "0", "1001")),
    (names.TEMPERATURE_MODEL, "gaussian"),
    *((names.DASHBOARD_POLL_SECONDS, v) for v in ("nan", "0.1", "3601")),
    *((names.CHART_POINTS, v) for v in ("1", "501", "1e9")),
    *((names.SUMMARISER_FEED_POLL_DELAY_MS, v) for v in ("49", "60001")),
    *((names.SUMMARISER_MAX_ITEMS_PER_INVOCATION, v) for v in ("0", "10001")),
    *((names.READ_REFRESH_SECONDS, v) for v in ("-1", "3")),  # 3: above READ_MAX_AGE_SECONDS, 2
    *((names.READ_MAX_AGE_SECONDS, v) for v in ("abc", "301")),
    *((names.READINGS_TTL_SECONDS, v) for v in ("0", "-2")),
    (names.SUMMARIES_TTL_SECONDS, "0"),
    *((names.ROLLUPS_TTL_SECONDS, v) for v in ("0", "86400")),  # a day: less than the readings' 30
    *((names.PRUNE_EVERY_SECONDS, v) for v in ("-1", "86401")),
    *((names.STORE_BREAKER_FAILURES, v) for v in ("0", "1001")),
    *((names.STORE_BREAKER_COOLDOWN_SECONDS, v) for v in ("0", "3601")),
    (names.HEALTH_MAX_FEED_LAG_SECONDS, "-1"),
    *((names.SENSOR_INTERVAL_SECONDS, v) for v in ("0", "inf")),
    (names.STALE_AFTER_MISSED_INTERVALS, "0"),
    *((names.ALERT_HIGH_CELSIUS, v) for v in ("hot", "10")),  # 10: below the low threshold, 16
    (names.ALERT_LOW_CELSIUS, "-300"),
    (names.ALERT_OVERRIDES, "sensor-3:10"),  # every other refusal: test_a_bad_alert_override_...
    *((names.LIVE_SETTINGS_REFRESH_SECONDS, v) for v in ("abc", "0", "-5", "nan", "inf", "1e9", "0.04")),
    *(
        (names.APP_CONFIGURATION_ENDPOINT, v)
        for v in (
            "appcs-x.azconfig.io",
            "http://appcs-x.azconfig.io",
            "https://",
            "https://appcs x.azconfig.io",
            "https://appcs-x.azconfig.io/kv?key=*",
            "https://appcs-x.azconfig.io:https",
        )
    ),
    *((names.APP_CONFIGURATION_CLIENT_ID, v) for v in ("client-id", "00000000-1111-2222-3333-44444444444")),
    *(
        (f"{names.COSMOS_CONNECTION}__accountEndpoint", v)
        for v in ("http://insecure:8081/", "https://", "acct.documents.azure.com", "https://acct/x?y")
    ),
    (f"{names.COSMOS_CONNECTION}__credential", "password"),
    (f"{names.COSMOS_CONNECTION}__clientId", "my-identity"),
    *(
        (names.APPLICATIONINSIGHTS_CONNECTION_STRING, v)
        for v in (
            "garbage",
            "InstrumentationKey=",
            "InstrumentationKey=not-a-guid;IngestionEndpoint=https://x/",
        )
    ),
]
# (setting, bad value, the one line on stderr): read by the local host (or refused there by the
# local timer's own parser), tested through the real process.
STOPS_THE_LOCAL_HOST: list[tuple[str, str, str]] = [
    (
        names.LIVE_SETTINGS_REFRESH_SECONDS,
        "abc",
        "configuration error: setting LIVE_SETTINGS_REFRESH_SECONDS: "
        "expected a number from 0.05 to 86400.0 (got 'abc')",
    ),
    (
        names.ALERT_OVERRIDES,
        "sensor-3:30:10",
        "configuration error: setting ALERT_OVERRIDES: "
        "expected low < high, both from -273.15 to 1000 °C (got 'sensor-3:30:10')",
    ),
    (  # six fields, but no second 61: the local timer's own parser refuses it at start
        names.GENERATOR_SCHEDULE,
        "61 * * * * *",
        "configuration error: setting GENERATOR_SCHEDULE: "
        "expected an NCRONTAB expression with six fields (seconds first) (got '61 * * * * *')",
    ),
    (  # the exporter would refuse it at the first metric, failing every generator tick
        names.APPLICATIONINSIGHTS_CONNECTION_STRING,
        "garbage",
        "configuration error: setting APPLICATIONINSIGHTS_CONNECTION_STRING: expected "
        "'InstrumentationKey=<lower-case GUID>;IngestionEndpoint=...' as Azure gives it (got 'garbage')",
    ),
    # Read by the local host itself, before the settings.
    (LOG_FORMAT, "xml", "configuration error: setting LOG_FORMAT: expected text or json (got 'xml')"),
    (
        LOG_LEVEL,
        "LOUD",
        "configuration error: setting LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR (got 'LOUD')",
    ),
    (
        LOCAL_HEADER_TIMEOUT,
        "0",
        "configuration error: setting LOCAL_HEADER_TIMEOUT_SECONDS: "
        "expected seconds, more than 0 and at most 600 (got '0')",
    ),
    (
        LOCAL_BODY_TIMEOUT,
        "abc",
        "configuration error: setting LOCAL_BODY_TIMEOUT_SECONDS: "
        "expected seconds, more than 0 and at most 600 (got 'abc')",
    ),
    (
        "PORT",
        "http",
        "configuration error: setting PORT: expected a port number from 1 to 65535 (got 'http')",
    ),
]
# Documented settings with no bad value to give, and why.
ANY_VALUE = {
    names.SQLITE_PATH: "any file path; the local host says at start when it cannot open the store there",
    names.LIVE_SETTINGS_FILE: "any file path; a file not there (yet) holds no live values",
    "AzureWebJobs.generate_readings.Disabled": "read as the Functions host reads it: true or 1 disables",
}
# What infra/main.bicep sets in Azure (the forms Azure gives): all accepted.
AZURE_APP_SETTINGS = {
    f"{names.COSMOS_CONNECTION}__accountEndpoint": "https://cosmos-abc123.documents.azure.com:443/",
    f"{names.COSMOS_CONNECTION}__credential": "managedidentity",
    f"{names.COSMOS_CONNECTION}__clientId": IKEY,
    names.APP_CONFIGURATION_ENDPOINT: "https://appcs-abc123.azconfig.io",
    names.APP_CONFIGURATION_CLIENT_ID: IKEY,
    names.LIVE_SETTINGS_REFRESH_SECONDS: "60",
}


def documented_settings() -> set[str]:
    """The setting names in the first column of docs/configuration.md's table."""
    found: set[str] = set()
    in_table = False
    for line in CONFIGURATION.read_text(encoding="utf-8").splitlines():
        if line.startswith("| setting |"):
            in_table = True
        elif in_table and line.startswith("|"):
            found.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
        elif in_table:
            break
    return found


def test_every_documented_setting_has_a_bad_value_here_or_takes_any_value() -> None:
    documented = documented_settings()
    assert {names.WINDOW_SIZE, names.ALERT_LOW_CELSIUS, names.LIVE_SETTINGS_REFRESH_SECONDS} <= documented
    refused = {setting for setting, _ in REFUSED} | {setting for setting, _, _ in STOPS_THE_LOCAL_HOST}
    assert documented - refused - set(ANY_VALUE) == set(), "documented, but no bad value tried here"
    assert set(ANY_VALUE) <= documented and not set(ANY_VALUE) & refused


def test_every_setting_named_in_names_is_documented() -> None:
    settings = {value for key, value in vars(names).items() if key.isupper() and key == value}
    assert settings - documented_settings() == set()


def refusal(env: dict[str, str]) -> SettingsError:
    with pytest.raises(SettingsError) as raised:
        settings_from(env)
    return raised.value


@pytest.mark.parametrize(("setting", "value"), REFUSED)
def test_a_bad_value_is_refused_naming_its_setting(setting: str, value: str) -> None:
    error = refusal({setting: value})
    assert error.setting == setting
    assert str(error).startswith(f"setting {setting}: expected ")
    assert "\n" not in str(error)


def test_live_settings_refresh_accepts_its_documented_range() -> None:
    assert settings_from({}).live_source.refresh_seconds == 30.0
    for value, seconds in (("0.05", 0.05), ("60", 60.0), ("86400", 86400.0)):
        live_source = settings_from({names.LIVE_SETTINGS_REFRESH_SECONDS: value}).live_source
        assert live_source.refresh_seconds == seconds


def test_the_values_azure_gives_are_accepted() -> None:
    live_source = settings_from(AZURE_APP_SETTINGS).live_source
    assert live_source.app_configuration_endpoint == "https://appcs-abc123.azconfig.io"
    assert live_source.app_configuration_client_id == IKEY
    assert live_source.refresh_seconds == 60.0
    for endpoint in ("https://appcs-x.azconfig.io/", "https://appcs-x.azconfig.azure.cn:443"):
        accepted = settings_from({names.APP_CONFIGURATION_ENDPOINT: endpoint}).live_source
        assert accepted.app_configuration_endpoint == endpoint
    cosmos = settings_from(AZURE_APP_SETTINGS).cosmos
    assert cosmos is not None
    assert cosmos.account_endpoint == "https://cosmos-abc123.documents.azure.com:443/"
    assert cosmos.managed_identity_client_id == IKEY
    system_assigned = {f"{names.COSMOS_CONNECTION}__accountEndpoint": "https://acct.documents.azure.com"}
    assert settings_from(system_assigned).cosmos == CosmosConnection(
        account_endpoint="https://acct.documents.azure.com"
    )


@pytest.mark.parametrize(
    "connection",
    [
        f"InstrumentationKey={IKEY};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;"
        f"LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/;ApplicationId={IKEY}",
        f"instrumentationkey={IKEY}",
        f"InstrumentationKey={IKEY};Authorization=ikey",
        f"InstrumentationKey={IKEY};",  # the exporter cannot split an empty part
        f"InstrumentationKey={IKEY.upper()}",
        f"InstrumentationKey={IKEY};Authorization=AAD",
        f"InstrumentationKey={IKEY};IngestionEndpoint=https://x/?a=b",
        "IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/",
        "garbage",
    ],
)
def test_the_application_insights_connection_is_checked_as_the_exporter_checks_it(
    connection: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The exporter refuses a bad one on the first metric, failing that invocation: at start instead.
    from azure.monitor.opentelemetry.exporter._connection_string_parser import ConnectionStringParser

    for variable in (names.APPLICATIONINSIGHTS_CONNECTION_STRING, "APPINSIGHTS_INSTRUMENTATIONKEY"):
        monkeypatch.delenv(variable, raising=False)
    try:
        ConnectionStringParser(connection)
    except ValueError:
        exporter_takes_it = False
    else:
        exporter_takes_it = True
    env = {names.APPLICATIONINSIGHTS_CONNECTION_STRING: connection}
    if exporter_takes_it:
        assert settings_from(env).application_insights_connection == connection
    else:
        assert refusal(env).setting == names.APPLICATIONINSIGHTS_CONNECTION_STRING


OVERRIDE_FORM = "expected comma-separated 'sensor-id:low:high'"
OVERRIDE_RANGE = "expected low < high, both from -273.15 to 1000"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sensor-3:10", OVERRIDE_FORM),
        ("sensor-3:10:30:40", OVERRIDE_FORM),
        ("../etc:10:30", OVERRIDE_FORM),
        ("sensor-3\n:10:30", OVERRIDE_FORM),  # an id no sensor can have
        ("sensor-3:cold:30", OVERRIDE_FORM),
        ("sensor-3:10:hot", OVERRIDE_FORM),
        ("sensor-3:30:10", OVERRIDE_RANGE),
        ("sensor-3:20:20", OVERRIDE_RANGE),
        ("sensor-3:40:", OVERRIDE_RANGE),  # above the default high, 38
        ("sensor-3::10", OVERRIDE_RANGE),  # below the default low, 16
        ("sensor-3:-274:10", OVERRIDE_RANGE),
        ("sensor-3:10:1001", OVERRIDE_RANGE),
        ("sensor-3:nan:30", OVERRIDE_RANGE),
        ("sensor-3:10:inf", OVERRIDE_RANGE),
        ("sensor-3:10:30,sensor-7::45,sensor-3:1:3", "expected one entry per sensor (got 'sensor-3:1:3')"),
    ],
)
def test_a_bad_alert_override_is_refused_saying_why(value: str, expected: str) -> None:
    error = refusal({names.ALERT_OVERRIDES: value})
    assert error.setting == names.ALERT_OVERRIDES
    assert str(error).startswith(f"setting {names.ALERT_OVERRIDES}: {expected}")
    assert "\n" not in str(error)


def test_good_alert_overrides_are_taken() -> None:
    dashboard = settings_from({names.ALERT_OVERRIDES: " sensor-7::45, sensor-3:10:30 ,"}).dashboard
    assert dashboard.overrides == (("sensor-3", Thresholds(10.0, 30.0)), ("sensor-7", Thresholds(16.0, 45.0)))
    assert settings_from({names.ALERT_OVERRIDES: " "}).dashboard.overrides == ()


EMULATOR = "AccountEndpoint=https://localhost:8081/;AccountKey=a2V5;"


@pytest.mark.parametrize(
    ("value", "switched"),
    [(v, True) for v in ("true", "TRUE", " 1 ", "yes", "on")]
    + [(v, False) for v in ("false", "False", "0", "no", "off")],
)
def test_a_switch_takes_true_and_false_in_their_usual_forms(value: str, switched: bool) -> None:
    switches = {names.COSMOS_VERIFY_TLS: value, names.CREATE_LEASE_CONTAINER: value}
    settings = settings_from({names.COSMOS_CONNECTION: EMULATOR, **switches})
    assert settings.create_lease_container is switched
    assert settings.cosmos is not None and settings.cosmos.verify_tls is switched


def start_local_host(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m local_host` with only `env` set; a bad setting must end it within seconds."""
    return subprocess.run(
        [sys.executable, "-m", "local_host", "--store", str(tmp_path / "p.db")],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PORT": str(free_port()), **env},
        capture_output=True,
        text=True,
        timeout=30,  # a value wrongly accepted leaves the host running: killed here, and the test fails
    )


def test_the_local_host_prints_the_documented_example_line(tmp_path: Path) -> None:
    text = CONFIGURATION.read_text(encoding="utf-8")
    [example] = re.findall(r"e\.g\. `(configuration error: [^`]+)`", text)
    parts = re.fullmatch(r"configuration error: setting (\w+): .* \(got '(.*)'\)", example)
    assert parts is not None, example
    setting, value = parts.groups()
    done = start_local_host(tmp_path, {setting: value})
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [example]
    assert not (tmp_path / "p.db").exists()


@pytest.mark.parametrize(("setting", "value", "expected"), STOPS_THE_LOCAL_HOST)
def test_the_local_host_stops_with_one_line_naming_the_setting(
    tmp_path: Path, setting: str, value: str, expected: str
) -> None:
    done = start_local_host(tmp_path, {setting: value})
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [expected]
    assert not (tmp_path / "p.db").exists()


def test_a_bad_log_setting_changes_nothing_before_it_is_refused() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    for log_format, log_level, setting in (("xml", "INFO", LOG_FORMAT), ("text", "LOUD", LOG_LEVEL)):
        with pytest.raises(SettingsError) as raised:
            configure_logging(log_format, log_level)
        assert raised.value.setting == setting
        assert (root.handlers, root.level) == (handlers, level)


def test_a_bad_environment_value_of_the_local_host_names_the_variable_not_the_option(monkeypatch) -> None:
    monkeypatch.setenv(LOCAL_HEADER_TIMEOUT, "-1")
    with pytest.raises(SettingsError, match=f"^setting {LOCAL_HEADER_TIMEOUT}: "):
        parse_arguments([])
    assert parse_arguments(["--header-timeout", "5"]).header_timeout == 5.0  # the option wins
    monkeypatch.setenv("PORT", "70000")
    with pytest.raises(SettingsError, match="^setting PORT: "):
        parse_arguments(["--header-timeout", "5"])
    assert parse_arguments(["--header-timeout", "5", "--port", "8080"]).port == 8080


def test_a_bad_refresh_interval_is_refused_without_a_warning_that_it_carries_on(monkeypatch, caplog) -> None:
    """`current()` reads the app settings before it builds the live source, so the only word
    about a bad LIVE_SETTINGS_REFRESH_SECONDS is the refusal, not 'using 30.0'."""
    from pipeline import live_settings as live
    from pipeline.settings import load_settings

    monkeypatch.setenv(names.LIVE_SETTINGS_REFRESH_SECONDS, "abc")
    load_settings.cache_clear()
    live.live_settings.cache_clear()
    try:
        with (
            caplog.at_level(logging.WARNING),
            pytest.raises(SettingsError, match="LIVE_SETTINGS_REFRESH_SECONDS"),
        ):
            live.current()
    finally:
        load_settings.cache_clear()
        live.live_settings.cache_clear()
    assert not [record for record in caplog.records if "using" in record.getMessage()]
