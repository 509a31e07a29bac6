"""``transfer(src, dst, oids)``: the one routine that copies objects between stores.

Push (local to remote), pull (remote to local) and data on demand all go through it, and it
talks to both ends only through the protocols below (:class:`Source`, :class:`Dest`): the
local store and a remote offer the same methods. It asks ``dst`` which objects it lacks
(one listing, not one request per object). A file stored chunked at ``src`` (it has a
manifest) goes as the chunks ``dst`` lacks (one more ``missing`` for the chunks of all such
files), packed, then its manifest, after its chunks; any other object goes whole. Every
object is verified on arrival and written through ``dst``'s ordinary batch, which makes
them exist only when complete: a local store publishes loose objects, then packs and their
indexes, then manifests; a remote uploads packs, each index after its pack, and the
manifests last.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from mlver.base.errors import CorruptObjectError
from mlver.base.fmt import human_size
from mlver.base.progress import Progress
from mlver.store.chunker import AVG_SIZE
from mlver.store.items import Item
from mlver.store.manifest import Manifest
from mlver.store.safefs import discard


class TransferBatch(Protocol):
    """The writes a transfer makes to ``dst`` (the local ``Batch``, a ``RemoteBatch``)."""

    def add_bytes(self, data: bytes, expect: str | None = None) -> str: ...

    def add_file(self, path: str) -> tuple[str, int]: ...

    def adopt(self, path: str, expect: str) -> int: ...

    def add_chunk(self, data: bytes, expect: str) -> object: ...

    def add_manifest(self, m: Manifest) -> object: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


class Source(Protocol):
    """A store objects are read from: which it lacks, its chunk manifests, its objects."""

    def missing(self, oids: list[str]) -> list[str]: ...

    def manifest(self, oid: str) -> Manifest | None: ...

    def iter_items(self, oids: list[str]) -> Iterator[Item]: ...

    def open(self, oid: str) -> BinaryIO: ...


class Dest(Protocol):
    """A store objects are written to. ``verifies_arrivals``: its batch reads a file that
    arrives as chunks and a manifest through them before it publishes the manifest (a
    local store does; a remote cannot read cheaply, so the sender vouches instead)."""

    verifies_arrivals: bool

    def missing(self, oids: list[str]) -> list[str]: ...

    def unchecked_manifests(self, oids: list[str]) -> list[str]: ...

    def batch(self) -> TransferBatch: ...


@dataclass(frozen=True)
class TransferResult:
    """What a transfer moved: ``objects`` (files and other objects sent, a chunked file
    counting once), ``chunks`` (chunks sent), ``bytes`` (everything sent: whole objects,
    chunks and manifests), ``present`` (objects ``dst`` already had), and time."""

    objects: int
    bytes: int
    present: int
    seconds: float
    chunks: int = 0

    def __add__(self, other: TransferResult) -> TransferResult:
        return TransferResult(self.objects + other.objects, self.bytes + other.bytes,
                              self.present + other.present, self.seconds + other.seconds,
                              self.chunks + other.chunks)


NOTHING = TransferResult(0, 0, 0, 0.0)
MAX_CHUNK_ROWS = 4_000_000  # chunks listed by the manifests of one transfer (~262 GB of files)


def _send_whole(batch: TransferBatch, it: Item) -> None:
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


def _chunk_bytes(it: Item) -> bytes:
    if it.data is not None:
        return it.data
    assert it.path is not None  # a chunk is never large; a source may still hand a file
    with open(it.path, "rb") as f:
        return f.read()


def transfer(src: Source, dst: Dest, oids: Iterable[str], progress: Progress | None = None,
             label: str = "transferring") -> TransferResult:
    """Copy to ``dst`` every object of ``oids`` that it lacks; return what moved."""
    t0 = time.perf_counter()
    wanted = list(dict.fromkeys(oids))
    todo = dst.missing(wanted) if wanted else []
    todo += _incomplete(src, dst, wanted, todo)
    if not todo:
        return TransferResult(0, 0, len(wanted), time.perf_counter() - t0)
    manifests: list[Manifest] = []
    whole: list[str] = []
    rows = 0
    for oid in todo:
        m = src.manifest(oid)
        if m is None:
            whole.append(oid)
            continue
        rows += len(m.chunks)
        if rows > MAX_CHUNK_ROWS:  # decoded manifests cost ~200 bytes a chunk, all held
            raise CorruptObjectError(
                f"the files to transfer list more than {MAX_CHUNK_ROWS:,} chunks in all "
                f"(~{human_size(MAX_CHUNK_ROWS * AVG_SIZE)} of big files); a crafted store lists "
                "that many, else transfer fewer versions at a time (mlver pull NAME@N)")
        if not dst.verifies_arrivals:
            _vouch(src, m)
        manifests.append(m)
    owner: dict[str, str] = {}  # chunk -> a file it belongs to (to name it in errors)
    length: dict[str, int] = {}  # chunk -> its length, as that file's manifest gives it
    for m in manifests:
        for c, n in m.chunks:
            owner.setdefault(c, m.oid)
            length.setdefault(c, n)
    chunks = dst.missing(list(owner)) if owner else []
    if progress is not None:
        progress.start(label)
        progress.total(len(whole) + len(chunks) + len(manifests))
    nbytes = 0

    def sent(n: int) -> None:
        nonlocal nbytes
        nbytes += n
        if progress is not None:
            progress.advance(1)
            progress.add_bytes(n)

    batch = dst.batch()
    try:
        for it in src.iter_items(whole):
            _send_whole(batch, it)
            sent(it.size)
        if chunks:
            items = src.iter_items(chunks)
            while True:
                try:
                    it = next(items)
                except StopIteration:
                    break
                except CorruptObjectError as e:
                    raise CorruptObjectError(f"{e} (a chunk of file {_named(e, owner)}); "
                                             "nothing of that file was stored") from None
                if it.size != length[it.oid]:
                    # Before reading it whole: a manifest may name any object as a chunk
                    # (a crafted one, a big loose file), and a chunk is read into memory.
                    raise CorruptObjectError(
                        f"chunk {it.oid} of file {owner[it.oid]} is {it.size} bytes, its "
                        f"manifest says {length[it.oid]}: the manifest is damaged or crafted; "
                        "nothing of that file was stored")
                batch.add_chunk(_chunk_bytes(it), it.oid)
                if it.owned and it.path:
                    discard(it.path)
                sent(it.size)
        for m in manifests:  # after its chunks: the batch publishes manifests last
            batch.add_manifest(m)
            sent(len(m.encode()))
        batch.commit()
    except BaseException:
        batch.abort()
        raise
    finally:
        batch.close()
    if progress is not None:
        progress.finish()
    return TransferResult(len(whole) + len(manifests), nbytes, len(wanted) - len(todo),
                          time.perf_counter() - t0, len(chunks))


def _incomplete(src: Source, dst: Dest, wanted: list[str], todo: list[str]) -> list[str]:
    """The files ``dst`` lists as chunked but lacks chunks of (a remote that lost a pack),
    by ``src``'s manifests against ``dst``'s listing: no request a file."""
    absent = set(todo)
    out = []
    for oid in dst.unchecked_manifests([o for o in wanted if o not in absent]):
        m = src.manifest(oid)
        if m is not None and dst.missing(m.chunk_oids()):
            out.append(oid)
    return out


def _vouch(src: Source, m: Manifest) -> None:
    """Read the file ``m`` describes through its chunks at ``src`` (each chunk and the
    whole file verified) before a destination that does not check arrivals (a remote)
    trusts the manifest: a lying one would read as present there, and no later push could
    replace it. A local destination checks what arrives itself."""
    with src.open(m.oid) as f:
        while f.read(8 << 20):
            pass


def _named(e: CorruptObjectError, owner: dict[str, str]) -> str:
    """The file whose chunk ``e`` names (the first chunk oid in its message)."""
    for word in str(e).replace("(", " ").split():
        if word in owner:
            return owner[word]
    return "being transferred"


__all__ = ["Dest", "NOTHING", "Source", "TransferBatch", "TransferResult", "transfer"]
