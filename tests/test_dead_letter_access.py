"""Who may read dead letters: the function key in Azure (like ingest), open on the local host."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import azure.functions as func
import pytest

from local_host.http_gateway import http_functions
from pipeline.storage import reset_store
from pipeline.storage.sqlite_store import SqliteStore
from pipeline.web import SECURITY_HEADERS
from tests.servers import registered_functions
from tests.test_web_api import seed


def trigger(name: str) -> dict:
    return registered_functions()[name].get_trigger().get_dict_repr()


def test_dead_letters_have_their_own_function_with_a_function_key() -> None:
    binding = trigger("read_dead_letters")
    assert binding["route"] == "api/deadletter"
    assert binding["authLevel"].value == "function" == trigger("post_readings")["authLevel"].value
    assert {m.value for m in binding["methods"]} == {"GET", "HEAD"}
    assert trigger("visualiser")["authLevel"].value == "anonymous"


@pytest.mark.parametrize("path", ["/api/deadletter", "/API/DeadLetter", "/api/deadletter/"])
def test_the_literal_route_wins_over_the_catch_all(path: str) -> None:
    # Literal routes before catch-alls, case-insensitive: the host's rule, which the local host follows.
    functions = http_functions(registered_functions().values(), "")
    first = next(f for f in functions if f.route_params(path) is not None)
    assert first.name == "read_dead_letters"


@pytest.fixture
def functions_on_a_store(sqlite_store: SqliteStore) -> Iterator[SqliteStore]:
    import pipeline.functions_http as functions_http

    seed(sqlite_store)
    reset_store(sqlite_store)
    functions_http._middleware = None
    try:
        yield sqlite_store
    finally:
        reset_store(None)
        functions_http._middleware = None


def call(name: str, path: str) -> func.HttpResponse:
    request = func.HttpRequest(
        method="GET",
        url=f"https://app.azurewebsites.net{path}",
        headers={"host": "app.azurewebsites.net"},
        params={},
        route_params={"path": path.lstrip("/")},
        body=b"",
    )
    return asyncio.run(registered_functions()[name].get_user_function()(request, None))


@pytest.mark.parametrize(
    "path", ["/api/deadletter", "/API/deadletter", "/api//deadletter/", "/api/dead%6Cetter"]
)
def test_the_anonymous_catch_all_never_serves_dead_letters(functions_on_a_store, path: str) -> None:
    refused = call("visualiser", path)
    assert refused.status_code == 404
    assert refused.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    assert call("visualiser", "/api/sensors").status_code == 200
    served = call("read_dead_letters", "/api/deadletter")
    assert served.status_code == 200 and served.mimetype == "application/json"
