"""A batch of new objects in the local store: staged in ``tmp/``, made durable with one
sync, published.

What goes where (a pack, a loose file, chunks plus a manifest), dedupe and the order of
publishing are the layout's, shared with a remote's batch (:mod:`mlver.store.writer`). What
is the local store's own: large files copied to their own file in the kernel and hashed
from the page cache, damaged stored copies repaired, staging in ``tmp/`` with one sync and
:meth:`Batch.commit` publishing in the layout's order (objects, then pack, then the pack's
index, manifests last) so that only complete objects ever carry their final names, the
store lock against gc, pack merges. Split from :mod:`mlver.store.objects`, which reads.
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterator
from types import TracebackType
from typing import Protocol

from mlver.store.settings import CONFIG_FILE
from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import CHUNK, Hasher, oid_of
from mlver.store import chunker as chunkmod
from mlver.store.bigwrite import copy_and_hash, write_all, write_readonly
from mlver.store import layout
from mlver.store import packs as packmod
from mlver.store.publish import publish_staged
from mlver.store import storelock
from mlver.store.manifest import SUFFIX as MANIFEST_SUFFIX
from mlver.store.chunked import RUN_MAX, ChunkedReader, read_runs
from mlver.store.manifest import Manifest
from mlver.store.packs import PACK_THRESHOLD
from mlver.store.writer import CHUNKED, PACKED, LayoutWriter, Source, placement
from mlver.store.safefs import discard as _unlink
from mlver.store.safefs import sync_filesystem
import contextlib

_counter = itertools.count()


_REPAIR_GROUP = 64  # chunks checked with one batch of reads when a file is added again


def _source_bytes(f: Source, off: int, n: int) -> bytes:
    """``n`` bytes at ``off`` of the file being added (its position is left alone)."""
    if isinstance(f, io.BytesIO):
        return bytes(f.getbuffer()[off:off + n])
    return os.pread(f.fileno(), n, off)


class Target(Protocol):
    """What a batch needs of the store it writes to: its folders, its lookups, and the
    hooks of its commit (format upgrade, re-listing, merging).

    :class:`~mlver.store.objects.LocalObjectStore` is one. Naming that class here instead
    would make the two modules import each other, since the store starts its batches."""

    store_dir: str
    tmp_dir: str
    objects_dir: str
    pack_dir: str
    _format_ok: bool

    def has(self, oid: str) -> bool: ...

    def size(self, oid: str) -> int | None: ...

    def has_packed(self, oid: str, refresh: bool = True) -> bool: ...

    def find_packed(self, oid: str) -> tuple[packmod.PackIndex, int] | None: ...

    def read(self, oid: str, verify: bool = True) -> bytes: ...

    def manifest(self, oid: str) -> Manifest | None: ...

    def fetch(self, oids: list[str]) -> bool: ...

    def verify_file(self, oid: str) -> bool: ...

    def iter_oids(self) -> Iterator[str]: ...

    def sweep_tmp(self, older_than: float = ...) -> int: ...

    def maybe_merge(self, limit: int | None = None) -> int: ...

    def _stage_upgrade(self) -> str | None: ...

    def _refresh(self, force: bool = False) -> bool: ...


class Batch(LayoutWriter):
    """A set of new objects staged in ``tmp/`` and published together.

    The layout's decisions are :class:`~mlver.store.writer.LayoutWriter`'s: small objects
    go into one new pack a batch, large ones are staged as files, big ones as chunks and a
    manifest. Thread-safe: capture hashes and stages files from a pool of threads.
    """

    def __init__(self, store: Target) -> None:
        super().__init__()
        self.store = store
        self._present: set[str] | None = None  # oids in the store, once preload() ran
        self._prefix = f"{os.getpid()}-{next(_counter)}-"
        self._n = itertools.count()
        self._closed: list[tuple[packmod.PackWriter, str]] = []  # packs to publish
        # manifests that arrived (a pull) rather than cut here: verified whole before publishing
        self._arrivals: dict[str, Manifest] = {}
        os.makedirs(store.tmp_dir, exist_ok=True)
        # Shared with other writers, exclusive of gc, from before the first has() (a
        # decision not to write an object that gc could then delete) until close().
        self._writer: int | None = storelock.shared(store.store_dir)
        self._holding = True
        store.sweep_tmp()

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self.commit()
            else:
                self.abort()
        finally:
            self.close()

    def close(self) -> None:
        """Let gc run again: call once the ref reaching this batch's objects has moved
        (or the batch was dropped). Using the batch again takes the lock again."""
        if self._holding:
            self._holding = False
            storelock.release(self._writer)
            self._writer = None

    def _hold(self) -> None:
        if not self._holding:
            self._writer = storelock.shared(self.store.store_dir)
            self._holding = True

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def _tmp_path(self) -> str:
        return f"{self.store.tmp_dir}/{self._prefix}{next(self._n)}"

    def preload(self) -> None:
        """List the store's objects once (pack indexes and 256 directory reads) instead of
        one lookup per object: worth it when a capture is about to ask about thousands."""
        if self._present is None:
            self._present = set(self.store.iter_oids())

    # -- the medium: a folder (writer.Sink) --------------------------------------------------

    def _at_destination(self, oid: str) -> bool:
        if self._present is not None:
            return oid in self._present
        return self.store.has(oid)

    def _chunk_present(self, oid: str, refresh: bool) -> bool:
        # A pack lookup is in memory: thousands of chunks of one file cost no file-system
        # call each.
        return self.store.has_packed(oid, refresh=refresh)

    def _intact(self, oid: str, size: int, by_size: bool = False) -> bool:
        # A small object costs one read to check: capture only asks about objects it has
        # just read from the workspace, so this runs for what changed, not for the whole
        # store. A large one is checked by size only (re-reading gigabytes is not cheap),
        # and so is a chunk: a big file's unchanged chunks would be read back whole.
        if size <= PACK_THRESHOLD and not by_size:
            return self.store.verify_file(oid)
        return self.store.size(oid) == size

    def _pack_base(self, name: str) -> str:
        # staged under this writer's pid, so a sweep can tell it is dead
        return f"{self.store.tmp_dir}/{self._prefix}{name}"

    def _pack_closed(self, pack: packmod.PackWriter, name: str) -> None:
        with self._lock:
            self._closed.append((pack, name))  # finished and published by commit()

    def _stage_loose(self, oid: str, data: bytes) -> None:
        tmp = self._tmp_path()
        write_readonly(tmp, data)
        with self._lock:
            self._staged[oid] = tmp

    def _refused(self, what: str, expect: str, oid: str) -> CorruptObjectError:
        return CorruptObjectError(f"{what} {expect} arrived corrupt (its bytes hash to {oid}); "
                                  "nothing of it was stored")

    def _chunkless(self, coid: str, m: Manifest) -> CorruptObjectError:
        return CorruptObjectError(
            f"chunk {coid} of object {m.oid} is neither in the store nor sent with it; "
            "the copy it came from is incomplete: re-snapshot the file there")

    def _arrived(self, m: Manifest) -> None:
        with self._lock:
            self._arrivals[m.oid] = m

    # -- adding ------------------------------------------------------------------------------

    def add_chunk(self, data: bytes, expect: str | None = None) -> str:
        """Stage one chunk of a big file into the pack, whatever its size; return its oid
        (refused, staging nothing, when ``expect`` is given and the bytes hash otherwise)."""
        return self._add_chunk(data, expect)[0]

    def add_manifest(self, m: Manifest) -> None:
        """Stage the manifest ``m``, whose chunks must be in the store or in this batch; it
        is published after them."""
        self._add_manifest(m)

    def _stale(self, m: Manifest) -> bool:
        """True when the store holds another manifest for ``m.oid`` naming a chunk that is
        nowhere (damaged, yet decoding): ``m``, whose chunks are all here, replaces it; it
        arrived, so it is read through before it is published (:meth:`_check_arrived`).
        A store whose file is whole, or whose manifest is intact, keeps what it has."""
        try:
            stored = self.store.manifest(m.oid)
        except CorruptObjectError:
            return False  # undecodable: _claim sees it damaged and replaces it
        return stored is not None and stored != m \
            and not all(self.has(c) for c in stored.chunk_oids())

    def _repair_chunks(self, f: Source, m: Manifest, written: set[str]) -> bool:
        """When the file ``m`` describes is stored as chunks already (it is being added
        again), check the chunks this call found present and write again, from ``f``, any
        that is damaged or gone: adding a file again is how a damaged copy is repaired, as
        for any object. A file added for the first time costs nothing here. True when the
        stored manifest is not ``m`` (damaged, yet decoding: a wrong chunk oid), which ``m``,
        cut from the file's bytes just now, then replaces."""
        try:
            stored = self.store.manifest(m.oid)
            if stored is None:
                return False
            replace = stored != m
        except CorruptObjectError:
            replace = False  # undecodable: _claim sees it damaged and replaces it
        todo = {}
        for (coid, n), off in zip(m.chunks, m.offsets, strict=True):
            if coid not in written and coid not in todo:
                todo[coid] = (off, n)
        items = list(todo.items())
        for i in range(0, len(items), _REPAIR_GROUP):  # bounded memory: a few MB at a time
            group = items[i:i + _REPAIR_GROUP]
            hits = [h for h in (self.store.find_packed(c) for c, _ in group) if h is not None]
            found = read_runs(hits)
            for coid, (off, n) in group:
                data = found.get(bytes.fromhex(coid))
                if data is not None and oid_of(data) == coid:  # type: ignore[arg-type]
                    continue  # intact
                with self._lock:
                    # Checked and reserved in one step: another thread adding the same
                    # bytes (two copies of a file) must not write it too, or the pack's
                    # index would list it twice and be refused as damaged.
                    if coid in self._staged:
                        continue  # written again by this batch already (or being written)
                    self._staged[coid] = ""
                try:
                    fresh = _source_bytes(f, off, n)
                    ok = oid_of(fresh) == coid  # else the file changed since it was read
                except BaseException:
                    ok = False
                    raise
                finally:
                    if not ok:  # nothing to repair with: drop the reservation
                        with self._lock:
                            del self._staged[coid]
                if ok:
                    self._pack_add(coid, fresh)  # a second copy, in a new pack: reads
                    # prefer a copy that hashes right
        return replace

    def adopt(self, path: str, expect: str) -> int:
        """Stage the file at ``path``, a temporary file of this store's ``tmp/`` that the
        caller hands over (a large object downloaded from a remote): hashed, refused unless
        it hashes to ``expect``, then moved, not copied. Returns its size."""
        self._hold()
        if os.path.dirname(os.path.abspath(path)) != os.path.abspath(self.store.tmp_dir):
            oid, size = self.add_file(path)
            if oid != expect:
                raise CorruptObjectError(f"object {expect} arrived corrupt (its bytes hash to "
                                         f"{oid}); restore it from a good copy")
            return size
        h = Hasher()
        size = 0
        with open(path, "rb", buffering=0) as f:
            while chunk := f.read(CHUNK * 8):
                h.update(chunk)
                size += len(chunk)
        if h.hexdigest() != expect:
            _unlink(path)
            raise CorruptObjectError(f"object {expect} arrived corrupt (its bytes hash to "
                                     f"{h.hexdigest()}); nothing of it was stored")
        where = placement(size)
        if where == "pack":
            with open(path, "rb") as f:
                data = f.read()
            _unlink(path)
            self.add_bytes(data, expect)
        elif where == "chunks":
            with open(path, "rb", buffering=0) as f:
                self._add_chunked(f)
            _unlink(path)
        elif self._claim(expect, size):
            os.chmod(path, 0o444)
            with self._lock:
                self._staged[expect] = path
        else:
            _unlink(path)
        return size

    def tmp_path(self) -> str:
        """A fresh name in this store's ``tmp/`` for a file to hand to :meth:`adopt`."""
        return self._tmp_path() + ".dl"

    def add_file(self, path: str) -> tuple[str, int]:
        """Hash the file at ``path`` and stage it, reading it once; return ``(oid, size)``."""
        self._hold()
        with open(path, "rb", buffering=0) as f:
            if os.fstat(f.fileno()).st_size >= chunkmod.CHUNK_THRESHOLD:
                return self._add_chunked(f)
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
            write_all(fd, first)
            done = copy_and_hash(f.fileno(), fd, tmp, first)
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
                    write_all(fd, chunk)
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

    # -- commit: one sync, then names in the layout's order ----------------------------------

    def commit(self) -> None:
        """Make every staged object durable, then give it its final name (index last)."""
        self._close_pack()
        todo = self._take_manifests()
        with self._lock:
            staged = [(oid, tmp) for oid, tmp in self._staged.items()
                      if tmp and tmp not in (PACKED, CHUNKED)]
            packed = [oid for oid, tmp in self._staged.items() if tmp == PACKED]
            arrived, self._arrivals = self._arrivals, {}
            packs, self._closed = self._closed, []
            self._staged = {}
        if not staged and not packs and not todo:
            return
        store = self.store
        manifests: list[tuple[str, str]] = []
        try:
            for pack, _name in packs:
                pack.finish()
            for m in todo:
                tmp = self._tmp_path() + MANIFEST_SUFFIX
                write_readonly(tmp, m.encode())
                manifests.append((m.oid, tmp))
            upgrade = store._stage_upgrade()
        except BaseException:
            for pack, _name in packs:
                pack.abort()
            for _oid, tmp in staged + manifests:
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
            self._publish_all(staged, packs)
        except BaseException:
            # Nothing refers to these yet (refs move after a commit returns): a failed
            # publish (permissions, a full disk) leaves no staged file behind.
            for _oid, tmp in staged + manifests:
                _unlink(tmp)
            for pack, name in packs:
                _unlink(pack.pack_path)
                _unlink(pack.idx_path)
                _unlink(f"{store.pack_dir}/{name}.pack")  # an index never came: invisible
            raise
        # A manifest last: a chunked file exists only once every chunk it lists does. Its
        # failure leaves the published pack alone (its chunks are then garbage for gc).
        try:
            if arrived:
                self._check_arrived(arrived)
            self._publish([(layout.manifest_rel(oid), tmp) for oid, tmp in manifests])
            if self._present is not None:
                self._present.update(oid for oid, _ in manifests)
        except BaseException:
            for _oid, tmp in manifests:
                _unlink(tmp)
            raise
        # The renames themselves must be durable before any ref can point at them.
        sync_filesystem(store.objects_dir)
        if self._present is not None:
            self._present.update(packed)
        if packs:
            store._refresh(force=True)
            # a damaged pack is left as it is (reads name it); no merge this time
            with contextlib.suppress(CorruptObjectError):
                store.maybe_merge()

    def _publish_all(self, staged: list[tuple[str, str]],
                     packs: list[tuple[packmod.PackWriter, str]]) -> None:
        files = [(layout.loose_rel(oid), tmp) for oid, tmp in staged]
        for pack, name in packs:  # each index after its pack: the layout's order
            files += [(layout.pack_rel(name), pack.pack_path),
                      (layout.idx_rel(name), pack.idx_path)]
        self._publish(files)
        if self._present is not None:
            self._present.update(oid for oid, _ in staged)

    def _check_arrived(self, arrived: dict[str, Manifest]) -> None:
        """Read each file a manifest from elsewhere describes through its chunks, now in
        the store, and refuse (publishing none) a manifest whose bytes do not hash to its
        file's oid: a crafted remote must not leave a lying manifest that blocks a good
        copy. One read of what was just written, from the page cache."""
        self.store._refresh(force=True)
        for m in arrived.values():
            reader = ChunkedReader(self.store, m)
            while reader.read(RUN_MAX):
                pass

    def _publish(self, files: list[tuple[str, str]]) -> None:
        """Give staged files their names, in the layout's order (shared with a folder
        remote: :func:`~mlver.store.publish.publish_staged`); a damaged copy is replaced."""
        repair = self._repair
        replace = {layout.loose_rel(o) for o in repair} | {layout.manifest_rel(o) for o in repair}
        publish_staged(self.store.store_dir, files, replace)

    def abort(self) -> None:
        """Drop every staged object, and let gc run again."""
        self.close()
        with self._lock:
            for tmp in self._staged.values():
                if tmp and tmp not in (PACKED, CHUNKED):
                    _unlink(tmp)
            self._manifests = {}
            self._arrivals = {}
            packs, self._closed = self._closed, []
            if self._pack is not None:
                packs.append((self._pack, self._pack_name))
                self._pack = None
            for pack, _name in packs:
                pack.abort()
            self._staged = {}
