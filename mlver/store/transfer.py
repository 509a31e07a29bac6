"""``transfer(src, dst, oids)``: the one routine that copies objects between stores.

Push (local to remote), pull (remote to local) and data on demand all go through it. It
asks ``dst`` which of the objects it lacks (one listing, not one request per object), reads
those from ``src`` (a remote in parallel: whole packs, ranged reads of neighbouring objects,
loose objects), verifies every object's hash on arrival, and writes them through ``dst``'s
ordinary batch: to a local store as any snapshot writes (staged, one sync, index last), to
a remote as packs of small objects and loose large ones, each pack's index uploaded last.
The objects exist at ``dst`` when it returns, never before they are complete.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mlver.base.errors import CorruptObjectError
from mlver.base.progress import Progress
from mlver.store.objects import LocalObjectStore
from mlver.store.remote_objects import Item, RemoteObjectStore

Store = LocalObjectStore | RemoteObjectStore


@dataclass(frozen=True)
class TransferResult:
    """What a transfer moved: objects and bytes sent, those already there, and time."""

    objects: int
    bytes: int
    present: int
    seconds: float

    def __add__(self, other: TransferResult) -> TransferResult:
        return TransferResult(self.objects + other.objects, self.bytes + other.bytes,
                              self.present + other.present, self.seconds + other.seconds)


NOTHING = TransferResult(0, 0, 0, 0.0)


def missing(dst: Store, oids: list[str]) -> list[str]:
    """The oids ``dst`` lacks: a remote answers from one listing, a local store from its
    pack indexes (and one listing of its objects when asked about many)."""
    if isinstance(dst, RemoteObjectStore):
        return dst.missing(oids)
    if len(oids) > 2000:
        have = set(dst.iter_oids())
        return [o for o in oids if o not in have]
    return [o for o in oids if not dst.has(o)]


def _local_items(src: LocalObjectStore, oids: list[str]) -> Iterator[Item]:
    for oid in oids:
        path = src.local_file(oid)
        if path is not None:
            size = src.size(oid) or 0
            yield Item(oid, size, path=path, owned=False)
        else:
            data = src.read(oid)  # verified
            yield Item(oid, len(data), data=data)


def items(src: Store, oids: list[str]) -> Iterator[Item]:
    """The objects ``oids`` of ``src``, each verified (a local loose file is verified as
    it is sent)."""
    if isinstance(src, RemoteObjectStore):
        return src.iter_objects(oids)
    return _local_items(src, oids)


def transfer(src: Store, dst: Store, oids: Iterable[str], progress: Progress | None = None,
             label: str = "transferring") -> TransferResult:
    """Copy to ``dst`` every object of ``oids`` that it lacks; return what moved."""
    t0 = time.perf_counter()
    wanted = list(dict.fromkeys(oids))
    todo = missing(dst, wanted)
    if not todo:
        return TransferResult(0, 0, len(wanted), time.perf_counter() - t0)
    if progress is not None:
        progress.start(label)
        progress.total(len(todo))
    nbytes = 0
    count = 0
    batch = dst.batch()
    try:
        for it in items(src, todo):
            if it.data is not None:
                batch.add_bytes(it.data, expect=it.oid)
            elif it.owned:
                assert it.path is not None
                batch.adopt(it.path, it.oid)
            else:
                assert it.path is not None
                oid, _size = batch.add_file(it.path)
                if oid != it.oid:
                    raise CorruptObjectError(
                        f"object {it.oid} is corrupt in this store (its bytes hash to {oid}); "
                        "it was not sent: restore it from a backup, or re-snapshot")
            count += 1
            nbytes += it.size
            if progress is not None:
                progress.advance(1)
                progress.add_bytes(it.size)
        batch.commit()
    except BaseException:
        batch.abort()
        raise
    finally:
        close = getattr(batch, "close", None)
        if close is not None:
            close()
    if progress is not None:
        progress.finish()
    return TransferResult(count, nbytes, len(wanted) - len(todo), time.perf_counter() - t0)


__all__ = ["NOTHING", "TransferResult", "missing", "transfer"]
