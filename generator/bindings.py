"""Functions bindings of the generator: a timer and the device ingest route. Glue only."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import azure.functions as func

from generator.simulation import SensorSimulation
from pipeline import live_settings, metrics, names
from pipeline.correlation import correlated, correlation_id_for
from pipeline.functions_http import forward_to_web_app
from pipeline.telemetry import invocation

log = logging.getLogger(__name__)
generator_functions = func.Blueprint()

_simulation: SensorSimulation | None = None
_simulation_lock = threading.Lock()


def simulation() -> SensorSimulation:
    """The process's simulated sensors, built on first tick; timing and speed are live settings."""
    global _simulation
    with _simulation_lock:
        settings = live_settings.current()
        if _simulation is None:
            _simulation = SensorSimulation(
                settings.sensor_ids,
                seed=settings.generator_seed,
                timing=settings.generator_timing,
                temperature_model=settings.temperature_model,
                speed=settings.generator_speed,
            )
        else:
            # Changed in place: the sensors' state (next due times, last temperatures) carries on.
            _simulation.timing = settings.generator_timing
            _simulation.speed = settings.generator_speed
        return _simulation


@generator_functions.function_name("generate_readings")
@generator_functions.timer_trigger(
    arg_name="timer",
    schedule=names.binding_expression(names.GENERATOR_SCHEDULE),
    run_on_startup=False,
    use_monitor=False,
)
@generator_functions.retry(
    strategy="exponential_backoff",
    max_retry_count="3",
    minimum_interval="00:00:01",
    maximum_interval="00:00:08",
)
@generator_functions.cosmos_db_output(
    arg_name="readings",
    connection=names.COSMOS_CONNECTION,
    database_name=names.binding_expression(names.COSMOS_DATABASE),
    container_name=names.binding_expression(names.READINGS_CONTAINER),
)
def generate_readings(
    timer: func.TimerRequest,
    readings: func.Out[func.DocumentList],
    context: func.Context,
) -> None:
    """Emit the readings the simulated sensors took since the last tick, in one bulk write."""
    # The tick's trace (Application Insights operation_Id in Azure) names its readings.
    correlation_id = correlation_id_for(None, context.trace_context)
    with invocation("generate_readings", context.invocation_id), correlated([correlation_id]):
        batch = simulation().readings_until(datetime.now(UTC))
        if timer.past_due:
            log.info("generator tick is past due; emitting the readings of the whole gap")
        documents = (dict(r.to_document(), correlation_id=correlation_id) for r in batch)
        readings.set(func.DocumentList(func.Document.from_dict(d) for d in documents))
        metrics.record_generated(len(batch))
        log.info(
            "generated %d readings (correlation id %s)",
            len(batch),
            correlation_id,
            extra={"batch_size": len(batch)},
        )


@generator_functions.function_name("post_readings")
@generator_functions.route(route="api/readings", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def post_readings(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Devices post readings here (function key in Azure); served by the web app."""
    return await forward_to_web_app(req, context)
