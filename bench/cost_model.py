"""What Cosmos DB and the Function App charge for the operations the code performs.

Every charge below is from Microsoft's documentation (the page is named beside it and
listed in docs/costs.md) or is marked ASSUMED, with the reason in docs/costs.md. The
functions are pure: `bench.metering` records what the code really sends (counted by the
store's request meter, with the size of each document), and this module prices it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

HOURS_PER_MONTH = 730  # Azure's pricing pages count a month as 730 hours

# --- Cosmos DB request charges -------------------------------------------------------
# "Optimize request cost": a point read of a 1 KB item costs 1 RU, of a 100 KB item 10 RU.
POINT_READ_ANCHORS_KB_RU = ((1.0, 1.0), (100.0, 10.0))
# "Optimize request cost": writing a 1 KB item without indexing costs about 5.5 RU ...
INSERT_1KB_UNINDEXED_RU = 5.5
# ... and replacing an item costs two times the charge of inserting it (an upsert of an
# existing id is a replace).
REPLACE_FACTOR = 2.0
# "Understand request unit consumption": write charge by document size (KB -> RU). Used
# for its shape only: how much more a bigger document costs than a 1 KB one.
WRITE_CHARGE_BY_SIZE = (
    (1, 4.95),
    (2, 6.29),
    (4, 6.67),
    (8, 7.04),
    (16, 9.52),
    (32, 11.23),
    (64, 22.67),
    (128, 48.19),
    (256, 98.29),
    (512, 184.57),
    (1024, 625.00),
    (2048, 1250.00),
)
# "Understand request unit consumption": a create adds 0.2 RU per indexed term the
# indexing policy defines ("5.0 (document size based) + 0.2 x 10 (indexing) = 7 RUs"). A
# term is one indexed property value; `id` is always indexed ("Indexing policies").
INDEXED_TERM_RU = 0.2
# The query pricing rule (ASSUMED; Microsoft documents the factors, not a formula): a fixed
# charge per physical partition visited ("a few RU") ...
QUERY_RU_PER_PARTITION = 2.5
# ... plus the data the page returns at the point-read rate (1 RU per KB). A projection
# returns less, so this rule favours the original's projected query; `bench.sensitivity`
# reprices every query by the whole documents it loads instead, and the bench prints both.
QUERY_RU_PER_KB_RETURNED = 1.0
# ASSUMED: a change-feed read is a read request of 1 RU plus the data it returns ("feed
# operations consume RUs based on the number and size of the documents processed").
CHANGE_FEED_POLL_RU = 1.0

# --- Cosmos DB prices ("Azure Cosmos DB pricing", "Autoscale FAQ") ----------------------
SERVERLESS_USD_PER_MILLION_RU = 0.25
PROVISIONED_USD_PER_100_RUS_HOUR = 0.008  # standard (manual) throughput, one region
AUTOSCALE_RATE_FACTOR = 1.5  # autoscale: 1.5x the standard rate in a single-write-region account
AUTOSCALE_MIN_FRACTION = 0.1  # billed at least 10% of the autoscale maximum
AUTOSCALE_SMALLEST_MAX_RUS = 1000  # the smallest autoscale maximum

# --- Azure Functions, Flex Consumption, on demand ("Azure Functions pricing", "Flex
# Consumption plan hosting: Billing", "Estimating consumption-based costs") -------------
FLEX_USD_PER_GB_SECOND = 0.000026
FLEX_USD_PER_MILLION_EXECUTIONS = 0.40
FLEX_MIN_BILLED_SECONDS = 1.0  # the minimum billable execution period is 1,000 ms ...
FLEX_BILLING_STEP_SECONDS = 0.1  # ... past that it is rounded up to the nearest 100 ms
FLEX_FREE_GB_SECONDS_PER_MONTH = 100_000  # on-demand free grant, per subscription
FLEX_FREE_EXECUTIONS_PER_MONTH = 250_000


def _interpolate(points: Iterable[tuple[float, float]], x: float) -> float:
    """Linear between the documented points, extended with the last slope beyond them."""
    ordered = sorted(points)
    if x <= ordered[0][0]:
        return ordered[0][1]
    for (x0, y0), (x1, y1) in zip(ordered, ordered[1:], strict=False):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    (x0, y0), (x1, y1) = ordered[-2], ordered[-1]
    return y1 + (y1 - y0) * (x - x1) / (x1 - x0)


def point_read_ru(size_bytes: float) -> float:
    """A point read (`read_item`) of one item of this size."""
    return _interpolate(POINT_READ_ANCHORS_KB_RU, size_bytes / 1024)


def insert_ru(size_bytes: float, indexed_terms: int = 0) -> float:
    """Creating an item (or upserting a new id): size-scaled base plus its indexed values."""
    kb = size_bytes / 1024
    size_factor = _interpolate(WRITE_CHARGE_BY_SIZE, kb) / WRITE_CHARGE_BY_SIZE[0][1]
    return INSERT_1KB_UNINDEXED_RU * size_factor + INDEXED_TERM_RU * indexed_terms


def replace_ru(size_bytes: float, indexed_terms: int = 0) -> float:
    """Replacing an item, or upserting an id that exists: twice the insert."""
    return REPLACE_FACTOR * insert_ru(size_bytes, indexed_terms)


def query_ru(returned_bytes: float, partitions: int = 1) -> float:
    """One query page: a fixed charge per physical partition visited plus the data returned."""
    return QUERY_RU_PER_PARTITION * partitions + QUERY_RU_PER_KB_RETURNED * returned_bytes / 1024


def change_feed_poll_ru(returned_bytes: float = 0.0) -> float:
    """One read of the change feed (by the trigger's change feed processor)."""
    return CHANGE_FEED_POLL_RU + QUERY_RU_PER_KB_RETURNED * returned_bytes / 1024


@dataclass(frozen=True)
class Operation:
    """One request the code sent, as priced: what it was and how big.

    `kind` is "insert", "replace", "read", "query" or "feed"; `size_bytes` is the written
    or read document, or all the documents a query page returned.
    """

    kind: str
    size_bytes: float
    indexed_terms: int = 0
    items: int = 1

    @property
    def request_units(self) -> float:
        if self.kind == "insert":
            return insert_ru(self.size_bytes, self.indexed_terms)
        if self.kind == "replace":
            return replace_ru(self.size_bytes, self.indexed_terms)
        if self.kind == "read":
            return point_read_ru(self.size_bytes)
        if self.kind == "query":
            return query_ru(self.size_bytes)
        if self.kind == "feed":
            return change_feed_poll_ru(self.size_bytes)
        raise ValueError(f"unknown operation kind {self.kind!r}")


def total_ru(operations: Iterable[Operation]) -> float:
    return sum(operation.request_units for operation in operations)


def serverless_usd(request_units: float) -> float:
    """Serverless: what these request units cost."""
    return request_units / 1_000_000 * SERVERLESS_USD_PER_MILLION_RU


def autoscale_usd_per_hour(peak_ru_per_second: float, max_ru_per_second: float | None = None) -> float:
    """Provisioned autoscale, one region, for an hour whose busiest second needed this.

    Billed for the highest RU/s the resource scaled to in the hour, at least 10% of the
    maximum, in units of 100 RU/s, at 1.5x the standard rate. Without `max_ru_per_second`,
    the smallest allowed maximum (a multiple of 1,000) that covers the peak.
    """
    if max_ru_per_second is None:
        steps = math.ceil(peak_ru_per_second / AUTOSCALE_SMALLEST_MAX_RUS)
        max_ru_per_second = AUTOSCALE_SMALLEST_MAX_RUS * max(1, steps)
    billed = max(peak_ru_per_second, AUTOSCALE_MIN_FRACTION * max_ru_per_second)
    hundreds = math.ceil(round(billed / 100, 9))
    return hundreds * AUTOSCALE_RATE_FACTOR * PROVISIONED_USD_PER_100_RUS_HOUR


def flex_billed_seconds(active_seconds: float) -> float:
    """One period an instance is busy: at least 1 s, then rounded up to 0.1 s."""
    if active_seconds <= FLEX_MIN_BILLED_SECONDS:
        return FLEX_MIN_BILLED_SECONDS
    steps = math.ceil(round(active_seconds / FLEX_BILLING_STEP_SECONDS, 9))
    return steps * FLEX_BILLING_STEP_SECONDS


def flex_usd(executions: float, gb_seconds: float) -> float:
    """On-demand Flex Consumption, before the monthly free grant."""
    return executions / 1_000_000 * FLEX_USD_PER_MILLION_EXECUTIONS + gb_seconds * FLEX_USD_PER_GB_SECOND


def flex_usd_month_after_grant(executions_per_hour: float, gb_seconds_per_hour: float) -> float:
    """A month of on-demand Flex Consumption with the subscription's free grant taken off."""
    executions = max(0.0, executions_per_hour * HOURS_PER_MONTH - FLEX_FREE_EXECUTIONS_PER_MONTH)
    gb_seconds = max(0.0, gb_seconds_per_hour * HOURS_PER_MONTH - FLEX_FREE_GB_SECONDS_PER_MONTH)
    return flex_usd(executions, gb_seconds)
