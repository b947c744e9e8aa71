"""Generator: simulated timing and temperatures, the timer function, and ingest validation."""

from __future__ import annotations

import re
import statistics
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from generator.ingest import MAX_READINGS_PER_REQUEST, RejectedSubmission, readings_from_submission
from generator.simulation import SensorSimulation
from pipeline.readings import CANONICAL_TIMESTAMP, parse_timestamp

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SENSORS = ("sensor-1", "sensor-2", "sensor-3", "sensor-4", "sensor-5")


def run_ticks(simulation: SensorSimulation, ticks: int, every: float = 10.0):
    readings = []
    for n in range(1, ticks + 1):
        readings.extend(simulation.readings_until(T0 + timedelta(seconds=n * every)))
    return readings


@pytest.mark.parametrize("timing", ["poisson", "uniform"])
def test_readings_are_well_formed_and_in_range(timing: str) -> None:
    readings = run_ticks(SensorSimulation(SENSORS, seed=1, timing=timing), ticks=30)

    assert {r.sensor_id for r in readings} == set(SENSORS)
    for reading in readings:
        assert uuid.UUID(reading.id).version == 4
        assert 15.0 <= reading.temperature <= 40.0
        assert round(reading.temperature, 2) == reading.temperature
        assert CANONICAL_TIMESTAMP.fullmatch(reading.timestamp)
        assert T0 < parse_timestamp(reading.timestamp) <= T0 + timedelta(seconds=300)
    assert len({r.id for r in readings}) == len(readings)


def test_uniform_timing_gaps_are_1_to_10_seconds_across_ticks() -> None:
    readings = run_ticks(SensorSimulation(SENSORS, seed=2, timing="uniform"), ticks=60, every=7)
    for sensor in SENSORS:
        times = sorted(parse_timestamp(r.timestamp) for r in readings if r.sensor_id == sensor)
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
        assert len(gaps) > 30
        assert min(gaps) >= 0.999 and max(gaps) <= 10.001


def test_poisson_timing_has_the_mean_gap_of_the_original_lab() -> None:
    readings = run_ticks(SensorSimulation(("only",), seed=3), ticks=600)
    times = sorted(parse_timestamp(r.timestamp) for r in readings)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert 5.0 < statistics.fmean(gaps) < 6.0  # 5.5 s, the mean of 1-10 s
    assert statistics.pstdev(gaps) > 3.0  # irregular, like real devices


def test_a_seed_makes_runs_reproducible() -> None:
    first = run_ticks(SensorSimulation(SENSORS, seed=42), ticks=5)
    second = run_ticks(SensorSimulation(SENSORS, seed=42), ticks=5)
    other = run_ticks(SensorSimulation(SENSORS, seed=43), ticks=5)
    assert first == second
    assert first != other


def test_random_walk_stays_in_range_and_moves_smoothly() -> None:
    simulation = SensorSimulation(("walker",), seed=5, temperature_model="random-walk")
    readings = run_ticks(simulation, ticks=300)
    values = [r.temperature for r in sorted(readings, key=lambda r: r.timestamp)]
    assert all(15.0 <= v <= 40.0 for v in values)
    steps = [abs(b - a) for a, b in zip(values, values[1:], strict=False)]
    assert statistics.fmean(steps) < 1.5  # uniform draws would average ~8 °C apart


def test_speed_accelerates_reporting() -> None:
    normal = run_ticks(SensorSimulation(SENSORS, seed=9), ticks=20)
    fast = run_ticks(SensorSimulation(SENSORS, seed=9, speed=10), ticks=20)
    assert 7 < len(fast) / len(normal) < 13


def test_timer_function_writes_its_readings_through_the_output_binding(monkeypatch) -> None:
    import azure.functions as func
    from azure.functions.timer import TimerRequest

    import generator.bindings as bindings
    from local_host.triggers import CollectingOut, LocalContext

    monkeypatch.setattr(bindings, "_simulation", SensorSimulation(SENSORS, seed=11))
    out = CollectingOut()
    bindings.generate_readings(TimerRequest(past_due=False), out, LocalContext("generate_readings"))

    documents = out.get()
    assert isinstance(documents, func.DocumentList)
    assert len(documents) > 0
    assert {d["sensor_id"] for d in documents} <= set(SENSORS)
    assert all(
        set(d.to_dict()) == {"id", "sensor_id", "temperature", "timestamp", "correlation_id"}
        for d in documents
    )
    # One tick, one correlation id: a trace id (the host's in Azure, a new one here).
    [correlation_id] = {d["correlation_id"] for d in documents}
    assert re.fullmatch(r"[0-9a-f]{32}", correlation_id)


NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_submission_accepts_one_reading_or_a_list_and_normalises_time() -> None:
    [one] = readings_from_submission(
        {"sensor_id": "dev-1", "temperature": 21.5, "timestamp": "2026-11-28T13:00:00+01:00"},
        NOW,
    )
    # A missing id is derived from the content: a retried request writes the same document.
    [again] = readings_from_submission(
        {"sensor_id": "dev-1", "temperature": 21.5, "timestamp": "2026-11-28T12:00:00Z"},
        NOW,
    )
    assert one.id == again.id and uuid.UUID(one.id).version == 5
    [other] = readings_from_submission(
        {"sensor_id": "dev-1", "temperature": 21.6, "timestamp": "2026-11-28T12:00:00Z"},
        NOW,
    )
    assert other.id != one.id
    assert one.timestamp == "2026-11-28T12:00:00.000Z"
    many = readings_from_submission(
        [
            {"id": f"r{n}", "sensor_id": "dev-1", "temperature": 20 + n, "timestamp": "2026-11-28T11:59:00Z"}
            for n in range(3)
        ],
        NOW,
    )
    assert [r.id for r in many] == ["r0", "r1", "r2"]
    assert many[2].temperature == 22.0


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"sensor_id": "a b", "temperature": 20, "timestamp": "2026-11-28T11:00:00Z"}, "sensor_id"),
        ({"sensor_id": "a", "temperature": "20", "timestamp": "2026-11-28T11:00:00Z"}, "temperature"),
        ({"sensor_id": "a", "temperature": 1000, "timestamp": "2026-11-28T11:00:00Z"}, "temperature"),
        ({"sensor_id": "a", "temperature": True, "timestamp": "2026-11-28T11:00:00Z"}, "temperature"),
        ({"sensor_id": "a", "temperature": 20, "timestamp": "2026-11-28 11:00"}, "timestamp"),
        ({"sensor_id": "a", "temperature": 20, "timestamp": "2027-01-01T00:00:00Z"}, "timestamp"),
        ({"sensor_id": "a", "temperature": 20, "timestamp": "1970-01-01T00:00:00Z"}, "timestamp"),
        ({"sensor_id": "a", "temperature": 20}, "timestamp"),
        ({"sensor_id": "a", "temperature": 20, "timestamp": "2026-11-28T11:00:00Z", "x": 1}, "body"),
        ({"id": "has/slash", "sensor_id": "a", "temperature": 20, "timestamp": "2026-11-28T11:00:00Z"}, "id"),
        ("not an object", "body"),
    ],
)
def test_submission_errors_name_the_field(payload, field: str) -> None:
    with pytest.raises(RejectedSubmission) as raised:
        readings_from_submission(payload, NOW)
    [error] = raised.value.errors
    assert field in error["errors"]


def test_one_bad_reading_rejects_the_whole_list() -> None:
    good = {"sensor_id": "a", "temperature": 20, "timestamp": "2026-11-28T11:00:00Z"}
    with pytest.raises(RejectedSubmission) as raised:
        readings_from_submission([good, dict(good, temperature=None), good], NOW)
    assert [e["index"] for e in raised.value.errors] == [1]


def test_size_limits() -> None:
    good = {"sensor_id": "a", "temperature": 20, "timestamp": "2026-11-28T11:00:00Z"}
    many = [dict(good, temperature=20 + n / 100) for n in range(MAX_READINGS_PER_REQUEST)]
    assert len(readings_from_submission(many, NOW)) == 1000
    assert len(readings_from_submission([good, good], NOW)) == 1  # a resent reading, written once
    with pytest.raises(RejectedSubmission):
        readings_from_submission([good] * (MAX_READINGS_PER_REQUEST + 1), NOW)
    with pytest.raises(RejectedSubmission):
        readings_from_submission([], NOW)
    with pytest.raises(RejectedSubmission):
        readings_from_submission([dict(good, id="same"), dict(good, id="same", temperature=21)], NOW)


def test_temperature_range_and_clock_skew_limits_are_exact() -> None:
    """-100 to 100 °C inclusive; at most 5 minutes ahead of the server's clock."""

    def submit(**fields: object) -> list:
        reading = {"sensor_id": "a", "temperature": 20, "timestamp": "2026-11-28T11:00:00Z"}
        return readings_from_submission(dict(reading, **fields), NOW)

    assert [r.temperature for r in submit(temperature=-100) + submit(temperature=100)] == [-100.0, 100.0]
    for outside in (-100.01, 100.01, -1000, 1000):
        with pytest.raises(RejectedSubmission) as raised:
            submit(temperature=outside)
        assert "temperature" in raised.value.errors[0]["errors"], outside
    ahead = NOW + timedelta(minutes=4, seconds=59)
    assert submit(timestamp=ahead.isoformat())[0].timestamp == "2026-11-28T12:04:59.000Z"
    with pytest.raises(RejectedSubmission) as raised:
        submit(timestamp=(NOW + timedelta(minutes=5, seconds=1)).isoformat())
    assert "timestamp" in raised.value.errors[0]["errors"]
