"""``mlver://``: every version readable in place, through fsspec (pandas, pyarrow, DuckDB,
polars).

``mlver://price-model@2/train`` is the slot ``train`` of ``price-model@2``,
``mlver://features@3/data/part-0.parquet`` a file inside a folder slot, ``mlver://OID`` an
object (see :mod:`mlver.integrations.verpath`). Registered as the ``mlver`` protocol
through the ``fsspec.specs`` entry point. Storage option ``repo``: a folder at or below the
repository (default: the current folder).

Read-only. Files are read by range through the object store
(:meth:`~mlver.store.objects.LocalObjectStore.read_range`): a loose object with one
``pread``, a packed one from its pack, a chunked one through the chunks that cover the
range only, so reading the footer of a 10 GB parquet reads kilobytes. An object missing
here (a version pulled with ``--no-data``) is fetched from the default remote.
"""

from __future__ import annotations

import os
from datetime import datetime, UTC
from collections.abc import Callable
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from mlver.base.errors import CorruptObjectError, ReadOnlyError
from mlver.core.discover import find_root
from mlver.core.workspace import Workspace
from mlver.integrations import verpath
from mlver.integrations.verpath import Target, VersionPathError
from mlver.store import STORE_DIR, Store
from mlver.store.index import Index

# pyarrow asks for a whole column chunk at once (what it reads is what it asked for), a
# CSV reader for small pieces one after the other: "readahead" serves both, fetching at
# most one block (1 MiB) beyond a request. "bytes" and "none" measured no better for
# pyarrow (within the noise of benchmarks/bench_read_in_place.py), "blockcache" worse,
# and "none" turns a CSV's every small read into a fetch.
CACHE_TYPE = "none"  # VersionFile keeps its own window (see _fetch_range)
MIN_FETCH = 256 << 10
BLOCK_SIZE = 1 << 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ReadOnlyFsError(ReadOnlyError, PermissionError):
    """A write through ``mlver://``: versions never change."""


def _refuse(*_args: Any, **_kwargs: Any) -> Any:
    raise ReadOnlyFsError("mlver:// is read-only: a version never changes; write files in "
                          "the workspace and snapshot them as a new version")


class VersionFile(AbstractBufferedFile):  # type: ignore[misc]  # fsspec is untyped
    """A read-only, seekable file of one object; ranges read through the object store."""

    def __init__(self, fs: MlverFileSystem, path: str, oid: str, size: int,
                 block_size: int | None = None, cache_type: str = CACHE_TYPE,
                 cache_options: dict[str, Any] | None = None) -> None:
        self.oid = oid
        super().__init__(fs, path, mode="rb", block_size=block_size or BLOCK_SIZE,
                         cache_type=cache_type, cache_options=cache_options, size=size)

    _source: Any = None  # the object opened once: its manifest is not re-read per range
    _window: tuple[int, bytes] = (0, b"")  # the last bytes fetched, and where they start

    def _fetch_range(self, start: int, end: int) -> bytes:
        """fsspec's own caches copy, and its readahead adds a block to every read (a
        parquet reader's coalesced column reads pay it each time): this file keeps only
        the last fetch, at least :data:`MIN_FETCH` bytes, so that a reader of small
        pieces (a CSV parser) does not read and verify each chunk many times."""
        if end <= start:
            return b""
        at, data = self._window
        if at <= start and end <= at + len(data):
            return data[start - at:end - at]
        if self._source is None:
            self._source = self.fs.store.objects.open(self.oid)
        src = self._source
        want = max(end - start, min(MIN_FETCH, self.size // 16))  # a small file: less
        pread = getattr(src, "pread", None)  # a chunked file: exactly the covering chunks
        if pread is not None:
            data = pread(start, want)
        else:  # a loose or packed object (verified whole once, by the fs)
            src.seek(start)
            data = bytes(src.read(want))
        self._window = (start, data)
        return data[:end - start] if len(data) > end - start else data

    def close(self) -> None:
        super().close()
        if self._source is not None:
            self._source.close()
            self._source = None


class MlverFileSystem(AbstractFileSystem):  # type: ignore[misc]  # fsspec is untyped
    """The versions of one mlver store as a read-only file system (protocol ``mlver``)."""

    protocol = PROTOCOL = verpath.PROTOCOL
    root_marker = ""
    # fsspec caches instances by their arguments: "the store of the current folder" would
    # stay the first folder's after a chdir. Opening a store costs a few file reads.
    cachable = False

    def __init__(self, repo: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = find_root(repo or ".")
        self.store = open_store(self.root)
        self._verified: set[str] = set()

    @classmethod
    def _strip_protocol(cls, path: str | list[str]) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return verpath.strip_protocol(str(path))

    def unstrip_protocol(self, name: str) -> str:
        return f"{verpath.PROTOCOL}://{verpath.strip_protocol(name)}"

    # -- reading ---------------------------------------------------------------------------

    def target(self, path: str) -> Target:
        """What ``path`` names (a :class:`~mlver.integrations.verpath.VersionPathError`,
        a FileNotFoundError, when nothing)."""
        return verpath.resolve(self.store, path)

    def _file_target(self, path: str) -> Target:
        t = self.target(path)
        if t.kind == "link":
            raise VersionPathError(f"mlver://{t.path} is a symbolic link; mlver:// never "
                                   "follows links (check the version out to see it)")
        if t.is_dir:
            raise IsADirectoryError(f"mlver://{t.path} is a folder; ls it, or name a file "
                                    "inside it")
        return t

    def verified(self, oid: str) -> str:
        """``oid``, once its bytes are known to hash to it: a range of a loose or packed
        object is read unverified, so the whole object is hashed once first (it is at most
        a few MiB: bigger files are chunked, and each chunk is verified as it is read)."""
        objects = self.store.objects
        if oid not in self._verified and objects.manifest(oid) is None:
            objects.fetch([oid])
            if objects.has(oid) and not objects.verify_file(oid):
                raise CorruptObjectError(
                    f"object {oid} is corrupt (its bytes hash differently); restore it from a "
                    "backup, or delete it and re-snapshot")
        self._verified.add(oid)
        return oid

    @staticmethod
    def _entry(t: Target) -> dict[str, Any]:
        kind = "directory" if t.is_dir else ("link" if t.kind == "link" else "file")
        return {"name": t.path, "size": t.size, "type": kind, "oid": t.oid}

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._entry(self.target(self._strip_protocol(path)))

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        t = self.target(self._strip_protocol(path))
        rows = [self._entry(c) for c in verpath.children(self.store, t)] if t.is_dir \
            else [self._entry(t)]
        return rows if detail else [r["name"] for r in rows]

    def exists(self, path: str, **kwargs: Any) -> bool:
        try:
            self.target(self._strip_protocol(path))
        except FileNotFoundError:
            return False
        return True

    def modified(self, path: str) -> datetime:
        """When the version was recorded (an object URL: the epoch): content never
        changes, so readers that cache by time (DuckDB) may."""
        rec = self.target(self._strip_protocol(path)).record
        try:
            return datetime.fromisoformat(rec.created) if rec is not None else _EPOCH
        except ValueError:
            return _EPOCH

    def created(self, path: str) -> datetime:
        return self.modified(path)

    def ukey(self, path: str) -> str:
        """The content's oid: a version's bytes never change."""
        return self.target(self._strip_protocol(path)).oid

    def cat_file(self, path: str, start: int | None = None, end: int | None = None,
                 **kwargs: Any) -> bytes:
        t = self._file_target(self._strip_protocol(path))
        lo = 0 if start is None else (start if start >= 0 else max(t.size + start, 0))
        hi = t.size if end is None else (end if end >= 0 else max(t.size + end, 0))
        if hi <= lo:
            return b""
        data: bytes = self.store.objects.read_range(self.verified(t.oid), lo, hi - lo)
        return data

    def _open(self, path: str, mode: str = "rb", block_size: int | None = None,
              autocommit: bool = True, cache_options: dict[str, Any] | None = None,
              **kwargs: Any) -> VersionFile:
        if mode != "rb":
            _refuse()
        t = self._file_target(self._strip_protocol(path))
        return VersionFile(self, t.path, self.verified(t.oid), t.size, block_size,
                           kwargs.get("cache_type", CACHE_TYPE), cache_options)

    def local_path(self, path: str) -> str | None:
        """A path on disk holding exactly the bytes of the file ``path`` when its object is
        stored whole (loose), for readers faster on a plain file; else None."""
        t = self._file_target(self._strip_protocol(path))
        return self.store.objects.local_file(t.oid)

    # -- writing: refused ------------------------------------------------------------------

    mkdir = makedirs = rmdir = rm_file = _rm = rm = _refuse
    cp_file = copy = mv = put_file = put = pipe_file = pipe = touch = _refuse


def open_store(root: str) -> Store:
    """The store of ``root`` opened read-only, its index caught up in memory when it lacks
    records, and data fetched on demand from the default remote (written through a
    second, writable handle: fetching is the one write a reader makes)."""
    path = os.path.join(root, STORE_DIR)
    store: Store

    def catch_up(index: Index) -> None:
        from mlver.ops.indexing import catch_up as run

        run(store, index, lambda _message: None)

    store = Store(path, on_index_open=catch_up, read_only=True)
    fetchers: list[Callable[[list[str]], None]] = []

    def fetch(oids: list[str]) -> None:
        if not fetchers:
            from mlver.sync.named import default_fetcher

            writer = Store(path)
            fetchers.append(default_fetcher(writer, Workspace(root, writer)))
        fetchers[0](oids)

    store.objects.fetcher = fetch
    return store


__all__ = ["MlverFileSystem", "ReadOnlyFsError", "VersionFile", "open_store"]
