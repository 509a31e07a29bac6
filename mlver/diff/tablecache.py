"""Table diffs of two blobs, with profiles cached as objects keyed by blob oid.

A table's profile (schema, null counts, quantiles, categories) and its sorted
row hashes are derived once per blob and kept as objects; the index maps
``blob oid -> profile oid``. Diffing the same versions again reads no data
unless a key (changed rows) or sample rows are asked for. Both the cache and
the index entry can be deleted at any time.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from typing import Callable

from .. import canonical
from ..errors import MlverError
from ..progress import Progress
from ..store import index as idx

PROFILE_KIND = "table-profile/1"
HASHES_KIND = "table-rowhashes/1"
HEAD_BYTES = 65536


def _head(repo, oid: str, path: str) -> bytes | None:
    try:
        with repo.open_blob(oid, path) as f:
            return f.read(HEAD_BYTES)
    except OSError:
        return None


def _local_path(repo, oid: str, path: str) -> str | None:
    """A file path holding blob ``oid`` (store copy or unchanged workspace file)."""
    p = repo.objects.local_file(oid)
    if p is not None:
        return p
    if repo.objects.has(oid):  # a packed (small) object: readers here want a file path
        return _spill(repo.objects.read(oid), os.path.splitext(path)[1])
    full = os.path.join(repo.root, path)
    return full if os.path.isfile(full) else None


def _spill(data: bytes, suffix: str) -> str:
    """Write a small packed blob to a temporary file (removed at exit) and return its path."""
    import atexit
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix="mlver-blob-", suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    atexit.register(lambda: os.path.exists(tmp) and os.unlink(tmp))
    return tmp


def _cached(repo, oid: str):
    import numpy as np

    pid = idx.get_derived(repo.conn, PROFILE_KIND, oid)
    hid = idx.get_derived(repo.conn, HASHES_KIND, oid)
    if not (pid and hid and repo.objects.has(pid) and repo.objects.has(hid)):
        return None
    try:
        profile = canonical.loads(repo.objects.read(pid))
        hashes = np.load(io.BytesIO(repo.objects.read(hid)), allow_pickle=False)
    except (MlverError, ValueError, OSError):
        return None
    return profile, hashes


def _store_profile(repo, oid: str, profile: dict, hashes) -> None:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, hashes, allow_pickle=False)
    with repo.objects.batch() as batch:
        pid = batch.add_bytes(canonical.dumps(profile))
        hid = batch.add_bytes(buf.getvalue())
    idx.set_derived(repo.conn, PROFILE_KIND, oid, pid)
    idx.set_derived(repo.conn, HASHES_KIND, oid, hid)


@dataclass(frozen=True)
class TableOptions:
    """How a diff treats tables: their key (by path), sample rows, whether profiles may
    be cached (not for a workspace diff, which writes nothing), and progress."""

    key_for: Callable[[str], list | None] = lambda path: None
    rows: int = 0
    cache: bool = True
    progress: Progress = field(default_factory=Progress)


class _Side:
    """One version of a table: reads it at most once, profiles it at most once."""

    def __init__(self, repo, oid: str, path: str, fmt: str, key, opts: TableOptions) -> None:
        self.repo, self.oid, self.path, self.fmt, self.key = repo, oid, path, fmt, key
        self.cache, self.progress = opts.cache, opts.progress
        self._table = None
        self.profile = self.hashes = None
        hit = _cached(repo, oid)
        if hit is not None:
            self.profile, self.hashes = hit

    def table(self):
        from .profile import read_table
        from .tables import TableError

        if self._table is None:
            local = _local_path(self.repo, self.oid, self.path)
            if local is None:
                raise TableError(f"the content of '{self.path}' is not in the store")
            self.progress.step(f"reading {self.path}")
            self._table = read_table(local, self.fmt, self.key)
        return self._table

    def ensure_profile(self) -> None:
        from .profile import profile_table

        if self.profile is None:
            table = self.table()
            self.progress.step(f"profiling {self.path}")
            self.profile, self.hashes = profile_table(table)
            if self.cache and self.repo.objects.has(self.oid):  # cache only what the store holds
                _store_profile(self.repo, self.oid, self.profile, self.hashes)


def diff_blobs(repo, old: str, new: str, old_path: str, new_path: str,
               opts: TableOptions = TableOptions()):
    """``(TableDiff, None)`` when both blobs read as tables, else ``(None, note)``.

    With ``opts.cache`` False (a workspace diff, which must write nothing) profiles are
    read from the cache when present but never written. A key that does not fit this
    table is a note, not an error: ``--key`` applies to every table of the diff. Key columns are left out of drift: a key is meant to differ between versions.
    """
    from dataclasses import replace

    from .tables import KeyColumnError, TableError

    key = opts.key_for(new_path)
    try:
        t, note = _diff_blobs(repo, old, new, old_path, new_path, key, opts)
    except KeyColumnError as e:
        return None, (f"not diffed by key ({e}); fix --key or [tables] key in mlver.toml; "
                      "compared by bytes only")
    except TableError as e:
        return None, f"not readable as a table ({e}); compared by bytes only"
    if t is not None and key:
        t = replace(t, drift=tuple(d for d in t.drift if d.column not in key))
    return t, note


def _diff_blobs(repo, old, new, old_path, new_path, key, opts: TableOptions):
    from .profile import detect_format, row_hashes
    from .tables import diff_from_profiles, diff_tables, needs_rehash

    ha, hb = _head(repo, old, old_path), _head(repo, new, new_path)
    if ha is None or hb is None:
        return None, "content not available locally; compared by oid only"
    fa, fb = detect_format(old_path, ha), detect_format(new_path, hb)
    if fa is None or fb is None:
        if fa or fb or any(new_path.endswith(e) for e in (".csv", ".tsv", ".parquet", ".jsonl")):
            return None, "not readable as a table; compared by bytes only"
        return None, None
    a = _Side(repo, old, old_path, fa, key, opts)
    b = _Side(repo, new, new_path, fb, key, opts)
    rows = opts.rows
    a.ensure_profile()
    b.ensure_profile()
    if key or rows:
        # Keyed rows and samples need the data itself; drift still comes from the profiles.
        return diff_tables(a.table(), b.table(), key=key, rows=rows, old_profile=a.profile,
                           new_profile=b.profile, old_hashes=a.hashes, new_hashes=b.hashes), None
    common = needs_rehash(a.profile, b.profile)
    if common is not None:
        return diff_from_profiles(a.profile, row_hashes(a.table(), common),
                                  b.profile, row_hashes(b.table(), common)), None
    return diff_from_profiles(a.profile, a.hashes, b.profile, b.hashes), None
