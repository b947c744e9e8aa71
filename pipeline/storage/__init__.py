"""Storage back-ends behind one small contract, and the process-wide store."""

from __future__ import annotations

import threading

from pipeline.settings import Settings, StoreKind, load_settings
from pipeline.storage.base import (
    NO_POINTER,
    ChangeFeed,
    FeedBatch,
    LatestMarker,
    LatestMoved,
    LatestSummary,
    Publication,
    ReadingConflict,
    SensorState,
    Store,
    StoreError,
    StoreNotWritable,
    StoreUnavailable,
)

__all__ = [
    "ChangeFeed",
    "FeedBatch",
    "LatestMarker",
    "LatestSummary",
    "LatestMoved",
    "NO_POINTER",
    "Publication",
    "ReadingConflict",
    "SensorState",
    "Store",
    "StoreError",
    "StoreNotWritable",
    "StoreUnavailable",
    "open_store",
    "get_store",
    "reset_store",
]

_store: Store | None = None
_store_lock = threading.Lock()


def open_store(settings: Settings) -> Store:
    """A new store for the configured back-end. Does no I/O: connections open on first use."""
    if settings.store is StoreKind.COSMOS:
        # Imported here so that `import function_app` does not pay for azure-cosmos.
        from pipeline.storage.cosmos_client import build_client
        from pipeline.storage.cosmos_store import CosmosStore

        assert settings.cosmos is not None
        return CosmosStore(
            build_client(settings.cosmos),
            settings.database,
            readings=settings.readings_container,
            summaries=settings.summaries_container,
            deadletter=settings.deadletter_container,
            leases=settings.leases_container,
        )
    from pipeline.storage.sqlite_store import SqliteStore

    return SqliteStore(settings.sqlite_path, retention=settings.retention)


def get_store() -> Store:
    """The one store of this process, built lazily on first use and reused."""
    global _store
    if _store is None:
        with _store_lock:
            if _store is None:
                _store = open_store(load_settings())
    return _store


def reset_store(store: Store | None = None) -> None:
    """Replace (or forget) the process-wide store: for the local host and tests."""
    global _store
    with _store_lock:
        if _store is not None and _store is not store:
            _store.close()
        _store = store
