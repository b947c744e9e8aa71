"""`make run`'s host as a subprocess: it serves, summarises exactly, survives SIGKILL and Ctrl-C."""

from __future__ import annotations

import signal
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


def test_serves_summarises_exactly_and_survives_sigkill(tmp_path) -> None:
    arguments = ("--interval", "1", "--speed", "4", "--seed", "7")
    with local_host(tmp_path, *arguments) as host:
        started = time.monotonic()
        assert httpx.get(f"{host.url}/").status_code == 200
        eventually(lambda: every_sensor_summarised(host.url), 30, "every sensor summarised")
        check_summaries(host.url)
        print(f"all sensors summarised {time.monotonic() - started:.1f} s after start")

        # Kill it in the middle of work: no chance to checkpoint or close anything.
        time.sleep(1.3)
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
            assert latest[sensor] == newest["timestamp"]
            assert summaries[sensor][0]["timestamp"] == newest["timestamp"]
        store.close()
    finally:
        status = restarted.stop(signal.SIGINT)
    assert status == 0, restarted.log()


def test_ctrl_c_exits_cleanly_within_5_seconds_with_the_checkpoint_saved(tmp_path) -> None:
    with local_host(tmp_path, "--interval", "1", "--speed", "4") as host:
        eventually(lambda: every_sensor_summarised(host.url), 30, "every sensor summarised")
        assert host.process is not None
        host.process.send_signal(signal.SIGINT)
        started = time.monotonic()
        status = host.process.wait(10)
        elapsed = time.monotonic() - started
    assert status == 0, host.log()
    assert elapsed < 5.0
    assert "checkpoint saved" in host.log()
    store = SqliteStore(host.store_path)
    committed = store._position(CONSUMER)
    assert committed > 0
    # Whatever was not summarised before the stop is still ahead of the checkpoint, not lost.
    assert store.feed_backlog(CONSUMER) == len(store.read_feed(CONSUMER, 100_000).documents)
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
    assert "readings written" in log and "feed backlog" in log and "dead letters" in log
