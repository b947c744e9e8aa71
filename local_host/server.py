"""Start the functions, the web server and the progress line; stop them all cleanly."""

from __future__ import annotations

import logging
import threading
import time

import uvicorn

from local_host.triggers import Counters, FeedTriggerRunner, TimerRunner
from pipeline.settings import Settings
from pipeline.storage import StoreError, reset_store
from pipeline.storage.sqlite_store import SqliteStore
from pipeline.web import create_web_app

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
            "progress: %d readings written, %d summarised in %d batches, feed backlog %d "
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


def run_pipeline(
    settings: Settings,
    host: str,
    port: int,
    without_generator: bool,
    feed_poll: float,
) -> int:
    """Run until SIGINT/SIGTERM; return the process exit status."""
    import function_app

    store = SqliteStore(settings.sqlite_path)
    store.ensure_ready()
    reset_store(store)  # the functions' get_store() now returns the embedded store
    counters = Counters()
    timers: list[TimerRunner] = []
    feeds: list[FeedTriggerRunner] = []
    for function in function_app.app.get_functions():
        trigger_type = function.get_trigger().get_dict_repr()["type"]
        if trigger_type == "timerTrigger" and not without_generator:
            timers.append(TimerRunner(function, settings, store, counters))
        elif trigger_type == "cosmosDBTrigger":
            feeds.append(FeedTriggerRunner(function, settings, store, counters, poll_delay=feed_poll))

    stopping = threading.Event()
    threads = [
        threading.Thread(target=runner.run, args=(stopping,), name=runner.name, daemon=True)
        for runner in [*timers, *feeds]
    ]
    threads.append(
        threading.Thread(
            target=_report_progress,
            args=(store, feeds, counters, stopping),
            name="progress",
            daemon=True,
        )
    )
    server = uvicorn.Server(
        uvicorn.Config(
            create_web_app(store=store, settings=settings),
            host=host,
            port=port,
            log_level="warning",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
            lifespan="off",
        )
    )
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
