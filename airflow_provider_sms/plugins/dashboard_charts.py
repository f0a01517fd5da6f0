"""Server-side SVG charts for the "SMS & Voice" page: no JavaScript library, no network.

Each chart is an ``<svg>`` whose marks carry their numbers (``data-series``, ``data-label``,
``data-value``) and a ``<title>`` tooltip; colours come from CSS classes (``c-<name>``) that
the page's stylesheet defines for light and dark mode. Every label is HTML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 34
MAX_X_LABELS = 8
MAX_BAR_WIDTH = 60


@dataclass(frozen=True)
class Series:
    """One named series: its CSS colour class and one value per x label (``None``: no value)."""

    name: str
    css: str
    values: Sequence[float | None]


def nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is >= ``value`` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _fmt(value: float, percent: bool = False) -> str:
    if percent:
        return f"{100 * value:.1f}%".replace(".0%", "%")
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _frame(y_max: float, percent: bool, labels: Sequence[str], x_of: list[float]) -> list[str]:
    """Grid lines, y ticks and (thinned) x labels."""
    parts = []
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(3):
        value = y_max * i / 2
        y = TOP + plot_h - plot_h * i / 2
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        tick = _fmt(value, percent)
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    step = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    for index in range(0, len(labels), step):
        parts.append(
            f'<text class="tick" x="{x_of[index]:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{escape(labels[index])}</text>"
        )
    return parts


def _svg(kind: str, title: str, body: list[str]) -> str:
    return (
        f'<svg class="chart-svg" data-kind="{kind}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">' + "".join(body) + "</svg>"
    )


def _mark(shape: str, series: Series, label: str, value: float, attrs: str, percent: bool = False) -> str:
    tip = f"{label} · {series.name}: {_fmt(value, percent)}"
    return (
        f'<{shape} class="mark {series.css}" data-series="{escape(series.name)}" '
        f'data-label="{escape(label)}" data-value="{value:g}" {attrs}><title>{escape(tip)}</title></{shape}>'
    )


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, stacked: bool = True) -> str:
    """Vertical bars per label: stacked series, or side by side when ``stacked`` is False."""
    count = max(len(labels), 1)
    slot = (WIDTH - LEFT - RIGHT) / count
    totals = [
        sum(s.values[i] or 0 for s in series)
        if stacked
        else max((s.values[i] or 0 for s in series), default=0)
        for i in range(len(labels))
    ]
    y_max = nice_max(max(totals, default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    x_of = [LEFT + slot * (i + 0.5) for i in range(len(labels))]
    body = _frame(y_max, False, labels, x_of)
    bar_w = max(1.0, min(slot * 0.7, MAX_BAR_WIDTH))
    for i, label in enumerate(labels):
        base = 0.0
        for j, s in enumerate(series):
            value = s.values[i] or 0
            if value <= 0:
                continue
            height = plot_h * value / y_max
            if stacked:
                x, w, y = x_of[i] - bar_w / 2, bar_w, TOP + plot_h - plot_h * base / y_max - height
                base += value
            else:
                w = bar_w / len(series)
                x, y = x_of[i] - bar_w / 2 + j * w, TOP + plot_h - height
            attrs = f'x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{height:.1f}"'
            body.append(_mark("rect", s, label, value, attrs))
    return _svg("bars", title, body)


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], *, percent: bool = True) -> str:
    """Lines over the labels (a gap where a value is ``None``); shares from 0 to 100% when ``percent``."""
    values = [v for s in series for v in s.values if v is not None]
    y_max = nice_max(max(values, default=0))
    if percent:
        y_max = min(1.0, y_max)
    plot_h = HEIGHT - TOP - BOTTOM
    count = max(len(labels), 1)
    slot = (WIDTH - LEFT - RIGHT) / count
    x_of = [LEFT + slot * (i + 0.5) for i in range(len(labels))]
    lines: list[str] = []
    marks: list[str] = []
    for s in series:
        segments: list[list[str]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                segments.append([])
                continue
            y = TOP + plot_h - plot_h * min(value, y_max) / y_max
            segments[-1].append(f"{x_of[i]:.1f},{y:.1f}")
            attrs = f'cx="{x_of[i]:.1f}" cy="{y:.1f}" r="3.5"'
            marks.append(_mark("circle", s, labels[i], value, attrs, percent))
        lines += [f'<polyline class="line {s.css}" points="{" ".join(p)}"/>' for p in segments if len(p) > 1]
    return _svg("lines", title, _frame(y_max, percent, labels, x_of) + lines + marks)


def funnel_chart(title: str, rows: Sequence[tuple[str, str, Sequence[Series]]]) -> str:
    """One horizontal stacked bar per row ``(label, key, parts)``, each part a share of the row's total.

    The row's ``key`` (a run id) is each mark's ``data-key``.
    """
    row_h, left = 44, 8
    height = TOP + len(rows) * row_h
    body = []
    for index, (label, key, parts) in enumerate(rows):
        total = sum(p.values[0] or 0 for p in parts) or 1
        y = TOP + index * row_h
        body.append(f'<text class="tick row-label" x="{left}" y="{y + 12}">{escape(label)}</text>')
        x = float(left)
        for part in parts:
            value = part.values[0] or 0
            if value <= 0:
                continue
            w = (WIDTH - RIGHT - left) * value / total
            attrs = f'data-key="{escape(key)}" x="{x:.1f}" y="{y + 18}" width="{w:.1f}" height="{row_h - 24}"'
            body.append(_mark("rect", part, label, value, attrs))
            x += w
    svg = _svg("funnel", title, body)
    return svg.replace(f'viewBox="0 0 {WIDTH} {HEIGHT}"', f'viewBox="0 0 {WIDTH} {height}"', 1)


def legend(series: Sequence[Series]) -> str:
    """The colour key of a chart, as an HTML list."""
    items = "".join(f'<li><span class="swatch {s.css}"></span>{escape(s.name)}</li>' for s in series)
    return f'<ul class="legend">{items}</ul>'
