"""Simulated sensors: irregular report times and plausible temperatures.

A timer tick has no memory of when each device last reported, so report times are
drawn inside the tick's window. With the default Poisson timing the gaps are
exponential, which is memoryless: drawing per window is exactly the same process as
drawing device by device. The "uniform" timing keeps each device's next due time
between ticks and draws gaps of 1-10 s, like the original lab.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.readings import Reading, format_timestamp

MIN_GAP_SECONDS = 1.0
MAX_GAP_SECONDS = 10.0
MEAN_GAP_SECONDS = (MIN_GAP_SECONDS + MAX_GAP_SECONDS) / 2
LOWEST_TEMPERATURE = 15.0
HIGHEST_TEMPERATURE = 40.0
RANDOM_WALK_STEP = 0.6
DEFAULT_FIRST_WINDOW = timedelta(seconds=10)


@dataclass
class SensorSimulation:
    """Emits the readings of a set of simulated sensors, one time window at a time."""

    sensor_ids: Sequence[str]
    seed: int | None = None
    timing: str = "poisson"
    temperature_model: str = "uniform"
    # Time acceleration for demos: devices report `speed` times as often.
    speed: float = 1.0
    _rng: random.Random = field(init=False, repr=False)
    _window_end: datetime | None = field(default=None, init=False)
    _next_due: dict[str, datetime] = field(default_factory=dict, init=False)
    _last_temperature: dict[str, float] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.timing not in ("poisson", "uniform"):
            raise ValueError(f"unknown timing {self.timing!r}")
        if self.temperature_model not in ("uniform", "random-walk"):
            raise ValueError(f"unknown temperature model {self.temperature_model!r}")
        if not self.speed > 0:
            raise ValueError(f"speed must be positive, not {self.speed!r}")
        self._rng = random.Random(self.seed)

    def _report_times(self, sensor_id: str, start: datetime, end: datetime) -> list[datetime]:
        times = []

        def gap(seconds: float) -> timedelta:
            return timedelta(seconds=seconds / self.speed)

        if self.timing == "poisson":
            moment = start + gap(self._rng.expovariate(1 / MEAN_GAP_SECONDS))
            while moment <= end:
                times.append(moment)
                moment += gap(self._rng.expovariate(1 / MEAN_GAP_SECONDS))
            return times
        due = self._next_due.get(sensor_id)
        if due is None:
            due = start + gap(self._rng.uniform(0, MAX_GAP_SECONDS))
        while due <= end:
            times.append(due)
            due += gap(self._rng.uniform(MIN_GAP_SECONDS, MAX_GAP_SECONDS))
        self._next_due[sensor_id] = due
        return times

    def _temperature(self, sensor_id: str) -> float:
        if self.temperature_model == "uniform":
            return round(self._rng.uniform(LOWEST_TEMPERATURE, HIGHEST_TEMPERATURE), 2)
        previous = self._last_temperature.get(sensor_id)
        if previous is None:
            value = self._rng.uniform(LOWEST_TEMPERATURE, HIGHEST_TEMPERATURE)
        else:
            value = previous + self._rng.gauss(0, RANDOM_WALK_STEP)
            # Reflect at the bounds so the walk stays in range without sticking to them.
            if value > HIGHEST_TEMPERATURE:
                value = 2 * HIGHEST_TEMPERATURE - value
            if value < LOWEST_TEMPERATURE:
                value = 2 * LOWEST_TEMPERATURE - value
        value = round(min(max(value, LOWEST_TEMPERATURE), HIGHEST_TEMPERATURE), 2)
        self._last_temperature[sensor_id] = value
        return value

    def readings_until(self, now: datetime) -> list[Reading]:
        """Every reading the sensors took since the previous call, oldest first."""
        start = self._window_end or now - DEFAULT_FIRST_WINDOW
        self._window_end = now
        if now <= start:
            return []
        readings = []
        for sensor_id in self.sensor_ids:
            for moment in self._report_times(sensor_id, start, now):
                readings.append(
                    Reading(
                        id=str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                        sensor_id=sensor_id,
                        temperature=self._temperature(sensor_id),
                        timestamp=format_timestamp(moment),
                    )
                )
        readings.sort(key=lambda reading: reading.timestamp)
        return readings
