"""Every viewer sees the truth: viewers with and without gzip, ETags and cursors, and new pages.

The web app runs in process on `make run`'s default settings, its read model on a hand
clock; readings arrive through `POST /api/readings` and are summarised before viewers
poll again (the pipeline settled). After each poll interval every viewer's state must
equal `/api/sensors` and the store's own latest summaries.
"""

from __future__ import annotations

import shutil
import tempfile
from itertools import product
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from pipeline.storage.sqlite_store import SqliteStore
from tests.dashboard_viewers import Fleet, Viewer, all_sensors, app_on, latest_of, store_truth

POLL_SECONDS = 2.0  # make run's DASHBOARD_POLL_SECONDS


def assert_sees_the_truth(viewer: Viewer, truth: dict, what: str) -> None:
    state = viewer.state()
    missing = sorted(set(truth) - set(state))
    assert not missing, f"{what}: {len(missing)} of {len(truth)} sensors missing ({missing[:5]}...)"
    assert latest_of(state) == {sensor: latest for sensor, (_, latest) in truth.items()}, what


def test_four_viewers_and_a_new_page_each_round_see_every_sensor(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "pipeline.db")
    client, clock = app_on(store)
    with client:
        fleet = Fleet(client, store)
        fleet.add(80)
        viewers = {
            f"gzip={gzip_on} etag={etag_on}": Viewer(gzip=gzip_on, etag=etag_on, cursor=True)
            for gzip_on, etag_on in product((True, False), repeat=2)
        }
        for round_number in range(10):
            new = fleet.add(20) if round_number in (3, 6) else []  # new sensors in two rounds
            # Every sensor reports in even rounds; half of them, and the new ones, in odd ones.
            reporting = fleet.sensors if round_number % 2 == 0 else fleet.sensors[::2] + new[1::2]
            fleet.post(reporting, lambda sensor, n: 15.0 + (n * 7919 % 300) / 10)
            for viewer in viewers.values():  # a poll while the summariser has not run yet
                viewer.poll(client.get)
            fleet.settle()
            clock.now += POLL_SECONDS
            for viewer in viewers.values():
                viewer.poll(client.get)
            page = Viewer(gzip=True, etag=True, cursor=True)  # a page opened now, as browsers ask
            page.poll(client.get)
            truth = all_sensors(client.get)
            assert all_sensors(client.get, gzip_on=True) == truth
            assert latest_of(truth) == store_truth(store), f"round {round_number}: /api/sensors is behind"
            assert len(truth) == len(fleet.sensors)
            for name, viewer in viewers.items():
                assert_sees_the_truth(viewer, truth, f"round {round_number}, viewer {name}")
            assert_sees_the_truth(page, truth, f"round {round_number}, a new page")
    assert len(fleet.sensors) == 120


class ViewersComeAndGo(RuleBasedStateMachine):
    """Viewers of every kind join and leave while readings and new sensors arrive."""

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp())
        self.store = SqliteStore(self.directory / "pipeline.db")
        self.client, self.clock = app_on(self.store)
        self.client.__enter__()
        self.fleet = Fleet(self.client, self.store)
        self.fleet.add(3)
        self.viewers: list[Viewer] = []

    def teardown(self) -> None:
        try:
            self.settle_and_check()
        finally:
            self.client.__exit__(None, None, None)
            self.store.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    @rule(gzip_on=st.booleans(), etag_on=st.booleans(), cursor_on=st.booleans())
    def join(self, gzip_on: bool, etag_on: bool, cursor_on: bool) -> None:
        viewer = Viewer(gzip=gzip_on, etag=etag_on, cursor=cursor_on)
        viewer.poll(self.client.get)
        self.viewers.append(viewer)

    @precondition(lambda self: self.viewers)
    @rule(data=st.data())
    def leave(self, data: st.DataObject) -> None:
        self.viewers.pop(data.draw(st.integers(0, len(self.viewers) - 1)))

    @rule(count=st.integers(1, 4))
    def new_sensors(self, count: int) -> None:
        self.fleet.post(self.fleet.add(count), lambda sensor, n: 20.0 + n % 7)

    @rule(data=st.data())
    def readings(self, data: st.DataObject) -> None:
        sensors = data.draw(st.lists(st.sampled_from(self.fleet.sensors), min_size=1, unique=True))
        hot = data.draw(st.booleans())
        self.fleet.post(sensors, lambda sensor, n: (45.0 if hot else 20.0) + n % 5)

    @rule()
    def summarise(self) -> None:
        self.fleet.settle()

    @rule(seconds=st.sampled_from([0.0, 0.3, 1.0, 1.5]))
    def time_passes(self, seconds: float) -> None:
        self.clock.now += seconds

    @precondition(lambda self: self.viewers)
    @rule(data=st.data())
    def poll(self, data: st.DataObject) -> None:
        self.viewers[data.draw(st.integers(0, len(self.viewers) - 1))].poll(self.client.get)

    @rule()
    def settle_and_check(self) -> None:
        """Once the pipeline settles and a poll interval passes, every viewer sees the truth."""
        self.fleet.settle()
        self.clock.now += POLL_SECONDS
        for viewer in self.viewers:
            viewer.poll(self.client.get)
        truth = all_sensors(self.client.get, gzip_on=len(self.viewers) % 2 == 0)
        assert latest_of(truth) == store_truth(self.store)
        for number, viewer in enumerate(self.viewers):
            assert_sees_the_truth(
                viewer, truth, f"viewer {number} {viewer.gzip=} {viewer.etag=} {viewer.cursor=}"
            )


TestViewersComeAndGo = ViewersComeAndGo.TestCase
TestViewersComeAndGo.settings = settings(
    max_examples=20,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
