"""PNG line charts of a sensor's summaries (avg / min / max), drawn with matplotlib's Agg.

Uses the object-oriented API (`Figure` + `FigureCanvasAgg`), never pyplot's global state.
Building a figure costs more than drawing it, so each thread keeps one figure per (scale,
theme) and only swaps the data of its lines (against a new pyplot figure per chart:
`render_ratio` in the committed `make bench` output, docs/benchmarks.md). matplotlib is
imported on the first render only: the import is most of a first render in a fresh process
(`charts: first render` in the same output), which no timer or trigger should pay.

Sizes are in CSS pixels: a chart is WIDTH_PX x HEIGHT_PX at scale 1 and twice that at
scale 2 (for high-DPI screens, through the page's `srcset`). Text is TEXT_PX so that it
stays at least 11 CSS px when a phone shrinks the chart to its card (358 px at 390 wide).
Times are UTC, as everywhere on the page.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipeline.readings import Summary, parse_timestamp
from pipeline.settings import Thresholds

WIDTH_PX = 420
HEIGHT_PX = 220
CSS_DPI = 96  # one CSS pixel is 1/96 inch
TEXT_PX = 13.5
# Margins in CSS px: room for the y labels on the left, half a time label on the right,
# the legend on top and the time labels plus their caption below; nothing is cut off.
MARGINS_PX = {"left": 46, "right": 36, "top": 26, "bottom": 42}
FEW_POINTS = 12
PALETTE_COLOURS = 64
Y_PADDING = 0.2


@dataclass(frozen=True)
class Theme:
    background: str
    text: str
    grid: str
    threshold: str
    series: tuple[tuple[str, str, float], ...]  # (name, colour, line width)


THEMES = {
    "light": Theme(
        "#ffffff",
        "#222222",
        "#d0d0d0",
        "#9a6700",
        (("max", "#c62828", 1.3), ("avg", "#1565c0", 2.2), ("min", "#2e7d32", 1.3)),
    ),
    "dark": Theme(
        "#1f2125",
        "#e6e6e6",
        "#44474d",
        "#e3b341",
        (("max", "#ff7b72", 1.3), ("avg", "#79b8ff", 2.2), ("min", "#7ee787", 1.3)),
    ),
}

_local = threading.local()


def _clock_label(seconds: float, _position: int) -> str:
    """A tick label: the UTC time of day."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S")


def _window_labeller(start: float, end: float) -> Any:
    """Tick labels for a time window: the date at midnight, no seconds past 1 h."""
    pattern = "%H:%M" if end - start > 3600 else "%H:%M:%S"

    def label(seconds: float, _position: int) -> str:
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (ValueError, OverflowError, OSError):
            return ""  # a tick matplotlib puts beyond year 1 or 9999 (a window at the ends of time)
        # Midnight names the day, as Grafana does: a window across days shows where each begins.
        if moment.hour == moment.minute == moment.second == 0 and end - start > 3600:
            return moment.strftime("%d %b")
        return moment.strftime(pattern)

    return label


def _with_gaps(times: list[float], values: list[float], gap_seconds: float | None) -> tuple[list, list]:
    """Breaks the line where consecutive summaries are further apart than `gap_seconds`."""
    if not gap_seconds or len(times) < 2:
        return times, values
    out_times: list[float] = [times[0]]
    out_values: list[float] = [values[0]]
    for previous, time, value in zip(times, times[1:], values[1:], strict=False):
        if time - previous > gap_seconds:
            out_times.append((previous + time) / 2)
            out_values.append(math.nan)  # matplotlib draws no segment through NaN
        out_times.append(time)
        out_values.append(value)
    return out_times, out_values


class _Canvas:
    """One reusable figure: axes, labels, legend, three lines and two threshold lines."""

    def __init__(self, scale: int, theme: Theme) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        dpi = CSS_DPI * scale
        font_pt = TEXT_PX * 72 / CSS_DPI
        self.figure = Figure(
            figsize=(WIDTH_PX / CSS_DPI, HEIGHT_PX / CSS_DPI), dpi=dpi, facecolor=theme.background
        )
        FigureCanvasAgg(self.figure)
        # Fixed margins instead of tight_layout(), which costs more than the drawing.
        self.figure.subplots_adjust(
            left=MARGINS_PX["left"] / WIDTH_PX,
            right=1 - MARGINS_PX["right"] / WIDTH_PX,
            top=1 - MARGINS_PX["top"] / HEIGHT_PX,
            bottom=MARGINS_PX["bottom"] / HEIGHT_PX,
        )
        self.axes = self.figure.add_subplot(facecolor=theme.background)
        self.lines = {
            name: self.axes.plot([], [], color=colour, linewidth=width, label=name, markersize=3)[0]
            for name, colour, width in theme.series
        }
        self.limits = [
            self.axes.plot([], [], color=theme.threshold, linewidth=1, linestyle=(0, (4, 3)))[0]
            for _ in range(2)
        ]
        from matplotlib.transforms import blended_transform_factory

        # Each threshold says what it is, at the left end of its line.
        self.limit_labels = [
            self.axes.text(
                0.01,
                0,
                "",
                transform=blended_transform_factory(self.axes.transAxes, self.axes.transData),
                ha="left",
                va="bottom",
                fontsize=font_pt * 0.85,
                color=theme.threshold,
            )
            for _ in range(2)
        ]
        # Time as POSIX seconds with a few round ticks: matplotlib's date locator and
        # formatter took more than half of every draw.
        self._default_locator = MaxNLocator(nbins=4, steps=[1, 2, 3, 6, 10])
        self.axes.xaxis.set_major_locator(self._default_locator)
        self.axes.xaxis.set_major_formatter(FuncFormatter(_clock_label))
        self.axes.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
        # The unit sits in the top-left corner, not beside the axis: a rotated label there
        # was pushed off the canvas by wide tick labels ("−100").
        self.figure.text(
            4 / WIDTH_PX, 1 - 4 / HEIGHT_PX, "°C", fontsize=font_pt, color=theme.text, ha="left", va="top"
        )
        self.axes.set_xlabel("time (UTC)", fontsize=font_pt, color=theme.text, labelpad=2)
        self.axes.tick_params(labelsize=font_pt, colors=theme.text, length=3, pad=2)
        for spine in self.axes.spines.values():
            spine.set_color(theme.grid)
        self.axes.grid(True, color=theme.grid, linewidth=0.6)
        self.axes.legend(
            loc="lower left",
            bbox_to_anchor=(0, 1),
            fontsize=font_pt,
            ncols=3,
            frameon=False,
            borderaxespad=0,
            borderpad=0.1,
            handlelength=1.4,
            labelcolor=theme.text,
        )

    def render(
        self,
        ordered: Sequence[Summary],
        y_range: tuple[float, float] | None,
        thresholds: Thresholds | None,
        gap_seconds: float | None,
        x_range: tuple[float, float] | None = None,
    ) -> bytes:
        times: list[Any] = [parse_timestamp(s.timestamp).timestamp() for s in ordered]
        values = {
            "max": [s.max_temp for s in ordered],
            "avg": [s.avg_temp for s in ordered],
            "min": [s.min_temp for s in ordered],
        }
        # Markers keep the first few summaries visible: one point alone draws no line.
        marker = "o" if len(ordered) < FEW_POINTS else "None"
        for name, line in self.lines.items():
            line.set_data(*_with_gaps(times, values[name], gap_seconds))
            line.set_marker(marker)
        if x_range is not None:
            self.axes.set_xlim(*x_range)
            self.axes.xaxis.set_major_locator(self._round_ticks(x_range[1] - x_range[0]))
            self.axes.xaxis.set_major_formatter(self._formatter(_window_labeller(*x_range)))
        elif times:
            self.axes.xaxis.set_major_locator(self._default_locator)
            start, end = times[0], times[-1]
            if start == end:
                start, end = start - 30, end + 30
            self.axes.set_xlim(start, end)
            self.axes.xaxis.set_major_formatter(self._formatter(_clock_label))
        low, high = y_range or self._data_range(ordered)
        self.axes.set_ylim(low, high)
        limits = (thresholds.low, thresholds.high) if thresholds else ()
        names = ("low", "high")
        for index, (line, limit) in enumerate(zip(self.limits, list(limits) + [None, None], strict=False)):
            visible = limit is not None and low <= limit <= high and bool(times)
            line.set_visible(visible)
            label = self.limit_labels[index]
            label.set_visible(visible)
            if visible:
                label.set_position((0.01, limit))
                label.set_verticalalignment("top" if index == 0 else "bottom")
                label.set_text(f"{names[index]} {limit:g} °C")
                line.set_data([times[0] - 1e9, times[-1] + 1e9], [limit, limit])
        return self._png()

    def _png(self) -> bytes:
        """The figure as a palette PNG of PALETTE_COLOURS colours.

        A chart has a few colours and their anti-aliased edges: 64 are indistinguishable
        from full colour, and the file is a quarter of the size (8 kB instead of 35 kB for
        the 840 px chart, what a phone's first chart costs over a slow connection). The
        fast octree quantiser costs less than the zlib work it saves.
        """
        from PIL import Image

        canvas = self.figure.canvas
        canvas.draw()
        width, height = canvas.get_width_height(physical=True)
        image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        palette = image.convert("RGB").quantize(PALETTE_COLOURS, method=Image.Quantize.FASTOCTREE)
        buffer = io.BytesIO()
        palette.save(buffer, format="png", compress_level=6)
        return buffer.getvalue()

    @staticmethod
    def _round_ticks(seconds: float) -> Any:
        """Three to six ticks on round UTC times (POSIX seconds are aligned to UTC)."""
        from matplotlib.ticker import MultipleLocator

        steps = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800)
        step = next((step for step in steps if seconds / step <= 5), 604800)
        return MultipleLocator(step)

    @staticmethod
    def _formatter(label: Any) -> Any:
        from matplotlib.ticker import FuncFormatter

        return FuncFormatter(label)

    @staticmethod
    def _data_range(ordered: Sequence[Summary]) -> tuple[float, float]:
        if not ordered:
            return 0.0, 1.0
        low = min(s.min_temp for s in ordered)
        high = max(s.max_temp for s in ordered)
        padding = max((high - low) * Y_PADDING, 0.5)
        return low - padding, high + padding


def render_chart(
    sensor_id: str,
    summaries: Sequence[Summary],
    *,
    scale: int = 1,
    theme: str = "light",
    y_range: tuple[float, float] | None = None,
    thresholds: Thresholds | None = None,
    gap_seconds: float | None = None,
    x_range: tuple[float, float] | None = None,
) -> bytes:
    """A PNG of the summaries, oldest on the left; `summaries` may come in any order.

    `y_range` fixes the y-axis (the shared range); `thresholds` are drawn as dashed lines
    when they fall inside it; summaries further apart than `gap_seconds` leave a gap.
    `x_range` (POSIX seconds) fixes the time axis, so charts of one window line up.
    The sensor id is not drawn: the card's heading names it.
    """
    canvases: dict[tuple[int, str], _Canvas] | None = getattr(_local, "canvases", None)
    if canvases is None:
        canvases = _local.canvases = {}
    canvas = canvases.get((scale, theme))
    if canvas is None:
        canvas = canvases[(scale, theme)] = _Canvas(scale, THEMES[theme])
    ordered = sorted(summaries, key=lambda summary: summary.timestamp)
    return canvas.render(ordered, y_range, thresholds, gap_seconds, x_range)
