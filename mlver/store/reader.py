"""Reading a store's layout, whatever holds it: one implementation for the local store and
every remote.

Where an object lives (a pack index that lists it, else a loose object, else a chunk
manifest), the decoding and validation of manifests through the bounded
:class:`~mlver.store.manifest.ManifestCache`, presence (``has``, ``missing``, ``size``,
``iter_oids``) and a byte range of a chunked file served from its chunks (:func:`chunk_range`)
are written once, in :class:`LayoutReader`. What differs by medium is behind :class:`Catalog`,
which :class:`~mlver.store.objects.LocalObjectStore` (a folder: the pack folder re-listed when
its signature changes, ``stat`` and file reads) and
:class:`~mlver.store.remote_listing.RemoteListing` (one listing, indexes cached by pack name,
bounded reads) implement. How the bytes of objects are then read stays with each medium: the
local store's ``pread``s, other copies and data on demand; a remote's planned, parallel,
verified requests.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import is_oid
from mlver.store import manifest as manifestmod
from mlver.store.manifest import Manifest
from mlver.store.packs import PackIndex

# Where an object stored whole is: a packed entry ``(pack, position)``, or a loose object's size.
Spot = tuple[PackIndex, int] | int
Chunk = bytes | memoryview


class Catalog(Protocol):
    """What the layout reader needs of the medium that holds a store (the local folder, a
    remote's listing): the pack indexes, loose objects and manifests present."""

    def _list(self) -> None:
        """List the pack indexes for the first time (sets ``_indexes`` and ``_listed``)."""

    def _relisted(self) -> bool:
        """List again when what is held may have changed (a local folder whose signature
        changed; a remote's one listing never does); True when the packs changed."""

    def _fresh_indexes(self) -> tuple[PackIndex, ...]:
        """The pack indexes as listed afresh (for a walk over everything held)."""

    def _loose_size(self, oid: str) -> int | None:
        """The size of the loose object ``oid`` (a valid oid), or None when there is none."""

    def _manifest_listed(self, oid: str) -> bool:
        """True when a chunk manifest of ``oid`` (a valid oid) is present."""

    def _manifest_bytes(self, oid: str) -> bytes | None:
        """The stored bytes of the manifest of ``oid`` (at most
        :data:`~mlver.store.manifest.MAX_MANIFEST` and one more are read), or None."""

    def _manifest_damaged(self, oid: str, err: CorruptObjectError) -> CorruptObjectError:
        """The error to raise for the manifest of ``oid`` that does not decode (``err``),
        naming the medium as its messages do."""

    def _listing(self) -> tuple[Collection[str], Collection[str]]:
        """The oids of every loose object and of every manifest present."""

    def _missed(self) -> bool:
        """``has`` or ``size`` found nothing: True when the medium was listed again, so
        that the lookup is worth repeating (a remote reader's first miss)."""


class LayoutReader:
    """Lookups over the layout of a store, for a subclass that implements :class:`Catalog`.

    The subclass sets, before any lookup, ``_lock`` (an RLock), ``_decoded`` (its bounded
    cache of decoded manifests), ``_indexes`` (the pack indexes listed) and ``_listed``."""

    # missing() of more oids than this lists everything once (None: look each one up)
    bulk_missing: int | None = None
    # missing() names a chunked file whose chunks are not all present (a lost pack, a pull
    # cut short): a local read is cheap; a remote trusts its listing (a manifest is published
    # after every chunk, and checking would cost a request a file)
    checks_chunks = False
    # size() of a file whose manifest is damaged: None (the local store) or the error
    # naming the remote (a remote's bounds: never guess about what it serves)
    size_raises_damage = False

    _lock: threading.RLock
    _decoded: manifestmod.ManifestCache
    _indexes: tuple[PackIndex, ...] = ()
    _listed = False

    # -- the medium (see Catalog) -----------------------------------------------------------

    def _list(self) -> None:
        raise NotImplementedError

    def _relisted(self) -> bool:
        raise NotImplementedError

    def _fresh_indexes(self) -> tuple[PackIndex, ...]:
        raise NotImplementedError

    def _loose_size(self, oid: str) -> int | None:
        raise NotImplementedError

    def _manifest_listed(self, oid: str) -> bool:
        raise NotImplementedError

    def _manifest_bytes(self, oid: str) -> bytes | None:
        raise NotImplementedError

    def _manifest_damaged(self, oid: str, err: CorruptObjectError) -> CorruptObjectError:
        return err

    def _listing(self) -> tuple[Collection[str], Collection[str]]:
        raise NotImplementedError

    def _missed(self) -> bool:
        return False

    # -- where an object is ------------------------------------------------------------------

    def find_packed(self, oid: str) -> tuple[PackIndex, int] | None:
        """Where the packed object ``oid`` is: ``(pack, position)``, or None. A miss lists
        again when the medium may have changed (a pack another process just added)."""
        if not self._listed:
            self._list()
        try:
            key = bytes.fromhex(oid)
        except ValueError:
            return None  # not an oid: in no index
        for p in self._indexes:
            i = p.find(key)
            if i >= 0:
                return p, i
        if self._relisted():
            for p in self._indexes:
                i = p.find(key)
                if i >= 0:
                    return p, i
        return None

    def has_packed(self, oid: str, refresh: bool = True) -> bool:
        """True when ``oid`` is in one of the packs; without ``refresh``, of the packs
        listed already (no call to the medium: for the thousands of chunks of one file)."""
        if refresh:
            self._relisted()
        try:
            key = bytes.fromhex(oid)
        except ValueError:
            return False
        return any(p.find(key) >= 0 for p in self._indexes)

    def _where(self, oid: str) -> Spot | None:
        """Where ``oid`` is stored whole: packed, else loose (its size); None when it is
        not (absent, or stored as chunks only)."""
        hit = self.find_packed(oid)
        if hit is not None:
            return hit
        return self._loose_size(oid) if is_oid(oid) else None

    def stored_size(self, oid: str) -> int | None:
        """The size of ``oid`` stored whole (packed or loose), else None."""
        at = self._where(oid)
        if at is None or isinstance(at, int):
            return at
        return at[0].lengths[at[1]]

    def _chunk_fault(self, m: Manifest, j: int) -> str | None:
        """Why chunk ``j`` of ``m`` cannot be read as a chunk, before anything is read:
        absent, stored as chunks itself (a forged cycle), or not the length the manifest
        gives (never read a big object whole for a small chunk); None when it can."""
        coid, n = m.chunks[j]
        have = None if coid == m.oid else self.stored_size(coid)
        if have is None:
            return "is stored as chunks itself (the manifest is forged)" \
                if coid == m.oid or self._manifest_listed(coid) else "is missing"
        return None if have == n else f"is {have} bytes, its manifest says {n}"

    def has(self, oid: str) -> bool:
        """True when the object is present: packed, loose, or as chunks (its manifest)."""
        return self._held(oid) or (self._missed() and self._held(oid))

    def complete(self, oid: str) -> bool:
        """True when ``oid`` is held whole, or as a manifest that decodes and every chunk of
        which is held (a lost pack of chunks, or a damaged manifest, makes it incomplete):
        what a writer that trusts a listing must check before it skips a chunked file."""
        return self._where(oid) is not None or (self.has(oid) and self._chunks_here(oid))

    def _held(self, oid: str) -> bool:
        return self._where(oid) is not None or (is_oid(oid) and self._manifest_listed(oid))

    def size(self, oid: str) -> int | None:
        """The object's size in bytes, or None when it is not held."""
        n = self._size(oid)
        if n is None and self._missed():
            n = self._size(oid)
        return n

    def _size(self, oid: str) -> int | None:
        have = self.stored_size(oid)
        if have is not None:
            return have
        try:
            m = self.manifest(oid)
        except CorruptObjectError:
            if self.size_raises_damage:
                raise
            return None
        return None if m is None else m.size

    def manifest(self, oid: str) -> Manifest | None:
        """The validated chunk manifest of ``oid``; None when ``oid`` is not stored as
        chunks (stored whole, or absent). A damaged one raises :class:`CorruptObjectError`
        (named by the medium). Decoded manifests are kept, bounded by their entries."""
        with self._lock:
            got = self._decoded.get(oid)
        if got is not None or not is_oid(oid):
            return got
        data = self._manifest_bytes(oid)
        if data is None:
            return None
        try:
            m = manifestmod.decode(data, oid)
        except CorruptObjectError as e:
            raise self._manifest_damaged(oid, e) from None
        with self._lock:
            # A 1 GiB file's manifest is ~0.7 MB decoded (16k entries), a 64 MiB one (the
            # largest read) ~250 MB: bound the entries held, not just the manifests.
            self._decoded.keep(m)
        return m

    # -- what is present ---------------------------------------------------------------------

    def _present(self) -> tuple[set[str], Collection[str]]:
        """Every oid held (packed, loose, chunked) and those of the chunked files."""
        packs = self._fresh_indexes()
        loose, manifests = self._listing()
        found = set(loose)
        found.update(manifests)
        for p in packs:
            found.update(p.iter_oids())
        return found, manifests

    def iter_oids(self) -> Iterator[str]:
        """Every oid held (packed, loose, or chunked), sorted, once each."""
        return iter(sorted(self._present()[0]))

    def missing(self, oids: Iterable[str]) -> list[str]:
        """The oids of ``oids`` not held: from one listing of everything when asked about
        more than :attr:`bulk_missing`, else one lookup each. With :attr:`checks_chunks`,
        a file stored as chunks that are not all held is missing too (a pull then brings
        the chunks it lacks)."""
        oids = list(oids)
        chunked: Collection[str] = ()
        if self.bulk_missing is not None and len(oids) > self.bulk_missing:
            have, manifests = self._present()
            out = [o for o in oids if o not in have]
            chunked = set(manifests)
        else:
            out = [o for o in oids if not self.has(o)]
            if self.checks_chunks:
                chunked = {o for o in oids if is_oid(o) and self._manifest_listed(o)}
        if not self.checks_chunks or not chunked:
            return out
        gone = set(out)
        self._relisted()
        for o in oids:
            if o in chunked and o not in gone and not self._chunks_here(o):
                out.append(o)
                gone.add(o)
        return out

    def unchecked_manifests(self, oids: Iterable[str]) -> list[str]:
        """The oids of ``oids`` held as chunked files whose chunks :meth:`missing` did not
        check (a remote trusts its listing; the local store checks them, so: none). A
        sender holding their manifests checks the chunks against the listing instead."""
        if self.checks_chunks:
            return []
        return [o for o in oids if is_oid(o) and self._manifest_listed(o)]

    def _chunks_here(self, oid: str) -> bool:
        """True when every chunk of the chunked file ``oid`` is held (a chunk is packed,
        but may be loose: a small file of the same bytes stored whole; that lookup runs
        only for a chunk in no pack)."""
        try:
            m = self.manifest(oid)
        except CorruptObjectError:
            return False
        return m is None or all(self.has_packed(c, refresh=False)
                                or self._loose_size(c) is not None for c in m.chunk_oids())


def chunk_span(m: Manifest, offset: int, end: int, starts: Sequence[int] | None = None
               ) -> range:
    """The indexes of the chunks of ``m`` that cover bytes ``[offset, end)`` (``end`` at
    most the file's size, ``offset`` below it)."""
    starts = m.offsets if starts is None else starts
    return range(bisect.bisect_right(starts, offset) - 1, bisect.bisect_left(starts, end))


def chunk_range(m: Manifest, offset: int, length: int,
                fetch: Callable[[range], Mapping[int, Chunk | None]],
                fallback: Callable[[int], Chunk], starts: Sequence[int] | None = None
                ) -> bytes:
    """Bytes ``[offset, offset+length)`` of the chunked file ``m`` (fewer at its end, none
    past it): exactly the chunks that cover them. ``fetch`` gives the chunks of a span
    (by index), each VERIFIED against its oid and length, None for one it could not;
    ``fallback`` gives such a chunk another way or raises naming it and the file."""
    end = min(offset + length, m.size)
    if offset >= end:
        return b""
    starts = m.offsets if starts is None else starts
    todo = chunk_span(m, offset, end, starts)
    found = fetch(todo)
    parts: list[Chunk] = []
    for j in todo:
        n = m.chunks[j][1]
        data = found.get(j)
        if data is None:
            data = fallback(j)
        lo, hi = max(offset - starts[j], 0), min(end - starts[j], n)
        parts.append(data if (lo, hi) == (0, n) else data[lo:hi])
    return b"".join(parts)


__all__ = ["LayoutReader", "Catalog", "Spot", "chunk_range", "chunk_span"]
