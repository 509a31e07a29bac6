"""The lineage graph in the index: every SQL statement of lineage, as named methods.

Three kinds of rows, each derived from objects and never capped:

``slots``
    one row per record, relation (``input``/``output``) and slot: the path, the oid of the
    whole slot content, its type and, for an input named by a revision, the ``source``
    record. Grows with records.
``tree_entries`` (+ ``trees``)
    the Merkle DAG of the folders that slots hold: one row per entry of each *unique* tree
    ``(tree, name, oid, type, size)``, written once, the first time a tree oid is seen
    (``trees`` lists the trees whose whole sub-DAG is indexed). A new version of a folder
    adds only the trees that changed (the changed files' folders up to the root), never the
    unchanged ones, so the table grows with new content, not with versions x files. Empty
    files and folders and symlinks are left out: identical emptiness, or a link target, is
    no evidence of lineage.
``contains``
    ``(outer, inner, path)``: slot content ``inner`` lies at ``path`` inside slot content
    ``outer`` (both are whole contents of some slot). Computed with recursive queries over
    ``tree_entries`` when a content is first held by a slot: upwards (which slot contents
    hold it) and, for a tree, downwards (which slot contents it holds). Keyed by content, so
    ten records holding the same folder add no rows.

Two records link when an input and an output hold the same oid, or when one's content lies
anywhere inside the other's (a ``contains`` row): exactly "equal oids and at least one side is
a whole slot". Two unrelated folders that share an identical sub-folder do not link, since
that sub-folder is no slot's whole content. A link step is therefore a few indexed lookups,
whatever the size of the folders; ``records_with`` answers for any oid (a file deep in a
folder nobody consumed on its own) by walking ``tree_entries`` upwards with ``WITH
RECURSIVE``.

Walks are bounded by :data:`MAX_TREE_DEPTH` levels, so a tampered index with a cycle in
``tree_entries`` still ends.
"""

from __future__ import annotations

import sqlite3
from typing import Callable, Iterable, Iterator, Literal, NamedTuple, Sequence

from ..errors import MlverError
from .trees import Tree

Direction = Literal["upstream", "downstream"]
Relation = Literal["input", "output"]

# Paths are at most PATH_MAX (4096) bytes, so no real folder nests deeper than this; it
# only bounds the walks over a tampered index.
MAX_TREE_DEPTH = 2048
_CHUNK = 400  # values per IN (...): stays under SQLite's variable limit
TABLES = ("slots", "trees", "tree_entries", "contains")

DDL = """
CREATE TABLE IF NOT EXISTS slots(
    record TEXT NOT NULL, relation TEXT NOT NULL, slot TEXT NOT NULL, path TEXT NOT NULL,
    oid TEXT NOT NULL, type TEXT NOT NULL, source TEXT,
    PRIMARY KEY(record, relation, slot)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS slots_oid ON slots(oid, relation);
CREATE INDEX IF NOT EXISTS slots_source ON slots(source) WHERE source IS NOT NULL;
CREATE TABLE IF NOT EXISTS trees(oid TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tree_entries(
    tree TEXT NOT NULL, name TEXT NOT NULL, oid TEXT NOT NULL, type TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY(tree, name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tree_entries_oid ON tree_entries(oid);
CREATE TABLE IF NOT EXISTS contains(
    outer_oid TEXT NOT NULL, inner_oid TEXT NOT NULL, path TEXT NOT NULL,
    PRIMARY KEY(outer_oid, inner_oid, path)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS contains_inner ON contains(inner_oid, outer_oid);
"""


class Slot(NamedTuple):
    """One input or output slot of a record, as the index stores it."""

    relation: str  # "input" or "output"
    slot: str
    path: str
    oid: str
    type: str      # "blob", "tree" or "link"
    source: str | None


class LinkRow(NamedTuple):
    """One link: ``producer`` made content ``oid`` that ``consumer`` took in input ``slot``;
    ``path`` is where that content sits in the consumer's input."""

    producer: str
    consumer: str
    slot: str
    path: str
    oid: str


class Found(NamedTuple):
    """A record whose ``slot`` holds some content, at ``path`` (the slot's path or below)."""

    record: str
    slot: str
    path: str


ReadTree = Callable[[str], Tree]

# Entries below the content, with their path inside it (breadth of the whole sub-DAG).
_DOWN = f"""
WITH RECURSIVE down(oid, type, path, depth) AS (
    SELECT oid, type, name, 1 FROM tree_entries WHERE tree = :top
    UNION ALL
    SELECT e.oid, e.type, d.path || '/' || e.name, d.depth + 1
      FROM down d JOIN tree_entries e ON e.tree = d.oid
     WHERE d.type = 'tree' AND d.depth < {MAX_TREE_DEPTH}
)
SELECT DISTINCT d.oid, d.path FROM down d
 WHERE EXISTS (SELECT 1 FROM slots s WHERE s.oid = d.oid)
"""

# Trees holding the content at any depth, with the content's path inside each.
_UP = f"""
WITH RECURSIVE up(tree, path, depth) AS (
    SELECT tree, name, 1 FROM tree_entries WHERE oid = :inner
    UNION
    SELECT e.tree, e.name || '/' || u.path, u.depth + 1
      FROM up u JOIN tree_entries e ON e.oid = u.tree
     WHERE u.depth < {MAX_TREE_DEPTH}
)
"""

_UP_SLOT_CONTENTS = _UP + """
SELECT DISTINCT u.tree, u.path FROM up u
 WHERE EXISTS (SELECT 1 FROM slots s WHERE s.oid = u.tree)
"""

_RECORDS_WITH = _UP + """
SELECT s.record, s.slot, s.path || '/' || u.path FROM up u
  CROSS JOIN slots s ON s.oid = u.tree AND s.relation = :relation  -- CROSS: up first
UNION
SELECT s.record, s.slot, s.path FROM slots s WHERE s.oid = :inner AND s.relation = :relation
ORDER BY 1, 2, 3
"""

# One BFS step. {q} is a list of placeholders for the frontier's record oids. Each branch
# yields (producer, consumer, slot, path, oid); the outer query keeps, per (producer,
# consumer, slot, oid), the smallest path, so results do not depend on row order.
_STEP_UP = """
SELECT o.record AS producer, i.record AS consumer, i.slot AS slot, i.path AS path, i.oid AS oid
  FROM slots i JOIN slots o ON o.oid = i.oid AND o.relation = 'output'
 WHERE i.record IN ({q}) AND i.relation = 'input' AND o.record != i.record
UNION ALL
SELECT o.record, i.record, i.slot, i.path, i.oid
  FROM slots i JOIN contains c ON c.inner_oid = i.oid
  JOIN slots o ON o.oid = c.outer_oid AND o.relation = 'output'
 WHERE i.record IN ({q}) AND i.relation = 'input' AND o.record != i.record
UNION ALL
SELECT o.record, i.record, i.slot, i.path || '/' || c.path, c.inner_oid
  FROM slots i JOIN contains c ON c.outer_oid = i.oid
  JOIN slots o ON o.oid = c.inner_oid AND o.relation = 'output'
 WHERE i.record IN ({q}) AND i.relation = 'input' AND o.record != i.record
UNION ALL
SELECT i.source, i.record, i.slot, i.path, i.oid FROM slots i
 WHERE i.record IN ({q}) AND i.relation = 'input' AND i.source IS NOT NULL
"""
_STEP_DOWN = """
SELECT o.record AS producer, i.record AS consumer, i.slot AS slot, i.path AS path, i.oid AS oid
  FROM slots o JOIN slots i ON i.oid = o.oid AND i.relation = 'input'
 WHERE o.record IN ({q}) AND o.relation = 'output' AND o.record != i.record
UNION ALL
SELECT o.record, i.record, i.slot, i.path, i.oid
  FROM slots o JOIN contains c ON c.outer_oid = o.oid
  JOIN slots i ON i.oid = c.inner_oid AND i.relation = 'input'
 WHERE o.record IN ({q}) AND o.relation = 'output' AND o.record != i.record
UNION ALL
SELECT o.record, i.record, i.slot, i.path || '/' || c.path, c.inner_oid
  FROM slots o JOIN contains c ON c.inner_oid = o.oid
  JOIN slots i ON i.oid = c.outer_oid AND i.relation = 'input'
 WHERE o.record IN ({q}) AND o.relation = 'output' AND o.record != i.record
UNION ALL
SELECT i.source, i.record, i.slot, i.path, i.oid FROM slots i
 WHERE i.source IN ({q}) AND i.relation = 'input'
"""
_STEP = """
SELECT producer, consumer, slot, MIN(path), oid FROM ({body})
 GROUP BY producer, consumer, slot, oid
 ORDER BY producer, consumer, slot, oid
"""


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def _evidence(type_: str, size: int) -> bool:
    """Whether a tree entry can show lineage: not empty, not a symlink."""
    return size > 0 and type_ != "link"


class Graph:
    """The lineage tables of an index connection (autocommit: the caller wraps writes in a
    transaction when it wants them atomic)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- writing ------------------------------------------------------------------------------

    def add_record(self, record_oid: str, slots: Iterable[tuple[str, str, str, str, str,
                                                                  str | None]],
                   read_tree: ReadTree) -> None:
        """Index record ``record_oid`` (replacing what it had): its ``slots``, each
        ``(relation, slot, path, oid, type, source)``; every tree below them not indexed
        yet, read through ``read_tree`` (a tree it cannot read, ``MlverError``, is left
        out: what can be indexed is); and what contains what among slot contents."""
        rows = [Slot(*s) for s in slots]
        self.remove_record(record_oid)
        new = sorted({s.oid for s in rows} - self._slot_contents({s.oid for s in rows}))
        self.conn.executemany(
            "INSERT OR REPLACE INTO slots(record, relation, slot, path, oid, type, source)"
            " VALUES(?,?,?,?,?,?,?)",
            [(record_oid, s.relation, s.slot, s.path, s.oid, s.type, s.source) for s in rows])
        trees = {s.oid for s in rows if s.type == "tree"}
        # Trees whose sub-DAG was not (fully) indexed before: look inside them again, so a
        # tree missing earlier and readable now (after a pull) still finds what it holds.
        fresh = {oid for oid in trees if not self._index_tree(oid, read_tree)[1]}
        for oid in sorted(set(new) | fresh):
            if oid in new:  # first held by a slot: which slot contents hold it
                found = list(self.conn.execute(_UP_SLOT_CONTENTS, {"inner": oid}))
                self.conn.executemany(
                    "INSERT OR IGNORE INTO contains(outer_oid, inner_oid, path) VALUES(?, ?, ?)",
                    [(outer, oid, p) for outer, p in found if outer != oid])
            if oid in trees:  # and which it holds
                found = list(self.conn.execute(_DOWN, {"top": oid}))
                self.conn.executemany(
                    "INSERT OR IGNORE INTO contains(outer_oid, inner_oid, path) VALUES(?, ?, ?)",
                    [(oid, inner, p) for inner, p in found if inner != oid])

    def clear(self) -> None:
        """Remove every lineage row (a rebuild; call inside a transaction)."""
        for table in TABLES:
            self.conn.execute(f"DELETE FROM {table}")

    def remove_record(self, record_oid: str) -> None:
        """Forget the slots of ``record_oid`` (content rows stay: they belong to content)."""
        self.conn.execute("DELETE FROM slots WHERE record=?", (record_oid,))

    def _slot_contents(self, oids: set[str]) -> set[str]:
        """Which of ``oids`` some slot holds already."""
        have: set[str] = set()
        part_list = sorted(oids)
        for part in _chunks(part_list):
            q = ",".join("?" * len(part))
            have.update(r[0] for r in self.conn.execute(
                f"SELECT DISTINCT oid FROM slots WHERE oid IN ({q})", list(part)))
        return have

    def _index_tree(self, top: str, read_tree: ReadTree) -> tuple[bool, bool]:
        """Write the entries of tree ``top`` and of every tree below it that is not indexed
        yet. Returns (complete now, complete before): complete when the whole sub-DAG is
        indexed (then ``top`` is listed in ``trees``)."""
        if self.conn.execute("SELECT 1 FROM trees WHERE oid=?", (top,)).fetchone():
            return True, True
        done: dict[str, bool] = {}
        # Depth-first without recursion: (oid, depth, children pending) frames.
        stack: list[tuple[str, int, list[str] | None]] = [(top, 0, None)]
        while stack:
            oid, depth, pending = stack.pop()
            if pending is None:
                if oid in done:
                    continue
                if self.conn.execute("SELECT 1 FROM trees WHERE oid=?", (oid,)).fetchone():
                    done[oid] = True
                    continue
                if depth >= MAX_TREE_DEPTH:
                    done[oid] = False
                    continue
                try:
                    tree = read_tree(oid)
                except MlverError:  # a missing or damaged tree: index the rest
                    done[oid] = False
                    continue
                entries = [e for e in tree.entries if _evidence(e.type, e.size)]
                self.conn.executemany(
                    "INSERT OR IGNORE INTO tree_entries(tree, name, oid, type, size)"
                    " VALUES(?,?,?,?,?)", [(oid, e.name, e.oid, e.type, e.size) for e in entries])
                subs = sorted({e.oid for e in entries if e.type == "tree"} - done.keys())
                stack.append((oid, depth, subs))
                stack.extend((s, depth + 1, None) for s in subs)
            else:
                complete = all(done.get(s, False) for s in pending)
                done[oid] = complete
                if complete:
                    self.conn.execute("INSERT OR IGNORE INTO trees(oid) VALUES(?)", (oid,))
        return done.get(top, False), False

    # -- reading ------------------------------------------------------------------------------

    def neighbours(self, oids: Sequence[str], direction: Direction) -> list[LinkRow]:
        """One breadth-first step: the links into (``upstream``: the producers of what
        ``oids`` consumed) or out of (``downstream``) the records ``oids``; one per
        (producer, consumer, slot, shared oid), with the smallest path."""
        body = _STEP_UP if direction == "upstream" else _STEP_DOWN
        out: list[LinkRow] = []
        for part in _chunks(oids):
            q = ",".join("?" * len(part))
            sql = _STEP.format(body=body.format(q=q))
            out.extend(LinkRow(*r) for r in self.conn.execute(sql, list(part) * 4))
        return out

    def records_with(self, oid: str, relation: Relation) -> list[Found]:
        """Records whose input (``relation="input"``) or output slot holds content ``oid``
        or holds it at any depth below, with the path where it sits (one row per path)."""
        return [Found(*r) for r in self.conn.execute(_RECORDS_WITH,
                                                     {"inner": oid, "relation": relation})]

    def describe(self, oids: Sequence[str]) -> dict[str, tuple[str, int, str | None]]:
        """``oid -> (name, version, kind)`` of indexed records (absent when unknown)."""
        out: dict[str, tuple[str, int, str | None]] = {}
        for part in _chunks(oids):
            q = ",".join("?" * len(part))
            for oid, name, version, kind in self.conn.execute(
                    f"SELECT oid, name, version, kind FROM records WHERE oid IN ({q})", list(part)):
                out[oid] = (name, version, kind)
        return out

    def stats(self) -> dict[str, int]:
        """Row counts of the lineage tables (``slots``, ``trees``, ``tree_entries``,
        ``contains``)."""
        return {t: int(self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in TABLES}

    def dump(self) -> dict[str, list[tuple[object, ...]]]:
        """Every lineage row, sorted (to compare two indexes, e.g. before and after reindex)."""
        return {t: sorted(self.conn.execute(f"SELECT * FROM {t}"))
                for t in TABLES}
