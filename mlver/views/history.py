"""Metric history: each numeric metric over the versions of one name, as inline SVG line
charts (the report's "Metric history" section, the UI's name and record pages).

The points come from the records alone (their ``metrics``), never from data. A record's
metrics may be someone else's: names are escaped, values that are not finite numbers
are left out, and the work is bounded (:data:`MAX_METRICS` charts, :data:`MAX_POINTS`
versions, newest kept).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from mlver.core.params import flatten
from mlver.core.record import Record
from mlver.views.svg import AXIS_COLOR, NEW_COLOR, OLD_COLOR, fmt

MAX_METRICS = 12   # charts drawn per name (the others are named in one line)
MAX_POINTS = 200   # versions per chart (the newest)

Points = list[tuple[int, float]]  # (version, value), oldest first


def metric_points(records: Iterable[Record]) -> dict[str, Points]:
    """Dotted metric name -> (version, value) of each record that has it as a finite
    number, oldest version first; booleans are not numbers here."""
    out: dict[str, Points] = {}
    for rec in sorted(records, key=lambda r: r.version)[-MAX_POINTS:]:
        for k, v in flatten(dict(rec.metrics)).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                out.setdefault(k, []).append((rec.version, float(v)))
    return dict(sorted(out.items()))


def history_svg(metric: str, points: Points, marked: Sequence[int] = (),
                width: int = 420, height: int = 170) -> str:
    """One metric's line chart over versions; versions in ``marked`` (the two a report
    compares, the record shown) drawn as larger orange dots."""
    left, right, top, bottom = 56, 14, 22, 30
    pw, ph = width - left - right, height - top - bottom
    xs = [v for v, _ in points]
    ys = [y for _, y in points]
    x0, x1 = min(xs), max(xs)
    lo, hi = min(ys), max(ys)
    pad = (hi - lo) * 0.08 or (abs(hi) or 1) * 0.05  # the dots clear of the axes
    y0, y1 = lo - pad, hi + pad

    def X(v: float) -> float:
        return left + (pw / 2 if x1 == x0 else (v - x0) / (x1 - x0) * pw)

    def Y(v: float) -> float:
        return top + ph - (v - y0) / (y1 - y0) * ph

    label = f"{metric} over versions"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart history" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(label)}" font-family="system-ui, sans-serif" font-size="11">',
           f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" '
           f'stroke="{AXIS_COLOR}"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="{AXIS_COLOR}"/>']
    for v in dict.fromkeys((lo, (lo + hi) / 2, hi)):
        out.append(f'<text x="{left - 4}" y="{Y(v) + 4:.1f}" text-anchor="end" '
                   f'fill="#333">{escape(fmt(v))}</text>')
    ticks = xs if len(xs) <= 8 else xs[::math.ceil(len(xs) / 8)] + [xs[-1]]
    for v in dict.fromkeys(ticks):
        out.append(f'<text x="{X(v):.1f}" y="{top + ph + 14}" text-anchor="middle" '
                   f'fill="#333">{v}</text>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 3}" text-anchor="middle" '
               f'fill="{AXIS_COLOR}">version</text>')
    line = " ".join(f"{X(v):.1f},{Y(y):.1f}" for v, y in points)
    out.append(f'<polyline points="{line}" fill="none" stroke="{OLD_COLOR}" '
               'stroke-width="1.6"/>')
    for v, y in points:
        big = v in marked
        out.append(f'<circle cx="{X(v):.1f}" cy="{Y(y):.1f}" r="{4.5 if big else 2.8}" '
                   f'fill="{NEW_COLOR if big else OLD_COLOR}"><title>@{v}: '
                   f"{escape(fmt(y))}</title></circle>")
    out.append("</svg>")
    return "".join(out)


def history_html(name: str, records: Iterable[Record], marked: Sequence[int] = (),
                 metrics: Sequence[str] | None = None) -> str:
    """The figures of every numeric metric of ``name``'s versions (only ``metrics`` when
    given), or a line saying there is none."""
    points = metric_points(records)
    if metrics is not None:
        points = {k: p for k, p in points.items() if k in metrics}
    if not points:
        return f'<p class="muted">no numeric metric recorded by the versions of {escape(name)}</p>'
    shown = list(points.items())[:MAX_METRICS]
    figs = [f'<figure class="history" data-metric="{escape(k, quote=True)}" '
            f'data-points="{len(p)}"><figcaption><code>{escape(k)}</code> over '
            f"{len(p)} version{'s' if len(p) != 1 else ''} of {escape(name)}</figcaption>"
            f"{history_svg(k, p, marked)}</figure>" for k, p in shown]
    more = len(points) - len(shown)
    tail = (f'<p class="muted">+{more} more metric{"s" if more != 1 else ""}: '
            + escape(", ".join(list(points)[MAX_METRICS:MAX_METRICS + 20])) + "</p>"
            if more > 0 else "")
    return '<div class="plots histories">' + "".join(figs) + "</div>" + tail


def name_records(items: Iterable[tuple[str, Any]]) -> list[Record]:
    """The records of ``(oid, record)`` pairs as a log lists them."""
    return [r for _, r in items if isinstance(r, Record)]
