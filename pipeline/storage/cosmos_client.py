"""The Cosmos DB client the stores share, and the meter that counts what it is charged."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from azure.cosmos import CosmosClient

from pipeline.settings import CosmosConnection

# Throttling (429) and transient failures are retried inside the SDK with its own
# exponential backoff; only what is left after that reaches our callers.
_RETRY_OPTIONS: dict[str, Any] = dict(retry_total=9, retry_backoff_max=30, retry_connect=3, retry_read=3)


def build_client(connection: CosmosConnection, **overrides: Any) -> CosmosClient:
    """One client per process: the connection string locally, an Entra ID credential in Azure.

    `overrides` are passed to the SDK as they are (tests set `enable_endpoint_discovery`).
    """
    options: dict[str, Any] = dict(_RETRY_OPTIONS, connection_verify=connection.verify_tls)
    options.update(overrides)
    if connection.connection_string:
        return CosmosClient.from_connection_string(connection.connection_string, **options)
    # Imported here: azure-identity is slow to import and is only needed in Azure.
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    credential = (
        ManagedIdentityCredential(client_id=connection.managed_identity_client_id)
        if connection.managed_identity_client_id
        else DefaultAzureCredential()
    )
    return CosmosClient(connection.account_endpoint or "", credential=credential, **options)


class RequestMeter:
    """Counts Cosmos DB requests by kind and adds up the request units they were charged."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.request_units = 0.0
        self._lock = threading.Lock()

    def hook(self, kind: str) -> Callable[..., None]:
        def record(headers: Mapping[str, str], *_: Any) -> None:
            charge = float(headers.get("x-ms-request-charge", 0) or 0)
            with self._lock:
                self.requests[kind] += 1
                self.request_units += charge

        return record

    def total(self) -> int:
        with self._lock:
            return sum(self.requests.values())
