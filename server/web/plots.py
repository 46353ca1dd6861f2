"""Plots drawn on the server as SVG: a page carries its plot, and no plotting script is shipped.

Why not a JavaScript library: the pages are for an air-gapped network and must stay light;
a few hundred points per channel draw as one ``<polyline>`` in a few kilobytes, need no licence
to vendor, and show with scripting disabled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 12, 34
#: series this short also get a marker per value
MARKED = 200


@dataclass(frozen=True)
class Point:
    """One value at one time; ``href`` and ``label`` make it a link with a tooltip."""

    at: datetime
    value: float
    href: str | None = None
    label: str = ""


@dataclass(frozen=True)
class Span:
    """A shaded stretch of the time axis (a hold), with what it was."""

    start: datetime
    end: datetime
    label: str


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``low..high``."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    step = 10 ** math.floor(math.log10(raw))
    for nice in (1, 2, 2.5, 5, 10):
        if raw <= nice * step:
            step *= nice
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]


def _bounds(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if high == low:  # a flat line still gets a visible band around it
        pad = abs(low) * 0.05 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.05
    return low - pad, high + pad


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


def _clock(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%H:%M:%S")


def time_plot(
    points: Sequence[Point],
    *,
    title: str,
    units: str | None = None,
    spans: Sequence[Span] = (),
    line: bool = True,
    css_class: str = "plot",
) -> Markup:
    """An SVG plot of ``points`` over time: a polyline (``line``) or linked markers, holds shaded.

    Returns markup ready for a template; an empty series draws a labelled empty frame.
    """
    label = f"{title} ({units})" if units else title
    head = (f'<svg class="{css_class}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-label="{escape(label)}" data-points="{len(points)}">')
    parts = [head, f"<title>{escape(label)}</title>"]
    if not points:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" class="empty">no values</text></svg>')
        return Markup("".join(parts))
    times = [_seconds(p.at) for p in points] + [_seconds(s.start) for s in spans] + [_seconds(s.end) for s in spans]
    t0, t1 = min(times), max(times)
    if t1 == t0:
        t0, t1 = t0 - 1, t1 + 1
    v0, v1 = _bounds([p.value for p in points])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(seconds: float) -> float:
        return LEFT + (seconds - t0) / (t1 - t0) * plot_w

    def y(value: float) -> float:
        return TOP + (1 - (value - v0) / (v1 - v0)) * plot_h

    for span in spans:
        left, right = x(_seconds(span.start)), x(_seconds(span.end))
        parts.append(f'<rect class="held" x="{left:.1f}" y="{TOP}" width="{max(right - left, 1.5):.1f}" '
                     f'height="{plot_h}"><title>{escape(span.label)}</title></rect>')
    parts.append(f'<g class="axis"><line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}"/>'
                 f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>')
    for tick in _ticks(v0, v1):
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
    for tick, anchor in ((t0, "start"), ((t0 + t1) / 2, "middle"), (t1, "end")):
        parts.append(f'<text x="{x(tick):.1f}" y="{HEIGHT - 14}" text-anchor="{anchor}">{_clock(tick)}</text>')
    parts.append(f'<text x="{LEFT + plot_w}" y="{HEIGHT - 2}" text-anchor="end">UTC</text></g>')
    coordinates = [(x(_seconds(p.at)), y(p.value)) for p in points]
    if line:
        drawn = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coordinates)
        parts.append(f'<polyline class="series" points="{drawn}"/>')
    for (cx, cy), point in zip(coordinates, points):
        if line and len(points) > MARKED and point.href is None:
            continue  # a long series reads as its line alone
        tip = f"<title>{escape(point.label or f'{point.value:g}')}</title>"
        mark = f'<circle class="mark" cx="{cx:.1f}" cy="{cy:.1f}" r="4">{tip}</circle>'
        parts.append(f'<a href="{escape(point.href)}">{mark}</a>' if point.href else mark)
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Mark:
    """An instant on a timeline bar (a steer, the ending), with what happened."""

    at: datetime
    kind: str
    label: str


def timeline_bar(segments: Sequence[tuple[str, datetime, datetime, str]], marks: Sequence[Mark]) -> Markup:
    """A run's life as one bar: a rectangle per stretch (``kind`` is its class), a tick per mark.

    ``segments`` are ``(kind, start, end, label)``; widths are proportional to time, with a
    minimum so that a brief stretch stays visible.
    """
    height, bar_top, bar_h = 64, 14, 26
    plot_w = WIDTH - LEFT - RIGHT
    parts = [f'<svg class="timeline" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="run timeline">']
    if not segments:
        return Markup(parts[0] + "</svg>")
    t0 = min(_seconds(start) for _, start, _, _ in segments)
    t1 = max(_seconds(end) for _, _, end, _ in segments)
    t1 = t1 if t1 > t0 else t0 + 1

    def x(moment: datetime) -> float:
        return LEFT + (_seconds(moment) - t0) / (t1 - t0) * plot_w

    for kind, start, end, label in segments:
        left = x(start)
        parts.append(f'<rect class="segment {escape(kind)}" x="{left:.1f}" y="{bar_top}" '
                     f'width="{max(x(end) - left, 2):.1f}" height="{bar_h}"><title>{escape(label)}</title></rect>')
    for mark in marks:
        cx = x(mark.at)
        parts.append(f'<g class="mark {escape(mark.kind)}"><line x1="{cx:.1f}" y1="{bar_top - 8}" x2="{cx:.1f}" '
                     f'y2="{bar_top + bar_h + 4}"/><path d="M{cx - 5:.1f},{bar_top - 12} h10 l-5,7 z"/>'
                     f'<title>{escape(mark.label)}</title></g>')
    parts.append(f'<text x="{LEFT}" y="{height - 6}">{_clock(t0)}</text>'
                 f'<text x="{LEFT + plot_w}" y="{height - 6}" text-anchor="end">{_clock(t1)} UTC</text></svg>')
    return Markup("".join(parts))
