"""Every setting name and default resource name, written once.

The Functions bindings refer to settings as `%NAME%`, the settings module reads them,
and the Bicep templates create resources with the defaults below; a test checks that
all three agree.
"""

from __future__ import annotations

from typing import Any

# Connection: a connection string (emulator), or `COSMOS_CONNECTION__accountEndpoint`
# (+ `__credential=managedidentity`, `__clientId`) for managed identity in Azure.
COSMOS_CONNECTION = "COSMOS_CONNECTION"
COSMOS_VERIFY_TLS = "COSMOS_VERIFY_TLS"
COSMOS_DATABASE = "COSMOS_DATABASE"
READINGS_CONTAINER = "READINGS_CONTAINER"
SUMMARIES_CONTAINER = "SUMMARIES_CONTAINER"
LEASES_CONTAINER = "LEASES_CONTAINER"
DEADLETTER_CONTAINER = "DEADLETTER_CONTAINER"
CREATE_LEASE_CONTAINER = "CREATE_LEASE_CONTAINER"
PIPELINE_STORE = "PIPELINE_STORE"
SQLITE_PATH = "SQLITE_PATH"
SENSOR_COUNT = "SENSOR_COUNT"
SENSOR_IDS = "SENSOR_IDS"
WINDOW_SIZE = "WINDOW_SIZE"
# Retention (docs/rollups.md): seconds, -1 for forever.
READINGS_TTL_SECONDS = "READINGS_TTL_SECONDS"
SUMMARIES_TTL_SECONDS = "SUMMARIES_TTL_SECONDS"
ROLLUPS_TTL_SECONDS = "ROLLUPS_TTL_SECONDS"
PRUNE_EVERY_SECONDS = "PRUNE_EVERY_SECONDS"
GENERATOR_SCHEDULE = "GENERATOR_SCHEDULE"
GENERATOR_SEED = "GENERATOR_SEED"
GENERATOR_TIMING = "GENERATOR_TIMING"
GENERATOR_SPEED = "GENERATOR_SPEED"
TEMPERATURE_MODEL = "TEMPERATURE_MODEL"
DASHBOARD_POLL_SECONDS = "DASHBOARD_POLL_SECONDS"
CHART_POINTS = "CHART_POINTS"
HEALTH_MAX_FEED_LAG_SECONDS = "HEALTH_MAX_FEED_LAG_SECONDS"
# The change-feed trigger's tuning. The host takes both as literal integers (the extension's
# attribute does not resolve `%SETTING%` in them), so the bindings read them when the worker
# indexes the functions, and the local host reads them back from the binding.
SUMMARISER_FEED_POLL_DELAY_MS = "SUMMARISER_FEED_POLL_DELAY_MS"
SUMMARISER_MAX_ITEMS_PER_INVOCATION = "SUMMARISER_MAX_ITEMS_PER_INVOCATION"
# Azure's own default is 5,000 ms: a reading could wait up to 5 s before it is summarised.
DEFAULT_FEED_POLL_DELAY_MS = 1000
FEED_POLL_DELAY_MS_RANGE = (50, 60_000)
DEFAULT_MAX_ITEMS_PER_INVOCATION = 1000
MAX_ITEMS_PER_INVOCATION_RANGE = (1, 10_000)
# Read side: how long viewers share one copy of the latest summaries (docs/http-api.md).
READ_REFRESH_SECONDS = "READ_REFRESH_SECONDS"
READ_MAX_AGE_SECONDS = "READ_MAX_AGE_SECONDS"
DEFAULT_READ_REFRESH_SECONDS = 1.0
DEFAULT_READ_MAX_AGE_SECONDS = 2.0
# The store's circuit breaker on the HTTP paths (pipeline.circuit).
STORE_BREAKER_FAILURES = "STORE_BREAKER_FAILURES"
STORE_BREAKER_COOLDOWN_SECONDS = "STORE_BREAKER_COOLDOWN_SECONDS"
DEFAULT_STORE_BREAKER_FAILURES = 5
DEFAULT_STORE_BREAKER_COOLDOWN_SECONDS = 10.0
# Live settings (pipeline.live_settings): App Configuration in Azure, a JSON file locally.
APP_CONFIGURATION_ENDPOINT = "APP_CONFIGURATION_ENDPOINT"
APP_CONFIGURATION_CLIENT_ID = "APP_CONFIGURATION_CLIENT_ID"
LIVE_SETTINGS_FILE = "LIVE_SETTINGS_FILE"
LIVE_SETTINGS_REFRESH_SECONDS = "LIVE_SETTINGS_REFRESH_SECONDS"
DEFAULT_LIVE_SETTINGS_REFRESH_SECONDS = 30.0
LIVE_SETTINGS_REFRESH_SECONDS_RANGE = (0.05, 86400.0)
# Metrics are exported to Azure Monitor when set (pipeline.metrics; infra/ sets it).
APPLICATIONINSIGHTS_CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
# Dashboard: when a card turns stale, and the thresholds that put it into alert.
SENSOR_INTERVAL_SECONDS = "SENSOR_INTERVAL_SECONDS"
STALE_AFTER_MISSED_INTERVALS = "STALE_AFTER_MISSED_INTERVALS"
ALERT_HIGH_CELSIUS = "ALERT_HIGH_CELSIUS"
ALERT_LOW_CELSIUS = "ALERT_LOW_CELSIUS"
ALERT_OVERRIDES = "ALERT_OVERRIDES"

DEFAULT_DATABASE = "sensor-pipeline"
DEFAULT_READINGS = "readings"
DEFAULT_SUMMARIES = "summaries"
DEFAULT_LEASES = "leases"
DEFAULT_DEADLETTER = "deadletter"
DEFAULT_ROLLUPS = "rollups"

# Partition keys: readings and summaries by sensor so a window query stays in one
# partition; leases by /id because the change-feed processor requires it.
PARTITION_KEYS = {
    DEFAULT_READINGS: "/sensor_id",
    DEFAULT_SUMMARIES: "/sensor_id",
    DEFAULT_LEASES: "/id",
    DEFAULT_DEADLETTER: "/id",
    DEFAULT_ROLLUPS: "/sensor_id",
}

# The only paths each container indexes (besides `id` and `_ts`, which Cosmos DB always
# indexes): those our queries filter or sort on. A write is charged for every indexed
# value, so indexing nothing else keeps writes cheap. `None`: Cosmos DB's default (every
# path); the change-feed processor owns the leases. A new query on another path must add
# it here (tests/test_indexing_policy.py checks the store's queries against this).
INDEXED_PATHS: dict[str, tuple[str, ...] | None] = {
    DEFAULT_READINGS: ("/sensor_id/?", "/timestamp/?"),
    DEFAULT_SUMMARIES: ("/sensor_id/?", "/timestamp/?"),
    DEFAULT_LEASES: None,
    DEFAULT_DEADLETTER: ("/received_at/?",),
    # The window query ranges over ids (`rollup_id` puts bucket and start in them).
    DEFAULT_ROLLUPS: ("/sensor_id/?",),
}


def indexing_policy(role: str) -> dict[str, Any]:
    """A container's indexing policy as Cosmos DB takes it (infra/app/cosmos.bicep builds the same)."""
    included = INDEXED_PATHS[role]
    excluded: list[dict[str, str]] = [{"path": '/"_etag"/?'}]
    if included is not None:
        excluded.insert(0, {"path": "/*"})
    return {
        "indexingMode": "consistent",
        "automatic": True,
        "includedPaths": [{"path": path} for path in (included or ("/*",))],
        "excludedPaths": excluded,
    }


def binding_expression(setting: str) -> str:
    """The `%SETTING%` form the Functions host resolves from app settings."""
    return f"%{setting}%"
