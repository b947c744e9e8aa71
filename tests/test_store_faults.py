"""Store faults caused for real under a running local host: never a silent 201, nothing acknowledged lost.

Each test starts `python -m local_host` as a subprocess, posts readings, breaks its SQLite
store the way a person or a full disk would (the file moved away, replaced, its
write-ahead log deleted, made immutable, the disk filled), checks what writers and
`/api/health` see, repairs the store, and then checks, after a clean stop and a restart,
that every reading that was answered 201 is there.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from pipeline.readings import format_timestamp
from tests.checks import eventually
from tests.servers import LocalHost, free_port, skip_or_fail

pytestmark = pytest.mark.slow
SENSOR = "sensor-1"
# The breaker's cooldown scaled down from 10 s (its default, pinned by test_promises.py):
# each recovery waits this long, not 10 s.
HOST_ENV = {"STORE_BREAKER_COOLDOWN_SECONDS": "3"}


class Writer:
    """Posts one reading at a time and remembers which ones were acknowledged."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acknowledged: list[str] = []
        self.newest = ""  # the newest acknowledged timestamp
        self.statuses: list[int] = []

    def post(self) -> httpx.Response:
        reading_id = f"r-{uuid.uuid4().hex[:12]}"
        reading = {
            "id": reading_id,
            "sensor_id": SENSOR,
            "temperature": 21.5,
            "timestamp": format_timestamp(datetime.now(UTC)),
        }
        response = httpx.post(f"{self.url}/api/readings", json=reading, timeout=30)
        self.statuses.append(response.status_code)
        if response.status_code == 201:
            self.acknowledged.append(reading_id)
            self.newest = max(self.newest, reading["timestamp"])
        return response

    def post_acknowledged(self, count: int) -> Writer:
        """`count` readings, each answered 201 (the store is well)."""
        for _ in range(count):
            assert self.post().status_code == 201
        return self

    def post_until_accepted(self, timeout: float) -> None:
        eventually(lambda: self.post().status_code == 201, timeout, "a write accepted again")


def health(url: str) -> httpx.Response:
    return httpx.get(f"{url}/api/health", timeout=30)


@contextmanager
def running_host(tmp_path: Path, store_path: Path) -> Iterator[LocalHost]:
    host = LocalHost(
        free_port(), store_path, ("--no-generator",), tmp_path / "local_host.log", env=HOST_ENV
    ).start()
    try:
        yield host
    finally:
        if host.process is not None and host.process.poll() is None:
            host.stop()


def assert_refused_and_reported(
    host: LocalHost, writer: Writer, tmp_path: Path, reason: str, feed_fails: bool = True
) -> None:
    """While the store cannot persist: 503 + Retry-After for writes, the breaker opens, health says why.

    With `feed_fails`, the store cannot even be read: the change feed fails in a row too,
    and health names it (the summariser must survive that and resume afterwards). Break
    the store only once `wait_until_summarised` returned: a batch still in flight would
    fail instead, and be retried under the function's own (slower) policy while the feed
    is not read at all.
    """
    for _ in range(6):  # more than the breaker's 5 consecutive failures
        response = writer.post()
        assert response.status_code == 503, response.text
        assert int(response.headers["retry-after"]) >= 1
    report = health(host.url)
    assert report.status_code == 503
    body = report.json()
    assert body["status"] == "unhealthy" and "store" in body["failing"]
    # The breaker opened (the store is not even asked until its cooldown is over) and says why.
    assert body["store"] == f"circuit open after repeated store failures (not writable: {reason})", body
    assert str(tmp_path) not in report.text and "/" not in body["store"]
    # The console says what is wrong too, on each progress line.
    eventually(lambda: f"store unavailable: {reason}" in host.log(), 15, "the fault in the console")
    if feed_fails:
        feed = "summarise_readings:readings"
        eventually(lambda: feed in health(host.url).json()["failing"], 15, "the feed failing in a row")


def assert_nothing_acknowledged_lost(tmp_path: Path, store_path: Path, writer: Writer) -> None:
    """After a clean stop and a restart every acknowledged reading is stored and summarised."""
    with running_host(tmp_path, store_path) as again:
        stored = httpx.get(f"{again.url}/api/sensors/{SENSOR}/readings", params={"limit": 500}).json()
        assert {r["id"] for r in stored} >= set(writer.acknowledged)
        assert health(again.url).status_code == 200
        assert again.stop(signal.SIGINT) == 0


def wait_until_summarised(host: LocalHost, writer: Writer, timeout: float = 30) -> None:
    """Until the newest acknowledged reading is summarised: no summariser batch is in flight then."""

    def summarised() -> bool:
        newest = httpx.get(f"{host.url}/api/sensors/{SENSOR}/summaries", params={"limit": 1}).json()
        return bool(newest) and newest[0]["timestamp"] == writer.newest

    eventually(summarised, timeout, "every acknowledged reading summarised")


def recover(host: LocalHost, writer: Writer) -> None:
    writer.post_until_accepted(60)  # after the breaker's cooldown, the next write succeeds
    writer.post_acknowledged(3)
    eventually(lambda: health(host.url).status_code == 200, 30, "health 200 again")
    assert 500 not in writer.statuses
    wait_until_summarised(host, writer)  # the summariser survived the fault and caught up, in-process


def test_store_file_moved_away_refuses_writes_until_it_is_back(tmp_path) -> None:
    store_path = tmp_path / "pipeline.db"
    with running_host(tmp_path, store_path) as host:
        writer = Writer(host.url).post_acknowledged(3)
        wait_until_summarised(host, writer)
        os.rename(store_path, tmp_path / "elsewhere.db")  # gone from its path, as if deleted
        assert_refused_and_reported(host, writer, tmp_path, "store file deleted")
        os.rename(tmp_path / "elsewhere.db", store_path)
        recover(host, writer)
        assert host.stop(signal.SIGINT) == 0
    assert writer.statuses.count(201) == len(writer.acknowledged) >= 6
    assert_nothing_acknowledged_lost(tmp_path, store_path, writer)


def test_store_file_deleted_for_good_is_refused_and_its_content_saved_at_stop(tmp_path) -> None:
    store_path = tmp_path / "pipeline.db"
    with running_host(tmp_path, store_path) as host:
        writer = Writer(host.url).post_acknowledged(5)
        wait_until_summarised(host, writer)
        store_path.unlink()
        assert_refused_and_reported(host, writer, tmp_path, "store file deleted")
        assert host.stop(signal.SIGINT) == 0
    (saved,) = tmp_path.glob("pipeline.db.saved-*")
    assert f"its content is saved as {saved}" in host.log()
    with closing(sqlite3.connect(saved)) as connection:
        stored = {reading_id for (reading_id,) in connection.execute("SELECT id FROM readings")}
    assert stored >= set(writer.acknowledged) and len(writer.acknowledged) == 5


def test_store_file_replaced_refuses_writes_until_the_original_is_back(tmp_path) -> None:
    store_path = tmp_path / "pipeline.db"
    with running_host(tmp_path, store_path) as host:
        writer = Writer(host.url).post_acknowledged(3)
        wait_until_summarised(host, writer)
        os.link(store_path, tmp_path / "original.db")  # keep the original to put it back
        shutil.copyfile(store_path, tmp_path / "copy.db")
        os.replace(tmp_path / "copy.db", store_path)  # another file now sits at the path
        assert_refused_and_reported(host, writer, tmp_path, "store file replaced by another file")
        os.replace(tmp_path / "original.db", store_path)
        recover(host, writer)
        assert host.stop(signal.SIGINT) == 0
    assert_nothing_acknowledged_lost(tmp_path, store_path, writer)


def test_deleted_write_ahead_log_is_saved_into_the_store_and_writes_resume(tmp_path) -> None:
    store_path = tmp_path / "pipeline.db"
    with running_host(tmp_path, store_path) as host:
        writer = Writer(host.url).post_acknowledged(5)
        os.unlink(f"{store_path}-wal")  # what was committed since the last checkpoint is only in there
        # The first writer to commit, this POST or the summariser, finds it out: refused (503),
        # the lost log's content copied into the store file, then a new log and writes resume.
        assert writer.post().status_code in (201, 503)
        eventually(lambda: "write-ahead log deleted or replaced" in host.log(), 15, "the fault in the log")
        recover(host, writer)
        os.unlink(f"{store_path}-wal")  # again, and this time no write comes before the stop
        assert host.stop(signal.SIGINT) == 0
    assert_nothing_acknowledged_lost(tmp_path, store_path, writer)


def as_root() -> list[str] | None:
    """The prefix that runs a command as root: none when we are, `sudo -n` where it needs no password."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]  # GitHub's runners
    return None


def chattr(flag: str, *paths: Path) -> None:
    subprocess.run([*(as_root() or []), "chattr", flag, *map(str, paths)], check=True, capture_output=True)


def test_immutable_store_file_refuses_writes_until_it_is_writable(tmp_path) -> None:
    if shutil.which("chattr") is None or as_root() is None:
        skip_or_fail("making a file immutable needs chattr and root (or sudo without a password)")
    store_path = tmp_path / "pipeline.db"
    with running_host(tmp_path, store_path) as host:
        writer = Writer(host.url).post_acknowledged(3)
        wait_until_summarised(host, writer)
        try:
            chattr("+i", store_path)
        except subprocess.CalledProcessError:
            skip_or_fail("this file system has no immutable attribute")
        try:
            assert_refused_and_reported(host, writer, tmp_path, "store file is read-only", feed_fails=False)
        finally:
            chattr("-i", store_path)
        recover(host, writer)
        assert host.stop(signal.SIGINT) == 0
    assert_nothing_acknowledged_lost(tmp_path, store_path, writer)


@contextmanager
def small_disk(mount_point: Path, size: str) -> Iterator[Path]:
    mount_point.mkdir()
    root = as_root()
    # Owned by us, so that the local host can write into it when mounted through sudo.
    options = f"size={size},uid={os.getuid()},gid={os.getgid()}"
    if (
        root is None
        or subprocess.run(
            [*root, "mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount_point)]
        ).returncode
    ):
        skip_or_fail("cannot mount a small tmpfs here (needs root or sudo without a password)")
    try:
        yield mount_point
    finally:
        subprocess.run([*(root or []), "umount", "-l", str(mount_point)], check=True)


def fill(path: Path) -> None:
    # The whole `with`: closing the file flushes what is still buffered, and that can be the
    # write the full disk refuses (seen under two workers).
    try:
        with path.open("wb") as filler:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
    except OSError:
        pass  # ENOSPC: the disk is full


def test_full_disk_refuses_writes_and_resumes_when_space_is_freed(tmp_path) -> None:
    with small_disk(tmp_path / "disk", "8m") as disk:
        store_path = disk / "pipeline.db"
        with running_host(tmp_path, store_path) as host:
            writer = Writer(host.url).post_acknowledged(3)
            fill(disk / "filler")
            # SQLite reuses its log, so a few small writes may still fit, durably; keep
            # writing until the disk refuses, then the breaker opens.
            for _ in range(200):
                if writer.post().status_code == 503:
                    break
            assert set(writer.statuses) <= {201, 503} and 503 in writer.statuses
            report = health(host.url)
            assert report.status_code == 503 and "store" in report.json()["failing"]
            assert str(disk) not in report.text
            (disk / "filler").unlink()
            recover(host, writer)
            assert host.stop(signal.SIGINT) == 0
        assert_nothing_acknowledged_lost(tmp_path, store_path, writer)


def test_acknowledged_readings_survive_kill_9(tmp_path) -> None:
    """A 201 is sent after the commit: killing the process at once loses none of them."""
    store_path = tmp_path / "pipeline.db"
    with running_host(tmp_path, store_path) as host:
        writer = Writer(host.url).post_acknowledged(20)
        host.stop(signal.SIGKILL)
    assert_nothing_acknowledged_lost(tmp_path, store_path, writer)
