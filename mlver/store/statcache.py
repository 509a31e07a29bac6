"""The stat cache: (dev, inode, size, mtime_ns, ctime_ns) of a path -> its oid.

It lets an unchanged file skip hashing. Like git's index it must not trust a
"racily clean" entry: a file modified within the file system's timestamp
granularity of being hashed could change again without its mtime moving, so
such entries are not stored and the file is re-hashed next time.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass

from .index import transaction

# Coarsest timestamp granularity we allow for (FAT's 2 s); ext4/xfs are finer.
RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class StatKey:
    """What a stat says about a file: if all of it matches, the content does too."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> "StatKey":
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class StatCache:
    """Stat cache rows under one path prefix, loaded in one query, saved in one transaction."""

    def __init__(self, conn: sqlite3.Connection, prefix: str = "") -> None:
        self.conn = conn
        self.started_ns = time.time_ns()
        self._rows: dict[str, tuple[StatKey, str]] = {}
        self._new: list[tuple] = []
        if prefix:
            rows = conn.execute(
                "SELECT path, dev, ino, size, mtime_ns, ctime_ns, oid FROM stat "
                "WHERE path = ? OR (path >= ? AND path < ?)",
                (prefix, prefix + "/", prefix + "0"))  # '0' sorts right after '/'
        else:
            rows = conn.execute("SELECT path, dev, ino, size, mtime_ns, ctime_ns, oid FROM stat")
        for path, *key, oid in rows:
            self._rows[path] = (StatKey(*key), oid)

    def lookup(self, path: str, key: StatKey) -> str | None:
        """The cached oid of ``path`` when its stat still matches, else None."""
        hit = self._rows.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        return None

    def remember(self, path: str, key: StatKey, oid: str) -> None:
        """Queue an entry, unless the file is racily clean (see module doc)."""
        if max(key.mtime_ns, key.ctime_ns) >= self.started_ns - RACY_NS:
            return
        if self._rows.get(path) == (key, oid):
            return
        self._new.append((path, key.dev, key.ino, key.size, key.mtime_ns, key.ctime_ns, oid))

    def save(self) -> None:
        """Write queued entries in one transaction."""
        if not self._new:
            return
        with transaction(self.conn):
            self.conn.executemany(
                "INSERT OR REPLACE INTO stat(path, dev, ino, size, mtime_ns, ctime_ns, oid) "
                "VALUES(?, ?, ?, ?, ?, ?, ?)", self._new)
        self._new = []
