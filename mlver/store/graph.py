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
    ``outer`` (both are whole contents of some slot); one row per pair, with the smallest
    path (compared name by name) when ``inner`` sits at several. Computed when a content is
    first held by a slot: upwards (which slot contents hold it) and, for a tree, downwards
    (which slot contents it holds). Keyed by content, so ten records holding the same
    folder add no rows.

Two records link when an input and an output hold the same oid, or when one's content lies
anywhere inside the other's (a ``contains`` row): exactly "equal oids and at least one side is
a whole slot". Two unrelated folders that share an identical sub-folder do not link, since
that sub-folder is no slot's whole content. A link step is therefore a few indexed lookups,
whatever the size of the folders; ``records_with`` answers for any oid (a file deep in a
folder nobody consumed on its own) by walking ``tree_entries`` upwards.

Everything read from a store is untrusted: a crafted "tree bomb" (40 trees, each listing
the next twice: 80 entries, 2^40 paths) must not make a walk enumerate paths. So every walk
goes over unique trees, each visited once (recursive queries with ``UNION`` over oids, or
breadth-first in Python memoised by oid), and reports one path per (holder, content) pair;
walks are also bounded by :data:`MAX_TREE_DEPTH` levels, so a tampered index with a cycle
in ``tree_entries`` still ends.
"""

from __future__ import annotations

import sqlite3
from typing import Literal, NamedTuple
from collections.abc import Callable, Iterable, Iterator, Sequence

from mlver.base.errors import MlverError
from mlver.store.trees import Tree

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
CREATE TABLE IF NOT EXISTS pending(record TEXT PRIMARY KEY) WITHOUT ROWID;
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

# Slot contents anywhere below tree :top. The recursion runs over tree oids only and UNION
# drops an oid met again, so each unique tree is visited once: linear in the unique tree
# entries below, whatever the number of paths (a crafted "tree bomb" of 40 trees, each
# listing the next twice, holds 2^40 paths but only 80 entries). Paths are found after, in
# Python, one per (outer, inner) pair (see ``Graph._paths``).
_DOWN = """
WITH RECURSIVE sub(oid) AS (
    SELECT :top
    UNION
    SELECT e.oid FROM sub JOIN tree_entries e ON e.tree = sub.oid WHERE e.type = 'tree'
)
SELECT DISTINCT e.oid FROM sub JOIN tree_entries e ON e.tree = sub.oid
 WHERE EXISTS (SELECT 1 FROM slots s WHERE s.oid = e.oid)
"""

# One BFS step. {q} is a list of placeholders for the frontier's record oids. Each branch
# yields (producer, consumer, slot, path, oid); the outer query keeps, per (producer,
# consumer, slot, oid), the smallest path, so results do not depend on row order.
# {earlier}: a link by content needs the producer to be created before the consumer (a
# later record that happens to output the same bytes made nothing the consumer read); an
# input named by a record (``source``) links whatever the clocks say.
_STEP_UP = """
SELECT o.record AS producer, i.record AS consumer, i.slot AS slot, i.path AS path, i.oid AS oid
  FROM slots i JOIN slots o ON o.oid = i.oid AND o.relation = 'output'
 WHERE i.record IN ({q}) AND i.relation = 'input' AND o.record != i.record{earlier}
UNION ALL
SELECT o.record, i.record, i.slot, i.path, i.oid
  FROM slots i JOIN contains c ON c.inner_oid = i.oid
  JOIN slots o ON o.oid = c.outer_oid AND o.relation = 'output'
 WHERE i.record IN ({q}) AND i.relation = 'input' AND o.record != i.record{earlier}
UNION ALL
SELECT o.record, i.record, i.slot, i.path || '/' || c.path, c.inner_oid
  FROM slots i JOIN contains c ON c.outer_oid = i.oid
  JOIN slots o ON o.oid = c.inner_oid AND o.relation = 'output'
 WHERE i.record IN ({q}) AND i.relation = 'input' AND o.record != i.record{earlier}
UNION ALL
SELECT i.source, i.record, i.slot, i.path, i.oid FROM slots i
 WHERE i.record IN ({q}) AND i.relation = 'input' AND i.source IS NOT NULL
"""
_STEP_DOWN = """
SELECT o.record AS producer, i.record AS consumer, i.slot AS slot, i.path AS path, i.oid AS oid
  FROM slots o JOIN slots i ON i.oid = o.oid AND i.relation = 'input'
 WHERE o.record IN ({q}) AND o.relation = 'output' AND o.record != i.record{earlier}
UNION ALL
SELECT o.record, i.record, i.slot, i.path, i.oid
  FROM slots o JOIN contains c ON c.outer_oid = o.oid
  JOIN slots i ON i.oid = c.inner_oid AND i.relation = 'input'
 WHERE o.record IN ({q}) AND o.relation = 'output' AND o.record != i.record{earlier}
UNION ALL
SELECT o.record, i.record, i.slot, i.path || '/' || c.path, c.inner_oid
  FROM slots o JOIN contains c ON c.inner_oid = o.oid
  JOIN slots i ON i.oid = c.outer_oid AND i.relation = 'input'
 WHERE o.record IN ({q}) AND o.relation = 'output' AND o.record != i.record{earlier}
UNION ALL
SELECT i.source, i.record, i.slot, i.path, i.oid FROM slots i
 WHERE i.source IN ({q}) AND i.relation = 'input'
"""
_STEP = """
SELECT producer, consumer, slot, MIN(path), oid FROM ({body})
 GROUP BY producer, consumer, slot, oid
 ORDER BY producer, consumer, slot, oid
"""


_EARLIER = """
   AND NOT EXISTS (SELECT 1 FROM records rp JOIN records rc ON rc.oid = i.record
                    WHERE rp.oid = o.record AND rp.created >= rc.created)"""


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i:i + _CHUNK]


def _key(path: str) -> list[str]:
    """How paths inside a tree compare: name by name."""
    return path.split("/")


def _evidence(type_: str, size: int) -> bool:
    """Whether a tree entry can show lineage: not empty, not a symlink."""
    return size > 0 and type_ != "link"


class Graph:
    """The lineage tables of an index connection (autocommit: the caller wraps writes in a
    transaction when it wants them atomic)."""

    def __init__(self, conn: sqlite3.Connection, read_tree: ReadTree | None = None,
                 read_only: bool = False) -> None:
        self.conn = conn
        self.read_tree = read_tree  # needed to catch up; the store sets it
        # a read-only index never catches up: links through folders of records added since
        # the last catch-up are missing until a writing command catches up
        self.read_only = read_only

    # -- writing ------------------------------------------------------------------------------

    def add_record(self, record_oid: str, slots: Iterable[tuple[str, str, str, str, str,
                                                                  str | None]],
                   read_tree: ReadTree | None = None) -> None:
        """Index record ``record_oid`` (replacing what it had): its ``slots``, each
        ``(relation, slot, path, oid, type, source)``, at once; the trees below them and
        what contains what among slot contents when a query first needs them
        (:meth:`catch_up`). A snapshot then pays for rows, not for a 100k-entry folder
        listing; the first lineage query after it does, once."""
        if read_tree is not None:
            self.read_tree = read_tree
        rows = [Slot(*s) for s in slots]
        self.remove_record(record_oid)
        self.conn.executemany(
            "INSERT OR REPLACE INTO slots(record, relation, slot, path, oid, type, source)"
            " VALUES(?,?,?,?,?,?,?)",
            [(record_oid, s.relation, s.slot, s.path, s.oid, s.type, s.source) for s in rows])
        self.conn.execute("INSERT OR IGNORE INTO pending(record) VALUES(?)", (record_oid,))

    def catch_up(self) -> None:
        """Index the trees and containment of records added since the last query, in one
        transaction (another process catching up at once waits, then finds nothing)."""
        if self.read_only or self.read_tree is None or self.conn.execute(
                "SELECT 1 FROM pending LIMIT 1").fetchone() is None:
            return
        own = not self.conn.in_transaction
        if own:
            self.conn.execute("BEGIN IMMEDIATE")
        try:
            self._catch_up(self.read_tree)
            if own:
                self.conn.execute("COMMIT")
        except BaseException:
            if own:
                self.conn.execute("ROLLBACK")
            raise

    def _catch_up(self, read_tree: ReadTree) -> None:
        slots = list(self.conn.execute(
            "SELECT DISTINCT s.oid, s.type FROM pending p JOIN slots s ON s.record = p.record"))
        trees = sorted({oid for oid, typ in slots if typ == "tree"})
        # First every tree below the new slots (a tree missing earlier and readable now,
        # after a pull, is looked into again), then containment among slot contents: the
        # upward pass finds which slot contents hold each new one, the downward pass which
        # ones each new tree holds; together they see every pair, whatever the order.
        for oid in trees:
            self._index_tree(oid, read_tree)
        for oid in sorted({oid for oid, _ in slots}):
            pairs: list[tuple[str, str, str]] = []
            above = self._above(oid)
            holders = self._slot_contents(set(above) - {oid})
            pairs += [(outer, oid, "/".join(path))
                      for outer, path in self._paths(oid, above, holders).items()]
            if oid in trees:
                inners = sorted({r[0] for r in self.conn.execute(_DOWN, {"top": oid})} - {oid})
                for inner in inners:
                    path = self._paths(inner, self._above(inner), {oid}).get(oid)
                    if path is not None:
                        pairs.append((oid, inner, "/".join(path)))
            self._add_contains(pairs)
        self.conn.execute("DELETE FROM pending")

    def _add_contains(self, rows: list[tuple[str, str, str]]) -> None:
        """Write ``contains`` rows, one path per (outer, inner): a pair already known with
        another path keeps the smaller (a path can only appear when a missing tree came
        back, so the smaller one is the one a rebuild would find)."""
        for outer, inner, path in rows:
            have = self.conn.execute(
                "SELECT MIN(path) FROM contains WHERE outer_oid=? AND inner_oid=?",
                (outer, inner)).fetchone()[0]
            if have is not None and _key(have) <= _key(path):
                continue
            self.conn.execute("DELETE FROM contains WHERE outer_oid=? AND inner_oid=?",
                              (outer, inner))
            self.conn.execute("INSERT INTO contains(outer_oid, inner_oid, path) VALUES(?,?,?)",
                              (outer, inner, path))

    def _above(self, inner: str) -> dict[str, list[tuple[str, str]]]:
        """The trees holding ``inner`` at any depth (up to :data:`MAX_TREE_DEPTH` levels),
        each with its entries leading towards it: ``{tree: [(name, child), ...]}`` where
        ``child`` is ``inner`` or another such tree (``inner`` maps to ``[]``).

        Breadth first over ``tree_entries``, each tree visited once, so linear in the unique
        trees above ``inner`` (not in the number of paths, 2^40 in a tree bomb), and ends
        on a tampered index with a cycle."""
        kids: dict[str, list[tuple[str, str]]] = {inner: []}
        frontier = [inner]
        for depth in range(MAX_TREE_DEPTH):
            if not frontier:
                break
            found: list[str] = []
            typed = "" if depth == 0 else " AND type = 'tree'"
            for part in _chunks(frontier):
                q = ",".join("?" * len(part))
                for tree, name, child in self.conn.execute(
                        f"SELECT tree, name, oid FROM tree_entries WHERE oid IN ({q}){typed}",
                        list(part)):
                    if tree not in kids:
                        kids[tree] = []
                        found.append(tree)
                    kids[tree].append((name, child))
            frontier = sorted(set(found))
        return kids

    @staticmethod
    def _paths(inner: str, kids: dict[str, list[tuple[str, str]]],
               outers: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """For each of ``outers`` found in ``kids`` (from :meth:`_above`), the one path
        reported for ``inner`` inside it: the smallest, comparing names level by level.
        Computed once per tree (memoised), without recursion."""
        best: dict[str, tuple[str, ...] | None] = {inner: ()}
        for top in sorted(o for o in outers if o in kids):
            stack: list[tuple[str, bool]] = [(top, False)]
            while stack:
                node, expanded = stack.pop()
                if not expanded:
                    if node in best:
                        continue
                    best[node] = None  # in progress: a cycle through it finds nothing
                    stack.append((node, True))
                    stack.extend((c, False) for _n, c in kids[node] if c not in best)
                else:
                    cands = [(n, *p) for n, c in kids[node]
                             if (p := best.get(c)) is not None and len(p) < MAX_TREE_DEPTH]
                    best[node] = min(cands) if cands else None
        return {o: p for o in outers if o != inner and (p := best.get(o)) is not None}

    def clear(self) -> None:
        """Remove every lineage row (a rebuild; call inside a transaction)."""
        for table in (*TABLES, "pending"):
            self.conn.execute(f"DELETE FROM {table}")

    def remove_record(self, record_oid: str) -> None:
        """Forget the slots of ``record_oid`` (content rows stay: they belong to content)."""
        self.conn.execute("DELETE FROM slots WHERE record=?", (record_oid,))
        self.conn.execute("DELETE FROM pending WHERE record=?", (record_oid,))

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

    def pending_count(self) -> int:
        """Records whose folder links (``contains``) are not computed yet: a read-only
        index leaves them so (equal-oid links are always there)."""
        return int(self.conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0])

    def neighbours(self, oids: Sequence[str], direction: Direction) -> list[LinkRow]:
        """One breadth-first step: the links into (``upstream``: the producers of what
        ``oids`` consumed) or out of (``downstream``) the records ``oids``; one per
        (producer, consumer, slot, shared oid), with the smallest path."""
        self.catch_up()
        body = _STEP_UP if direction == "upstream" else _STEP_DOWN
        out: list[LinkRow] = []
        for part in _chunks(oids):
            q = ",".join("?" * len(part))
            sql = _STEP.format(body=body.format(q=q, earlier=_EARLIER))
            out.extend(LinkRow(*r) for r in self.conn.execute(sql, list(part) * 4))
        return out

    def records_with(self, oid: str, relation: Relation) -> list[Found]:
        """Records whose input (``relation="input"``) or output slot holds content ``oid``
        or holds it at any depth below, with the path where it sits: one row per slot, with
        the smallest path when the slot holds it at several (compared name by name)."""
        self.catch_up()
        kids = self._above(oid)
        holders: dict[str, list[tuple[str, str, str]]] = {}
        for part in _chunks(sorted(kids)):
            q = ",".join("?" * len(part))
            for record, slot, path, soid in self.conn.execute(
                    f"SELECT record, slot, path, oid FROM slots WHERE oid IN ({q})"
                    " AND relation = ?", [*part, relation]):
                holders.setdefault(soid, []).append((record, slot, path))
        paths = self._paths(oid, kids, holders)
        out: list[Found] = []
        for soid, rows in holders.items():
            below = () if soid == oid else paths.get(soid)
            if below is None:
                continue
            out.extend(Found(r, s, "/".join((p, *below))) for r, s, p in rows)
        return sorted(out)

    def producers(self, oid: str, before: str | None = None) -> list[tuple[str, str, int, str]]:
        """Records whose output holds content ``oid`` (as a whole slot or anywhere below
        one), created before ``before`` (a record's ``created``; None: any time), as
        ``(record, name, version, created)`` sorted oldest first."""
        found = sorted({f.record for f in self.records_with(oid, "output")})
        out = []
        for part in _chunks(found):
            q = ",".join("?" * len(part))
            out += self.conn.execute(
                f"SELECT oid, name, version, created FROM records WHERE oid IN ({q})",
                list(part)).fetchall()
        return sorted((tuple(r) for r in out if before is None or r[3] < before),
                      key=lambda r: (r[3], r[1], r[2], r[0]))

    def slot_paths(self, records: Sequence[str]) -> set[str]:
        """The paths of every input and output slot of ``records``."""
        out: set[str] = set()
        for part in _chunks(records):
            q = ",".join("?" * len(part))
            out.update(r[0] for r in self.conn.execute(
                f"SELECT DISTINCT path FROM slots WHERE record IN ({q})", list(part)))
        return out

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
        self.catch_up()
        return {t: int(self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in TABLES}

    def dump(self) -> dict[str, list[tuple[object, ...]]]:
        """Every lineage row, sorted (to compare two indexes, e.g. before and after reindex)."""
        self.catch_up()
        return {t: sorted(self.conn.execute(f"SELECT * FROM {t}"))
                for t in TABLES}
