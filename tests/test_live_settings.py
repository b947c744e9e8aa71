"""Live settings: changed while running, applied without a restart; bad values refused, last good kept."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import ServiceRequestError
from azure.functions.timer import TimerRequest

from local_host.triggers import CollectingOut, LocalContext
from pipeline import live_settings as live_module
from pipeline import names
from pipeline.live_settings import (
    LIVE_SETTINGS,
    AppConfigurationSource,
    FileSource,
    LiveSettings,
    live_settings_from,
    parse_live_value,
)
from pipeline.settings import SettingsError, settings_from
from tests.checks import eventually
from tests.servers import local_host


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, values: dict) -> None:
    path.write_text(json.dumps(values))


@pytest.fixture
def live(tmp_path) -> tuple[LiveSettings, Path, Clock]:
    path, clock = tmp_path / "live.json", Clock()
    return LiveSettings(FileSource(path), refresh_seconds=5, clock=clock), path, clock


def test_every_live_setting_is_a_setting_parsed_by_the_app_setting_rules() -> None:
    settings_fields = {field.name for field in fields(settings_from({}))}
    for name, field in LIVE_SETTINGS.items():
        assert field in settings_fields, name
        assert getattr(names, name) == name  # declared once, in pipeline.names
    assert parse_live_value(names.CHART_POINTS, "80") == 80
    with pytest.raises(SettingsError, match=names.CHART_POINTS):
        parse_live_value(names.CHART_POINTS, "501")  # the app setting's own bounds
    with pytest.raises(SettingsError, match=names.SENSOR_COUNT):
        parse_live_value(names.SENSOR_COUNT, "7")  # not safe to change while running


def test_a_changed_file_is_applied_on_the_next_refresh(live) -> None:
    settings, path, clock = live
    base = settings_from({})
    assert settings.apply(base) == base  # no file yet: the app settings, exactly
    write(path, {names.CHART_POINTS: 80, names.GENERATOR_TIMING: "uniform"})
    assert settings.apply(base).chart_points == base.chart_points  # not due yet
    clock.now = 5
    applied = settings.apply(base)
    assert (applied.chart_points, applied.generator_timing) == (80, "uniform")
    assert applied.dashboard_poll_seconds == base.dashboard_poll_seconds


def test_a_bad_value_is_refused_by_name_and_the_last_good_one_stays(live, caplog) -> None:
    settings, path, clock = live
    base = settings_from({})
    write(path, {names.DASHBOARD_POLL_SECONDS: "5"})
    assert settings.apply(base).dashboard_poll_seconds == 5.0
    write(path, {names.DASHBOARD_POLL_SECONDS: "soon", names.CHART_POINTS: "60"})
    clock.now = 5
    with caplog.at_level(logging.WARNING, logger="pipeline.live_settings"):
        applied = settings.apply(base)
    assert applied.dashboard_poll_seconds == 5.0  # the last good value
    assert applied.chart_points == 60  # a good value beside a bad one still applies
    [refusal] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusal.startswith(f"live setting {names.DASHBOARD_POLL_SECONDS} refused")
    assert "'soon'" in refusal and "keeping 5" in refusal


def test_a_removed_key_falls_back_to_the_app_setting_and_a_broken_file_changes_nothing(live, caplog) -> None:
    settings, path, clock = live
    base = settings_from({names.CHART_POINTS: "40"})
    write(path, {names.CHART_POINTS: "90"})
    assert settings.apply(base).chart_points == 90
    path.write_text('{"CHART_POINTS": ')  # half written
    clock.now = 5
    assert settings.apply(base).chart_points == 90
    write(path, {})
    clock.now = 10
    assert settings.apply(base).chart_points == 40


def test_settings_checked_together_are_checked_with_the_app_settings(tmp_path, caplog) -> None:
    path, clock = tmp_path / "live.json", Clock()
    env = {names.ALERT_LOW_CELSIUS: "10", names.ALERT_HIGH_CELSIUS: "30"}
    settings = LiveSettings(FileSource(path), refresh_seconds=5, clock=clock, env=env)
    base = settings_from(env)
    write(path, {names.ALERT_HIGH_CELSIUS: "35", names.STALE_AFTER_MISSED_INTERVALS: "3"})
    dashboard = settings.apply(base).dashboard
    assert (dashboard.thresholds.low, dashboard.thresholds.high) == (10.0, 35.0)  # low from the app setting
    assert dashboard.stale_after_missed_intervals == 3
    write(
        path,
        {
            names.ALERT_HIGH_CELSIUS: "35",
            names.STALE_AFTER_MISSED_INTERVALS: "3",
            names.ALERT_LOW_CELSIUS: "40",
        },
    )
    clock.now = 5
    with caplog.at_level(logging.WARNING, logger="pipeline.live_settings"):
        dashboard = settings.apply(base).dashboard
    assert (dashboard.thresholds.low, dashboard.thresholds.high) == (10.0, 35.0)  # 40 > 35: refused
    assert any(
        r.getMessage().startswith(f"live setting {names.ALERT_LOW_CELSIUS} refused") for r in caplog.records
    )


def test_the_environment_chooses_the_source(tmp_path) -> None:
    assert live_settings_from({}).source is None
    from_file = live_settings_from({names.LIVE_SETTINGS_FILE: str(tmp_path / "x.json")})
    assert isinstance(from_file.source, FileSource)
    both = live_settings_from(
        {names.LIVE_SETTINGS_FILE: "x.json", names.APP_CONFIGURATION_ENDPOINT: "https://a.azconfig.io"}
    )
    assert isinstance(both.source, AppConfigurationSource)
    assert both.source.endpoint == "https://a.azconfig.io"


def test_an_unreachable_app_configuration_keeps_the_app_settings(caplog) -> None:
    # No managed identity endpoint here: the provider fails for real, the app carries on.
    settings = LiveSettings(AppConfigurationSource("https://127.0.0.1:9", None, 1), refresh_seconds=60)
    base = settings_from({})
    with caplog.at_level(logging.WARNING, logger="pipeline.live_settings"):
        assert settings.apply(base) == base
    assert any("live settings unavailable" in r.getMessage() for r in caplog.records)


class TickClock:
    """One fake time for the generator's `datetime.now` and the live settings' refresh clock."""

    start = datetime(2026, 1, 1, tzinfo=UTC)

    def __init__(self) -> None:
        self.now = self.start

    def __call__(self) -> float:
        return (self.now - self.start).total_seconds()

    def datetime(self) -> type[datetime]:
        clock = self

        class Now(datetime):
            @classmethod
            def now(cls, tz=None):  # type: ignore[override]
                return clock.now

        return Now


def test_a_changed_generator_speed_reaches_the_running_simulation_between_two_ticks(
    tmp_path, monkeypatch, caplog
) -> None:
    import generator.bindings as bindings

    live_file = tmp_path / "live.json"
    write(live_file, {names.GENERATOR_TIMING: "uniform", names.GENERATOR_SPEED: 1})
    for name, value in (
        (names.LIVE_SETTINGS_FILE, str(live_file)),
        (names.LIVE_SETTINGS_REFRESH_SECONDS, "30"),
    ):
        monkeypatch.setenv(name, value)
    # The process's live settings, built from the environment as the app builds them, on a
    # clock the test moves: a refresh is due once 30 s have passed since the last.
    live_module.live_settings.cache_clear()
    clock = TickClock()
    monkeypatch.setattr(live_module.live_settings(), "_clock", clock)
    monkeypatch.setattr(bindings, "datetime", clock.datetime())
    monkeypatch.setattr(bindings, "_simulation", None)

    def tick(seconds: int) -> dict[str, int]:
        """Readings per sensor of one timer invocation, `seconds` after the previous one."""
        clock.now += timedelta(seconds=seconds)
        out = CollectingOut()
        bindings.generate_readings(TimerRequest(past_due=False), out, LocalContext("generate_readings"))
        return Counter(document["sensor_id"] for document in out.get())

    try:
        tick(0)  # the first tick builds the simulation
        simulation = bindings.simulation()
        assert (simulation.timing, simulation.speed) == ("uniform", 1.0)
        sensors = len(simulation.sensor_ids)  # the app settings' sensors (process-wide, cached)
        # Uniform timing: gaps of 1 to 10 s divided by the speed, so 100 s hold at most 101
        # readings per sensor at speed 1 and at least 999 at speed 100 (hard bounds, not odds).
        slow = tick(100)
        assert len(slow) == sensors and max(slow.values()) <= 101, slow
        write(live_file, {names.GENERATOR_TIMING: "uniform", names.GENERATOR_SPEED: 100})
        fast = tick(100)
        assert bindings.simulation() is simulation  # changed in place, not rebuilt
        assert simulation.speed == 100.0
        assert len(fast) == sensors and min(fast.values()) >= 999, fast
        # A bad speed is refused by name; the running simulation keeps the last good one.
        write(live_file, {names.GENERATOR_TIMING: "poisson", names.GENERATOR_SPEED: 0})
        with caplog.at_level(logging.WARNING, logger="pipeline.live_settings"):
            tick(100)
        assert (simulation.timing, simulation.speed) == ("poisson", 100.0)  # timing applied too
        assert any(
            r.getMessage().startswith(f"live setting {names.GENERATOR_SPEED} refused") for r in caplog.records
        )
    finally:
        live_module.live_settings.cache_clear()  # the next user builds from its own environment


class AppConfigurationStore:
    """What an App Configuration store holds now, and whether it answers."""

    def __init__(self, values: dict[str, object]) -> None:
        self.values = values
        self.reachable = True
        self.loads: list[dict] = []


class StubProvider(Mapping):
    """Stands in for the provider's network calls only: loads and refreshes copy the store.

    Like the real provider (azure-appconfiguration-provider 2.5), a failed refresh is passed
    to `on_refresh_error` and the values it had stay.
    """

    def __init__(self, store: AppConfigurationStore, on_refresh_error) -> None:
        self._store = store
        self._on_refresh_error = on_refresh_error
        self._values = dict(store.values)

    def refresh(self) -> None:
        if not self._store.reachable:
            self._on_refresh_error(ServiceRequestError("store unreachable"))
            return
        self._values = dict(self._store.values)

    def __getitem__(self, key: str) -> object:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def test_a_value_changed_in_app_configuration_is_used_after_the_refresh_interval(monkeypatch, caplog) -> None:
    import azure.appconfiguration.provider as provider

    store = AppConfigurationStore({names.CHART_POINTS: "80"})

    def load(**kwargs) -> StubProvider:
        store.loads.append(kwargs)
        return StubProvider(store, kwargs["on_refresh_error"])

    monkeypatch.setattr(provider, "load", load)
    chosen = live_settings_from(
        {
            names.APP_CONFIGURATION_ENDPOINT: "https://appcs-x.azconfig.io",
            names.APP_CONFIGURATION_CLIENT_ID: "00000000-0000-0000-0000-000000000001",
            names.LIVE_SETTINGS_REFRESH_SECONDS: "60",
        }
    )
    assert isinstance(chosen.source, AppConfigurationSource)
    clock = Clock()
    settings = LiveSettings(chosen.source, refresh_seconds=60, clock=clock, env={})
    base = settings_from({})

    assert settings.apply(base).chart_points == 80
    [loaded] = store.loads
    assert loaded["endpoint"] == "https://appcs-x.azconfig.io"
    assert loaded["refresh_enabled"] is True and loaded["refresh_interval"] == 60
    assert type(loaded["credential"]).__name__ == "ManagedIdentityCredential"  # no keys

    store.values = {names.CHART_POINTS: 120}  # a JSON content type comes back typed
    clock.now = 59
    assert settings.apply(base).chart_points == 80  # not due yet
    clock.now = 60
    assert settings.apply(base).chart_points == 120  # the new value, no restart
    assert len(store.loads) == 1  # refreshed, not loaded again

    store.values = {names.CHART_POINTS: "many", names.GENERATOR_SPEED: "2"}
    clock.now = 120
    with caplog.at_level(logging.WARNING, logger="pipeline.live_settings"):
        applied = settings.apply(base)
    assert (applied.chart_points, applied.generator_speed) == (120, 2.0)
    [refusal] = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refusal.startswith(f"live setting {names.CHART_POINTS} refused")
    assert "'many'" in refusal and refusal.endswith("keeping 120")

    caplog.clear()
    store.reachable, store.values = False, {names.CHART_POINTS: "90"}
    clock.now = 180
    with caplog.at_level(logging.WARNING, logger="pipeline.live_settings"):
        assert settings.apply(base).chart_points == 120  # the last good value while it is down
    assert any("App Configuration refresh failed" in r.getMessage() for r in caplog.records)
    store.reachable = True
    clock.now = 240
    assert settings.apply(base).chart_points == 90


@pytest.mark.slow
def test_a_live_setting_changed_while_the_local_host_runs(tmp_path, monkeypatch) -> None:
    live_file = tmp_path / "live.json"
    write(live_file, {})
    monkeypatch.setenv(names.LIVE_SETTINGS_FILE, str(live_file))
    monkeypatch.setenv(names.LIVE_SETTINGS_REFRESH_SECONDS, "0.1")
    monkeypatch.setenv(names.DASHBOARD_POLL_SECONDS, "2")

    def page(url: str, attribute: str = "poll-ms") -> int:
        return int(re.search(rf'data-{attribute}="(\d+)"', httpx.get(url).text).group(1))

    def poll_ms(url: str) -> int:
        return page(url)

    with local_host(tmp_path, "--no-generator") as host:
        started_pid = host.process.pid
        assert poll_ms(host.url) == 2000
        assert page(host.url, "stale-ms") == 60_000  # 6 missed intervals of 10 s
        write(live_file, {names.DASHBOARD_POLL_SECONDS: "5", names.STALE_AFTER_MISSED_INTERVALS: "3"})
        eventually(lambda: poll_ms(host.url) == 5000, 15, "the new poll interval served")
        assert page(host.url, "stale-ms") == 30_000  # the dashboard's settings join too
        write(live_file, {names.DASHBOARD_POLL_SECONDS: "-1", names.STALE_AFTER_MISSED_INTERVALS: "3"})
        # Requests drive the refresh; each must still see the last good value.
        eventually(
            lambda: (
                poll_ms(host.url) == 5000
                and f"live setting {names.DASHBOARD_POLL_SECONDS} refused" in host.log()
            ),
            15,
            "the refusal logged, the last good value served",
        )
        assert host.process.pid == started_pid and host.process.poll() is None  # no restart
    assert "got '-1'" in host.log()
