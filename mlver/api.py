"""``Repo``: the one facade the CLI and Python users call. It never prints.

A Repo is a folder holding ``.mlver/`` (the store): objects, refs, config and
the index. Paths given to the Python API are relative to the repository root.
"""

from __future__ import annotations

import errno
import json
import os

from . import config as cfgmod
from . import revision as revmod
from . import snapshot as snap
from .errors import MlverError, NotAStoreError, RecordFormatError, RevisionError
from .record import Record
from .store import index as idx
from .store.objects import LocalObjectStore
from .store.refs import Refs
from .store.statcache import StatCache
from .store.trees import Tree
from .status import NameStatus

STORE_DIR = ".mlver"
_DAMAGED_FIX = "restore .mlver/objects from a backup, or re-snapshot the name"
_STORE_GITIGNORE = "# Content lives in objects/, never in git.\n/objects/\n/tmp/\n/index.sqlite*\n*.lock\n"


def find_root(start: str) -> str:
    """The nearest folder at or above ``start`` holding a store."""
    cur = os.path.abspath(start)
    while True:
        if os.path.isdir(os.path.join(cur, STORE_DIR)):
            return cur
        parent = os.path.dirname(cur)
        if parent == cur:
            raise NotAStoreError(f"no mlver store in {os.path.abspath(start)} or any parent "
                                 "folder; run mlver init at the repository root")
        cur = parent


class Repo:
    """A repository with an mlver store. ``Repo(path)`` opens the nearest one at or above."""

    def __init__(self, path: str = ".", warn=None) -> None:
        self.root = find_root(path)
        self.store_dir = os.path.join(self.root, STORE_DIR)
        self.config = cfgmod.read_store_config(self.store_dir)
        self.objects = LocalObjectStore(self.store_dir)
        self.refs = Refs(self.store_dir)
        self._warn = warn
        self._conn = None
        self._project = None
        self._records: dict[str, Record] = {}
        # Objects a workspace capture computed without writing them (trees, patch, packages).
        self.overlay: dict[str, bytes] = {}
        self.skipped: dict[str, str] = {}  # names the index could not read, and why

    @classmethod
    def init(cls, path: str = ".") -> "Repo":
        """Create ``.mlver/`` in ``path`` (harmless when it exists) and open it."""
        store = os.path.join(os.path.abspath(path), STORE_DIR)
        if not os.path.isdir(os.path.abspath(path)):
            raise cfgmod.ConfigError(f"folder {path} does not exist; create it first")
        if os.path.exists(os.path.join(store, cfgmod.CONFIG_FILE)):
            cfgmod.read_store_config(store)  # refuse to "reinitialise" a newer store
            return cls(path)
        for sub in ("objects", "tmp", "refs/names", "refs/tags"):
            os.makedirs(os.path.join(store, sub), exist_ok=True)
        with open(os.path.join(store, ".gitignore"), "w", encoding="utf-8") as f:
            f.write(_STORE_GITIGNORE)
        cfgmod.write_store_config(store)
        return cls(path)

    # -- plumbing ---------------------------------------------------------------------------

    def warn(self, message: str) -> None:
        """Report a non-fatal problem (the CLI prints ``Warning: …`` on stderr)."""
        if self._warn is not None:
            self._warn(message)

    @property
    def project(self) -> cfgmod.ProjectConfig:
        """The parsed ``mlver.toml`` of the repository root."""
        if self._project is None:
            self._project = cfgmod.load_project(self.root)
        return self._project

    @property
    def conn(self):
        """The index connection, brought up to date with the refs on first use."""
        if self._conn is None:
            self._conn = idx.connect(os.path.join(self.store_dir, "index.sqlite"))
            self._sync_index()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "Repo":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record(self, oid: str) -> Record:
        """Load and validate the record ``oid``."""
        rec = self._records.get(oid)
        if rec is None:
            try:
                rec = Record.decode(self.objects.read(oid))
            except RecordFormatError as e:
                # Format checks say what is wrong; the fix is the same for all of them.
                raise RecordFormatError(f"record {oid}: {e}; {_DAMAGED_FIX}") from None
            self._records[oid] = rec
        return rec

    def tree(self, oid: str) -> Tree:
        """Load and validate the tree ``oid``."""
        try:
            return Tree.decode(self.read_object(oid))
        except RecordFormatError as e:
            raise RecordFormatError(f"tree {oid}: {e}; {_DAMAGED_FIX}") from None

    def read_object(self, oid: str) -> bytes:
        """Bytes of an object from the store, or from the overlay of a workspace capture."""
        data = self.overlay.get(oid)
        return data if data is not None else self.objects.read(oid)

    def open_blob(self, oid: str, path: str | None = None):
        """A readable binary file of blob ``oid``: the store's copy, else the workspace file
        at ``path`` (root-relative) when it still hashes to ``oid``."""
        if self.objects.has(oid):
            return self.objects.open(oid)
        if oid in self.overlay:
            import io

            return io.BytesIO(self.overlay[oid])
        if path is not None:
            from .hashing import hash_file

            full = os.path.join(self.root, path)
            if os.path.isfile(full) and hash_file(full)[0] == oid:
                return open(full, "rb")
        # the caller reports the missing object
        raise FileNotFoundError(errno.ENOENT, f"object {oid} is not in the store", path or oid)

    def env_cache_get(self, python: str):
        raw = idx.get_meta(self.conn, "env:" + python)
        return tuple(json.loads(raw)) if raw else None

    def env_cache_put(self, python: str, fingerprint: str, payload: str) -> None:
        idx.set_meta(self.conn, "env:" + python, json.dumps([fingerprint, payload]))

    # -- index ------------------------------------------------------------------------------

    def index_records(self, items) -> None:
        """Add ``(oid, record)`` pairs to the index (records table and lineage edges)."""
        from . import lineage

        with idx.transaction(self.conn) as c:
            for oid, rec in items:
                c.execute("INSERT OR REPLACE INTO records(oid, name, version, kind, created, message,"
                          " commit_sha, parent, status) VALUES(?,?,?,?,?,?,?,?,?)",
                          (oid, rec.name, rec.version, rec.kind, rec.created, rec.message,
                           rec.code.commit, rec.parents[0] if rec.parents else None,
                           "failed" if rec.run and rec.run.exit_code != 0 else "ok"))
                lineage.index_edges(c, oid, rec, self.tree)

    def _sync_index(self) -> None:
        # Catch up with refs moved by a process that died before indexing, or by a
        # deleted index: walk each name's chain back to the first record already known.
        missing = []
        self.skipped = {}
        for name in self.refs.names():
            chain = []
            try:
                oid = self.refs.get(name)
                while oid and not self._conn.execute(
                        "SELECT 1 FROM records WHERE oid=?", (oid,)).fetchone():
                    rec = self.record(oid)
                    chain.append((oid, rec))
                    oid = rec.parents[0] if rec.parents else None
            except MlverError as e:
                # One damaged name must not take the others down: it stays unindexed, and
                # commands that read it still fail with the error naming the damage.
                self.skipped[name] = str(e)
            missing += chain
        if missing:
            self.index_records(missing)

    def reindex(self) -> int:
        """Rebuild the index from objects + refs; return the number of records indexed."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(os.path.join(self.store_dir, "index.sqlite" + suffix))
            except FileNotFoundError:
                pass
        count = self.conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        for name, why in self.skipped.items():
            self.warn(f"{name} was not indexed: {why}")
        return count

    # -- revisions --------------------------------------------------------------------------

    def resolve(self, rev: str) -> str:
        """The oid of the record a revision names."""
        c = self.conn
        return revmod.resolve(
            revmod.parse(rev),
            head=self.refs.get,
            tag=self.refs.get_tag,
            by_version=lambda n, v: _one(c.execute(
                "SELECT oid FROM records WHERE name=? AND version=?", (n, v))),
            by_prefix=lambda p: [r[0] for r in c.execute(
                "SELECT oid FROM records WHERE oid >= ? AND oid < ?", (p, p + "g"))],
            parent=lambda o: self.record(o).parents[0] if self.record(o).parents else None,
            names=self.refs.names)

    def show(self, rev: str) -> tuple[str, Record]:
        """``(oid, record)`` of a revision."""
        oid = self.resolve(rev)
        return oid, self.record(oid)

    def names(self) -> list[str]:
        """Every versioned name."""
        return self.refs.names()

    def log(self, name: str | None = None, n: int | None = None) -> list[tuple[str, Record]]:
        """Records newest first: of one name by version, or of all names by time."""
        if name is not None:
            if self.refs.get(name) is None:
                self.resolve(name)  # raises the usual unknown-revision error
            rows = self.conn.execute("SELECT oid FROM records WHERE name=? ORDER BY version DESC",
                                     (name,))
        else:
            rows = self.conn.execute("SELECT oid FROM records ORDER BY created DESC, name")
        oids = [r[0] for r in rows]
        if n is not None:
            oids = oids[:max(n, 0)]
        return [(o, self.record(o)) for o in oids]

    def tag(self, rev: str, tag: str) -> tuple[str, Record, str | None]:
        """Tag the record ``rev`` as ``NAME@TAG``; return (oid, record, previous oid)."""
        snap.check_name(tag, "tag")
        if tag.isdigit():
            raise RevisionError(f"tag '{tag}' is all digits and would read as a version; "
                                "pick a name with a letter")
        oid, rec = self.show(rev)
        return oid, rec, self.refs.set_tag(rec.name, tag, oid)

    # -- snapshot ---------------------------------------------------------------------------

    def snapshot(self, name: str, inputs: dict | None = None, outputs: dict | None = None,
                 params=None, metrics=None, message: str | None = None, kind: str | None = None,
                 python: str | None = None, progress=None) -> snap.SnapshotResult:
        """Capture inputs, outputs, code, params, metrics and env as a new version of ``name``.

        With neither inputs nor outputs, ``[snapshot.NAME]`` of mlver.toml supplies them. When
        the content equals the latest version, no version is written (``result.created`` is
        False). ``params``/``metrics``: a file path, ``KEY=VALUE``, or a list of them.
        """
        p = snap.plan(self, name, inputs, outputs, _listify(params), _listify(metrics), kind,
                      message)
        cache = StatCache(self.conn)
        with self.objects.batch() as batch:
            ins = snap.capture_slots(self, p.inputs, cache, batch, progress)
            outs = snap.capture_slots(self, p.outputs, cache, batch, progress, allow_revisions=False)
            ctx = snap.capture_context(self, [a.path for a in (*ins.values(), *outs.values())
                                              if not a.source], p.params, p.metrics, python, batch)
            draft = snap.draft_record(p.name, p.kind, p.message, ins, outs, ctx)
            result = snap.publish(self, draft, batch)
        cache.save()
        return result

    # -- run --------------------------------------------------------------------------------

    def run(self, name: str, inputs: dict | None = None, outputs: dict | None = None,
            params=None, metrics=None, message: str | None = None, kind: str | None = None,
            python: str | None = None, command: str | None = None, progress=None):
        """A recorded execution, used as ``with repo.run(...) as run:``.

        Inputs, code, params and env are captured on entry; outputs and metrics on a clean
        exit, when the record is written (``run.result``). An exception records nothing.
        """
        from .run import RunSession

        return RunSession(self, name, inputs, outputs, _listify(params), _listify(metrics),
                          message, kind, python, command, progress)

    def execute(self, name: str, argv: list[str] | None = None, record_failed: bool = False,
                cwd: str | None = None, **options) -> snap.SnapshotResult:
        """Run ``argv`` (default: ``command`` of ``[snapshot.NAME]``) and record it."""
        from .run import execute

        return execute(self.run(name, **options), argv, record_failed, cwd)

    # -- lineage ----------------------------------------------------------------------------

    def lineage(self, rev: str):
        """A :class:`mlver.lineage.Lineage` around ``rev`` (``.upstream()``, ``.downstream()``)."""
        from .lineage import Lineage

        return Lineage(self, self.resolve(rev))

    def content_oid(self, path_or_oid: str) -> str:
        """An oid given as is, or the oid of a path's current content (writing nothing)."""
        from .capture.files import capture_path
        from .hashing import is_oid

        if is_oid(path_or_oid) and not os.path.lexists(os.path.join(self.root, path_or_oid)):
            return path_or_oid
        cache = StatCache(self.conn)
        oid = capture_path(self.root, snap.to_rel(self.root, path_or_oid), cache).oid
        cache.save()
        return oid

    def used_by(self, path_or_oid: str):
        """Records that consumed this exact content (a path's current content, or an oid)."""
        from .lineage import content_frame

        return content_frame(self.conn, self.content_oid(path_or_oid), "input")

    def produced_by(self, path_or_oid: str):
        """Records that produced this exact content."""
        from .lineage import content_frame

        return content_frame(self.conn, self.content_oid(path_or_oid), "output")

    def records(self, name: str | None = None):
        """One row per record: name, version, kind, created, commit, message, status, and
        each param and metric as a ``params.KEY`` / ``metrics.KEY`` column (like MLflow)."""
        import pandas as pd

        from .capture.params import flatten

        rows = []
        for oid, rec in self.log(name):
            row = {"oid": oid, "name": rec.name, "version": rec.version, "kind": rec.kind,
                   "created": pd.Timestamp(rec.created), "commit": rec.code.commit,
                   "message": rec.message,
                   "status": "failed" if rec.run and rec.run.exit_code != 0 else "ok"}
            row.update({f"params.{k}": v for k, v in flatten(rec.params).items()})
            row.update({f"metrics.{k}": v for k, v in flatten(rec.metrics).items()})
            rows.append(row)
        base = ["oid", "name", "version", "kind", "created", "commit", "message", "status"]
        return pd.DataFrame(rows, columns=None if rows else base)

    # -- status ---------------------------------------------------------------------------

    def status(self, name: str | None = None) -> list[NameStatus]:
        """Compare the latest version of each name (or ``name``) with the workspace.

        Reads through the stat cache and writes no objects.
        """
        from .status import status

        if name and self.refs.get(name) is None:
            self.resolve(name)  # the usual unknown-revision error
        return status(self, [name] if name else self.names())

    # -- diff -------------------------------------------------------------------------------

    def diff(self, a: str, b: str | None = None, keys=None, rows: int = 0, progress=None):
        """Explain how record ``a`` differs from ``b`` (default: the workspace now)."""
        from .diff.records import diff_records

        old_oid, old = self.show(a)
        if b is None:
            new_oid, new = None, self._workspace_record(old)
        else:
            new_oid, new = self.show(b)
        return diff_records(self, old_oid, old, new_oid, new, keys=keys or {}, rows=rows,
                            progress=progress)

    def _workspace_record(self, like: Record) -> Record:
        """What a snapshot of ``like``'s paths would capture now, writing nothing."""
        return snap.workspace_record(self, like)


def _one(rows):
    row = rows.fetchone()
    return row[0] if row else None


def _listify(value):
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)
