"""Small charts drawn on the server as inline SVG: a histogram of scores and a cumulative count
over time. No chart library and no script: the page carries the drawing, so it shows the same
in the admin, on a participant's page and in a saved copy of either.

Pure: figures in, markup out (``studies.dashboard`` and the score page gather the figures).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

BAR = "#5b8def"
MINE = "#f08c00"  # the participant's own bar and mark: readable on the admin's light and
# the study pages' dark background alike
WIDTH, HEIGHT = 560, 230
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 14, 40


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts of values in bins ``[edges[i], edges[i + 1])`` (the last bin holds its top)."""

    edges: list[float]
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def width(self) -> float:
        return self.edges[1] - self.edges[0] if len(self.edges) > 1 else 1.0

    def bin_of(self, value: float) -> int | None:
        if not self.counts or value < self.edges[0] or value > self.edges[-1]:
            return None
        return min(_index(value, self.edges[0], self.width), len(self.counts) - 1)

    @property
    def whole_points(self) -> bool:
        """One bin a point, from a whole number: each bin is one score."""
        return bool(self.edges) and self.width == 1 and self.edges[0] == int(self.edges[0])

    def label(self, index: int) -> str:
        low, high = self.edges[index], self.edges[index + 1]
        if self.whole_points:
            return _number(low)
        return f"{_number(low)} to {_number(high)}"


def _index(value: float, start: float, width: float) -> int:
    # A hair of tolerance: (0.3 - 0.1) / 0.1 is 1.9999999999999998 in floating point, and 0.3
    # belongs to the bin that starts at 0.3.
    return math.floor((value - start) / width + 1e-9)


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.3g}"


def _nice_width(raw: float, *, whole: bool) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at least ``raw`` (bins a reader can
    add up), and never below one point for whole-number scores."""
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        width = step * power
        if width >= raw - 1e-12:
            break
    return max(width, 1.0) if whole else width


def histogram(values: Sequence[float], *, most_bins: int = 12) -> Histogram:
    """Bins of a width a reader can add up (whole points for whole-number scores when they
    fit), starting at a multiple of the width."""
    if not values:
        return Histogram(edges=[], counts=[])
    low, high = min(values), max(values)
    whole = all(float(v).is_integer() for v in values)
    width = _nice_width((high - low) / most_bins, whole=whole)
    start = math.floor(low / width) * width
    count = _index(high, start, width) + 1
    counts = [0] * count
    for value in values:
        counts[min(_index(value, start, width), count - 1)] += 1
    return Histogram(edges=[round(start + i * width, 9) for i in range(count + 1)], counts=counts)


def _frame(title: str, description: str, body: str) -> SafeString:
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg" font-size="13" font-family="system-ui, sans-serif">'
        "<title>{}</title><desc>{}</desc>{}</svg>",
        WIDTH,
        HEIGHT,
        title,
        title,
        description,
        mark_safe(body),  # built below from numbers and escaped text only
    )


def _axes(y_max: int, y_label: str, x_label: str) -> list[str]:
    bottom = HEIGHT - BOTTOM
    parts = [
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" '
        'stroke="currentColor" stroke-opacity="0.5"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" '
        'stroke="currentColor" stroke-opacity="0.5"/>',
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{HEIGHT - 4}" text-anchor="middle" '
        f'fill="currentColor">{escape(x_label)}</text>',
        f'<text x="12" y="{(TOP + bottom) / 2:.1f}" text-anchor="middle" fill="currentColor" '
        f'transform="rotate(-90 12 {(TOP + bottom) / 2:.1f})">{escape(y_label)}</text>',
    ]
    for tick in sorted({0, y_max // 2, y_max}):
        y = bottom - (bottom - TOP) * (tick / y_max if y_max else 0)
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="currentColor">'
            f"{tick}</text>"
        )
    return parts


def histogram_svg(
    data: Histogram,
    *,
    title: str,
    mark: float | None = None,
    x_label: str = "Score",
    y_label: str = "Participants",
) -> SafeString:
    """Bars of ``data``; ``mark`` (the participant's own score) is drawn as a line over its
    bar, which is coloured apart."""
    if not data.counts:
        return _frame(title, "No scores yet.", "")
    bottom, plot_width = HEIGHT - BOTTOM, WIDTH - LEFT - RIGHT
    y_max = max(data.counts)
    bar_width = plot_width / len(data.counts)
    mine = data.bin_of(mark) if mark is not None else None
    parts = _axes(y_max, y_label, x_label)
    label_every = max(1, math.ceil(len(data.counts) / 8))
    for index, count in enumerate(data.counts):
        x = LEFT + index * bar_width
        height = (bottom - TOP) * count / y_max if y_max else 0
        colour = MINE if index == mine else BAR
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{bottom - height:.1f}" width="{bar_width - 2:.1f}" '
            f'height="{height:.1f}" fill="{colour}"><title>{escape(data.label(index))}: '
            f"{count}</title></rect>"
        )
    for index in range(0, len(data.edges), label_every):
        if data.whole_points and index == len(data.counts):
            continue  # a bin a score is labelled under its middle: no label at the far end
        x = LEFT + index * bar_width + (bar_width / 2 if data.whole_points else 0)
        parts.append(
            f'<text x="{x:.1f}" y="{bottom + 14}" text-anchor="middle" fill="currentColor">'
            f"{escape(_number(data.edges[index]))}</text>"
        )
    if mark is not None and mine is not None:
        within = (mark - data.edges[0]) / (data.edges[-1] - data.edges[0])
        if data.whole_points:
            within = (mine + 0.5) / len(data.counts)  # a score's own bar: its middle
        x = LEFT + plot_width * within
        parts.append(
            f'<line class="chart-mark" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}" '
            f'stroke="{MINE}" stroke-width="3"/>'
            f'<text x="{x:.1f}" y="{TOP + 10}" dx="5" fill="{MINE}" font-weight="bold">'
            f"You: {escape(_number(mark))}</text>"
        )
    described = ", ".join(
        f"{data.label(i)}: {count}" for i, count in enumerate(data.counts) if count
    )
    return _frame(title, f"{y_label} by {x_label.lower()}: {described}.", "".join(parts))


def cumulative_svg(
    points: Sequence[tuple[datetime, int]], *, title: str, hourly: bool, y_label: str
) -> SafeString:
    """A rising step line: ``points`` are (bucket start, running total), in time order."""
    if not points:
        return _frame(title, "Nothing yet.", "")
    bottom, plot_width = HEIGHT - BOTTOM, WIDTH - LEFT - RIGHT
    first, last = points[0][0], points[-1][0]
    span = (last - first).total_seconds() or 1.0
    y_max = max(total for _, total in points)

    def x_of(moment: datetime) -> float:
        return LEFT + plot_width * (moment - first).total_seconds() / span

    def y_of(total: int) -> float:
        return bottom - (bottom - TOP) * total / y_max if y_max else bottom

    path = [f"M{LEFT},{bottom}"]
    for moment, total in points:
        path.append(f"H{x_of(moment):.1f}V{y_of(total):.1f}")
    path.append(f"H{WIDTH - RIGHT}")
    parts = _axes(y_max, y_label, "Time (by hour)" if hourly else "Date (by day)")
    parts.append(f'<path d="{"".join(path)}" fill="none" stroke="{BAR}" stroke-width="2.5"/>')
    for moment, total in points:
        parts.append(
            f'<circle cx="{x_of(moment):.1f}" cy="{y_of(total):.1f}" r="3" fill="{BAR}">'
            f"<title>{escape(_when(moment, hourly))}: {total}</title></circle>"
        )
    # The first and last times, and one between when there is room; anchored inwards at the
    # ends so they stay inside the drawing.
    shown = [(first, "start")] + ([(last, "end")] if len(points) > 1 else [])
    if len(points) > 4:
        shown.append((points[len(points) // 2][0], "middle"))
    for moment, anchor in shown:
        parts.append(
            f'<text x="{x_of(moment):.1f}" y="{bottom + 14}" text-anchor="{anchor}" '
            f'fill="currentColor">{escape(_when(moment, hourly))}</text>'
        )
    described = f"{y_max} by {_when(last, hourly)}, from {_when(first, hourly)}."
    return _frame(title, described, "".join(parts))


def _when(moment: datetime, hourly: bool) -> str:
    return moment.strftime("%d %b %H:00" if hourly else "%d %b %Y")
