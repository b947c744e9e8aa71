"""Promised numbers, boundaries on both sides and failure paths that no other test pins.

Each test names the promise it holds (README, docs/); docs/testing.md lists them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx
import pytest
from azure.cosmos.exceptions import CosmosHttpResponseError

from local_host.http_gateway import FunctionsHttpGateway, allowed_host_names
from local_host.triggers import RetryPolicy
from pipeline.circuit import GuardedStore
from pipeline.health import HealthReport
from pipeline.live_settings import LiveSettings
from pipeline.readings import Reading, Summary, format_timestamp
from pipeline.settings import Thresholds, settings_from
from pipeline.storage import Publication, ReadingConflict, Store, StoreUnavailable
from pipeline.storage.cosmos_store import CosmosStore
from tests.servers import BATCH_MAX_OPERATIONS, ROOT, registered_functions, serve_app
from visualiser.alerts import threshold_alert


def test_the_summariser_retries_8_times_backing_off_from_1_to_60_seconds() -> None:
    function = registered_functions()["summarise_readings"]
    assert function.get_settings_dict("retry_policy") == {
        "setting_name": "retry_policy",
        "strategy": "exponential_backoff",
        "max_retry_count": "8",
        "minimum_interval": "00:00:01",
        "maximum_interval": "00:01:00",
    }
    policy = RetryPolicy.of(function)  # what the local host honours
    assert policy.max_retry_count == 8
    assert [policy.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_the_breaker_defaults_are_5_failures_and_10_seconds(sqlite_store: Store) -> None:
    settings = settings_from({})
    assert (settings.store_breaker_failures, settings.store_breaker_cooldown_seconds) == (5, 10.0)
    breaker = GuardedStore(sqlite_store).breaker
    assert (breaker.fail_max, breaker.reset_timeout) == (5, 10.0)
    for name, bad in (("STORE_BREAKER_FAILURES", "0"), ("STORE_BREAKER_COOLDOWN_SECONDS", "0")):
        with pytest.raises(ValueError, match=name):
            settings_from({name: bad})


def test_the_feed_lag_limit_is_exclusive_and_0_switches_it_off() -> None:
    def failing(lag: float, limit: float) -> list[str]:
        return HealthReport("ok", {}, lag, limit).failing

    assert failing(120.0, 120.0) == []
    assert failing(120.001, 120.0) == ["feed_lag"]
    assert failing(12.5, 12.0) == ["feed_lag"] and failing(11.9, 12.0) == []
    assert failing(10**6, 0.0) == []  # off by default
    assert settings_from({}).health_max_feed_lag_seconds == 0.0


def test_azure_sets_the_health_lag_limit_to_the_feed_lag_alert_threshold_of_120_seconds() -> None:
    main = (ROOT / "infra" / "main.bicep").read_text()
    assert "HEALTH_MAX_FEED_LAG_SECONDS: string(feedLagThresholdSeconds)" in main
    assert re.search(r"^param feedLagThresholdSeconds int = 120$", main, re.MULTILINE)
    parameters = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]
    assert parameters["feedLagThresholdSeconds"]["value"] == "${FEED_LAG_THRESHOLD_SECONDS=120}"


def summary(sensor: str, average: float) -> Summary:
    return Summary(f"{sensor}-x", sensor, "2026-12-01T00:00:00.000Z", average, average, average, 10)


@pytest.mark.parametrize(
    ("average", "kind"),
    [(38.0, None), (38.01, "high"), (16.0, None), (15.99, "low"), (27.0, None)],
)
def test_an_alert_is_strictly_above_high_or_below_low(average: float, kind: str | None) -> None:
    dashboard = settings_from({}).dashboard  # 16 and 38 °C by default
    alert = threshold_alert(summary("sensor-1", average), dashboard)
    assert (alert.kind if alert else None) == kind


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("sensor-3::45", Thresholds(16.0, 45.0)),
        ("sensor-3:10:", Thresholds(10.0, 38.0)),
        ("sensor-3::", Thresholds(16.0, 38.0)),
        ("sensor-3: :30", Thresholds(16.0, 30.0)),
    ],
)
def test_an_empty_part_of_an_override_keeps_the_default(override: str, expected: Thresholds) -> None:
    dashboard = settings_from({"ALERT_OVERRIDES": override}).dashboard
    assert dashboard.thresholds_for("sensor-3") == expected
    assert dashboard.thresholds_for("sensor-4") == Thresholds(16.0, 38.0)
    hot = threshold_alert(summary("sensor-3", expected.high + 0.01), dashboard)
    assert hot is not None and (hot.low, hot.high) == (expected.low, expected.high)


def test_a_reading_differing_by_a_thousandth_of_a_degree_is_a_conflict(store: Store) -> None:
    moment = format_timestamp(datetime(2026, 12, 1, tzinfo=UTC))
    store.put_readings([Reading("r-1", "sensor-1", 20.0, moment).to_document()])
    with pytest.raises(ReadingConflict):
        store.put_readings([Reading("r-1", "sensor-1", 20.001, moment).to_document()])
    with pytest.raises(ReadingConflict):
        store.put_readings([Reading("r-1", "sensor-1", 19.999, moment).to_document()])
    assert store.put_readings([Reading("r-1", "sensor-1", 20, moment).to_document()]) == 1  # a retry
    assert [r.temperature for r in store.recent_readings("sensor-1", 10)] == [20.0]


class FlakySource:
    """A live-settings source that answers once, then is unreachable."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values, self.reads = values, 0

    def read(self) -> Mapping[str, str]:
        self.reads += 1
        if self.reads > 1:
            raise ConnectionError("App Configuration unreachable")
        return self.values


def test_an_unreachable_live_settings_source_keeps_the_last_good_values() -> None:
    now = [0.0]
    source = FlakySource({"CHART_POINTS": "80", "ALERT_HIGH_CELSIUS": "30"})
    live = LiveSettings(source, refresh_seconds=5, clock=lambda: now[0], env={})
    base = settings_from({})
    assert live.apply(base).chart_points == 80
    for _ in range(3):
        now[0] += 6  # due again: the source fails each time
        applied = live.apply(base)
        assert (applied.chart_points, applied.dashboard.thresholds.high) == (80, 30.0)
    assert source.reads == 4


def test_a_compare_and_swap_that_keeps_losing_raises_instead_of_giving_up_silently(
    cosmos_store: CosmosStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer moves the pointer before each of our swaps: after its retries, publish raises."""
    rival = CosmosStore(cosmos_store._client, cosmos_store._database_name)
    window = (Reading("r-1", "sensor-1", 20.0, "2026-12-01T00:00:01.000Z"),)
    first = Summary("sensor-1-1", "sensor-1", window[0].timestamp, 20.0, 20.0, 20.0, 1)
    assert rival.publish([Publication(first, window, None)])[0] is not None
    swap, swaps = cosmos_store._swap_pointer, []

    def losing(*arguments):
        rival.publish([Publication(first, window, None)])  # touches the pointer: a new version
        swaps.append(1)
        return swap(*arguments)

    monkeypatch.setattr(cosmos_store, "_swap_pointer", losing)
    newer = Summary("sensor-1-2", "sensor-1", "2026-12-01T00:00:02.000Z", 21.0, 20.0, 20.5, 2)
    with pytest.raises(StoreUnavailable, match="kept changing"):
        cosmos_store.publish([Publication(newer, window, None)])
    assert len(swaps) == 8


def test_the_test_server_refuses_a_batch_of_101_operations_as_cosmos_db_does(
    cosmos_store: CosmosStore,
) -> None:
    container = cosmos_store._readings

    def batch(count: int) -> list:
        return [
            ("create", ({"id": f"b{count}-{n}", "sensor_id": "dev-1", "temperature": 1.0},))
            for n in range(count)
        ]

    assert len(container.execute_item_batch(batch(BATCH_MAX_OPERATIONS), partition_key="dev-1")) == 100
    with pytest.raises(CosmosHttpResponseError) as refused:
        container.execute_item_batch(batch(BATCH_MAX_OPERATIONS + 1), partition_key="dev-1")
    assert refused.value.status_code == 400


def test_many_readings_of_one_sensor_go_in_batches_of_at_most_100(cosmos_store: CosmosStore) -> None:
    moment = datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    documents = [
        Reading(
            f"r-{n}", "dev-1", 20.0, format_timestamp(datetime.fromtimestamp(moment + n, UTC))
        ).to_document()
        for n in range(250)
    ]
    assert cosmos_store.put_readings(documents) == 250
    assert cosmos_store.meter.requests["batch"] == 3  # 100 + 100 + 50
    assert len(cosmos_store.recent_readings("dev-1", 500)) == 250


def test_the_host_check_ignores_case(tmp_path) -> None:
    gateway = FunctionsHttpGateway([], allowed_host_names("127.0.0.1", ["DevBox.Internal"]))
    with serve_app(gateway) as url:
        port = url.rsplit(":", 1)[1]

        def status(host: str) -> int:
            return httpx.get(f"{url}/no-such-route", headers={"Host": host}).status_code

        # Not refused (403): answered, with 404 as nothing is served at that path.
        assert status(f"LOCALHOST:{port}") == status(f"localhost:{port}") == 404
        assert status("devbox.internal") == status("DEVBOX.INTERNAL") == 404
        assert status(f"attacker.example:{port}") == 403
