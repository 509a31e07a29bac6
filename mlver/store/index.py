"""The index: one SQLite file of data derived from objects and refs.

It holds the stat cache, a table of records (for revisions and ``log``), the
lineage edges, and keys of cached derived objects (table profiles, env
captures). Every row can be rebuilt from objects + refs (``mlver reindex``), so
an index of another schema version is simply deleted and rebuilt.

Every SQL statement of mlver lives in this package: :class:`Index` here names each
query as a method, and :mod:`mlver.store.graph` holds the lineage queries.
"""

from __future__ import annotations

import os
import sqlite3
import time
from types import TracebackType
from typing import NamedTuple
from collections.abc import Iterable, Iterator

from mlver.base.errors import StoreFormatError
from mlver.store import graph as graphmod
from mlver.store.safefs import check_file
import contextlib

SCHEMA_VERSION = 5  # 5: the folders table (a version-4 index gains it in place)
INDEX_FILE = "index.sqlite"

_DDL = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stat(
    path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER,
    mtime_ns INTEGER, ctime_ns INTEGER, oid TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records(
    oid TEXT PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL, kind TEXT,
    created TEXT, message TEXT, commit_sha TEXT, parent TEXT, status TEXT) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_name ON records(name, version);
CREATE TABLE IF NOT EXISTS folders(
    path TEXT PRIMARY KEY, sig TEXT NOT NULL, oid TEXT NOT NULL, size INTEGER NOT NULL,
    count INTEGER NOT NULL, stored INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS derived(
    kind TEXT NOT NULL, source TEXT NOT NULL, oid TEXT NOT NULL,
    PRIMARY KEY(kind, source)) WITHOUT ROWID;
"""

StatRow = tuple[str, int, int, int, int, int, str]  # path, dev, ino, size, mtime, ctime, oid
# path, signature of its entries' stats, tree oid, size, files below, stored (0/1)
FolderRow = tuple[str, str, str, int, int, int]
_STAT_COLS = "SELECT path, dev, ino, size, mtime_ns, ctime_ns, oid FROM stat"


class RecordRow(NamedTuple):
    """What the index keeps of one record (the record object itself stays the truth)."""

    oid: str
    name: str
    version: int
    kind: str
    created: str
    message: str
    commit: str | None
    parent: str | None
    status: str  # "ok" or "failed"


# (relation, slot, path, oid, type, source) of one input or output: what lineage links.
SlotRow = tuple[str, str, str, str, str, "str | None"]


def connect(path: str) -> sqlite3.Connection:
    """Open (creating, or replacing an outdated one) the index database at ``path``."""
    conn = _open(path)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    # 4 differs only by a table the DDL below adds; an older mlver, seeing 5, starts over
    if version not in (0, 4, SCHEMA_VERSION):
        # Derived data of another schema: throw it away rather than misread it.
        conn.close()
        _unlink_all(path)
        conn = _open(path)
    elif version == SCHEMA_VERSION:
        # made already: no DDL, and no write transaction at every open (a table missing
        # from a damaged file fails _checked's touch, and the index is rebuilt)
        return conn
    conn.executescript(_DDL + graphmod.DDL)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.commit()
    return conn


def _checked(path: str) -> sqlite3.Connection:
    """Connect and touch every table, so a damaged file fails here and not mid-command."""
    conn = connect(path)
    try:
        for table in ("meta", "stat", "folders", "records", "derived", *graphmod.TABLES):
            conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()
    except sqlite3.DatabaseError:
        conn.close()
        raise
    return conn


def connect_read_only(path: str) -> sqlite3.Connection | None:
    """Open the index at ``path`` so that this connection can never write (SQLite
    ``mode=ro``: any write fails), or None when there is no usable index there (missing,
    another schema version, unreadable). SQLite may still create its ``-wal``/``-shm``
    coordination files beside it, and removes them when the last connection closes."""
    if not os.path.isfile(path):
        return None
    import urllib.parse  # here: 2 ms of import that only the read-only open needs

    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.DatabaseError:
        return None
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            conn.close()
            return None
        for table in ("meta", "stat", "records", "derived", "pending", *graphmod.TABLES):
            conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchall()
    except sqlite3.DatabaseError:
        conn.close()
        return None
    return conn


def _readonly(e: sqlite3.DatabaseError) -> bool:
    return "readonly" in str(e) or "read-only" in str(e) or "unable to open" in str(e)


def _readonly_error(path: str, e: sqlite3.DatabaseError) -> StoreFormatError:
    return StoreFormatError(f"the index {path} cannot be opened for writing ({e}); fix the "
                            "permissions of it and its folder, or delete it (mlver rebuilds it)")


def _unlink_all(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)


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


class transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` on an autocommit connection (rolled back on error)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


class Index:
    """The index of one store: every query it answers is a named method.

    The index is derived data: one that SQLite cannot read (truncated, garbage) is
    deleted and rebuilt, and ``damaged`` says why, so the caller can warn.

    With ``read_only`` the file is opened so that nothing can be written to it
    (``read_only`` is then True, and lineage does not catch up: see
    :meth:`Graph.pending_count`); when there is no usable index file, a private index in
    memory stands in (``in_memory`` True): the caller fills it, and nothing on disk changes.
    """

    def __init__(self, path: str, read_only: bool = False) -> None:
        self.path = path
        self.damaged: str | None = None
        self.read_only = False
        self.in_memory = False
        for suffix in ("", "-wal", "-shm"):
            check_file(path + suffix)  # never a link to someone else's database
        if read_only:
            conn = connect_read_only(path)
            if conn is None:
                conn = _checked(":memory:")
                self.in_memory = True
            else:
                self.read_only = True
            self.conn = conn
            self.graph = graphmod.Graph(self.conn, read_only=self.read_only)
            return
        try:
            self.conn = _checked(path)
        except sqlite3.DatabaseError as e:
            if _readonly(e):
                raise _readonly_error(path, e) from None
            self.damaged = str(e)
            _unlink_all(path)
            self.conn = _checked(path)
        self.graph = graphmod.Graph(self.conn)

    def close(self) -> None:
        self.conn.close()

    @staticmethod
    def delete(path: str) -> None:
        """Remove the index files at ``path`` (it is rebuilt on the next open)."""
        _unlink_all(path)

    # -- records ----------------------------------------------------------------------------

    def add_records(self, items: Iterable[tuple[RecordRow, list[SlotRow]]],
                    read_tree: graphmod.ReadTree, replace_all: bool = False) -> None:
        """Add records and their lineage edges in one transaction (replacing any present).

        With ``replace_all`` every record row and edge is replaced by ``items`` in that
        same transaction: readers see the old index or the new one, and writers wait,
        so a rebuild beside other commands loses nothing.
        """
        with transaction(self.conn) as c:
            if replace_all:
                c.execute("DELETE FROM records")
                self.graph.clear()
            for row, slots in items:
                c.execute("INSERT OR REPLACE INTO records(oid, name, version, kind, created,"
                          " message, commit_sha, parent, status) VALUES(?,?,?,?,?,?,?,?,?)", row)
                self.graph.add_record(row.oid, slots, read_tree)

    def change_counter(self) -> int:
        """A number that changes when another connection commits to the index (SQLite's
        ``PRAGMA data_version``): a reader caches what it derived until it moves."""
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def has_record(self, oid: str) -> bool:
        """True when the record ``oid`` is indexed."""
        return self.conn.execute("SELECT 1 FROM records WHERE oid=?", (oid,)).fetchone() is not None

    def count_records(self) -> int:
        """How many records are indexed."""
        return int(self.conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def head_of(self, name: str) -> tuple[str, int] | None:
        """``(oid, version)`` of the highest version of ``name`` indexed, or None."""
        row = self.conn.execute("SELECT oid, version FROM records WHERE name=? "
                                "ORDER BY version DESC LIMIT 1", (name,)).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    def drop_name(self, name: str) -> None:
        """Forget every record of ``name`` (its ref moved in a way the index cannot follow)."""
        with transaction(self.conn) as c:
            for (oid,) in c.execute("SELECT oid FROM records WHERE name=?", (name,)).fetchall():
                self.graph.remove_record(oid)
            c.execute("DELETE FROM records WHERE name=?", (name,))

    def oid_at(self, name: str, version: int) -> str | None:
        """The oid of ``name`` at ``version``, or None."""
        row = self.conn.execute("SELECT oid FROM records WHERE name=? AND version=?",
                                (name, version)).fetchone()
        return str(row[0]) if row else None

    def oids_with_prefix(self, prefix: str) -> list[str]:
        """Indexed record oids starting with ``prefix`` (lowercase hex)."""
        return [str(r[0]) for r in self.conn.execute(
            "SELECT oid FROM records WHERE oid >= ? AND oid < ?", (prefix, prefix + "g"))]

    def log(self, name: str | None = None) -> list[str]:
        """Record oids newest first: one name's by version, or every record's by time."""
        if name is not None:
            rows = self.conn.execute(
                "SELECT oid FROM records WHERE name=? ORDER BY version DESC", (name,))
        else:
            rows = self.conn.execute("SELECT oid FROM records ORDER BY created DESC, name")
        return [str(r[0]) for r in rows]

    def commits_of(self, name: str) -> list[tuple[str, str | None]]:
        """``(record oid, code commit)`` of every version of ``name``, newest first."""
        rows = self.conn.execute(
            "SELECT oid, commit_sha FROM records WHERE name=? ORDER BY version DESC", (name,))
        return [(str(r[0]), None if r[1] is None else str(r[1])) for r in rows]

    def versions_holding(self, name: str, relation: str, slot: str, oid: str,
                         limit: int) -> list[tuple[str, int, str | None]]:
        """``(record oid, version, code commit)`` of the versions of ``name`` whose
        ``relation`` (``"input"`` or ``"output"``) slot ``slot`` holds content ``oid`` as a
        whole, newest first, at most ``limit`` of them (the hooks ask where a workspace's
        files came from)."""
        rows = self.conn.execute(
            "SELECT r.oid, r.version, r.commit_sha FROM slots s JOIN records r"
            " ON r.oid = s.record WHERE s.oid=? AND s.relation=? AND s.slot=? AND r.name=?"
            " ORDER BY r.version DESC LIMIT ?", (oid, relation, slot, name, max(limit, 0)))
        return [(str(r[0]), int(r[1]), None if r[2] is None else str(r[2])) for r in rows]

    # -- meta and derived objects -----------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A value cached under ``key`` (e.g. an environment capture)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (key, value))

    def get_meta_many(self, keys: Iterable[str]) -> dict[str, str]:
        """The values cached under those of ``keys`` that have one."""
        found: dict[str, str] = {}
        keys = list(keys)
        for i in range(0, len(keys), 500):  # bounded statements
            part = keys[i:i + 500]
            marks = ",".join("?" * len(part))
            for key, value in self.conn.execute(
                    f"SELECT key, value FROM meta WHERE key IN ({marks})", part):
                found[str(key)] = str(value)
        return found

    def set_meta_many(self, items: Iterable[tuple[str, str]]) -> None:
        """Cache many ``(key, value)`` pairs in one transaction."""
        with transaction(self.conn):
            self.conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)",
                                  list(items))

    def get_derived(self, kind: str, source: str) -> str | None:
        """The oid of the object derived as ``kind`` from ``source`` (e.g. a profile)."""
        row = self.conn.execute("SELECT oid FROM derived WHERE kind=? AND source=?",
                                (kind, source)).fetchone()
        return str(row[0]) if row else None

    def set_derived(self, kind: str, source: str, oid: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO derived(kind, source, oid) VALUES(?, ?, ?)",
                          (kind, source, oid))

    # -- stat cache -------------------------------------------------------------------------

    def stat_rows(self, prefix: str) -> Iterator[StatRow]:
        """Stat rows at or below ``prefix`` ("" for all of them)."""
        if prefix == "":
            return iter(self.conn.execute(_STAT_COLS))
        return iter(self.conn.execute(
            _STAT_COLS + " WHERE path = ? OR (path >= ? AND path < ?)",
            (prefix, prefix + "/", prefix + "0")))  # '0' sorts right after '/'

    def stat_rows_in(self, folder: str) -> Iterator[StatRow]:
        """Stat rows of the files directly in ``folder`` ("" for the top), none below."""
        if folder == "":
            return iter(self.conn.execute(_STAT_COLS + " WHERE instr(path, '/') = 0"))
        return iter(self.conn.execute(
            _STAT_COLS + " WHERE path >= ? AND path < ? AND instr(substr(path, ?), '/') = 0",
            (folder + "/", folder + "0", len(folder) + 2)))

    def stat_row(self, path: str) -> StatRow | None:
        """The stat row of exactly ``path``."""
        row: StatRow | None = self.conn.execute(_STAT_COLS + " WHERE path = ?",
                                                (path,)).fetchone()
        return row

    def folder_rows(self, prefix: str) -> Iterator[FolderRow]:
        """Folder rows at or below ``prefix`` ("" for all of them)."""
        cols = "SELECT path, sig, oid, size, count, stored FROM folders"
        if prefix == "":
            return iter(self.conn.execute(cols))
        return iter(self.conn.execute(cols + " WHERE path = ? OR (path >= ? AND path < ?)",
                                      (prefix, prefix + "/", prefix + "0")))

    def put_folder_rows(self, rows: list[FolderRow]) -> None:
        """Store folder rows in one transaction."""
        with transaction(self.conn):
            self.conn.executemany("INSERT OR REPLACE INTO folders(path, sig, oid, size, count, "
                                  "stored) VALUES(?, ?, ?, ?, ?, ?)", rows)

    def clear_folders(self) -> None:
        """Forget every folder row, and what a monitor vouched for: gc calls it before it
        deletes objects, whose trees these could name."""
        with transaction(self.conn):
            self.conn.execute("DELETE FROM folders")
            # what a file-system monitor vouched for (store/statcache.py MONITOR_META)
            self.conn.execute("DELETE FROM meta WHERE key >= 'monitor/' AND key < 'monitor0'")

    def put_stat_rows(self, rows: list[StatRow]) -> None:
        """Store stat rows in one transaction."""
        with transaction(self.conn):
            self.conn.executemany(
                "INSERT OR REPLACE INTO stat(path, dev, ino, size, mtime_ns, ctime_ns, oid) "
                "VALUES(?, ?, ?, ?, ?, ?, ?)", rows)
