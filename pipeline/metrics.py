"""Metrics through OpenTelemetry: to Azure Monitor when configured, otherwise kept in process.

With `APPLICATIONINSIGHTS_CONNECTION_STRING` set, metrics are exported to Azure Monitor
(with `APPLICATIONINSIGHTS_AUTHENTICATION_STRING=ClientId=...;Authorization=AAD`, signed
with the managed identity, as infra/ configures). Otherwise an in-memory reader keeps
them so the local host and tests can read them. OpenTelemetry is imported on the first
measurement, never at `import function_app`.

Metric names live in `pipeline/telemetry_names.json`, shared with the alert rules in
`infra/app/alerts.bicep`, so a renamed metric cannot silently disarm an alert.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.names import APPLICATIONINSIGHTS_CONNECTION_STRING

NAMES_FILE = Path(__file__).with_name("telemetry_names.json")
EXPORT_INTERVAL_MS = 60_000


@cache
def telemetry_names() -> dict[str, Any]:
    """Meter, metric, function and log names shared with infra/ (read on first use, not at import)."""
    return json.loads(NAMES_FILE.read_text(encoding="utf-8"))


@dataclass
class _Instruments:
    provider: Any
    reader: Any | None
    readings_generated: Any
    readings_summarised: Any
    summaries_written: Any
    dead_letters: Any
    feed_lag: Any
    store_requests: Any
    request_units: Any
    batch_duration: Any
    chart_render: Any
    chart_cache: Any


_instruments: _Instruments | None = None
_lock = threading.Lock()


def _exporting_reader() -> Any | None:
    connection = os.environ.get(APPLICATIONINSIGHTS_CONNECTION_STRING, "").strip()
    if not connection:
        return None
    from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    options: dict[str, Any] = {"connection_string": connection}
    authentication = os.environ.get("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "")
    if "Authorization=AAD" in authentication:
        from azure.identity import ManagedIdentityCredential

        client_id = dict(part.split("=", 1) for part in authentication.split(";") if "=" in part).get(
            "ClientId"
        )
        options["credential"] = ManagedIdentityCredential(client_id=client_id)
    return PeriodicExportingMetricReader(
        AzureMonitorMetricExporter(**options), export_interval_millis=EXPORT_INTERVAL_MS
    )


def _build() -> _Instruments:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    exporting = _exporting_reader()
    local = None if exporting else InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[exporting or local])
    names = telemetry_names()
    meter = provider.get_meter(names["meter"])
    metric = names["metrics"]
    return _Instruments(
        provider=provider,
        reader=local,
        readings_generated=meter.create_counter(metric["readings_generated"], unit="{reading}"),
        readings_summarised=meter.create_counter(metric["readings_summarised"], unit="{reading}"),
        summaries_written=meter.create_counter(metric["summaries_written"], unit="{summary}"),
        dead_letters=meter.create_counter(metric["dead_letters"], unit="{document}"),
        feed_lag=meter.create_histogram(
            metric["feed_lag"], unit="s", description="age of a batch's oldest change, from its write time"
        ),
        store_requests=meter.create_histogram(metric["store_requests"], unit="{request}"),
        request_units=meter.create_histogram(metric["request_units"], unit="RU"),
        batch_duration=meter.create_histogram(metric["batch_duration"], unit="ms"),
        chart_render=meter.create_histogram(metric["chart_render"], unit="ms"),
        chart_cache=meter.create_counter(metric["chart_requests"], unit="{request}"),
    )


def _get() -> _Instruments:
    global _instruments
    if _instruments is None:
        with _lock:
            if _instruments is None:
                _instruments = _build()
    return _instruments


def record_generated(count: int) -> None:
    _get().readings_generated.add(count)


def record_batch(
    readings: int,
    summaries: int,
    dead_letters: int,
    feed_lag_s: float | None,
    duration_ms: float,
    store_requests: int | None,
    request_units: float | None,
) -> None:
    instruments = _get()
    instruments.readings_summarised.add(readings)
    instruments.summaries_written.add(summaries)
    if dead_letters:
        instruments.dead_letters.add(dead_letters)
    if feed_lag_s is not None:
        instruments.feed_lag.record(feed_lag_s)
    instruments.batch_duration.record(duration_ms)
    if store_requests is not None:
        instruments.store_requests.record(store_requests)
    if request_units is not None:
        instruments.request_units.record(request_units)


def record_chart(render_ms: float | None) -> None:
    """One chart request: rendered (with its time) or served from the cache (None)."""
    instruments = _get()
    instruments.chart_cache.add(1, {"cache": "miss" if render_ms is not None else "hit"})
    if render_ms is not None:
        instruments.chart_render.record(render_ms)


def snapshot() -> dict[str, float]:
    """Totals of the in-process metrics (sums for counters, counts and sums for histograms)."""
    reader = _get().reader
    if reader is None:
        return {}
    totals: dict[str, float] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attributes = ",".join(f"{k}={v}" for k, v in sorted(point.attributes.items()))
                    name = f"{metric.name}{{{attributes}}}" if attributes else metric.name
                    if hasattr(point, "count"):
                        totals[f"{name}.count"] = totals.get(f"{name}.count", 0) + point.count
                        totals[f"{name}.sum"] = totals.get(f"{name}.sum", 0) + point.sum
                    else:
                        totals[name] = totals.get(name, 0) + point.value
    return totals
