"""`make run`'s host as a subprocess: it serves, summarises exactly, survives SIGKILL and Ctrl-C."""

from __future__ import annotations

import signal
import sqlite3
import time

import httpx
import pytest

from pipeline.storage.sqlite_store import SqliteStore
from tests.checks import check_api_summaries, eventually
from tests.servers import LocalHost, local_host

pytestmark = pytest.mark.slow
SENSORS = [f"sensor-{n}" for n in range(1, 6)]
CONSUMER = "summarise_readings:readings"


def check_summaries(url: str) -> dict[str, list[dict]]:
    return check_api_summaries(url, SENSORS)


def every_sensor_summarised(url: str) -> bool:
    return set(httpx.get(f"{url}/api/summary-timestamps").json()) >= set(SENSORS)


def readings_written(store_path) -> int:
    with sqlite3.connect(store_path, timeout=30) as connection:
        return connection.execute("SELECT COUNT(*) FROM readings").fetchone()[0]


def test_serves_summarises_exactly_and_survives_sigkill(tmp_path) -> None:
    arguments = ("--interval", "1", "--speed", "4", "--seed", "7")
    with local_host(tmp_path, *arguments) as host:
        started = time.monotonic()
        assert httpx.get(f"{host.url}/").status_code == 200
        eventually(lambda: every_sensor_summarised(host.url), 30, "every sensor summarised")
        check_summaries(host.url)
        print(f"all sensors summarised {time.monotonic() - started:.1f} s after start")

        # Kill it in the middle of work (the generator has written since): no chance to
        # checkpoint or close anything.
        written = readings_written(host.store_path)
        eventually(lambda: readings_written(host.store_path) > written, 15, "more readings written")
        assert host.stop(signal.SIGKILL) == -signal.SIGKILL

    # Restart on the same store without the generator: the feed drains from the checkpoint.
    restarted = LocalHost(host.port, host.store_path, ("--no-generator",), host.log_path)
    restarted.start()
    try:
        store = SqliteStore(host.store_path)
        eventually(lambda: store.feed_backlog(CONSUMER) == 0, 30, "the feed drained after restart")
        summaries = check_summaries(restarted.url)
        latest = httpx.get(f"{restarted.url}/api/summary-timestamps").json()
        for sensor in SENSORS:
            newest = httpx.get(f"{restarted.url}/api/sensors/{sensor}/readings", params={"limit": 1}).json()[
                0
            ]
            # Every reading is covered: the newest summary is as of the newest reading.
            assert latest[sensor].split("~")[0] == newest["timestamp"]
            assert summaries[sensor][0]["timestamp"] == newest["timestamp"]
        store.close()
    finally:
        status = restarted.stop(signal.SIGINT)
    assert status == 0, restarted.log()


def test_ctrl_c_exits_cleanly_with_the_checkpoint_saved(tmp_path) -> None:
    with local_host(tmp_path, "--interval", "1", "--speed", "4") as host:
        eventually(lambda: every_sensor_summarised(host.url), 30, "every sensor summarised")
        assert host.process is not None
        host.process.send_signal(signal.SIGINT)
        status = host.process.wait(10)  # a timeout, not a claim: `make bench` times things
    assert status == 0, host.log()
    assert "checkpoint saved" in host.log()
    store = SqliteStore(host.store_path)
    committed = store._position(CONSUMER)
    assert committed > 0
    # The checkpoint never runs ahead of the work: every reading at or before it is covered
    # by its sensor's latest summary (read straight from the table, not through the feed).
    with sqlite3.connect(host.store_path) as connection:
        checkpointed = dict(
            connection.execute(
                "SELECT sensor_id, MAX(timestamp) FROM readings WHERE seq <= ? GROUP BY sensor_id",
                (committed,),
            ).fetchall()
        )
    latest = store.latest_summaries()
    assert set(checkpointed) == set(SENSORS)
    for sensor, newest in checkpointed.items():
        assert latest[sensor].timestamp >= newest, sensor
    store.close()


def test_progress_lines_and_help(tmp_path) -> None:
    import subprocess
    import sys

    from tests.servers import ROOT

    help_text = subprocess.run(
        [sys.executable, "-m", "local_host", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for option in ("--port", "--sensors", "--interval", "--seed", "--speed", "--store", "--reset"):
        assert option in help_text
    with local_host(tmp_path, "--interval", "1", "--sensors", "3") as host:
        eventually(lambda: "progress:" in host.log(), 15, "a progress line")
    log = host.log()
    assert f"running at http://localhost:{host.port}/" in log
    assert "3 sensors" in log
    assert "readings generated" in log and "feed backlog" in log and "dead letters" in log


def test_reset_starts_from_nothing_even_after_a_kill(tmp_path) -> None:
    # A user resets after a crash: the killed host left its store, `-wal` and `-shm` behind.
    with local_host(tmp_path, "--interval", "1", "--speed", "4") as host:
        eventually(lambda: readings_written(host.store_path) > 0, 30, "readings written")
        assert host.process is not None
        host.process.kill()
        host.process.wait(10)
    fresh = LocalHost(host.port, host.store_path, ("--reset", "--no-generator"), tmp_path / "reset.log")
    fresh.start()
    assert httpx.get(f"{fresh.url}/api/summary-timestamps").json() == {}
    assert fresh.stop() == 0, fresh.log()
    assert readings_written(host.store_path) == 0


def test_a_port_in_use_stops_the_host_with_one_clear_line(tmp_path) -> None:
    import os
    import socket
    import subprocess
    import sys

    from tests.servers import ROOT

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "local_host", "--port", str(port), "--store", str(tmp_path / "p.db")],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert f"could not serve on 127.0.0.1:{port} (is the port in use?)" in output
    assert "Traceback" not in output
