"""How each visualiser answers viewers: ours (the real web app) and the original as written.

Viewers poll every 2 s and fetch the charts that changed. Ours is the real web app
(latest summaries shared per instance for a second, charts cached by their newest
summary, ETags); the original page made one TOP 1 query per sensor per poll, and one
query (then a new pyplot figure) per chart request. Time is simulated (a clock the app
reads), so minutes of polling run in seconds; `bench.system` counts the requests.
"""

from __future__ import annotations

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

    def __init__(self, store: CosmosStore) -> None:
        self.clock = SimulatedClock()
        settings = settings_from({})
        app = create_web_app(store=store, settings=settings)
        # The same read model the app builds, on the simulated clock.
        self.read_model = app.state.read_model = ReadModel(
            store, settings.chart_points, ttl_seconds=min(1.0, POLL_SECONDS / 2), clock=self.clock
        )
        # What the app compares to decide whether its read model is still current.
        app.state.read_model_shape = (settings.chart_points, settings.dashboard_poll_seconds)
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
