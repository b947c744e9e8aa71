"""Typed, immutable application settings read from environment / app settings.

The setting names are the ones the Functions bindings use as `%NAME%` expressions
(see `pipeline.names`), so one value drives both the host's bindings and our code.
Parsing happens when `load_settings()` is first called, never at import time: in
Azure an import that raises shows as "0 functions loaded" with no error at all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path

from pipeline import names
from pipeline.readings import SENSOR_ID_PATTERN
from pipeline.setting_parsers import (
    SettingsError,
    application_insights_setting,
    bool_setting,
    choice_setting,
    client_id_setting,
    container_setting,
    endpoint_setting,
    float_setting,
    int_setting,
    text_setting,
)


class StoreKind(StrEnum):
    SQLITE = "sqlite"
    COSMOS = "cosmos"


@dataclass(frozen=True)
class CosmosConnection:
    """How to reach Cosmos DB: a connection string (emulator) or an endpoint plus identity."""

    connection_string: str | None = None
    account_endpoint: str | None = None
    managed_identity_client_id: str | None = None
    verify_tls: bool = True


# --- Dashboard: staleness and alert thresholds (one block; see _dashboard below) ---
@dataclass(frozen=True)
class Thresholds:
    """A sensor is in alert when its latest average is above `high` or below `low` (°C)."""

    low: float
    high: float


@dataclass(frozen=True)
class DashboardSettings:
    """When a sensor counts as stale, and the thresholds that put it into alert."""

    sensor_interval_seconds: float = 10.0
    stale_after_missed_intervals: int = 6
    thresholds: Thresholds = Thresholds(low=16.0, high=38.0)
    overrides: tuple[tuple[str, Thresholds], ...] = ()

    @property
    def stale_after_seconds(self) -> float:
        return self.sensor_interval_seconds * self.stale_after_missed_intervals

    def thresholds_for(self, sensor_id: str) -> Thresholds:
        return dict(self.overrides).get(sensor_id, self.thresholds)


@dataclass(frozen=True)
class LiveSource:
    """Where live settings come from and how often they are checked (`pipeline.live_settings`)."""

    app_configuration_endpoint: str | None = None
    app_configuration_client_id: str | None = None
    file: Path | None = None
    refresh_seconds: float = names.DEFAULT_LIVE_SETTINGS_REFRESH_SECONDS


@dataclass(frozen=True)
class Settings:
    store: StoreKind
    sqlite_path: Path
    cosmos: CosmosConnection | None
    database: str
    readings_container: str
    summaries_container: str
    leases_container: str
    deadletter_container: str
    create_lease_container: bool
    sensor_ids: tuple[str, ...]
    window_size: int
    generator_schedule: str
    generator_seed: int | None
    generator_timing: str
    generator_speed: float
    temperature_model: str
    dashboard_poll_seconds: float
    chart_points: int
    health_max_feed_lag_seconds: float
    dashboard: DashboardSettings = DashboardSettings()
    feed_poll_delay_ms: int = names.DEFAULT_FEED_POLL_DELAY_MS
    max_items_per_invocation: int = names.DEFAULT_MAX_ITEMS_PER_INVOCATION
    # Read side (docs/http-api.md, "Freshness"): a copy of the latest summaries is refreshed
    # in the background after `read_refresh_seconds` and never served `read_max_age_seconds` old.
    read_refresh_seconds: float = names.DEFAULT_READ_REFRESH_SECONDS
    read_max_age_seconds: float = names.DEFAULT_READ_MAX_AGE_SECONDS
    retention: Retention = field(default_factory=lambda: Retention())
    store_breaker_failures: int = names.DEFAULT_STORE_BREAKER_FAILURES
    store_breaker_cooldown_seconds: float = names.DEFAULT_STORE_BREAKER_COOLDOWN_SECONDS
    live_source: LiveSource = LiveSource()
    application_insights_connection: str | None = None


_NCRONTAB_WITH_SECONDS = re.compile(r"^\S+( \S+){5}$")


def _sensor_ids(env: Mapping[str, str]) -> tuple[str, ...]:
    explicit = env.get(names.SENSOR_IDS, "").strip()
    if explicit:
        ids = tuple(part.strip() for part in explicit.split(",") if part.strip())
        bad = [sid for sid in ids if not SENSOR_ID_PATTERN.fullmatch(sid)]
        if not ids or bad:
            raise SettingsError(
                names.SENSOR_IDS, "comma-separated ids of letters, digits, '.', '_' or '-'", explicit
            )
        if len(set(ids)) != len(ids):
            raise SettingsError(names.SENSOR_IDS, "ids without repeats", explicit)
        return ids
    count = int_setting(env, names.SENSOR_COUNT, 5, 1, 100_000)
    return tuple(f"sensor-{n}" for n in range(1, count + 1))


def _cosmos(env: Mapping[str, str]) -> CosmosConnection | None:
    connection_string = env.get(names.COSMOS_CONNECTION, "").strip()
    endpoint = endpoint_setting(
        env, f"{names.COSMOS_CONNECTION}__accountEndpoint", "https://<account>.documents.azure.com:443/"
    )
    client_id = client_id_setting(env, f"{names.COSMOS_CONNECTION}__clientId")
    credential = env.get(f"{names.COSMOS_CONNECTION}__credential", "").strip()
    if credential and credential.lower() != "managedidentity":
        # The only value the Functions host takes; it is read there, not here.
        raise SettingsError(f"{names.COSMOS_CONNECTION}__credential", "managedidentity", credential)
    verify = bool_setting(env, names.COSMOS_VERIFY_TLS, True)
    if connection_string:
        parts = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
        if not parts.get("AccountEndpoint") or not parts.get("AccountKey"):
            raise SettingsError(
                names.COSMOS_CONNECTION,
                "'AccountEndpoint=https://...;AccountKey=...;' (the emulator's connection string)",
                connection_string[:40] + "...",
            )
        return CosmosConnection(connection_string=connection_string, verify_tls=verify)
    if endpoint:
        return CosmosConnection(
            account_endpoint=endpoint, managed_identity_client_id=client_id, verify_tls=verify
        )
    return None


def _overrides(env: Mapping[str, str], default: Thresholds) -> tuple[tuple[str, Thresholds], ...]:
    """`sensor-3:10:30,sensor-7::45`: per sensor `low:high`, an empty part keeps the default."""
    raw = env.get(names.ALERT_OVERRIDES, "").strip()
    expected = "comma-separated 'sensor-id:low:high' (an empty low or high keeps the default)"
    overrides: dict[str, Thresholds] = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        parts = entry.split(":")
        if len(parts) != 3 or not SENSOR_ID_PATTERN.fullmatch(parts[0]):
            raise SettingsError(names.ALERT_OVERRIDES, expected, entry)
        if parts[0] in overrides:
            raise SettingsError(names.ALERT_OVERRIDES, "one entry per sensor", entry)
        try:
            low = float(parts[1]) if parts[1].strip() else default.low
            high = float(parts[2]) if parts[2].strip() else default.high
        except ValueError:
            raise SettingsError(names.ALERT_OVERRIDES, expected, entry) from None
        if not -273.15 <= low < high <= 1000:  # also rejects NaN
            raise SettingsError(names.ALERT_OVERRIDES, "low < high, both from -273.15 to 1000 °C", entry)
        overrides[parts[0]] = Thresholds(low, high)
    return tuple(sorted(overrides.items()))


def _dashboard(env: Mapping[str, str]) -> DashboardSettings:
    thresholds = Thresholds(
        low=float_setting(env, names.ALERT_LOW_CELSIUS, 16.0, -273.15, 1000.0),
        high=float_setting(env, names.ALERT_HIGH_CELSIUS, 38.0, -273.15, 1000.0),
    )
    if thresholds.low >= thresholds.high:
        raise SettingsError(
            names.ALERT_HIGH_CELSIUS, f"a number above {names.ALERT_LOW_CELSIUS}", str(thresholds.high)
        )
    return DashboardSettings(
        sensor_interval_seconds=float_setting(env, names.SENSOR_INTERVAL_SECONDS, 10.0, 0.1, 86400.0),
        stale_after_missed_intervals=int_setting(env, names.STALE_AFTER_MISSED_INTERVALS, 6, 1, 10_000),
        thresholds=thresholds,
        overrides=_overrides(env, thresholds),
    )


# --- end of the dashboard block ---


def _read_cache(env: Mapping[str, str]) -> tuple[float, float]:
    """(refresh, max age) of the read side's shared copy; the refresh must come first."""
    max_age = float_setting(env, names.READ_MAX_AGE_SECONDS, names.DEFAULT_READ_MAX_AGE_SECONDS, 0.0, 300.0)
    refresh = float_setting(
        env, names.READ_REFRESH_SECONDS, min(names.DEFAULT_READ_REFRESH_SECONDS, max_age), 0.0, 300.0
    )
    if refresh > max_age:
        raise SettingsError(
            names.READ_REFRESH_SECONDS, f"at most {names.READ_MAX_AGE_SECONDS} ({max_age:g})", str(refresh)
        )
    return refresh, max_age


# --- Retention of readings, summaries and time windows (docs/rollups.md) ---
DAY_SECONDS = 86_400
FOREVER = -1


@dataclass(frozen=True)
class Retention:
    """How long each kind of document is kept after its last write, in seconds (-1: forever).

    Cosmos DB expires them by TTL (infra/main.bicep sets the same defaults); the SQLite
    store prunes the same way every `prune_every_seconds`. Windows outlive readings.
    """

    readings_seconds: int = 30 * DAY_SECONDS
    summaries_seconds: int = 30 * DAY_SECONDS
    rollups_seconds: int = 90 * DAY_SECONDS
    prune_every_seconds: float = 3600.0


def _ttl(env: Mapping[str, str], name: str, default: int) -> int:
    value = int_setting(env, name, default, FOREVER, 100 * 365 * DAY_SECONDS)
    if value == 0:
        raise SettingsError(name, "a number of seconds >= 1, or -1 for forever", "0")
    return value


def _retention(env: Mapping[str, str]) -> Retention:
    default = Retention()
    readings = _ttl(env, names.READINGS_TTL_SECONDS, default.readings_seconds)
    rollups = _ttl(env, names.ROLLUPS_TTL_SECONDS, default.rollups_seconds)
    if rollups != FOREVER and (readings == FOREVER or rollups < readings):
        raise SettingsError(
            names.ROLLUPS_TTL_SECONDS,
            f"-1 or at least {names.READINGS_TTL_SECONDS}: windows outlive readings",
            str(rollups),
        )
    return Retention(
        readings_seconds=readings,
        summaries_seconds=_ttl(env, names.SUMMARIES_TTL_SECONDS, default.summaries_seconds),
        rollups_seconds=rollups,
        prune_every_seconds=float_setting(
            env, names.PRUNE_EVERY_SECONDS, default.prune_every_seconds, 0.0, 86400.0
        ),
    )


def _live_source(env: Mapping[str, str]) -> LiveSource:
    """Where live settings come from, checked here so that a bad value stops start-up like any
    other; `pipeline.live_settings` builds its source from this."""
    file = env.get(names.LIVE_SETTINGS_FILE, "").strip()
    return LiveSource(
        app_configuration_endpoint=endpoint_setting(
            env, names.APP_CONFIGURATION_ENDPOINT, "https://<store>.azconfig.io"
        ),
        app_configuration_client_id=client_id_setting(env, names.APP_CONFIGURATION_CLIENT_ID),
        file=Path(file) if file else None,
        refresh_seconds=float_setting(
            env,
            names.LIVE_SETTINGS_REFRESH_SECONDS,
            names.DEFAULT_LIVE_SETTINGS_REFRESH_SECONDS,
            *names.LIVE_SETTINGS_REFRESH_SECONDS_RANGE,
        ),
    )


def settings_from(env: Mapping[str, str]) -> Settings:
    """Build settings from a mapping of environment variables; raise SettingsError on bad values."""
    cosmos = _cosmos(env)
    default_store = StoreKind.COSMOS if cosmos else StoreKind.SQLITE
    store = StoreKind(choice_setting(env, names.PIPELINE_STORE, default_store.value, tuple(StoreKind)))
    if store is StoreKind.COSMOS and cosmos is None:
        raise SettingsError(
            names.COSMOS_CONNECTION,
            f"a connection string, or {names.COSMOS_CONNECTION}__accountEndpoint for managed identity",
        )
    if store is StoreKind.SQLITE and env.get("WEBSITE_INSTANCE_ID"):
        # In Azure an embedded file store would silently lose data on scale-out.
        raise SettingsError(
            names.COSMOS_CONNECTION,
            f"{names.COSMOS_CONNECTION}__accountEndpoint when running in Azure",
        )
    schedule = text_setting(env, names.GENERATOR_SCHEDULE, "*/10 * * * * *")
    if not _NCRONTAB_WITH_SECONDS.match(schedule):
        raise SettingsError(
            names.GENERATOR_SCHEDULE, "an NCRONTAB expression with six fields (seconds first)", schedule
        )
    seed_raw = env.get(names.GENERATOR_SEED, "").strip()
    seed = int_setting(env, names.GENERATOR_SEED, 0, 0, 2**63 - 1) if seed_raw else None
    read_refresh, read_max_age = _read_cache(env)
    return Settings(
        store=store,
        sqlite_path=Path(text_setting(env, names.SQLITE_PATH, ".data/pipeline.db")),
        cosmos=cosmos,
        database=container_setting(env, names.COSMOS_DATABASE, names.DEFAULT_DATABASE),
        readings_container=container_setting(env, names.READINGS_CONTAINER, names.DEFAULT_READINGS),
        summaries_container=container_setting(env, names.SUMMARIES_CONTAINER, names.DEFAULT_SUMMARIES),
        leases_container=container_setting(env, names.LEASES_CONTAINER, names.DEFAULT_LEASES),
        deadletter_container=container_setting(env, names.DEADLETTER_CONTAINER, names.DEFAULT_DEADLETTER),
        create_lease_container=bool_setting(env, names.CREATE_LEASE_CONTAINER, False),
        sensor_ids=_sensor_ids(env),
        window_size=int_setting(env, names.WINDOW_SIZE, 10, 1, 1000),
        generator_schedule=schedule,
        generator_seed=seed,
        generator_timing=choice_setting(env, names.GENERATOR_TIMING, "poisson", ("poisson", "uniform")),
        generator_speed=float_setting(env, names.GENERATOR_SPEED, 1.0, 0.01, 1000.0),
        temperature_model=choice_setting(env, names.TEMPERATURE_MODEL, "uniform", ("uniform", "random-walk")),
        dashboard_poll_seconds=float_setting(env, names.DASHBOARD_POLL_SECONDS, 2.0, 0.2, 3600.0),
        chart_points=int_setting(env, names.CHART_POINTS, 50, 2, 500),
        health_max_feed_lag_seconds=float_setting(env, names.HEALTH_MAX_FEED_LAG_SECONDS, 0.0, 0.0, 86400.0),
        dashboard=_dashboard(env),
        feed_poll_delay_ms=int_setting(
            env,
            names.SUMMARISER_FEED_POLL_DELAY_MS,
            names.DEFAULT_FEED_POLL_DELAY_MS,
            *names.FEED_POLL_DELAY_MS_RANGE,
        ),
        max_items_per_invocation=int_setting(
            env,
            names.SUMMARISER_MAX_ITEMS_PER_INVOCATION,
            names.DEFAULT_MAX_ITEMS_PER_INVOCATION,
            *names.MAX_ITEMS_PER_INVOCATION_RANGE,
        ),
        read_refresh_seconds=read_refresh,
        read_max_age_seconds=read_max_age,
        retention=_retention(env),
        store_breaker_failures=int_setting(
            env, names.STORE_BREAKER_FAILURES, names.DEFAULT_STORE_BREAKER_FAILURES, 1, 1000
        ),
        store_breaker_cooldown_seconds=float_setting(
            env,
            names.STORE_BREAKER_COOLDOWN_SECONDS,
            names.DEFAULT_STORE_BREAKER_COOLDOWN_SECONDS,
            0.1,
            3600.0,
        ),
        live_source=_live_source(env),
        application_insights_connection=application_insights_setting(env),
    )


def binding_integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """A whole-number setting a binding needs as a literal at import: the default when unset or bad.

    Never raises (a function app that raises at import loads no function in Azure);
    `settings_from` validates the same setting strictly and names it at start.
    """
    try:
        return int_setting(env, name, default, low, high)
    except SettingsError:
        return default


@cache
def load_settings() -> Settings:
    """The process-wide settings, parsed once from os.environ on first use."""
    return settings_from(os.environ)
