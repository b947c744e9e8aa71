"""The defaults and limits the README's tables state, as literal numbers.

Other tests use the constants (`MAX_READINGS_PER_REQUEST`, …), so they keep passing when a
constant changes; these fail then, and the README has to change with them.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from generator.http_api import MAX_BODY_BYTES
from generator.ingest import MAX_READINGS_PER_REQUEST
from local_host.server import PROGRESS_SECONDS
from local_host.triggers import FEED_RETRY_MAX_SECONDS
from pipeline.health import FAILURES_UNHEALTHY
from pipeline.live_settings import DEFAULT_REFRESH_SECONDS
from pipeline.readings import MAX_CLOCK_SKEW, MAX_TEMPERATURE, MIN_TEMPERATURE
from pipeline.settings import Thresholds, settings_from
from pipeline.storage.cosmos_client import _RETRY_OPTIONS
from pipeline.storage.sqlite_store import SqliteStore
from tests.test_web_api import seed
from web_app import create_web_app


def test_the_configuration_table_defaults() -> None:
    settings = settings_from({})
    assert settings.cosmos is None and settings.sqlite_path == Path(".data/pipeline.db")
    assert settings.database == "sensor-pipeline"
    assert len(settings.sensor_ids) == 5 and settings.window_size == 10
    assert settings.generator_schedule == "*/10 * * * * *" and settings.generator_seed is None
    assert (settings.generator_timing, settings.generator_speed) == ("poisson", 1.0)
    assert settings.temperature_model == "uniform"
    assert (settings.dashboard_poll_seconds, settings.chart_points) == (2.0, 50)
    assert settings.health_max_feed_lag_seconds == 0.0
    dashboard = settings.dashboard
    assert (dashboard.sensor_interval_seconds, dashboard.stale_after_missed_intervals) == (10.0, 6)
    assert dashboard.stale_after_seconds == 60.0
    assert dashboard.thresholds == Thresholds(low=16.0, high=38.0) and dashboard.overrides == ()
    assert DEFAULT_REFRESH_SECONDS == 30.0
    verified = settings_from({"COSMOS_CONNECTION": "AccountEndpoint=https://x/;AccountKey=a2V5;"})
    assert verified.cosmos is not None and verified.cosmos.verify_tls is True


def test_the_ingest_limits() -> None:
    assert MAX_READINGS_PER_REQUEST == 1000
    assert MAX_BODY_BYTES == 1_000_000  # "at most 1 MB (1,000,000 bytes); over it → 413"
    assert (MIN_TEMPERATURE, MAX_TEMPERATURE) == (-100.0, 100.0)
    assert MAX_CLOCK_SKEW == timedelta(minutes=5)


def test_the_fault_handling_numbers() -> None:
    assert FAILURES_UNHEALTHY == 3  # a function failing 3 times in a row is named by health
    assert (_RETRY_OPTIONS["retry_total"], _RETRY_OPTIONS["retry_backoff_max"]) == (9, 30)  # 429s
    assert FEED_RETRY_MAX_SECONDS == 5.0 and PROGRESS_SECONDS == 5.0  # "every ≤ 5 s", "every 5 s"


@pytest.fixture
def client(sqlite_store: SqliteStore) -> TestClient:
    seed(sqlite_store, sensors=("sensor-1",), count=60)
    return TestClient(create_web_app(store=sqlite_store, settings=settings_from({})))


@pytest.mark.parametrize("kind", ["summaries", "readings"])
def test_list_limits_default_50_from_1_to_500(client: TestClient, kind: str) -> None:
    path = f"/api/sensors/sensor-1/{kind}"
    if kind == "readings":
        assert len(client.get(path).json()) == 50
    assert len(client.get(path, params={"limit": 1}).json()) == 1
    assert client.get(path, params={"limit": 500}).status_code == 200
    assert client.get(path, params={"limit": 0}).status_code == 400
    assert client.get(path, params={"limit": 501}).status_code == 400


def test_at_most_100_ids_per_sensors_request(client: TestClient) -> None:
    ids = ",".join(["sensor-1"] + [f"s-{n}" for n in range(99)])
    assert client.get("/api/sensors", params={"ids": ids}).status_code == 200
    assert client.get("/api/sensors", params={"ids": ids + ",s-99"}).status_code == 400
