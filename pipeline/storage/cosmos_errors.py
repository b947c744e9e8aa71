"""Cosmos DB failures as the store's own exceptions (shared by the store and its windows)."""

from __future__ import annotations

from azure.cosmos.exceptions import CosmosHttpResponseError

from pipeline.storage.base import StoreError, StoreUnavailable


def translated(error: Exception) -> StoreError:
    """StoreError for an answer that retrying will not change; StoreUnavailable otherwise."""
    if isinstance(error, CosmosHttpResponseError) and error.status_code not in (None, 408, 429, 503):
        return StoreError(f"Cosmos DB answered {error.status_code}: {error.message[:200]}")
    return StoreUnavailable(f"Cosmos DB unavailable: {str(error)[:200]}")
