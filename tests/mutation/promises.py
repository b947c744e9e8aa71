"""Mutations of the promised numbers, boundaries and failure paths that tests/test_promises_*.py pin.

Kept beside the curated catalogue (tests/mutation/catalogue.py), in the same form; the
runner takes both.
"""

from __future__ import annotations

from tests.mutation.catalogue import Mutation, tests

HTTP_PROMISES = tests("test_promises_http")
LIMIT_PROMISES = tests("test_promises_limits")
REFUSALS = tests("test_settings_refused")

PROMISES: tuple[Mutation, ...] = (
    Mutation(
        "breaker-opens-after-6",
        "pipeline/names.py",
        "DEFAULT_STORE_BREAKER_FAILURES = 5\n",
        "DEFAULT_STORE_BREAKER_FAILURES = 6\n",
        HTTP_PROMISES,
        "the breaker opens after 5 consecutive store failures",
    ),
    Mutation(
        "breaker-cools-1-second",
        "pipeline/names.py",
        "DEFAULT_STORE_BREAKER_COOLDOWN_SECONDS = 10.0\n",
        "DEFAULT_STORE_BREAKER_COOLDOWN_SECONDS = 1.0\n",
        HTTP_PROMISES,
        "an open breaker refuses for 10 s",
    ),
    Mutation(
        "summariser-retries-7-times",
        "summariser/bindings.py",
        'max_retry_count="8"',
        'max_retry_count="7"',
        LIMIT_PROMISES,
        "a failing batch is retried 8 times",
    ),
    Mutation(
        "feed-lag-limit-times-10",
        "pipeline/health.py",
        "lag > limit:",
        "lag > limit * 10:",
        LIMIT_PROMISES,
        "health is 503 once the feed lag exceeds HEALTH_MAX_FEED_LAG_SECONDS",
    ),
    Mutation(
        "declared-length-not-checked",
        "generator/http_api.py",
        "if int(declared) > MAX_BODY_BYTES:",
        "if False:",
        HTTP_PROMISES,
        "a declared length over 1 MB is refused (413) before the body is read",
    ),
    Mutation(
        "alert-at-the-high-threshold",
        "visualiser/alerts.py",
        "summary.avg_temp > limits.high",
        "summary.avg_temp >= limits.high",
        LIMIT_PROMISES,
        "an alert is strictly above the high threshold",
    ),
    Mutation(
        "empty-override-means-1000",
        "pipeline/settings.py",
        "high = float(parts[2]) if parts[2].strip() else default.high",
        "high = float(parts[2]) if parts[2].strip() else 1000.0",
        LIMIT_PROMISES,
        "an empty part of a per-sensor override keeps the default",
    ),
    Mutation(
        "temperatures-compared-to-the-cent",
        "pipeline/storage/base.py",
        "        return number if math.isfinite(number) else repr(number)",
        "        return round(number, 2) if math.isfinite(number) else repr(number)",
        LIMIT_PROMISES,
        "a stored reading with another temperature, even by 0.001 °C, is a conflict",
    ),
    Mutation(
        "newest-cursor-unknown",
        "visualiser/read_model.py",
        "int(number) <= generation",
        "int(number) < generation",
        HTTP_PROMISES,
        "the newest cursor gets an empty delta, not everything",
    ),
    Mutation(
        "gzip-without-accept-encoding",
        "visualiser/compression.py",
        'if len(body) < MIN_COMPRESSED_BYTES or coding != "gzip":',
        "if len(body) < MIN_COMPRESSED_BYTES:",
        HTTP_PROMISES,
        "gzip only for a client that accepts it",
    ),
    Mutation(
        "vary-dropped",
        "visualiser/compression.py",
        "    headers = dict(headers, **VARY)\n    coding",
        "    headers = dict(headers)\n    coding",
        HTTP_PROMISES,
        "every negotiated answer says Vary: Accept-Encoding",
    ),
    Mutation(
        "host-check-case-sensitive",
        "local_host/http_gateway.py",
        'rsplit(":", 1)[0].lower() if host_header.count(":") == 1 else host_header.lower()',
        'rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header',
        LIMIT_PROMISES,
        "host names are compared without case",
    ),
    Mutation(
        "unreachable-live-settings-clear-the-values",
        "pipeline/live_settings.py",
        '                log.warning("live settings unavailable (%s); keeping the last good values", error)',
        "                self._raw, self._values = {}, {}",
        LIMIT_PROMISES,
        "an unreachable live-settings source keeps the last good values",
    ),
    Mutation(
        "pointer-swap-gives-up-silently",
        "pipeline/storage/cosmos_store.py",
        '        raise StoreUnavailable(f"latest pointer of {summary.sensor_id} kept changing under us")',
        "        return None",
        LIMIT_PROMISES,
        "a compare-and-swap that keeps losing raises (the batch is retried), never drops the summary",
    ),
    Mutation(
        "batches-of-101",
        "pipeline/storage/cosmos_store.py",
        "BATCH_OPERATIONS = 100",
        "BATCH_OPERATIONS = 101",
        LIMIT_PROMISES,
        "at most 100 operations per transactional batch, as Cosmos DB allows",
    ),
    Mutation(
        "chart-key-ignores-thresholds",
        "visualiser/read_model.py",
        "                (thresholds.low, thresholds.high),\n",
        "",
        HTTP_PROMISES,
        "a chart drawn with other thresholds has another ETag",
    ),
    # docs/configuration.md: "A bad value stops start-up with one line naming it".
    Mutation(
        "live-settings-refresh-unchecked",
        "pipeline/settings.py",
        "        live_source=_live_source(env),\n",
        "        live_source=LiveSource(),\n",
        REFUSALS,
        "a bad LIVE_SETTINGS_REFRESH_SECONDS stops start-up naming it",
    ),
    Mutation(
        "app-configuration-over-http",
        "pipeline/setting_parsers.py",
        'or url.scheme != "https"',
        'or url.scheme not in ("https", "http")',
        REFUSALS,
        "APP_CONFIGURATION_ENDPOINT must be an https:// endpoint",
    ),
    Mutation(
        "override-id-by-its-prefix",
        "pipeline/settings.py",
        "SENSOR_ID_PATTERN.fullmatch(parts[0])",
        "SENSOR_ID_PATTERN.match(parts[0])",
        REFUSALS,
        "an ALERT_OVERRIDES entry names a whole sensor id",
    ),
    Mutation(
        "override-low-above-high",
        "pipeline/settings.py",
        "if not -273.15 <= low < high <= 1000:",
        "if not (-273.15 <= low <= 1000 and -273.15 <= high <= 1000):",
        REFUSALS,
        "an ALERT_OVERRIDES entry with low >= high stops start-up naming the setting",
    ),
    Mutation(
        "switch-true-is-false",
        "pipeline/setting_parsers.py",
        "    if raw in _TRUE:\n        return True",
        "    if raw in _TRUE:\n        return False",
        REFUSALS,
        "COSMOS_VERIFY_TLS and CREATE_LEASE_CONTAINER take true, 1, yes and on",
    ),
    Mutation(
        "log-level-checked-after-the-handlers",
        "pipeline/telemetry.py",
        "    if level.upper() not in logging.getLevelNamesMapping():\n",
        "    if False:\n",
        REFUSALS,
        "a bad LOG_LEVEL stops the local host with one line naming it, changing nothing first",
    ),
    Mutation(
        "schedule-not-checked-locally",
        "local_host/__main__.py",
        "        check_schedule(settings.generator_schedule)\n",
        "",
        REFUSALS,
        "a GENERATOR_SCHEDULE the local timer cannot run stops start-up naming it",
    ),
    Mutation(
        "application-insights-unchecked",
        "pipeline/settings.py",
        "        application_insights_connection=application_insights_setting(env),\n",
        "",
        REFUSALS,
        "an Application Insights connection string the exporter refuses stops start-up naming it",
    ),
)
