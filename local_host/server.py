"""Start the functions, the HTTP server and the progress line; stop them all cleanly."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from types import FrameType

import uvicorn

from local_host.http_gateway import FunctionsHttpGateway, http_functions
from local_host.triggers import ROOT, Counters, FeedTriggerRunner, TimerRunner
from pipeline.settings import Settings
from pipeline.storage import StoreError, reset_store
from pipeline.storage.sqlite_store import SqliteStore

log = logging.getLogger("local_host")
PROGRESS_SECONDS = 5.0
SHUTDOWN_SECONDS = 4.0


def _report_progress(
    store: SqliteStore,
    feeds: list[FeedTriggerRunner],
    counters: Counters,
    stopping: threading.Event,
) -> None:
    while not stopping.wait(PROGRESS_SECONDS):
        try:
            store.ping()  # a store that cannot persist is said here, not only by /api/health
            backlog = sum(store.feed_backlog(feed.consumer) for feed in feeds)
            lag = store.feed_lag_seconds(feeds[0].consumer) if feeds else 0.0
            dead_letters = store.dead_letter_count()
        except StoreError as error:
            log.warning("store unavailable: %s; writes are refused (503) until it is back", error)
            continue
        log.info(
            "progress: %d readings generated, %d summarised in %d batches, feed backlog %d "
            "(lag %.1f s), %d dead letters, %d failed attempts retried, %d batches given up",
            counters.readings_written,
            counters.readings_summarised,
            counters.batches,
            backlog,
            lag,
            dead_letters,
            counters.failed_attempts,
            counters.batches_skipped,
        )


def route_prefix() -> str:
    """host.json's `extensions.http.routePrefix` ("api" when absent, as in the host)."""
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    return str(host.get("extensions", {}).get("http", {}).get("routePrefix", "api"))


def _stop_like_ctrl_c(signal_number: int, frame: FrameType | None) -> None:
    # `kill` (SIGTERM) stops as Ctrl-C does: a clean shutdown with the checkpoint saved.
    raise KeyboardInterrupt


def disabled(function_name: str) -> bool:
    """`AzureWebJobs.<name>.Disabled=true`: the host's per-function switch (infra's GENERATOR_ENABLED)."""
    value = os.environ.get(f"AzureWebJobs.{function_name}.Disabled", "")
    return value.strip().lower() in ("1", "true")


def run_pipeline(
    settings: Settings,
    host: str,
    port: int,
    without_generator: bool,
    feed_poll: float,
    allowed_hosts: frozenset[str] | None,
    jsonnet_dates: bool = True,
) -> int:
    """Run until SIGINT/SIGTERM; return the process exit status."""
    import function_app

    store = SqliteStore(settings.sqlite_path, retention=settings.retention)
    store.ensure_ready()
    reset_store(store)  # the functions' get_store() now returns the embedded store
    counters = Counters()
    timers: list[TimerRunner] = []
    feeds: list[FeedTriggerRunner] = []
    # once per app object (see tests.servers); a function disabled by app setting is skipped, as the host does
    functions = [f for f in function_app.app.get_functions() if not disabled(f.get_function_name())]
    for function in functions:
        trigger_type = function.get_trigger().get_dict_repr()["type"]
        if trigger_type == "timerTrigger" and not without_generator:
            timers.append(TimerRunner(function, settings, store, counters))
        elif trigger_type == "cosmosDBTrigger":
            feeds.append(
                FeedTriggerRunner(
                    function, settings, store, counters, poll_delay=feed_poll, jsonnet_dates=jsonnet_dates
                )
            )

    stopping = threading.Event()
    threads = [
        threading.Thread(target=runner.run, args=(stopping, True), name=runner.name, daemon=True)
        for runner in timers
    ] + [
        threading.Thread(target=runner.run, args=(stopping,), name=runner.name, daemon=True)
        for runner in feeds
    ]
    threads.append(
        threading.Thread(
            target=_report_progress,
            args=(store, feeds, counters, stopping),
            name="progress",
            daemon=True,
        )
    )
    gateway = FunctionsHttpGateway(http_functions(functions, route_prefix()), allowed_hosts)
    server = uvicorn.Server(
        uvicorn.Config(
            gateway,
            host=host,
            port=port,
            log_level="warning",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
            lifespan="off",
            server_header=False,
        )
    )
    signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
    for thread in threads:
        thread.start()
    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    log.info(
        "sensor-pipeline running at http://%s:%d/ (%d sensors, store %s, functions: %s) - Ctrl-C to stop",
        shown_host,
        port,
        len(settings.sensor_ids),
        settings.sqlite_path,
        ", ".join(runner.name for runner in [*timers, *feeds]) or "none",
    )
    started = time.monotonic()
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the signal after its graceful shutdown: a normal stop
    finally:
        stopping.set()
        deadline = time.monotonic() + SHUTDOWN_SECONDS
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        store.close()
    if not server.started:
        log.error("could not serve on %s:%d (is the port in use?)", host, port)
        return 1
    log.info("stopped after %.0f s; checkpoint saved", time.monotonic() - started)
    return 0
