"""Objects on their way between stores: :class:`Item`, and how a local store yields them.

:func:`mlver.store.transfer.transfer` reads the objects it sends as items, each verified
(or verified as it is sent, for a local loose file): a remote fetches them in parallel
(``RemoteObjectStore.iter_items``), a local store yields its loose files in place and its
packed objects in batches of neighbours (:func:`iter_local`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from mlver.base.errors import CorruptObjectError

READ_BATCH = 32 << 20  # bytes of packed objects read at once (one read_many)


@dataclass(frozen=True)
class Item:
    """One object on its way: its bytes, or a local file holding them (``owned``: the
    receiver may move or delete it)."""

    oid: str
    size: int
    data: bytes | None = None
    path: str | None = None
    owned: bool = False


class LocalReadable(Protocol):
    """What :func:`iter_local` needs of a local object store."""

    def local_file(self, oid: str) -> str | None: ...

    def size(self, oid: str) -> int | None: ...

    def read_many(self, oids: list[str]) -> dict[str, bytes]: ...


def _missing(oid: str) -> CorruptObjectError:
    return CorruptObjectError(f"object {oid} is missing from the store; it was not sent: restore "
                              ".mlver/objects from a backup, or re-snapshot")


def iter_local(store: LocalReadable, oids: Iterable[str]) -> Iterator[Item]:
    """The objects ``oids`` of a local store as items: a loose file in place (verified as it
    is sent), packed objects read ``READ_BATCH`` bytes at a time with ``read_many``
    (verified, one read per run of neighbours in a pack). A missing one raises."""
    group: list[str] = []
    held = 0

    def flush() -> Iterator[Item]:
        got = store.read_many(group)
        for o in group:
            data = got.get(o)
            if data is None:
                raise _missing(o)
            yield Item(o, len(data), data=data)

    for oid in oids:
        path = store.local_file(oid)
        if path is not None:
            yield Item(oid, store.size(oid) or 0, path=path, owned=False)
            continue
        size = store.size(oid)
        if size is None:
            raise _missing(oid)
        if group and held + size > READ_BATCH:
            yield from flush()
            group, held = [], 0
        group.append(oid)
        held += size
    if group:
        yield from flush()


__all__ = ["Item", "LocalReadable", "READ_BATCH", "iter_local"]
