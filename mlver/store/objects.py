"""Immutable content-addressed objects: small ones in packs, large ones loose (store format 2).

An object of at most :data:`PACK_THRESHOLD` bytes is appended to the batch's pack
(``objects/pack/pack-<32 hex>.pack`` with its index ``.idx``, see :mod:`.packs`); a larger
one is a loose file ``objects/ab/<30 hex>``, as in format 1, whose loose objects stay valid.

Writes follow git's batch discipline: a batch's pack, its index and its loose objects are
written to ``.mlver/tmp/``, the whole batch is made durable with one ``syncfs`` (one fsync
per small file costs ~27 s per 100k files here), then everything is given its final name:
loose objects by hard link (never replacing one), the pack by rename, its index last. An
object exists only once an index lists it (or its loose file carries its name), and an
existing object is never rewritten. A second ``syncfs`` makes the names durable before any
ref may point at them. When packs multiply, the end of a commit merges them (crash-safe).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import io
import itertools
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import BinaryIO, Protocol

from ..config import CONFIG_FILE, STORE_FORMAT
from ..errors import CorruptObjectError
from ..hashing import CHUNK, HASH_NAME, Hasher, is_oid, oid_of
from . import packs as packmod

# Objects up to this size go into packs; larger ones stay loose files. Measured with
# benchmarks/bench_pack_threshold.py (docs/format.md, "Why 128 KiB").
PACK_THRESHOLD = 128 << 10
TMP_GRACE = 6 * 3600.0  # seconds: a tmp/ file older than this belongs to no live writer
# Packs allowed before the end of a commit merges the small ones (git gc --auto: 50).
MAX_PACKS = 32
_counter = itertools.count()
_PACKED = "\0packed"  # marks a staged oid that went into the batch's pack
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn: Callable[[int], int] = libc.syncfs
        return fn
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


def _missing(oid: str) -> CorruptObjectError:
    return CorruptObjectError(
        f"object {oid} is missing from the store; restore .mlver/objects from a backup or "
        "re-snapshot")


class ObjectStore(Protocol):
    """What every store of objects offers (the local one, later remotes)."""

    def has(self, oid: str) -> bool: ...

    def open(self, oid: str) -> BinaryIO: ...

    def read(self, oid: str, verify: bool = True) -> bytes: ...

    def batch(self) -> "Batch": ...

    def iter_oids(self) -> Iterator[str]: ...


class LocalObjectStore:
    """Read and write objects of one store folder (the ``.mlver`` directory).

    Thread-safe. Packs added by another process are noticed: a lookup that misses
    re-lists ``objects/pack/`` when the folder changed (a read that misses, always).
    """

    def __init__(self, store_dir: str) -> None:
        self.store_dir = store_dir
        self.objects_dir = os.path.join(store_dir, "objects")
        self.pack_dir = os.path.join(self.objects_dir, "pack")
        self.tmp_dir = os.path.join(store_dir, "tmp")
        self._lock = threading.RLock()
        self._packs: tuple[packmod.PackIndex, ...] = ()
        self._damaged: dict[str, CorruptObjectError] = {}
        self._signature: tuple[int, int, int] | None = None
        self._listed = False
        self._format_ok = False
        self._swept = False

    # -- packs ------------------------------------------------------------------------------

    def _dir_signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.pack_dir)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)

    def _refresh(self, force: bool = False) -> bool:
        """Re-list the pack folder if it changed (always with ``force``); True when the set
        of packs changed."""
        with self._lock:
            for _ in range(5):
                sig = self._dir_signature()
                if self._listed and not force and sig == self._signature:
                    return False
                try:
                    return self._relist(sig)
                except FileNotFoundError:
                    force = True  # an index vanished under us (merged away): list again
            return self._relist(self._dir_signature())

    def _relist(self, sig: tuple[int, int, int] | None) -> bool:
        old = {p.name: p for p in self._packs}
        found: dict[str, packmod.PackIndex] = {}
        damaged: dict[str, CorruptObjectError] = {}
        if sig is not None:
            with os.scandir(self.pack_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
            for e in entries:
                if not (e.name.startswith("pack-") and e.name.endswith(".idx")):
                    if e.is_symlink() or not e.is_file(follow_symlinks=False):
                        damaged[e.name] = CorruptObjectError(
                            f"{e.path} is not a regular file; a store holds no symlinks or "
                            "special files: move it out of the store")
                    continue
                name = e.name[:-4]
                if name in old:
                    found[name] = old[name]
                    continue
                try:
                    found[name] = packmod.PackIndex(e.path)
                except CorruptObjectError as err:
                    damaged[name] = err
        changed = set(found) != set(old)
        self._packs = tuple(found.values())
        self._damaged = damaged
        self._signature = sig
        self._listed = True
        return changed

    def _find(self, oid: str, force: bool = False) -> tuple[packmod.PackIndex, int] | None:
        if not self._listed or force:
            self._refresh(force)
        try:
            key = bytes.fromhex(oid)
        except ValueError:
            return None  # not an oid: in no index
        for attempt in range(2):
            for p in self._packs:
                i = p.find(key)
                if i >= 0:
                    return p, i
            if attempt == 0 and not self._refresh():
                return None
        return None

    def _read_packed(self, oid: str, force: bool = False) -> tuple[bytes, str] | None:
        """``(bytes, pack file)`` of a packed object, or None; survives a concurrent merge."""
        gone = ""
        for attempt in range(4):
            hit = self._find(oid, force=force or attempt > 0)
            if hit is None:
                return None
            pack, i = hit
            try:
                return pack.read_at(i), pack.pack_path
            except FileNotFoundError:
                gone = pack.pack_path  # merged away since we listed: list again and retry
        # Still listed after several fresh listings: not a merge, the pack itself is gone.
        raise packmod.damaged(gone, "the index is there, its pack file is missing")

    def _raise_missing(self, oid: str) -> None:
        if self._damaged:
            raise next(iter(self._damaged.values()))
        raise _missing(oid)

    # -- loose objects ------------------------------------------------------------------------

    def _loose_path(self, oid: str) -> str:
        """Filesystem path of the loose object ``oid`` (whether or not it exists)."""
        return f"{self.objects_dir}/{oid[:2]}/{oid[2:]}"  # hot: 100k calls per capture

    def _open_loose(self, oid: str) -> int | None:
        try:
            return packmod.open_regular(self._loose_path(oid))
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None

    # -- the interface ------------------------------------------------------------------------

    def has(self, oid: str) -> bool:
        """True when the object is present (packed or loose)."""
        if self._find(oid) is not None:
            return True
        return is_oid(oid) and os.path.exists(self._loose_path(oid))

    def _check(self, oid: str) -> None:
        if not is_oid(oid):
            raise CorruptObjectError(f"'{oid}' is not an object id (32 lowercase hex characters)")

    def _locate(self, oid: str) -> tuple[bytes | None, int | None, str]:
        """A packed object's bytes, or a loose object's open fd; and where it lives."""
        self._check(oid)
        hit = self._read_packed(oid)
        if hit is not None:
            return hit[0], None, hit[1]
        fd = self._open_loose(oid)
        if fd is not None:
            return None, fd, self._loose_path(oid)
        for _ in range(2):  # a pack another process just added, or merged meanwhile
            hit = self._read_packed(oid, force=True)
            if hit is not None:
                return hit[0], None, hit[1]
        self._raise_missing(oid)
        raise AssertionError("unreachable")

    def _other_copy(self, oid: str) -> bytes | None:
        """Any copy of ``oid`` that hashes right: in another pack, or loose (a snapshot
        that found the first copy damaged wrote a new one)."""
        self._refresh(force=True)
        key = bytes.fromhex(oid)
        for p in self._packs:
            i = p.find(key)
            if i >= 0:
                try:
                    data = p.read_at(i)
                except (OSError, CorruptObjectError):
                    continue
                if oid_of(data) == oid:
                    return data
        fd = self._open_loose(oid)
        if fd is not None:
            with os.fdopen(fd, "rb") as f:
                data = f.read()
            if oid_of(data) == oid:
                return data
        return None

    def sweep_tmp(self, older_than: float = TMP_GRACE) -> int:
        """Remove files in ``tmp/`` left by writers that died (older than ``older_than``
        seconds: a live batch is younger); once per process. Returns how many."""
        if self._swept:
            return 0
        self._swept = True
        cutoff = time.time() - older_than
        n = 0
        try:
            entries = list(os.scandir(self.tmp_dir))
        except FileNotFoundError:
            return 0
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
                if (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)) \
                        and st.st_mtime < cutoff:
                    os.unlink(e.path)
                    n += 1
            except OSError:
                continue
        return n

    def open(self, oid: str) -> BinaryIO:
        """A readable binary file of the object (not verified; :meth:`read` verifies)."""
        data, fd, _where = self._locate(oid)
        if data is not None:
            return io.BytesIO(data)
        assert fd is not None
        return os.fdopen(fd, "rb")

    def read(self, oid: str, verify: bool = True) -> bytes:
        """Return the bytes of ``oid``; with ``verify`` check they hash to it."""
        data, fd, where = self._locate(oid)
        if data is None:
            assert fd is not None
            with os.fdopen(fd, "rb") as f:
                data = f.read()
        if verify and oid_of(data) != oid:
            good = self._other_copy(oid)  # a repaired copy, written after the damage
            if good is not None:
                return good
            if fd is None:
                raise CorruptObjectError(
                    f"object {oid} in {where} is corrupt (its bytes hash differently); "
                    "restore that pack and its .idx from a backup")
            raise CorruptObjectError(
                f"object {oid} is corrupt (its bytes hash differently); "
                "restore it from a backup, or delete it and re-snapshot"
            )
        return data

    def verify_file(self, oid: str) -> bool:
        """True when the object exists and its bytes hash to ``oid`` (streamed)."""
        try:
            data, fd, _where = self._locate(oid)
        except CorruptObjectError:
            return False
        if data is not None:
            return oid_of(data) == oid
        assert fd is not None
        h = Hasher()
        with os.fdopen(fd, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        return h.hexdigest() == oid

    def size(self, oid: str) -> int | None:
        """The object's size in bytes, or None when it is not in the store."""
        self._check(oid)
        hit = self._find(oid)
        if hit is not None:
            return hit[0].lengths[hit[1]]
        try:
            st = os.lstat(self._loose_path(oid))
        except FileNotFoundError:
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def local_file(self, oid: str) -> str | None:
        """The real path of a LOOSE object (to mmap a big file); None when packed or missing."""
        self._check(oid)
        p = self._loose_path(oid)
        try:
            st = os.lstat(p)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return p if stat.S_ISREG(st.st_mode) else None

    def iter_oids(self) -> Iterator[str]:
        """Yield every oid present in the store (packed or loose), sorted, once each."""
        self._refresh(force=True)
        if self._damaged:
            raise next(iter(self._damaged.values()))
        found: set[str] = set()
        for p in self._packs:
            found.update(p.iter_oids())
        found.update(self._iter_loose())
        return iter(sorted(found))

    def _iter_loose(self) -> Iterator[str]:
        if not os.path.isdir(self.objects_dir):
            return
        for fan in os.listdir(self.objects_dir):
            d = os.path.join(self.objects_dir, fan)
            if len(fan) == 2 and os.path.isdir(d):
                for rest in os.listdir(d):
                    if is_oid(fan + rest):
                        yield fan + rest

    def batch(self) -> "Batch":
        """Start a batch of writes; commit it (or use it as a context manager)."""
        return Batch(self)

    def packs(self) -> list[str]:
        """Names of the pack files present (``pack-<32 hex>``), for tests and tools."""
        self._refresh(force=True)
        return sorted(p.name for p in self._packs)

    # -- format upgrade and merging -------------------------------------------------------------

    def _stage_upgrade(self) -> str | None:
        """When the store's config says format 1, write a format-2 config to tmp/ and return
        its path (renamed over config.json by the commit); else None."""
        if self._format_ok:
            return None
        path = os.path.join(self.store_dir, CONFIG_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                cfg = json.load(f)
        except (FileNotFoundError, ValueError):
            self._format_ok = True  # a bare object folder (tests, tools): nothing to upgrade
            return None
        if not isinstance(cfg, dict) or not isinstance(cfg.get("format"), int) \
                or cfg["format"] >= STORE_FORMAT:
            self._format_ok = True
            return None
        cfg["format"] = STORE_FORMAT
        cfg.setdefault("hash", HASH_NAME)
        tmp = f"{self.tmp_dir}/config-{os.getpid()}-{next(_counter)}.json"
        with open(tmp, "x", encoding="utf-8") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
            f.write("\n")
        return tmp

    def maybe_merge(self, limit: int | None = None) -> int:
        """Merge the small packs when more than ``limit`` (default :data:`MAX_PACKS`) exist
        (one process at a time; others skip). Return the number of packs merged away."""
        limit = MAX_PACKS if limit is None else limit
        self._refresh(force=True)
        if len(self._packs) <= limit:
            return 0
        os.makedirs(self.tmp_dir, exist_ok=True)
        lock_path = os.path.join(self.tmp_dir, "pack-merge.lock")
        lock = os.open(lock_path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    return 0  # another process is merging
                raise
            self._refresh(force=True)
            packs = sorted(self._packs, key=lambda p: (p.pack_size, p.name))
            n = packmod.pick_merge([p.pack_size for p in packs], limit)
            if n < 2:
                return 0
            sources = packs[:n]
            name = f"pack-{os.urandom(16).hex()}"
            tmp_pack = f"{self.tmp_dir}/{name}.pack"
            tmp_idx = f"{self.tmp_dir}/{name}.idx"

            def publish() -> None:
                sync_filesystem(self.tmp_dir)
                os.rename(tmp_pack, f"{self.pack_dir}/{name}.pack")
                os.rename(tmp_idx, f"{self.pack_dir}/{name}.idx")
                sync_filesystem(self.pack_dir)  # merged pack durable before the old go

            try:
                packmod.merge(sources, tmp_pack, tmp_idx, publish)
            except FileNotFoundError:
                return 0  # a source went away (merged by someone else): nothing lost
            self._refresh(force=True)
            return n
        finally:
            os.close(lock)


class Batch:
    """A set of new objects staged in ``tmp/`` and published together.

    Small objects are appended to one new pack; large ones are staged as files.
    Thread-safe: capture hashes and stages files from a pool of threads.
    """

    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store
        self._staged: dict[str, str] = {}  # oid -> tmp path, or _PACKED
        self._present: set[str] | None = None  # oids in the store, once preload() ran
        self._lock = threading.Lock()
        self._prefix = f"{os.getpid()}-{next(_counter)}-"
        self._n = itertools.count()
        self._pack: packmod.PackWriter | None = None
        self._pack_name = ""
        self._repair: set[str] = set()  # oids whose stored copy is damaged
        os.makedirs(store.tmp_dir, exist_ok=True)
        store.sweep_tmp()

    def __enter__(self) -> "Batch":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def _tmp_path(self) -> str:
        return f"{self.store.tmp_dir}/{self._prefix}{next(self._n)}"

    def preload(self) -> None:
        """List the store's objects once (pack indexes and 256 directory reads) instead of
        one lookup per object: worth it when a capture is about to ask about thousands."""
        if self._present is None:
            self._present = set(self.store.iter_oids())

    def _in_store(self, oid: str) -> bool:
        if self._present is not None:
            return oid in self._present
        return self.store.has(oid)

    def has(self, oid: str) -> bool:
        """True when ``oid`` is in the store or staged in this batch."""
        return oid in self._staged or self._in_store(oid)

    def _claim(self, oid: str, size: int) -> bool:
        """True when this caller should write ``oid``: not staged, and not in the store or
        in the store but damaged (a copy that does not hash to its oid, or has the wrong
        size), which the fresh copy then repairs."""
        with self._lock:
            if oid in self._staged:
                return False
            present = self._in_store(oid)
        if present and self._intact(oid, size):
            return False
        with self._lock:
            if oid in self._staged:
                return False
            self._staged[oid] = ""  # reserved; filled in by the writer
            if present:
                self._repair.add(oid)
            return True

    def _intact(self, oid: str, size: int) -> bool:
        # A small object costs one read to check: capture only asks about objects it has
        # just read from the workspace, so this runs for what changed, not for the whole
        # store. A large one is checked by size only (re-reading gigabytes is not cheap).
        if size <= PACK_THRESHOLD:
            return self.store.verify_file(oid)
        return self.store.size(oid) == size

    def add_bytes(self, data: bytes) -> str:
        """Stage ``data`` as an object and return its oid."""
        oid = oid_of(data)
        if self._claim(oid, len(data)):
            if len(data) <= PACK_THRESHOLD:
                with self._lock:
                    if self._pack is None:
                        self._pack_name = f"pack-{os.urandom(16).hex()}"
                        base = f"{self.store.tmp_dir}/{self._pack_name}"
                        self._pack = packmod.PackWriter(base + ".pack", base + ".idx")
                    self._pack.add(oid, data)
                    self._staged[oid] = _PACKED
            else:
                tmp = self._tmp_path()
                _write_readonly(tmp, data)
                with self._lock:
                    self._staged[oid] = tmp
        return oid

    def add_file(self, path: str) -> tuple[str, int]:
        """Hash the file at ``path`` and stage it, reading it once; return ``(oid, size)``."""
        with open(path, "rb", buffering=0) as f:
            data = f.read(PACK_THRESHOLD + 1)
            while len(data) <= PACK_THRESHOLD:  # raw reads may be short
                more = f.read(PACK_THRESHOLD + 1 - len(data))
                if not more:
                    return self.add_bytes(data), len(data)
                data += more
            return self._add_stream(f, data)

    def _add_stream(self, f: io.RawIOBase, first: bytes) -> tuple[str, int]:
        # Large file: copy to tmp, hash the copy (so the oid is of the bytes stored), then
        # decide whether to keep it. The copy is made in the kernel (copy_file_range, as
        # cp does) and hashed from the page cache right behind it; otherwise it is read
        # and written in 8 MiB chunks, hashed on the way. Memory stays at one chunk.
        tmp = self._tmp_path()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            _write_all(fd, first)
            done = _copy_and_hash(f.fileno(), fd, tmp, first)
            if done is not None:
                oid, size = done
            else:
                h = Hasher()
                h.update(first)
                size = len(first)
                buf = bytearray(CHUNK * 8)
                mv = memoryview(buf)
                while True:
                    n = f.readinto(mv)
                    if not n:
                        break
                    chunk = mv[:n]
                    h.update(chunk)  # type: ignore[arg-type]  # Hasher.update says bytes; xxhash takes any buffer
                    size += n
                    _write_all(fd, chunk)
                oid = h.hexdigest()
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        if self._claim(oid, size):
            with self._lock:
                self._staged[oid] = tmp
        else:
            os.unlink(tmp)
        return oid, size

    def __len__(self) -> int:
        return len(self._staged)

    def commit(self) -> None:
        """Make every staged object durable, then give it its final name (index last)."""
        with self._lock:
            staged = [(oid, tmp) for oid, tmp in self._staged.items() if tmp and tmp != _PACKED]
            packed = [oid for oid, tmp in self._staged.items() if tmp == _PACKED]
            pack, name = self._pack, self._pack_name
            self._staged = {}
            self._pack = None
        if not staged and pack is None:
            return
        store = self.store
        try:
            if pack is not None:
                pack.finish()
            upgrade = store._stage_upgrade()
        except BaseException:
            if pack is not None:
                pack.abort()
            for _oid, tmp in staged:
                _unlink(tmp)
            raise
        sync_filesystem(store.tmp_dir)  # the batch's one sync: everything staged is durable
        if upgrade is not None:
            # Format 2 must be on disk before the first pack appears (an older mlver would
            # misread a store with packs as missing objects).
            os.replace(upgrade, os.path.join(store.store_dir, CONFIG_FILE))
            sync_filesystem(store.store_dir)
            store._format_ok = True
        try:
            self._publish_all(staged, pack, name)
        except BaseException:
            # Nothing refers to these yet (refs move after a commit returns): a failed
            # publish (permissions, a full disk) leaves no staged file behind.
            for _oid, tmp in staged:
                _unlink(tmp)
            if pack is not None:
                _unlink(pack.pack_path)
                _unlink(pack.idx_path)
                _unlink(f"{store.pack_dir}/{name}.pack")  # an index never came: invisible
            raise
        # The renames themselves must be durable before any ref can point at them.
        sync_filesystem(store.objects_dir)
        if self._present is not None:
            self._present.update(packed)
        if pack is not None:
            store._refresh(force=True)
            try:
                store.maybe_merge()
            except CorruptObjectError:
                pass  # a damaged pack is left as it is (reads name it); no merge this time

    def _publish_all(self, staged: list[tuple[str, str]], pack: packmod.PackWriter | None,
                     name: str) -> None:
        store = self.store
        if staged:
            for fan in {oid[:2] for oid, _ in staged}:
                os.makedirs(f"{store.objects_dir}/{fan}", exist_ok=True)
            if len(staged) < 1000:
                self._publish(staged)
            else:  # link syscalls overlap well: spread them over a few threads
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(4) as pool:
                    list(pool.map(self._publish, [staged[i::4] for i in range(4)]))
        if pack is not None:
            os.makedirs(store.pack_dir, exist_ok=True)
            os.rename(pack.pack_path, f"{store.pack_dir}/{name}.pack")
            os.rename(pack.idx_path, f"{store.pack_dir}/{name}.idx")  # the objects now exist

    def _publish(self, staged: list[tuple[str, str]]) -> None:
        for oid, tmp in staged:
            final = self.store._loose_path(oid)
            if oid in self._repair:  # the copy there is damaged: this one replaces it
                os.replace(tmp, final)
                continue
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
        with self._lock:
            for tmp in self._staged.values():
                if tmp and tmp != _PACKED:
                    _unlink(tmp)
            if self._pack is not None:
                self._pack.abort()
                self._pack = None
            self._staged = {}


_COPY_STEP = 64 << 20  # kernel copy granularity; the hasher follows one step behind


class _CopyState:
    """What the copying thread has done so far (guarded by a condition)."""

    def __init__(self, copied: int, done: bool) -> None:
        self.copied = copied
        self.done = done
        self.error: BaseException | None = None


def _copy_and_hash(src: int, dst: int, tmp: str, first: bytes) -> tuple[str, int] | None:
    """Copy ``src`` (from its current offset to its end) onto ``dst`` in the kernel
    (``copy_file_range``, as cp does) while another thread hashes what is already in
    ``tmp`` (the copy, from the page cache), so the oid is of the bytes stored. Return
    ``(oid, size)`` of the whole tmp file (``first`` included), or None, having copied
    nothing, where the kernel copy is not available for these files."""
    copy = getattr(os, "copy_file_range", None)
    if copy is None:
        return None
    try:
        n = copy(src, dst, _COPY_STEP)
    except OSError as e:
        if e.errno in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF,
                       errno.EPERM):
            return None
        raise
    state = _CopyState(len(first) + n, n == 0)
    cond = threading.Condition()

    def copier() -> None:
        try:
            while not state.done:
                k = copy(src, dst, _COPY_STEP)
                with cond:
                    state.copied += k
                    state.done = k == 0
                    cond.notify()
        except BaseException as e:  # reported by the hashing side
            with cond:
                state.error = e
                state.done = True
                cond.notify()

    t = threading.Thread(target=copier, daemon=True)
    t.start()
    h = Hasher()
    h.update(first)
    hashed = len(first)
    buf = bytearray(CHUNK * 8)
    mv = memoryview(buf)
    rfd = os.open(tmp, os.O_RDONLY)
    try:
        while True:
            with cond:
                while state.copied <= hashed and not state.done:
                    cond.wait()
                limit, done = state.copied, state.done
            while hashed < limit:
                k = os.preadv(rfd, [mv[:min(len(buf), limit - hashed)]], hashed)
                if k <= 0:
                    raise OSError(errno.EIO, f"short read of {tmp}")
                h.update(mv[:k])  # type: ignore[arg-type]  # any buffer, as above
                hashed += k
            if done and hashed >= state.copied:
                break
    finally:
        os.close(rfd)
        t.join()
    if state.error is not None:
        raise state.error
    return h.hexdigest(), hashed


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_readonly(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)
