"""Every Cosmos DB call that fails is one of our store errors, never the SDK's own.

The breaker counts `StoreError`s, the HTTP routes answer them 503, and the summariser's
retry policy redelivers on them; an `azure.core` exception escaping instead would be a 500
and a crashed invocation. The network is cut for real (a loopback TCP proxy in front of the
test server), and the SDK is told to give up on a refused connection at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pipeline.readings import DeadLetter, Reading, Summary
from pipeline.storage import Publication, StoreUnavailable
from pipeline.storage.base import NO_POINTER, LatestMarker
from pipeline.storage.cosmos_store import CosmosStore
from tests.conftest import make_cosmos_store
from tests.proxies import TcpProxy
from tests.servers import CosmosServer, free_port
from tests.test_resilience import store_via

READING = Reading("r-1", "sensor-1", 20.5, "2026-12-01T00:00:01.000Z")
SUMMARY = Summary("sensor-1-1", "sensor-1", READING.timestamp, 20.5, 20.5, 20.5, 1)
LETTER = DeadLetter("d-1", "p-1", "not a reading", "2026-12-01T00:00:02.000Z", "{}")


@pytest.fixture
def cut_off(cosmos: CosmosServer) -> Iterator[CosmosStore]:
    """A store with one sensor, reached through a proxy that has just cut the network."""
    direct = make_cosmos_store(cosmos)
    direct.put_readings([READING.to_document()])
    direct.publish([Publication(SUMMARY, (READING,), NO_POINTER)])
    proxy = TcpProxy(cosmos.port, free_port()).start()
    store = store_via(
        f"https://127.0.0.1:{proxy.port}/", direct._database_name, retry_connect=1, retry_backoff_max=1
    )
    proxy.cut()
    yield store
    proxy.close()


NEWER = Summary("sensor-1-2", "sensor-1", "2026-12-01T00:00:03.000Z", 21.0, 20.5, 20.75, 2)
OPERATIONS: dict[str, Callable[[CosmosStore], Any]] = {
    "ensure_ready": lambda store: store.ensure_ready(),
    "reading_window (a query)": lambda store: store.reading_window("sensor-1", NEWER.timestamp, 10),
    "publish, reading the pointer first": lambda store: store.publish([Publication(NEWER, (), None)]),
    "publish from a known pointer": lambda store: store.publish(
        [Publication(NEWER, (READING,), LatestMarker(SUMMARY.timestamp, "some-etag"))]
    ),
    "put_readings of a document without a sensor id": lambda store: store.put_readings([{"id": "x"}]),
    "add_dead_letters": lambda store: store.add_dead_letters([LETTER]),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_call_cut_off_from_cosmos_db_raises_store_unavailable(cut_off: CosmosStore, operation: str) -> None:
    with pytest.raises(StoreUnavailable, match="Cosmos DB unavailable"):
        OPERATIONS[operation](cut_off)
