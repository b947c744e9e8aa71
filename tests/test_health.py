"""`/api/health` on both stores: the failing part named, feed lag never negative nor fooled by clocks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.circuit import GuardedStore
from pipeline.health import FAILURES_UNHEALTHY, health_router
from pipeline.invocations import Invocations
from pipeline.readings import Reading, format_timestamp
from pipeline.settings import Settings, settings_from
from pipeline.storage import Store, StoreError
from summariser.batch import summarise_batch
from tests.checks import eventually


def health_client(store: Store, invocations: Invocations, settings: Settings) -> TestClient:
    app = FastAPI()
    app.include_router(health_router(lambda: store, lambda: settings, invocations))
    return TestClient(app)


@pytest.fixture
def invocations() -> Invocations:
    return Invocations()


@pytest.fixture
def client(store: Store, invocations: Invocations) -> Iterator[TestClient]:
    with health_client(GuardedStore(store), invocations, settings_from({})) as test_client:
        yield test_client


def reading(reading_id: str, moment: datetime) -> Reading:
    return Reading(reading_id, "sensor-1", 21.0, format_timestamp(moment))


def test_healthy_store_reports_every_part(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "healthy",
        "failing": [],
        "store": "ok",
        "functions": {},
        "feed_lag_seconds": 0.0,
    }


def test_feed_lag_is_not_fooled_by_a_reading_stamped_in_the_future(client: TestClient, store: Store) -> None:
    now = datetime.now(UTC)
    future = reading("from-the-future", now + timedelta(minutes=30))
    store.put_readings([future.to_document()])
    summarise_batch([future.to_document()], store, 10, now)  # newest summary 30 min ahead of now
    lag = client.get("/api/health").json()["feed_lag_seconds"]
    assert lag is not None and 0.0 <= lag < 60  # was now - newest summary: -1800 s


def test_feed_lag_counts_from_the_write_not_from_an_old_reading_timestamp(
    store: Store, invocations: Invocations
) -> None:
    a_year_ago = datetime.now(UTC) - timedelta(days=365)
    store.put_readings([reading("back-dated", a_year_ago).to_document()])  # written now, not summarised
    settings = settings_from({"HEALTH_MAX_FEED_LAG_SECONDS": "3600"})
    with health_client(store, invocations, settings) as client:
        body = client.get("/api/health").json()
        assert 0.0 <= body["feed_lag_seconds"] < 3600  # a timestamp-based lag would say a year
        assert body["status"] == "healthy"


def test_an_unprocessed_change_older_than_the_limit_makes_it_unhealthy(
    store: Store, invocations: Invocations
) -> None:
    store.put_readings([reading("waiting", datetime.now(UTC)).to_document()])
    settings = settings_from({"HEALTH_MAX_FEED_LAG_SECONDS": "0.001"})
    with health_client(store, invocations, settings) as client:

        def lagging() -> bool:
            response = client.get("/api/health")
            return response.status_code == 503 and response.json()["failing"] == ["feed_lag"]

        eventually(lagging, 10, "the waiting change older than the limit")


def test_a_function_failing_in_a_row_is_named_until_it_succeeds(client: TestClient, invocations) -> None:
    for _ in range(FAILURES_UNHEALTHY):
        assert client.get("/api/health").status_code == 200  # fewer failures: retries at work
        invocations.failed("summarise_readings", TimeoutError("/secret/path"))
    response = client.get("/api/health")
    assert response.status_code == 503 and response.headers["retry-after"]
    body = response.json()
    assert body["failing"] == ["summarise_readings"]
    assert body["functions"]["summarise_readings"] == {
        "consecutive_failures": FAILURES_UNHEALTHY,
        "last_error": "TimeoutError",
    }
    assert "/secret/path" not in response.text
    invocations.succeeded("summarise_readings")
    assert client.get("/api/health").status_code == 200


def test_the_summariser_binding_records_its_outcomes(monkeypatch, tmp_path) -> None:
    """The registered function, failing on a store that cannot persist, then succeeding."""
    import azure.functions as func

    import summariser.bindings
    from local_host.triggers import LocalContext
    from pipeline.invocations import INVOCATIONS
    from pipeline.storage import reset_store
    from pipeline.storage.sqlite_store import SqliteStore
    from tests.servers import registered_functions

    store = SqliteStore(tmp_path / "pipeline.db")
    store.ensure_ready()
    reset_store(store)
    monkeypatch.setattr(summariser.bindings, "INVOCATIONS", invocations := Invocations())
    function = registered_functions()["summarise_readings"].get_user_function()
    documents = func.DocumentList([func.Document.from_dict(reading("r1", datetime.now(UTC)).to_document())])
    try:
        (tmp_path / "pipeline.db").rename(tmp_path / "elsewhere.db")
        for _ in range(2):
            with pytest.raises(StoreError):
                function(documents, context=LocalContext("summarise_readings"))
        assert invocations.records()["summarise_readings"].consecutive_failures == 2
        (tmp_path / "elsewhere.db").rename(tmp_path / "pipeline.db")
        function(documents, context=LocalContext("summarise_readings"))
        assert invocations.records()["summarise_readings"].consecutive_failures == 0
    finally:
        reset_store(None)
    assert INVOCATIONS is not invocations
