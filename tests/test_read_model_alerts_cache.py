"""What depends only on the latest summaries (the delta poll's alerts, the shared y-range) is
worked out once per change, not on every request."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from pipeline.readings import Summary
from pipeline.settings import DashboardSettings
from pipeline.storage.base import LatestSummary
from visualiser import read_model as read_model_module
from visualiser.chart_options import ChartOptions
from visualiser.read_model import ReadModel


class Pointers:
    """A store that only answers the read model's one query; `revision` moves the data."""

    def __init__(self) -> None:
        self.avg = 25.0

    def latest_pointers(self) -> dict[str, LatestSummary]:
        summary = Summary("s-1-x", "s-1", "2026-01-01T00:00:00.000Z", 50.0, 10.0, self.avg, 10)
        return {"s-1": LatestSummary(summary, f"rev-{self.avg}")}


def test_alerts_are_computed_once_per_generation_and_follow_a_change(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = read_model_module.sensor_alerts
    monkeypatch.setattr(
        read_model_module,
        "sensor_alerts",
        lambda latest, dashboard: calls.append(1) or real(latest, dashboard),
    )
    now = [0.0]
    store = Pointers()
    model = ReadModel(store, 50, ttl_seconds=1.0, clock=lambda: now[0])

    first = model.delta(None)
    for _ in range(5):  # polls at the same generation
        assert model.delta(None) == first
        assert model.delta(json.loads(first.body)["cursor"]).body
    assert len(calls) == 1, f"alerts worked out {len(calls)} times for one generation"
    assert json.loads(first.body)["alerts"] == {}

    store.avg = 45.0  # above the default high threshold: a new generation with an alert
    now[0] += 10
    changed = model.delta(None)
    assert json.loads(changed.body)["alerts"] == {"s-1": "high"}
    assert changed.etag != first.etag
    assert len(calls) == 2


def test_the_shared_y_range_is_computed_once_per_generation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = read_model_module.shared_range

    def counted(latest: Iterable[Summary], dashboard: DashboardSettings) -> tuple[float, float]:
        calls.append(1)
        return real(latest, dashboard)

    monkeypatch.setattr(read_model_module, "shared_range", counted)
    now = [0.0]
    store = Pointers()
    model = ReadModel(store, 50, ttl_seconds=1.0, clock=lambda: now[0])
    shared = ChartOptions(shared_y=True)

    etag = model.chart_etag("s-1", shared)
    for _ in range(5):  # conditional chart requests at the same generation
        assert model.chart_etag("s-1", shared) == etag
    assert len(calls) == 1, f"shared y-range worked out {len(calls)} times for one generation"

    store.avg = 45.0
    now[0] += 10
    assert model.chart_etag("s-1", shared) != etag
    assert len(calls) == 2
