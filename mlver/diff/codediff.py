"""The code section of a diff: commits between the two sides, files, patches.

Files already reported as data, params or metrics are left out here, so a
changed ``params.yaml`` is reported once, as params.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from typing import cast

from mlver.base.errors import MlverError
from mlver.core.record import Code
from mlver.core.scope import matches, union
from mlver.core.workspace import Objects
from mlver.diff.changes import CodeChange, Commit, FileChange

_FILE_RE = re.compile(rb"^diff --git a/(.+?) b/", re.M)


def split_patch(patch: bytes) -> dict[str, bytes]:
    """A ``git diff`` as path -> that file's part of it."""
    starts = [(m.start(), m.group(1).decode("utf-8", "replace")) for m in _FILE_RE.finditer(patch)]
    out = {}
    for i, (pos, path) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(patch)
        out[path] = patch[pos:end]
    return out


def _patch_files(objs: Objects, oid: str | None) -> dict[str, bytes]:
    if oid is None:
        return {}
    try:
        return split_patch(objs.read(oid))
    except MlverError:
        return {"(patch object missing)": b""}


def _skipped(path: str, skip: set[str]) -> bool:
    return any(path == s or path.startswith(s.rstrip("/") + "/") for s in skip)


def _in_scope(path: str, scope: Sequence[str] | None, pre: str) -> bool:
    """``path`` (as git names it, from the top of the git repository) in ``scope``
    (root-relative); a path outside the root is never in a scope."""
    if scope is None:
        return True
    if pre and not path.startswith(pre):
        return False
    return matches(path[len(pre):], scope)


def diff_code(objs: Objects, old: Code, new: Code, skip: set[str], name: str | None = None,
              source: str | None = None) -> CodeChange:
    """Commit range, commits, files changed (+/- lines) and patch changes, as plain data.

    Only what touches the code scope counts: the union of both sides' scopes, or the
    whole repository when either side has none (see docs/diff.md, "Code scope").
    With the version's ``name`` (and ``source``, ``dvc.yaml:STAGE`` of an imported
    stage), mlver.toml and that dvc.yaml count only when the version's own part of
    them changed (see :mod:`mlver.diff.configscope`).
    """
    from mlver.capture import git as capgit

    pre = capgit.root_prefix(objs.ws.root)  # git's paths start at its top, records' at root
    skip = {posixpath.normpath(pre + s) for s in skip}
    scope = union(old.scope_paths, new.scope_paths)
    out: CodeChange = {"old_commit": old.commit, "new_commit": new.commit, "old_branch": old.branch,
                       "new_branch": new.branch, "commits": None, "commits_known": True,
                       "files": [], "patch_changed": False, "patch_files": [], "changed": False,
                       "scope": list(scope) if scope is not None else None,
                       "commits_outside_scope": 0}
    if not old.commit and not new.commit:
        out["commits_known"] = False
        out["commits_outside_scope"] = None
        return out
    if old.commit != new.commit:
        if not old.commit or not new.commit:
            out["commits_known"] = False
        else:
            known = capgit.scoped_history(objs.ws.root, old.commit, new.commit, scope)
            if known is None:
                out["commits_known"] = False
            else:
                out["commits"] = cast("list[Commit]", known[0])
                out["files"] = [cast(FileChange, f) for f in known[1]
                                if not _skipped(f["path"], skip)]
                out["commits_outside_scope"] = known[2]
    if not out["commits_known"]:
        out["commits_outside_scope"] = None
    pa, pb = _patch_files(objs, old.patch), _patch_files(objs, new.patch)
    pre = capgit.root_prefix(objs.ws.root) if scope is not None and (pa or pb) else ""
    patch_files = sorted(p for p in set(pa) | set(pb)
                         if pa.get(p) != pb.get(p) and not _skipped(p, skip)
                         and _in_scope(p, scope, pre))
    if name or source:
        from mlver.diff.configscope import quiet_files

        quiet = quiet_files(objs, old, new, name, source,
                            {f["path"] for f in out["files"]} | set(patch_files),
                            capgit.root_prefix(objs.ws.root))
        out["files"] = [f for f in out["files"] if f["path"] not in quiet]
        patch_files = [p for p in patch_files if p not in quiet]
    out["patch_changed"] = bool(patch_files)
    out["patch_files"] = patch_files
    out["changed"] = bool(out["files"]) or out["patch_changed"] or (
        old.commit != new.commit and not out["commits_known"])
    return out
