"""Table diffs of two blobs, with profiles cached as objects keyed by blob oid.

A table's profile (schema, null counts, quantiles, categories) and its sorted
row hashes are derived once per blob and kept as objects; the index maps
``blob oid -> profile oid``. Diffing the same versions again reads no data
unless a key (changed rows) or sample rows are asked for. Both the cache and
the index entry can be deleted at any time.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlver.base import canonical
from mlver.base.errors import CorruptObjectError, MlverError
from mlver.base.progress import Progress
from mlver.core.workspace import Objects

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

    from mlver.diff.profiler import Profile
    from mlver.diff.tables import TableDiff
    from mlver.store import Store

    # a cached profile and its sorted row hashes (a numpy array)
    Cached = tuple[Profile, Any]

# /3: profile format 3 (value counts, row sample, streamed, unique columns); entries of
# older kinds are never read (they are recomputed)
PROFILE_KIND = "table-profile/3"
HASHES_KIND = "table-rowhashes/3"
HEAD_BYTES = 65536
# A keyed or sampled diff of tables this big (either file, in bytes) runs on DuckDB
# (out of core); smaller ones in memory, where they are faster (measured: see
# docs/diff.md, "The table engine"). Text tables are parsed twice on DuckDB (profile, then
# a parquet copy): their threshold is higher. MLVER_TABLE_ENGINE=pandas|duckdb forces one.
DUCKDB_BYTES = 128 << 20
DUCKDB_TEXT_BYTES = 256 << 20
ENGINES = ("auto", "pandas", "duckdb")


def cached_profile(store: Store, oid: str) -> Profile | None:
    """The cached profile of blob ``oid`` (see :func:`diff_blobs`), or None; reads only
    the profile object, never the blob."""
    pid = store.index.get_derived(PROFILE_KIND, oid)
    if not pid or not store.objects.has(pid):
        return None
    try:
        profile = canonical.loads(store.objects.read(pid))
    except (MlverError, ValueError, OSError):
        return None
    return profile if isinstance(profile, dict) else None


def _head(objs: Objects, oid: str, path: str) -> bytes | None:
    """The first bytes of a blob; None when it is nowhere here. A blob that is here but
    corrupt raises CorruptObjectError: a wrong answer must not pass for a diff."""
    # Pulled with --no-data and not in the workspace either: bring the bytes from the
    # default remote, as checkout does (without a remote: compared by oid; a remote that
    # cannot be reached fails the diff with one line, as checkout).
    if (not objs.has(oid) and not os.path.isfile(objs.ws.full(path))
            and not objs.store.objects.fetch([oid])):
        return None
    try:
        with objs.open_blob(oid, path) as f:
            return f.read(HEAD_BYTES)
    except OSError:
        return None
    except CorruptObjectError:
        if objs.has(oid):
            raise
        return None


def _cached(objs: Objects, oid: str) -> Cached | None:

    """The cached profile of blob ``oid`` and its sorted row hashes, or None; the hashes
    are None when a keyed diff profiled it (it makes none; an unkeyed diff then streams
    them from the blob)."""
    store = objs.store
    pid = store.index.get_derived(PROFILE_KIND, oid)
    hid = store.index.get_derived(HASHES_KIND, oid)
    if not (pid and store.objects.has(pid)):
        return None
    try:
        profile = canonical.loads(store.objects.read(pid))
        hashes = _load_array(store.objects.read(hid)) \
            if hid and store.objects.has(hid) else None
    except (MlverError, ValueError, OSError):
        return None
    return profile, hashes


def _load_array(data: bytes) -> Any:
    """The array of an ``np.save``'d object, without copying its bytes (read-only)."""
    import numpy as np

    f = io.BytesIO(data)
    fmt = np.lib.format
    major, _minor = fmt.read_magic(f)
    header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
    shape, fortran, dtype = header(f)
    if fortran or dtype.hasobject or len(shape) != 1:
        raise ValueError("not a flat array")
    return np.frombuffer(data, dtype=dtype, count=shape[0], offset=f.tell())


def _blob_stat(objs: Objects, oid: str) -> list[int] | None:
    """What says the stored blob ``oid`` is still the one that was verified and profiled:
    ``[size, mtime_ns, ctime_ns, inode]`` of its loose object file; ``[size]`` of a chunked
    one (it has no single file, and needs none: its manifest and chunks are immutable, and
    each chunk is verified whenever it is read); None otherwise (packed, so small: its head
    is read and verified again, cheaply)."""
    objects = objs.store.objects
    if not objects.has(oid):
        return None
    local = objects.local_file(oid)
    if local is None:
        try:
            m = objects.manifest(oid)
        except CorruptObjectError:
            return None  # named when the head is read
        return None if m is None else [m.size]
    try:
        st = os.stat(local)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _unchanged(objs: Objects, oid: str, hit: Cached | None) -> bool:
    """True when the blob's loose file has the stat it had when it was verified and
    profiled (a chunked blob: its manifest still says the same size): then the cache
    answers without reading (and hashing) the blob, as git trusts its index. Any other
    case reads the head, which verifies the whole blob (a chunked one: its first chunk),
    so that damage is named instead of hidden behind a cached profile."""
    sig = hit[0].get("blob_stat") if hit is not None else None
    return sig is not None and _blob_stat(objs, oid) == sig


def _cached_format(hit: Cached | None, path: str) -> str | None:
    """The format a cached profile was read as, when ``path`` would be read the same way
    (what :func:`~mlver.diff.profile.detect_format` says of this content under this name),
    else None."""
    from mlver.diff.tableformat import extension_format

    fmt: str | None = hit[0].get("file_format") if hit is not None else None
    if fmt == "parquet":
        return fmt  # recognised by its magic bytes, whatever the name
    return fmt if fmt is not None and extension_format(path) == fmt else None


def _store_profile(objs: Objects, oid: str, profile: Profile, hashes: Any) -> None:
    import numpy as np

    store = objs.store
    hid = None
    with store.objects.batch() as batch:
        pid = batch.add_bytes(canonical.dumps(profile))
        if hashes is not None:  # a keyed diff's profile has none (see _cached)
            buf = io.BytesIO()
            np.save(buf, hashes, allow_pickle=False)
            hid = batch.add_bytes(buf.getvalue())
    if hid is not None:  # first: a profile is never paired with another content's hashes
        store.index.set_derived(HASHES_KIND, oid, hid)
    store.index.set_derived(PROFILE_KIND, oid, pid)


@dataclass(frozen=True)
class TableOptions:
    """How a diff treats tables: their key and target (label) column (by path), sample
    rows, whether profiles may be cached (not for a workspace diff, which writes
    nothing), and progress."""

    key_for: Callable[[str], list[str] | None] = lambda path: None
    target_for: Callable[[str], str | None] = lambda path: None
    rows: int = 0
    cache: bool = True
    progress: Progress = field(default_factory=Progress)
    # when given: blob oid -> the profile this diff used (the HTML report plots them)
    profiles: dict[str, Profile] | None = None
    # "auto" (by size, see DUCKDB_BYTES), "pandas" or "duckdb"; DuckDB's memory limit
    # (``[diff] memory``; None: a share of the machine's) and the folder its spill folder
    # is made in (None: the store's tmp/)
    engine: str = "auto"
    memory: str | None = None
    tmp_dir: str | None = None


class _Side:
    """One version of a table: reads it at most once, profiles it at most once."""

    def __init__(self, objs: Objects, oid: str, path: str, fmt: str, key: list[str] | None,
                 opts: TableOptions, hit: Cached | None = None) -> None:
        self.objs, self.oid, self.path, self.fmt, self.key = objs, oid, path, fmt, key
        self.cache, self.progress, self.opts = opts.cache, opts.progress, opts
        self._table: pyarrow.Table | None = None
        self._stat: list[int] | None = None
        self.profile: Profile | None = None
        self.hashes: Any = None  # sorted row hashes (a numpy array) with the profile
        self._shown = 0.0  # when rows_read last drew
        if hit is not None:
            self.profile, self.hashes = hit

    def table(self) -> pyarrow.Table:
        """The table, read once."""
        from mlver.diff.profile import read_table
        from mlver.diff.tableerrors import TableError

        if self._table is None:
            self._stat = _blob_stat(self.objs, self.oid)  # before local_path verifies it
            with self.objs.local_path(self.oid, self.path) as local:
                if local is None:
                    raise TableError(f"the content of '{self.path}' is not in the store")
                self.progress.step(f"reading {self.path}")
                self._table = read_table(local, self.fmt, self.key)
        return self._table

    def ensure_profile(self) -> Profile:
        """The profile: from the table when it is in memory already, else by streaming the
        file (memory bounded by a batch); cached when the store holds the blob."""
        from mlver.diff.profile import profile_file, profile_table
        from mlver.diff.tableerrors import TableError

        if self.profile is not None:
            return self.profile
        if self._table is not None:
            self.progress.step(f"profiling {self.path}")
            profile, self.hashes = profile_table(self._table)
        else:
            self._stat = _blob_stat(self.objs, self.oid)  # before local_path verifies it
            with self.objs.local_path(self.oid, self.path) as local:
                if local is None:
                    raise TableError(f"the content of '{self.path}' is not in the store")
                self.progress.step(f"reading and profiling {self.path}")
                profile, self.hashes = profile_file(local, self.fmt, self.key,
                                                    on_rows=self.rows_read)
        return self.keep_profile(profile, self.hashes)

    def rows_read(self, n: int) -> None:
        """Progress of a profile: the rows read so far, at most twice a second."""
        now = time.monotonic()
        if now - self._shown >= 0.5:
            self._shown = now
            self.progress.step(f"reading and profiling {self.path}: {n:,} rows")

    def keep_profile(self, profile: Profile, hashes: Any) -> Profile:
        """Take ``profile`` (and its row ``hashes``) as this side's, cached when the store
        holds the blob."""
        self.profile, self.hashes = profile, hashes
        # what lets a later diff answer from the cache without reading the blob: its
        # format, and the stat of the loose object that was verified (see _unchanged)
        profile["file_format"] = self.fmt
        profile["blob_stat"] = self._stat
        if self.cache and self.objs.store.objects.has(self.oid):  # only what the store holds
            _store_profile(self.objs, self.oid, profile, self.hashes)
        return profile

    def size(self) -> int:
        """The table file's size in bytes (0 when unknown)."""
        objects = self.objs.store.objects
        try:
            if objects.has(self.oid):
                return objects.size(self.oid) or 0
            return os.path.getsize(self.objs.ws.full(self.path))
        except (OSError, MlverError):
            return 0

    def row_hashes(self, columns: list[str]) -> Any:
        """Sorted row hashes over ``columns``, from the table in memory or streamed."""
        from mlver.diff.colhash import row_hashes
        from mlver.diff.profile import row_hashes_file
        from mlver.diff.tableerrors import TableError

        if self._table is not None:
            return row_hashes(self._table, columns)
        with self.objs.local_path(self.oid, self.path) as local:
            if local is None:
                raise TableError(f"the content of '{self.path}' is not in the store")
            self.progress.step(f"hashing rows of {self.path}")
            return row_hashes_file(local, self.fmt, columns)


def diff_blobs(objs: Objects, old: str, new: str, old_path: str, new_path: str,
               opts: TableOptions = TableOptions()) -> tuple[TableDiff | None, str | None]:
    """``(TableDiff, None)`` when both blobs read as tables, else ``(None, note)``.

    With ``opts.cache`` False (a workspace diff, which must write nothing) profiles are
    read from the cache when present but never written. A key that does not fit this
    table is a note, not an error: ``--key`` applies to every table of the diff. Key columns
    are left out of drift: a key is meant to differ between versions.
    """
    from mlver.diff.tableerrors import KeyColumnError, TableError

    key = opts.key_for(new_path)
    try:
        t, note = _diff_blobs(objs, old, new, old_path, new_path, key, opts)
    except KeyColumnError as e:
        return None, (f"not diffed by key ({e}); fix --key or [tables] key in mlver.toml; "
                      "compared by bytes only")
    except TableError as e:
        return None, f"not readable as a table ({e}); compared by bytes only"
    except CorruptObjectError as e:
        return None, f"not compared: {e}"
    return t, note


def _diff_blobs(objs: Objects, old: str, new: str, old_path: str, new_path: str,
                key: list[str] | None, opts: TableOptions,
                ) -> tuple[TableDiff | None, str | None]:
    from mlver.diff.profile import detect_format

    hit_a, hit_b = _cached(objs, old), _cached(objs, new)
    fa = _cached_format(hit_a, old_path) if _unchanged(objs, old, hit_a) else None
    fb = _cached_format(hit_b, new_path) if _unchanged(objs, new, hit_b) else None
    if fa is None or fb is None:  # not both cached: recognise the format from the head
        ha, hb = _head(objs, old, old_path), _head(objs, new, new_path)
        if ha is None or hb is None:
            return None, "content missing from the store; compared by oid only"
        fa, fb = detect_format(old_path, ha), detect_format(new_path, hb)
    if fa is None or fb is None:
        if fa or fb or any(new_path.lower().endswith(e + z) for e in (".csv", ".tsv", ".parquet",
                                                                      ".jsonl")
                           for z in ("", ".gz", ".bz2", ".xz", ".zst")):
            return None, "not readable as a table; compared by bytes only"
        return None, None
    a = _Side(objs, old, old_path, fa, key, opts, hit_a)
    b = _Side(objs, new, new_path, fb, key, opts, hit_b)
    rows, target = opts.rows, opts.target_for(new_path)
    if opts.profiles is not None:
        t, note = _diff_sides(a, b, key, rows, target)
        for side in (a, b):
            if side.profile is not None:
                opts.profiles[side.oid] = side.profile
        return t, note
    return _diff_sides(a, b, key, rows, target)


def _diff_sides(a: _Side, b: _Side, key: list[str] | None, rows: int,
                target: str | None) -> tuple[TableDiff, None]:
    from mlver.diff.tables import diff_from_profiles, diff_tables, needs_rehash

    if (key or rows) and _engine(a, b) == "duckdb":
        from mlver.diff.ducksource import Unsupported
        try:
            return _diff_duckdb(a, b, key, rows, target), None
        except Unsupported:
            pass  # types DuckDB would compare otherwise: in memory (the profiles are kept)
    if key or rows:
        # Keyed rows and samples need the data itself (read once, profiled from memory
        # when not cached); drift still comes from the profiles.
        ta, tb = a.table(), b.table()
        a.ensure_profile()
        b.ensure_profile()
        return diff_tables(ta, tb, key=key, rows=rows, old_profile=a.profile,
                           new_profile=b.profile, old_hashes=a.hashes, new_hashes=b.hashes,
                           target=target), None
    old_profile, new_profile = a.ensure_profile(), b.ensure_profile()
    common = needs_rehash(old_profile, new_profile)
    if common is not None:
        return diff_from_profiles(old_profile, a.row_hashes(common), new_profile,
                                  b.row_hashes(common), target=target), None
    # a profile a keyed diff cached comes without row hashes: stream them from the blob
    cols = list(old_profile.get("row_hash_columns") or [])
    return diff_from_profiles(
        old_profile, a.hashes if a.hashes is not None else a.row_hashes(cols),
        new_profile, b.hashes if b.hashes is not None else b.row_hashes(cols),
        target=target), None


def _engine(a: _Side, b: _Side) -> str:
    """Which engine diffs rows by key or samples them: TableOptions.engine, else
    MLVER_TABLE_ENGINE, else DuckDB for a table of DUCKDB_BYTES (text: DUCKDB_TEXT_BYTES)
    or more."""
    choice = a.opts.engine if a.opts.engine != "auto" else \
        os.environ.get("MLVER_TABLE_ENGINE", "auto")
    if choice in ("pandas", "duckdb"):
        return choice
    big = any(s.size() >= (DUCKDB_BYTES if s.fmt == "parquet" else DUCKDB_TEXT_BYTES)
              for s in (a, b))
    return "duckdb" if big else "pandas"


def _diff_duckdb(a: _Side, b: _Side, key: list[str] | None, rows: int,
                 target: str | None) -> TableDiff:
    """The diff on DuckDB: profiles streamed (or cached), rows joined out of core."""
    from mlver.diff.duckdiff import diff_files
    from mlver.diff.profile import profile_file
    from mlver.diff.tableerrors import TableError

    opts = a.opts
    tmp = opts.tmp_dir or a.objs.store.objects.tmp_dir
    if opts.cache and opts.tmp_dir is None:
        with contextlib.suppress(OSError):  # spill folders of killed diffs
            a.objs.store.objects.sweep_tmp()
    # A chunked (or packed) table is copied whole for DuckDB, beside its spill folder in
    # the store's tmp/ (not the system's, often a small tmpfs): DuckDB scanning the copy
    # beat scanning through mlver:// by 3-4x (benchmarks/bench_read_in_place.py [c]), and a
    # keyed join reads every column anyway. A killed diff's copies are swept (PID-duck-).
    copies = None
    try:
        os.makedirs(tmp, exist_ok=True)
        copies = tempfile.mkdtemp(prefix=f"{os.getpid()}-duck-copies-", dir=tmp)
        stats = _blob_stat(a.objs, a.oid), _blob_stat(b.objs, b.oid)  # before the copies
        with a.objs.local_path(a.oid, a.path, copies) as la, \
                b.objs.local_path(b.oid, b.path, copies) as lb:
            if la is None or lb is None:
                raise TableError(f"the content of '{(b if la else a).path}' is not in the "
                                 "store")
            # profiled from the copies DuckDB reads (one copy a side, not two); one after
            # the other: two at once in two threads measured no faster on 2 cores (3.3 s
            # against 3.4 s for 5M x 10), the profiler spreads columns over threads already
            for side, local, st in ((a, la, stats[0]), (b, lb, stats[1])):
                if side.profile is None:
                    side._stat = st
                    side.progress.step(f"reading and profiling {side.path}")
                    # no row hashes: a keyed join needs none (content digests, yes:
                    # they tell renames)
                    side.keep_profile(*profile_file(local, side.fmt, side.key,
                                                    with_hashes=False, with_content=True,
                                                    on_rows=side.rows_read))
            profiles = a.ensure_profile(), b.ensure_profile()
            a.hashes = b.hashes = None  # cached already; a keyed join needs none
            return diff_files((la, a.fmt), (lb, b.fmt), profiles, key, rows, target, tmp,
                              opts.memory, opts.progress)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS):
            raise
        # no room (or no right) to copy the tables or spill beside them: a note, as for
        # DuckDB's own out-of-disk error, not a failed diff
        raise TableError(f"too big to diff by key here: cannot write in {tmp} "
                         f"({e.strerror}); free disk space there") from e
    finally:
        if copies is not None:
            shutil.rmtree(copies, ignore_errors=True)
