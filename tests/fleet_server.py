"""A real web app (uvicorn, SQLite store) filled with a fleet of summaries, for browser tests.

Writing summaries straight into the store takes a second for 5,000 sensors, where posting
readings through the pipeline would take minutes; the page cannot tell the difference.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn

from pipeline.readings import Summary, format_timestamp
from pipeline.settings import settings_from
from pipeline.storage import Publication
from pipeline.storage.sqlite_store import SqliteStore
from tests.servers import free_port
from web_app import create_web_app

HIGH, LOW = 35.0, 5.0
FAST_CLOCK = timedelta(minutes=4)  # within the 5 minutes of skew a reading may have


@dataclass(frozen=True)
class Fleet:
    """`total` sensors: the first `alerting` hot (the last one hottest), the last `stale` silent."""

    total: int
    alerting: int = 0
    stale: int = 0
    history: int = 3  # summaries per sensor, 20 s apart
    stale_hot: int = 0  # of the stale sensors, how many were hot when they fell silent
    # Of the other stale sensors, how many stamped their readings FAST_CLOCK ahead: their
    # summaries' timestamps are in the future, their `last_heard` is when they fell silent.
    fast_clock: int = 0

    def ids(self) -> list[str]:
        return [f"sensor-{n}" for n in range(1, self.total + 1)]

    def temperature(self, index: int, step: int) -> float:
        silent_from = self.total - self.stale
        if silent_from <= index < silent_from + self.stale_hot:
            return HIGH + 0.5 + step * 0.1
        if index < self.alerting:
            return HIGH + 1 + index * 0.25 + step * 0.1  # sensor-{alerting} is the hottest
        return 18 + (index * 7 % 11) + step * 0.1


def publish(store: SqliteStore, fleet: Fleet, now: datetime, stale_seconds: float) -> None:
    """Every sensor's history up to `now`; the stale ones stopped 2 x stale_seconds earlier."""
    silent_from = fleet.total - fleet.stale
    fast_from = silent_from + fleet.stale_hot
    batch: list[Publication] = []
    for index, sensor in enumerate(fleet.ids()):
        end = now - timedelta(seconds=2 * stale_seconds) if index >= silent_from else now
        ahead = FAST_CLOCK if fast_from <= index < fast_from + fleet.fast_clock else timedelta(0)
        for step in range(fleet.history):
            heard = end - timedelta(seconds=20 * (fleet.history - 1 - step))
            moment = format_timestamp(heard + ahead)
            avg = fleet.temperature(index, step)
            values = (avg + 1, avg - 1, avg, 10)
            heard_at = format_timestamp(heard)
            summary = Summary(f"{sensor}-{moment}", sensor, moment, *values, last_heard=heard_at)
            batch.append(Publication(summary, (), None))
        if len(batch) >= 3000:
            store.publish(batch)
            batch = []
    if batch:
        store.publish(batch)


def environment(stale_seconds: int, poll_seconds: float = 2.0) -> dict[str, str]:
    return {
        "SENSOR_INTERVAL_SECONDS": str(stale_seconds // 3),
        "STALE_AFTER_MISSED_INTERVALS": "3",
        "ALERT_HIGH_CELSIUS": str(HIGH),
        "ALERT_LOW_CELSIUS": str(LOW),
        "DASHBOARD_POLL_SECONDS": str(poll_seconds),
    }


class WebApp:
    """The web app under uvicorn in a thread; `stop()` and `start()` again on the same port."""

    def __init__(self, store: SqliteStore, env: dict[str, str], port: int | None = None) -> None:
        self.store, self.env, self.port = store, env, port or free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebApp:
        app = create_web_app(store=self.store, settings=settings_from(self.env))
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        for _ in range(200):
            if self._server.started:
                return self
            threading.Event().wait(0.025)
        raise RuntimeError("the web app did not start")

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(10)


@contextmanager
def fleet_app(
    folder: Path, fleet: Fleet, stale_seconds: int = 9, poll_seconds: float = 2.0
) -> Iterator[WebApp]:
    """A running web app over a store holding `fleet`, as of now."""
    store = SqliteStore(folder / "fleet.db")
    store.ensure_ready()
    publish(store, fleet, datetime.now(UTC).replace(microsecond=0), stale_seconds)
    app = WebApp(store, environment(stale_seconds, poll_seconds)).start()
    try:
        yield app
    finally:
        app.stop()
        store.close()
