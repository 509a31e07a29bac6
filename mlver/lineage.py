"""Lineage: the graph of records linked by the content they share.

No declaration is needed: when an output of one record has the same oid as an
input of another, the first is upstream of the second. The index keeps one
edge row per (record, input/output, slot) for the whole slot and for each
file and sub-tree below it, so a model trained on a sub-folder or one file of a
prepared dataset still links to the dataset's record. Two rows link when their oids are equal
and at least one of them is a whole slot (two unrelated folders sharing an
identical sub-folder are not linked). Traversal is breadth-first with a
visited set, so even a tampered index with a cycle terminates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ConfigError
from .store.graph import Graph

if TYPE_CHECKING:
    import pandas

COLUMNS = ["oid", "name", "version", "kind", "relation", "depth", "slot", "path", "via", "linked_to"]


@dataclass(frozen=True)
class Link:
    """One edge: ``producer`` made content ``oid`` that ``consumer`` took as ``slot``."""

    producer: str
    consumer: str
    slot: str
    path: str
    oid: str


def check_depth(depth: int | None) -> None:
    if depth is not None and depth < 0:
        raise ConfigError(f"--depth {depth} is negative; give 0 or more (or leave it out)")


def traverse(graph: Graph, start: str, direction: str, depth: int | None = None):
    """Breadth-first walk: ``(found {oid: (depth, Link)}, links)`` up or down from ``start``."""
    check_depth(depth)
    found: dict[str, tuple[int, Link]] = {}
    links: list[Link] = []
    seen_links: set[tuple] = set()
    frontier, level = [start], 0
    while frontier and (depth is None or level < depth):
        level += 1
        nxt = []
        for a, b, slot, path, oid in graph.neighbours(frontier, direction):
            link = Link(b, a, slot, path, oid) if direction == "upstream" else Link(a, b, slot, path, oid)
            key = (link.producer, link.consumer, slot, oid)
            if key not in seen_links:
                seen_links.add(key)
                links.append(link)
            if b != start and b not in found:
                found[b] = (level, link)
                nxt.append(b)
        frontier = nxt
    return found, links


class Lineage:
    """Lineage queries around one record; results are pandas DataFrames."""

    def __init__(self, graph: Graph, oid: str) -> None:
        self._graph, self.oid = graph, oid

    def _frame(self, direction: str, depth: int | None):
        import pandas as pd

        found, _ = traverse(self._graph, self.oid, direction, depth)
        about = self._graph.describe(list(found))
        rows = [[oid, *about.get(oid, (None, None, None)), direction, d, link.slot, link.path,
                 link.oid, link.consumer if direction == "upstream" else link.producer]
                for oid, (d, link) in found.items()]
        df = pd.DataFrame(rows, columns=COLUMNS)
        return df.sort_values(["depth", "name", "version"], kind="stable").reset_index(drop=True)

    def upstream(self, depth: int | None = None):
        """Records whose outputs this one consumed, transitively (``depth`` levels at most)."""
        return self._frame("upstream", depth)

    def downstream(self, depth: int | None = None):
        """Records that consumed this one's outputs, transitively."""
        return self._frame("downstream", depth)

    def graph(self, direction: str = "both", depth: int | None = None) -> dict:
        """``{"nodes": [...], "edges": [...]}`` around this record (the JSON export)."""
        nodes = {self.oid}
        links: list[Link] = []
        for d in (("upstream", "downstream") if direction == "both" else (direction,)):
            found, ls = traverse(self._graph, self.oid, d, depth)
            nodes |= set(found)
            links += ls
        about = self._graph.describe(sorted(nodes))
        out_nodes = [{"oid": oid, "name": name, "version": version, "kind": kind}
                     for oid, (name, version, kind) in sorted(about.items())]
        edges = sorted({(link.producer, link.consumer, link.slot, link.oid) for link in links})
        return {"root": self.oid, "nodes": out_nodes,
                "edges": [{"from": a, "to": b, "slot": s, "oid": o} for a, b, s, o in edges]}


def content_frame(graph: Graph, oid: str, relation: str):
    """Records that took (``input``) or made (``output``) content ``oid``, as a DataFrame."""
    import pandas as pd

    found = graph.records_with(oid, relation)
    about = graph.describe([r for r, _, _ in found])
    rows = [[rec, *about.get(rec, (None, None, None)), relation, 0, slot, path, oid, None]
            for rec, slot, path in found]
    return pd.DataFrame(rows, columns=COLUMNS)


def records_frame(records: list) -> "pandas.DataFrame":
    """One row per ``(oid, record)``: name, version, kind, created, commit, message,
    status, and each param and metric as a ``params.KEY`` / ``metrics.KEY`` column."""
    import pandas as pd

    from .capture.params import flatten

    rows = []
    for oid, rec in records:
        row = {"oid": oid, "name": rec.name, "version": rec.version, "kind": rec.kind,
               "created": pd.Timestamp(rec.created), "commit": rec.code.commit,
               "message": rec.message, "status": rec.status}
        row.update({f"params.{k}": v for k, v in flatten(rec.params).items()})
        row.update({f"metrics.{k}": v for k, v in flatten(rec.metrics).items()})
        rows.append(row)
    base = ["oid", "name", "version", "kind", "created", "commit", "message", "status"]
    return pd.DataFrame(rows, columns=None if rows else base)
