"""Live settings: changed while running, applied without a restart; bad values refused, last good kept."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import fields
from pathlib import Path

import httpx
import pytest

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
