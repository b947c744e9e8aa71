"""The chart a user sees, compared with a stored baseline image (with a tolerance, not bytes)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.image import imread
from matplotlib.testing.compare import compare_images

from pipeline.readings import Summary, format_timestamp
from visualiser.charts import DPI, HEIGHT_INCHES, WIDTH_INCHES, render_chart

BASELINE = Path(__file__).parent / "baseline" / "chart-sensor-1.png"
START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
# Root-mean-square difference over 0-255 pixel values: font hinting differs a little
# between machines, a wrong line or axis differs a lot.
TOLERANCE = 6.0


def fixed_summaries() -> list[Summary]:
    summaries = []
    for n in range(50):
        avg = 27.5 + 4 * np.sin(n / 6)
        timestamp = format_timestamp(START + timedelta(seconds=10 * n))
        summaries.append(
            Summary(
                id=f"sensor-1-{timestamp}",
                sensor_id="sensor-1",
                timestamp=timestamp,
                max_temp=round(avg + 6 + (n % 3), 2),
                min_temp=round(avg - 6 - (n % 4), 2),
                avg_temp=round(avg, 2),
                count=10,
            )
        )
    return summaries[::-1]  # newest first, as the store returns them


def test_chart_matches_the_baseline(tmp_path: Path) -> None:
    png = render_chart("sensor-1", fixed_summaries())
    actual = tmp_path / "chart-sensor-1.png"
    actual.write_bytes(png)
    if os.environ.get("UPDATE_BASELINE"):
        BASELINE.write_bytes(png)
    artifacts = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))
    artifacts.mkdir(exist_ok=True)
    (artifacts / "chart-sensor-1.png").write_bytes(png)

    difference = compare_images(str(BASELINE), str(actual), tol=TOLERANCE)

    assert difference is None, difference


def test_chart_size_and_lines_are_what_a_card_shows(tmp_path: Path) -> None:
    path = tmp_path / "chart.png"
    path.write_bytes(render_chart("sensor-1", fixed_summaries()))
    pixels = imread(path)
    assert pixels.shape[:2] == (int(HEIGHT_INCHES * DPI), int(WIDTH_INCHES * DPI))
    # The three series colours are all drawn.
    rgb = (pixels[..., :3] * 255).round().astype(int)
    for colour in ((0xD6, 0x27, 0x28), (0x1F, 0x77, 0xB4), (0x2C, 0xA0, 0x2C)):
        assert (np.abs(rgb - colour).sum(axis=-1) < 30).sum() > 200, colour


def test_a_changed_series_does_not_match_the_baseline(tmp_path: Path) -> None:
    shifted = [
        Summary(s.id, s.sensor_id, s.timestamp, s.max_temp + 5, s.min_temp, s.avg_temp, s.count)
        for s in fixed_summaries()
    ]
    actual = tmp_path / "shifted.png"
    actual.write_bytes(render_chart("sensor-1", shifted))
    assert compare_images(str(BASELINE), str(actual), tol=TOLERANCE) is not None


def test_a_reused_figure_draws_exactly_what_a_fresh_one_does() -> None:
    import threading

    one_point = fixed_summaries()[:1]
    render_chart("sensor-9", one_point)  # leaves markers, a fixed x range, another title
    reused = render_chart("sensor-1", fixed_summaries())
    fresh: list[bytes] = []
    thread = threading.Thread(target=lambda: fresh.append(render_chart("sensor-1", fixed_summaries())))
    thread.start()
    thread.join()
    assert reused == fresh[0]
