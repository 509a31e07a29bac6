"""``mlver status``: the workspace compared with the latest version of each name on HEAD's
git history (:func:`mlver.core.branches.version_on_head`).

Reads through the stat cache and writes no objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlver.core import history
from mlver.core.branches import BranchVersion, head_ancestry, version_on_head
from mlver.base.errors import MlverError
from mlver.diff.identity import counts_code
from mlver.core.record import Code, Record
from mlver.store import Store
from mlver.core.workspace import Workspace
from mlver.ops.drift import drift

if TYPE_CHECKING:
    from mlver.capture.git import CodeCapture


@dataclass(frozen=True)
class SlotStatus:
    """One input/output of the latest version compared with the workspace."""

    side: str  # "input" or "output"
    slot: str
    path: str
    # "unchanged", "modified", "removed" (its file is gone from the workspace: the word
    # mlver diff uses for the same fact; see docs/concepts.md)
    status: str
    old: str
    new: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"side": self.side, "slot": self.slot, "path": self.path, "status": self.status,
                "old": self.old, "new": self.new}


@dataclass(frozen=True)
class NameStatus:
    """``mlver status`` for one name."""

    name: str
    version: int
    oid: str
    slots: tuple[SlotStatus, ...]
    params_changed: bool
    code_changed: bool
    code_why: str | None = field(default=None, compare=False)  # for the text, not the JSON
    branch: BranchVersion | None = field(default=None, compare=False)  # why this version
    # params keys whose value changed outside the record's params scope (not a change)
    params_outside_scope: tuple[str, ...] = ()
    # params files of the record absent in the workspace (a fresh clone): their values
    # are taken as recorded, not compared, so not a change (as in mlver diff)
    params_absent: tuple[str, ...] = ()

    @property
    def note(self) -> str | None:
        """Which version this is, when the label alone does not say (a newer version sits
        on another branch, or none is on this branch's history)."""
        return self.branch.note if self.branch is not None else None

    @property
    def clean(self) -> bool:
        """True when nothing differs from the version."""
        return not self.params_changed and not self.code_changed and all(
            s.status == "unchanged" for s in self.slots)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name, "version": self.version, "oid": self.oid, "clean": self.clean,
            "params_changed": self.params_changed, "code_changed": self.code_changed,
            "slots": [s.to_dict() for s in self.slots]}
        d.update(self.branch.to_dict() if self.branch is not None
                 else {"on_branch": None, "latest_version": self.version})
        if self.params_outside_scope:  # only then: the form before params scopes stays
            d["params_outside_scope"] = list(self.params_outside_scope)
        if self.params_absent:  # only then, likewise
            d["params_absent"] = list(self.params_absent)
        return d


def status(store: Store, ws: Workspace, names: list[str]) -> list[NameStatus]:
    """One :class:`NameStatus` per name (with versions), against the version
    :func:`~mlver.core.branches.version_on_head` picks."""
    cache = ws.stat_cache()
    head_commit: str | None = None
    captures: dict[tuple[str, ...], CodeCapture | None] = {}
    out = []
    ancestry = head_ancestry(ws.root)  # one cache of git's answers for every name
    for n in names:
        branch = version_on_head(store, n, ws.root, ancestry)
        if branch is None:
            continue
        oid = branch.oid
        rec = history.load_record(store, oid)
        slots = []
        for side, arts in (("input", rec.inputs), ("output", rec.outputs)):
            for slot, art in arts.items():
                if art.source:
                    slots.append(SlotStatus(side, slot, art.path, "unchanged", art.oid, art.oid))
                    continue
                now = drift(ws, art, cache)  # errors name the path
                slots.append(SlotStatus(side, slot, art.path, now.state, art.oid, now.oid))
        if rec.code.commit and head_commit is None:
            if ancestry is not None:  # HEAD as the ancestry read it: no second git call
                head_commit = ancestry.target
            else:
                from mlver.capture import git as capgit

                head_commit = capgit.head_commit(ws.root) or ""
        # a raw dataset (no command, no inputs) was made by no code: its code never counts
        why = _code_why(store, ws, rec, head_commit, captures) \
            if rec.code.commit and counts_code(rec) else None
        absent = tuple(f for f in rec.params_files if not os.path.isfile(ws.full(f)))
        inside, outside = _params_changed(ws.root, rec, absent)
        out.append(NameStatus(n, rec.version, oid, tuple(slots), inside, why is not None, why,
                              branch, outside, absent))
    cache.save()
    return out


def _code_why(store: Store, ws: Workspace, rec: Record, head: str | None,
              captures: dict[tuple[str, ...], CodeCapture | None]) -> str | None:
    """Why the record's code differs from the workspace's, or None when it does not.

    Without a code scope (the whole repository) another HEAD commit counts when it
    changes a file that is code (as in ``mlver diff``: not the record's data, params or
    metrics files, nor another name's part of mlver.toml). With one, only commits
    touching the scope do.
    Uncommitted changes count in both cases when they differ from the recorded ones
    in a file of the scope (the record's inputs, outputs, params and metrics files
    left out, as in a diff).
    """
    from mlver.capture import git as capgit
    from mlver.diff.codediff import diff_code
    from mlver.diff.configscope import config_part
    from mlver.core.workspace import MemoryBatch, Objects

    skip = {a.path for a in (*rec.inputs.values(), *rec.outputs.values())}
    skip |= set(rec.params_files) | set(rec.metrics_files)
    key = tuple(sorted(a.path for a in (*rec.inputs.values(), *rec.outputs.values())
                       if not a.source))
    if key not in captures:  # one git capture per set of captured paths
        captures[key] = capgit.capture_code(ws.root, list(key))
    now = captures[key]
    if now is None or now.commit is None:
        return "the workspace has no git commit"
    patch = MemoryBatch(ws.overlay).add_bytes(now.patch) if now.patch else None
    d = diff_code(Objects(store, ws), rec.code,
                  Code(commit=now.commit, patch=patch, scope=rec.code.scope), skip,
                  *config_part(rec, rec))
    if not d["changed"]:
        return None
    if rec.code.scope is None and head != rec.code.commit:
        return "HEAD is another commit"
    if not d["commits_known"]:
        return "HEAD is another commit (history not known locally)"
    if d["files"]:
        n = len(d["commits"] or ())
        return f"{n} commit{'s' if n != 1 else ''} touch{'es' if n == 1 else ''} the code scope"
    shown = ", ".join(d["patch_files"][:3]) + (" …" if len(d["patch_files"]) > 3 else "")
    return f"uncommitted changes in {shown}"


def _params_changed(root: str, rec: Record,
                    absent: tuple[str, ...] = ()) -> tuple[bool, tuple[str, ...]]:
    """Whether a key of the record's params scope now holds another value in its params
    files, and the keys outside the scope that do (information, not a change).

    Only keys present in the files now are compared: keys given as KEY=VALUE live in
    no file, so their absence from the files says nothing; nor does an ``absent`` file's.
    """
    from mlver.core.params import collect, flatten
    from mlver.core.paramscope import matcher

    present = [f for f in rec.params_files if f not in absent]
    if not present:
        return False, ()
    try:
        now = flatten(collect(present, root)[0])
    except MlverError:
        return True, ()
    old = flatten(rec.params)
    moved = [k for k, v in now.items() if old.get(k, _MISSING) != v]
    # a record holding only its scope's keys (imported from dvc.lock) knows no other
    # key's old value: those are not listed
    known = rec.params_scope is not None and rec.scoped_params != rec.params
    inside = matcher(rec.params_scope)
    return (any(inside(k) for k in moved),
            tuple(sorted(k for k in moved if known and not inside(k))))


_MISSING = object()
