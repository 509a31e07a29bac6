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

import sqlite3
from dataclasses import dataclass

from .errors import ConfigError, MlverError
from .store.trees import walk

MAX_SUBTREE_EDGES = 10_000  # per slot: bounds the index for huge folders
COLUMNS = ["oid", "name", "version", "kind", "relation", "depth", "slot", "path", "via", "linked_to"]


def index_edges(conn: sqlite3.Connection, oid: str, rec, read_tree) -> None:
    """Write the edges of record ``oid`` (replacing any it had)."""
    conn.execute("DELETE FROM edges WHERE record=?", (oid,))
    rows = []
    for relation, arts in (("input", rec.inputs), ("output", rec.outputs)):
        for slot, art in arts.items():
            rows.append((oid, relation, slot, art.path, art.oid, art.type, art.source, 1))
            if art.type != "tree":
                continue
            n = 0
            try:
                for sub, entry in walk(read_tree, art.oid, art.path + "/"):
                    # Empty files and folders are the same content everywhere: no evidence.
                    if entry.size == 0 or entry.type == "link":
                        continue
                    rows.append((oid, relation, slot, sub, entry.oid, entry.type, None, 0))
                    n += 1
                    if n >= MAX_SUBTREE_EDGES:
                        break
            except MlverError:  # a missing tree object: index what we can; pull fixes it
                pass
    conn.executemany("INSERT INTO edges(record, relation, slot, path, oid, type, source, whole) "
                     "VALUES(?,?,?,?,?,?,?,?)", rows)


_UP = """
SELECT i.record, o.record, i.slot, i.path, i.oid FROM edges i
  JOIN edges o ON o.oid = i.oid AND o.relation = 'output'
 WHERE i.record IN ({q}) AND i.relation = 'input' AND (i.whole = 1 OR o.whole = 1)
   AND o.record != i.record
UNION
SELECT i.record, i.source, i.slot, i.path, i.oid FROM edges i
 WHERE i.record IN ({q}) AND i.relation = 'input' AND i.source IS NOT NULL
"""
_DOWN = """
SELECT o.record, i.record, i.slot, i.path, i.oid FROM edges o
  JOIN edges i ON i.oid = o.oid AND i.relation = 'input'
 WHERE o.record IN ({q}) AND o.relation = 'output' AND (i.whole = 1 OR o.whole = 1)
   AND o.record != i.record
UNION
SELECT i.source, i.record, i.slot, i.path, i.oid FROM edges i
 WHERE i.source IN ({q}) AND i.relation = 'input'
"""


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


def traverse(conn: sqlite3.Connection, start: str, direction: str, depth: int | None = None):
    """Breadth-first walk: ``(found {oid: (depth, Link)}, links)`` up or down from ``start``."""
    check_depth(depth)
    sql = _UP if direction == "upstream" else _DOWN
    found: dict[str, tuple[int, Link]] = {}
    links: list[Link] = []
    seen_links: set[tuple] = set()
    frontier, level = [start], 0
    while frontier and (depth is None or level < depth):
        level += 1
        nxt = []
        for i in range(0, len(frontier), 400):  # stay under SQLite's variable limit
            part = frontier[i:i + 400]
            q = ",".join("?" * len(part))
            for a, b, slot, path, oid in conn.execute(sql.format(q=q), part + part):
                link = Link(b, a, slot, path, oid) if direction == "upstream" else Link(a, b, slot, path, oid)
                key = (link.producer, link.consumer, slot, oid)
                if key not in seen_links:
                    seen_links.add(key)
                    links.append(link)
                other = b
                if other != start and other not in found:
                    found[other] = (level, link)
                    nxt.append(other)
        frontier = nxt
    return found, links


class Lineage:
    """Lineage queries around one record; results are pandas DataFrames."""

    def __init__(self, repo, oid: str) -> None:
        self.repo, self.oid = repo, oid

    def _frame(self, direction: str, depth: int | None):
        import pandas as pd

        found, _ = traverse(self.repo.conn, self.oid, direction, depth)
        about = describe(self.repo.conn, list(found))
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
            found, ls = traverse(self.repo.conn, self.oid, d, depth)
            nodes |= set(found)
            links += ls
        about = describe(self.repo.conn, sorted(nodes))
        out_nodes = [{"oid": oid, "name": name, "version": version, "kind": kind}
                     for oid, (name, version, kind) in sorted(about.items())]
        edges = sorted({(link.producer, link.consumer, link.slot, link.oid) for link in links})
        return {"root": self.oid, "nodes": out_nodes,
                "edges": [{"from": a, "to": b, "slot": s, "oid": o} for a, b, s, o in edges]}


def describe(conn: sqlite3.Connection, oids: list[str]) -> dict[str, tuple]:
    """``oid -> (name, version, kind)`` of indexed records, a few queries for any number."""
    out: dict[str, tuple] = {}
    for i in range(0, len(oids), 400):  # stay under SQLite's variable limit
        part = oids[i:i + 400]
        q = ",".join("?" * len(part))
        out.update((r[0], r[1:]) for r in conn.execute(
            f"SELECT oid, name, version, kind FROM records WHERE oid IN ({q})", part))
    return out


def records_with(conn: sqlite3.Connection, oid: str, relation: str) -> list[tuple[str, str, str]]:
    """``(record, slot, path)`` of records whose input/output (or a sub-tree of it) is ``oid``."""
    return list(conn.execute(
        "SELECT DISTINCT record, slot, path FROM edges WHERE oid=? AND relation=? ORDER BY record",
        (oid, relation)))


def content_frame(conn: sqlite3.Connection, oid: str, relation: str):
    """Records that took (``input``) or made (``output``) content ``oid``, as a DataFrame."""
    import pandas as pd

    found = records_with(conn, oid, relation)
    about = describe(conn, [r for r, _, _ in found])
    rows = [[rec, *about.get(rec, (None, None, None)), relation, 0, slot, path, oid, None]
            for rec, slot, path in found]
    return pd.DataFrame(rows, columns=COLUMNS)
