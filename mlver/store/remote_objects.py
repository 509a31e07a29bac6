"""Reading objects from a remote: planned as few requests as possible, fetched in parallel,
each object verified on arrival (a remote is never trusted).

A wanted set of objects becomes units of work, one request each: a whole small pack (kept
in memory afterwards), a ranged read of neighbouring objects of a larger pack, or one
loose object (into memory, or to a file when large). An object whose bytes do not hash to
its oid is looked for in every other copy the remote has before it is refused.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import oid_of
from mlver.store import layout
from mlver.store import packs as packmod
from mlver.store.items import Item
from mlver.store.manifest import Manifest
from mlver.store.reader import chunk_range
from mlver.store.remote_backend import Medium
from mlver.store.remote_batch import RemoteBatch
from mlver.store.remote_bounds import (META_MAX, check_meta_size, parallel, unlink,
                                       verify_item)
from mlver.store.remote_listing import RemoteListing
from mlver.store.trees import Tree

WHOLE_PACK = 64 << 20  # a pack up to this size is fetched whole when half of it is wanted
SMALL_PACK = 4 << 20  # ... and whatever is wanted of it, when it is this small
RANGE_GAP = 256 << 10  # wanted objects closer than this are fetched in one ranged read
RANGE_MAX = 16 << 20  # longest ranged read
PACK_CACHE = 64 << 20  # small packs kept in memory once fetched whole
IN_MEMORY = 16 << 20  # a loose object up to this size is fetched into memory, larger to a file


class RemoteObjectStore(RemoteListing):
    """The objects of a remote: what the local object store offers (``has``, ``missing``,
    ``manifest``, ``open``, ``read``, ``read_many``, ``read_range``, ``batch``,
    ``iter_oids``), with presence answered
    from one listing and parallel, verified fetches (:meth:`iter_items`)."""

    # Reading a file back through its chunks costs requests: the sender vouches instead.
    verifies_arrivals = False

    def __init__(self, backend: Medium, cache_dir: str, scratch_dir: str) -> None:
        super().__init__(backend, cache_dir, scratch_dir)
        # Small packs fetched whole stay in memory (records and trees are read one at a
        # time by walks): pack name -> bytes, at most PACK_CACHE bytes in all.
        self._pack_cache: dict[str, bytes] = {}

    def read(self, oid: str, verify: bool = True) -> bytes:
        """The bytes of one record or tree (always verified: a remote is never trusted);
        one over 256 MiB is refused before it is read (no record or tree is that large)."""
        check_meta_size(self.label, "object", oid, self.size(oid))
        for item in self.iter_objects([oid], in_memory=True):
            assert item.data is not None
            return item.data
        raise AssertionError("unreachable")

    def open(self, oid: str) -> BinaryIO:
        """A readable binary file of the object (read whole and verified)."""
        return io.BytesIO(self.read(oid))

    def tree(self, oid: str) -> Tree:
        """Decode the tree ``oid`` (verified on arrival)."""
        return Tree.decode(self.read(oid))

    def batch(self) -> RemoteBatch:
        """Start a batch of uploads to this remote."""
        return RemoteBatch(self)

    # -- reading many, and ranges ------------------------------------------------------------

    def read_many(self, oids: list[str]) -> dict[str, bytes]:
        """The bytes of the objects ``oids``, each verified (its XXH3-128 is its oid), as
        the local store's: neighbours in one pack come with one ranged read per run
        (:meth:`_plan`), the requests run in parallel (at most ``2 × WORKERS`` in flight).
        An object that is missing, or whose every copy is damaged, is absent from the
        result (:meth:`read` names why). A chunked file is read through its manifest: its
        chunks join the same plan, and the joined bytes must hash to the file's oid. An
        object or chunked file over :data:`~mlver.store.remote_bounds.META_MAX` bytes is
        left out too (it is never read whole into memory here: use :meth:`read_range`)."""
        whole: list[str] = []
        files: dict[str, Manifest] = {}
        for oid in dict.fromkeys(oids):
            size = self.stored_size(oid)
            if size is not None:
                if size <= META_MAX:
                    whole.append(oid)
                continue
            try:
                m = self.manifest(oid) if oid in self._manifests else None
            except CorruptObjectError:
                m = None
            if m is None or m.size > META_MAX or any(
                    self._chunk_fault(m, j) for j in range(len(m.chunks))):
                continue
            files[oid] = m
            whole.extend(c for c, _n in m.chunks)
        got = self._fetch_verified(whole)
        out = {o: got[o] for o in dict.fromkeys(oids) if o in got}
        for oid, m in files.items():
            parts = [got.get(c) for c, _n in m.chunks]
            if all(p is not None and len(p) == n for p, (_c, n) in zip(parts, m.chunks,
                                                                       strict=True)):
                data = b"".join(p for p in parts if p is not None)
                if oid_of(data) == oid:
                    out[oid] = data
        return out

    def _fetch_verified(self, oids: list[str]) -> dict[str, bytes]:
        """Objects stored whole (packed or loose), fetched in memory by one plan, each
        verified; one that is absent, short or damaged in every copy is left out."""
        wanted = [o for o in dict.fromkeys(oids) if self._where(o) is not None]
        out: dict[str, bytes] = {}
        if not wanted:
            return out

        def guarded(unit: Callable[[], list[Item]]) -> Callable[[], list[Item]]:
            def run() -> list[Item]:
                try:
                    return unit()
                except CorruptObjectError:  # a pack shorter than its index: other copies
                    return []
            return run

        for items in parallel([guarded(u) for u in self._plan(wanted, in_memory=True)]):
            for it in items:
                try:
                    verify_item(it, self.label)
                except CorruptObjectError as bad:
                    try:
                        it = self._good_copy(it.oid, True, bad)
                    except CorruptObjectError:
                        continue
                assert it.data is not None
                out[it.oid] = it.data
        for oid in wanted:  # a unit cut short: any other copy that hashes right
            if oid not in out:
                try:
                    it = self._good_copy(oid, True, CorruptObjectError(oid))
                except CorruptObjectError:
                    continue
                assert it.data is not None
                out[oid] = it.data
        return out

    def read_range(self, oid: str, offset: int, length: int) -> bytes:
        """``length`` bytes of the object ``oid`` from ``offset`` (fewer at its end, none
        past it), as the local store's.

        What is verified: a chunked file reads only the chunks that cover the range, each
        verified against its oid (a damaged or missing one raises
        :class:`CorruptObjectError` naming it and the file). An object stored whole of at
        most :data:`IN_MEMORY` bytes (every packed one, small loose ones) is read whole in
        one request and verified before it is sliced. A loose object larger than that has
        only the asked bytes read (one ranged request) and they are NOT verified: its oid
        covers its whole bytes, which a range does not read (:meth:`read` or a pull
        verifies it)."""
        if offset < 0 or length < 0:
            raise ValueError("a range starts and extends at zero or more")
        at = self._where(oid)
        if at is None:
            m = self.manifest(oid) if oid in self._manifests else None
            if m is None:
                raise CorruptObjectError(f"object {oid} is not in {self.label}; push it there "
                                         "from a store that has it")
            return self._chunk_range(m, offset, length)
        size = at if isinstance(at, int) else at[0].lengths[at[1]]
        end = min(offset + length, size)
        if offset >= end:
            return b""
        if isinstance(at, int) and size > IN_MEMORY:
            return self.backend.read_range(layout.loose_rel(oid), offset, end - offset)
        for it in self.iter_objects([oid], in_memory=True):  # verified, or another copy
            assert it.data is not None
            return it.data[offset:end]
        raise AssertionError("unreachable")

    def _chunk_range(self, m: Manifest, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset+length)`` of the chunked file ``m``
        (:func:`~mlver.store.reader.chunk_range`): only the chunks that cover them, each
        checked before anything is fetched (:meth:`_chunk_fault`), fetched by one plan,
        each verified."""
        def fetch(todo: range) -> dict[int, bytes | None]:
            for j in todo:
                fault = self._chunk_fault(m, j)
                if fault is not None:
                    raise self._bad_chunk(m, j, fault)
            got = self._fetch_verified([m.chunks[j][0] for j in todo])
            return {j: got.get(m.chunks[j][0]) for j in todo}

        def failed(j: int) -> bytes:
            raise self._bad_chunk(m, j, "is corrupt (its bytes do not hash to it in any copy)")

        return chunk_range(m, offset, length, fetch, failed)

    def _bad_chunk(self, m: Manifest, j: int, what: str) -> CorruptObjectError:
        coid, n = m.chunks[j]
        start = m.offsets[j]
        return CorruptObjectError(f"chunk {coid} of object {m.oid} (bytes {start}–{start + n}) "
                                  f"on {self.label} {what}; push the file again from a store "
                                  "that has it intact")

    # -- fetching many -----------------------------------------------------------------------

    def _plan(self, oids: Iterable[str], in_memory: bool = False
              ) -> list[Callable[[], list[Item]]]:
        """Units of work, each one request: a whole pack, a ranged read of neighbouring
        objects, or a loose object."""
        by_pack: dict[str, list[int]] = {}
        units: list[Callable[[], list[Item]]] = []
        absent = []
        for oid in dict.fromkeys(oids):
            at = self._where(oid)
            if at is None:
                absent.append(oid)
            elif isinstance(at, int):
                units.append(self._loose_unit(oid, at, in_memory))
            else:
                by_pack.setdefault(at[0].name, []).append(at[1])
        if absent:
            raise CorruptObjectError(
                f"object {absent[0]} is not in {self.label}"
                + (f" (nor are {len(absent) - 1} more)" if len(absent) > 1 else "")
                + "; push it there from a store that has it")
        for name, idxs in by_pack.items():
            p = self._packs[name]
            idxs.sort(key=p.offsets.__getitem__)
            cached = self._pack_cache.get(name)
            if cached is not None:
                units.append(self._cached_unit(p, idxs, cached))
                continue
            wanted = sum(p.lengths[i] for i in idxs)
            if p.pack_size <= SMALL_PACK or (p.pack_size <= WHOLE_PACK
                                             and 2 * wanted >= p.pack_size):
                units.append(self._range_unit(p, idxs, 0, p.pack_size))
                continue
            run: list[int] = []
            for i in idxs:
                if run:
                    start = p.offsets[run[0]]
                    end = p.offsets[run[-1]] + p.lengths[run[-1]]
                    if p.offsets[i] - end > RANGE_GAP or p.offsets[i] + p.lengths[i] - start \
                            > RANGE_MAX:
                        units.append(self._range_unit(p, run, start, end - start))
                        run = []
                run.append(i)
            if run:
                start = p.offsets[run[0]]
                end = p.offsets[run[-1]] + p.lengths[run[-1]]
                units.append(self._range_unit(p, run, start, end - start))
        return units

    def _cached_unit(self, p: packmod.PackIndex, idxs: list[int], data: bytes
                     ) -> Callable[[], list[Item]]:
        def run() -> list[Item]:
            return [Item(p.keys[i].hex(), p.lengths[i],
                         data=data[p.offsets[i]:p.offsets[i] + p.lengths[i]]) for i in idxs]
        return run

    def _range_unit(self, p: packmod.PackIndex, idxs: list[int], start: int, length: int
                    ) -> Callable[[], list[Item]]:
        rel = layout.pack_rel(p.name)

        def run() -> list[Item]:
            data = self.backend.read_range(rel, start, length)
            if start == 0 and length == p.pack_size and length <= SMALL_PACK:
                with self._lock:
                    while self._pack_cache and sum(map(len, self._pack_cache.values())) \
                            + length > PACK_CACHE:
                        del self._pack_cache[next(iter(self._pack_cache))]
                    self._pack_cache[p.name] = data
            out = []
            for i in idxs:
                off = p.offsets[i] - start
                obj = data[off:off + p.lengths[i]]
                out.append(Item(p.keys[i].hex(), len(obj), data=obj))
            return out
        return run

    def _loose_unit(self, oid: str, size: int, in_memory: bool = False
                    ) -> Callable[[], list[Item]]:
        rel = layout.loose_rel(oid)

        def run() -> list[Item]:
            if size <= IN_MEMORY or in_memory:
                data = self.backend.read_range(rel, 0, size) if size else b""
                return [Item(oid, size, data=data)]
            os.makedirs(self.scratch_dir, exist_ok=True)
            local = os.path.join(self.scratch_dir, f"{os.getpid()}-{uuid.uuid4().hex}.dl")
            try:
                self.backend.get_file(rel, local, size)
            except BaseException:
                unlink(local)
                raise
            return [Item(oid, size, path=local, owned=True)]
        return run

    def iter_objects(self, oids: Iterable[str], in_memory: bool = False) -> Iterator[Item]:
        """Fetch ``oids`` in parallel and yield each as it arrives, verified: bytes whose
        hash is not their oid raise :class:`CorruptObjectError` naming the remote. An
        object stored chunked (a big tree, say) is put together in memory from its chunks
        and verified whole; a transfer never asks for one (it sends chunks and manifest)."""
        wanted = list(dict.fromkeys(oids))
        chunked = [o for o in wanted if self._where(o) is None and o in self._manifests]
        if chunked:
            skip = set(chunked)
            wanted = [o for o in wanted if o not in skip]
            for oid in chunked:
                yield self._assemble(oid)
        units = self._plan(wanted, in_memory) if wanted else []
        for items in parallel(units):
            for it in items:
                try:
                    verify_item(it, self.label)
                except CorruptObjectError as bad:
                    it = self._good_copy(it.oid, in_memory, bad)
                yield it

    def _assemble(self, oid: str) -> Item:
        m = self.manifest(oid)
        assert m is not None
        check_meta_size(self.label, "object", oid, m.size)  # only metadata is read whole
        for c in m.chunk_oids():
            # Chunks are stored whole; one stored as chunks itself (the file, or a file
            # that lists this one) is a forged cycle that would recurse without end.
            if c == oid or (self._where(c) is None and c in self._manifests):
                raise CorruptObjectError(
                    f"object {oid} on {self.label}: its chunk {c} is stored as chunks itself; "
                    "the manifest is damaged or crafted (push the file again from a store "
                    "that has it intact)")
        parts = {it.oid: it.data for it in self.iter_objects(m.chunk_oids(), in_memory=True)}
        data = b"".join(parts[c] or b"" for c, _n in m.chunks)
        it = Item(oid, len(data), data=data)
        try:
            verify_item(it, self.label)
        except CorruptObjectError:
            raise CorruptObjectError(f"object {oid} on {self.label}: its chunks, joined as its "
                                     "manifest lists them, do not hash to it; the manifest is "
                                     "damaged or crafted (push the file again from a store "
                                     "that has it intact)") from None
        return it

    def iter_items(self, oids: Iterable[str]) -> Iterator[Item]:
        """The objects ``oids`` as they arrive, verified (the transfer source protocol:
        :meth:`iter_objects`; large loose ones come as local files)."""
        return self.iter_objects(oids)

    def _good_copy(self, oid: str, in_memory: bool, bad: CorruptObjectError) -> Item:
        """Another copy of ``oid`` that hashes right (store rule 5: a reader accepts any
        good copy), read afresh from each pack and the loose object; ``bad`` when none."""
        key = bytes.fromhex(oid)
        units = [self._range_unit(p, [i], p.offsets[i], p.lengths[i])
                 for p in list(self._packs.values()) if (i := p.find(key)) >= 0]
        if oid in self._loose:
            units.append(self._loose_unit(oid, self._loose[oid], in_memory))
        for unit in units:
            for it in unit():
                try:
                    verify_item(it, self.label)
                    return it
                except CorruptObjectError:
                    continue
        raise bad

