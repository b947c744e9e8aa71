"""Two instances of the web app (two processes, real sockets) on one store, viewers alternating.

As Flex Consumption scales out without session affinity: every poll and every detail
request may reach either instance. A cursor or ETag from the other instance is answered
in full, never with a delta or a 304 meant for another numbering, through every cache.
Cache lifetimes are scaled down (READ_MAX_AGE_SECONDS) so the test waits on a real clock
for a fraction of a second per round.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.storage.sqlite_store import SqliteStore
from tests.dashboard_viewers import Fleet, Viewer, all_sensors, latest_of, store_truth
from tests.servers import ROOT, free_port, wait_for_port

MAX_AGE_SECONDS = 0.15
pytestmark = pytest.mark.slow


@contextmanager
def instance(store_path: Path, log: Path) -> Iterator[httpx.Client]:
    """`web_app` served by uvicorn in its own process, on the SQLite store at `store_path`."""
    port = free_port()
    env = {
        **os.environ,
        "SQLITE_PATH": str(store_path),
        "READ_REFRESH_SECONDS": str(MAX_AGE_SECONDS / 2),
        "READ_MAX_AGE_SECONDS": str(MAX_AGE_SECONDS),
    }
    command = [sys.executable, "-m", "uvicorn", "web_app:create_web_app", "--factory", "--port", str(port)]
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--log-level", "warning"],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, 30, process)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        process.terminate()
        process.wait(10)


def test_viewers_alternating_between_two_instances_see_the_truth(tmp_path: Path) -> None:
    store_path = tmp_path / "pipeline.db"
    store = SqliteStore(store_path)
    store.ensure_ready()  # both instances open the file this one created
    with ExitStack() as stack:
        first, second = (stack.enter_context(instance(store_path, tmp_path / f"{n}.log")) for n in (1, 2))
        turns = itertools.cycle([first, second])

        def alternating(path: str, **kwargs: Any) -> httpx.Response:
            return next(turns).get(path, **kwargs)

        fleet = Fleet(first, store)
        fleet.post(fleet.add(20), lambda sensor, n: 20.0 + n % 11)
        fleet.settle()
        viewers = [
            Viewer(gzip=gzip_on, etag=etag_on, cursor=cursor_on)
            for gzip_on, etag_on, cursor_on in itertools.product((True, False), repeat=3)
        ]
        for round_number in range(5):
            new = fleet.add(5) if round_number == 2 else []
            fleet.post(fleet.sensors[round_number % 3 :: 3] + new, lambda sensor, n: 30.0 + n % 13)
            fleet.settle()
            time.sleep(MAX_AGE_SECONDS)  # the promised bound: every copy is now fresh
            truth = latest_of(all_sensors(first.get, gzip_on=True))
            assert truth == latest_of(all_sensors(second.get)) == store_truth(store)
            assert len(truth) == len(fleet.sensors)
            for viewer in viewers:
                viewer.poll(alternating)
                viewer.poll(alternating)  # once on each instance
                assert latest_of(viewer.state()) == truth, f"round {round_number}: {viewer}"

        # A cursor and an ETag of one instance, sent to the other: answered in full.
        for gzip_on in (True, False):
            headers = {"Accept-Encoding": "gzip" if gzip_on else "identity"}
            mine = first.get("/api/summary-timestamps", params={"since": "0"}, headers=headers)
            again = {"If-None-Match": mine.headers["etag"], **headers}
            cursor = mine.json()["cursor"]
            assert (
                first.get("/api/summary-timestamps", params={"since": cursor}, headers=again).status_code
                == 304
            )
            other = second.get("/api/summary-timestamps", params={"since": cursor}, headers=again)
            assert other.status_code == 200 and other.json()["full"] is True
            assert set(other.json()["versions"]) == set(fleet.sensors)
            plain = first.get("/api/summary-timestamps", headers=headers)
            foreign = {"If-None-Match": plain.headers["etag"], **headers}
            assert second.get("/api/summary-timestamps", headers=foreign).status_code == 200


def test_negotiation_over_a_real_socket(tmp_path: Path) -> None:
    store_path = tmp_path / "pipeline.db"
    store = SqliteStore(store_path)
    store.ensure_ready()
    with instance(store_path, tmp_path / "web.log") as client:
        fleet = Fleet(client, store)
        fleet.post(fleet.add(30), lambda sensor, n: 21.0)
        fleet.settle()
        time.sleep(MAX_AGE_SECONDS)
        for route in ("/api/sensors", "/api/summary-timestamps", "/api/summary-timestamps?since=0"):
            packed = client.get(route, headers={"Accept-Encoding": "gzip"})
            refused = client.get(route, headers={"Accept-Encoding": "gzip;q=0, identity"})
            assert packed.headers["content-encoding"] == "gzip", route
            assert "content-encoding" not in refused.headers, route
            assert packed.headers["vary"] == refused.headers["vary"] == "Accept-Encoding", route
            assert packed.content == refused.content, route
            # httpx decoded the gzip body; the raw length on the wire was smaller
            assert int(packed.headers["content-length"]) < len(refused.content), route
