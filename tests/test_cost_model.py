"""The cost model's arithmetic against the examples in Microsoft's documentation."""

from __future__ import annotations

import pytest

from bench import cost_model
from bench.cost_model import Operation
from bench.metering import IndexPolicy, OperationLog, indexed_terms


def test_point_reads_cost_1_ru_per_kb_item_and_10_ru_per_100_kb_item() -> None:
    # "Optimize request cost": 1 KB -> 1 RU, 100 KB -> 10 RU.
    assert cost_model.point_read_ru(1024) == pytest.approx(1.0)
    assert cost_model.point_read_ru(100 * 1024) == pytest.approx(10.0)
    assert cost_model.point_read_ru(300) == pytest.approx(1.0)  # never less than 1 RU


def test_an_unindexed_1_kb_insert_is_5_5_ru_and_a_replace_twice_that() -> None:
    assert cost_model.insert_ru(1024) == pytest.approx(5.5)
    assert cost_model.replace_ru(1024) == pytest.approx(11.0)
    assert cost_model.replace_ru(2048, 7) == pytest.approx(2 * cost_model.insert_ru(2048, 7))


def test_bigger_and_more_indexed_documents_cost_more_to_write() -> None:
    # The documented write table: 2 KB costs 6.29 / 4.95 times a 1 KB write.
    assert cost_model.insert_ru(2048) == pytest.approx(5.5 * 6.29 / 4.95)
    assert cost_model.insert_ru(1024, 10) == pytest.approx(5.5 + 10 * cost_model.INDEXED_TERM_RU)


def test_serverless_is_25_cents_per_million_request_units() -> None:
    assert cost_model.serverless_usd(1_000_000) == pytest.approx(0.25)


def test_autoscale_bills_the_highest_throughput_of_the_hour_at_1_5_times_the_standard_rate() -> None:
    # Autoscale FAQ: scaled to 6,000 RU/s in an hour -> 60 x 1.5 = 90 units of 100 RU/s.
    assert cost_model.autoscale_usd_per_hour(6000, 6000) == pytest.approx(90 * 0.008)
    # An idle hour is billed at 10% of the maximum: 1,000 RU/s maximum -> 100 RU/s.
    assert cost_model.autoscale_usd_per_hour(0) == pytest.approx(1 * 1.5 * 0.008)
    assert cost_model.autoscale_usd_per_hour(2500) == pytest.approx(25 * 1.5 * 0.008)


def test_flex_consumption_examples_of_the_consumption_costs_page() -> None:
    # CPU-bound: 10 instances of 2 GB busy for an hour, 40 requests per second.
    executions = 40 * 3600
    assert cost_model.flex_usd(executions, 10 * 2 * 3600) == pytest.approx(1.9296)
    # IO-bound: the same requests on one instance.
    assert cost_model.flex_usd(executions, 2 * 3600) == pytest.approx(0.2448)


def test_flex_bills_at_least_one_second_then_tenths() -> None:
    assert cost_model.flex_billed_seconds(0.004) == pytest.approx(1.0)
    assert cost_model.flex_billed_seconds(1.0) == pytest.approx(1.0)
    assert cost_model.flex_billed_seconds(1.01) == pytest.approx(1.1)
    assert cost_model.flex_billed_seconds(2.3) == pytest.approx(2.3)


def test_the_free_grant_comes_off_the_month() -> None:
    # 100 GB-s an hour is 73,000 GB-s a month: inside the 100,000 GB-s grant.
    assert cost_model.flex_usd_month_after_grant(100, 100) == 0.0
    assert cost_model.flex_usd_month_after_grant(0, 1000) == pytest.approx(
        (730_000 - 100_000) * cost_model.FLEX_USD_PER_GB_SECOND
    )


def test_indexed_terms_follow_the_policy() -> None:
    document = {"id": "latest", "sensor_id": "s-1", "window": [["t", "r", 1.5], ["t", "r", 2.5]], "_ts": 1}
    everything = IndexPolicy(included=("/*",), excluded=('/"_etag"/?',))
    assert indexed_terms(document, everything) == 2 + 6  # system fields are not counted
    assert indexed_terms(document, IndexPolicy(("/*",), ("/window/*",))) == 2
    # Only sensor_id of the policy's paths is in the document; id is indexed whatever the policy.
    assert indexed_terms(document, IndexPolicy(("/sensor_id/?", "/timestamp/?"), ("/*",))) == 2


def test_an_upsert_of_an_existing_id_is_priced_as_a_replace() -> None:
    log = OperationLog(policies={"readings": IndexPolicy(("/*",), ())})
    document = {"id": "r-1", "sensor_id": "s-1", "temperature": 20.5, "timestamp": "t", "_self": "docs/a"}
    log.hook("upsert")({}, document)
    log.hook("upsert")({}, dict(document, temperature=21.0))
    kinds = [operation.kind for operation in log.operations]
    assert kinds == ["insert", "replace"]
    assert log.operations[1].request_units == pytest.approx(2 * log.operations[0].request_units)


def test_query_pages_are_priced_by_what_they_return() -> None:
    log = OperationLog(policies={})
    log.hook("query")({}, {"Documents": [{"id": "a" * 500}, {"id": "b" * 500}], "_count": 2})
    (operation,) = log.operations
    assert operation == Operation("query", operation.size_bytes, 0, 2)
    assert operation.size_bytes > 1000
    assert operation.request_units == pytest.approx(2.5 + operation.size_bytes / 1024)


def test_a_scenario_is_what_was_recorded_per_hour_plus_the_triggers_upkeep() -> None:
    from bench.scenarios import feed_poll_seconds, small, trigger_upkeep
    from bench.system import Recording

    reading = Operation("insert", 300, 4)
    recording = Recording("ours", sensors=5, viewers=1, seconds=60, readings=10, ticks=6, batches=6, polls=30)
    recording.operations = {"generator": [reading] * 10, "poll": [Operation("query", 1024, 0, 5)] * 30}
    load = small(recording, "a", with_viewers=True)

    assert load.ru_by_part["generator"] == pytest.approx(60 * 10 * reading.request_units)
    assert load.ru_by_part["page"] == pytest.approx(60 * 30 * (2.5 + 1.0))
    # Ours polls a drained feed at the delay our trigger sets, not the host's 5 s default.
    assert load.ru_by_part["trigger"] == pytest.approx(
        trigger_upkeep(600, 300, 360, feed_poll_seconds("ours"))
    )
    # A timer tick, a batch and a poll second are each billed 1 s of a 2 GB instance.
    assert load.gb_seconds == pytest.approx(2 * (360 + 360 + 1800))
    assert load.serverless_usd_hour == pytest.approx(load.ru_per_hour * 0.25 / 1e6)


def test_batch_results_are_priced_by_what_each_operation_did() -> None:
    log = OperationLog(policies={})
    summary = {"id": "s-1-t", "sensor_id": "s-1", "avg_temp": 20.0}
    pointer = {"id": "latest", "sensor_id": "s-1", "avg_temp": 20.0, "window": []}
    results = [{"statusCode": 201, "resourceBody": summary}, {"statusCode": 200, "resourceBody": pointer}]
    log.hook("batch")({}, results)
    log.hook("read_items")({}, [summary, pointer])
    assert [operation.kind for operation in log.operations] == ["insert", "replace", "query"]
    assert log.operations[2].items == 2


def test_at_10000_sensors_the_original_page_pays_per_sensor_per_viewer_and_ours_per_instance() -> None:
    from bench.scenarios import large
    from bench.system import Recording

    def recording(side: str, poll: Operation) -> Recording:
        recorded = Recording(
            side, sensors=5, viewers=1, seconds=60, readings=10, ticks=6, batches=6, polls=30
        )
        recorded.operations = {
            "generator": [Operation("insert", 300, 4)] * 10,
            "poll": [poll] * 30,
            "chart": [Operation("query", 17 * 1024, 0, 50)] * 5,
        }
        return recorded

    ours = large(recording("ours", Operation("query", 5 * 200, 0, 5)), 20.0, 10_000, 100, 24)
    original = large(recording("original", Operation("query", 340, 0, 1)), 12.0, 10_000, 100, 24)

    # Ours: one refresh a second of 10,000 items (100 pages of 100), whatever the viewers.
    assert ours.ru_by_part["page"] == pytest.approx(3600 * (100 * 2.5 + 10_000 * 200 / 1024))
    # The original: a TOP 1 query per sensor, per viewer, every 2 s.
    top1 = Operation("query", 340, 0, 1).request_units
    assert original.ru_by_part["page"] == pytest.approx(100 * 1800 * 10_000 * top1)
    # Charts: once per change per instance for ours, per viewer for the original.
    assert original.ru_by_part["charts"] == pytest.approx(100 * ours.ru_by_part["charts"])
    assert ours.ru_by_part["summariser"] == pytest.approx(20.0 * 10_000 * 3600 / 5.5)
