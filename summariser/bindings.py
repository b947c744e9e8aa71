"""Functions bindings of the summariser: the readings change feed. Glue only."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

import azure.functions as func

from pipeline import names
from pipeline.settings import load_settings
from pipeline.storage import get_store
from summariser.batch import summarise_batch
from summariser.window_cache import WindowCache

log = logging.getLogger(__name__)
blueprint = func.Blueprint()
# Per instance: the windows this instance last computed (see summariser.window_cache).
_windows = WindowCache()

# The host needs a literal bool here (binding expressions resolve strings only), so it
# is read without raising; the settings module validates the same variable strictly.
_CREATE_LEASES = os.environ.get(names.CREATE_LEASE_CONTAINER, "").strip().lower() in (
    "1", "true", "yes", "on",
)


@blueprint.function_name("summarise_readings")
@blueprint.cosmos_db_trigger(
    arg_name="documents", connection=names.COSMOS_CONNECTION,
    database_name=names.binding_expression(names.COSMOS_DATABASE),
    container_name=names.binding_expression(names.READINGS_CONTAINER),
    lease_container_name=names.binding_expression(names.LEASES_CONTAINER),
    create_lease_container_if_not_exists=_CREATE_LEASES,
    start_from_beginning=True,
)
@blueprint.retry(
    strategy="exponential_backoff", max_retry_count="8",
    minimum_interval="00:00:01", maximum_interval="00:01:00",
)
def summarise_readings(documents: func.DocumentList) -> None:
    """Summarise each sensor in the batch; a store error raises so the batch is retried."""
    settings = load_settings()
    outcome = summarise_batch(
        (document.to_dict() for document in documents), get_store(),
        settings.window_size, datetime.now(UTC), cache=_windows,
    )
    log.info(
        "summarised %d readings into %d summaries, %d dead letters",
        outcome.readings, len(outcome.summaries), len(outcome.dead_letters),
    )
