"""The index: one SQLite file of data derived from objects and refs.

It holds the stat cache, a table of records (for revisions and ``log``), the
lineage tables (their DDL and queries live in :mod:`mlver.store.graph`), and keys
of cached derived objects (table profiles, env captures). Every row can be rebuilt from objects + refs (``mlver reindex``), so
an index of another schema version is simply deleted and rebuilt.
"""

from __future__ import annotations

import os
import sqlite3
import time

from . import graph

SCHEMA_VERSION = 3

_DDL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stat(
    path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER,
    mtime_ns INTEGER, ctime_ns INTEGER, oid TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records(
    oid TEXT PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT,
    created TEXT, message TEXT, commit_sha TEXT, parent TEXT, status TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_name ON records(name, version);
CREATE TABLE IF NOT EXISTS derived(
    kind TEXT NOT NULL, source TEXT NOT NULL, oid TEXT NOT NULL,
    PRIMARY KEY(kind, source)) WITHOUT ROWID;
"""


def connect(path: str) -> sqlite3.Connection:
    """Open (creating or replacing an outdated one) the index at ``path``."""
    conn = _open(path)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version not in (0, SCHEMA_VERSION):
        # Derived data of another schema: throw it away rather than misread it.
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(path + suffix)
            except FileNotFoundError:
                pass
        conn = _open(path)
    conn.executescript(_DDL)
    conn.executescript(graph.DDL)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.commit()
    return conn


def _open(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    _wal(conn)
    # The index is derived data: losing its last transactions in a power cut costs a
    # rebuild, never content, so it need not fsync on every commit.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _wal(conn: sqlite3.Connection, timeout: float = 30.0) -> None:
    """Switch the index to WAL once. Changing the journal mode does not wait on SQLite's
    busy handler, so two processes opening a fresh index at once retry here instead of
    one failing with "database is locked"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return row[0] if row else None


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, value))


def get_derived(conn: sqlite3.Connection, kind: str, source: str) -> str | None:
    """The oid of the object derived as ``kind`` from ``source`` (e.g. a profile)."""
    row = conn.execute("SELECT oid FROM derived WHERE kind=? AND source=?",
                       (kind, source)).fetchone()
    return row[0] if row else None


def set_derived(conn: sqlite3.Connection, kind: str, source: str, oid: str) -> None:
    conn.execute("INSERT OR REPLACE INTO derived(kind, source, oid) VALUES(?, ?, ?)",
                 (kind, source, oid))


class transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` on an autocommit connection (rolled back on error)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
