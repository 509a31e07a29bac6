"""Compare two trees: files added, removed, modified and renamed.

Walks both trees together and skips any sub-tree whose oid is equal on both
sides, so the cost follows the size of the change, not of the folder.

Trees are untrusted (they come from other people's stores): a crafted "tree bomb" (40
trees, each listing the next twice) holds 2^40 files in 80 entries. Each tree is read once
(memoised by oid), and before any path is listed the work is counted over unique pairs of
sub-trees (and unique wholly added or removed trees), each counted once: past
:data:`MAX_DIFF_ENTRIES` entries compared and files listed, the diff raises
``RecordFormatError`` at once, naming the tree, instead of walking for ever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlver.base.errors import RecordFormatError
from mlver.store.trees import MAX_WALK_DEPTH, MAX_WALK_ENTRIES, Tree, TreeEntry, walk

ReadTree = Callable[[str], Tree]  # tree oid -> the tree (raises when missing or damaged)

# Files listed plus entries compared in one diff (each one a Python object held in memory).
MAX_DIFF_ENTRIES = MAX_WALK_ENTRIES
LIST_LIMIT = 10  # paths kept (and shown) per kind: the first ten, then "+k more"
KINDS = ("added", "removed", "modified", "renamed")


@dataclass(frozen=True)
class FolderDiff:
    """Paths (relative to the slot's folder) that differ, with counts.

    ``renamed`` holds ``(old_path, new_path)`` pairs: same content, new path.
    Lists are cut at ``limit`` entries; the counts are exact.
    """

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    modified_oids: tuple[tuple[str, str, str], ...] = ()  # (path, old oid, new oid), cut at limit

    def more(self) -> dict[str, int]:
        """Per kind, how many paths the lists leave out (the count past the first ones)."""
        shown = {"added": len(self.added), "removed": len(self.removed),
                 "modified": len(self.modified), "renamed": len(self.renamed)}
        return {k: max(0, self.counts.get(k, shown[k]) - shown[k]) for k in KINDS}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (docs/diff.md)."""
        return {"added": list(self.added), "removed": list(self.removed),
                "modified": list(self.modified),
                "renamed": [{"old": a, "new": b} for a, b in self.renamed],
                "counts": dict(self.counts), "more": self.more()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FolderDiff:
        """The folder diff of its JSON form."""
        return cls(added=tuple(d.get("added", ())), removed=tuple(d.get("removed", ())),
                   modified=tuple(d.get("modified", ())),
                   renamed=tuple((r["old"], r["new"]) for r in d.get("renamed", ())),
                   counts=dict(d.get("counts", {})))

    def summary(self, prefix: str = "") -> str:
        """``1 added: raw/feb.csv; 12 modified: raw/a.csv, …, raw/j.csv, +2 more``: per kind
        its count and the first paths (``prefix`` put before each: the folder's path and a
        slash); ``no file changes`` when nothing differs."""
        c, more = self.counts, self.more()
        paths = {"added": [prefix + p for p in self.added],
                 "removed": [prefix + p for p in self.removed],
                 "modified": [prefix + p for p in self.modified],
                 "renamed": [f"{prefix}{a} -> {prefix}{b}" for a, b in self.renamed]}
        parts = []
        for k in KINDS:
            n = c.get(k, len(paths[k]))
            if n:
                listed = paths[k][:LIST_LIMIT] + ([f"+{more[k]:,} more"] if more[k] else [])
                parts.append(f"{n:,} {k}: " + ", ".join(listed))
        return "; ".join(parts) if parts else "no file changes"


def _too_big(side: str, oid: str, limit: int) -> RecordFormatError:
    return RecordFormatError(
        f"cannot diff folders: the {side} tree {oid} holds more than {limit:,} files to "
        f"compare (or nests deeper than {MAX_WALK_DEPTH:,} levels); it may have been "
        "crafted to exhaust time or memory (a tree bomb); check where it came from")


class _Trees:
    """``read_tree`` memoised by oid, and the number of files below each tree."""

    def __init__(self, read_tree: ReadTree) -> None:
        self.read_tree = read_tree
        self.cache: dict[str, Tree] = {}
        self.counts: dict[str, int] = {}

    def read(self, oid: str) -> Tree:
        tree = self.cache.get(oid)
        if tree is None:
            tree = self.cache[oid] = self.read_tree(oid)
        return tree

    def files_below(self, top: str, cap: int) -> int:
        """Files (non-tree entries) at any depth below tree ``top``, counting each unique
        tree once; stops counting past ``cap`` (returns more than ``cap``)."""
        stack: list[tuple[str, bool, int]] = [(top, False, 0)]
        busy: set[str] = set()
        while stack:
            oid, expanded, depth = stack.pop()
            if oid in self.counts:
                continue
            entries = self.read(oid).entries
            if not expanded:
                if oid in busy or depth >= MAX_WALK_DEPTH:  # a cycle cannot hash; too deep
                    return cap + 1
                busy.add(oid)
                stack.append((oid, True, depth))
                stack.extend((e.oid, False, depth + 1) for e in entries
                             if e.type == "tree" and e.oid not in self.counts)
                continue
            busy.discard(oid)
            n = sum(self.counts[e.oid] if e.type == "tree" else 1 for e in entries)
            self.counts[oid] = min(n, cap + 1)
        return self.counts[top]

    def cost(self, old: str, new: str, cap: int) -> int:
        """Entries the diff of trees ``old`` and ``new`` compares plus files it lists,
        counting each unique pair of sub-trees (and each unique wholly added or removed
        tree) once; stops past ``cap`` (returns more than ``cap``)."""
        memo: dict[tuple[str, str], int] = {}
        stack: list[tuple[str, str, bool, int]] = [(old, new, False, 0)]
        busy: set[tuple[str, str]] = set()
        while stack:
            a, b, expanded, depth = stack.pop()
            if (a, b) in memo:
                continue
            ta = {e.name: e for e in self.read(a).entries}
            tb = {e.name: e for e in self.read(b).entries}
            pairs = [(ta[n].oid, tb[n].oid) for n in sorted(set(ta) & set(tb))
                     if ta[n].type == tb[n].type == "tree" and ta[n].oid != tb[n].oid]
            if not expanded:
                if (a, b) in busy or depth >= MAX_WALK_DEPTH:
                    return cap + 1
                busy.add((a, b))
                stack.append((a, b, True, depth))
                stack.extend((x, y, False, depth + 1) for x, y in pairs if (x, y) not in memo)
                continue
            busy.discard((a, b))
            n = len(ta) + len(tb) + sum(memo[pair] for pair in pairs)
            for name in set(ta) | set(tb):
                ea, eb = ta.get(name), tb.get(name)
                whole = [e for e in (ea, eb) if e is not None and e.type == "tree"]
                if len(whole) == 1 or (ea is not None and eb is not None and ea.type != eb.type):
                    n += sum(self.files_below(e.oid, cap) for e in whole)
                if n > cap:
                    break
            memo[(a, b)] = min(n, cap + 1)
            if memo[(a, b)] > cap:
                return cap + 1
        return memo[(old, new)]


def diff_trees(read_tree: ReadTree, old: str, new: str, limit: int = LIST_LIMIT,
               max_entries: int = MAX_DIFF_ENTRIES) -> FolderDiff:
    """Diff trees ``old`` and ``new`` (oids) loaded through ``read_tree(oid) -> Tree``.

    Raises ``RecordFormatError`` when more than ``max_entries`` files and entries would
    have to be compared (a crafted tree), before listing any of them."""
    trees = _Trees(read_tree)
    budget = max_entries
    added: dict[str, TreeEntry] = {}
    removed: dict[str, TreeEntry] = {}
    modified: list[tuple[str, str, str]] = []

    def files(side: str, top: str, oid: str, prefix: str) -> dict[str, TreeEntry]:
        nonlocal budget
        n = trees.files_below(oid, budget)
        if n > budget:
            raise _too_big(side, top, max_entries)
        budget -= n
        return {p: e for p, e in walk(trees.read, oid, prefix) if e.type != "tree"}

    if trees.cost(old, new, max_entries) > max_entries:  # before listing anything
        raise _too_big("old" if trees.files_below(old, max_entries) > max_entries else "new",
                       old if trees.files_below(old, max_entries) > max_entries else new,
                       max_entries)
    stack = [(old, new, "", 0)]
    while stack:
        a, b, prefix, depth = stack.pop()
        ta = {e.name: e for e in trees.read(a).entries}
        tb = {e.name: e for e in trees.read(b).entries}
        budget -= len(ta) + len(tb)
        if budget < 0 or depth >= MAX_WALK_DEPTH:
            raise _too_big("old" if len(ta) >= len(tb) else "new",
                           old if len(ta) >= len(tb) else new, max_entries)
        for name in sorted(set(ta) | set(tb)):
            ea, eb = ta.get(name), tb.get(name)
            path = prefix + name
            if ea is not None and eb is not None and ea.oid == eb.oid and ea.type == eb.type:
                continue  # identical file or sub-tree: nothing below can differ
            if ea is not None and eb is not None and ea.type == "tree" and eb.type == "tree":
                stack.append((ea.oid, eb.oid, path + "/", depth + 1))
                continue
            if ea is not None and eb is not None and ea.type != "tree" and eb.type != "tree":
                modified.append((path, ea.oid, eb.oid))
                continue
            if ea is not None:
                removed.update(files("old", old, ea.oid, path + "/") if ea.type == "tree"
                               else {path: ea})
            if eb is not None:
                added.update(files("new", new, eb.oid, path + "/") if eb.type == "tree"
                             else {path: eb})
    # A removed path whose exact content reappears under a new path was renamed.
    by_oid: dict[str, list[str]] = {}
    for p, e in sorted(added.items()):
        by_oid.setdefault(e.oid, []).append(p)
    renamed = []
    for p, e in sorted(removed.items()):
        cands = by_oid.get(e.oid)
        if cands:
            renamed.append((p, cands.pop(0)))
    gone = {a for a, _ in renamed}
    came = {b for _, b in renamed}
    add_list = sorted(p for p in added if p not in came)
    rem_list = sorted(p for p in removed if p not in gone)
    modified.sort()
    counts = {"added": len(add_list), "removed": len(rem_list), "modified": len(modified),
              "renamed": len(renamed)}
    return FolderDiff(added=tuple(add_list[:limit]), removed=tuple(rem_list[:limit]),
                      modified=tuple(p for p, _, _ in modified[:limit]),
                      renamed=tuple(renamed[:limit]), counts=counts,
                      modified_oids=tuple(modified[:limit]))
