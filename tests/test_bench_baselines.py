"""The bench's baselines, repeats and fleet pricing: counting and arithmetic, never timings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench import cost_model, fleet, original, scenarios, sensitivity, throughput
from bench.cost_model import Operation
from bench.scenarios import Load


def _store_with_history(tmp_path: Path, name: str) -> tuple[throughput.CountedSqliteStore, list[str]]:
    store = throughput.CountedSqliteStore(tmp_path / f"{name}.db")
    sensors = throughput.sensor_ids(2)
    store.put_readings(throughput.readings(sensors, 0, 12, seed=1))
    return store, sensors


def test_the_original_reads_only_timestamp_and_temperature(tmp_path: Path) -> None:
    store, sensors = _store_with_history(tmp_path, "projection")
    newest = original.OriginalStore(store).newest_readings(sensors[0], 10)
    store.close()
    assert len(newest) == 10
    assert all(set(document) == {"timestamp", "temperature"} for document in newest)
    assert "c.timestamp, c.temperature FROM c" in original.READINGS_QUERY


def test_the_original_on_cosmos_gets_its_projection_back(cosmos) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_cosmos_store

    store = make_cosmos_store(cosmos)
    try:
        sensors = throughput.sensor_ids(1)
        store.put_readings(throughput.readings(sensors, 0, 12, seed=1))
        newest = original.OriginalStore(store).newest_readings(sensors[0], 10)
    finally:
        store.close()
    assert len(newest) == 10
    assert all(set(document) == {"timestamp", "temperature"} for document in newest)


def test_one_commit_per_batch_writes_the_same_summaries_in_one_commit(tmp_path: Path) -> None:
    results = {}
    for name, summarise in (
        ("as-written", original.summarise_batch),
        ("batched", original.summarise_batch_one_commit),
    ):
        store, sensors = _store_with_history(tmp_path, name)
        batch = throughput.readings(sensors, 12, 3, seed=2)
        store.put_readings(batch)
        with throughput.counting(store) as counted:
            written = summarise(batch, original.OriginalStore(store))
        summaries = original.OriginalStore(store).newest_summaries(sensors[0], 10)
        store.close()
        stats = sorted((s["timestamp"], s["max_temp"], s["min_temp"], s["avg_temp"]) for s in summaries)
        results[name] = (written, Counter(counted), stats)
    (written, as_written, stats), (batched_written, batched, batched_stats) = results.values()
    assert written == batched_written == 6
    assert stats == batched_stats
    assert as_written["COMMIT"] == 6 and batched["COMMIT"] == 1
    assert as_written["INSERT"] == batched["INSERT"] == 6
    assert as_written["SELECT"] == batched["SELECT"] == 6


def test_every_side_is_measured_in_five_repeats_in_rotating_order(tmp_path: Path) -> None:
    order: list[str] = []

    def side(name: str):  # type: ignore[no-untyped-def]
        return lambda batch: order.append(name)

    store = throughput.CountedSqliteStore(tmp_path / "repeats.db")
    stream = throughput.readings(throughput.sensor_ids(100), 0, 5, seed=3)  # 5 batches of 100
    sides = {name: (store, side(name)) for name in ("a", "b", "c")}
    series = throughput.measure(sides, stream, repeats=5)
    store.close()
    assert [len(s.runs) for s in series.values()] == [5, 5, 5]
    assert all(s.readings == 500 for s in series.values())
    firsts = [order[3 * n] for n in range(5)]
    assert firsts == ["a", "b", "c", "a", "b"]  # no side always runs first


def test_a_series_reports_the_median_and_its_spread() -> None:
    runs = [throughput.Run(readings=100, seconds=s) for s in (1.0, 0.5, 0.25, 2.0, 1.0)]
    series = throughput.Series(runs)
    assert series.rate == pytest.approx(100.0)
    assert series.spread() == "50 / 100 / 400"


def test_ours_polls_the_feed_at_its_delay_and_the_original_at_the_host_default() -> None:
    assert scenarios.feed_poll_seconds("original") == 5.0
    assert scenarios.feed_poll_seconds("ours") == scenarios.OURS_FEED_POLL_SECONDS
    idle_original = scenarios.trigger_upkeep(0, 300, 0, 5.0)
    idle_ours = scenarios.trigger_upkeep(0, 300, 0, 1.0)
    assert idle_ours - idle_original == pytest.approx((3600 - 720) * cost_model.change_feed_poll_ru())
    # A busy feed is read batch after batch: no poll waits, whatever the delay.
    assert scenarios.trigger_upkeep(1e6, 300, 10_000, 1.0) == scenarios.trigger_upkeep(1e6, 300, 10_000, 5.0)


def _load(ru_per_hour: float, gb_seconds: float = 0.0) -> Load:
    return Load("c", "ours", {"summariser": ru_per_hour}, executions=0, gb_seconds=gb_seconds)


def test_fleet_prices_a_million_readings_in_each_capacity_mode() -> None:
    sensors = 5_500  # 3.6 million readings an hour
    retention = fleet.Retention(reading_bytes=0, summary_bytes=0, summaries_per_reading=1)
    cost = fleet.price(_load(36_000_000), sensors, retention, busiest_part_share=1.0)
    assert cost.readings_per_hour == pytest.approx(3_600_000)
    assert cost.ru_per_reading == pytest.approx(10.0)
    assert cost.serverless == pytest.approx(10.0 * 0.25)  # 10 RU a reading at $0.25 per million RU
    # 10,000 RU/s average, 20,000 at the busiest second, + 20% headroom: 24,000 RU/s.
    assert cost.standard == pytest.approx(240 * 0.008 / 3.6)
    assert cost.autoscale == pytest.approx(200 * 1.5 * 0.008 / 3.6)
    assert not cost.serverless_fits  # 20,000 RU/s on one container: past serverless' 5,000
    assert cost.cheapest_mode == "standard"
    assert fleet.serverless_limit_sensors(cost) == 5_500 * 5_000 // 20_000


def test_a_small_fleet_is_cheaper_serverless_and_the_switch_is_where_standard_wins() -> None:
    retention = fleet.Retention(reading_bytes=0, summary_bytes=0, summaries_per_reading=1)
    cost = fleet.price(_load(10 * 3600 / 5.5), 1, retention, busiest_part_share=1.0)
    assert cost.cheapest_mode == "serverless"  # the 400 RU/s floor costs more than one sensor's RU
    switch = fleet.switch_sensors(cost)
    assert switch > 1
    per_sensor = cost.ru_per_reading * cost.readings_per_hour
    assert fleet.standard_usd_per_hour(cost.peak_ru_per_second * switch) < cost_model.serverless_usd(
        per_sensor * switch
    )
    assert fleet.standard_usd_per_hour(cost.peak_ru_per_second * (switch - 10)) >= cost_model.serverless_usd(
        per_sensor * (switch - 10)
    )


def test_storage_keeps_each_container_for_its_ttl() -> None:
    month = fleet.MONTH_SECONDS
    one_month = fleet.Retention(
        reading_bytes=1000, summary_bytes=0, summaries_per_reading=0, readings_ttl_seconds=month
    )
    # A million 1,000-byte readings kept a month: 1 GB-month at $0.25.
    assert fleet.storage_usd_per_million(one_month) == pytest.approx(0.25)
    summaries = fleet.Retention(
        reading_bytes=0, summary_bytes=500, summaries_per_reading=2, summaries_ttl_seconds=month
    )
    assert fleet.storage_usd_per_million(summaries) == pytest.approx(0.25)
    # Windows: one per ten readings, 1,000 bytes, kept three months: 0.3 GB-months.
    windows = fleet.Retention(
        reading_bytes=0,
        summary_bytes=0,
        summaries_per_reading=0,
        window_bytes=1000,
        windows_per_reading=0.1,
        windows_ttl_seconds=3 * month,
    )
    assert fleet.storage_usd_per_million(windows) == pytest.approx(0.075)


def test_a_projected_query_costs_more_when_priced_by_what_it_loads() -> None:
    projected = Operation("query", 600, 0, items=10)
    assert projected.request_units == pytest.approx(2.5 + 600 / 1024)
    assert sensitivity.query_ru_if_loaded(projected, 300) == pytest.approx(2.5 + 3000 / 1024)
    whole = Operation("query", 3000, 0, items=10)
    assert sensitivity.query_ru_if_loaded(whole, 100) == pytest.approx(whole.request_units)


def test_the_last_line_names_every_key_and_says_n_a_for_a_missing_figure() -> None:
    from bench.report import FINAL_KEYS, final_line

    line = final_line({key: 1.0 for key, _ in FINAL_KEYS} | {"window_ru_ratio_10k": None})
    assert line.startswith("bench: ")
    pairs = dict(part.split("=") for part in line.removeprefix("bench: ").split())
    assert set(pairs) == {key for key, _ in FINAL_KEYS}
    assert pairs["window_ru_ratio_10k"] == "n/a"
    assert "speedup" not in pairs and pairs["test_server_speedup"] == "1.00"
