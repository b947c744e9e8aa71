"""Which time windows a publication closes or repairs: pure window arithmetic, no I/O.

A sensor's windows are written when they close, not at every batch: the bucket holding
the sensor's newest processed reading (its "latest" pointer's timestamp) is open, and is
computed from the readings when it is read. A publication that moves the pointer from
`previous` to `latest` closes the bucket `previous` was in if `latest` is in a later one,
and every bucket before `latest`'s that a reading of its batch falls in was closed before
(a late reading) and is repaired. Each is recomputed from the stored readings of that
bucket, so any lateness, redelivery or replay gives the same window.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.readings import Reading
from pipeline.rollups import BUCKETS, bucket_start


def buckets_to_write(previous: str, latest: str, batch: Iterable[Reading]) -> list[tuple[str, str]]:
    """(bucket, start) of every window to recompute, oldest first per bucket size.

    `previous` is the pointer's timestamp before the publication ("" when the sensor has
    none), `latest` its timestamp after it; `batch` the sensor's readings in the batch.
    """
    batch = list(batch)
    wanted: list[tuple[str, str]] = []
    for bucket in BUCKETS:
        still_open = bucket_start(latest, bucket)
        starts = {bucket_start(reading.timestamp, bucket) for reading in batch}
        if previous:
            starts.add(bucket_start(previous, bucket))
        wanted += [(bucket, start) for start in sorted(starts) if start < still_open]
    return wanted
