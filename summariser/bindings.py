"""Functions bindings of the summariser: the readings change feed. Glue only."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

import azure.functions as func

from pipeline import metrics, names
from pipeline.correlation import correlated, current, shown, valid_correlation_id
from pipeline.invocations import INVOCATIONS
from pipeline.settings import binding_integer, load_settings
from pipeline.storage import get_store
from pipeline.telemetry import invocation
from summariser.batch import summarise_batch
from summariser.state_cache import SensorStateCache

log = logging.getLogger(__name__)
summariser_functions = func.Blueprint()
# Per instance: the sensor states this instance last wrote (see summariser.state_cache).
_states = SensorStateCache()

# The host needs a literal bool here (binding expressions resolve strings only), so it
# is read without raising; the settings module validates the same variable strictly.
_CREATE_LEASES = os.environ.get(names.CREATE_LEASE_CONTAINER, "").strip().lower() in (
    "1",
    "true",
    "yes",
    "on",
)
# How long the host waits before polling a drained feed again, and the most documents one
# invocation gets (docs/configuration.md; the RU cost of polling in docs/costs.md).
FEED_POLL_DELAY_MS = binding_integer(
    os.environ,
    names.SUMMARISER_FEED_POLL_DELAY_MS,
    names.DEFAULT_FEED_POLL_DELAY_MS,
    *names.FEED_POLL_DELAY_MS_RANGE,
)
MAX_ITEMS_PER_INVOCATION = binding_integer(
    os.environ,
    names.SUMMARISER_MAX_ITEMS_PER_INVOCATION,
    names.DEFAULT_MAX_ITEMS_PER_INVOCATION,
    *names.MAX_ITEMS_PER_INVOCATION_RANGE,
)


def _correlation_ids(batch: list[dict]) -> list[str | None]:
    return [valid_correlation_id(document.get("correlation_id")) for document in batch]


def _log_if_last_attempt(context: func.Context, documents: int) -> None:
    """Name the batch the host is about to skip: its lease moves on after the last retry."""
    retry = getattr(context, "retry_context", None)
    if retry is not None and retry.retry_count >= retry.max_retry_count:
        # The alert rule `summariser-gave-up` matches this message's start (telemetry_names.json).
        log.error(
            "%s: %d documents skipped after %d retries (correlation ids %s); replay by resetting the lease",
            metrics.telemetry_names()["logs"]["batch_given_up"],
            documents,
            retry.retry_count,
            shown(current()),
            exc_info=True,
            extra={"batch_size": documents},
        )


@summariser_functions.function_name("summarise_readings")
@summariser_functions.cosmos_db_trigger(
    arg_name="documents",
    connection=names.COSMOS_CONNECTION,
    database_name=names.binding_expression(names.COSMOS_DATABASE),
    container_name=names.binding_expression(names.READINGS_CONTAINER),
    lease_container_name=names.binding_expression(names.LEASES_CONTAINER),
    create_lease_container_if_not_exists=_CREATE_LEASES,
    start_from_beginning=True,
    feed_poll_delay=FEED_POLL_DELAY_MS,
    max_items_per_invocation=MAX_ITEMS_PER_INVOCATION,
)
@summariser_functions.retry(
    strategy="exponential_backoff",
    max_retry_count="8",
    minimum_interval="00:00:01",
    maximum_interval="00:01:00",
)
def summarise_readings(documents: func.DocumentList, context: func.Context) -> None:
    """Summarise each sensor in the batch; a store error raises so the batch is retried."""
    try:
        _summarise(documents, context)
    except Exception as error:
        INVOCATIONS.failed("summarise_readings", error)  # read by /api/health
        raise
    INVOCATIONS.succeeded("summarise_readings")


def _write_lag_seconds(documents: list[dict[str, Any]], now: datetime) -> float | None:
    """Now minus the oldest write time (`_ts`, set by Cosmos DB) in the batch, never negative.

    The store's write time, not the reading's own timestamp: a device stamping readings in
    the future (or the past) cannot make the lag negative (or huge).
    """
    written = [document["_ts"] for document in documents if isinstance(document.get("_ts"), int | float)]
    if not written:
        return None
    return max(0.0, now.timestamp() - min(written))


def _summarise(documents: func.DocumentList, context: func.Context) -> None:
    batch = [document.to_dict() for document in documents]
    with invocation("summarise_readings", context.invocation_id), correlated(_correlation_ids(batch)) as ids:
        # A bad setting or an unreachable store fails the batch like a failed write: on the
        # last retry its lease moves on, so it is named (and alerted on) the same way.
        try:
            settings = load_settings()
            store = get_store()
            # Requests (Cosmos DB) or SQL statements (SQLite) per batch; RU on Cosmos DB only.
            meter = getattr(store, "meter", None)
            requests_before = meter.total() if meter else 0
            units_before = getattr(meter, "request_units", None)
            started = time.perf_counter()
            now = datetime.now(UTC)
            outcome = summarise_batch(
                batch,
                store,
                settings.window_size,
                now,
                cache=_states,
            )
        except Exception:
            _log_if_last_attempt(context, len(documents))
            raise
        duration_ms = (time.perf_counter() - started) * 1000
        feed_lag_s = _write_lag_seconds(batch, now)
        requests = meter.total() - requests_before if meter else None
        units = round(meter.request_units - units_before, 2) if units_before is not None else None
        metrics.record_batch(
            outcome.readings,
            len(outcome.summaries),
            len(outcome.dead_letters),
            feed_lag_s,
            duration_ms,
            requests,
            units,
        )
        # The ids go into the message too: in Azure only the message reaches Application Insights.
        log.info(
            "summarised %d readings into %d summaries, %d dead letters; correlation ids %s",
            outcome.readings,
            len(outcome.summaries),
            len(outcome.dead_letters),
            shown(ids),
            extra={
                "batch_size": outcome.readings,
                "summaries": len(outcome.summaries),
                "dead_letters": len(outcome.dead_letters),
                "duration_ms": round(duration_ms, 1),
                "requests": requests,
                "request_charge": units,
                "feed_lag_s": None if feed_lag_s is None else round(feed_lag_s, 3),
            },
        )
