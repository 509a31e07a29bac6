"""The lineage drawing of ``mlver ui``: a layered DAG in SVG, producers left of consumers.

Every edge stays visible: an edge between neighbouring layers is a plain curve through the
gap between them; an edge that skips layers is routed through a free channel of each layer
it crosses (a gap between two boxes, or above or below them), never behind a box, and its
label sits in the first gap, where no box is.
"""

from __future__ import annotations

from html import escape
from typing import Any
from mlver.base.fmt import version_label

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 190, 50, 70, 22, 16
KIND_COLORS = {"model": ("#fdebd3", "#e07b00"), "dataset": ("#dde8f3", "#4c78a8")}
OTHER_COLOR = ("#eeeeee", "#888888")


def layout(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]
           ) -> dict[str, tuple[float, float]]:
    """Positions (x, y) of the nodes of a DAG, producers left of consumers: layers by the
    longest path from a source (a cycle in a tampered index is cut), then each layer
    ordered by the mean position of its neighbours (a few sweeps both ways)."""
    ids = [n["oid"] for n in sorted(nodes, key=lambda n: (str(n.get("name")),
                                                          n.get("version") or 0))]
    known = set(ids)
    preds: dict[str, set[str]] = {i: set() for i in ids}
    succs: dict[str, set[str]] = {i: set() for i in ids}
    for ed in edges:
        a, b = ed["from"], ed["to"]
        if a in known and b in known and a != b:
            preds[b].add(a)
            succs[a].add(b)
    # Kahn's order; what a cycle leaves over is appended as is
    indeg = {i: len(preds[i]) for i in ids}
    queue = [i for i in ids if indeg[i] == 0]
    order: list[str] = []
    seen: set[str] = set()
    while queue:
        i = queue.pop(0)
        order.append(i)
        seen.add(i)
        for s in sorted(succs[i], key=ids.index):
            indeg[s] -= 1
            if indeg[s] == 0:
                queue.append(s)
    order += [i for i in ids if i not in seen]
    rank = {i: k for k, i in enumerate(order)}
    layer: dict[str, int] = {}
    for i in order:
        layer[i] = max((layer[p] + 1 for p in preds[i] if p in layer and rank[p] < rank[i]),
                       default=0)
    layers: dict[int, list[str]] = {}
    for i in order:
        layers.setdefault(layer[i], []).append(i)
    pos = {i: float(k) for L in layers.values() for k, i in enumerate(L)}
    top = max(layers) if layers else 0
    for _ in range(4):
        for rng, nb in ((range(1, top + 1), preds), (range(top - 1, -1, -1), succs)):
            for L in rng:
                row = layers[L]

                def bary(i: str, nb: dict[str, set[str]] = nb) -> float:
                    # nb bound now: the sort below runs before the loop moves on
                    ns = [pos[n] for n in nb[i] if n in pos]
                    return sum(ns) / len(ns) if ns else pos[i]
                row.sort(key=lambda i: (bary(i), pos[i]))
                for k, i in enumerate(row):
                    pos[i] = float(k)
    tallest = max((len(L) for L in layers.values()), default=1)
    out: dict[str, tuple[float, float]] = {}
    for L, row in layers.items():
        offset = (tallest - len(row)) * (NODE_H + GAP_Y) / 2
        for k, i in enumerate(row):
            out[i] = (MARGIN + L * (NODE_W + GAP_X), MARGIN + offset + k * (NODE_H + GAP_Y))
    return out


def e(value: Any) -> str:
    """``value`` as escaped HTML text (names and slots can come from someone else's store)."""
    return escape(str(value), quote=True)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _column(pos: dict[str, tuple[float, float]], x: float) -> list[float]:
    """The top y of every box whose left side is at ``x`` (one layer), sorted."""
    return sorted(y for bx, y in pos.values() if abs(bx - x) < 0.5)


def _channel(tops: list[float], want: float) -> float:
    """The y nearest ``want`` at which a line crosses a layer without touching its boxes:
    the middle of a gap between two boxes, or a half gap above the first or below the last."""
    free = [tops[0] - GAP_Y / 2] + [t + NODE_H + GAP_Y / 2 for t in tops]
    clear = [y for y in free if all(not (t - 2 <= y <= t + NODE_H + 2) for t in tops)]
    return min(clear or free, key=lambda y: (abs(y - want), y))


def _curve(x1: float, y1: float, x2: float, y2: float) -> str:
    mid = (x1 + x2) / 2
    return f"C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"


def route(pos: dict[str, tuple[float, float]], a: str, b: str,
          nudge: float = 0.0) -> tuple[str, tuple[float, float]]:
    """The SVG path of the edge ``a -> b`` and where its label goes.

    Across each layer between the two ends the path runs level (an ``L`` segment) in a
    channel free of boxes; between layers it bends (``C`` segments) inside the gaps."""
    (x1, y1), (x2, y2) = pos[a], pos[b]
    sx, sy = x1 + NODE_W, y1 + NODE_H / 2 + nudge
    tx, ty = x2, y2 + NODE_H / 2 + nudge
    if tx <= sx:  # a back edge (only in a tampered index): loop around below
        d = (f"M{sx:.1f},{sy:.1f}C{sx + 60:.1f},{sy + 80:.1f} {tx - 60:.1f},{ty + 80:.1f} "
             f"{tx:.1f},{ty:.1f}")
        return d, ((sx + tx) / 2, (sy + ty) / 2 - 4)
    parts = [f"M{sx:.1f},{sy:.1f}"]
    x, y = sx, sy
    lx = x1 + NODE_W + GAP_X
    while lx < tx - 0.5:  # every layer strictly between the two ends
        tops = _column(pos, lx)
        want = sy + (ty - sy) * (lx - sx) / (tx - sx)
        cy = _channel(tops, want) if tops else want
        parts.append(_curve(x, y, lx, cy))
        parts.append(f"L{lx + NODE_W:.1f},{cy:.1f}")
        x, y = lx + NODE_W, cy
        lx += NODE_W + GAP_X
    parts.append(_curve(x, y, tx, ty))
    first_x = sx + GAP_X / 2
    if x == sx:  # neighbouring layers: the middle of the one curve
        label = ((sx + tx) / 2, (sy + ty) / 2 - 4)
    else:  # the first gap, at the height the path has there
        label = (first_x, (sy + _first_y(parts)) / 2 - 4)
    return "".join(parts), label


def _first_y(parts: list[str]) -> float:
    """The y at which the first curve of a routed path ends."""
    return float(parts[1].rsplit(",", 1)[1])


def lineage_svg(root: str, graph: dict[str, Any],
                outcomes: dict[str, tuple[str, Any]]) -> str:
    """The lineage graph as an SVG drawing: one box per record (linking to its page), one
    routed edge per content link, labelled with the slot. ``outcomes``: each record's run
    outcome (``ok``, ``failed`` or ``damaged``) and exit code; a failed run is dashed."""
    nodes, edges = graph["nodes"], graph["edges"]
    pos = layout(nodes, edges)
    width = int(max((x for x, _ in pos.values()), default=0) + NODE_W + 2 * MARGIN)
    height = int(max((y for _, y in pos.values()), default=0) + NODE_H + 2 * MARGIN + GAP_Y)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="lineage-graph" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="lineage graph" font-family="system-ui, sans-serif" font-size="12">'
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" '
             'fill="#888"/></marker></defs>']
    pair_count: dict[tuple[str, str], int] = {}
    for ed in edges:
        a, b = ed["from"], ed["to"]
        if a not in pos or b not in pos:
            continue
        k = pair_count.get((a, b), 0)
        pair_count[(a, b)] = k + 1
        d, (lx, ly) = route(pos, a, b, (k % 3 - 1) * 6 * (k > 0))
        parts.append(f'<g class="edge" data-from="{e(a)}" data-to="{e(b)}" '
                     f'data-slot="{e(ed["slot"])}"><title>{e(ed["slot"])}: content '
                     f'{e(ed["oid"][:12])}</title><path d="{d}" fill="none" stroke="#999" '
                     'stroke-width="1.4" marker-end="url(#arrow)"/>'
                     f'<text x="{lx:.1f}" y="{ly:.1f}" '
                     f'text-anchor="middle" fill="#777" font-size="10">{e(_short(ed["slot"], 10))}'
                     "</text></g>")
    for n in nodes:
        oid = n["oid"]
        if oid not in pos:
            continue
        x, y = pos[oid]
        fill, stroke = KIND_COLORS.get(n.get("kind") or "", OTHER_COLOR)
        st, code = outcomes.get(oid, ("ok", None))
        failed = st == "failed"
        label = version_label(n.get('name'), n.get('version'))
        extra = ' stroke-dasharray="5 3"' if failed else ""
        width_ = 3 if oid == root else 1.5
        line2 = f"{n.get('kind') or 'record'}"
        if failed:
            line2 += f" · FAILED (exit {code})"
        if oid == root:
            line2 += " · this version"
        parts.append(f'<a href="/record/{e(oid)}" class="node{" failed" if failed else ""}'
                     f'{" root" if oid == root else ""}" data-oid="{e(oid)}" '
                     f'data-kind="{e(n.get("kind") or "")}">'
                     f"<title>{e(label)} ({e(n.get('kind') or 'record')}"
                     f"{', FAILED' if failed else ''}) {e(oid[:12])}</title>"
                     f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="7" '
                     f'fill="{fill}" stroke="{"#c0392b" if failed else stroke}" '
                     f'stroke-width="{width_}"{extra}/>'
                     f'<text x="{x + 10:.1f}" y="{y + 20:.1f}" font-weight="600" fill="#222">'
                     f"{e(_short(label, 24))}</text>"
                     f'<text x="{x + 10:.1f}" y="{y + 37:.1f}" '
                     f'fill="{"#c0392b" if failed else "#555"}" font-size="11">{e(line2)}</text>'
                     "</a>")
    parts.append("</svg>")
    return "".join(parts)
