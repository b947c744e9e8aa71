"""Settings: defaults and every form of Cosmos connection.

A bad value of each setting, and the one line the local host prints for it: test_settings_refused.py.
"""

from __future__ import annotations

import pytest

from pipeline import names
from pipeline.settings import SettingsError, StoreKind, settings_from


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


def test_the_cosmos_store_without_a_connection_names_the_connection() -> None:
    with pytest.raises(SettingsError, match=f"^setting {names.COSMOS_CONNECTION}: "):
        settings_from({names.PIPELINE_STORE: "cosmos"})


def test_sqlite_is_refused_in_azure() -> None:
    with pytest.raises(SettingsError, match=names.COSMOS_CONNECTION):
        settings_from({"WEBSITE_INSTANCE_ID": "abc123"})
