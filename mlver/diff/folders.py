"""Compare two trees: files added, removed, modified and renamed.

Walks both trees together and skips any sub-tree whose oid is equal on both
sides, so the cost follows the size of the change, not of the folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..store.trees import TreeEntry, walk


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
    counts: dict = field(default_factory=dict)
    modified_oids: tuple[tuple[str, str, str], ...] = ()  # (path, old oid, new oid), cut at limit

    def to_dict(self) -> dict:
        return {"added": list(self.added), "removed": list(self.removed),
                "modified": list(self.modified),
                "renamed": [{"old": a, "new": b} for a, b in self.renamed],
                "counts": dict(self.counts)}

    @classmethod
    def from_dict(cls, d: dict) -> "FolderDiff":
        return cls(added=tuple(d.get("added", ())), removed=tuple(d.get("removed", ())),
                   modified=tuple(d.get("modified", ())),
                   renamed=tuple((r["old"], r["new"]) for r in d.get("renamed", ())),
                   counts=dict(d.get("counts", {})))

    def summary(self) -> str:
        c = self.counts
        parts = [f"{c.get(k, 0):,} {k}" for k in ("added", "removed", "modified", "renamed")
                 if c.get(k)]
        return "files: " + ", ".join(parts) if parts else "no file changes"


def _files(read_tree, oid: str, prefix: str) -> dict[str, TreeEntry]:
    return {p: e for p, e in walk(read_tree, oid, prefix) if e.type != "tree"}


def diff_trees(read_tree, old: str, new: str, limit: int = 20) -> FolderDiff:
    """Diff trees ``old`` and ``new`` (oids) loaded through ``read_tree(oid) -> Tree``."""
    added: dict[str, TreeEntry] = {}
    removed: dict[str, TreeEntry] = {}
    modified: list[tuple[str, str, str]] = []
    stack = [(old, new, "")]
    while stack:
        a, b, prefix = stack.pop()
        ta = {e.name: e for e in read_tree(a).entries}
        tb = {e.name: e for e in read_tree(b).entries}
        for name in sorted(set(ta) | set(tb)):
            ea, eb = ta.get(name), tb.get(name)
            path = prefix + name
            if ea is not None and eb is not None and ea.oid == eb.oid and ea.type == eb.type:
                continue  # identical file or sub-tree: nothing below can differ
            if ea is not None and eb is not None and ea.type == "tree" and eb.type == "tree":
                stack.append((ea.oid, eb.oid, path + "/"))
                continue
            if ea is not None and eb is not None and ea.type != "tree" and eb.type != "tree":
                modified.append((path, ea.oid, eb.oid))
                continue
            if ea is not None:
                removed.update(_files(read_tree, ea.oid, path + "/") if ea.type == "tree" else {path: ea})
            if eb is not None:
                added.update(_files(read_tree, eb.oid, path + "/") if eb.type == "tree" else {path: eb})
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
