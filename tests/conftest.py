"""Fixtures: the two store back-ends, each on a real engine (SQLite file, Cosmos-compatible server)."""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from pipeline.settings import CosmosConnection
from pipeline.storage import Store
from pipeline.storage.sqlite_store import SqliteStore
from tests.servers import CosmosServer, cosmos_server

# The test server's certificate is self-signed, as the emulator's is.
warnings.filterwarnings("ignore", message="Unverified HTTPS request")
logging.getLogger("azure").setLevel(logging.WARNING)
# `make mutate` only needs to know that a property fails, not its smallest counterexample.
settings.register_profile("mutate", phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
# Scaled down for speed: local hosts started by tests poll a drained change feed every 0.25 s,
# not every 1 s as `make run` and Azure do (tests/test_feed_tuning.py checks the default).
os.environ.setdefault("SUMMARISER_FEED_POLL_DELAY_MS", "250")


@pytest.fixture(autouse=True)
def fresh_health_record() -> Iterator[None]:
    """Each test starts with what a new process has: no function failures on record.

    `/api/health` reads the process-wide record; a test that fails a function on purpose
    would otherwise make a later test in the same worker see it unhealthy.
    """
    from pipeline.invocations import INVOCATIONS

    INVOCATIONS._records.clear()
    yield


@pytest.fixture(scope="session")
def cosmos() -> Iterator[CosmosServer]:
    with cosmos_server() as server:
        yield server


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "pipeline.db")
    store.ensure_ready()
    yield store
    store.close()


def make_cosmos_store(server: CosmosServer):
    from pipeline.storage.cosmos_client import build_client
    from pipeline.storage.cosmos_store import CosmosStore

    # Over plain HTTP the SDK must not follow the server's https:// account metadata.
    overrides = {} if server.scheme == "https" else {"enable_endpoint_discovery": False}
    client = build_client(
        CosmosConnection(connection_string=server.connection_string, verify_tls=False), **overrides
    )
    # A database per test: the server is shared by the session, the data is not.
    store = CosmosStore(client, f"test-{uuid.uuid4().hex[:12]}")
    store.ensure_ready()
    return store


@pytest.fixture
def cosmos_store(cosmos: CosmosServer) -> Iterator[Store]:
    store = make_cosmos_store(cosmos)
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "cosmos"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """Each test using this runs twice: on SQLite and on the Cosmos-compatible server."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_store")
    else:
        yield request.getfixturevalue("cosmos_store")
