"""Scripted dashboard viewers, a fleet of sensors that post readings, and the app they talk to.

A `Viewer` polls `/api/summary-timestamps` as the page does (with or without gzip, its
ETag and its cursor) and fetches the details of the sensors whose version moved through
`/api/sensors?ids=`; its state is what its page would show. `Fleet` posts readings over
`POST /api/readings` and runs the summariser on them (the pipeline settled).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient

from pipeline.readings import format_timestamp
from pipeline.settings import settings_from
from pipeline.storage import Store
from summariser.batch import summarise_batch
from web_app import create_web_app

Get = Callable[..., httpx.Response]
MAX_IDS = 100


class Clock:
    """A monotonic clock the test moves by hand (the read model's)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def app_on(store: Store, env: dict[str, str] | None = None) -> tuple[TestClient, Clock]:
    """The web app with the given settings (`make run`'s defaults without `env`), on a hand clock."""
    clock = Clock()
    app = create_web_app(store=store, settings=settings_from(env or {}))
    app.state.clock = clock
    return TestClient(app), clock


def encoding_headers(gzip_on: bool) -> dict[str, str]:
    return {"Accept-Encoding": "gzip" if gzip_on else "identity"}


def document(response: httpx.Response) -> Any:
    """The JSON of an answer, after checking it came in the encoding that was asked for."""
    asked = response.request.headers.get("accept-encoding", "")
    coding = response.headers.get("content-encoding", "identity")
    assert coding in ("identity", "gzip"), coding
    if asked == "identity":
        assert coding == "identity", f"{response.request.url} answered {coding} to identity"
    return response.json()


@dataclass
class Viewer:
    """One page: its options, and the sensors it shows (id -> (version, latest summary))."""

    gzip: bool
    etag: bool
    cursor: bool
    shown: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    _cursor: str = "0"
    _etag: str | None = None

    def poll(self, get: Get) -> None:
        headers = encoding_headers(self.gzip)
        if self.etag and self._etag is not None:
            headers["If-None-Match"] = self._etag
        params = {"since": self._cursor} if self.cursor else {}
        response = get("/api/summary-timestamps", params=params, headers=headers)
        if response.status_code == 304:
            assert self.etag, "a 304 to a viewer that sent no ETag"
            return
        assert response.status_code == 200, response.text
        body = document(response)
        if self.cursor:
            if body["full"]:
                self.versions = dict(body["versions"])
            else:
                self.versions.update(body["versions"])
                for sensor in body["removed"]:
                    self.versions.pop(sensor, None)
            self._cursor = body["cursor"]
        else:
            self.versions = dict(body)
        self._etag = response.headers["etag"]
        self._fetch_details(get)

    def _fetch_details(self, get: Get) -> None:
        self.shown = {sensor: shown for sensor, shown in self.shown.items() if sensor in self.versions}
        moved = sorted(s for s, version in self.versions.items() if self.shown.get(s, ("",))[0] != version)
        for start in range(0, len(moved), MAX_IDS):
            ids = ",".join(moved[start : start + MAX_IDS])
            response = get("/api/sensors", params={"ids": ids}, headers=encoding_headers(self.gzip))
            assert response.status_code == 200, response.text
            for entry in document(response):
                self.shown[entry["sensor_id"]] = (entry["version"], entry["latest"])

    def state(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """What the page shows: the version it polled, with the details it fetched for it."""
        return {sensor: self.shown.get(sensor, ("?", {})) for sensor in self.versions}


def all_sensors(get: Get, gzip_on: bool = False) -> dict[str, tuple[str, dict[str, Any]]]:
    """`GET /api/sensors` as a viewer's state."""
    response = get("/api/sensors", headers=encoding_headers(gzip_on))
    assert response.status_code == 200, response.text
    return {entry["sensor_id"]: (entry["version"], entry["latest"]) for entry in document(response)}


def store_truth(store: Store) -> dict[str, dict[str, Any]]:
    """Every sensor's latest summary, read from the store itself."""
    return {sensor: summary.to_document() for sensor, summary in store.latest_summaries().items()}


def latest_of(state: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {sensor: latest for sensor, (_, latest) in state.items()}


class Fleet:
    """Sensors that post readings through the API; `settle()` runs the summariser on them."""

    def __init__(self, client: httpx.Client, store: Store, window_size: int = 10) -> None:
        self.client = client
        self.store = store
        self.window_size = window_size
        self.sensors: list[str] = []
        self._pending: list[dict[str, Any]] = []
        self._count = 0
        self._start = datetime.now(UTC) - timedelta(seconds=10)  # none stale yet

    def add(self, count: int) -> list[str]:
        new = [f"sensor-{len(self.sensors) + n + 1}" for n in range(count)]
        self.sensors += new
        return new

    def post(self, sensors: list[str], temperature: Callable[[str, int], float]) -> None:
        """One reading per sensor, each newer than any before (accepted: 201)."""
        readings = []
        for sensor in sensors:
            self._count += 1
            moment = self._start + timedelta(milliseconds=10 * self._count)
            readings.append(
                {
                    "id": f"{sensor}-{self._count}",
                    "sensor_id": sensor,
                    "temperature": round(temperature(sensor, self._count), 2),
                    "timestamp": format_timestamp(moment),
                }
            )
        for start in range(0, len(readings), 1000):
            response = self.client.post("/api/readings", json=readings[start : start + 1000])
            assert response.status_code == 201, response.text
        self._pending += readings

    def settle(self) -> None:
        """The summariser has processed every reading posted so far."""
        if self._pending:
            summarise_batch(self._pending, self.store, self.window_size, datetime.now(UTC))
            self._pending = []
