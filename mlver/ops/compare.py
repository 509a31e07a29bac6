"""``mlver diff``: which two records to compare, and what git says of them.

A second revision left out means the workspace now, compared with the first's latest
version on HEAD's git history when the first is a bare name; the diff itself is
:func:`mlver.diff.records.diff_records`."""

from __future__ import annotations

from typing import Any

from mlver.base.progress import Progress
from mlver.core import branches, history
from mlver.core.lineage import check_depth
from mlver.core.workspace import Workspace
from mlver.diff.records import diff_records
from mlver.diff.value import Diff
from mlver.ops.snapshot import workspace_record
from mlver.store import Store


def diff_revisions(store: Store, ws: Workspace, a: str, b: str | None,
                   keys: dict[str, Any] | None = None, rows: int = 0,
                   progress: Progress | None = None, depth: int = 3,
                   targets: dict[str, str] | None = None,
                   profiles: dict[str, dict[str, Any]] | None = None,
                   read_only: bool = False) -> Diff:
    """The diff of revision ``a`` and ``b`` (None: the workspace), marked with what git
    knows of the two (see :meth:`mlver.api.Repo.diff`). ``read_only``: cache no profile."""
    check_depth(depth)
    branch = branches.workspace_base(store, a, ws.root) if b is None else None
    old_oid = branch.oid if branch else history.resolve(store, a)
    old = history.load_record(store, old_oid)
    if b is None:
        new_oid, new = None, workspace_record(store, ws, old)
    else:
        new_oid = history.resolve(store, b)
        new = history.load_record(store, new_oid)
    d = diff_records(store, ws, old_oid, old, new_oid, new,
                     keys=keys or {}, rows=rows, progress=progress, depth=depth,
                     targets=targets, profiles=profiles, cache=False if read_only else None)
    marked: Diff
    if branch is not None:
        marked = branches.annotate(d, branch)
    else:
        marked = branches.mark_pair(d, ws.root, old, new if new_oid is not None else None,
                                    lambda oid: history.load_record(store, oid).label)
    return marked
