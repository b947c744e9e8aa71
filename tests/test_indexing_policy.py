"""Each container indexes only the paths its queries use, the same in Bicep and in the store."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from pycep import BicepParser

from bench.metering import DEFAULT_POLICY, OperationLog, deployed_policies
from pipeline import names
from tests.conftest import make_cosmos_store
from tests.servers import ROOT

# Every module that sends Cosmos DB queries: the store and its parts.
STORE_MODULES = sorted((ROOT / "pipeline" / "storage").glob("cosmos*.py"))
ALWAYS_INDEXED = {"id", "_ts"}  # "Indexing policies": always indexed in consistent mode


def bicep_containers() -> dict[str, dict]:
    parsed = BicepParser().parse(text=(ROOT / "infra" / "main.bicep").read_text())
    return {str(c["name"]): c for c in parsed["variables"]["pipeline"]["value"]["containers"]}


def test_bicep_indexes_the_same_paths_as_the_code() -> None:
    for name, container in bicep_containers().items():
        paths = tuple(str(entry["path"]) for entry in container["includedPaths"])
        assert paths == (names.INDEXED_PATHS[name] or ()), name


def test_the_cosmos_module_excludes_the_root_when_paths_are_chosen() -> None:
    module = (ROOT / "infra" / "app" / "cosmos.bicep").read_text()
    assert "empty(container.includedPaths)" in module
    for role, paths in names.INDEXED_PATHS.items():
        policy = names.indexing_policy(role)
        included = [entry["path"] for entry in policy["includedPaths"]]
        excluded = [entry["path"] for entry in policy["excludedPaths"]]
        # Cosmos DB requires the root path either included or excluded, never both.
        assert ("/*" in included) != ("/*" in excluded), role
        assert included == list(paths or ("/*",))


def _query_texts(module: Path) -> list[str]:
    """Every string (f-strings with their holes blanked) that reads like a Cosmos SQL query."""
    texts = []
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            texts.append("".join(v.value if isinstance(v, ast.Constant) else " = " for v in node.values))
    return [text for text in texts if "FROM c" in text]


def test_every_path_the_stores_queries_filter_or_sort_on_is_indexed() -> None:
    indexed = set(ALWAYS_INDEXED)
    for paths in names.INDEXED_PATHS.values():
        indexed.update(path.strip("/").split("/")[0] for path in paths or ())
    queries = [query for module in STORE_MODULES for query in _query_texts(module)]
    assert len(queries) >= 5
    used = set()
    for query in queries:
        conditions = query.split("FROM c", 1)[1]  # the projection may read any field
        used.update(re.findall(r"\bc\.(\w+)", conditions))
    assert used, queries
    # An ORDER BY on a path that is not indexed fails on Cosmos DB; a filter scans.
    assert used <= indexed, f"not indexed: {sorted(used - indexed)}"


def test_an_unindexed_query_path_would_be_caught(tmp_path: Path) -> None:
    module = tmp_path / "store.py"
    module.write_text('QUERY = "SELECT * FROM c WHERE c.sensor_id = @s ORDER BY c.max_temp"\n')
    used = set(re.findall(r"\bc\.(\w+)", _query_texts(module)[0].split("FROM c", 1)[1]))
    assert "max_temp" in used


def test_the_store_creates_containers_with_the_policy(cosmos) -> None:  # type: ignore[no-untyped-def]
    store = make_cosmos_store(cosmos)
    try:
        policy = store._summaries.read().get("indexingPolicy")
    finally:
        store.close()
    if policy is None:
        pytest.fail("the Cosmos-compatible server did not keep the container's indexing policy")
    assert [entry["path"] for entry in policy["includedPaths"]] == list(
        names.INDEXED_PATHS[names.DEFAULT_SUMMARIES] or ()
    )


def test_a_summary_write_costs_less_under_the_deployed_policy() -> None:
    summary = {
        "id": "sensor-1-t",
        "sensor_id": "sensor-1",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "max_temp": 30.0,
        "min_temp": 20.0,
        "avg_temp": 25.0,
        "count": 10,
    }
    ours = OperationLog(deployed_policies(ROOT))
    original = OperationLog({"summaries": DEFAULT_POLICY})
    ours.hook("create")({}, summary)
    original.hook("create")({}, summary)
    (mine,), (theirs,) = ours.operations, original.operations
    assert (mine.indexed_terms, theirs.indexed_terms) == (3, 7)  # id, sensor_id, timestamp
    # "Understand request unit consumption": 0.2 RU per indexed term of a create.
    assert theirs.request_units - mine.request_units == pytest.approx(4 * 0.2)
