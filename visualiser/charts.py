"""PNG line charts of a sensor's summaries (avg / min / max), drawn with matplotlib's Agg.

Uses the object-oriented API (`Figure` + `FigureCanvasAgg`), never pyplot's global state.
Building a figure costs more than drawing it, so each thread keeps one figure and only
swaps the data of its three lines (against a new pyplot figure per chart: `render_ratio`
in the committed `make bench` output, docs/benchmarks.md). matplotlib is imported on the
first render only: the import is most of a first render in a fresh process (`charts:
first render` in the same output), which no timer or trigger should pay.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pipeline.readings import Summary, parse_timestamp

WIDTH_INCHES = 6.0
HEIGHT_INCHES = 3.0
DPI = 80
FEW_POINTS = 12
SERIES = (("max", "#d62728", 1.2), ("avg", "#1f77b4", 2.0), ("min", "#2ca02c", 1.2))

_local = threading.local()


def _clock_label(seconds: float, _position: int) -> str:
    """A tick label: the UTC time of day."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S")


class _Canvas:
    """One reusable figure: axes, labels, legend and three lines, drawn again with new data."""

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        self.figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
        FigureCanvasAgg(self.figure)
        # Fixed margins instead of tight_layout(), which costs more than the drawing.
        self.figure.subplots_adjust(left=0.1, right=0.98, top=0.9, bottom=0.18)
        self.axes = self.figure.add_subplot()
        self.lines = {
            name: self.axes.plot([], [], color=colour, linewidth=width, label=name, markersize=3)[0]
            for name, colour, width in SERIES
        }
        # Time as POSIX seconds with a few round ticks: matplotlib's date locator and
        # formatter took more than half of every draw.
        self.axes.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 3, 6, 10]))
        self.axes.xaxis.set_major_formatter(FuncFormatter(_clock_label))
        self.axes.set_ylabel("°C")
        self.axes.set_xlabel("time (UTC)")
        self.title = self.axes.set_title("", fontsize=10)
        self.axes.grid(True, alpha=0.3)
        self.axes.legend(loc="upper left", fontsize=8, ncols=3, frameon=False)
        self.axes.margins(x=0.02, y=0.25)

    def render(self, sensor_id: str, ordered: Sequence[Summary]) -> bytes:
        times: list[Any] = [parse_timestamp(s.timestamp).timestamp() for s in ordered]
        values = {
            "max": [s.max_temp for s in ordered],
            "avg": [s.avg_temp for s in ordered],
            "min": [s.min_temp for s in ordered],
        }
        # Markers keep the first few summaries visible: one point alone draws no line.
        marker = "o" if len(ordered) < FEW_POINTS else "None"
        for name, line in self.lines.items():
            line.set_data(times, values[name])
            line.set_marker(marker)
        self.title.set_text(sensor_id)
        self.axes.relim()
        self.axes.set_autoscale_on(True)
        self.axes.autoscale_view()
        if times and times[0] == times[-1]:
            self.axes.set_xlim(times[0] - 30, times[0] + 30)
        buffer = io.BytesIO()
        # Fast zlib level: the PNG is a few kB either way and is cached once rendered.
        self.figure.savefig(
            buffer, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 1}
        )
        return buffer.getvalue()


def render_chart(sensor_id: str, summaries: Sequence[Summary]) -> bytes:
    """A PNG of the summaries, oldest on the left; `summaries` may come in any order."""
    canvas: _Canvas | None = getattr(_local, "canvas", None)
    if canvas is None:
        canvas = _local.canvas = _Canvas()
    return canvas.render(sensor_id, sorted(summaries, key=lambda summary: summary.timestamp))
