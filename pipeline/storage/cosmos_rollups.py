"""The Cosmos DB store's time windows (rollups), in a container of their own.

Their own container, not `summaries`: the summaries' queries (a sensor's history, the
late-repair range, the dashboard's pointer query) stay as they are, with no type filter to
add to each and no chance of picking a window up; the windows get their own default TTL
(they outlive readings and summaries) and their own indexing. On a serverless account a
container costs nothing by itself. Partitioned by sensor like readings and summaries, so
every window query stays in one partition.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError
from azure.cosmos import ContainerProxy, CosmosClient
from azure.cosmos.exceptions import CosmosHttpResponseError

from pipeline import names
from pipeline.readings import Reading
from pipeline.rollups import Rollup, bucket_seconds, rollup_id
from pipeline.storage.base import StoreError, valid_readings, with_open_bucket
from pipeline.storage.cosmos_errors import translated

# Attempts to replace a window whose etag keeps changing under us (other writers).
_REPLACE_ATTEMPTS = 8


class CosmosRollups:
    """Closed windows as documents `{sensor_id}-{bucket}-{start}`; the open one computed when read."""

    _client: CosmosClient
    _database_name: str
    _container_names: dict[str, str]
    _readings: ContainerProxy
    meter: Any
    _query: Callable[..., list[dict[str, Any]]]
    _read_pointer: Callable[[str], dict[str, Any] | None]

    @property
    def _rollups(self) -> ContainerProxy:
        name = self._container_names.get(names.DEFAULT_ROLLUPS, names.DEFAULT_ROLLUPS)
        return self._client.get_database_client(self._database_name).get_container_client(name)

    def readings_between(self, sensor_id: str, start: str, end: str) -> list[Reading]:
        # Only the fields a reading has: a query is charged for the data it returns.
        documents = self._query(
            self._readings,
            "SELECT c.id, c.sensor_id, c.temperature, c.timestamp FROM c WHERE c.sensor_id = @sensor "
            "AND c.timestamp >= @start AND c.timestamp < @end ORDER BY c.timestamp",
            [
                {"name": "@sensor", "value": sensor_id},
                {"name": "@start", "value": start},
                {"name": "@end", "value": end},
            ],
            partition_key=sensor_id,
        )
        return valid_readings(documents)

    def put_rollups(self, rollups: Sequence[Rollup]) -> None:
        try:
            for rollup in rollups:
                self._put_one(rollup)
        except AzureError as error:
            raise translated(error) from error

    def _put_one(self, rollup: Rollup) -> None:
        """Create the window, or replace a stored one of a lower count (compare-and-swap on its etag)."""
        container = self._rollups
        document = rollup.to_stored()
        try:
            container.create_item(document, response_hook=self.meter.hook("create"))
            return
        except CosmosHttpResponseError as error:
            if error.status_code != 409:
                raise
        for _ in range(_REPLACE_ATTEMPTS):
            stored = container.read_item(
                rollup.id, partition_key=rollup.sensor_id, response_hook=self.meter.hook("read")
            )
            if int(stored.get("count", 0)) >= rollup.count:
                return  # as complete already: a bucket's readings only grow
            try:
                container.replace_item(
                    rollup.id,
                    document,
                    etag=stored["_etag"],
                    match_condition=MatchConditions.IfNotModified,
                    response_hook=self.meter.hook("replace"),
                )
                return
            except CosmosHttpResponseError as error:
                if error.status_code != 412:
                    raise
        raise StoreError(f"window {rollup.id} kept changing while writing it")

    def stored_rollups(self, sensor_id: str, bucket: str, start: str, end: str) -> list[Rollup]:
        """The windows written for these bucket starts, oldest first (not the open one)."""
        # The id is `rollup_id(sensor, bucket, start)`: both bounds share the sensor-and-bucket
        # prefix, so the ids between them are exactly this bucket size's windows from `start`
        # to `end` (starts are fixed-width ISO-8601, ordered as text). `id` is always indexed:
        # the container indexes nothing for this query but the partition key (docs/costs.md).
        documents = self._query(
            self._rollups,
            # Only the statistics: a query is charged for the data it returns.
            "SELECT c.start, c.count, c.min, c.max, c.avg FROM c "
            "WHERE c.sensor_id = @sensor AND c.id >= @first AND c.id < @last ORDER BY c.id",
            [
                {"name": "@sensor", "value": sensor_id},
                {"name": "@first", "value": rollup_id(sensor_id, bucket, start)},
                {"name": "@last", "value": rollup_id(sensor_id, bucket, end)},
            ],
            partition_key=sensor_id,
        )
        return [Rollup.from_stored(dict(d, sensor_id=sensor_id, bucket=bucket)) for d in documents]

    def rollups(self, sensor_id: str, bucket: str, start: str, end: str) -> list[Rollup]:
        bucket_seconds(bucket)  # ValueError naming the bucket sizes
        pointer = self._read_pointer(sensor_id)
        stored = self.stored_rollups(sensor_id, bucket, start, end)
        latest = str(pointer["timestamp"]) if pointer else None
        return with_open_bucket(self, sensor_id, bucket, start, end, latest, stored)
