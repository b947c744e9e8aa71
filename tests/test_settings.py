"""Settings: defaults, every form of Cosmos connection, and one clear line per bad value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline import names
from pipeline.settings import SettingsError, StoreKind, settings_from
from tests.servers import ROOT


def test_defaults_run_locally_on_the_embedded_store() -> None:
    settings = settings_from({})

    assert settings.store is StoreKind.SQLITE
    assert settings.sensor_ids == ("sensor-1", "sensor-2", "sensor-3", "sensor-4", "sensor-5")
    assert settings.window_size == 10
    assert settings.generator_schedule == "*/10 * * * * *"
    assert settings.dashboard_poll_seconds == 2.0
    assert settings.chart_points == 50
    assert (settings.readings_container, settings.summaries_container) == ("readings", "summaries")
    assert (settings.leases_container, settings.deadletter_container) == ("leases", "deadletter")
    assert settings.create_lease_container is False


def test_connection_string_selects_cosmos() -> None:
    settings = settings_from(
        {
            names.COSMOS_CONNECTION: "AccountEndpoint=https://localhost:8081/;AccountKey=abc==;",
        }
    )
    assert settings.store is StoreKind.COSMOS
    assert settings.cosmos is not None
    assert settings.cosmos.connection_string is not None


def test_managed_identity_form_needs_no_key() -> None:
    settings = settings_from(
        {
            "COSMOS_CONNECTION__accountEndpoint": "https://acct.documents.azure.com:443/",
            "COSMOS_CONNECTION__credential": "managedidentity",
            "COSMOS_CONNECTION__clientId": "00000000-1111-2222-3333-444444444444",
        }
    )
    assert settings.store is StoreKind.COSMOS
    assert settings.cosmos is not None
    assert settings.cosmos.account_endpoint == "https://acct.documents.azure.com:443/"
    assert settings.cosmos.managed_identity_client_id == "00000000-1111-2222-3333-444444444444"
    assert settings.cosmos.connection_string is None


def test_explicit_sensor_ids() -> None:
    assert settings_from({names.SENSOR_IDS: "hall, kitchen ,roof"}).sensor_ids == (
        "hall",
        "kitchen",
        "roof",
    )


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (names.WINDOW_SIZE, "abc"),
        (names.WINDOW_SIZE, "0"),
        (names.SENSOR_COUNT, "-3"),
        (names.SENSOR_IDS, "ok,../etc"),
        (names.SENSOR_IDS, "a,a"),
        (names.GENERATOR_SCHEDULE, "*/10 * * * *"),
        (names.GENERATOR_TIMING, "sometimes"),
        (names.DASHBOARD_POLL_SECONDS, "nan"),
        (names.CHART_POINTS, "1e9"),
        (names.CREATE_LEASE_CONTAINER, "maybe"),
        (names.READINGS_CONTAINER, "bad/name"),
        (names.COSMOS_CONNECTION, "not a connection string"),
        ("COSMOS_CONNECTION__accountEndpoint", "http://insecure:8081/"),
        (names.PIPELINE_STORE, "cosmos"),
    ],
)
def test_a_bad_value_names_its_setting(setting: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        settings_from({setting: value})
    message = str(raised.value)
    assert message.startswith("setting ")
    expected_setting = names.COSMOS_CONNECTION if setting == names.PIPELINE_STORE else setting
    assert expected_setting in message
    assert "\n" not in message


def test_sqlite_is_refused_in_azure() -> None:
    with pytest.raises(SettingsError, match=names.COSMOS_CONNECTION):
        settings_from({"WEBSITE_INSTANCE_ID": "abc123"})


def test_local_host_fails_at_start_with_one_line_naming_the_setting(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local_host", "--port", "7999", "--store", str(tmp_path / "x.db")],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", names.WINDOW_SIZE: "abc"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "configuration error: setting WINDOW_SIZE: expected a whole number from 1 to 1000 (got 'abc')"
    ]
    assert not (tmp_path / "x.db").exists()
