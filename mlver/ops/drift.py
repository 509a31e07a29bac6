"""Whether the workspace still holds what a record holds: one recorded path at a time.

``mlver status``, the git hooks (which warn about or restore a record's data after a
checkout) and the hooks' guard (which decides whether a snapshot is due) all ask this
question of a recorded artifact; they ask it here. Reads through the stat cache and
writes no objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlver.capture.path import capture_path
from mlver.core.record import Artifact
from mlver.core.workspace import Workspace
from mlver.store.statcache import StatCache

UNCHANGED, MODIFIED, REMOVED = "unchanged", "modified", "removed"


@dataclass(frozen=True)
class Drift:
    """A recorded path compared with the workspace: ``state`` is ``unchanged``,
    ``modified`` or ``removed`` (its file is gone: the word ``mlver diff`` uses);
    ``oid`` is what the path holds now (None when removed)."""

    state: str
    oid: str | None

    @property
    def changed(self) -> bool:
        """True when the workspace no longer holds what was recorded."""
        return self.state != UNCHANGED


def drift(ws: Workspace, art: Artifact, cache: StatCache, path: str | None = None) -> Drift:
    """Compare ``art`` (recorded content) with what ``path`` (default: its recorded path)
    holds in the workspace now. Content and type count (a folder is not a file holding a
    folder's listing); an error reading the path is raised, naming the path."""
    where = art.path if path is None else path
    if not ws.exists(where):
        return Drift(REMOVED, None)
    now = capture_path(ws.root, where, cache)
    same = now.oid == art.oid and now.type == art.type
    return Drift(UNCHANGED if same else MODIFIED, now.oid)


__all__ = ["MODIFIED", "REMOVED", "UNCHANGED", "Drift", "drift"]
