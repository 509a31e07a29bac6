"""The UI's lineage drawing: every edge, and every edge's label, stays clear of the boxes,
including an edge that skips a layer (it used to run behind the box in between)."""

from __future__ import annotations

import re

import pytest

from mlver.web.dag import NODE_H, NODE_W, layout, lineage_svg, route


def _graph(edges):
    names = sorted({x for ed in edges for x in ed})
    nodes = [{"oid": n, "name": n, "version": 1, "kind": "dataset"} for n in names]
    return {"nodes": nodes, "edges": [{"from": a, "to": b, "slot": f"{a}-{b}", "oid": "0" * 32}
                                      for a, b in edges]}


def _boxes(svg):
    return [(float(x), float(y)) for x, y in re.findall(r'<rect x="([\d.]+)" y="([\d.]+)"', svg)]


def _inside(x, y, boxes, pad=1.0):
    return any(bx - pad <= x <= bx + NODE_W + pad and by - pad <= y <= by + NODE_H + pad
               for bx, by in boxes)


@pytest.mark.parametrize("edges", [
    [("a", "b"), ("b", "c"), ("a", "c")],                               # skips one layer
    [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"), ("x", "b"), ("x", "c"), ("x", "d")],
    [("a", "b"), ("a", "b2"), ("a", "b3"), ("b", "c"), ("b2", "c"), ("b3", "c"), ("a", "c")],
])
def test_edges_that_skip_layers_never_cross_a_box(edges):
    graph = _graph(edges)
    svg = lineage_svg("a", graph, {})
    boxes = _boxes(svg)
    for path, lx, ly in re.findall(r'<path d="(M[^"]+)"[^>]*/><text x="([\d.]+)" y="([\d.]+)"',
                                   svg):
        # the level runs across layers (L segments) pass outside every box
        for seg in re.findall(r"L([\d.]+),([\d.]+)", path):
            x_end, y = float(seg[0]), float(seg[1])
            for x in (x_end - NODE_W + 1, x_end - NODE_W / 2, x_end - 1):
                assert not _inside(x, y, boxes), (path, boxes)
        # every curve ends at a box's side or at the start of a level run, and the label
        # (its baseline and a few pixels above it) is in a gap
        assert not _inside(float(lx), float(ly), boxes, pad=0)
        assert not _inside(float(lx), float(ly) - 8, boxes, pad=0)


def test_a_skip_edge_is_routed_and_a_neighbour_edge_is_one_curve():
    graph = _graph([("a", "b"), ("b", "c"), ("a", "c")])
    pos = layout(graph["nodes"], graph["edges"])
    d_skip, _ = route(pos, "a", "c")
    d_next, _ = route(pos, "a", "b")
    assert d_skip.count("L") == 1 and d_skip.count("C") == 2
    assert d_next.count("L") == 0 and d_next.count("C") == 1
    # the straight line from a to c would run through b (they share a row)
    assert pos["a"][1] == pos["b"][1] == pos["c"][1]
