"""`python -m local_host`: the whole pipeline in one process, no Azure needed.

Runs the functions registered in `function_app.py` on the embedded SQLite store: the
generator's timer on its schedule, the summariser fed from the store's change feed, and
the web app (dashboard and API) on a local HTTP server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from local_host.store_lock import BadStorePath, StoreInUse, lock_store
from pipeline import names
from pipeline.settings import SettingsError, load_settings
from pipeline.telemetry import LOG_FORMAT, LOG_LEVEL, configure_logging

# Host names besides localhost and the listen address that the local HTTP server answers
# (comma-separated; `*` for any): a devcontainer's forwarded name, a LAN name with
# `--host 0.0.0.0`. Local only: in Azure the front end decides which names reach the app.
LOCAL_ALLOWED_HOSTS = "LOCAL_ALLOWED_HOSTS"
# Slow-client limits of the local HTTP server, in seconds (see docs/http-api.md, "Hostile
# clients"): the 30 s Azure's front end gives a request's headers, and the same for a body.
LOCAL_HEADER_TIMEOUT = "LOCAL_HEADER_TIMEOUT_SECONDS"
LOCAL_BODY_TIMEOUT = "LOCAL_BODY_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_TIMEOUT_SECONDS = 600.0
PORT = "PORT"
DEFAULT_PORT = 7071


def _timeout(parser: argparse.ArgumentParser, option: str, variable: str, given: str | None) -> float:
    """A timeout from the option, else the environment, else 30 s.

    A bad option is a usage error; a bad environment value a SettingsError naming the variable.
    """
    text = given if given is not None else os.environ.get(variable) or str(DEFAULT_TIMEOUT_SECONDS)
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds <= MAX_TIMEOUT_SECONDS:  # NaN fails too
        if given is None:
            raise SettingsError(variable, "seconds, more than 0 and at most 600", text)
        parser.error(f"{option} (or ${variable}) must be seconds, more than 0 and at most 600; got {text!r}")
    return seconds


def _port_from_environment() -> int:
    """$PORT, else 7071; SettingsError names a bad one."""
    text = os.environ.get(PORT, "").strip()
    if not text:
        return DEFAULT_PORT
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise SettingsError(PORT, "a port number from 1 to 65535", text)
    return int(text)


def check_schedule(schedule: str) -> None:
    """Refuse a timer schedule the local timer cannot run (in Azure the host checks its own).

    `settings_from` checks the form only (six fields); croniter, the local timer's parser, is
    not installed in Azure.
    """
    from croniter import croniter

    if not croniter.is_valid(schedule, second_at_beginning=True):
        raise SettingsError(
            names.GENERATOR_SCHEDULE, "an NCRONTAB expression with six fields (seconds first)", schedule
        )


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local_host",
        description="Run generator, summariser and visualiser together on the embedded store.",
    )
    parser.add_argument(
        "--port", type=int, help=f"HTTP port of the dashboard and API (default: ${PORT} or {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1; 0.0.0.0 to share it)"
    )
    parser.add_argument(
        "--sensors",
        type=int,
        metavar="N",
        help=f"number of simulated sensors (default: ${names.SENSOR_COUNT} or 5)",
    )
    parser.add_argument(
        "--interval",
        type=int,
        metavar="SECONDS",
        help="generator tick every SECONDS, 1-59 (default: every 10 s)",
    )
    parser.add_argument("--seed", type=int, help="seed for reproducible readings")
    parser.add_argument(
        "--speed",
        type=float,
        metavar="X",
        help="time acceleration for demos: devices report X times as often",
    )
    parser.add_argument(
        "--store",
        type=Path,
        metavar="PATH",
        help="SQLite file of the embedded store (default: .data/pipeline.db)",
    )
    parser.add_argument("--reset", action="store_true", help="delete the store first and start from nothing")
    parser.add_argument(
        "--no-generator",
        action="store_true",
        help="do not run the timer functions (readings only via POST /api/readings)",
    )
    parser.add_argument(
        "--no-jsonnet-dates",
        dest="jsonnet_dates",
        action="store_false",
        help="hand change-feed documents to the summariser exactly as stored, without the model "
        "of the Functions host's Json.NET date re-serialisation (on by default, as in Azure)",
    )
    parser.add_argument(
        "--feed-poll",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how often an idle change feed is polled (default: the trigger's feedPollDelay, as in "
        "Azure: SUMMARISER_FEED_POLL_DELAY_MS, 1000 ms unless set)",
    )
    parser.add_argument(
        "--header-timeout",
        metavar="SECONDS",
        help="a request's headers must arrive within SECONDS of the connection opening or of the "
        "previous answer, which is also how long an idle connection is kept "
        f"(default: ${LOCAL_HEADER_TIMEOUT} or 30)",
    )
    parser.add_argument(
        "--body-timeout",
        metavar="SECONDS",
        help="a request's body must arrive within SECONDS of its headers "
        f"(default: ${LOCAL_BODY_TIMEOUT} or 30)",
    )
    arguments = parser.parse_args(argv)
    arguments.header_timeout = _timeout(
        parser, "--header-timeout", LOCAL_HEADER_TIMEOUT, arguments.header_timeout
    )
    arguments.body_timeout = _timeout(parser, "--body-timeout", LOCAL_BODY_TIMEOUT, arguments.body_timeout)
    if arguments.port is None:
        arguments.port = _port_from_environment()
    elif not 1 <= arguments.port <= 65535:
        parser.error("--port must be from 1 to 65535")
    if arguments.interval is not None and not 1 <= arguments.interval <= 59:
        parser.error("--interval must be from 1 to 59 seconds")
    low, high = (ms / 1000 for ms in names.FEED_POLL_DELAY_MS_RANGE)  # SUMMARISER_FEED_POLL_DELAY_MS's
    if arguments.feed_poll is not None and not low <= arguments.feed_poll <= high:  # NaN fails too
        parser.error(f"--feed-poll must be from {low:g} to {high:g} seconds")
    return arguments


def apply_arguments(arguments: argparse.Namespace) -> None:
    """Command-line options win over environment settings; the embedded store is the default."""
    os.environ.setdefault(names.PIPELINE_STORE, "sqlite")
    if arguments.sensors is not None:
        os.environ[names.SENSOR_COUNT] = str(arguments.sensors)
        os.environ.pop(names.SENSOR_IDS, None)
    if arguments.interval is not None:
        os.environ[names.GENERATOR_SCHEDULE] = f"*/{arguments.interval} * * * * *"
    if arguments.seed is not None:
        os.environ[names.GENERATOR_SEED] = str(arguments.seed)
    if arguments.speed is not None:
        os.environ[names.GENERATOR_SPEED] = str(arguments.speed)
    if arguments.store is not None:
        os.environ[names.SQLITE_PATH] = str(arguments.store)


def remove_store(path: Path) -> None:
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if candidate.is_dir():
            shutil.rmtree(candidate)
        elif candidate.exists():
            candidate.unlink()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        # Environment values read here (timeouts, port, logging) fail like any setting: one line.
        arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
        configure_logging(
            os.environ.get(LOG_FORMAT, "text").strip().lower() or "text",
            os.environ.get(LOG_LEVEL, "INFO").strip() or "INFO",
        )
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    apply_arguments(arguments)
    try:
        settings = load_settings()
        check_schedule(settings.generator_schedule)
    except SettingsError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    if settings.store.value != "sqlite":
        print(
            f"configuration error: setting {names.PIPELINE_STORE}: the local host runs on "
            "the embedded store (sqlite); use `func start` for Cosmos DB",
            file=sys.stderr,
        )
        return 2
    try:
        lock = lock_store(settings.sqlite_path)
    except (BadStorePath, StoreInUse) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with lock:
        if arguments.reset:
            remove_store(settings.sqlite_path)
        problem = store_problem(settings.sqlite_path)
        if problem:
            print(f"error: store {settings.sqlite_path}: {problem}", file=sys.stderr)
            return 2

        # Imported after settings are in place: these build on them.
        from local_host.http_gateway import allowed_host_names
        from local_host.server import ClientTimeouts, run_pipeline

        allowed = allowed_host_names(arguments.host, os.environ.get(LOCAL_ALLOWED_HOSTS, "").split(","))
        return run_pipeline(
            settings,
            arguments.host,
            arguments.port,
            arguments.no_generator,
            arguments.feed_poll,
            allowed,
            jsonnet_dates=arguments.jsonnet_dates,
            timeouts=ClientTimeouts(arguments.header_timeout, arguments.body_timeout),
        )


def store_problem(path: Path) -> str | None:
    """Why the store cannot be opened, in one line; None when it can."""
    import sqlite3

    from pipeline.storage import StoreError
    from pipeline.storage.sqlite_store import SqliteStore

    store = SqliteStore(path)
    try:
        store.ensure_ready()
    except (sqlite3.Error, StoreError, OSError) as error:
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    finally:
        store.close()
    return None


if __name__ == "__main__":
    raise SystemExit(main())
