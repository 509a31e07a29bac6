"""Deleting from the store, crash-safe: loose objects, whole packs, and repacks.

Only ``gc`` calls these, holding the store lock exclusively (:mod:`.storelock`), so no
writer is between "the object exists" and "a ref reaches it" meanwhile. The order of
every step keeps the rules of ``docs/format.md`` true at each instant, so a ``kill -9``
anywhere leaves a store whose every listed object is readable:

- a loose object is one ``unlink``;
- a chunk manifest is one ``unlink``, done before any of its chunks can go (gc removes
  every unreachable manifest before it repacks), so no manifest outlives its chunks;
- a pack goes index first, then its pack file (a pack without an index is invisible);
- a repack writes the new pack and index in ``tmp/``, syncs, renames the pack then the
  index into ``objects/pack/``, syncs, and only then removes the old index, then the
  old pack (as restic does: the new copy is durable before the old one goes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import contextlib

from mlver.base.hashing import digest
from mlver.store import manifest as manifestmod
from mlver.store import packs as packmod
from mlver.store.objects import LocalObjectStore
from mlver.store.safefs import sync_filesystem


def remove_loose(store: LocalObjectStore, oid: str) -> None:
    """Unlink the loose object ``oid`` (gone already is fine); drop its fan-out folder
    when that leaves it empty."""
    _remove_in_fan(store._loose_path(oid))


def _remove_in_fan(path: str) -> None:
    """Unlink ``path`` in a fan-out folder (gone already is fine), and the folder when that
    leaves it empty."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    with contextlib.suppress(OSError):  # not empty (the usual case)
        os.rmdir(os.path.dirname(path))


def publish_manifest(store: LocalObjectStore, m: manifestmod.Manifest) -> None:
    """Publish the manifest ``m`` of a file the store holds whole (``gc --rechunk``; a batch
    stages no manifest for an oid already present). Its chunks must be durable already: the
    manifest is written in ``tmp/``, synced, renamed into place and synced again, so it is
    durable before the whole copy may go."""
    os.makedirs(store.tmp_dir, exist_ok=True)
    tmp = f"{store.tmp_dir}/{os.getpid()}-rechunk-{os.urandom(8).hex()}{manifestmod.SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        data = memoryview(m.encode())
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        remove_file(tmp)
        raise
    os.close(fd)
    final = store.manifest_path(m.oid)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    os.rename(tmp, final)
    sync_filesystem(store.objects_dir)


def remove_manifest(store: LocalObjectStore, oid: str) -> None:
    """Unlink the chunk manifest of ``oid`` (gone already is fine); its chunks are left to
    the repack that follows."""
    _remove_in_fan(store.manifest_path(oid))


def sync_removals(store: LocalObjectStore) -> None:
    """Make the unlinks so far durable (manifests before the chunks they listed)."""
    sync_filesystem(store.objects_dir)


def remove_file(path: str) -> None:
    """Unlink a leftover file (a pack without an index, a file in ``tmp/``)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def remove_pack(store: LocalObjectStore, pack: packmod.PackIndex) -> None:
    """Remove a pack whose objects are all garbage: its index first, then the pack."""
    pack.close()
    remove_file(pack.idx_path)
    remove_file(pack.pack_path)
    store._refresh(force=True)  # this process's readers stop looking there at once


def repacked_size(pack: packmod.PackIndex, keep: set[bytes]) -> int:
    """Bytes of the pack and index :func:`repack` writes for ``keep`` (exact, so that a
    dry run reports what a real run frees)."""
    lengths = [pack.lengths[i] for i in range(pack.count) if pack.keys[i] in keep]
    body = packmod.PACK_HEADER.size + sum(packmod.ENTRY_HEADER.size + n for n in lengths)
    index = packmod.IDX_HEADER.size + 28 * len(lengths) + packmod.TRAILER
    return body + packmod.TRAILER + index


@dataclass(frozen=True)
class Repacked:
    """A repack's outcome: the new pack's name (None when nothing was kept), how many
    objects it holds, and those kept although their bytes do not hash right."""

    name: str | None
    objects: int
    corrupt: tuple[str, ...]


def repack(store: LocalObjectStore, pack: packmod.PackIndex, keep: set[bytes]) -> Repacked:
    """Replace ``pack`` by a new one holding only the objects ``keep`` (16-byte oids).

    Objects are copied in pack order and re-hashed; one whose bytes are damaged is
    copied as it is (reported, never silently dropped: ``verify`` keeps naming it).
    """
    keep = {k for k in pack.keys if k in keep}
    if not keep:
        remove_pack(store, pack)
        return Repacked(None, 0, ())
    os.makedirs(store.tmp_dir, exist_ok=True)
    name = f"pack-{os.urandom(16).hex()}"
    tmp_pack, tmp_idx = f"{store.tmp_dir}/{name}.pack", f"{store.tmp_dir}/{name}.idx"
    corrupt = []
    w = packmod.PackWriter(tmp_pack, tmp_idx)
    try:
        for key, data in pack.iter_objects():
            if key not in keep:
                continue
            if digest(data) != key:
                corrupt.append(key.hex())
            w.add(key.hex(), data)
        n = w.finish()
    except BaseException:
        w.abort()
        raise
    sync_filesystem(store.tmp_dir)  # the new pack is durable before it gets its name
    os.rename(tmp_pack, f"{store.pack_dir}/{name}.pack")
    os.rename(tmp_idx, f"{store.pack_dir}/{name}.idx")  # its objects exist twice from here
    sync_filesystem(store.pack_dir)  # ... durably, before the old copy goes
    remove_pack(store, pack)
    return Repacked(name, n, tuple(corrupt))
