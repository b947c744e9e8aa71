"""The cost sections of `make bench`: scenarios (a), (b), (c) and (c) per million readings.

From what the whole-system runs recorded (`Recorded`), priced by `bench.scenarios`,
`bench.fleet` and `bench.sensitivity`; every line is reported through `bench.report.say`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bench import fleet, scenarios, sensitivity, system
from bench.cost_model import Operation
from bench.report import say

LARGE_SENSORS = 10_000
MANY_VIEWERS = 100


def describe_operations(operations: list[Operation]) -> str:
    kinds: dict[str, list[Operation]] = {}
    for operation in operations:
        kinds.setdefault(operation.kind, []).append(operation)
    parts = []
    for kind, group in sorted(kinds.items()):
        size = sum(o.size_bytes for o in group) / len(group)
        terms = sum(o.indexed_terms for o in group) / len(group)
        units = sum(o.request_units for o in group) / len(group)
        parts.append(f"{kind} {len(group)} x {size:,.0f} B ({terms:.0f}), {units:.2f} RU")
    return "; ".join(parts) or "none"


@dataclass
class Recorded:
    """What the whole-system runs recorded, per side: at 5 sensors, and RU per reading at 100."""

    runs: dict[str, system.Recording] = field(default_factory=dict)
    summariser_ru_per_reading: dict[str, float] = field(default_factory=dict)  # the 10,000 shape
    summariser_ru_per_reading_5: dict[str, float] = field(default_factory=dict)
    # The time windows (rollups) ours writes, RU per reading, at 5 sensors: the same per
    # reading at any fleet size (each sensor closes its windows at its own pace).
    windows_ru_per_reading: dict[str, float] = field(default_factory=dict)


def costs(recorded: Recorded, visible_charts: int) -> tuple[dict[str, float], list[str], list[str]]:
    loads = []
    for scenario, viewers in (("a", True), ("b", False)):
        for side in ("ours", "original"):
            loads.append(scenarios.small(recorded.runs[side], scenario, viewers))
    for side in ("ours", "original"):
        per_reading = recorded.summariser_ru_per_reading[side]
        loads.append(
            scenarios.large(
                recorded.runs[side],
                per_reading,
                LARGE_SENSORS,
                MANY_VIEWERS,
                visible_charts,
                recorded.windows_ru_per_reading.get(side, 0.0),
            )
        )
    by = {(load.scenario, load.side): load for load in loads}
    for load in loads:
        parts = ", ".join(f"{k} {v:,.0f}" for k, v in load.ru_by_part.items())
        say("cost", f"({load.scenario}) {load.side}: RU/hour ({parts})", f"{load.ru_per_hour:,.0f}")
        say(
            "cost",
            f"({load.scenario}) {load.side}: Function App executions/hour, GB-s/hour; peak RU/s",
            f"{load.executions:,.0f}, {load.gb_seconds:,.0f}; {load.peak_ru_per_second:,.0f}"
            + (f" ({load.note})" if load.note else ""),
        )
    figures = {
        "ru_ratio_a": by[("a", "ours")].ru_per_hour / by[("a", "original")].ru_per_hour,
        "ru_ratio_b": by[("b", "ours")].ru_per_hour / by[("b", "original")].ru_per_hour,
        "ru_ratio_c": by[("c", "ours")].ru_per_hour / by[("c", "original")].ru_per_hour,
    }
    for key in ("ru_ratio_a", "ru_ratio_b", "ru_ratio_c"):
        say("cost", f"{key}: RU/hour ours / original", f"{figures[key]:.3f}")
    figures.update(query_rule_sensitivity(recorded, by))
    fleet_figures, fleet_table = fleet_costs(recorded, by)
    figures.update(fleet_figures)
    return figures, scenarios.table(loads), fleet_table


def query_rule_sensitivity(recorded: Recorded, by: dict[tuple[str, str], scenarios.Load]) -> dict[str, float]:
    """The summariser and scenario (a) ratios with queries priced by what they load, not return."""
    shifted: dict[str, float] = {}  # RU per hour each side gains under the "loaded" rule
    per_reading_5: dict[str, float] = {}
    per_query: dict[str, float] = {}
    for side, recording in recorded.runs.items():
        gained = {
            phase: sensitivity.phase_ru(recording, phase, loaded=True)
            - sensitivity.phase_ru(recording, phase, loaded=False)
            for phase in ("summariser", "poll", "chart")
        }
        shifted[side] = recording.per_hour(sum(gained.values()))
        summariser = sensitivity.phase_ru(recording, "summariser", loaded=True)
        per_reading_5[side] = summariser / max(1, recording.readings)
        queries = [o for o in recording.operations.get("summariser", []) if o.kind == "query"]
        per_query[side] = gained["summariser"] / len(queries) if queries else 0.0
    # The 10,000-sensor shape: one summariser query per reading on the original's side.
    per_reading_10k = {
        side: recorded.summariser_ru_per_reading[side] + per_query[side] for side in ("ours", "original")
    }
    figures = {
        "summariser_ru_ratio_5_loaded": per_reading_5["ours"] / per_reading_5["original"],
        "summariser_ru_ratio_10k_loaded": per_reading_10k["ours"] / per_reading_10k["original"],
        "ru_ratio_a_loaded": (by[("a", "ours")].ru_per_hour + shifted["ours"])
        / (by[("a", "original")].ru_per_hour + shifted["original"]),
    }
    for key, value in figures.items():
        say(
            "cost",
            f"{key.removesuffix('_loaded')} if queries were priced by the documents they load",
            f"{value:.3f}",
        )
    return figures


def fleet_costs(
    recorded: Recorded, by: dict[tuple[str, str], scenarios.Load]
) -> tuple[dict[str, float], list[str]]:
    """Scenario (c) per million readings in each capacity mode (`bench.fleet`)."""
    lines = [
        "| design | RU/reading | serverless $ | standard $ | autoscale $ | storage $ | Function App $ "
        "| cheapest usable mode: total $ per million readings | serverless stops at "
        "| standard is cheaper from |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    figures: dict[str, float] = {}
    for side in ("ours", "original"):
        cost = _fleet_cost(recorded, side, by[("c", side)])
        mode = cost.cheapest_mode
        say(
            "fleet",
            f"(c) {side}, per million readings: serverless / standard (+{fleet.HEADROOM:.0%} headroom) / "
            "autoscale, storage, Function App ($)",
            f"{cost.serverless:.3f} / {cost.standard:.3f} / {cost.autoscale:.3f}, "
            f"{cost.storage:.3f}, {cost.compute:.3f}",
        )
        say(
            "fleet",
            f"(c) {side}: whole system in the cheapest usable mode ({mode}), $ per million readings",
            f"{cost.total():.3f}",
        )
        limit = fleet.serverless_limit_sensors(cost)
        switch = fleet.switch_sensors(cost)
        say(
            "fleet",
            f"(c) {side}: serverless' 5,000 RU/s per container reached at / standard cheaper from, sensors",
            f"{limit:,} / {switch:,}",
        )
        lines.append(
            f"| {side} | {cost.ru_per_reading:.1f} | {cost.serverless:.3f} | {cost.standard:.3f} "
            f"| {cost.autoscale:.3f} | {cost.storage:.3f} | {cost.compute:.3f} | {mode}: {cost.total():.3f} "
            f"| {limit:,} sensors | {switch:,} sensors |"
        )
        figures[f"usd_per_million_c_{side}"] = cost.total()
    figures["usd_per_million_c"] = figures.pop("usd_per_million_c_ours")
    # What the summariser alone decides: ours priced with other summariser costs per reading,
    # everything else as recorded. The original's; and the floor of any design that still
    # writes every summary: one summary create per reading and nothing else.
    ours = by[("c", "ours")]
    summariser_requests = recorded.runs["ours"].operations.get("summariser", [])
    creates = [o.request_units for o in summariser_requests if o.kind == "insert"]
    alternatives = {
        "the original's RU per reading": recorded.summariser_ru_per_reading["original"],
        "one summary create per reading and nothing else": sum(creates) / max(1, len(creates)),
    }
    for label, per_reading in alternatives.items():
        summariser = per_reading * fleet.readings_per_hour(LARGE_SENSORS)
        what_if = replace(ours, ru_by_part={**ours.ru_by_part, "summariser": summariser})
        say(
            "fleet",
            f"(c) ours if the summariser cost {label} ({per_reading:.2f} RU), the rest as measured: "
            "$ per million readings",
            f"{_fleet_cost(recorded, 'ours', what_if).total():.3f}",
        )
    return figures, lines


def _fleet_cost(recorded: Recorded, side: str, load: scenarios.Load) -> fleet.FleetCost:
    """One side's scenario (c) load per million readings, storage priced from its recording."""
    recording = recorded.runs[side]
    summaries = [o for o in recording.operations.get("summariser", []) if o.kind == "insert"]
    readings = recording.operations.get("generator", [])
    # A window rewritten by a late reading replaces itself: only creates add storage.
    windows = [o for o in recording.operations.get("windows", []) if o.kind == "insert"]
    retention = fleet.Retention(
        reading_bytes=sum(o.size_bytes for o in readings) / max(1, len(readings)),
        summary_bytes=sum(o.size_bytes for o in summaries) / max(1, len(summaries)),
        summaries_per_reading=1.0,  # at 10,000 sensors, one summary per reading on both sides
        # Each sensor closes its windows at its own pace: per reading as recorded.
        window_bytes=sum(o.size_bytes for o in windows) / max(1, len(windows)),
        windows_per_reading=len(windows) / max(1, recording.readings),
    )
    parts = load.ru_by_part
    summaries_side = parts.get("summariser", 0) + parts.get("page", 0) + parts.get("charts", 0)
    busiest = max(parts.get("generator", 0), summaries_side) / load.ru_per_hour
    return fleet.price(load, LARGE_SENSORS, retention, busiest)


def window_ru_ratio(recorded: Recorded) -> float | None:
    """The time windows' RU per reading, as the whole-system run recorded them, over the
    original summariser's RU per reading at the 10,000 shape (a cross-check of
    `bench.rollups`' figure: windows cost the same per reading at any fleet size, since each
    sensor closes its windows at its own pace). None on a tree without rollups.
    """
    if not recorded.runs["ours"].operations.get("windows"):
        return None
    return recorded.windows_ru_per_reading["ours"] / recorded.summariser_ru_per_reading["original"]
