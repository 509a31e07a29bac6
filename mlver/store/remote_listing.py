"""What a remote holds: the listing of its objects and the pack indexes, cached locally.

A remote's objects are listed once (one listing, plus each pack index not yet cached: packs
never change, so their indexes are cached by pack name) and then looked up in memory.
Reading objects is :mod:`mlver.store.remote_objects`, writing them
:mod:`mlver.store.remote_batch`; both build on :class:`RemoteListing`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor

from mlver.base.atomic import copy_atomic, write_atomic
from mlver.base.errors import CorruptObjectError, RemoteError
from mlver.store import layout
from mlver.store import packs as packmod
from mlver.store import manifest as manifestmod
from mlver.store.manifest import Manifest
from mlver.store.reader import LayoutReader
from mlver.store.remote_backend import Medium
from mlver.store.remote_bounds import WORKERS, check_index_total


DECODED_ROWS_MAX = manifestmod.ROWS_MAX  # chunk entries of decoded manifests held


class RemoteListing(LayoutReader):
    """What a remote holds: listed once (pack indexes cached locally by pack name, since
    packs never change), then looked up in memory; writers note what they add
    (:meth:`remember`) instead of listing again. Lookups are the layout's
    (:class:`~mlver.store.reader.LayoutReader`); this class is the remote's listing as
    their medium (:class:`~mlver.store.reader.Catalog`)."""

    # A damaged or crafted manifest is named, not taken for an absent file.
    size_raises_damage = True
    # A reader's first miss lists the remote again (see _relisted); a push's misses are
    # what it sends.
    relist_on_miss = False
    _relisted_once = False

    def __init__(self, backend: Medium, cache_dir: str, scratch_dir: str) -> None:
        self.backend = backend
        self.cache_dir = cache_dir
        self.scratch_dir = scratch_dir
        self._lock = threading.RLock()
        self._packs: dict[str, packmod.PackIndex] = {}
        self._indexes: tuple[packmod.PackIndex, ...] = ()  # the values of _packs
        self._loose: dict[str, int] = {}
        # Chunked files: oid -> the size of its manifest (``objects/ab/<30 hex>.chunks``),
        # and the manifests already fetched and validated.
        self._manifests: dict[str, int] = {}
        self._decoded = manifestmod.ManifestCache(DECODED_ROWS_MAX)
        self._listed = False

    @property
    def label(self) -> str:
        """How messages name this remote."""
        return self.backend.label

    # -- listing ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """List the remote's objects (again): one listing, plus each new pack index."""
        with self._lock:
            listing = layout.parse_objects(self.backend.list(layout.OBJECTS))
            loose, manifests = listing.loose, listing.manifests
            idx, packs = listing.indexes, listing.packs
            check_index_total(self.label, idx)  # before any index is read
            todo = [n for n in sorted(idx) if n not in self._packs]
            found = {n: p for n, p in self._packs.items() if n in idx}
            if todo:
                with ThreadPoolExecutor(WORKERS) as pool:
                    indexes = pool.map(lambda n: self._index(n, idx[n]), todo)
                    for name, pi in zip(todo, indexes, strict=False):
                        found[name] = pi
            for name, pi in list(found.items()):
                if packs.get(name) != pi.pack_size:
                    del found[name]  # a pack still uploading, or damaged: not usable
            self._packs = found
            self._indexes = tuple(found.values())
            self._loose = loose
            self._manifests = manifests
            self._decoded.retain(manifests)
            self._listed = True

    def _index(self, name: str, size: int) -> packmod.PackIndex:
        os.makedirs(self.cache_dir, exist_ok=True)
        path = os.path.join(self.cache_dir, name + ".idx")
        if os.path.exists(path):
            try:
                return packmod.open_checked(path)
            except CorruptObjectError:  # (one cached by a version that did not check it all)
                os.unlink(path)
        data = self.backend.read(layout.idx_rel(name), packmod.MAX_IDX_BYTES, size)
        if data is None:
            raise RemoteError(f"{self.label}: {layout.idx_rel(name)} vanished while listing; "
                              "run the command again")
        try:  # validated before it is cached under its name
            write_atomic(path, data, check=packmod.open_checked)
        except CorruptObjectError as e:
            raise CorruptObjectError(f"{self.label}: the pack index {layout.idx_rel(name)} is "
                                     f"damaged ({str(e).split('(')[1].split(')')[0]}); the "
                                     "remote's copy is damaged") from None
        return packmod.open_checked(path)

    def remember(self, pack_name: str | None, idx_file: str | None, loose: dict[str, int],
                 manifests: tuple[Manifest, ...] = ()) -> None:
        """Note objects this process just wrote, without listing again."""
        with self._lock:
            for m in manifests:
                self._manifests[m.oid] = len(m.encode())
                self._decoded.keep(m)
            if pack_name and idx_file:
                os.makedirs(self.cache_dir, exist_ok=True)
                dest = os.path.join(self.cache_dir, pack_name + ".idx")
                copy_atomic(idx_file, dest)
                self._packs[pack_name] = packmod.PackIndex(dest)
                self._indexes = tuple(self._packs.values())
            self._loose.update(loose)

    def forget(self) -> None:
        """List again at the next lookup (a batch that remembered objects was dropped)."""
        with self._lock:
            self._listed = False

    def _ensure(self) -> None:
        if not self._listed:
            self.refresh()

    # -- the listing as the layout's medium (reader.Catalog) -------------------------------

    def _list(self) -> None:
        self.refresh()

    def _relisted(self) -> bool:
        self._ensure()
        return False  # one listing: what this process adds, it remembers (see has, size)

    def _missed(self) -> bool:
        """For a reader (:attr:`relist_on_miss`: pull, verify --remote) that misses an
        object for the first time: the listing may predate what the refs it read reach (a
        push landed between S3's pages of a big remote, objects listed before refs), so
        the remote is listed again, once. True when it was."""
        with self._lock:
            if not self.relist_on_miss or self._relisted_once:
                return False
            self._relisted_once = True
            self.backend.drop_survey()
            self.refresh()
        return True

    def _fresh_indexes(self) -> tuple[packmod.PackIndex, ...]:
        self._ensure()
        return self._indexes

    def _loose_size(self, oid: str) -> int | None:
        return self._loose.get(oid)

    def _manifest_listed(self, oid: str) -> bool:
        self._ensure()
        return oid in self._manifests

    def _manifest_bytes(self, oid: str) -> bytes | None:
        self._ensure()
        with self._lock:
            size = self._manifests.get(oid)
        if size is None:
            return None
        rel = layout.manifest_rel(oid)
        if size > manifestmod.MAX_MANIFEST:
            raise CorruptObjectError(f"{self.label}: {rel} is {size} bytes, more than any chunk "
                                     "manifest holds; the remote's copy is damaged or crafted "
                                     "(push the file again from a store that has it intact)")
        data = self.backend.read(rel, manifestmod.MAX_MANIFEST, size)
        if data is None:
            raise RemoteError(f"{self.label}: {rel} vanished while reading; run the command "
                              "again")
        return data

    def _manifest_damaged(self, oid: str, err: CorruptObjectError) -> CorruptObjectError:
        e = str(err)
        why = e.split("(", 1)[1].split(")", 1)[0] if "(" in e else e
        return CorruptObjectError(f"{self.label}: the chunk manifest {layout.manifest_rel(oid)} "
                                  f"is corrupt ({why}); push the file again from a store that "
                                  "has it intact")

    def _listing(self) -> tuple[Collection[str], Collection[str]]:
        self._ensure()
        return self._loose, self._manifests

    # -- lookups -----------------------------------------------------------------------------

    def prefetch_manifests(self, oids: Iterable[str]) -> None:
        """Fetch the manifests of those ``oids`` stored chunked, in parallel (then
        :meth:`manifest` and :meth:`size` answer from memory)."""
        self._ensure()
        with self._lock:
            todo = [o for o in dict.fromkeys(oids)
                    if o in self._manifests and o not in self._decoded]
        if len(todo) > 1:
            with ThreadPoolExecutor(WORKERS) as pool:
                list(pool.map(self.manifest, todo))
