"""Every setting name and default resource name, written once.

The Functions bindings refer to settings as `%NAME%`, the settings module reads them,
and the Bicep templates create resources with the defaults below; a test checks that
all three agree.
"""

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
# Live settings (pipeline.live_settings): App Configuration in Azure, a JSON file locally.
APP_CONFIGURATION_ENDPOINT = "APP_CONFIGURATION_ENDPOINT"
APP_CONFIGURATION_CLIENT_ID = "APP_CONFIGURATION_CLIENT_ID"
LIVE_SETTINGS_FILE = "LIVE_SETTINGS_FILE"
LIVE_SETTINGS_REFRESH_SECONDS = "LIVE_SETTINGS_REFRESH_SECONDS"
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


def binding_expression(setting: str) -> str:
    """The `%SETTING%` form the Functions host resolves from app settings."""
    return f"%{setting}%"
