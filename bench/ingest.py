"""Cosmos DB round trips of one `POST /api/readings` carrying 1,000 readings.

The real web app, its store on the Cosmos-compatible server; the store's request meter
counts every request the POST causes. The readings are those of a gateway posting its
devices' backlog: 5 sensors, 200 readings each, uuid ids.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from pipeline.readings import format_timestamp
from pipeline.settings import settings_from
from pipeline.storage.cosmos_store import CosmosStore
from web_app import create_web_app


def backlog(readings: int, sensors: int, seed: int = 3) -> list[dict[str, object]]:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "sensor_id": f"sensor-{n % sensors + 1}",
            "temperature": round(rng.uniform(15, 40), 2),
            "timestamp": format_timestamp(now - timedelta(seconds=readings - n)),
        }
        for n in range(readings)
    ]


def round_trips(store: CosmosStore, readings: int = 1000, sensors: int = 5) -> int:
    """How many requests the store sent for one POST of `readings` readings."""
    app = create_web_app(store=store, settings=settings_from({}))
    with TestClient(app) as client:
        before = store.meter.total()
        response = client.post("/api/readings", json=backlog(readings, sensors))
        response.raise_for_status()
        return store.meter.total() - before
