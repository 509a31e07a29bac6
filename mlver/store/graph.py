"""Lineage edges in the index: which record took or made which content.

One row per (record, input/output, slot) for the whole slot, and for each file and
sub-tree below it. Two rows link when their oids are equal and at least one of them
is a whole slot.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

from ..errors import MlverError
from .trees import Tree, walk

ReadTree = Callable[[str], Tree]
MAX_SUBTREE_EDGES = 10_000  # per slot: bounds the index for huge folders

DDL = """
CREATE TABLE IF NOT EXISTS edges(
    record TEXT NOT NULL, relation TEXT NOT NULL, slot TEXT NOT NULL, path TEXT NOT NULL,
    oid TEXT NOT NULL, type TEXT, source TEXT, whole INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS edges_oid ON edges(oid, relation);
CREATE INDEX IF NOT EXISTS edges_source ON edges(source);
CREATE INDEX IF NOT EXISTS edges_record ON edges(record);
"""

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

TABLES = ("edges",)

# (from record, to record, slot, path, oid) of one BFS step
LinkRow = tuple[str, str, str, str, str]


class Graph:
    """The lineage queries of one index connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def clear(self) -> None:
        """Remove every edge (a rebuild; call inside a transaction)."""
        for table in TABLES:
            self.conn.execute(f"DELETE FROM {table}")

    def add_record(self, record: str, slots: list[tuple[str, str, str, str, str, str | None]],
                   read_tree: ReadTree) -> None:
        """Write the edges of ``record`` (replacing any it had); call inside a transaction."""
        self.conn.execute("DELETE FROM edges WHERE record=?", (record,))
        rows = []
        for relation, slot, path, oid, typ, source in slots:
            rows.append((record, relation, slot, path, oid, typ, source, 1))
            if typ != "tree":
                continue
            n = 0
            try:
                for sub, entry in walk(read_tree, oid, path + "/"):
                    # Empty files and folders are the same content everywhere: no evidence.
                    if entry.size == 0 or entry.type == "link":
                        continue
                    rows.append((record, relation, slot, sub, entry.oid, entry.type, None, 0))
                    n += 1
                    if n >= MAX_SUBTREE_EDGES:
                        break
            except MlverError:  # a missing tree object: index what we can
                pass
        self.conn.executemany(
            "INSERT INTO edges(record, relation, slot, path, oid, type, source, whole) "
            "VALUES(?,?,?,?,?,?,?,?)", rows)

    def neighbours(self, oids: list[str], direction: str) -> list[LinkRow]:
        """One breadth-first step from ``oids``: ``(from, to, slot, path, oid)`` rows."""
        sql = _UP if direction == "upstream" else _DOWN
        out: list[LinkRow] = []
        for i in range(0, len(oids), 400):  # stay under SQLite's variable limit
            part = oids[i:i + 400]
            q = ",".join("?" * len(part))
            out += self.conn.execute(sql.format(q=q), part + part).fetchall()
        return out

    def records_with(self, oid: str, relation: str) -> list[tuple[str, str, str]]:
        """``(record, slot, path)`` of records whose input/output (or a part of it) is ``oid``."""
        return list(self.conn.execute(
            "SELECT DISTINCT record, slot, path FROM edges WHERE oid=? AND relation=? "
            "ORDER BY record", (oid, relation)))

    def describe(self, oids: list[str]) -> dict[str, tuple[str, int, str]]:
        """``oid -> (name, version, kind)`` of indexed records, a few queries for any number."""
        out: dict[str, tuple[str, int, str]] = {}
        for i in range(0, len(oids), 400):  # stay under SQLite's variable limit
            part = oids[i:i + 400]
            q = ",".join("?" * len(part))
            out.update((r[0], (r[1], r[2], r[3])) for r in self.conn.execute(
                f"SELECT oid, name, version, kind FROM records WHERE oid IN ({q})", part))
        return out
