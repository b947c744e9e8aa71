"""The circuit breaker counts store failures only: a client's bad requests never open it for everyone.

The client errors here are raised by the store itself, after the route's validation,
so the breaker's exclusion is what decides (a test that fails validation first never
reaches the breaker).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipeline.circuit import CircuitOpen, GuardedStore
from pipeline.settings import settings_from
from pipeline.storage import StoreError
from pipeline.storage.sqlite_store import SqliteStore
from web_app import create_web_app

FAIL_MAX = 3


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[GuardedStore]:
    inner = SqliteStore(tmp_path / "pipeline.db")
    inner.ensure_ready()
    yield GuardedStore(inner, fail_max=FAIL_MAX, cooldown_seconds=60)
    inner.close()


def test_client_errors_raised_by_the_store_never_open_the_breaker(guarded: GuardedStore) -> None:
    for _ in range(FAIL_MAX * 10):
        with pytest.raises(ValueError):  # the store refuses the request itself: a client error
            guarded.put_readings([{"sensor_id": "sensor-1", "temperature": 20.0}])
    assert guarded.breaker.current_state == "closed"
    assert guarded.breaker.fail_counter == 0
    guarded.put_readings([{"id": "r1", "sensor_id": "sensor-1", "temperature": 20.0, "timestamp": "x"}])


def test_store_errors_open_the_breaker(guarded: GuardedStore, tmp_path: Path) -> None:
    (tmp_path / "pipeline.db").rename(tmp_path / "elsewhere.db")  # the store cannot persist
    for _ in range(FAIL_MAX):
        with pytest.raises(StoreError) as failure:
            guarded.put_readings([{"id": "r1", "sensor_id": "sensor-1", "temperature": 20.0}])
        assert not isinstance(failure.value, CircuitOpen)
    assert guarded.breaker.current_state == "open"
    with pytest.raises(CircuitOpen) as refused:
        guarded.put_readings([{"id": "r2", "sensor_id": "sensor-1", "temperature": 20.0}])
    assert refused.value.retry_after >= 1
    assert "deleted" in str(refused.value.cause)


def test_many_bad_posts_then_a_store_outage_through_http(guarded: GuardedStore, tmp_path: Path) -> None:
    """Over HTTP: refused requests leave the breaker closed; store failures then open it (503)."""
    app = create_web_app(store=guarded, settings=settings_from({}))
    app.state.guarded_store = guarded
    with TestClient(app) as client:
        for _ in range(FAIL_MAX * 5):
            response = client.post("/api/readings", json={"sensor_id": "sensor-1", "temperature": "hot"})
            assert response.status_code == 422
        for _ in range(FAIL_MAX * 5):  # store-level client errors are not store failures either
            with pytest.raises(ValueError):
                guarded.put_readings([{"temperature": 1.0}])
        assert guarded.breaker.current_state == "closed"
        (tmp_path / "pipeline.db").rename(tmp_path / "elsewhere.db")
        reading = {"sensor_id": "sensor-1", "temperature": 20.0, "timestamp": "2026-01-01T00:00:00.000Z"}
        statuses = [client.post("/api/readings", json=reading).status_code for _ in range(FAIL_MAX + 1)]
        assert statuses == [503] * (FAIL_MAX + 1)
        assert guarded.breaker.current_state == "open"


def test_conflicting_posts_answer_409_and_never_open_the_breaker(
    guarded: GuardedStore, tmp_path: Path
) -> None:
    """A reading id reused with other content is refused by the store (409), however often."""
    app = create_web_app(store=guarded, settings=settings_from({}))
    app.state.guarded_store = guarded
    reading = {
        "id": "r-1",
        "sensor_id": "sensor-1",
        "temperature": 20.0,
        "timestamp": "2026-01-01T00:00:00.000Z",
    }
    with TestClient(app) as client:
        assert client.post("/api/readings", json=reading).status_code == 201
        for attempt in range(FAIL_MAX * 5):
            changed = {**reading, "temperature": 30.0 + attempt}
            response = client.post("/api/readings", json=changed)
            assert response.status_code == 409, response.text
        assert guarded.breaker.current_state == "closed" and guarded.breaker.fail_counter == 0
        assert client.post("/api/readings", json=reading).status_code in (200, 201)  # the same again
        (tmp_path / "pipeline.db").rename(tmp_path / "elsewhere.db")
        statuses = [client.post("/api/readings", json=reading).status_code for _ in range(FAIL_MAX + 1)]
        assert statuses == [503] * (FAIL_MAX + 1)
        assert guarded.breaker.current_state == "open"
