"""Start the functions, the HTTP server and the progress line; stop them all cleanly."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from dataclasses import dataclass

from hypercorn.asyncio import serve
from hypercorn.config import Config

from local_host.http_gateway import FunctionsHttpGateway, http_functions
from local_host.triggers import ROOT, Counters, FeedTriggerRunner, TimerRunner
from pipeline.settings import Settings
from pipeline.storage import StoreError, reset_store
from pipeline.storage.sqlite_store import SqliteStore

log = logging.getLogger("local_host")
PROGRESS_SECONDS = 5.0
SHUTDOWN_SECONDS = 4.0


@dataclass(frozen=True)
class ClientTimeouts:
    """How long the HTTP server waits for a slow client, in seconds (30 s each by default).

    Hypercorn enforces both without timers of ours: `keep_alive_timeout` runs from the
    connection opening (and from each answer) until a request's headers are complete, so
    it is the header limit and the idle keep-alive limit at once; `read_timeout` closes a
    connection on which nothing arrives for that long. The whole body's limit is the
    gateway's (`FunctionsHttpGateway`), since hypercorn has none.
    """

    headers: float = 30.0
    body: float = 30.0


def server_config(host: str, port: int, timeouts: ClientTimeouts) -> Config:
    """Hypercorn's settings for the local host: one HTTP/1.1 listener, quiet, the slow-client limits."""
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.keep_alive_timeout = timeouts.headers
    config.read_timeout = timeouts.body  # type: ignore[assignment]  # hypercorn takes a float too
    config.graceful_timeout = 2.0
    config.include_server_header = False
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


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


def disabled(function_name: str) -> bool:
    """`AzureWebJobs.<name>.Disabled=true`: the host's per-function switch (infra's GENERATOR_ENABLED)."""
    value = os.environ.get(f"AzureWebJobs.{function_name}.Disabled", "")
    return value.strip().lower() in ("1", "true")


def run_pipeline(
    settings: Settings,
    host: str,
    port: int,
    without_generator: bool,
    feed_poll: float | None,
    allowed_hosts: frozenset[str] | None,
    jsonnet_dates: bool = True,
    timeouts: ClientTimeouts | None = None,
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
    timeouts = timeouts or ClientTimeouts()
    gateway = FunctionsHttpGateway(
        http_functions(functions, route_prefix()), allowed_hosts, body_timeout=timeouts.body
    )
    logging.getLogger("hypercorn.error").setLevel(logging.WARNING)
    for thread in threads:
        thread.start()
    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    log.info(
        "sensor-pipeline running at http://%s:%d/ (%d sensors, store %s, functions: %s%s) - Ctrl-C to stop",
        shown_host,
        port,
        len(settings.sensor_ids),
        settings.sqlite_path,
        ", ".join(runner.name for runner in [*timers, *feeds]) or "none",
        "".join(f"; change feed polled every {feed.poll_delay:g} s when drained" for feed in feeds),
    )
    started = time.monotonic()
    served = True
    try:
        # Without a shutdown trigger hypercorn stops gracefully on SIGINT (Ctrl-C) and SIGTERM.
        asyncio.run(serve(gateway, server_config(host, port, timeouts), mode="asgi"))  # type: ignore[arg-type]
    except OSError as error:
        served = False
        log.error("could not serve on %s:%d (is the port in use?): %s", host, port, error)
    except KeyboardInterrupt:
        pass  # a second Ctrl-C during the graceful shutdown
    finally:
        stopping.set()
        deadline = time.monotonic() + SHUTDOWN_SECONDS
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        store.close()
    if not served:
        return 1
    log.info("stopped after %.0f s; checkpoint saved", time.monotonic() - started)
    return 0
