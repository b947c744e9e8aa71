"""Which sensors need attention: a latest average outside its thresholds, or no news for too long."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.readings import Summary, parse_timestamp
from pipeline.settings import DashboardSettings


@dataclass(frozen=True)
class Alert:
    """A sensor outside its thresholds ("high" or "low"), or silent for too long ("stale")."""

    sensor_id: str
    kind: str
    avg_temp: float
    low: float
    high: float
    timestamp: str
    last_heard: str

    def to_document(self) -> dict[str, Any]:
        return {
            "sensor_id": self.sensor_id,
            "kind": self.kind,
            "avg_temp": self.avg_temp,
            "low": self.low,
            "high": self.high,
            "timestamp": self.timestamp,
            "last_heard": self.last_heard,
        }


def threshold_alert(summary: Summary, dashboard: DashboardSettings) -> Alert | None:
    """The sensor's alert if its latest average is above `high` or below `low`."""
    limits = dashboard.thresholds_for(summary.sensor_id)
    if summary.avg_temp > limits.high:
        kind = "high"
    elif summary.avg_temp < limits.low:
        kind = "low"
    else:
        return None
    return Alert(
        summary.sensor_id, kind, summary.avg_temp, limits.low, limits.high, summary.timestamp, summary.heard
    )


def sensor_alerts(latest: Mapping[str, Summary], dashboard: DashboardSettings) -> dict[str, Alert]:
    """Threshold alerts of every sensor that has one (they depend on content only, not on time)."""
    alerts = {}
    for sensor_id, summary in latest.items():
        alert = threshold_alert(summary, dashboard)
        if alert is not None:
            alerts[sensor_id] = alert
    return alerts


def is_stale(summary: Summary, dashboard: DashboardSettings, now: datetime) -> bool:
    """Not heard of for more than the configured number of missed reporting intervals.

    Counted from `last_heard`, not from the device's stamp, which may run minutes fast.
    """
    age = (now - parse_timestamp(summary.heard)).total_seconds()
    return age > dashboard.stale_after_seconds


def heard_early(latest: Mapping[str, Summary], sensors: Iterable[str]) -> dict[str, str]:
    """`last_heard` of the given sensors where it is earlier than their summary's timestamp.

    Only a device clock ahead of the server's makes it so; for every other sensor the
    timestamp in its version is when it was last heard. A page counts every sensor's
    staleness from these, including sensors it shows no card of.
    """
    heard = {}
    for sensor in sensors:
        summary = latest.get(sensor)
        if summary is not None and summary.last_heard and summary.last_heard < summary.timestamp:
            heard[sensor] = summary.last_heard
    return dict(sorted(heard.items()))


def alerts_now(latest: Mapping[str, Summary], dashboard: DashboardSettings, now: datetime) -> list[Alert]:
    """Threshold alerts, then stale sensors; each group in natural sensor order.

    A stale sensor is listed as stale even if its last average was outside its thresholds:
    that average is no longer news, and the dashboard shows and counts it the same way.
    """
    stale = [
        Alert(
            sensor_id,
            "stale",
            summary.avg_temp,
            *_limits(dashboard, sensor_id),
            summary.timestamp,
            summary.heard,
        )
        for sensor_id, summary in latest.items()
        if is_stale(summary, dashboard, now)
    ]
    silent = {alert.sensor_id for alert in stale}
    thresholds = [
        alert for sensor_id, alert in sensor_alerts(latest, dashboard).items() if sensor_id not in silent
    ]
    return sorted(thresholds, key=lambda a: natural_key(a.sensor_id)) + sorted(
        stale, key=lambda a: natural_key(a.sensor_id)
    )


def _limits(dashboard: DashboardSettings, sensor_id: str) -> tuple[float, float]:
    limits = dashboard.thresholds_for(sensor_id)
    return limits.low, limits.high


def natural_key(sensor_id: str) -> tuple[Any, ...]:
    """Sort key that puts sensor-2 before sensor-10 (digits compare as numbers)."""
    import re

    return tuple(int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", sensor_id))
