"""Summariser throughput: ours against the original design as written, on the same store.

Both sides start from the same container: every sensor's last 10 readings (uuid ids), with
our summariser's state as a running instance would have left it (the original keeps
none). Then the same stream of new readings is delivered to each side in change-feed
batches of `BATCH` documents (the change feed processor's default page): each batch is
written to the store, then summarised by

- ours: `summariser.batch.summarise_batch`, as deployed;
- the original: `bench.original.summarise_batch`, one query and one insert per document,
  each insert committed on its own (as written);
- on SQLite also the original with one commit per batch (`BATCHED`), the baseline a
  sceptic would port, and the original with ours' concurrency (`CONCURRENT`).

The stream is cut into `REPEATS` parts; each part is one timed repeat of every side, and
the order of the sides rotates from repeat to repeat, so none always runs first on a
warmer (or busier) machine. Every figure is printed as min / median / max of the
repeats, and ratios are taken between medians.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import original
from pipeline.readings import format_timestamp
from pipeline.storage import Store
from pipeline.storage.sqlite_store import SqliteStore
from summariser.batch import MAX_PARALLEL_SENSORS, summarise_batch
from summariser.state_cache import SensorStateCache

START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = 10
HISTORY = 10
BATCH = 100
# The original with the concurrency ours uses, shown beside the original as written.
CONCURRENT = "original, 16 threads"
# The original with one commit per batch instead of one per summary (SQLite).
BATCHED = "original, one commit per batch"
REPEATS = 5


class StatementLog:
    """Every SQL statement a store's connections execute, appended (atomic, cheap) in order.

    Shaped like the store's own statement meter (`record`, `requests`, `total`), so the
    store can trace every connection it opens straight into it.
    """

    def __init__(self) -> None:
        self.executed: list[str] = []
        self.request_units = 0.0

    def record(self, statement: str) -> None:
        self.executed.append(statement)

    def since(self, mark: int) -> Counter[str]:
        """Statements executed after position `mark`, by verb (PRAGMA aside)."""
        verbs = (s.split(None, 1)[0].upper() for s in self.executed[mark:] if s.strip())
        return Counter(verb for verb in verbs if verb != "PRAGMA")

    @property
    def requests(self) -> Counter[str]:
        return self.since(0)

    def total(self) -> int:
        return len(self.executed)


class CountedSqliteStore(SqliteStore):
    """The embedded store, counting the SQL statements of every connection it opens.

    SQLite connections are per thread, and the summariser works on a pool of threads:
    each new connection gets a trace callback into one `StatementLog`.
    """

    def __init__(self, path: Path | str) -> None:
        super().__init__(path)
        self.statements = StatementLog()
        if hasattr(self, "meter"):
            # The store traces every connection it opens into its meter: take its place.
            self.meter = self.statements

    def _trace(self, connection: sqlite3.Connection) -> sqlite3.Connection:
        if getattr(self._local, "traced", None) is not connection:
            connection.set_trace_callback(self.statements.record)
            self._local.traced = connection
        return connection

    def _connection(self) -> sqlite3.Connection:
        return self._trace(super()._connection())

    if hasattr(SqliteStore, "_opened"):  # transactions take the connection from here

        def _opened(self):  # type: ignore[no-untyped-def]
            opened = super()._opened()
            self._trace(opened.connection)
            return opened

    def mark(self) -> int:
        """A position in the statement log, for `since`."""
        return self.statements.total()

    def since(self, mark: int) -> Counter[str]:
        return self.statements.since(mark)


@dataclass
class Run:
    """What one side did: readings summarised, seconds spent, store operations by kind."""

    readings: int = 0
    seconds: float = 0.0
    # CPU seconds of this process (every thread): not inflated by other processes' load on
    # a shared machine, but blind to waiting for the disk. Meaningful where the store runs
    # in this process (SQLite), not where it is a server.
    cpu_seconds: float = 0.0
    operations: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.readings / self.seconds if self.seconds else 0.0

    @property
    def cpu_rate(self) -> float:
        return self.readings / self.cpu_seconds if self.cpu_seconds else 0.0

    @property
    def operations_per_reading(self) -> float:
        return sum(self.operations.values()) / self.readings if self.readings else 0.0


@dataclass
class Series:
    """The repeats of one side: each a `Run` over its own part of the stream."""

    runs: list[Run] = field(default_factory=list)

    @property
    def rates(self) -> list[float]:
        return [run.rate for run in self.runs]

    @property
    def rate(self) -> float:
        """The median of the repeats' readings per second."""
        return statistics.median(self.rates) if self.runs else 0.0

    @property
    def cpu_rate(self) -> float:
        return statistics.median(run.cpu_rate for run in self.runs) if self.runs else 0.0

    @property
    def readings(self) -> int:
        return sum(run.readings for run in self.runs)

    @property
    def operations(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for run in self.runs:
            total.update(run.operations)
        return total

    @property
    def operations_per_reading(self) -> float:
        return sum(self.operations.values()) / self.readings if self.readings else 0.0

    def spread(self) -> str:
        """min / median / max readings per second."""
        rates = self.rates
        return f"{min(rates):,.0f} / {self.rate:,.0f} / {max(rates):,.0f}"


@contextmanager
def counting(store: Store) -> Iterator[Counter[str]]:
    """What the store executes inside the block, on every thread: requests or SQL statements."""
    counted: Counter[str] = Counter()
    if isinstance(store, CountedSqliteStore):
        mark = store.mark()
        try:
            yield counted
        finally:
            counted.update(store.since(mark))
        return
    meter = getattr(store, "meter", None)
    if meter is None:
        raise TypeError(f"{type(store).__name__} counts nothing: use CountedSqliteStore or CosmosStore")
    before = Counter(meter.requests)
    try:
        yield counted
    finally:
        counted.update(Counter(meter.requests) - before)


def readings(sensor_ids: list[str], first_second: int, per_sensor: int, seed: int) -> list[dict[str, Any]]:
    """`per_sensor` readings of every sensor, one second apart, in arrival order; uuid ids."""
    rng = random.Random(seed)
    documents = []
    for n in range(per_sensor):
        moment = START + timedelta(seconds=first_second + n)
        for index, sensor_id in enumerate(sensor_ids):
            documents.append(
                {
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "sensor_id": sensor_id,
                    "temperature": round(rng.uniform(15, 40), 2),
                    "timestamp": format_timestamp(moment + timedelta(microseconds=index % 1000 * 1000)),
                }
            )
    return documents


def batches(documents: list[dict[str, Any]], size: int = BATCH) -> list[list[dict[str, Any]]]:
    return [documents[start : start + size] for start in range(0, len(documents), size)]


def sensor_ids(count: int) -> list[str]:
    return [f"sensor-{n:05d}" for n in range(1, count + 1)]


def prepare(store: Store, sensors: list[str], warm: bool = True) -> SensorStateCache:
    """Each sensor's last 10 readings and, if `warm`, our summariser's state after the newest."""
    history = readings(sensors, 0, HISTORY, seed=1)
    for batch in batches(history, 1000):
        store.put_readings(batch)
    cache = SensorStateCache()
    if not warm:
        return cache
    newest = history[-len(sensors) :]
    for batch in batches(newest):
        summarise_batch(batch, store, WINDOW, datetime.now(UTC), cache)
    return cache


def copy_sqlite(source: SqliteStore, path: Path) -> CountedSqliteStore:
    """A second store holding exactly what `source` holds (SQLite's online backup)."""
    with sqlite3.connect(path) as target:
        source._connection().backup(target)
    return CountedSqliteStore(path)


Side = Callable[[list[dict[str, Any]]], None]


def measure(
    sides: dict[str, tuple[Store, Side]], stream: list[dict[str, Any]], repeats: int = REPEATS
) -> dict[str, Series]:
    """Every side over the same stream, batch by batch, in `repeats` parts, order rotating."""
    series = {name: Series() for name in sides}
    parts = batches(stream)
    size = max(1, len(parts) // repeats)
    names = list(sides)
    for repeat in range(repeats):
        part = parts[repeat * size : (repeat + 1) * size if repeat < repeats - 1 else len(parts)]
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            store, summarise = sides[name]
            run = Run()
            for batch in part:
                store.put_readings(batch)  # the feed delivers what was written: not timed
                with counting(store) as operations:
                    started, cpu_started = time.perf_counter(), time.process_time()
                    summarise(batch)
                    run.seconds += time.perf_counter() - started
                    run.cpu_seconds += time.process_time() - cpu_started
                run.operations.update(operations)
                run.readings += len(batch)
            series[name].runs.append(run)
    return series


def ours_side(store: Store, cache: SensorStateCache) -> Side:
    return lambda batch: summarise_batch(batch, store, WINDOW, datetime.now(UTC), cache)


def original_side(store: Store, workers: int = 1, one_commit: bool = False) -> Side:
    """The original's trigger body; with `workers` > 1, its documents side by side.

    With `one_commit`, the batch's inserts are committed once (SQLite).
    """
    target = original.OriginalStore(store)
    if one_commit:
        return lambda batch: original.summarise_batch_one_commit(batch, target)
    if workers == 1:
        return lambda batch: original.summarise_batch(batch, target)

    def concurrently(batch: list[dict[str, Any]]) -> None:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda document: original.summarise_batch([document], target), batch))

    return concurrently


def measure_sides(
    ours_store: Store,
    cache: SensorStateCache,
    baselines: dict[str, tuple[Store, Side]],
    stream: list[dict[str, Any]],
    repeats: int = REPEATS,
) -> dict[str, Series]:
    """Ours and every baseline on one stream; the stores are closed afterwards, whatever happens."""
    try:
        return measure({"ours": (ours_store, ours_side(ours_store, cache)), **baselines}, stream, repeats)
    finally:
        for store in (ours_store, *(store for store, _ in baselines.values())):
            store.close()


def sqlite_pair(folder: Path, sensors: int, per_sensor: int, repeats: int = REPEATS) -> dict[str, Series]:
    """Ours and the original (as written, one commit per batch, ours' concurrency) on SQLite.

    Every side starts from a copy of the same file.
    """
    ids = sensor_ids(sensors)
    ours_store = CountedSqliteStore(folder / f"ours-{sensors}.db")
    cache = prepare(ours_store, ids)
    copies = {
        name: copy_sqlite(ours_store, folder / f"{tag}-{sensors}.db")
        for name, tag in (("original", "original"), (BATCHED, "batched"), (CONCURRENT, "concurrent"))
    }
    baselines: dict[str, tuple[Store, Side]] = {
        "original": (copies["original"], original_side(copies["original"])),
        BATCHED: (copies[BATCHED], original_side(copies[BATCHED], one_commit=True)),
        CONCURRENT: (copies[CONCURRENT], original_side(copies[CONCURRENT], MAX_PARALLEL_SENSORS)),
    }
    stream = readings(ids, HISTORY, per_sensor, seed=2)
    try:
        return measure_sides(ours_store, cache, baselines, stream, repeats)
    finally:
        for path in folder.glob(f"*-{sensors}.db*"):
            path.unlink(missing_ok=True)


def cosmos_pair(
    make_store: Callable[[], Store], sensors: int, per_sensor: int, repeats: int = REPEATS
) -> dict[str, Series]:
    """Ours and the original (as written, and with ours' concurrency) on the Cosmos-compatible
    server, fresh databases. (One commit per batch is the original's requests on Cosmos DB.)
    """
    ids = sensor_ids(sensors)
    ours_store, original_store, concurrent_store = make_store(), make_store(), make_store()
    cache = prepare(ours_store, ids)
    for store in (original_store, concurrent_store):
        prepare(store, ids, warm=False)  # the same readings; the original keeps no state
    stream = readings(ids, HISTORY, per_sensor, seed=2)
    baselines: dict[str, tuple[Store, Side]] = {
        "original": (original_store, original_side(original_store)),
        CONCURRENT: (concurrent_store, original_side(concurrent_store, MAX_PARALLEL_SENSORS)),
    }
    return measure_sides(ours_store, cache, baselines, stream, repeats)
