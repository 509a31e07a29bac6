"""Lineage: the graph of records linked by the content they share.

No declaration is needed: when an output of one record has the same oid as an
input of another, the first is upstream of the second. The index keeps one
edge row per (record, input/output, slot) for the whole slot and for each
sub-tree below it, so a model trained on a sub-folder of a prepared dataset
still links to the dataset's record.
"""

from __future__ import annotations

import sqlite3

from .errors import MlverError
from .store.trees import walk

MAX_SUBTREE_EDGES = 10_000  # per slot: bounds the index for huge folders


def index_edges(conn: sqlite3.Connection, oid: str, rec, read_tree) -> None:
    """Write the edges of record ``oid`` (replacing any it had)."""
    conn.execute("DELETE FROM edges WHERE record=?", (oid,))
    rows = []
    for relation, arts in (("input", rec.inputs), ("output", rec.outputs)):
        for slot, art in arts.items():
            rows.append((oid, relation, slot, art.path, art.oid, art.type, art.source))
            if art.type == "tree":
                n = 0
                try:
                    for sub, entry in walk(read_tree, art.oid, art.path + "/"):
                        if entry.type == "tree":
                            rows.append((oid, relation, slot, sub, entry.oid, "tree", None))
                            n += 1
                            if n >= MAX_SUBTREE_EDGES:
                                break
                except MlverError:  # a missing tree object: index what we can; pull fixes it
                    pass
    conn.executemany("INSERT INTO edges(record, relation, slot, path, oid, type, source) "
                     "VALUES(?,?,?,?,?,?,?)", rows)
