"""Capture one path: a file, a folder or a symlink, through the stat cache, and with a
file-system monitor at the cost of what changed.

A top-level symlink is followed (an input named by a link means its content); links inside a
folder are stored as links (see :mod:`mlver.capture.files`). A folder is walked
(:func:`~mlver.capture.files.walk_folder`) unless the monitor (``mlver monitor on``) says what
changed below it since its last capture: then that capture's tree is reused when nothing did,
and patched with the changed paths otherwise (:mod:`mlver.capture.monitored`).
"""

from __future__ import annotations

import os
import stat as stat_mod

from typing import TYPE_CHECKING

from mlver.base.errors import CaptureError
from mlver.base.progress import Progress
from mlver.capture.files import (Captured, capture_file, refuse_special, special,
                                 stored_flag, walk_folder)
from mlver.capture.monitored import capture_monitored
from mlver.store.statcache import StatCache

if TYPE_CHECKING:  # pragma: no cover
    from mlver.store.batch import Batch  # a type here: status never loads the writer


def capture_path(root: str, rel: str, cache: StatCache, batch: Batch | None = None,
                 progress: Progress | None = None) -> Captured:
    """Capture ``root/rel`` (a file, folder or symlink); write objects when ``batch`` is given."""
    full = os.path.join(root, rel)
    try:
        st = os.stat(full)
    except FileNotFoundError:
        raise CaptureError(f"path '{rel}' does not exist; check the path or create it "
                           "first") from None
    except PermissionError:
        raise CaptureError(f"cannot access '{rel}' (permission denied); fix its "
                           "permissions") from None
    except OSError as e:
        raise CaptureError(f"cannot access '{rel}' ({e.strerror}); check the path") from None
    try:
        if stat_mod.S_ISDIR(st.st_mode):
            return _folder(root, rel, cache, batch, progress)
        if stat_mod.S_ISREG(st.st_mode):
            return capture_file(root, rel, st, cache, batch, progress)
    except (FileNotFoundError, NotADirectoryError) as e:
        # Something else deleted or replaced a part of it while we read it.
        gone = os.path.relpath(e.filename, root) if e.filename else rel
        raise CaptureError(f"'{rel}' changed while it was being captured ('{gone}' "
                           "vanished); capture it again when nothing is writing to it") from None
    raise refuse_special(rel, special(st) or "not a regular file")


def _folder(root: str, rel: str, cache: StatCache, batch: Batch | None,
            progress: Progress | None) -> Captured:
    # A monitor watches names, not what a symlink on the way leads to: a folder reached
    # through one is walked.
    clock = None
    if cache.monitor is not None and _no_link_on_the_way(root, rel):
        clock = cache.monitor.clock()
    if clock is not None:
        got = capture_monitored(root, rel, cache, batch, progress)
        if got is not None:
            cap, stored = got
            if stored is not None:  # the base of the next capture, from this clock on
                cache.remember_monitored(rel, (clock, cap.oid, cap.size, cap.files, stored))
            return cap
    cap = walk_folder(root, rel, cache, batch, progress)
    if clock is not None and cap.shared:
        # A hard-linked file changes with no event under this folder when written through
        # its other name: no monitor base (and none left from before), the next one walks.
        cache.forget_monitored(rel)
    elif clock is not None:  # taken before the walk: a change during it shows next time
        cache.remember_monitored(rel, (clock, cap.oid, cap.size, cap.files,
                                       _stored(cap, batch)))
    return cap


def _stored(cap: Captured, batch: Batch | None) -> int:
    """1 when the objects of the tree a walk found are all in the store: it wrote them, or
    it reused whole a folder row a writing capture left (a status right after a snapshot),
    so that the next snapshot can patch from it. (A tree merely present is not enough: one
    fetched on demand after ``pull --no-data`` comes without its blobs.)"""
    return 1 if stored_flag(batch) or (batch is None and cap.stored) else 0


def _no_link_on_the_way(root: str, rel: str) -> bool:
    real_root = os.path.realpath(root)
    return os.path.realpath(os.path.join(root, rel)) == os.path.normpath(
        os.path.join(real_root, rel))
