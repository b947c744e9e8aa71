"""Live settings: the few settings safe to change while running, refreshed without a restart.

Sources, in order: Azure App Configuration when `APP_CONFIGURATION_ENDPOINT` is set (read
with the managed identity, polled every `LIVE_SETTINGS_REFRESH_SECONDS`), else a JSON file
named by `LIVE_SETTINGS_FILE` (re-read when its modification time changes), else none:
app settings alone, exactly as before. A live value is parsed by the same rules as the
app setting of the same name (`pipeline.settings`); a bad one is refused with a warning
naming it and the last good value stays. Removing a key falls back to the app setting.

Refreshes happen on use (at most once per interval), never in a background thread:
Functions instances freeze between invocations. The App Configuration provider is
imported on the first refresh, never at `import function_app`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from pipeline import names
from pipeline.settings import Settings, SettingsError, load_settings, settings_from

log = logging.getLogger(__name__)

# Safe to change while running: read on every use, nothing derived from them is persisted.
# Each maps to the Settings field it feeds; settings that are checked together (the
# dashboard's thresholds) feed one field, re-parsed from all of them at once. Another
# module's setting joins by adding its name here (and `settings_from` parsing it).
LIVE_SETTINGS: dict[str, str] = {
    names.DASHBOARD_POLL_SECONDS: "dashboard_poll_seconds",
    names.CHART_POINTS: "chart_points",
    names.HEALTH_MAX_FEED_LAG_SECONDS: "health_max_feed_lag_seconds",
    names.GENERATOR_TIMING: "generator_timing",
    names.GENERATOR_SPEED: "generator_speed",
    names.SENSOR_INTERVAL_SECONDS: "dashboard",
    names.STALE_AFTER_MISSED_INTERVALS: "dashboard",
    names.ALERT_HIGH_CELSIUS: "dashboard",
    names.ALERT_LOW_CELSIUS: "dashboard",
    names.ALERT_OVERRIDES: "dashboard",
}
DEFAULT_REFRESH_SECONDS = names.DEFAULT_LIVE_SETTINGS_REFRESH_SECONDS


class Source(Protocol):
    """Where live values come from: `read()` returns setting name -> raw text."""

    def read(self) -> Mapping[str, str]: ...


class FileSource:
    """A JSON object of setting names to values, re-read only when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._values: Mapping[str, str] = {}

    def read(self) -> Mapping[str, str]:
        try:
            status = self.path.stat()
            # Size too: two writes within the clock's resolution still count as a change.
            modified = (status.st_mtime_ns, status.st_size)
        except FileNotFoundError:
            self._seen, self._values = None, {}
            return self._values
        if modified != self._seen:
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                if not isinstance(loaded, dict):
                    raise ValueError("expected a JSON object of setting names to values")
            except (OSError, ValueError) as error:
                # A half-written or broken file: keep what we had, try again on the next change.
                log.warning(
                    "live settings file %s refused: %s; keeping the last good values", self.path, error
                )
                self._seen = modified
                return self._values
            self._seen = modified
            self._values = {str(key): _text(value) for key, value in loaded.items()}
        return self._values


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


class AppConfigurationSource:
    """Azure App Configuration, read with the managed identity; keys are setting names."""

    def __init__(self, endpoint: str, client_id: str | None, refresh_seconds: float) -> None:
        self.endpoint = endpoint
        self._client_id = client_id
        self._refresh_seconds = refresh_seconds
        self._provider: Any = None

    def _load(self) -> Any:
        from azure.appconfiguration.provider import SettingSelector, load
        from azure.identity import ManagedIdentityCredential

        return load(
            endpoint=self.endpoint,
            credential=ManagedIdentityCredential(client_id=self._client_id),
            selects=[SettingSelector(key_filter="*")],
            # Without watched keys the provider checks every selected key for changes.
            refresh_enabled=True,
            refresh_interval=max(1, int(self._refresh_seconds)),
            on_refresh_error=lambda error: log.warning("App Configuration refresh failed: %s", error),
            startup_timeout=5,  # a request waits at most this long when the store is down
        )

    def read(self) -> Mapping[str, str]:
        if self._provider is None:
            self._provider = self._load()  # raises: the caller keeps the last good values
        else:
            self._provider.refresh()
        return {key: _text(self._provider[key]) for key in self._provider}


def parse_live_values(raw: Mapping[str, str], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Settings fields these live values feed, parsed over `env` by the app settings' own
    rules (so related settings are checked together); SettingsError names a bad one."""
    unknown = sorted(set(raw) - set(LIVE_SETTINGS))
    if unknown:
        raise SettingsError(unknown[0], f"one of the live settings {sorted(LIVE_SETTINGS)}")
    parsed = settings_from({**(env or {}), **raw})
    return {LIVE_SETTINGS[name]: getattr(parsed, LIVE_SETTINGS[name]) for name in raw}


def parse_live_value(name: str, raw: str) -> Any:
    """The typed value (its Settings field) of one live setting; SettingsError if bad."""
    return parse_live_values({name: raw})[LIVE_SETTINGS[name]]


def _valid_base(env: Mapping[str, str]) -> Mapping[str, str]:
    """The app settings live values are parsed over; none if they do not parse on their own."""
    try:
        settings_from(env)
    except SettingsError:
        return {}
    return env


class LiveSettings:
    """The last good live values from a source, applied over the app settings."""

    def __init__(
        self,
        source: Source | None,
        refresh_seconds: float = DEFAULT_REFRESH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.source = source
        # The app settings, for settings checked together (a live low threshold against the
        # app setting's high one); read when the first value arrives.
        self._env = env
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._next_refresh = 0.0
        self._raw: dict[str, str] = {}  # last good raw text per setting
        self._values: dict[str, Any] = {}  # the same, parsed, by Settings field
        self._lock = threading.Lock()

    def apply(self, base: Settings) -> Settings:
        """`base` with the current live values in place of its own."""
        self.refresh_if_due()
        values = self._values
        return replace(base, **values) if values else base

    def refresh_if_due(self) -> None:
        if self.source is None or self._clock() < self._next_refresh:
            return
        if not self._lock.acquire(blocking=False):
            return  # another thread is refreshing; the current values are still good
        try:
            self._next_refresh = self._clock() + self._refresh_seconds
            try:
                incoming = dict(self.source.read())
            except Exception as error:  # an unreachable source must not take the app down
                log.warning("live settings unavailable (%s); keeping the last good values", error)
                return
            self._take(incoming)
        finally:
            self._lock.release()

    def _take(self, incoming: dict[str, str]) -> None:
        if self._env is None:
            self._env = dict(_valid_base(os.environ))
        raw = {name: text for name, text in self._raw.items() if name in incoming}
        for name in sorted(set(self._raw) - set(raw)):
            log.info("live setting %s removed; the app setting applies", name, extra={"setting": name})
        for name, text in sorted(incoming.items()):
            if name not in LIVE_SETTINGS or raw.get(name) == text:
                continue
            try:
                parse_live_values({**raw, name: text}, self._env)
            except SettingsError as error:
                kept = raw.get(name, "the app setting")
                log.warning(
                    "live setting %s refused: %s; keeping %s",
                    name,
                    error,
                    kept,
                    extra={"setting": name},
                )
                continue
            log.info("live setting %s = %s applied", name, text, extra={"setting": name})
            raw[name] = text
        # Every value here was accepted together, so this parses.
        self._raw, self._values = raw, parse_live_values(raw, self._env)


def live_settings_from(env: Mapping[str, str]) -> LiveSettings:
    """The live settings source the environment asks for (none: app settings only).

    Read from the app settings' `live_source`, which `settings_from` checked: a bad
    endpoint, client id or interval is a SettingsError naming it, as at start.
    """
    source = settings_from(env).live_source
    refresh = source.refresh_seconds
    if source.app_configuration_endpoint:
        client_id = source.app_configuration_client_id
        return LiveSettings(
            AppConfigurationSource(source.app_configuration_endpoint, client_id, refresh), refresh
        )
    if source.file is not None:
        return LiveSettings(FileSource(source.file), refresh)
    return LiveSettings(None)


@cache
def live_settings() -> LiveSettings:
    """The process's live settings, built from os.environ on first use."""
    return live_settings_from(os.environ)


def current(base: Settings | None = None) -> Settings:
    """The settings to use now: `base` (default: the app settings) with live values applied."""
    return live_settings().apply(base if base is not None else load_settings())
