"""The chart a user sees, compared with a stored baseline image (with a tolerance, not bytes)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from matplotlib.image import imread
from matplotlib.testing.compare import compare_images

from pipeline.readings import MAX_TEMPERATURE, MIN_TEMPERATURE, Summary, format_timestamp
from pipeline.settings import Thresholds
from visualiser.charts import CSS_DPI, HEIGHT_PX, TEXT_PX, THEMES, WIDTH_PX, render_chart

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
    assert pixels.shape[:2] == (HEIGHT_PX, WIDTH_PX)
    # The three series colours are all drawn.
    rgb = (pixels[..., :3] * 255).round().astype(int)
    for colour in ((0xC6, 0x28, 0x28), (0x15, 0x65, 0xC0), (0x2E, 0x7D, 0x32)):
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


def decoded(png: bytes, tmp_path: Path, name: str = "chart.png") -> np.ndarray:
    path = tmp_path / name
    path.write_bytes(png)
    return (imread(path)[..., :3] * 255).round().astype(int)


def colour_columns(pixels: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Which x columns hold at least one pixel of (about) this colour."""
    return (np.abs(pixels - colour).sum(axis=-1) < 40).any(axis=0)


def test_high_dpi_chart_is_twice_the_size_with_the_same_layout(tmp_path: Path) -> None:
    one = decoded(render_chart("sensor-1", fixed_summaries()), tmp_path, "one.png")
    two = decoded(render_chart("sensor-1", fixed_summaries(), scale=2), tmp_path, "two.png")
    assert two.shape[:2] == (2 * HEIGHT_PX, 2 * WIDTH_PX)
    # Same drawing, finer pixels: halving the 2x image gives back (about) the 1x one.
    halved = two.reshape(HEIGHT_PX, 2, WIDTH_PX, 2, 3).mean(axis=(1, 3))
    assert np.abs(halved - one).mean() < 12


def test_text_is_big_enough_to_read_on_a_phone() -> None:
    # A 390 px phone shows the chart 356 px wide (page and card padding): text stays >= 11 px.
    assert TEXT_PX * 356 / WIDTH_PX >= 11


def test_nothing_is_drawn_against_the_right_edge(tmp_path: Path) -> None:
    """The last time label used to be cut off: the outermost columns stay background."""
    # 51 summaries 12 s apart: 12:00:00 to 12:10:00, so a time label sits on the right edge.
    summaries = [
        Summary(f"s-{n}", "s", format_timestamp(START + timedelta(seconds=12 * n)), 30.0, 20.0, 25.0, 10)
        for n in range(51)
    ]
    pixels = decoded(render_chart("s", summaries), tmp_path)
    background = np.array((255, 255, 255))
    for edge in (pixels[:, -2:], pixels[:, :2], pixels[-2:, :]):
        assert (np.abs(edge - background).sum(axis=-1) < 10).all()


def test_a_gap_in_the_data_is_drawn_as_a_gap(tmp_path: Path) -> None:
    summaries = fixed_summaries()[::-1]
    with_outage = summaries[:20] + summaries[35:]  # 150 s without summaries
    avg = (0x15, 0x65, 0xC0)
    joined = colour_columns(decoded(render_chart("s", with_outage), tmp_path, "a.png"), avg)
    gapped = colour_columns(decoded(render_chart("s", with_outage, gap_seconds=60), tmp_path, "b.png"), avg)
    # The avg line crosses the outage only when it is joined; one gap of empty columns otherwise.
    assert gapped.sum() < joined.sum() - 40
    first, last = np.flatnonzero(gapped)[[0, -1]]
    assert not gapped[first : last + 1].all()


def test_dark_theme_draws_on_a_dark_background(tmp_path: Path) -> None:
    pixels = decoded(render_chart("sensor-1", fixed_summaries(), theme="dark"), tmp_path)
    corner = pixels[2, 2]
    assert tuple(corner) == tuple(int(THEMES["dark"].background[i : i + 2], 16) for i in (1, 3, 5))
    assert colour_columns(pixels, (0x79, 0xB8, 0xFF)).sum() > 200  # the dark theme's avg colour


def test_shared_range_and_thresholds_are_drawn(tmp_path: Path) -> None:
    threshold = tuple(int(THEMES["light"].threshold[i : i + 2], 16) for i in (1, 3, 5))
    inside = decoded(
        render_chart("s", fixed_summaries(), y_range=(0, 60), thresholds=Thresholds(10, 50)),
        tmp_path,
        "in.png",
    )
    outside = decoded(
        render_chart("s", fixed_summaries(), y_range=(20, 40), thresholds=Thresholds(10, 50)),
        tmp_path,
        "out.png",
    )
    rows_with_threshold = (np.abs(inside - threshold).sum(axis=-1) < 40).sum(axis=1) > 100
    assert rows_with_threshold.sum() >= 2  # two dashed lines across the plot
    assert ((np.abs(outside - threshold).sum(axis=-1) < 40).sum(axis=1) > 100).sum() == 0


def test_every_label_stays_on_the_canvas_with_the_widest_tick_labels() -> None:
    """The unit label used to be pushed off the left edge by ticks like "−100"."""
    from visualiser import charts

    for low in (MIN_TEMPERATURE, MAX_TEMPERATURE - 10):
        times = [format_timestamp(START + timedelta(seconds=10 * n)) for n in range(30)]
        summaries = [Summary(f"s-{n}", "s", at, low + 10, low, low + n % 7, 10) for n, at in enumerate(times)]
        render_chart("s", summaries)
        figure = charts._local.canvases[(1, "light")].figure
        drawn = figure.get_tightbbox(figure.canvas.get_renderer())  # inches, every visible artist
        assert drawn.x0 >= 0 and drawn.y0 >= 0, drawn
        assert drawn.x1 <= WIDTH_PX / CSS_DPI and drawn.y1 <= HEIGHT_PX / CSS_DPI, drawn
        assert "°C" in [text.get_text() for text in figure.texts], "the unit is drawn"


def test_a_shared_range_widens_in_whole_steps_to_cover_a_charts_older_values() -> None:
    """The shared y-range comes from every sensor's latest summary; a chart's older summaries
    beyond it, colder or hotter, widen that chart's range instead of being cut off."""
    from dataclasses import replace

    from visualiser.chart_options import Y_STEP, covering

    history = fixed_summaries()
    inside = covering((0.0, 50.0), history)
    assert inside == (0.0, 50.0)  # nothing beyond: the shared range as it is
    colder = replace(history[-1], min_temp=-3.2)
    hotter = replace(history[-2], max_temp=43.1)
    low, high = covering((10.0, 40.0), [*history[:-2], hotter, colder])
    assert (low, high) == (-10.0, 50.0)  # -3.2 -> -5 - one step; 43.1 -> 45 + one step
    assert low % Y_STEP == 0 and high % Y_STEP == 0
