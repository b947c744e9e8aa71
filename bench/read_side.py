"""How each visualiser answers viewers: ours (the real web app) and the original as written.

Viewers poll every 2 s and fetch the charts that changed. Ours is the real web app
(latest summaries shared per instance for a second, charts cached by their newest
summary, ETags); the original page made one TOP 1 query per sensor per poll, and one
query (then a new pyplot figure) per chart request. Time is simulated (a clock the app
reads), so minutes of polling run in seconds; `bench.system` counts the requests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from bench import original as original_design
from pipeline.readings import Summary, format_timestamp
from pipeline.settings import settings_from
from pipeline.storage import Publication
from pipeline.storage.cosmos_store import CosmosStore
from visualiser.read_model import ReadModel
from web_app import create_web_app

POLL_SECONDS = 2.0
SUMMARY_EVERY_SECONDS = 10.0
SIMULATED_SECONDS = 60.0


class SimulatedClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class ReadCost:
    viewers: int
    queries: int
    simulated_seconds: float

    @property
    def queries_per_hour(self) -> float:
        return self.queries * 3600 / self.simulated_seconds


def _publish_round(store: CosmosStore, sensors: list[str], round_number: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    timestamp = format_timestamp(start + timedelta(seconds=round_number * SUMMARY_EVERY_SECONDS))
    store.publish(
        [
            Publication(Summary(f"{sensor}-{timestamp}", sensor, timestamp, 30.0, 20.0, 25.0, 10), (), None)
            for sensor in sensors
        ]
    )


class Viewers:
    """How one visualiser answers a viewer's poll and chart requests."""

    def poll(self, viewer: int, moment: float) -> dict[str, str]:
        raise NotImplementedError

    def chart(self, viewer: int, sensor: str) -> None:
        raise NotImplementedError

    def settle(self) -> None:
        """Wait for work started by the last request (ours refreshes in the background)."""


def simulate(
    store: CosmosStore,
    writer: CosmosStore,
    sensors: list[str],
    viewers: int,
    visualiser: Viewers,
) -> ReadCost:
    """Viewers poll every 2 s and fetch changed charts; a new summary per sensor every 10 s."""
    seen: list[dict[str, str]] = [{} for _ in range(viewers)]
    before = store.meter.requests["query"]
    steps = int(SIMULATED_SECONDS / POLL_SECONDS)
    for step in range(steps):
        if step % int(SUMMARY_EVERY_SECONDS / POLL_SECONDS) == 0:
            _publish_round(writer, sensors, step)
        for viewer in range(viewers):
            # Viewers are spread evenly over the poll interval, as real ones are.
            latest = visualiser.poll(viewer, step * POLL_SECONDS + viewer * POLL_SECONDS / viewers)
            for sensor, timestamp in latest.items():
                if seen[viewer].get(sensor) != timestamp:
                    visualiser.chart(viewer, sensor)
            seen[viewer] = latest
    return ReadCost(viewers, store.meter.requests["query"] - before, steps * POLL_SECONDS)


class Ours(Viewers):
    """The real web app, its read model on a simulated clock."""

    def __init__(self, store: CosmosStore, start: datetime | None = None) -> None:
        """`start`: the simulated time at clock 0, for the summaries' TTL (None: never expire)."""
        self.clock = SimulatedClock()
        settings = settings_from({})
        app = create_web_app(store=store, settings=settings)
        # The same read model the app builds, on the simulated clock.
        self.read_model = app.state.read_model = ReadModel(
            store,
            settings.chart_points,
            ttl_seconds=min(1.0, POLL_SECONDS / 2),
            clock=self.clock,
            summaries_ttl_seconds=-1 if start is None else settings.retention.summaries_seconds,
            wall_clock=lambda: (start or datetime.now(UTC)) + timedelta(seconds=self.clock.now),
        )
        # What the app compares to decide whether its read model is still current.
        from visualiser import web_context

        shape = getattr(web_context, "read_model_shape", None)
        app.state.read_model_shape = (
            shape(settings) if shape else (settings.chart_points, settings.dashboard_poll_seconds)
        )
        self.client = TestClient(app)
        self.etags: dict[tuple[int, str], str] = {}

    def poll(self, viewer: int, moment: float) -> dict[str, str]:
        self.clock.now = moment
        return self.client.get("/api/summary-timestamps").json()

    def chart(self, viewer: int, sensor: str) -> None:
        known = self.etags.get((viewer, sensor))
        response = self.client.get(f"/plot/{sensor}.png", headers={"If-None-Match": known} if known else {})
        self.etags[(viewer, sensor)] = response.headers.get("etag", "")

    def settle(self) -> None:
        refreshing = getattr(self.read_model, "_refreshing", None)
        if refreshing is not None:
            with refreshing:  # held while a background refresh runs
                pass


class Original(Viewers):
    """The original page: a TOP 1 query per sensor per poll, a query per chart request.

    Charts are not drawn here: drawing costs no request (`bench.run` times it apart).
    """

    def __init__(self, store: CosmosStore, sensors: list[str], chart_points: int = 50) -> None:
        self.store = original_design.OriginalStore(store)
        self.sensors = sensors
        self.chart_points = chart_points

    def poll(self, viewer: int, moment: float) -> dict[str, str]:
        return original_design.poll(self.store, self.sensors)

    def chart(self, viewer: int, sensor: str) -> None:
        self.store.newest_summaries(sensor, self.chart_points)


def ours(store: CosmosStore, writer: CosmosStore, sensors: list[str], viewers: int) -> ReadCost:
    visualiser = Ours(store)
    try:
        return simulate(store, writer, sensors, viewers, visualiser)
    finally:
        visualiser.client.close()


def original(store: CosmosStore, writer: CosmosStore, sensors: list[str], viewers: int) -> ReadCost:
    return simulate(store, writer, sensors, viewers, Original(store, sensors))


def poll_bytes(sensors: int = 40_000) -> dict[str, int]:
    """Bytes on the wire of one dashboard poll at `sensors` sensors, through a real uvicorn.

    `first`: the page's first poll (`?since=0`, every version, gzipped); `idle`: a later poll
    when nothing changed (a 304: status line and headers only); `one_changed`: a poll after
    one sensor got a new summary (the delta carries only that sensor). Printed by
    `python -m bench.read_side` as `full_poll_bytes_40k=`, `idle_poll_bytes_40k=` and
    `delta_poll_bytes_40k=` (target: idle <= 1,024).
    """
    import gzip
    import socket
    import tempfile
    import threading
    from pathlib import Path

    import uvicorn

    from pipeline.storage.sqlite_store import SqliteStore

    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder) / "poll.db")
        store.ensure_ready()
        ids = [f"sensor-{n}" for n in range(1, sensors + 1)]
        _publish_round(store, ids, 0)
        app = create_web_app(store=store, settings=settings_from({}))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            threading.Event().wait(0.05)

        def get(path: str, etag: str | None = None) -> tuple[int, bytes, bytes]:
            """Raw bytes of one request's answer: (total size, head, body)."""
            lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept-Encoding: gzip"]
            lines += [f"If-None-Match: {etag}"] if etag else []
            with socket.create_connection(("127.0.0.1", port)) as connection:
                connection.sendall(("\r\n".join(lines + ["Connection: close", "", ""])).encode())
                data = b""
                while chunk := connection.recv(65536):
                    data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            return len(data), head, body

        def etag_of(head: bytes) -> str:
            for line in head.decode().split("\r\n"):
                if line.lower().startswith("etag:"):
                    return line.split(":", 1)[1].strip()
            raise AssertionError("no ETag")

        try:
            first_size, head, body = get("/api/summary-timestamps?since=0")
            cursor = json.loads(gzip.decompress(body) if b"gzip" in head.lower() else body)["cursor"]
            etag = etag_of(head)
            idle_size, idle_head, _ = get(f"/api/summary-timestamps?since={cursor}", etag)
            assert idle_head.startswith(b"HTTP/1.1 304"), idle_head[:40]
            _publish_round(store, ids[:1], 1)
            read_model = app.state.read_model
            delta_size = 0
            for _ in range(100):  # until the shared answer has been refreshed (its TTL is 1 s)
                delta_size, delta_head, _ = get(f"/api/summary-timestamps?since={cursor}", etag)
                if delta_head.startswith(b"HTTP/1.1 200"):
                    break
                read_model.settled()
                threading.Event().wait(0.1)
        finally:
            server.should_exit = True
            thread.join(10)
            store.close()
    return {"first": first_size, "idle": idle_size, "one_changed": delta_size}


if __name__ == "__main__":
    sizes = poll_bytes()
    print(json.dumps(sizes))
    print(
        f"full_poll_bytes_40k={sizes['first']} idle_poll_bytes_40k={sizes['idle']} "
        f"delta_poll_bytes_40k={sizes['one_changed']}"
    )
