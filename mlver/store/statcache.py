"""The stat cache: (dev, inode, size, mtime_ns, ctime_ns) of a path -> its oid, and of a
folder, the signature of its entries' stats -> its tree oid.

It lets an unchanged file skip hashing, and an unchanged folder skip the per-file lookups
and the building of its tree. Like git's index it must not trust a
"racily clean" entry: a file modified within the file system's timestamp
granularity of being hashed could change again without its mtime moving, so
such entries are not stored and the file is re-hashed next time.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from typing import NamedTuple, Protocol
from collections.abc import Callable, Iterable

from mlver.base.hashing import is_oid
from mlver.store.index import FolderRow, Index, StatRow

# Coarsest timestamp granularity we allow for (FAT's 2 s); ext4/xfs are finer.
RACY_NS = 2_000_000_000
NO_SIGNATURE = "!"  # the signature of a folder row no walk may reuse (racy when written)


class StatKey(NamedTuple):
    """What a stat says about a file: if all of it matches, the content does too.

    A named tuple, not a dataclass: capture builds one per file, 100k at a time.
    """

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> StatKey:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Monitor(Protocol):
    """What capture asks a file-system monitor (see :mod:`mlver.core.monitor`)."""

    def clock(self) -> str | None: ...

    def unchanged(self, rel: str, since: str) -> bool: ...

    def changed(self, rel: str, since: str) -> list[str] | None: ...


# A captured folder as a monitor vouches for it: (clock, tree oid, size, files, stored).
Monitored = tuple[str, str, int, int, int]
MONITOR_META = "monitor/1:"  # index meta key prefix, + the folder's path


class StatCache:
    """Stat cache rows, loaded per captured path in one query, saved in one transaction.

    ``load(prefix)`` reads every row at or below a path at once (capture calls it
    before walking a folder); a lookup outside any loaded prefix reads its one row.
    Loading only what a capture needs keeps a small snapshot fast in a store that
    also caches a 100k-file dataset.
    """

    def __init__(self, index: Index) -> None:
        self.index = index
        self.started_ns = time.time_ns()
        # path -> the row as read: (path, dev, ino, size, mtime_ns, ctime_ns, oid)
        self._rows: dict[str, StatRow] = {}
        self._loaded: set[str] = set()
        self._dirs: set[str] = set()  # folders whose own files' rows are loaded
        self._new: list[StatRow] = []
        self._folders: dict[str, FolderRow] = {}
        self._folders_loaded: set[str] = set()
        self._new_folders: list[FolderRow] = []
        self.monitor: Monitor | None = None  # set by the workspace when one is turned on
        # the bytes of a tree in the store, verified against its oid, or None when it is
        # not there (set with the monitor: capture patches the last tree with what the
        # monitor says changed)
        self.read_tree: Callable[[str], bytes | None] | None = None
        self._monitored: dict[str, Monitored | None] = {}  # None: forget it

    def _add(self, rows: Iterable[StatRow]) -> None:
        self._rows.update({row[0]: row for row in rows})

    def load(self, prefix: str) -> None:
        """Read every row at or below ``prefix`` ("" or "." for everything)."""
        if prefix in self._loaded or "" in self._loaded:
            return
        if prefix in ("", "."):
            prefix = ""
        self._add(self.index.stat_rows(prefix))
        self._loaded.add(prefix)

    def load_dir(self, folder: str) -> None:
        """Read the rows of the files directly in ``folder`` (capture calls it for each
        folder whose files it looks up: an unchanged folder costs no row at all)."""
        if folder in self._dirs or self._covered(folder + "/"):
            return
        self._add(self.index.stat_rows_in(folder))
        self._dirs.add(folder)

    def _covered(self, path: str) -> bool:
        if "" in self._loaded or path.rpartition("/")[0] in self._dirs:
            return True
        cut = path.find("/")
        while True:
            if (path if cut < 0 else path[:cut]) in self._loaded:
                return True
            if cut < 0:
                return False
            cut = path.find("/", cut + 1)

    def lookup(self, path: str, key: tuple[int, int, int, int, int]) -> str | None:
        """The cached oid of ``path`` when its stat still matches, else None."""
        hit = self._rows.get(path)
        if hit is None and not self._covered(path):
            row = self.index.stat_row(path)
            if row is not None:
                self._rows[path] = hit = row
        if hit is not None and hit[1:6] == key:
            return hit[6]
        return None

    def remember(self, path: str, key: tuple[int, int, int, int, int], oid: str,
                 written: bool = False) -> None:
        """Queue an entry, unless the file is racily clean (see module doc).

        ``key`` is a :class:`StatKey` or a plain tuple in the same order. ``written``: the
        caller itself just wrote these bytes (checkout) and took ``key`` right after, so
        the content is known without a later re-hash; only a second writer in the same
        clock tick, keeping the size, could fool it (git's checkout takes the same risk
        until its racy check).
        """
        if not written and max(key[3], key[4]) >= self.started_ns - RACY_NS:
            return
        row: StatRow = (path, *key, oid)
        if self._rows.get(path) != row:
            self._new.append(row)

    def load_folders(self, prefix: str) -> None:
        """Read every folder row at or below ``prefix`` (one per folder: a few hundred
        for 100k files)."""
        if prefix in self._folders_loaded:
            return
        with contextlib.suppress(sqlite3.Error):  # a cache: a failed read is a miss
            self._folders.update({r[0]: r for r in self.index.folder_rows(
                "" if prefix == "." else prefix)})
        self._folders_loaded.add(prefix)

    def folder(self, path: str, sig: str, own: bool = False) -> FolderRow | None:
        """The row of the folder ``path`` when its signature is still ``sig``; with ``own``,
        when the folder's own part of it is (its sub-folders' part, after a "/", not yet
        known: see capture.files._row_sig)."""
        row = self._folders.get(path)
        if row is None:
            return None
        return row if (row[1].partition("/")[0] if own else row[1]) == sig else None

    def remember_folder(self, row: FolderRow, newest_ns: int) -> None:
        """Queue a folder row. When an entry in it is racily clean (``newest_ns``: the
        latest mtime or ctime of its entries; see module doc) its signature is left out
        (:data:`NO_SIGNATURE`: the row is never reused by a walk), but what it says of the
        tree stays: "this tree, and everything below it, is in the store" when a writing
        capture wrote it (see :meth:`stored_tree`)."""
        if newest_ns >= self.started_ns - RACY_NS:
            if not row[5]:
                return  # nothing to keep: a racy row of a capture that wrote nothing
            row = (row[0], NO_SIGNATURE, *row[2:])
        if self._folders.get(row[0]) != row:
            self._new_folders.append(row)

    def stored_tree(self, path: str, oid: str) -> bool:
        """True when the last row kept for the folder ``path`` says its tree was ``oid``
        and a writing capture stored it, with every object below it (gc forgets every
        row before it deletes anything): a walk that wrote nothing but found that same tree
        (a status after a snapshot of files modified just before it) may count it as
        stored, whatever the row's signature."""
        row = self._folders.get(path)
        return row is not None and row[2] == oid and row[5] == 1

    def monitored(self, path: str) -> Monitored | None:
        """What the last capture of the folder ``path`` found, and the monitor's clock
        taken before it; None when there is none (or it does not parse)."""
        with contextlib.suppress(sqlite3.Error, ValueError, TypeError):
            raw = self.index.get_meta(MONITOR_META + path)
            if raw:
                clock, oid, size, count, stored = json.loads(raw)
                # a row that does not parse as one capture wrote it is no base (a negative
                # size taken from it made a snapshot write a record nothing can read)
                if (isinstance(clock, str) and clock and is_oid(oid)
                        and all(type(v) is int for v in (size, count, stored))
                        and size >= 0 and count >= 0 and stored in (0, 1)
                        and (count > 0 or size == 0)):
                    return clock, oid, size, count, stored
        return None

    def remember_monitored(self, path: str, row: Monitored) -> None:
        """Queue what a capture of ``path`` found, with the clock taken before it."""
        self._monitored[path] = row

    def forget_monitored(self, path: str) -> None:
        """Queue dropping what a monitor vouched for at ``path``: it is no longer a base."""
        self._monitored[path] = None

    def save(self) -> None:
        """Write queued entries in one transaction each."""
        # Only an optimisation: a full disk or a busy index must not turn a version
        # that is already published into a failed command. Those files are hashed
        # again next time.
        if self._new:
            with contextlib.suppress(sqlite3.Error, OSError):
                self.index.put_stat_rows(self._new)
            self._new = []
        if self._new_folders:
            with contextlib.suppress(sqlite3.Error, OSError):
                self.index.put_folder_rows(self._new_folders)
            self._new_folders = []
        if self._monitored:
            with contextlib.suppress(sqlite3.Error, OSError):
                self.index.set_meta_many((MONITOR_META + k, json.dumps(list(v)) if v else "")
                                         for k, v in self._monitored.items())
            self._monitored = {}
