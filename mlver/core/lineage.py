"""Lineage: the graph of records linked by the content they share.

No declaration is needed: when an output of one record has the same oid as an
input of another, the first is upstream of the second; and a record that took
one sub-folder or one file of another's output folder (or whose input folder
holds another's whole output) links to it too, at any depth and for folders of
any size. Two unrelated folders that share an identical sub-folder are not
linked: one side of a link is always a whole slot. The index keeps that graph
(see :mod:`mlver.store.graph`, which holds every SQL statement); this module
gives it meaning: links, breadth-first traversal with a visited set (so even a
tampered index with a cycle terminates) and the DataFrames of the Python API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from mlver.base.display import Displayable
from mlver.base.errors import ConfigError, UsageError
from mlver.store.graph import Graph

if TYPE_CHECKING:
    import pandas

    from mlver.core.record import Record

COLUMNS = ["oid", "name", "version", "kind", "relation", "depth", "slot", "path", "via",
           "linked_to"]


@dataclass(frozen=True)
class Link:
    """One edge: ``producer`` made content ``oid`` that ``consumer`` took as ``slot``."""

    producer: str
    consumer: str
    slot: str
    path: str
    oid: str


class Reached(NamedTuple):
    """How a walk first reached a record: at ``depth`` levels from the start, by ``link``."""

    depth: int
    link: Link


class Walk(NamedTuple):
    """What :func:`traverse` found: ``found`` {oid: :class:`Reached`} and every link
    crossed (each once). A named tuple, so ``found, links = traverse(...)`` reads it."""

    found: dict[str, Reached]
    links: list[Link]


@dataclass(frozen=True)
class GraphNode:
    """A record of a lineage graph (``name``, ``version``, ``kind`` as the index has them)."""

    oid: str
    name: str
    version: int
    kind: str | None

    def to_dict(self) -> dict[str, Any]:
        """The node as the JSON export writes it."""
        return {"oid": self.oid, "name": self.name, "version": self.version, "kind": self.kind}


@dataclass(frozen=True)
class GraphEdge:
    """``producer`` made content ``oid`` that ``consumer`` took as ``slot``."""

    producer: str
    consumer: str
    slot: str
    oid: str

    def to_dict(self) -> dict[str, Any]:
        """The edge as the JSON export writes it (``from``/``to``)."""
        return {"from": self.producer, "to": self.consumer, "slot": self.slot, "oid": self.oid}


@dataclass(frozen=True)
class LineageGraph:
    """The records and links around ``root``: nodes sorted by oid, edges sorted and unique."""

    root: str
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"root", "nodes", "edges"}``: the JSON export and :meth:`Lineage.graph`."""
        return {"root": self.root, "nodes": [n.to_dict() for n in self.nodes],
                "edges": [e.to_dict() for e in self.edges]}


def check_depth(depth: int | None) -> None:
    """Refuse a negative ``--depth`` (None: no limit)."""
    if depth is not None and depth < 0:
        raise UsageError(f"--depth {depth} is negative; give 0 or more (or leave it out)")


def traverse(graph: Graph, start: str, direction: str, depth: int | None = None) -> Walk:
    """Breadth-first walk: ``(found {oid: (depth, Link)}, links)`` up or down from ``start``.

    Each level is one :meth:`Graph.neighbours` step over the whole frontier; a record is
    visited once (its first link, in the step's order, is the one reported), so a cycle in
    a tampered index still ends.
    """
    check_depth(depth)
    if direction not in ("upstream", "downstream"):
        raise ConfigError(f"direction {direction!r} is not upstream or downstream; "
                          "give one of them (graph() also takes both)")
    up = direction == "upstream"
    found: dict[str, Reached] = {}
    links: list[Link] = []
    seen_links: set[tuple[str, str, str, str]] = set()
    frontier, level = [start], 0
    while frontier and (depth is None or level < depth):
        level += 1
        nxt: list[str] = []
        for row in graph.neighbours(frontier, "upstream" if up else "downstream"):
            link = Link(*row)
            key = (link.producer, link.consumer, link.slot, link.oid)
            if key not in seen_links:
                seen_links.add(key)
                links.append(link)
            other = link.producer if up else link.consumer
            if other != start and other not in found:
                found[other] = Reached(level, link)
                nxt.append(other)
        frontier = nxt
    return Walk(found, links)


class Lineage(Displayable):
    """Lineage queries around one record; results are pandas DataFrames. A notebook shows
    it as the table of its links (``_repr_html_``)."""

    def __init__(self, graph: Graph, oid: str) -> None:
        self._graph, self.oid = graph, oid

    def _frame(self, direction: str, depth: int | None) -> Any:
        import pandas as pd

        found, _ = traverse(self._graph, self.oid, direction, depth)
        about = self._graph.describe(list(found))
        rows = [[oid, *about.get(oid, (None, None, None)), direction, d, link.slot, link.path,
                 link.oid, link.consumer if direction == "upstream" else link.producer]
                for oid, (d, link) in found.items()]
        df = pd.DataFrame(rows, columns=COLUMNS)
        return df.sort_values(["depth", "name", "version"], kind="stable").reset_index(drop=True)

    def upstream(self, depth: int | None = None) -> Any:
        """Records whose outputs this one consumed, transitively (``depth`` levels at most)."""
        return self._frame("upstream", depth)

    def downstream(self, depth: int | None = None) -> Any:
        """Records that consumed this one's outputs, transitively."""
        return self._frame("downstream", depth)

    def graph(self, direction: str = "both", depth: int | None = None) -> dict[str, Any]:
        """``{"root": oid, "nodes": [...], "edges": [...]}`` around this record (the JSON
        export): :meth:`subgraph` as plain data."""
        return self.subgraph(direction, depth).to_dict()

    def subgraph(self, direction: str = "both", depth: int | None = None) -> LineageGraph:
        """The records and links around this record, ``direction`` ``both``, ``upstream``
        or ``downstream``, ``depth`` levels at most."""
        if direction not in ("both", "upstream", "downstream"):
            raise ConfigError(f"direction {direction!r} is not both, upstream or downstream; "
                              "give one of them")
        nodes = {self.oid}
        links: list[Link] = []
        for d in (("upstream", "downstream") if direction == "both" else (direction,)):
            found, ls = traverse(self._graph, self.oid, d, depth)
            nodes |= set(found)
            links += ls
        about = self._graph.describe(sorted(nodes))
        out_nodes = tuple(GraphNode(oid, name, version, kind)
                          for oid, (name, version, kind) in sorted(about.items()))
        edges = sorted({(link.producer, link.consumer, link.slot, link.oid) for link in links})
        return LineageGraph(self.oid, out_nodes, tuple(GraphEdge(*e) for e in edges))


def content_frame(graph: Graph, oid: str, relation: str) -> Any:
    """Records that took (``input``) or made (``output``) content ``oid`` (their slot holds
    it, or holds it at any depth: ``path`` says where), as a DataFrame."""
    import pandas as pd

    if relation not in ("input", "output"):
        raise ValueError(f"relation {relation!r} is neither input nor output")
    found = graph.records_with(oid, "input" if relation == "input" else "output")
    about = graph.describe([f.record for f in found])
    rows = [[f.record, *about.get(f.record, (None, None, None)), relation, 0, f.slot, f.path,
             oid, None] for f in found]
    return pd.DataFrame(rows, columns=COLUMNS)


def records_frame(records: list[tuple[str, Record]]) -> pandas.DataFrame:
    """One row per ``(oid, record)``: name, version, kind, created, commit, message,
    status, and each param and metric as a ``params.KEY`` / ``metrics.KEY`` column."""
    import pandas as pd

    from mlver.core.params import flatten

    rows: list[dict[str, Any]] = []
    for oid, rec in records:
        row = {"oid": oid, "name": rec.name, "version": rec.version, "kind": rec.kind,
               "created": pd.Timestamp(rec.created), "commit": rec.code.commit,
               "message": rec.message, "status": rec.status}
        row.update({f"params.{k}": v for k, v in flatten(rec.params).items()})
        row.update({f"metrics.{k}": v for k, v in flatten(rec.metrics).items()})
        rows.append(row)
    base = ["oid", "name", "version", "kind", "created", "commit", "message", "status"]
    return pd.DataFrame(rows, columns=None if rows else base)
