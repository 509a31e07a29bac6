"""Writing a store's layout, whatever holds it: one implementation for the local store's
batches and a remote's.

The layout's writing decisions are made once, in :class:`LayoutWriter`: where an object goes
(:func:`placement`: into a pack, loose, or cut into chunks plus a manifest, by
:data:`~mlver.store.packs.PACK_THRESHOLD` and :data:`~mlver.store.chunker.CHUNK_THRESHOLD`),
dedupe against what this batch staged and what the destination holds (through the shared
reader's ``has`` and ``has_packed``), refusing bytes that do not hash to the oid expected,
cutting a big file in one pass (:func:`~mlver.store.bigwrite.cut`), the rule that a manifest
is accepted only when every chunk it names is present or staged, pack rollover, and the
order in which things go out: packs, each pack's index, then manifests.

What differs by medium is behind :class:`Sink`, which :class:`~mlver.store.batch.Batch` (a
folder: staging in ``tmp/``, one ``syncfs``, publish by link and rename, kernel copies of
big files, repair of damaged copies, the store lock against gc, pack merges) and
:class:`~mlver.store.remote_batch.RemoteBatch` (parallel uploads with back-pressure, the
listing told what was sent, scratch files) implement.
"""

from __future__ import annotations

import io
import os
import threading
from typing import BinaryIO, Literal, Protocol

from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import oid_of
from mlver.store import chunker as chunkmod
from mlver.store import packs as packmod
from mlver.store.bigwrite import cut
from mlver.store.manifest import Manifest
from mlver.store.packs import PACK_THRESHOLD

PACKED = "\0packed"  # a staged oid that went into a pack of the batch
CHUNKED = "\0chunked"  # a staged oid stored as chunks (its manifest is staged)
RESERVED = ""  # a staged oid claimed by a writer, its bytes on their way

Place = Literal["pack", "loose", "chunks"]
Source = BinaryIO | io.RawIOBase | io.BytesIO


def placement(size: int) -> Place:
    """Where the layout keeps an object of ``size`` bytes: in a pack (small), as chunks plus
    a manifest (at or above the chunk threshold), else as a loose object."""
    if size <= PACK_THRESHOLD:
        return "pack"
    if size >= chunkmod.CHUNK_THRESHOLD:  # read at each call: tests lower it
        return "chunks"
    return "loose"


class Sink(Protocol):
    """What the layout writer needs of the medium it writes to."""

    def _at_destination(self, oid: str) -> bool:
        """True when ``oid`` is held where the batch writes (shared reader: ``has``)."""

    def _chunk_present(self, oid: str, refresh: bool) -> bool:
        """True when the chunk ``oid`` is held there (chunks live in packs)."""

    def _pack_base(self, name: str) -> str:
        """The path, without suffix, where the pack ``name`` is written before it goes out."""

    def _pack_closed(self, pack: packmod.PackWriter, name: str) -> None:
        """The pack ``name`` is complete: send it (pack, then its index) or keep it for the
        commit."""

    def _stage_loose(self, oid: str, data: bytes) -> None:
        """Send or stage ``data`` as the loose object ``oid`` (claimed already)."""

    def _refused(self, what: str, expect: str, oid: str) -> CorruptObjectError:
        """The error for bytes of the ``what`` (object, chunk) ``expect`` that hash to ``oid``."""

    def _chunkless(self, coid: str, m: Manifest) -> CorruptObjectError:
        """The error for the manifest ``m`` whose chunk ``coid`` is neither there nor staged."""


class LayoutWriter:
    """The layout's writing rules, for a subclass that implements :class:`Sink`.

    Thread-safe: capture hashes and stages files from a pool of threads. ``_staged`` maps
    each oid this batch writes to :data:`RESERVED`, :data:`PACKED`, :data:`CHUNKED` or a
    medium's own note (a staged file's path)."""

    # A pack is closed (and goes out) once it holds this many bytes; None: one pack a batch.
    pack_target: int | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._staged: dict[str, str] = {}
        self._manifests: dict[str, Manifest] = {}  # staged manifests: out after every object
        self._repair: set[str] = set()  # oids whose stored copy is damaged (replaced)
        self._pack: packmod.PackWriter | None = None
        self._pack_name = ""
        self._pack_bytes = 0

    # -- the medium's policies (see Sink) ----------------------------------------------------

    def _hold(self) -> None:
        """Called before any decision about presence (the local store takes its lock)."""

    def _at_destination(self, oid: str) -> bool:
        raise NotImplementedError

    def _chunk_present(self, oid: str, refresh: bool) -> bool:
        raise NotImplementedError

    def _pack_base(self, name: str) -> str:
        raise NotImplementedError

    def _pack_closed(self, pack: packmod.PackWriter, name: str) -> None:
        raise NotImplementedError

    def _stage_loose(self, oid: str, data: bytes) -> None:
        raise NotImplementedError

    def _refused(self, what: str, expect: str, oid: str) -> CorruptObjectError:
        raise NotImplementedError

    def _chunkless(self, coid: str, m: Manifest) -> CorruptObjectError:
        raise NotImplementedError

    def _intact(self, oid: str, size: int, by_size: bool = False) -> bool:
        """Whether a copy the destination holds is sound; a copy that is not is replaced.
        By default the destination is trusted (a remote's listing)."""
        return True

    def _skips_present_file(self, oid: str) -> bool:
        """True when a big file whose oid is known and held is not cut again (a remote
        trusts its listing); the local store cuts it to check and repair its chunks."""
        return False

    def _repair_chunks(self, f: Source, m: Manifest, written: set[str]) -> bool:
        """After a cut, repair what the destination holds of ``m`` (see the local store);
        True when the stored manifest is to be replaced by ``m``."""
        return False

    def _stale(self, m: Manifest) -> bool:
        """True when a manifest held for ``m.oid`` is damaged and ``m`` replaces it."""
        return False

    def _arrived(self, m: Manifest) -> None:
        """``m`` came from elsewhere and was staged (the local store reads it through)."""

    # -- presence ----------------------------------------------------------------------------

    def has(self, oid: str) -> bool:
        """True when ``oid`` is at the destination or staged in this batch."""
        self._hold()
        return oid in self._staged or self._at_destination(oid)

    def _claim(self, oid: str, size: int, by_size: bool = False) -> bool:
        """True when this caller should write ``oid``: not staged, and not at the
        destination or there but damaged (:meth:`_intact`), which the fresh copy repairs."""
        with self._lock:
            if oid in self._staged:
                return False
            present = self._at_destination(oid)
        if present and self._intact(oid, size, by_size):
            return False
        with self._lock:
            if oid in self._staged:
                return False
            self._staged[oid] = RESERVED  # filled in by the writer
            if present:
                self._repair.add(oid)
            return True

    def _claim_chunk(self, oid: str, refresh: bool = True) -> bool:
        """True when this caller should write the chunk ``oid``: not staged and in no pack
        of the destination (chunks live in packs only)."""
        with self._lock:
            if oid in self._staged:
                return False
        if self._chunk_present(oid, refresh):
            return False
        with self._lock:
            if oid in self._staged:
                return False
            self._staged[oid] = RESERVED
            return True

    # -- adding ------------------------------------------------------------------------------

    def add_bytes(self, data: bytes, expect: str | None = None) -> str:
        """Stage ``data`` as an object and return its oid. With ``expect``, bytes that do not
        hash to that oid are refused, staging nothing."""
        oid = oid_of(data)
        if expect is not None and oid != expect:
            raise self._refused("object", expect, oid)
        self._hold()
        where = placement(len(data))
        if where == "chunks":
            if not self._skips_present_file(oid):
                self._add_chunked(io.BytesIO(data))
        elif self._claim(oid, len(data)):
            if where == "pack":
                self._pack_add(oid, data)
            else:
                self._stage_loose(oid, data)
        return oid

    def _add_chunk(self, data: bytes, expect: str | None) -> tuple[str, bool]:
        """Stage one chunk of a big file into a pack, whatever its size (refused, staging
        nothing, unless it hashes to ``expect`` when given): its oid, and whether it is
        written (False: there or staged already)."""
        oid = oid_of(data)
        if expect is not None and oid != expect:
            raise self._refused("chunk", expect, oid)
        self._hold()
        if self._claim_chunk(oid):
            self._pack_add(oid, data)
            return oid, True
        return oid, False

    def _add_manifest(self, m: Manifest) -> bool:
        """Accept the manifest ``m`` only when every chunk it names is at the destination or
        staged in this batch (else :meth:`_chunkless`); it goes out after every object of
        the batch. True when it is staged (False: held there already)."""
        self._hold()
        for coid in m.chunk_oids():
            if not self.has(coid):
                raise self._chunkless(coid, m)
        staged = self._stage_manifest(m, self._stale(m))
        if staged:
            self._arrived(m)
        return staged

    def _stage_manifest(self, m: Manifest, replace: bool = False) -> bool:
        if replace:  # the stored one differs from ``m``, which is known true: overwrite it
            with self._lock:
                if m.oid in self._staged:
                    return False
                self._staged[m.oid] = RESERVED
                self._repair.add(m.oid)
        elif not self._claim(m.oid, m.size, by_size=True):
            return False  # present already (whole or as chunks)
        with self._lock:
            self._staged[m.oid] = CHUNKED
            self._manifests[m.oid] = m
        return True

    def _add_chunked(self, f: Source, first: bytes = b"", expect: str | None = None
                     ) -> tuple[str, int]:
        """Cut ``f`` (after ``first``) into chunks in one pass that also hashes it whole;
        stage the chunks the destination lacks, then the manifest. With ``expect``, a file
        whose bytes no longer hash to it (changed meanwhile) is refused. Returns
        ``(oid, size)``."""
        written: set[str] = set()
        self._chunk_present("", True)  # list once: chunks are then looked up in memory

        def add(coid: str, data: bytes) -> None:
            if self._claim_chunk(coid, refresh=False):
                self._pack_add(coid, data)
                written.add(coid)
        m, oid, size = cut(f, add, first)
        if expect is not None and (oid != expect or m is None):
            raise CorruptObjectError(f"object {expect} changed while it was being sent (its "
                                     f"bytes now hash to {oid}); it was not sent")
        if m is None:  # the file shrank to nothing while it was read
            return self.add_bytes(b""), 0
        replace = not first and self._repair_chunks(f, m, written)
        self._stage_manifest(m, replace)
        return oid, size

    # -- packs -------------------------------------------------------------------------------

    def _pack_add(self, oid: str, data: bytes | memoryview) -> None:
        with self._lock:
            if self._pack is None:
                self._pack_name = f"pack-{os.urandom(16).hex()}"
                base = self._pack_base(self._pack_name)
                self._pack = packmod.PackWriter(base + ".pack", base + ".idx")
                self._pack_bytes = 0
            self._pack.add(oid, data)  # type: ignore[arg-type]  # the writer copies any buffer
            self._staged[oid] = PACKED
            if self.pack_target is None:
                return
            self._pack_bytes += len(data) + 20
            full = self._pack_bytes >= self.pack_target
        if full:
            self._close_pack()

    def _close_pack(self) -> None:
        """Close the open pack, if any, and hand it to the medium (:meth:`_pack_closed`)."""
        with self._lock:
            pack, name = self._pack, self._pack_name
            self._pack = None
        if pack is not None:
            self._pack_closed(pack, name)

    def _take_manifests(self) -> list[Manifest]:
        """The staged manifests, to go out after every object of the batch."""
        with self._lock:
            todo = list(self._manifests.values())
            self._manifests = {}
        return todo


__all__ = ["CHUNKED", "PACKED", "RESERVED", "LayoutWriter", "Place", "Sink", "Source",
           "placement"]
