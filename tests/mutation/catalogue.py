"""The curated mutations: each breaks one promise of the README in the smallest way.

Each names its file, the exact original snippet (found exactly once, or the run fails as
stale), the replacement, the tests expected to catch it (pytest node ids, run with -x) and
the promise it breaks. When code moves on, update the snippet here; when a mutation
survives, a test is missing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    promise: str

    def apply(self, source: str) -> str:
        return source.replace(self.original, self.replacement, 1)


def tests(module: str, *names: str) -> tuple[str, ...]:
    """Node ids of tests in tests/<module>.py (each runs on both stores where it is parametrised)."""
    return tuple(f"tests/{module}.py::{name}" for name in names) or (f"tests/{module}.py",)


STATISTICS = tests("test_summariser", "test_window_statistics_match_an_exact_recomputation") + tests(
    "test_statistics", "test_the_mean_is_the_decimal_mean_to_the_bit"
)
SPLITS = tests(
    "test_summariser",
    "test_any_batch_split_gives_exact_summaries",
    "test_steady_state_needs_no_window_query_and_stays_exact",
)
LATE = tests(
    "test_summariser",
    "test_late_reading_and_a_second_instance_invalidate_cached_windows",
    "test_out_of_order_reading_lands_in_its_place_in_the_window",
    "test_a_late_reading_repairs_the_summaries_it_enters_at_a_bounded_cost",
    "test_late_duplicate_redelivered_and_out_of_order_across_two_instances_are_exact",
    "test_a_late_reading_that_leaves_the_newest_values_unchanged_still_enters_its_window",
    "test_late_readings_one_per_batch_among_two_temperatures_are_exact",
)
STEADY_STATE = tests(
    "test_summariser",
    "test_the_batch_after_a_cold_one_already_costs_the_steady_state",
    "test_steady_state_costs_one_write_of_two_operations_per_sensor_per_batch",
)
CAS = tests("test_store_contract", "test_publish_is_a_compare_and_swap_between_two_instances")
POISON = tests("test_summariser", "test_poison_documents_are_dead_lettered_and_never_stop_the_batch")
CHART = tests("test_web_api", "test_chart_png_etag_304_and_404")
CHART_HISTORY = tests("test_chart_history")
DASHBOARD_FRESHNESS = tests(
    "test_dashboard_api", "test_a_late_reading_moves_the_version_the_etag_and_the_pixels"
)
BREAKER = tests("test_circuit") + tests(
    "test_web_api", "test_circuit_opens_after_repeated_store_failures_then_half_opens"
)
SUBMISSION = tests(
    "test_generator",
    "test_submission_errors_name_the_field",
    "test_temperature_range_and_clock_skew_limits_are_exact",
    "test_size_limits",
)
TIMESTAMPS = tests("test_timestamps")
CHECKPOINT = (
    tests("test_checkpoint")
    + tests(
        "test_local_host",
        "test_serves_summarises_exactly_and_survives_sigkill",
        "test_ctrl_c_exits_cleanly_with_the_checkpoint_saved",
    )
    + tests("test_local_host_safety", "test_a_batch_in_flight_when_the_host_is_killed_is_delivered_again")
)

MUTATIONS: tuple[Mutation, ...] = (
    # --- summariser: the statistics -------------------------------------------------------
    Mutation(
        "mean-rounds-half-even",
        "pipeline/statistics.py",
        "rounding=ROUND_HALF_UP",
        "rounding=ROUND_HALF_EVEN",
        STATISTICS,
        "the mean rounds halves away from zero (0.625 -> 0.63)",
    ),
    Mutation(
        "mean-in-float-arithmetic",
        "pipeline/statistics.py",
        "return float((total / len(values)).quantize(CENT, rounding=ROUND_HALF_UP))",
        "return round(sum(values) / len(values), 2)",
        STATISTICS,
        "the mean is exact: the order of readings never changes a cent",
    ),
    Mutation(
        "mean-divides-by-window-size",
        "pipeline/statistics.py",
        "(total / len(values))",
        "(total / 10)",
        STATISTICS,
        "the mean is over the readings in the window, even before it is full",
    ),
    Mutation(
        "mean-of-cents-rounds-half-even",
        "pipeline/statistics.py",
        "rounded = (2 * abs(total) + count) // (2 * count)",
        "rounded = round(abs(total) / count)",
        STATISTICS,
        "the mean of temperatures of at most 2 decimals rounds halves away from zero too",
    ),
    Mutation(
        "mean-of-cents-shows-negative-zero",
        "pipeline/statistics.py",
        "return rounded / 100 if total >= 0 else -(rounded / 100) + 0.0",
        "return rounded / 100 if total >= 0 else -(rounded / 100)",
        STATISTICS,
        "the integer mean is the decimal mean's float to the bit, and a mean rounding to zero is 0.0",
    ),
    Mutation(
        "max-is-min",
        "summariser/window.py",
        "max_temp=max(temperatures)",
        "max_temp=min(temperatures)",
        STATISTICS,
        "the summary's max is the window's largest temperature",
    ),
    # --- summariser: which readings form the window ---------------------------------------
    Mutation(
        "window-keeps-oldest",
        "summariser/state_cache.py",
        "key=_BY_TIME, reverse=True)[:size]",
        "key=_BY_TIME)[:size]",
        SPLITS,
        "the window is the latest readings, not the first ones",
    ),
    Mutation(
        "window-ties-not-by-id",
        "summariser/state_cache.py",
        '_BY_TIME = attrgetter("timestamp", "id")',
        '_BY_TIME = attrgetter("timestamp")',
        tests("test_summariser", "test_timestamp_ties_are_broken_by_id_whatever_the_delivery_order"),
        "readings with the same timestamp are ordered by id, so the window is deterministic",
    ),
    Mutation(
        "as-of-is-oldest-in-batch",
        "summariser/repair.py",
        "    as_of = max(reading.timestamp for reading in batch)\n",
        "    as_of = min(reading.timestamp for reading in batch)\n",
        SPLITS,
        "a summary is as of the sensor's newest reading in the batch",
    ),
    # --- time windows (docs/rollups.md) -------------------------------------------------------
    Mutation(
        "window-closing-forgotten",
        "summariser/rollups.py",
        "            starts.add(bucket_start(previous, bucket))\n",
        "            pass\n",
        tests("test_rollups", "test_posted_late_and_duplicated_readings_give_exact_windows[sqlite]"),
        "a publication that moves the pointer past a bucket writes that bucket's window",
    ),
    Mutation(
        "window-duplicate-counted-twice",
        "pipeline/rollups.py",
        "inside = {r.id: r for r in readings if",
        "inside = {(r.id, n): r for n, r in enumerate(readings) if",
        tests("test_rollups", "test_the_mean_rounds_halves_away_from_zero_and_a_duplicate_counts_once"),
        "a reading stored or delivered twice counts once in its window",
    ),
    Mutation(
        "sqlite-window-excludes-as-of",
        "pipeline/storage/sqlite_readings.py",
        "WHERE sensor_id = ? AND timestamp <= ? ",
        "WHERE sensor_id = ? AND timestamp < ? ",
        tests("test_store_contract", "test_window_is_the_latest_readings_up_to_as_of_newest_first"),
        "the window includes the as-of reading itself (timestamp <= as_of)",
    ),
    Mutation(
        "sqlite-window-ties-ascending",
        "pipeline/storage/sqlite_readings.py",
        "ORDER BY timestamp DESC, id DESC LIMIT ?",
        "ORDER BY timestamp DESC, id ASC LIMIT ?",
        tests("test_store_contract", "test_window_breaks_timestamp_ties_by_id"),
        "the store breaks timestamp ties by id, descending",
    ),
    Mutation(
        "cosmos-window-ignores-ties-at-boundary",
        "pipeline/storage/cosmos_store.py",
        "reverse=newest_first)\n            complete = len(documents) < fetch\n"
        "            if complete or len(valid) > size and valid[size - 1].timestamp"
        " != valid[size].timestamp:",
        "reverse=newest_first)\n            complete = len(documents) < fetch\n"
        "            if complete or len(valid) >= size:",
        tests("test_store_contract", "test_window_breaks_timestamp_ties_by_id"),
        "on Cosmos DB ties at the window's edge are broken by id over all tied readings",
    ),
    # --- summariser: compare-and-swap, late repair, dead letters, ids ---------------------
    Mutation(
        "fast-path-without-compare-and-swap",
        "summariser/batch.py",
        "return Publication(summary, tuple(window), state.marker)",
        "return Publication(summary, tuple(window), None)",
        LATE + SPLITS,
        "a cached window is trusted only through a compare-and-swap on the pointer",
    ),
    Mutation(
        "sqlite-compare-and-swap-ignores-version",
        "pipeline/storage/sqlite_summaries.py",
        "window = ? WHERE sensor_id = ? AND version = ?",
        "window = ? WHERE sensor_id = ? AND version >= ?",
        CAS,
        "publishing against a stale pointer version writes nothing (SQLite)",
    ),
    Mutation(
        "cosmos-replace-unconditional",
        "pipeline/storage/cosmos_store.py",
        '(LATEST_POINTER_ID, pointer), {"if_match_etag": expected.version}))',
        "(LATEST_POINTER_ID, pointer)))",
        CAS,
        "publishing against a stale pointer etag writes nothing (Cosmos DB)",
    ),
    Mutation(
        "every-publication-an-append",
        "pipeline/storage/base.py",
        "return expected != NO_POINTER and not repairs and summary.timestamp > expected.timestamp",
        "return expected != NO_POINTER",
        CHART_HISTORY,
        "a chart draws exactly the store's history: extended only after a pure append",
    ),
    Mutation(
        "repairs-in-several-batches-without-pointer-moves",
        "pipeline/storage/cosmos_store.py",
        "        if head and expected != NO_POINTER:",
        "        if False:",
        CHART_HISTORY,
        "a chart draws exactly the store's history, even when repairs take several batches",
    ),
    Mutation(
        "late-batch-not-repaired",
        "summariser/repair.py",
        "    repairs = repair_late(store, sensor_id, late, windows, size)",
        "    repairs = repair_late(store, sensor_id, [], windows, size)",
        LATE,
        "a late reading is folded into every summary whose window it enters",
    ),
    Mutation(
        "late-reading-left-out-of-the-newest-window",
        "summariser/repair.py",
        "            if _enters(late, state.window, size):",
        "            if False:",
        LATE,
        "a late reading enters the newest window even when the newest summary's values stay",
    ),
    Mutation(
        "redelivery-moves-last-heard-on",
        "summariser/repair.py",
        "    if latest.last_heard is not None or news:",
        "    if True:",
        tests("test_stale_by_arrival", "test_a_late_reading_or_a_redelivery_does_not_move_last_heard_on"),
        "a late or redelivered reading does not make a dead sensor with a fast clock look heard",
    ),
    # Not listed: `rewrite |= plan.written` in summariser/repair.py (a lost swap's summaries
    # written again). SQLite and Cosmos DB write nothing of a publication whose swap fails,
    # except Cosmos DB plans of 100 or more summaries (written in batches before the swap),
    # so no test can tell the mutant apart without forcing that case: a known gap.
    Mutation(
        "late-batch-extends-the-state",
        "summariser/batch.py",
        "return state is not None and min(r.timestamp for r in batch_readings) > state.summary.timestamp",
        "return state is not None",
        LATE + SPLITS,
        "a batch older than the sensor's latest summary reads its window from the store",
    ),
    Mutation(
        "dead-letters-not-written",
        "summariser/batch.py",
        "        store.add_dead_letters(dead_letters)\n",
        "",
        POISON,
        "an invalid document is kept in the dead-letter container with its reason",
    ),
    Mutation(
        "dead-letter-id-random",
        "summariser/batch.py",
        "id=hashlib.sha256(payload.encode()).hexdigest()[:32],",
        "id=__import__('uuid').uuid4().hex,",
        POISON,
        "a redelivered poison document is dead-lettered once (deterministic id)",
    ),
    Mutation(
        "summary-id-not-deterministic",
        "pipeline/readings.py",
        'return f"{sensor_id}-{as_of_timestamp}"',
        "return f\"{sensor_id}-{as_of_timestamp}-{__import__('uuid').uuid4().hex[:6]}\"",
        tests("test_summariser", "test_redelivered_batch_changes_nothing"),
        "a redelivered batch writes the same summary ids: nothing is duplicated",
    ),
    # --- summariser: the in-memory state (steady-state cost) ------------------------------
    Mutation(
        "state-cache-not-filled-after-a-query",
        "summariser/batch.py",
        "        cache.put(plan.sensor_id, SensorState(plan.latest, plan.latest_window, marker))",
        "        pass",
        STEADY_STATE,
        "in the steady state a batch costs two operations per sensor: the state is kept in memory",
    ),
    Mutation(
        "state-cache-not-moved-on-the-fast-path",
        "summariser/batch.py",
        "            cache.put(sensor_id, state, minute)",
        "            pass",
        STEADY_STATE,
        "the in-memory state follows every batch, so the next one needs no state read either",
    ),
    # --- read model and charts -------------------------------------------------------------
    Mutation(
        "chart-etag-ignores-newest-summary",
        "visualiser/read_model.py",
        "                version,\n",
        '                version.split("~")[0],\n',
        DASHBOARD_FRESHNESS,
        "a summary with new values gives the chart a new ETag (no stale 304)",
    ),
    Mutation(
        "chart-cache-key-ignores-newest-summary",
        "visualiser/read_model.py",
        "        key = self._chart_key(sensor_id, versions[sensor_id], options, y_range)\n"
        "        with self._charts_lock:",
        "        key = sensor_id\n        with self._charts_lock:",
        DASHBOARD_FRESHNESS,
        "a newer summary gives new PNG bytes (the cached chart is not served forever)",
    ),
    Mutation(
        "version-ignores-values",
        "visualiser/read_model.py",
        'return f"{summary.timestamp}~{hashlib.sha256(content).hexdigest()[:10]}"',
        'return f"{summary.timestamp}~0"',
        DASHBOARD_FRESHNESS,
        "/api/summary-timestamps moves when a latest summary's values change, not only its timestamp",
    ),
    Mutation(
        "delta-sends-everything",
        "visualiser/read_model.py",
        "changed = {sensor: versions[sensor] for sensor, at in changed_at.items() if at > seen}",
        "changed = versions",
        tests("test_dashboard_api", "test_idle_polls_are_304_and_deltas_carry_only_what_changed"),
        "a delta poll carries only what changed since its cursor",
    ),
    Mutation(
        "read-model-not-shared",
        "visualiser/read_model.py",
        "self._max_age = ttl_seconds if max_age_seconds is None else max(max_age_seconds, ttl_seconds)",
        "self._max_age = 0.0",
        tests("test_dashboard_api", "test_read_cost_does_not_grow_with_viewers"),
        "the store cost of the dashboard does not grow with its viewers",
    ),
    Mutation(
        "stale-copy-served-past-its-max-age",
        "visualiser/read_model.py",
        "        if age >= self._max_age:\n",
        "        if age >= self._max_age and not self._refreshed_once:\n",
        tests("test_read_freshness", "test_a_route_read_once_after_a_quiet_while_shows_the_change"),
        "no read is older than READ_MAX_AGE_SECONDS: a route read rarely shows the change",
    ),
    Mutation(
        "gzip-copy-keyed-by-etag",
        "visualiser/compression.py",
        "digest = hashlib.blake2b(body, digest_size=16).digest() if key is not None else None",
        "digest = key.encode() if key is not None else None",
        tests(
            "test_read_negotiation",
            "test_every_route_answers_one_document_with_and_without_gzip_whichever_comes_first",
        ),
        "every read route answers the same document with and without gzip",
    ),
    Mutation(
        "accept-encoding-matched-as-substring",
        "visualiser/compression.py",
        'coding = choose_coding(request.headers.get("accept-encoding"))',
        'coding = "gzip" if "gzip" in request.headers.get("accept-encoding", "") else "identity"',
        tests("test_read_negotiation", "test_accept_encoding_is_parsed_not_matched"),
        "gzip;q=0 is a refusal: it gets an identity answer",
    ),
    Mutation(
        "conditional-get-inverted",
        "visualiser/compression.py",
        'return etag.removeprefix("W/") in {',
        'return etag.removeprefix("W/") not in {',
        CHART,
        "If-None-Match with the current ETag is a 304, with another one a 200",
    ),
    # --- local host: checkpointing ---------------------------------------------------------
    Mutation(
        "checkpoint-before-success",
        "local_host/triggers.py",
        "        succeeded = _call_with_retries(\n",
        "        self._feed.commit_feed(self.consumer, batch.position)\n"
        "        succeeded = _call_with_retries(\n",
        CHECKPOINT,
        "the feed is checkpointed only after the function succeeded (at least once)",
    ),
    Mutation(
        "checkpoint-while-stopping",
        "local_host/triggers.py",
        "        if not succeeded and stopping.is_set():\n            return 0",
        "        if False:\n            return 0",
        CHECKPOINT,
        "a batch interrupted by shutdown is not checkpointed, so it is redelivered",
    ),
    Mutation(
        "checkpoint-runs-ahead",
        "local_host/triggers.py",
        "batch.position)\n        return len(batch.documents)",
        "batch.position + 5)\n        return len(batch.documents)",
        CHECKPOINT,
        "the checkpoint is the position of the last document processed, never beyond it",
    ),
    Mutation(
        "never-checkpointed",
        "local_host/triggers.py",
        "        self._feed.commit_feed(self.consumer, batch.position)\n        return len(batch.documents)",
        "        return len(batch.documents)",
        CHECKPOINT,
        "processed batches are checkpointed, so a restart does not start over",
    ),
    # --- circuit breaker -------------------------------------------------------------------
    Mutation(
        "breaker-counts-client-errors",
        "pipeline/circuit.py",
        "exclude=[lambda error: not isinstance(error, StoreError)],",
        "exclude=[],",
        BREAKER,
        "bad input from one client never opens the circuit for everyone",
    ),
    Mutation(
        "breaker-ignores-store-errors",
        "pipeline/circuit.py",
        "exclude=[lambda error: not isinstance(error, StoreError)],",
        "exclude=[lambda error: True],",
        BREAKER,
        "repeated store failures open the circuit",
    ),
    # --- ingest validation -----------------------------------------------------------------
    Mutation(
        "no-upper-temperature-bound",
        "pipeline/readings.py",
        "if not MIN_TEMPERATURE <= number <= MAX_TEMPERATURE:",
        "if not MIN_TEMPERATURE <= number:",
        SUBMISSION,
        "temperatures above 100 °C are refused",
    ),
    Mutation(
        "no-lower-temperature-bound",
        "pipeline/readings.py",
        "if not MIN_TEMPERATURE <= number <= MAX_TEMPERATURE:",
        "if not number <= MAX_TEMPERATURE:",
        SUBMISSION,
        "temperatures below -100 °C are refused",
    ),
    Mutation(
        "booleans-are-temperatures",
        "pipeline/readings.py",
        "if isinstance(value, bool) or not isinstance(value, int | float):",
        "if not isinstance(value, int | float):",
        SUBMISSION,
        "true/false is not a temperature",
    ),
    Mutation(
        "non-finite-temperatures-accepted",
        "pipeline/readings.py",
        "    if not math.isfinite(number):\n",
        "    if False:\n",
        POISON,
        "NaN and infinities are dead-lettered as not finite",
    ),
    Mutation(
        "sensor-id-prefix-match",
        "pipeline/readings.py",
        "elif not SENSOR_ID_PATTERN.fullmatch(value):",
        "elif not SENSOR_ID_PATTERN.match(value):",
        TIMESTAMPS,
        "a sensor id is validated whole: 'sensor-1\\n' is refused ($ alone matches before a newline)",
    ),
    Mutation(
        "reading-id-prefix-match",
        "pipeline/readings.py",
        "READING_ID_PATTERN.fullmatch(reading_id)",
        "READING_ID_PATTERN.match(reading_id)",
        TIMESTAMPS,
        "a reading id is validated whole: 'r1\\n' is refused",
    ),
    Mutation(
        "timestamp-prefix-match",
        "pipeline/readings.py",
        "match = _RFC3339.fullmatch(text) if isinstance(text, str) else None",
        "match = _RFC3339.match(text) if isinstance(text, str) else None",
        TIMESTAMPS,
        "a timestamp is validated whole: anything after the zone is refused",
    ),
    Mutation(
        "clock-skew-an-hour",
        "pipeline/readings.py",
        "MAX_CLOCK_SKEW = timedelta(minutes=5)",
        "MAX_CLOCK_SKEW = timedelta(hours=1)",
        SUBMISSION,
        "readings stamped more than 5 minutes ahead are refused",
    ),
    Mutation(
        "ancient-timestamps-accepted",
        "pipeline/readings.py",
        "elif moment.year < 2000:",
        "elif moment.year < 1900:",
        SUBMISSION,
        "readings stamped before 2000 are refused",
    ),
    Mutation(
        "stored-timestamp-not-normalised",
        "pipeline/readings.py",
        "            timestamp = normalise_timestamp(raw_time)\n",
        "            timestamp = raw_time\n",
        TIMESTAMPS,
        "change-feed timestamps re-serialised by the host (.12Z, Z) summarise like canonical ones",
    ),
    Mutation(
        "one-more-reading-per-request",
        "generator/ingest.py",
        "if len(items) > MAX_READINGS_PER_REQUEST:",
        "if len(items) > MAX_READINGS_PER_REQUEST + 1:",
        SUBMISSION,
        "at most 1,000 readings per request",
    ),
    Mutation(
        "conflicting-ids-accepted",
        "generator/ingest.py",
        "        if first != reading:",
        "        if first is None:",
        SUBMISSION,
        "one id naming two different readings is refused",
    ),
    Mutation(
        "valid-part-of-request-written",
        "generator/ingest.py",
        "    if errors:\n        raise RejectedSubmission(errors)",
        "    if errors and not unique:\n        raise RejectedSubmission(errors)",
        tests("test_web_api", "test_post_readings_all_or_nothing"),
        "a request with one invalid reading writes none of them",
    ),
)
