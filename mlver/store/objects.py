"""Immutable content-addressed objects under ``.mlver/objects/ab/<30 hex>``.

Writes follow git's batch discipline: every new object of a batch is written
to ``.mlver/tmp/``, the whole batch is made durable with one ``syncfs`` (one
fsync per small file costs ~27 s per 100k files here), then each file is
renamed into place, read-only. An object only ever carries its final name
when it is complete, and an existing object is never rewritten.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import os
import threading

from ..errors import CorruptObjectError
from ..hashing import CHUNK, Hasher, is_oid, oid_of

# Files up to this size are read whole (one read, one write); larger ones stream.
SMALL_FILE = 8 << 20
_counter = itertools.count()


def _load_syncfs():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


_SYNCFS = _load_syncfs()


def sync_filesystem(path: str) -> None:
    """Flush every dirty page of the file system holding ``path`` (one call per batch)."""
    if _SYNCFS is not None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if _SYNCFS(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()


class ObjectStore:
    """Read and write objects of one store folder (the ``.mlver`` directory)."""

    def __init__(self, store_dir: str) -> None:
        self.store_dir = store_dir
        self.objects_dir = os.path.join(store_dir, "objects")
        self.tmp_dir = os.path.join(store_dir, "tmp")

    def path(self, oid: str) -> str:
        """Filesystem path of ``oid`` (whether or not it exists)."""
        return f"{self.objects_dir}/{oid[:2]}/{oid[2:]}"  # hot: 100k calls per capture

    def has(self, oid: str) -> bool:
        """True when the object is present."""
        return os.path.exists(self.path(oid))

    def read(self, oid: str, verify: bool = True) -> bytes:
        """Return the bytes of ``oid``; with ``verify`` check they hash to it."""
        if not is_oid(oid):
            raise CorruptObjectError(f"'{oid}' is not an object id (32 lowercase hex characters)")
        try:
            with open(self.path(oid), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise CorruptObjectError(
                f"object {oid} is missing from the store; restore .mlver/objects from a backup or re-snapshot"
            ) from None
        if verify and oid_of(data) != oid:
            raise CorruptObjectError(
                f"object {oid} is corrupt (its bytes hash differently); "
                "restore it from a backup, or delete it and re-snapshot"
            )
        return data

    def local_file(self, oid: str) -> str | None:
        """The real path of a loose object (for callers that map a big file), else None."""
        p = self.path(oid)
        return p if os.path.isfile(p) else None

    def open(self, oid: str):
        """A readable binary file of ``oid`` (raises CorruptObjectError when missing)."""
        try:
            return open(self.path(oid), "rb")
        except FileNotFoundError:
            raise CorruptObjectError(
                f"object {oid} is missing from the store; restore .mlver/objects from a backup or re-snapshot"
            ) from None

    def verify_file(self, oid: str) -> bool:
        """True when the object exists and its bytes hash to ``oid`` (streamed)."""
        h = Hasher()
        try:
            with open(self.path(oid), "rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
        except FileNotFoundError:
            return False
        return h.hexdigest() == oid

    def iter_oids(self):
        """Yield every oid present in the store."""
        if not os.path.isdir(self.objects_dir):
            return
        for fan in sorted(os.listdir(self.objects_dir)):
            d = os.path.join(self.objects_dir, fan)
            if len(fan) == 2 and os.path.isdir(d):
                for rest in sorted(os.listdir(d)):
                    if is_oid(fan + rest):
                        yield fan + rest

    def batch(self) -> "Batch":
        """Start a batch of writes; commit it (or use it as a context manager)."""
        return Batch(self)


class Batch:
    """A set of new objects staged in ``tmp/`` and published together.

    Thread-safe: capture hashes and stages files from a pool of threads.
    """

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._staged: dict[str, str] = {}  # oid -> tmp path
        self._present: set[str] | None = None  # oids in the store, once preload() ran
        self._lock = threading.Lock()
        self._prefix = f"{os.getpid()}-{next(_counter)}-"
        self._n = itertools.count()
        os.makedirs(store.tmp_dir, exist_ok=True)

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def _tmp_path(self) -> str:
        return f"{self.store.tmp_dir}/{self._prefix}{next(self._n)}"

    def preload(self) -> None:
        """List the store's objects once (256 directory reads) instead of one ``stat``
        per object: worth it when a capture is about to ask about thousands of them."""
        if self._present is None:
            self._present = set(self.store.iter_oids())

    def _in_store(self, oid: str) -> bool:
        if self._present is not None:
            return oid in self._present
        return self.store.has(oid)

    def has(self, oid: str) -> bool:
        """True when ``oid`` is in the store or staged in this batch."""
        return oid in self._staged or self._in_store(oid)

    def _claim(self, oid: str) -> bool:
        """True when this caller should write ``oid`` (not present, not staged)."""
        with self._lock:
            if oid in self._staged:
                return False
            if self._in_store(oid):
                return False
            self._staged[oid] = ""  # reserved; path filled in by the writer
            return True

    def add_bytes(self, data: bytes) -> str:
        """Stage ``data`` as an object and return its oid."""
        oid = oid_of(data)
        if self._claim(oid):
            tmp = self._tmp_path()
            _write_readonly(tmp, data)
            with self._lock:
                self._staged[oid] = tmp
        return oid

    def add_file(self, path: str) -> tuple[str, int]:
        """Hash the file at ``path`` and stage it, reading it once; return ``(oid, size)``."""
        with open(path, "rb") as f:  # buffered: read(n) returns n bytes unless at EOF
            data = f.read(SMALL_FILE + 1)
            if len(data) <= SMALL_FILE:
                return self.add_bytes(data), len(data)
            return self._add_stream(f, data)

    def _add_stream(self, f, first: bytes) -> tuple[str, int]:
        # Large file: copy to tmp while hashing, decide afterwards whether to keep it.
        tmp = self._tmp_path()
        h = Hasher()
        size = 0
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            chunk = first
            while chunk:
                h.update(chunk)
                size += len(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                chunk = f.read(CHUNK * 8)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        oid = h.hexdigest()
        if self._claim(oid):
            with self._lock:
                self._staged[oid] = tmp
        else:
            os.unlink(tmp)
        return oid, size

    def __len__(self) -> int:
        return len(self._staged)

    def commit(self) -> None:
        """Make every staged object durable, then give it its final name."""
        staged = [(oid, tmp) for oid, tmp in self._staged.items() if tmp]
        self._staged = {}
        if not staged:
            return
        sync_filesystem(self.store.tmp_dir)
        for fan in {oid[:2] for oid, _ in staged}:
            os.makedirs(f"{self.store.objects_dir}/{fan}", exist_ok=True)
        if len(staged) < 1000:
            self._publish(staged)
        else:  # rename syscalls overlap well: spread them over a few threads
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(self._publish, [staged[i::4] for i in range(4)]))
        # The renames themselves must be durable before any ref can point at them.
        sync_filesystem(self.store.objects_dir)

    def _publish(self, staged: list[tuple[str, str]]) -> None:
        for oid, tmp in staged:
            final = self.store.path(oid)
            try:
                os.link(tmp, final)  # unlike a rename, never replaces an existing object
            except FileExistsError:
                pass  # written meanwhile by another process: keep theirs
            except OSError:  # a file system without hard links
                if not os.path.exists(final):
                    os.replace(tmp, final)
                    continue
            os.unlink(tmp)
        if self._present is not None:
            self._present.update(oid for oid, _ in staged)

    def abort(self) -> None:
        """Drop every staged object."""
        for tmp in self._staged.values():
            if tmp:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
        self._staged = {}


def _write_readonly(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    finally:
        os.close(fd)
