"""Plots of one column's two versions as inline SVG, from table profiles only.

Numbers get overlaid histograms (old and new on the same bins, as shares of each side's
values, so a table that doubled in rows is compared by shape); categories get
side-by-side bars of their shares. The data comes from a column entry of a cached
profile (:mod:`mlver.diff.profiler`): exact value counts when the column has at most 1,000
distinct values, else the 10,000-row sample, else the 101 quantiles. No table data is
read here.

Every text drawn (column names, category values) comes from someone's data: it is
escaped, and the SVG uses presentation attributes only (no ``style`` attributes, no
scripts, no links), so it passes a strict Content-Security-Policy.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any
from collections.abc import Sequence

if TYPE_CHECKING:  # pragma: no cover
    from mlver.diff.profiler import ColumnProfile

OLD_COLOR = "#4c78a8"   # blue   } colour-blind safe pair (Tableau 10)
NEW_COLOR = "#f58518"   # orange }
AXIS_COLOR = "#666666"
BINS = 30               # histogram bins (fewer for integers spanning fewer values)
TOP_CATEGORIES = 12     # bars drawn; the rest are summed into one "other" bar
LABEL_CHARS = 28        # a category label longer than this is cut (full text in a tooltip)


def fmt(v: float | None) -> str:
    """A number as a plot shows it: 4 significant digits, thousands grouped."""
    if v is None or not math.isfinite(v):
        return "?"
    if v != 0 and (abs(v) >= 1e7 or abs(v) < 1e-3):
        return f"{v:.3g}"
    if float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:,.4g}" if abs(v) >= 1000 else f"{v:.4g}"


def pct(share: float) -> str:
    """A share as a percentage: one decimal below 10%, none above."""
    p = share * 100
    if p == 0:
        return "0%"
    return f"{p:.1f}%" if p < 10 else f"{p:.0f}%"


# --------------------------------------------------------------------------- data


def _numbers(col: ColumnProfile) -> tuple[Any, Any] | None:
    """(values, weights) of a number column entry: exact counts, else the sample, else
    None (only quantiles)."""
    import numpy as np

    from mlver.diff.profiler import decode_sample

    if col.get("values"):
        return (np.asarray(col["values"]["value"], float),
                np.asarray(col["values"]["count"], float))
    s = decode_sample(col)
    if s is not None and len(s):
        s = s[np.isfinite(s)]
        return s, np.ones(len(s))
    return None


def _quantile_shares(q: Sequence[float], edges: Any) -> Any:
    """Shares per bin of a distribution known by its 101 quantiles (linear between two
    quantiles, as the PSI of a diff reads them)."""
    import numpy as np

    from mlver.diff.drift import cdf

    qa = np.asarray(q, float)
    inner = cdf(qa, np.asarray(edges[1:-1], float))
    cum = np.concatenate(([0.0], inner, [1.0]))
    return np.clip(np.diff(cum), 0.0, None)


def histogram_data(old: ColumnProfile, new: ColumnProfile,
                   bins: int = BINS) -> dict[str, Any] | None:
    """Common bin edges and each side's share per bin for two number column entries, or
    None when a side has no numbers. The range runs from the lower of the two 1st
    percentiles to the higher of the two 99th, so that a few outliers do not squeeze the
    plot; values outside it are counted in the end bins (``clipped`` says so)."""
    import numpy as np

    qo = (old.get("numeric") or {}).get("quantiles")
    qn = (new.get("numeric") or {}).get("quantiles")
    if not qo or not qn or len(qo) != 101 or len(qn) != 101:
        return None
    lo, hi = min(qo[1], qn[1]), max(qo[99], qn[99])
    full_lo, full_hi = min(qo[0], qn[0]), max(qo[100], qn[100])
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        lo, hi = full_lo, full_hi
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    clipped = full_lo < lo or full_hi > hi
    ints = all(_integers(c) for c in (old, new))
    if ints and hi - lo + 1 <= bins:
        lo, hi = math.floor(lo) - 0.5, math.ceil(hi) + 0.5  # one bin per integer
        n = int(round(hi - lo))
    else:
        n = bins
    edges = np.linspace(lo, hi, n + 1)
    shares = []
    for col, q in ((old, qo), (new, qn)):
        data = _numbers(col)
        if data is None:
            shares.append(_quantile_shares(q, edges))
            continue
        values, weights = data
        total = weights.sum()
        h, _ = np.histogram(np.clip(values, lo, hi), bins=edges, weights=weights)
        shares.append(h / total if total else h)
    return {"edges": [float(e) for e in edges], "old": [float(x) for x in shares[0]],
            "new": [float(x) for x in shares[1]], "clipped": bool(clipped),
            "median": (float(qo[50]), float(qn[50]))}


def _integers(col: ColumnProfile) -> bool:
    return str(col.get("type", "")).startswith(("int", "uint"))


def category_data(old: ColumnProfile, new: ColumnProfile,
                  top: int = TOP_CATEGORIES) -> dict[str, Any] | None:
    """Each category's share of the non-missing values on both sides, the ``top`` that
    moved or weigh most first, the rest summed into ``other``. Categories are the
    profile's category counts, or the values of a number column with exact counts (a
    month number, a class id)."""
    a, b = _counts(old), _counts(new)
    if a is None or b is None:
        return None
    ta, tb = sum(a.values()) or 1, sum(b.values()) or 1
    keys = list(dict.fromkeys([*a, *b]))
    rows = [(k, a.get(k, 0) / ta, b.get(k, 0) / tb) for k in keys]
    # the biggest on either side, ties by how much they moved, then by name
    rows.sort(key=lambda r: (-max(r[1], r[2]), -abs(r[2] - r[1]), r[0]))
    shown, rest = rows[:top], rows[top:]
    other = None
    if rest:
        other = {"count": len(rest), "old": sum(r[1] for r in rest),
                 "new": sum(r[2] for r in rest)}
    return {"rows": [{"value": k, "old": o, "new": n} for k, o, n in shown], "other": other,
            "categories": len(keys)}


def _counts(col: ColumnProfile) -> dict[str, float] | None:
    if col.get("categories"):
        return {str(k): float(v) for k, v in col["categories"].items()}
    if col.get("values"):
        from mlver.diff.drift import value_key

        v = col["values"]
        return {value_key(x): float(c) for x, c in zip(v["value"], v["count"], strict=False)}
    return None


# --------------------------------------------------------------------------- drawing


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round numbers between ``lo`` and ``hi``."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out: list[float] = []
    x = first
    while x <= hi + step * 1e-9 and len(out) < 50:
        out.append(round(x, 12))
        x += step
    return out


def _svg_open(width: int, height: int, label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(label)}" font-family="system-ui, sans-serif" '
            f'font-size="11">')


def _legend(x: int, y: int, old_label: str, new_label: str) -> str:
    out = []
    for i, (color, text) in enumerate(((OLD_COLOR, old_label), (NEW_COLOR, new_label))):
        yy = y + i * 15
        out.append(f'<rect x="{x}" y="{yy - 9}" width="10" height="10" fill="{color}" '
                   f'fill-opacity="0.6" stroke="{color}"/>')
        out.append(f'<text x="{x + 15}" y="{yy}" fill="#333">{escape(text)}</text>')
    return "".join(out)


def histogram_svg(data: dict[str, Any], column: str, old_label: str = "old",
                  new_label: str = "new", width: int = 520, height: int = 230) -> str:
    """Overlaid histograms (filled, half transparent, with each side's outline) and a
    dashed line at each side's median."""
    edges, old, new = data["edges"], data["old"], data["new"]
    left, right, top, bottom = 48, 12, 38, 34
    pw, ph = width - left - right, height - top - bottom
    lo, hi = edges[0], edges[-1]
    ymax = max(max(old, default=0), max(new, default=0)) or 1.0
    ymax *= 1.08

    def X(v: float) -> float:
        return float(left + (v - lo) / (hi - lo) * pw)

    def Y(s: float) -> float:
        return top + ph - s / ymax * ph

    parts = [_svg_open(width, height, f"histogram of {column}: old and new"),
             f"<title>{escape(column)}: distribution, old and new</title>"]
    # y grid and labels (share of values)
    for t in _nice_ticks(0, ymax, 4):
        y = Y(t)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#e5e5e5"/>')
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" '
                     f'fill="{AXIS_COLOR}">{pct(t)}</text>')
    for shares, color, name in ((old, OLD_COLOR, "old"), (new, NEW_COLOR, "new")):
        bars, outline = [], [f"M{X(edges[0]):.1f},{Y(0):.1f}"]
        for i, s in enumerate(shares):
            x0, x1 = X(edges[i]), X(edges[i + 1])
            y = Y(s)
            if s > 0:
                bars.append(f"M{x0:.1f},{Y(0):.1f}V{y:.1f}H{x1:.1f}V{Y(0):.1f}Z")
            outline.append(f"V{y:.1f}H{x1:.1f}")
        outline.append(f"V{Y(0):.1f}")
        if bars:
            parts.append(f'<path class="bars-{name}" d="{"".join(bars)}" fill="{color}" '
                         f'fill-opacity="0.38"/>')
        parts.append(f'<path d="{"".join(outline)}" fill="none" stroke="{color}" '
                     f'stroke-width="1.5"/>')
    # medians
    for med, color, name in zip(data.get("median", ()), (OLD_COLOR, NEW_COLOR),
                                ("old", "new"), strict=False):
        if med is not None and lo <= med <= hi:
            parts.append(f'<line x1="{X(med):.1f}" x2="{X(med):.1f}" y1="{top}" '
                         f'y2="{top + ph}" stroke="{color}" stroke-width="1.5" '
                         f'stroke-dasharray="4 3"><title>{name} median {fmt(med)}</title>'
                         f'</line>')
    # x axis
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" '
                 f'stroke="{AXIS_COLOR}"/>')
    for t in _nice_ticks(lo, hi, 6):
        x = X(t)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 4}" '
                     f'stroke="{AXIS_COLOR}"/>')
        parts.append(f'<text x="{x:.1f}" y="{top + ph + 16}" text-anchor="middle" '
                     f'fill="{AXIS_COLOR}">{escape(fmt(t))}</text>')
    note = "share of values per bin; dashed: medians"
    if data.get("clipped"):
        note += "; outermost 1% folded into the end bins"
    parts.append(f'<text x="{left + pw}" y="{height - 4}" text-anchor="end" '
                 f'fill="{AXIS_COLOR}" font-size="10">{escape(note)}</text>')
    parts.append(_legend(left + 6, 14, old_label, new_label))
    parts.append("</svg>")
    return "".join(parts)


def _cut(text: str, n: int = LABEL_CHARS) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def bars_svg(data: dict[str, Any], column: str, old_label: str = "old",
             new_label: str = "new", width: int = 520) -> str:
    """Side-by-side horizontal bars: per category, its share of the old values and of
    the new ones, with the percentages written at the bar ends."""
    rows = list(data["rows"])
    if data.get("other"):
        o = data["other"]
        rows.append({"value": f"other ({o['count']:,} categories)", "old": o["old"],
                     "new": o["new"], "other": True})
    label_w, right = 170, 50
    top, row_h, bar_h = 44, 30, 11
    height = top + row_h * len(rows) + 10
    pw = width - label_w - right
    smax = max([max(r["old"], r["new"]) for r in rows] + [1e-9])

    parts = [_svg_open(width, height, f"shares of the categories of {column}: old and new"),
             f"<title>{escape(column)}: category shares, old and new</title>",
             _legend(label_w, 14, old_label, new_label)]
    for i, r in enumerate(rows):
        y = top + i * row_h
        value = str(r["value"])
        shown = value if r.get("other") else repr(value) if value.strip() != value or not value \
            else value
        parts.append(f'<text x="{label_w - 8}" y="{y + bar_h + 4}" text-anchor="end" '
                     f'fill="#333"><title>{escape(shown)}</title>{escape(_cut(shown))}</text>')
        for j, (key, color) in enumerate((("old", OLD_COLOR), ("new", NEW_COLOR))):
            s = r[key]
            w = s / smax * pw
            yy = y + j * (bar_h + 1)
            parts.append(f'<rect class="bar-{key}" x="{label_w}" y="{yy}" width="{w:.1f}" '
                         f'height="{bar_h}" fill="{color}"><title>{key}: {pct(s)}</title>'
                         f'</rect>')
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{yy + bar_h - 2}" '
                         f'fill="{AXIS_COLOR}" font-size="10">{pct(s)}</text>')
    parts.append(f'<line x1="{label_w}" x2="{label_w}" y1="{top - 4}" '
                 f'y2="{height - 8}" stroke="{AXIS_COLOR}"/>')
    parts.append("</svg>")
    return "".join(parts)


def column_plot(old: ColumnProfile, new: ColumnProfile, kind: str | None, column: str,
                old_label: str = "old", new_label: str = "new") -> str | None:
    """The SVG plot of one column from its two profile entries: bars when the drift test
    treated it as categories (``kind`` "categorical"), else a histogram; None when the
    profiles do not hold what a plot needs."""
    if kind == "categorical":
        cats = category_data(old, new)
        if cats is not None and cats["rows"]:
            return bars_svg(cats, column, old_label, new_label)
        return None
    hist = histogram_data(old, new)
    return histogram_svg(hist, column, old_label, new_label) if hist is not None else None
