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

import io
import itertools
import os
import stat
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import TYPE_CHECKING, BinaryIO, Protocol

from mlver.store.settings import stage_upgrade
from mlver.base.errors import CorruptObjectError, ReadOnlyError
from mlver.base.hashing import CHUNK, Hasher, is_oid, oid_of
from mlver.store import layout
from mlver.store import manifest as manifestmod
from mlver.store import packs as packmod
from mlver.store import upkeep
from mlver.store.chunked import ChunkedReader, read_runs
from mlver.store.reader import LayoutReader
from mlver.store.manifest import Manifest
from mlver.store.packs import PACK_THRESHOLD

if TYPE_CHECKING:
    from mlver.store.batch import Batch
    from mlver.store.items import Item

TMP_GRACE = 6 * 3600.0  # seconds: a tmp/ file older than this belongs to no live writer
# Packs allowed before the end of a commit merges the small ones (git gc --auto: 50).
MAX_PACKS = 32
# Chunk entries the decoded-manifest cache holds at most: the largest manifest read
# (MAX_MANIFEST, ~1.5M entries) fits, 256 of them (a crafted store) do not.
_ROWS_MAX = manifestmod.ROWS_MAX
_counter = itertools.count()
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _missing(oid: str) -> CorruptObjectError:
    return CorruptObjectError(
        f"object {oid} is missing from the store; restore .mlver/objects from a backup or "
        "re-snapshot")


class ObjectStore(Protocol):
    """What every store of objects offers (the local one and a remote's)."""

    def has(self, oid: str) -> bool: ...

    def missing(self, oids: list[str]) -> list[str]: ...

    def manifest(self, oid: str) -> Manifest | None: ...

    def read_many(self, oids: list[str]) -> dict[str, bytes]: ...

    def read_range(self, oid: str, offset: int, length: int) -> bytes: ...

    def open(self, oid: str) -> BinaryIO: ...

    def read(self, oid: str, verify: bool = True) -> bytes: ...

    def batch(self) -> Batch: ...

    def iter_oids(self) -> Iterator[str]: ...


class LocalObjectStore(LayoutReader):
    """Read and write objects of one store folder (the ``.mlver`` directory).

    Thread-safe. Packs added by another process are noticed: a lookup that misses
    re-lists ``objects/pack/`` when the folder changed (a read that misses, always).
    Where an object is, presence and manifests are the layout's
    (:class:`~mlver.store.reader.LayoutReader`); this class is the folder as its medium
    (:class:`~mlver.store.reader.Catalog`) and how its bytes are read.
    """

    # A manifest that arrives (a pull) is read through its chunks before it is published.
    verifies_arrivals = True
    # missing() of many oids lists the folder once; it names chunked files lacking chunks.
    bulk_missing = 2000
    checks_chunks = True

    def __init__(self, store_dir: str, read_only: bool = False) -> None:
        self.store_dir = store_dir
        self.read_only = read_only
        self.objects_dir = os.path.join(store_dir, "objects")
        self.pack_dir = os.path.join(self.objects_dir, "pack")
        self.tmp_dir = os.path.join(store_dir, "tmp")
        self._lock = threading.RLock()
        self._indexes: tuple[packmod.PackIndex, ...] = ()
        self._damaged: dict[str, CorruptObjectError] = {}
        self._signature: tuple[int, int, int] | None = None
        self._listed = False
        self._format_ok = False
        self._swept = False
        # Data on demand: called with oids this store lacks (a version pulled with
        # --no-data); it copies them in from a remote, or raises naming why it cannot.
        self.fetcher: Callable[[list[str]], None] | None = None
        self._fetching = threading.local()
        # decoded manifests (immutable), bounded by their entries (what costs memory)
        self._decoded = manifestmod.ManifestCache(_ROWS_MAX, count_max=256)

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
        old = {p.name: p for p in self._indexes}
        found: dict[str, packmod.PackIndex] = {}
        damaged: dict[str, CorruptObjectError] = {}
        if sig is not None:
            with os.scandir(self.pack_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
            for e in entries:
                kind = layout.pack_file(e.name)
                if kind is None or kind[1] != ".idx":
                    if e.is_symlink() or not e.is_file(follow_symlinks=False):
                        damaged[e.name] = CorruptObjectError(
                            f"{e.path} is not a regular file; a store holds no symlinks or "
                            "special files: move it out of the store")
                    continue
                name = kind[0]
                if name in old:
                    found[name] = old[name]
                    continue
                try:
                    found[name] = packmod.PackIndex(e.path)
                except CorruptObjectError as err:
                    damaged[name] = err
        changed = set(found) != set(old)
        self._indexes = tuple(found.values())
        self._damaged = damaged
        self._signature = sig
        self._listed = True
        return changed

    def _find(self, oid: str, force: bool = False) -> tuple[packmod.PackIndex, int] | None:
        if force:
            self._refresh(force)
        return self.find_packed(oid)

    def _read_packed(self, oid: str, force: bool = False) -> tuple[bytes, str] | None:
        """``(bytes, pack file)`` of a packed object, or None; survives a concurrent merge."""
        gone = ""
        for attempt in range(4):
            hit = self._find(oid, True) if force or attempt else self.find_packed(oid)
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

    # -- the folder as the layout's medium (reader.Catalog) ----------------------------------

    def _list(self) -> None:
        self._refresh()

    def _relisted(self) -> bool:
        return self._refresh()

    def _fresh_indexes(self) -> tuple[packmod.PackIndex, ...]:
        self._refresh(force=True)
        if self._damaged:
            raise next(iter(self._damaged.values()))
        return self._indexes

    def _loose_size(self, oid: str) -> int | None:
        try:
            st = os.lstat(self._loose_path(oid))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def _manifest_listed(self, oid: str) -> bool:
        return os.path.exists(self.manifest_path(oid))

    def _manifest_bytes(self, oid: str) -> bytes | None:
        try:
            fd = packmod.open_regular(self.manifest_path(oid))
        except (FileNotFoundError, NotADirectoryError):
            return None
        with os.fdopen(fd, "rb") as f:
            return f.read(manifestmod.MAX_MANIFEST + 1)

    def _listing(self) -> tuple[Collection[str], Collection[str]]:
        listing = self._folder_listing()
        return listing.loose, listing.manifests

    # -- loose objects ------------------------------------------------------------------------

    def _loose_path(self, oid: str) -> str:
        """Filesystem path of the loose object ``oid`` (whether or not it exists):
        :func:`~mlver.store.layout.loose_rel` below the store, inlined (hot: 100k calls per
        capture; tests/test_objects.py checks the two agree)."""
        return f"{self.objects_dir}/{oid[:2]}/{oid[2:]}"

    def manifest_path(self, oid: str) -> str:
        """Filesystem path of the chunk manifest of ``oid`` (whether or not it exists): for
        the store's own modules (gc, verify), never above the store."""
        return f"{self.store_dir}/{layout.manifest_rel(oid)}"

    def _open_loose(self, oid: str) -> int | None:
        try:
            return packmod.open_regular(self._loose_path(oid))
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None

    # -- the interface ------------------------------------------------------------------------

    def read_many(self, oids: list[str]) -> dict[str, bytes]:
        """The bytes of the objects ``oids``, each verified: packed ones with one ``pread``
        per run of neighbours in a pack, the others one by one. An object that is missing
        or damaged is absent from the result (:meth:`read` names why)."""
        spots = []
        rest = []
        for oid in dict.fromkeys(oids):
            hit = self._find(oid) if is_oid(oid) else None
            if hit is None:
                rest.append(oid)
            else:
                spots.append(hit)
        out = {}
        for key, view in read_runs(spots).items():
            oid = key.hex()
            data = bytes(view)
            if oid_of(data) == oid:
                out[oid] = data
            else:
                rest.append(oid)
        for oid in rest:
            try:
                out[oid] = self.read(oid)
            except CorruptObjectError:
                continue
        return out

    def iter_items(self, oids: Iterable[str]) -> Iterator[Item]:
        """The objects ``oids`` on their way to another store (a transfer): loose files in
        place (verified as they are sent), packed objects read in runs, each verified."""
        from mlver.store.items import iter_local  # a transfer's: not every command's import

        return iter_local(self, oids)

    def read_range(self, oid: str, offset: int, length: int) -> bytes:
        """``length`` bytes of the object ``oid`` from ``offset`` (fewer at its end): a
        chunked file reads only the chunks that cover the range, each verified."""
        if offset < 0 or length < 0:
            raise ValueError("a range starts and extends at zero or more")
        with self.open(oid) as f:
            if isinstance(f, ChunkedReader):
                return f.pread(offset, length)
            f.seek(offset)
            return f.read(length)

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
        if self.manifest(oid) is not None:
            return None, None, self.manifest_path(oid)
        for _ in range(2):  # a pack another process just added, or merged meanwhile
            hit = self._read_packed(oid, force=True)
            if hit is not None:
                return hit[0], None, hit[1]
        if self.fetch([oid]):
            return self._locate(oid)
        self._raise_missing(oid)
        raise AssertionError("unreachable")

    def _other_copy(self, oid: str) -> bytes | None:
        """Any copy of ``oid`` that hashes right: in another pack, or loose (a snapshot
        that found the first copy damaged wrote a new one)."""
        self._refresh(force=True)
        key = bytes.fromhex(oid)
        for p in self._indexes:
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
        try:  # its chunks (a rechunk killed before the whole copy went leaves both)
            m = self.manifest(oid)
            if m is not None:
                with ChunkedReader(self, m) as r:
                    return r.read()  # verified whole at its end
        except CorruptObjectError:
            pass
        return None

    def fetch(self, oids: list[str]) -> bool:
        """Bring the objects of ``oids`` this store lacks from the remote of the
        :attr:`fetcher` (data on demand); True when all of them are here then. Without a
        fetcher (or inside one), nothing is fetched."""
        want = [o for o in oids if not self.has(o)]
        if not want:
            return True
        if self.fetcher is None or getattr(self._fetching, "on", False):
            return False
        self._fetching.on = True
        try:
            self.fetcher(want)
        finally:
            self._fetching.on = False
        self._refresh(force=True)
        return all(self.has(o) for o in want)

    def sweep_tmp(self, older_than: float = TMP_GRACE) -> int:
        """Remove files in ``tmp/`` left by writers that died (see
        :func:`~mlver.store.upkeep.sweep`); once per process. Returns how many."""
        if self._swept or self.read_only:
            return 0
        self._swept = True
        return upkeep.sweep(self.tmp_dir, older_than)

    def open(self, oid: str) -> BinaryIO:
        """A readable binary file of the object (not verified; :meth:`read` verifies)."""
        data, fd, _where = self._locate(oid)
        if data is not None:
            return io.BytesIO(data)
        if fd is None:  # chunks: streamed, each verified, the whole checked at its end
            m = self.manifest(oid)
            assert m is not None
            return ChunkedReader(self, m)  # type: ignore[return-value]  # a RawIOBase is binary IO
        return os.fdopen(fd, "rb")

    def read(self, oid: str, verify: bool = True) -> bytes:
        """Return the bytes of ``oid``; with ``verify`` check they hash to it."""
        data, fd, where = self._locate(oid)
        if data is None and fd is None:
            with self.open(oid) as f:  # chunks: verified as they are read
                return f.read()
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
        if fd is None:
            try:
                with self.open(oid) as f:
                    while f.read(CHUNK * 8):
                        pass
            except CorruptObjectError:
                return False
            return True
        h = Hasher()
        with os.fdopen(fd, "rb") as f:
            while chunk := f.read(CHUNK):
                h.update(chunk)
        if h.hexdigest() == oid:
            return True
        try:  # a damaged loose copy beside intact chunks: the object is readable
            m = self.manifest(oid)
            if m is None:
                return False
            with ChunkedReader(self, m) as r:
                while r.read(CHUNK * 8):
                    pass
        except CorruptObjectError:
            return False
        return True

    def size(self, oid: str) -> int | None:
        """The object's size in bytes, or None when it is not in the store."""
        self._check(oid)
        return super().size(oid)

    def local_file(self, oid: str) -> str | None:
        """The real path of a LOOSE object (to mmap a big file); None when packed or missing."""
        self._check(oid)
        p = self._loose_path(oid)
        try:
            st = os.lstat(p)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return p if stat.S_ISREG(st.st_mode) else None

    def iter_manifests(self) -> Iterator[str]:
        """Yield the oid of every file stored as chunks (its manifest is present)."""
        return iter(self._folder_listing().manifests)

    def _folder_listing(self) -> layout.ObjectListing:
        """The loose objects and manifests, by one listing of each fan folder, sorted by
        the layout's rules as a remote's listing is (:func:`~mlver.store.layout.parse_objects`;
        sizes are not read: a local lookup stats what it needs)."""
        files: dict[str, int] = {}
        try:
            fans = os.listdir(self.objects_dir)
        except FileNotFoundError:
            return layout.ObjectListing()
        for fan in fans:
            if len(fan) != 2:
                continue
            try:
                names = os.listdir(f"{self.objects_dir}/{fan}")
            except (FileNotFoundError, NotADirectoryError):
                continue
            for n in names:
                files[f"objects/{fan}/{n}"] = 0
        return layout.parse_objects(files)

    def batch(self) -> Batch:
        """Start a batch of writes; commit it (or use it as a context manager)."""
        from mlver.store.batch import Batch  # batch imports this module: imported when first needed

        if self.read_only:
            raise ReadOnlyError(f"the store {self.store_dir} is open read-only; "
                                "no object can be written through it")
        return Batch(self)

    def pack_listing(self) -> tuple[tuple[packmod.PackIndex, ...], dict[str, CorruptObjectError]]:
        """The packs listed afresh, and the files of ``objects/pack/`` found damaged (by
        name), for the store's own scan (:mod:`.scan`: verify, gc)."""
        self._refresh(force=True)
        return self._indexes, dict(self._damaged)

    def packs(self) -> list[str]:
        """Names of the pack files present (``pack-<32 hex>``), for tests and tools."""
        self._refresh(force=True)
        return sorted(p.name for p in self._indexes)

    # -- format upgrade and merging -------------------------------------------------------------

    def _stage_upgrade(self) -> str | None:
        """When the store's config says an older format, a current config staged in tmp/
        (renamed over config.json by the commit: :func:`~mlver.store.settings.stage_upgrade`);
        else None."""
        if self._format_ok:
            return None
        staged = stage_upgrade(self.store_dir, f"{self.tmp_dir}/config-{os.getpid()}-"
                                               f"{next(_counter)}.json")
        self._format_ok = staged is None
        return staged

    def maybe_merge(self, limit: int | None = None) -> int:
        """Merge the small packs when more than ``limit`` (default :data:`MAX_PACKS`) exist
        (one process at a time; others skip). Return the number of packs merged away."""
        limit = MAX_PACKS if limit is None else limit
        if self.read_only:
            return 0
        self._refresh(force=True)
        if len(self._indexes) <= limit:
            return 0
        return upkeep.merge_packs(self, limit)


# PACK_THRESHOLD lives in packs (the writer, batch, reads it there) and is named here too:
# which objects are packed and which stay loose is this module's contract (see above).
__all__ = ["MAX_PACKS", "PACK_THRESHOLD", "TMP_GRACE", "LocalObjectStore", "ObjectStore"]
