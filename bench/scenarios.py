"""The whole system's cost per hour and per month, ours beside the original, in three scenarios.

(a) 5 sensors, a 10 s tick, 1 viewer; (b) the same with no viewer; (c) 10,000 sensors and
100 viewers. (a) and (b) are the requests `bench.system` recorded, per hour. (c) scales
what was recorded by the rules below (every rule is also in docs/costs.md):

- readings: every sensor reports every 5.5 s on average (the generator's Poisson mean);
- summariser: the RU per reading measured with batches of 100 documents that hold one
  reading of each of 100 sensors (the shape of the feed at 10,000 sensors);
- our page: the latest summaries are read once per second per instance (one instance),
  in pages of 100 items, each item the size measured at 5 sensors; the original's poll is
  one TOP 1 query per sensor per viewer, each as measured;
- charts: each viewer sees `visible_charts` charts at once (what the dashboard showed at
  10,000 sensors); a chart changes with every summary of its sensor (about every 5.5 s);
  ours queries once per change per instance, the original once per change per viewer;
- autoscale: the busiest second of an hour needs twice the hour's average RU/s;
- the trigger's own requests: change-feed polls at each side's delay (the original at the
  host default, 5 s; ours at `OURS_FEED_POLL_SECONDS`, the delay our trigger sets), lease
  renewals every 17 s, lease acquisition every 13 s, a checkpoint per batch, with one lease
  (one physical partition) at every scale.

The Function App (Flex Consumption, on demand, 2,048 MB instances) is priced by the same
counts: each of the three scale groups (timer, trigger, HTTP) pays at least 1 s per
period of activity; periods are counted as distinct seconds with activity, at most 3,600
an hour per instance, one instance per group.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench import cost_model
from bench.cost_model import HOURS_PER_MONTH, Operation, total_ru
from bench.system import FEED_PAGE, POLL_SECONDS, TICK_SECONDS, Recording

MEAN_GAP_SECONDS = 5.5
INSTANCE_GB = 2.0  # infra/app/function.bicep: instanceMemoryMB 2048
FEED_POLL_SECONDS = 5.0  # Cosmos DB trigger defaults: feedPollDelay 5 s (the original's),
LEASE_RENEW_SECONDS = 17.0  # leaseRenewInterval 17 s,
LEASE_ACQUIRE_SECONDS = 13.0  # leaseAcquireInterval 13 s
LEASE_DOCUMENT_BYTES = 500  # ASSUMED: a lease document with its continuation token
LEASE_INDEXED_TERMS = 6  # ASSUMED: its properties, all indexed (default policy)
QUERY_PAGE_ITEMS = 100  # ASSUMED: items per query page
PEAK_TO_AVERAGE = 2.0  # ASSUMED: the busiest second of an hour needs twice the average RU/s


def _ours_feed_poll_seconds() -> float:
    """The feed poll delay our trigger is registered with (summariser/bindings.py)."""
    from summariser import bindings

    return bindings.FEED_POLL_DELAY_MS / 1000


OURS_FEED_POLL_SECONDS = _ours_feed_poll_seconds()


def feed_poll_seconds(side: str) -> float:
    """How often each side's trigger polls a drained change feed."""
    return OURS_FEED_POLL_SECONDS if side == "ours" else FEED_POLL_SECONDS


@dataclass(frozen=True)
class Load:
    """One side of one scenario: request units and Function App work per hour."""

    scenario: str
    side: str
    ru_by_part: dict[str, float]
    executions: float
    gb_seconds: float
    note: str = ""

    @property
    def ru_per_hour(self) -> float:
        return sum(self.ru_by_part.values())

    @property
    def peak_ru_per_second(self) -> float:
        return PEAK_TO_AVERAGE * self.ru_per_hour / 3600

    @property
    def serverless_usd_hour(self) -> float:
        return cost_model.serverless_usd(self.ru_per_hour)

    @property
    def autoscale_usd_hour(self) -> float:
        return cost_model.autoscale_usd_per_hour(self.peak_ru_per_second)

    @property
    def flex_usd_hour(self) -> float:
        return cost_model.flex_usd(self.executions, self.gb_seconds)

    @property
    def flex_usd_month_after_grant(self) -> float:
        return cost_model.flex_usd_month_after_grant(self.executions, self.gb_seconds)


def _per_hour(recording: Recording, phase: str) -> float:
    return recording.per_hour(total_ru(recording.operations.get(phase, [])))


def _mean(operations: Sequence[Operation], attribute: str) -> float:
    return sum(getattr(o, attribute) for o in operations) / len(operations) if operations else 0.0


def trigger_upkeep(
    readings_per_hour: float,
    reading_bytes: float,
    batches_per_hour: float,
    poll_seconds: float = FEED_POLL_SECONDS,
) -> float:
    """RU per hour of the Cosmos DB trigger itself: feed polls, leases, checkpoints.

    A drained feed is polled every `poll_seconds`; a batch's read is priced by what it
    returns (`delivered`), so only the polls that find nothing are counted apart.
    """
    lease_replace = cost_model.replace_ru(LEASE_DOCUMENT_BYTES, LEASE_INDEXED_TERMS)
    empty_polls = max(0.0, 3600 / poll_seconds - batches_per_hour)
    polls = (empty_polls + batches_per_hour) * cost_model.change_feed_poll_ru()
    delivered = readings_per_hour * reading_bytes / 1024 * cost_model.QUERY_RU_PER_KB_RETURNED
    renewals = 3600 / LEASE_RENEW_SECONDS * lease_replace
    acquisitions = 3600 / LEASE_ACQUIRE_SECONDS * cost_model.query_ru(LEASE_DOCUMENT_BYTES)
    return polls + delivered + renewals + acquisitions + batches_per_hour * lease_replace


def _flex(executions: float, busy_seconds: Sequence[float]) -> tuple[float, float]:
    billed = sum(min(3600.0, seconds) for seconds in busy_seconds)
    return executions, billed * INSTANCE_GB


def small(recording: Recording, scenario: str, with_viewers: bool) -> Load:
    """Scenario (a) or (b) from what one side did at 5 sensors."""
    readings = recording.operations.get("generator", [])
    reading_bytes = _mean(readings, "size_bytes")
    readings_per_hour = recording.per_hour(recording.readings)
    batches_per_hour = recording.per_hour(recording.batches)
    parts = {
        "generator": _per_hour(recording, "generator"),
        "summariser": _per_hour(recording, "summariser"),
        "trigger": trigger_upkeep(
            readings_per_hour, reading_bytes, batches_per_hour, feed_poll_seconds(recording.side)
        ),
    }
    if recording.operations.get("windows"):  # ours' time windows (rollups), beside the summaries
        parts["windows"] = _per_hour(recording, "windows")
    polls = charts = 0.0
    if with_viewers:
        parts["page"] = _per_hour(recording, "poll")
        parts["charts"] = _per_hour(recording, "chart")
        polls = recording.per_hour(recording.polls)
        charts = recording.per_hour(recording.chart_requests)
    ticks_per_hour = 3600 / TICK_SECONDS
    # Distinct seconds with activity: each tick, each batch, each poll (a poll's chart
    # requests follow it within the same second).
    http_seconds = min(3600.0, polls)
    executions = ticks_per_hour + batches_per_hour + polls + charts
    executions, gb_seconds = _flex(executions, [ticks_per_hour, batches_per_hour, http_seconds])
    return Load(scenario, recording.side, parts, executions, gb_seconds)


def large(
    recording: Recording,
    summariser_ru_per_reading: float,
    sensors: int,
    viewers: int,
    visible_charts: int,
    windows_ru_per_reading: float = 0.0,
) -> Load:
    """Scenario (c): what was recorded at 5 sensors, scaled by the rules of this module.

    The time windows cost the same per reading at any fleet size: each sensor closes its
    windows at its own pace, so the RU per reading measured at 5 sensors is scaled.
    """
    readings_per_hour = sensors * 3600 / MEAN_GAP_SECONDS
    generator = recording.operations.get("generator", [])
    reading_ru = total_ru(generator) / len(generator)
    batches_per_hour = readings_per_hour / FEED_PAGE
    parts = {
        "generator": reading_ru * readings_per_hour,
        "summariser": summariser_ru_per_reading * readings_per_hour,
        "trigger": trigger_upkeep(
            readings_per_hour,
            _mean(generator, "size_bytes"),
            batches_per_hour,
            feed_poll_seconds(recording.side),
        ),
    }
    if windows_ru_per_reading:
        parts["windows"] = windows_ru_per_reading * readings_per_hour
    polls_recorded = recording.operations.get("poll", [])
    charts_recorded = recording.operations.get("chart", [])
    # Per chart drawn, not per query: ours extends a kept history without one (docs/costs.md).
    chart_query_ru = total_ru(charts_recorded) / max(1, recording.chart_requests)
    changes_per_chart_hour = 3600 / MEAN_GAP_SECONDS
    if recording.side == "ours":
        items = sum(o.items for o in polls_recorded)
        item_bytes = sum(o.size_bytes for o in polls_recorded) / items
        pages = math.ceil(sensors / QUERY_PAGE_ITEMS)
        refresh_ru = pages * cost_model.QUERY_RU_PER_PARTITION + sensors * item_bytes / 1024
        parts["page"] = 3600 * refresh_ru  # one refresh a second, whatever the viewers
        parts["charts"] = visible_charts * changes_per_chart_hour * chart_query_ru
        note = ""
    else:
        top1_ru = total_ru(polls_recorded) / len(polls_recorded)
        parts["page"] = viewers * 3600 / POLL_SECONDS * sensors * top1_ru
        parts["charts"] = viewers * visible_charts * changes_per_chart_hour * chart_query_ru
        note = "Function App: a lower bound (its page needs far more than one instance)"
    ticks_per_hour = 3600 / TICK_SECONDS
    polls = viewers * 3600 / POLL_SECONDS
    charts = viewers * visible_charts * changes_per_chart_hour
    executions = ticks_per_hour + batches_per_hour + polls + charts
    # Every group is busy all the time at this scale: at least one instance each.
    executions, gb_seconds = _flex(executions, [3600.0, 3600.0, 3600.0])
    return Load("c", recording.side, parts, executions, gb_seconds, note)


def table(loads: Sequence[Load]) -> list[str]:
    """The cost table in Markdown, per hour and per month (730 hours)."""
    lines = [
        "| scenario | design | RU/hour | serverless $/h | $/month | autoscale $/h | $/month "
        "| Function App $/h | $/month (after free grant) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for load in loads:
        lines.append(
            f"| {load.scenario} | {load.side} | {load.ru_per_hour:,.0f} "
            f"| {load.serverless_usd_hour:,.4f} | {load.serverless_usd_hour * HOURS_PER_MONTH:,.2f} "
            f"| {load.autoscale_usd_hour:,.4f} | {load.autoscale_usd_hour * HOURS_PER_MONTH:,.2f} "
            f"| {load.flex_usd_hour:,.4f} | {load.flex_usd_month_after_grant:,.2f} |"
        )
    return lines
