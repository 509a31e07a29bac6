"""Bounds and checks on what a remote holds, applied before anything of it is read.

A remote is written by others. Its file names become local file names (cached pack
indexes), its folders are walked, its indexes are parsed into memory and its objects are
copied to disk, so each of these is checked first:

* a pack's name must be ``pack-<32 hex>``, as mlver writes it (a 250-character name once
  made every ``pull`` fail with "File name too long");
* no folder or file of a folder remote is ever a symbolic link, at any level (``objects``
  linked to ``/`` once made a listing roam the whole file system);
* the pack indexes one listing loads are bounded in total, not only one by one;
* a record or tree over :data:`META_MAX` bytes is refused before it is read;
* an object is never copied past the size the listing gave for it, and a blob whose size
  on the remote exceeds what its tree or record declares is refused before it is fetched.

Also here, the helpers of the remote modules that check what arrived (hashes, whole files).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Protocol, TypeVar

from mlver.base.errors import CorruptObjectError, RecordFormatError, RemoteError
from mlver.base.hashing import CHUNK, hash_file, oid_of
from mlver.store.layout import valid_pack_name
from mlver.store.safefs import discard as unlink

# Index bytes one listing of a remote may load (cached ones included): about 9.5 million
# objects. A parsed index costs several times its size in memory, so four valid 256 MiB
# indexes once cost a pull 8 GB; a real remote this large is split into several.
IDX_TOTAL_MAX = 256 << 20
META_MAX = 256 << 20  # a record or tree larger than this was not written by mlver
WORKERS = 8  # requests in flight at once


def check_index_total(label: str, sizes: dict[str, int], limit: int | None = None) -> None:
    """Refuse a listing whose pack indexes add up to more than :data:`IDX_TOTAL_MAX`
    bytes, before any of them is read."""
    cap = IDX_TOTAL_MAX if limit is None else limit
    total = sum(sizes.values())
    if total > cap:
        raise RemoteError(f"{label}: its {len(sizes)} pack indexes hold {total} bytes in all, "
                          f"more than the {cap} one listing may load; they may have been "
                          "crafted to exhaust memory (remove the packs that were not written "
                          "by mlver, or split the remote)")


def no_links(root: str, rel: str, label: str) -> None:
    """Refuse a symbolic link (or a non-folder) at any level of ``rel`` below ``root``;
    an absent level ends the check (there is nothing to follow)."""
    cur = root
    for part in [p for p in rel.split("/") if p]:
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode):
            raise RemoteError(f"{label}: {os.path.relpath(cur, root)} is a symbolic link; mlver "
                              "never follows a link inside a remote (replace it with a real "
                              "folder)")
        if not stat.S_ISDIR(st.st_mode) and cur != os.path.join(root, *rel.split("/")):
            raise RemoteError(f"{label}: {os.path.relpath(cur, root)} is not a folder; it was "
                              "not written by mlver")


def check_meta_size(label: str, what: str, oid: str, size: int | None) -> None:
    """Refuse a record or tree larger than :data:`META_MAX` before it is read."""
    if size is not None and size > META_MAX:
        raise RecordFormatError(f"{what} {oid} on {label} is {size} bytes, larger than any "
                                "mlver writes; check where that store came from")


@dataclass(frozen=True)
class Declared:
    """The size a tree entry or a record's artifact declares for a blob, and where."""

    size: int
    where: str


def check_declared(label: str, size_of: Callable[[str], int | None],
                   declared: dict[str, Declared]) -> None:
    """Refuse, before fetching anything, a blob whose size on the remote is larger than
    the size its tree or record declares (a crafted entry claiming 1 byte would otherwise
    have a 3 GiB object copied before its hash is checked)."""
    for oid, d in declared.items():
        size = size_of(oid)
        if size is not None and size > d.size:
            raise CorruptObjectError(
                f"object {oid} on {label} is {size} bytes, but {d.where} says it holds "
                f"{d.size}; nothing was fetched: the remote's copy is damaged or crafted "
                "(push it again from a store that has it intact)")


def copy_bounded(src: BinaryIO, dst: BinaryIO, limit: int, label: str, rel: str) -> int:
    """Copy ``src`` to ``dst``, refusing as soon as more than ``limit`` bytes came."""
    done = 0
    while chunk := src.read(min(CHUNK * 8, limit - done + 1)):
        done += len(chunk)
        if done > limit:
            raise CorruptObjectError(f"{label}: {rel} holds more than the {limit} bytes its "
                                     "listing gave; the remote's copy is damaged")
        dst.write(chunk)
    return done


# -- what arrived ---------------------------------------------------------------------------------

class ItemLike(Protocol):
    """What :func:`parallel` and :func:`verify_item` need of an item (``remote_objects.Item``)."""

    @property
    def oid(self) -> str: ...

    @property
    def data(self) -> bytes | None: ...

    @property
    def path(self) -> str | None: ...

    @property
    def owned(self) -> bool: ...


T = TypeVar("T", bound=ItemLike)


def parallel(units: list[Callable[[], list[T]]]) -> Iterator[list[T]]:
    """Run the units on a pool, at most 2 × WORKERS in flight; yield results as they end.
    Files fetched by units still running when the caller stops are removed."""
    if len(units) == 1:
        yield units[0]()
        return
    pending: list[Future[list[T]]] = []
    todo = iter(units)
    with ThreadPoolExecutor(WORKERS) as pool:
        try:
            for u in todo:
                pending.append(pool.submit(u))
                if len(pending) >= 2 * WORKERS:
                    break
            while pending:
                f = pending.pop(0)
                result = f.result()
                nxt = next(todo, None)
                if nxt is not None:
                    pending.append(pool.submit(nxt))
                yield result
        finally:
            for f in pending:
                f.cancel()
            for f in pending:
                if not f.cancelled():
                    try:
                        for it in f.result():
                            if it.owned and it.path:
                                unlink(it.path)
                    except BaseException:
                        pass


def verify_item(it: ItemLike, source: str) -> None:
    """Refuse an item whose bytes do not hash to its oid (its file is removed)."""
    if it.data is not None:
        got = oid_of(it.data)
    else:
        assert it.path is not None
        got = hash_file(it.path)[0]
    if got != it.oid:
        if it.owned and it.path:
            unlink(it.path)
        raise CorruptObjectError(f"object {it.oid} from {source} is corrupt (its bytes hash to "
                                 f"{got}); nothing of it was stored; repair that copy (push it "
                                 "again from a store that has it intact)")


__all__ = ["Declared", "IDX_TOTAL_MAX", "META_MAX", "check_declared", "check_index_total",
           "check_meta_size", "copy_bounded", "hash_file", "no_links", "parallel", "unlink",
           "valid_pack_name", "verify_item"]
