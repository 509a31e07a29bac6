"""Content named by a path or an oid (``Repo.used_by``, ``Repo.produced_by``)."""

from __future__ import annotations

from mlver.base.errors import CaptureError
from mlver.base.hashing import is_oid
from mlver.capture.path import capture_path
from mlver.core.workspace import Workspace


def content_oid(ws: Workspace, path_or_oid: str) -> str:
    """An oid given as is, or the oid of a path's current content (writing nothing).
    A path is relative to the repository root."""
    if is_oid(path_or_oid) and not ws.exists(path_or_oid):
        return path_or_oid
    try:
        rel = ws.to_rel(path_or_oid)
        if not ws.exists(rel):
            raise CaptureError(f"'{path_or_oid}' does not exist")
    except CaptureError as e:
        raise CaptureError(f"{e} (paths in the Python API are relative to the repository "
                           f"root {ws.root}, not to the current folder)") from None
    cache = ws.stat_cache()
    oid = capture_path(ws.root, rel, cache).oid
    cache.save()
    return oid
