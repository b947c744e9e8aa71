"""Record every Cosmos DB request the code sends, with the size of what it wrote or read.

`OperationLog` is a `RequestMeter` (the store's own counter) that also keeps, per request,
the document or query page the SDK handed to the response hook: enough to price it with
`bench.cost_model`. Documents keep the system fields the server added (`_rid`, `_self`,
`_etag`, `_ts`, `_attachments`), so their sizes are those Cosmos DB stores.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cost_model import Operation
from pipeline.storage.cosmos_client import RequestMeter

WRITE_KINDS = {"upsert", "create", "replace", "patch", "batch", "write"}
READ_KINDS = {"read", "point_read", "read_item", "read_items"}


@dataclass(frozen=True)
class IndexPolicy:
    """A container's indexing policy: included and excluded paths, as Cosmos DB writes them."""

    included: tuple[str, ...]
    excluded: tuple[str, ...]


# What a container gets when nothing is configured (the original design's containers).
DEFAULT_POLICY = IndexPolicy(included=("/*",), excluded=('/"_etag"/?',))


def _leaves(value: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
    if isinstance(value, Mapping):
        return [leaf for key, item in value.items() for leaf in _leaves(item, (*path, str(key)))]
    if isinstance(value, list):
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, (*path, str(index)))]
    return [path]


def _matches(pattern: str, leaf: tuple[str, ...]) -> int:
    """How specific a match the pattern is for this property path (0: no match)."""
    parts = [part.strip('"') for part in pattern.strip("/").split("/")]
    if parts[-1] == "?":
        return len(parts) + 1 if list(leaf) == parts[:-1] else 0
    if parts[-1] == "*":
        prefix = parts[:-1]
        return len(prefix) + 1 if list(leaf[: len(prefix)]) == prefix else 0
    return 0


def indexed_terms(document: Mapping[str, Any], policy: IndexPolicy) -> int:
    """How many property values of the document the policy indexes (system fields aside).

    `id` is always indexed, whatever the policy ("Indexing policies": the system properties
    id and _ts are always indexed in consistent mode); `_ts` is left out on every side.
    """
    count = 0
    for key, value in document.items():
        if key.startswith("_"):
            continue
        if key == "id":
            count += 1
            continue
        for leaf in _leaves(value, (key,)):
            included = max((_matches(p, leaf) for p in policy.included), default=0)
            excluded = max((_matches(p, leaf) for p in policy.excluded), default=0)
            count += included > excluded
    return count


def container_of(document: Mapping[str, Any]) -> str:
    """Which container a document belongs to, from its shape."""
    if "bucket" in document and "start" in document:
        return "rollups"
    if "temperature" in document and "avg_temp" not in document:
        return "readings"
    if "avg_temp" in document or "window" in document:
        return "summaries"
    if "reason" in document:
        return "deadletter"
    if "bucket" in document and "start" in document:
        return "rollups"
    return "other"


def size_of(document: Any) -> int:
    return len(json.dumps(document, separators=(",", ":")).encode())


class OperationLog(RequestMeter):
    """The store's request meter, also recording each request as a priced `Operation`.

    `phase` labels what the code was doing (generator, summariser, dashboard); every
    operation is recorded under the phase current when its response arrived, unless the
    thread that sent it is inside `labelled` (a part of a phase, such as the time windows
    the summariser writes, counted apart).
    """

    def __init__(self, policies: Mapping[str, IndexPolicy]) -> None:
        super().__init__()
        self.policies = dict(policies)
        self.phase = "other"
        self.operations: list[Operation] = []
        self.phases: list[str] = []
        self._written: set[str] = set()
        self._log_lock = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def labelled(self, phase: str) -> Iterator[None]:
        """Requests this thread sends inside the block are recorded under `phase`."""
        before = getattr(self._local, "phase", None)
        self._local.phase = phase
        try:
            yield
        finally:
            self._local.phase = before

    def label(self, phase: str, work: Callable[..., Any]) -> Callable[..., Any]:
        """`work`, its requests recorded under `phase` (for wrapping a function or method)."""

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.labelled(phase):
                return work(*args, **kwargs)

        return wrapped

    def hook(self, kind: str):  # type: ignore[no-untyped-def]
        count = super().hook(kind)

        def record(headers: Mapping[str, str], body: Any = None, *rest: Any) -> None:
            count(headers, body, *rest)
            operations = self._describe(kind, body)
            phase = getattr(self._local, "phase", None) or self.phase
            with self._log_lock:
                self.operations.extend(operations)
                self.phases.extend([phase] * len(operations))

        return record

    def _write(self, kind: str, document: Mapping[str, Any], status: int | None = None) -> Operation:
        key = str(document.get("_self") or (document.get("sensor_id"), document.get("id")))
        policy = self.policies.get(container_of(document), DEFAULT_POLICY)
        with self._log_lock:
            existed = key in self._written
            self._written.add(key)
        if status is not None:  # a batch says what each operation did: 201 created, 200 replaced
            replaced = status == 200
        else:  # an upsert of an id that exists is a replace; a create never is
            replaced = kind == "replace" or (kind != "create" and existed)
        return Operation(
            "replace" if replaced else "insert", size_of(document), indexed_terms(document, policy)
        )

    def _describe(self, kind: str, body: Any) -> list[Operation]:
        if isinstance(body, Mapping) and "Documents" in body:
            documents = body["Documents"]
            return [Operation("query", size_of(documents), 0, len(documents))]
        if isinstance(body, Sequence) and not isinstance(body, str):
            if kind in READ_KINDS:
                # `read_items` is answered by one query per physical partition.
                return [Operation("query", size_of(list(body)), 0, len(body))]
            # A transactional batch: one result per operation, each with its document.
            operations = []
            for result in body:
                if not isinstance(result, Mapping):
                    continue
                document = result.get("resourceBody", result)
                status = result.get("statusCode")
                if isinstance(document, Mapping) and "id" in document:
                    operations.append(self._write(kind, document, int(status) if status else None))
            return operations
        if isinstance(body, Mapping) and "id" in body:
            if kind in READ_KINDS:
                return [Operation("read", size_of(body))]
            return [self._write(kind, body)]
        if kind in READ_KINDS:
            return [Operation("read", 0)]
        return [Operation("query", 0, 0, 0)] if kind == "query" else []

    def by_phase(self) -> dict[str, list[Operation]]:
        grouped: dict[str, list[Operation]] = {}
        with self._log_lock:
            for phase, operation in zip(self.phases, self.operations, strict=True):
                grouped.setdefault(phase, []).append(operation)
        return grouped


def deployed_policies(root: Path) -> dict[str, IndexPolicy]:
    """The indexing policy of each container as infra/main.bicep deploys it."""
    from pycep import BicepParser

    parsed = BicepParser().parse(text=(root / "infra" / "main.bicep").read_text())
    pipeline = parsed["variables"]["pipeline"]["value"]
    policies = {}
    for container in pipeline["containers"]:
        # As infra/app/cosmos.bicep builds it: with included paths given, the root is excluded.
        chosen = tuple(_paths(container.get("includedPaths")))
        excluded = (*_paths(container.get("excludedPaths")), '/"_etag"/?', *(("/*",) if chosen else ()))
        policies[str(container["name"])] = IndexPolicy(chosen or ("/*",), excluded)
    return policies


def _paths(entries: Any) -> list[str]:
    if not entries:
        return []
    return [str(entry["path"]) for entry in entries if isinstance(entry, Mapping) and "path" in entry]
