"""Cost per million readings at fleet scale, in each Cosmos DB capacity mode.

From a scenario's `Load` (request units, Function App work per hour, counted and priced by
`bench.scenarios`) this module prices one million readings three ways, adds the storage of
what is retained and the Function App, and says where each capacity mode stops:

- serverless: every request unit at $0.25 per million; at most 5,000 RU/s per container
  (20,000 at 1 TB), no throughput guarantee;
- standard (manual) provisioned: the busiest second plus `HEADROOM`, in steps of
  100 RU/s, at least 400 RU/s, billed every hour whether used or not;
- autoscale: billed each hour for the highest RU/s reached (at least 10% of the maximum),
  at 1.5 x the standard rate; at most 10,000 RU/s per physical partition, partitions are
  added as the maximum grows.

Every figure is per million readings (the fleet's readings per hour from its size and the
generator's mean gap). The sources are in docs/costs.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench import cost_model
from bench.scenarios import MEAN_GAP_SECONDS, Load
from pipeline.settings import Retention as StoreRetention

# Standard provisioned throughput is set for the busiest second of the hour plus this margin
# (ASSUMED, stated): throttling (429) starts at 100% of what is provisioned.
HEADROOM = 0.2
STANDARD_MIN_RUS = 400  # the smallest manual throughput of a container
SERVERLESS_MAX_RUS_PER_CONTAINER = 5_000  # "Serverless: performance" (up to 250 GB)
PROVISIONED_MAX_RUS_PER_PARTITION = 10_000  # "Partitioning overview": per physical partition
STORAGE_USD_PER_GB_MONTH = 0.25  # transactional storage, serverless and provisioned alike
MONTH_SECONDS = cost_model.HOURS_PER_MONTH * 3600
# infra/main.bicep deploys the same defaults (tests/test_infra.py checks that they agree).
_KEPT = StoreRetention()


@dataclass(frozen=True)
class Retention:
    """What the containers keep, each for its default TTL (the settings' defaults, as deployed).

    Readings and summaries 30 days, the time windows 90 days. The TTLs are the deployed
    defaults, so a million readings' documents are priced over the months they are kept.
    """

    reading_bytes: float
    summary_bytes: float
    summaries_per_reading: float
    readings_ttl_seconds: float = _KEPT.readings_seconds
    summaries_ttl_seconds: float = _KEPT.summaries_seconds
    window_bytes: float = 0.0
    windows_per_reading: float = 0.0
    windows_ttl_seconds: float = _KEPT.rollups_seconds


@dataclass(frozen=True)
class FleetCost:
    """One design's cost per million readings at one fleet size."""

    sensors: int
    readings_per_hour: float
    ru_per_reading: float
    serverless: float
    standard: float
    autoscale: float
    storage: float
    compute: float
    peak_ru_per_second: float
    busiest_container_ru_per_second: float

    @property
    def cheapest_mode(self) -> str:
        usable = {"serverless": self.serverless, "standard": self.standard, "autoscale": self.autoscale}
        if not self.serverless_fits:
            usable.pop("serverless")
        return min(usable, key=usable.__getitem__)

    @property
    def serverless_fits(self) -> bool:
        return self.busiest_container_ru_per_second <= SERVERLESS_MAX_RUS_PER_CONTAINER

    def total(self, mode: str | None = None) -> float:
        """Cosmos DB in `mode` (the cheapest usable by default), storage and compute."""
        cosmos = getattr(self, mode or self.cheapest_mode)
        return cosmos + self.storage + self.compute


def readings_per_hour(sensors: int) -> float:
    return sensors * 3600 / MEAN_GAP_SECONDS


def standard_usd_per_hour(peak_ru_per_second: float) -> float:
    provisioned = max(STANDARD_MIN_RUS, 100 * math.ceil(peak_ru_per_second * (1 + HEADROOM) / 100))
    return provisioned / 100 * cost_model.PROVISIONED_USD_PER_100_RUS_HOUR


def storage_usd_per_million(retention: Retention) -> float:
    """A million readings' documents, each kept for its container's TTL: readings, summaries, windows."""
    gb_months = (
        retention.reading_bytes * retention.readings_ttl_seconds
        + retention.summary_bytes * retention.summaries_per_reading * retention.summaries_ttl_seconds
        + retention.window_bytes * retention.windows_per_reading * retention.windows_ttl_seconds
    ) / MONTH_SECONDS
    return gb_months * 1_000_000 / 1e9 * STORAGE_USD_PER_GB_MONTH


def price(load: Load, sensors: int, retention: Retention, busiest_part_share: float) -> FleetCost:
    """Per million readings: each capacity mode, storage and the Function App, for one load.

    `busiest_part_share` is the share of the RU/s that lands on the busiest container
    (serverless' ceiling is per container).
    """
    per_hour = readings_per_hour(sensors)
    millions = per_hour / 1_000_000
    peak = load.peak_ru_per_second
    return FleetCost(
        sensors=sensors,
        readings_per_hour=per_hour,
        ru_per_reading=load.ru_per_hour / per_hour,
        serverless=load.serverless_usd_hour / millions,
        standard=standard_usd_per_hour(peak) / millions,
        autoscale=cost_model.autoscale_usd_per_hour(peak) / millions,
        storage=storage_usd_per_million(retention),
        compute=load.flex_usd_hour / millions,
        peak_ru_per_second=peak,
        busiest_container_ru_per_second=peak * busiest_part_share,
    )


def serverless_limit_sensors(cost: FleetCost) -> int:
    """The fleet size at which the busiest container reaches serverless' 5,000 RU/s."""
    per_sensor = cost.busiest_container_ru_per_second / cost.sensors
    return int(SERVERLESS_MAX_RUS_PER_CONTAINER / per_sensor) if per_sensor else 0


def switch_sensors(cost: FleetCost) -> int:
    """The fleet size past which provisioned (standard) costs less than serverless.

    Both grow with the fleet; the provisioned floor (400 RU/s, billed every hour) is what
    makes serverless cheaper for small fleets. Found by scaling this load linearly.
    """
    ru_per_sensor_hour = cost.ru_per_reading * cost.readings_per_hour / cost.sensors
    peak_per_sensor = cost.peak_ru_per_second / cost.sensors
    for sensors in (*range(1, 100), *range(100, 10_000, 10), *range(10_000, 1_000_001, 1000)):
        serverless = cost_model.serverless_usd(ru_per_sensor_hour * sensors)
        if standard_usd_per_hour(peak_per_sensor * sensors) < serverless:
            return sensors
    return 0
