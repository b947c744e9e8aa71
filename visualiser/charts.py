"""PNG line charts of a sensor's summaries (avg / min / max), drawn with matplotlib's Agg.

Uses the object-oriented API (`Figure` + `FigureCanvasAgg`): no pyplot global state,
so renders in different threads never share a figure. matplotlib is imported on the
first render only: it costs ~0.7 s, which no timer or trigger should pay.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import timedelta

from pipeline.readings import Summary, parse_timestamp

WIDTH_INCHES = 6.0
HEIGHT_INCHES = 3.0
DPI = 80
FEW_POINTS = 12


def render_chart(sensor_id: str, summaries: Sequence[Summary]) -> bytes:
    """A PNG of the summaries, oldest on the left; `summaries` may come in any order."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    ordered = sorted(summaries, key=lambda summary: summary.timestamp)
    times = [parse_timestamp(summary.timestamp).replace(tzinfo=None) for summary in ordered]
    figure = Figure(figsize=(WIDTH_INCHES, HEIGHT_INCHES), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    # Markers keep the first few summaries visible: one point alone draws no line.
    marker = "o" if len(ordered) < FEW_POINTS else None
    axes.plot(times, [s.max_temp for s in ordered], color="#d62728", linewidth=1.2, label="max",
              marker=marker, markersize=3)
    axes.plot(times, [s.avg_temp for s in ordered], color="#1f77b4", linewidth=2.0, label="avg",
              marker=marker, markersize=3)
    axes.plot(times, [s.min_temp for s in ordered], color="#2ca02c", linewidth=1.2, label="min",
              marker=marker, markersize=3)
    if times and times[0] == times[-1]:
        axes.set_xlim(times[0] - timedelta(seconds=30), times[0] + timedelta(seconds=30))
    locator = AutoDateLocator(minticks=3, maxticks=6)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator, show_offset=False))
    axes.set_ylabel("°C")
    axes.set_xlabel("time (UTC)")
    axes.set_title(sensor_id, fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left", fontsize=8, ncols=3, frameon=False)
    axes.margins(x=0.02, y=0.25)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
