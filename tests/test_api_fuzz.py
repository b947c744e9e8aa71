"""The HTTP API fuzzed from its own OpenAPI document, plus hostile inputs aimed at the routes.

Never a 5xx, never a stack trace: bad input is always a 4xx with a JSON reason.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from pipeline.settings import settings_from
from pipeline.storage.sqlite_store import SqliteStore
from tests.test_web_api import seed
from web_app import create_web_app

HOSTILE_IDS = [
    "..%2F..%2Fetc%2Fpasswd",
    "%2E%2E%2F",
    "..",
    "sensor-1%00",
    "x" * 65,
    "x" * 5000,
    "' OR 1=1 --",
    'sensor-1" OR "1"="1',
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "sensor-1; DROP TABLE readings",
    "%E2%80%AE",
    "sensor%20one",
    "C:%5Cwindows",
]
HOSTILE_LIMITS = ["-1", "0", "501", "1e3", "0x10", "10; DROP", "", "NaN", "9" * 40, "1.5", "' OR 1=1"]


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Iterator[object]:
    store = SqliteStore(Path(tmp_path_factory.mktemp("fuzz")) / "p.db")
    seed(store)
    yield create_web_app(store=store, settings=settings_from({}))
    store.close()


def test_no_server_error_for_any_schema_input(app) -> None:
    """Every operation of /api/openapi.json, with inputs drawn from its schema (schemathesis)."""
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    calls: list[tuple[str, int]] = []

    for operation, mode in itertools.product(operations, GenerationMode):

        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def never_a_server_error(case) -> None:
            response = case.call()
            calls.append((case.method, response.status_code))
            assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
            assert "Traceback" not in response.text
            assert 'File "' not in response.text

        try:
            never_a_server_error()
        except Unsatisfiable:
            # An operation without parameters has no invalid input to draw.
            assert mode is GenerationMode.NEGATIVE and not operation.path_parameters, operation.label

    print(
        f"schemathesis: {len(calls)} valid and invalid requests over {len(operations)} operations, "
        f"statuses {sorted({status for _, status in calls})}"
    )
    assert len(calls) >= 100
    assert {400, 200} <= {status for _, status in calls}  # valid input answered, invalid refused


@pytest.fixture(scope="module")
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.mark.parametrize("sensor_id", HOSTILE_IDS)
def test_hostile_sensor_ids_are_refused(client: TestClient, sensor_id: str) -> None:
    for path in (
        f"/api/sensors/{sensor_id}/summaries",
        f"/api/sensors/{sensor_id}/readings",
        f"/plot/{sensor_id}.png",
    ):
        response = client.get(path)
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert "Traceback" not in response.text


@pytest.mark.parametrize("limit", HOSTILE_LIMITS)
def test_hostile_limits_are_refused(client: TestClient, limit: str) -> None:
    for path in ("/api/sensors/sensor-1/summaries", "/api/sensors/sensor-1/readings", "/api/deadletter"):
        response = client.get(path, params={"limit": limit})
        assert response.status_code == 400, (path, limit, response.status_code)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=50),
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
        ),
        max_leaves=20,
    )
)
def test_any_json_body_to_post_readings_is_a_4xx_or_created(client: TestClient, body) -> None:
    import json

    response = client.post("/api/readings", content=json.dumps(body).encode())
    assert response.status_code in (201, 400, 413, 422), response.text[:300]
    assert "Traceback" not in response.text
