"""Build the time windows of readings already stored: `python -m summariser.backfill` (`make backfill`).

For a deployment that stored readings before windows existed, so that a 7-day view is not
empty for a week. Per sensor that has a summary, hour by hour from its oldest stored
reading: one query for the hour's readings, then its 1-hour window and its 1-minute
windows, up to the open bucket (the one holding the sensor's newest summary, which is
computed when read). Idempotent and safe beside a running summariser: a store never
replaces a window with one of fewer readings, and an equal one changes nothing.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta

from pipeline.readings import format_timestamp, parse_timestamp
from pipeline.rollups import Rollup, bucket_end, bucket_start, rollups_of
from pipeline.settings import load_settings
from pipeline.storage import Store, open_store

log = logging.getLogger(__name__)
ONE_MS = timedelta(milliseconds=1)


def backfill_sensor(store: Store, sensor_id: str, latest: str) -> int:
    """Write every closed window of one sensor from its stored readings; return how many."""
    open_minute, open_hour = bucket_start(latest, "1m"), bucket_start(latest, "1h")
    written = 0
    first = store.readings_after(sensor_id, "", 1)
    hour = bucket_start(first[0].timestamp, "1h") if first else None
    while hour is not None and hour <= open_hour:
        end = bucket_end(hour, "1h")
        readings = store.readings_between(sensor_id, hour, min(end, open_minute))
        windows: list[Rollup] = rollups_of(sensor_id, "1m", readings)
        if hour < open_hour:
            windows += rollups_of(sensor_id, "1h", readings)
        if windows:
            store.put_rollups(windows)
            written += len(windows)
        following = store.readings_after(sensor_id, format_timestamp(parse_timestamp(end) - ONE_MS), 1)
        hour = bucket_start(following[0].timestamp, "1h") if following else None
    return written


def backfill(store: Store, sensor_ids: Sequence[str] = ()) -> dict[str, int]:
    """Backfill these sensors (default: every sensor with a summary); windows written per sensor."""
    latest = store.latest_summaries()
    wanted = list(sensor_ids) or sorted(latest)
    unknown = [sensor_id for sensor_id in wanted if sensor_id not in latest]
    if unknown:
        raise ValueError(f"sensor: no summary yet for {', '.join(unknown)}")
    return {sensor_id: backfill_sensor(store, sensor_id, latest[sensor_id].timestamp) for sensor_id in wanted}


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: backfill the store the settings name; 2 for an unknown sensor."""
    parser = argparse.ArgumentParser(
        prog="python -m summariser.backfill", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "sensor_ids", nargs="*", metavar="SENSOR_ID", help="only these sensors (default: all)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    store = open_store(load_settings())
    try:
        store.ensure_ready()
        written = backfill(store, args.sensor_ids)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()
    for sensor_id, count in written.items():
        log.info("%s: %d windows", sensor_id, count)
    log.info("backfilled %d sensors, %d windows written or confirmed", len(written), sum(written.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
