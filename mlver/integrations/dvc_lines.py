"""Lines of parents for ``mlver import-dvc``: which version a new one follows.

A record's parent is the latest version of its name whose commit is the record's own
commit or an ancestor of it, so versions imported from sibling branches are never each
other's parents. While walking a history (parents before children), each commit gets a
*line*: for each name, the latest version on its history. A commit's line is its
parents' lines merged (the later version wins) plus the versions of its own commit; for
a parent outside the walk (imported before, or before the range), the versions stored
in the index whose commits git lists among that parent's ancestors stand in.

:func:`producers_first` orders the versions of one commit so that lineage can link them.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Callable

from mlver.capture import git as capgit
from mlver.core.record import Record
from mlver.store import Store

# A reference to a version, ordered by creation: (0, rank, oid) for a version stored
# before this walk (rank grows with its version), (1, seq, "") for one drafted in it.
Ref = tuple[int, int, str]


class Lines:
    """The latest version of each name on the history of each walked commit."""

    def __init__(self, store: Store, top: str) -> None:
        self.store, self.top = store, top
        self.lines: dict[str, dict[str, Ref]] = {}
        self.shared: set[str] = set()         # commits whose line is still a parent's dict
        self.bounds: dict[str, frozenset[str]] = {}  # commit -> parents outside the walk
        self.ancestors: dict[str, set[str]] = {}
        self.stored: dict[str, list[tuple[str, str | None]]] = {}

    def enter(self, sha: str, parents: tuple[str, ...]) -> None:
        """Start the line of commit ``sha`` from its parents' (before its own versions)."""
        walked = [p for p in parents if p in self.lines]
        bounds = frozenset(p for p in parents if p not in self.lines).union(
            *(self.bounds[p] for p in walked))
        self.bounds[sha] = bounds
        if len(walked) == 1:  # the common case: share the parent's dict until it changes
            self.lines[sha] = self.lines[walked[0]]
            self.shared.add(sha)
            return
        line: dict[str, Ref] = {}
        for p in walked:
            for name, ref in self.lines[p].items():
                if name not in line or ref > line[name]:
                    line[name] = ref
        self.lines[sha] = line

    def set(self, sha: str, name: str, ref: Ref) -> None:
        """``ref`` is a version of ``name`` at commit ``sha`` (the latest on its line)."""
        if sha in self.shared:
            self.lines[sha] = dict(self.lines[sha])
            self.shared.discard(sha)
        self.lines[sha][name] = ref

    def latest(self, sha: str, name: str) -> Ref | None:
        """The latest version of ``name`` on the history of ``sha`` (entered, not yet
        holding its own versions: so the version a new one at ``sha`` follows)."""
        best = self.lines.get(sha, {}).get(name)
        for b in self.bounds.get(sha, ()):
            found = self._stored_before(b, name)
            if found is not None and (best is None or found > best):
                best = found
        return best

    def _stored_before(self, commit: str, name: str) -> Ref | None:
        if name not in self.stored:
            self.stored[name] = self.store.index.commits_of(name)  # newest first
        versions = self.stored[name]
        if not versions:
            return None
        if commit not in self.ancestors:
            self.ancestors[commit] = capgit.ancestors(self.top, commit)
        reach = self.ancestors[commit]
        for i, (oid, c) in enumerate(versions):
            if c and c in reach:
                return (0, len(versions) - i, oid)
        return None

    def stored_ref(self, name: str, oid: str) -> Ref:
        """The reference of the stored version ``oid`` of ``name``."""
        if name not in self.stored:
            self.stored[name] = self.store.index.commits_of(name)
        versions = self.stored[name]
        for i, (o, _c) in enumerate(versions):
            if o == oid:
                return (0, len(versions) - i, oid)
        return (0, 0, oid)


class Resolved:
    """What each reference stands for once written: ``(oid, record)`` or None (no
    version). A draft that was not written (the same content as the version it follows)
    stands for that version."""

    def __init__(self, load: Callable[[str], Any]) -> None:
        self.load = load
        self.drafted: dict[int, tuple[str, Any] | None] = {}
        self.records: dict[str, Any] = {}

    def get(self, ref: Ref | None) -> tuple[str, Any] | None:
        if ref is None:
            return None
        if ref[0] == 1:
            return self.drafted.get(ref[1])
        oid = ref[2]
        if oid not in self.records:
            self.records[oid] = self.load(oid)
        return oid, self.records[oid]


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def producers_first(drafts: list[Record]) -> list[Record]:
    """``drafts`` ordered so that a record whose output a later one takes as input comes
    first (ties by name); a cycle (which DVC refuses) keeps name order."""
    todo = sorted(drafts, key=lambda r: r.name)
    out: list[Record] = []
    while todo:
        for i, rec in enumerate(todo):
            ins = [a.path for a in rec.inputs.values()]
            if not any(_overlap(o.path, p) for other in todo if other is not rec
                       for o in other.outputs.values() for p in ins):
                out.append(todo.pop(i))
                break
        else:
            out += todo
            break
    return out
