"""Faults caused for real: the store's network cut for seconds, 429s injected, poison in a busy feed.

The summariser here is the function registered in function_app.py, driven by the local
host's trigger runner (its retry policy honoured), writing to the Cosmos-compatible
server through the real SDK; the faults come from loopback proxies in between.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

import summariser.bindings
from local_host.triggers import Counters, FeedTriggerRunner
from pipeline.readings import Reading, format_timestamp
from pipeline.settings import CosmosConnection, settings_from
from pipeline.storage import reset_store
from pipeline.storage.cosmos_client import build_client
from pipeline.storage.cosmos_store import CosmosStore
from summariser.state_cache import SensorStateCache
from tests.checks import ListFeed, assert_summaries_exact, check_api_summaries, eventually
from tests.conftest import make_cosmos_store
from tests.proxies import TcpProxy, ThrottlingProxy
from tests.servers import EMULATOR_KEY, LocalHost, cosmos_server, free_port, local_host, registered_functions

pytestmark = [pytest.mark.slow, pytest.mark.cosmos]
SENSORS = [f"sensor-{n}" for n in range(1, 6)]


def store_via(endpoint: str, database: str, **overrides: Any) -> CosmosStore:
    connection = CosmosConnection(
        connection_string=f"AccountEndpoint={endpoint};AccountKey={EMULATOR_KEY};",
        verify_tls=False,
    )
    # Without endpoint discovery the SDK keeps talking to the proxy, not past it.
    client = build_client(connection, enable_endpoint_discovery=False, connection_timeout=2, **overrides)
    return CosmosStore(client, database)


@pytest.fixture
def summariser_runner(monkeypatch) -> Iterator[tuple[ListFeed, Counters, threading.Event]]:
    """The registered summariser function fed from a list feed, in a thread, as the host does."""
    monkeypatch.setattr(summariser.bindings, "_states", SensorStateCache())
    feed, counters, stopping = ListFeed(), Counters(), threading.Event()
    runner = FeedTriggerRunner(
        registered_functions()["summarise_readings"],
        settings_from({}),
        feed,
        counters,
        max_items=40,
        poll_delay=0.05,
    )
    thread = threading.Thread(target=runner.run, args=(stopping,), daemon=True)
    thread.start()
    yield feed, counters, stopping
    stopping.set()
    thread.join(10)
    reset_store(None)


def reading_batch(tick: int, start: datetime) -> list[Reading]:
    rng = random.Random(tick)
    return [
        Reading(
            f"{sensor}-{tick:04d}",
            sensor,
            round(rng.uniform(15, 40), 2),
            format_timestamp(start + timedelta(seconds=tick, milliseconds=n)),
        )
        for n, sensor in enumerate(SENSORS)
    ]


def assert_store_exact(store: CosmosStore, written: list[Reading]) -> None:
    for sensor in SENSORS:
        readings = [r.to_document() for r in written if r.sensor_id == sensor]
        summaries = [s.to_document() for s in store.recent_summaries(sensor, 500)]
        assert_summaries_exact(sensor, readings, summaries)
        newest = max(r["timestamp"] for r in readings)
        assert summaries[0]["timestamp"] == newest  # every reading is covered
        assert store.latest_summaries()[sensor].timestamp == newest


def test_store_unreachable_for_seconds_stalls_retries_and_recovers(summariser_runner) -> None:
    """The outage scaled down from minutes: the SDK gives up on a refused connection at once
    (one retry, not three with backoff), so each of the function's retries fails fast."""
    feed, counters, _ = summariser_runner
    with cosmos_server() as server:
        devices = make_cosmos_store(server)  # readings keep arriving by another path
        proxy = TcpProxy(server.port, free_port()).start()
        summariser_store = store_via(
            f"https://127.0.0.1:{proxy.port}/", devices._database_name, retry_connect=1, retry_backoff_max=1
        )
        reset_store(summariser_store)
        start = datetime.now(UTC) - timedelta(hours=1)
        written: list[Reading] = []
        stalled_at = None
        began = time.monotonic()
        for tick in range(100):  # 10 s of readings, 5 sensors every 0.1 s
            if tick == 10:
                proxy.cut()
            if tick == 20:  # 1 s into the outage: what was summarised before it
                stalled_at = devices.latest_summaries()
            if tick == 80:  # 7 s later: by then the function has failed and waited 1 + 2 + 4 s
                during = devices.latest_summaries()
                assert during == stalled_at, "nothing can be summarised while the store is cut off"
                proxy.restore()
            batch = reading_batch(tick, start)
            devices.put_readings(r.to_document() for r in batch)
            feed.append([r.to_document() for r in batch])
            written += batch
            # Devices report at a steady rate (a schedule, not a wait for anything).
            time.sleep(max(0.0, (tick + 1) * 0.1 - (time.monotonic() - began)))
        eventually(
            lambda: feed.feed_backlog("summarise_readings:readings") == 0,
            90,
            "the feed drained after the store came back",
        )
        assert counters.failed_attempts >= 3  # it stalled and retried with backoff
        assert counters.batches_skipped == 0  # retried until it worked, nothing given up
        assert_store_exact(devices, written)
        proxy.close()


def test_throttling_429s_are_retried_and_nothing_is_lost(summariser_runner) -> None:
    feed, counters, _ = summariser_runner
    with cosmos_server(https=False) as server:
        database = make_cosmos_store(server)._database_name
        proxy = ThrottlingProxy(server.port, every=3).start()
        through_proxy = store_via(f"http://127.0.0.1:{proxy.port}/", database)
        reset_store(through_proxy)
        start = datetime.now(UTC) - timedelta(hours=1)
        written: list[Reading] = []
        for tick in range(40):
            batch = reading_batch(tick, start)
            through_proxy.put_readings(r.to_document() for r in batch)  # writes are throttled too
            feed.append([r.to_document() for r in batch])
            written += batch
        eventually(lambda: feed.feed_backlog("summarise_readings:readings") == 0, 60, "feed drained")
        assert proxy.throttled >= 50, proxy.throttled
        assert counters.batches_skipped == 0
        assert_store_exact(through_proxy, written)
        for sensor in SENSORS:
            assert len(through_proxy.recent_readings(sensor, 500)) == 40  # every write landed
        proxy.close()


POISON = [
    {"sensor_id": "sensor-1", "temperature": "hot"},
    {"sensor_id": "sensor-2", "temperature": 1e9},
    {"sensor_id": "../etc/passwd", "temperature": 20.0},
    {"sensor_id": "sensor-3", "temperature": None},
    {"temperature": 21.0},
    {"sensor_id": "sensor-4", "temperature": 22.0, "timestamp": "not a time"},
]


def test_poison_in_a_busy_feed_is_dead_lettered_and_the_rest_summarised(tmp_path) -> None:
    import json

    with local_host(tmp_path, "--interval", "1", "--speed", "5") as host:
        connection = sqlite3.connect(host.store_path, timeout=30)
        poison_ids = []
        for round_number in range(4):
            for n, template in enumerate(POISON):
                document = dict(template, id=f"poison-{round_number}-{n}")
                document.setdefault("timestamp", format_timestamp(datetime.now(UTC)))
                with connection:  # another writer, straight into the readings container
                    connection.execute(
                        "INSERT INTO readings (id, sensor_id, timestamp, body) VALUES (?, ?, ?, ?)",
                        (
                            document["id"],
                            document.get("sensor_id"),
                            document.get("timestamp"),
                            json.dumps(document),
                        ),
                    )
                poison_ids.append(document["id"])
            # Let the generator write between two rounds, so poison and valid readings mix.
            (written,) = connection.execute("SELECT COUNT(*) FROM readings").fetchone()
            eventually(
                lambda written=written: (
                    connection.execute("SELECT COUNT(*) FROM readings").fetchone()[0] > written
                ),
                15,
                "the generator wrote between two rounds of poison",
            )
        connection.close()
        port, store_path, log_path = host.port, host.store_path, host.log_path
        assert host.stop(signal.SIGINT) == 0

    drained = LocalHost(port, store_path, ("--no-generator",), log_path).start()
    try:

        def dead_lettered() -> set[str]:
            letters = httpx.get(f"{drained.url}/api/deadletter", params={"limit": 500}).json()
            return {letter["source_id"] for letter in letters}

        eventually(lambda: dead_lettered() >= set(poison_ids), 30, "every poison document dead-lettered")
        assert dead_lettered() == set(poison_ids)

        def newest_reading(sensor: str) -> str:
            readings = httpx.get(f"{drained.url}/api/sensors/{sensor}/readings", params={"limit": 1})
            return readings.json()[0]["timestamp"]

        def all_summarised() -> bool:
            latest = httpx.get(f"{drained.url}/api/summary-timestamps").json()
            # Versions are "{timestamp}~{digest}".
            return all(latest.get(sensor, "").split("~")[0] == newest_reading(sensor) for sensor in SENSORS)

        eventually(all_summarised, 30, "every valid reading summarised")
        check_api_summaries(drained.url, SENSORS)
    finally:
        assert drained.stop(signal.SIGINT) == 0
