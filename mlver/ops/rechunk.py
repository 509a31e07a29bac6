"""``mlver gc --rechunk``: store old whole-file objects as chunks.

A store made before format 3 holds every big file whole, as one loose object. New big
files are chunked from the first write (see :mod:`mlver.store.manifest`); this converts
the old ones when the user asks, so that the next versions share chunks with them.

Each loose object of at least :data:`~mlver.store.chunker.CHUNK_THRESHOLD` bytes without a
manifest is read once, cut by :class:`~mlver.store.chunker.ChunkStream`, its chunks and
manifest written by one batch (which publishes the pack before the manifest, and syncs);
then the file is read back through its chunks and checked whole. Only then, holding the
store lock alone as gc does, is the loose copy removed. A kill anywhere leaves every
object readable: before the manifest is published the loose copy is the object; after, both
are, until the loose copy goes. A second run finishes what a killed one began (a loose copy
beside a good manifest is just removed) and converts nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlver.base.errors import CorruptObjectError, MlverError
from mlver.base.progress import Progress
from mlver.store import Store, chunker, prune, scan, storelock
from mlver.store.manifest import Manifest
from mlver.store.objects import LocalObjectStore


@dataclass(frozen=True)
class RechunkResult:
    """What ``--rechunk`` converted (with ``dry_run``: would convert): how many whole-file
    objects and their bytes, and the store's size (objects, packs, manifests) before and
    after."""

    dry_run: bool
    files: int
    bytes: int
    size_before: int
    size_after: int
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "files": self.files, "bytes": self.bytes,
                "size_before": self.size_before, "size_after": self.size_after,
                "warnings": list(self.warnings)}

    def lines(self) -> list[str]:
        """The text report."""
        from mlver.base.fmt import human_size

        if not self.files:  # "Rechunked 0 whole files: from X to X" reads like a failure
            return [f"No big file is stored whole: nothing to rechunk (the store holds "
                    f"{human_size(self.size_before)})"]
        files = f"{self.files:,} whole file{'' if self.files == 1 else 's'}"
        if self.dry_run:
            return [f"Would rechunk {files} ({human_size(self.bytes)}); the store holds "
                    f"{human_size(self.size_before)}"]
        return [f"Rechunked {files} ({human_size(self.bytes)}): the store went from "
                f"{human_size(self.size_before)} to {human_size(self.size_after)}"]


def rechunk(store: Store, dry_run: bool = False, lock_timeout: float = 10.0,
            progress: Progress | None = None) -> RechunkResult:
    """Convert every loose object of at least ``CHUNK_THRESHOLD`` bytes into chunks and a
    manifest, then remove its whole copy."""
    progress = progress or Progress()
    objects = store.objects
    threshold = chunker.CHUNK_THRESHOLD  # read now: tests lower it
    before = scan.list_store(objects)
    todo = [o for o in before.loose if o.size >= threshold]
    if dry_run:
        return RechunkResult(True, len(todo), sum(o.size for o in todo), before.bytes,
                             before.bytes)
    warnings: list[str] = []
    done: list[scan.LooseObject] = []
    progress.start("rechunking")
    progress.total(len(todo))
    for o in todo:
        try:
            if not _rebuilds(objects, o.oid):  # converted by a run that was killed: reuse
                _convert(store, o)
                if not _rebuilds(objects, o.oid):
                    raise CorruptObjectError(f"the chunks written for object {o.oid} do not "
                                             "read back as it; its whole copy stays")
            done.append(o)
        except (MlverError, OSError) as e:
            warnings.append(f"object {o.oid} was left whole: {e}")
        progress.advance()
    progress.finish()
    # Removing is gc's business: alone, so that no reader or writer is half-way through.
    if done:
        with storelock.exclusive(store.path, lock_timeout):
            for o in done:
                if _present(objects, o.oid):  # gc may have dropped it meanwhile
                    prune.remove_loose(objects, o.oid)
    after = scan.list_store(objects)
    return RechunkResult(False, len(done), sum(o.size for o in done), before.bytes,
                         after.bytes, tuple(warnings))


def _convert(store: Store, o: scan.LooseObject) -> None:
    """Write the chunks of the loose object ``o`` with one batch, then, while the batch
    still holds the store lock shared (no gc can take the chunks meanwhile), publish its
    manifest (a batch stages none for an object the store holds already)."""
    chunks: list[tuple[str, int]] = []
    b = store.objects.batch()
    try:
        with open(o.path, "rb", buffering=0) as f:
            cs = chunker.ChunkStream(f)
            for piece in cs:
                b.add_chunk(bytes(piece.data), piece.oid)
                chunks.append((piece.oid, len(piece.data)))
        if cs.oid != o.oid:
            raise CorruptObjectError(f"its bytes hash to {cs.oid}, not to its oid: it is "
                                     "corrupt; run mlver verify")
        b.commit()  # the chunks are durable before the manifest that lists them exists
        prune.publish_manifest(store.objects,
                               Manifest(o.oid, cs.size, chunker.CHUNKER_ID, tuple(chunks)))
    except BaseException:
        b.abort()
        raise
    finally:
        b.close()


def _rebuilds(objects: LocalObjectStore, oid: str) -> bool:
    """True when ``oid`` has a manifest whose chunks, all present and hashing right, hash
    whole to ``oid``."""
    path = scan.manifest_path(objects, oid)
    try:
        m = scan.load_manifest(objects, oid)
    except CorruptObjectError:
        return False
    if m is None:
        return False
    # Chunks live in packs only: a manifest whose chunk is read from elsewhere (a crafted
    # one naming the file itself, served by the very loose copy about to go) rebuilds
    # nothing once that copy is removed.
    if not all(objects.has_packed(c, refresh=i == 0) for i, c in enumerate(m.chunk_oids())):
        return False
    c = scan.check_manifest(objects, scan.ManifestFile(oid, path, 0, 0.0), strict=True)
    return not c.bad


def _present(objects: LocalObjectStore, oid: str) -> bool:
    """The manifest of ``oid`` is there and every chunk it lists is present."""
    try:
        m = scan.load_manifest(objects, oid)
    except CorruptObjectError:
        return False
    return m is not None and all(objects.has_packed(c, refresh=i == 0)
                                 for i, c in enumerate(m.chunk_oids()))


__all__ = ["RechunkResult", "rechunk"]
