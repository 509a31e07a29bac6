"""Writing one big file into a batch: the two fast paths, each one pass over the bytes.

A file stored whole (above the pack threshold, below the chunk threshold) is copied in the
kernel (``copy_file_range``, as cp does) and hashed from the page cache right behind the
copy (:func:`copy_and_hash`). A file stored as chunks is cut and hashed in a thread of its
own while the batch writes the pack (:func:`pipelined`). Split from :mod:`.batch`, which
decides what is written where.
"""

from __future__ import annotations

import errno
import os
import threading
import io
from collections.abc import Callable, Iterator
from typing import BinaryIO

from mlver.base.hashing import CHUNK, Hasher
from mlver.store import chunker as chunkmod
from mlver.store.manifest import Manifest
from mlver.store.safefs import discard as _unlink

_QUEUE = 64  # chunks cut ahead of the writer: ~5 MB


def pipelined(cs: chunkmod.ChunkStream) -> Iterator[tuple[str, bytes]]:
    """The ``(oid, bytes)`` of each chunk of ``cs``, cut and hashed in a thread of its own:
    the chunker and the reads run without the GIL, so cutting the next chunks overlaps with
    writing the pack (a 1 GiB file: ~0.5 s of each)."""
    import queue

    q: queue.Queue[tuple[str, bytes] | BaseException | None] = queue.Queue(_QUEUE)
    stop = threading.Event()

    def put(item: tuple[str, bytes] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for p in cs:
                if not put((p.oid, bytes(p.data))):
                    return
            put(None)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            put(e)

    t = threading.Thread(target=produce, name="mlver-chunker", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        t.join()


_COPY_STEP = 64 << 20  # kernel copy granularity; the hasher follows one step behind


class _CopyState:
    """What the copying thread has done so far (guarded by a condition)."""

    def __init__(self, copied: int, done: bool) -> None:
        self.copied = copied
        self.done = done
        self.error: BaseException | None = None


def copy_and_hash(src: int, dst: int, tmp: str, first: bytes) -> tuple[str, int] | None:
    """Copy ``src`` (from its current offset to its end) onto ``dst`` in the kernel
    (``copy_file_range``, as cp does) while another thread hashes what is already in
    ``tmp`` (the copy, from the page cache), so the oid is of the bytes stored. Return
    ``(oid, size)`` of the whole tmp file (``first`` included), or None, having copied
    nothing, where the kernel copy is not available for these files."""
    copy = getattr(os, "copy_file_range", None)
    if copy is None:
        return None
    try:
        n = copy(src, dst, _COPY_STEP)
    except OSError as e:
        if e.errno in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF,
                       errno.EPERM):
            return None
        raise
    state = _CopyState(len(first) + n, n == 0)
    cond = threading.Condition()

    def copier() -> None:
        try:
            while not state.done:
                k = copy(src, dst, _COPY_STEP)
                with cond:
                    state.copied += k
                    state.done = k == 0
                    cond.notify()
        except BaseException as e:  # reported by the hashing side
            with cond:
                state.error = e
                state.done = True
                cond.notify()

    t = threading.Thread(target=copier, daemon=True)
    t.start()
    h = Hasher()
    h.update(first)
    hashed = len(first)
    buf = bytearray(CHUNK * 8)
    mv = memoryview(buf)
    rfd = os.open(tmp, os.O_RDONLY)
    try:
        while True:
            with cond:
                while state.copied <= hashed and not state.done:
                    cond.wait()
                limit, done = state.copied, state.done
            while hashed < limit:
                k = os.preadv(rfd, [mv[:min(len(buf), limit - hashed)]], hashed)
                if k <= 0:
                    raise OSError(errno.EIO, f"short read of {tmp}")
                h.update(mv[:k])  # type: ignore[arg-type]  # any buffer, as above
                hashed += k
            if done and hashed >= state.copied:
                break
    finally:
        os.close(rfd)
        t.join()
    if state.error is not None:
        raise state.error
    return h.hexdigest(), hashed


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def cut(f: BinaryIO | io.RawIOBase, add: Callable[[str, bytes], None], first: bytes = b""
        ) -> tuple[Manifest | None, str, int]:
    """Cut a big file (``first``, then the rest of ``f``) into content-defined chunks in one
    pass that also hashes it whole, handing each chunk to ``add(oid, bytes)`` as it comes
    (which stores it where the store lacks it): the local store's batches and a remote's
    cut a file alike. Returns its manifest (None when the file shrank to nothing), oid
    and size."""
    cs = chunkmod.ChunkStream(f, first)  # type: ignore[arg-type]  # any readinto reader
    chunks = []
    for coid, data in pipelined(cs):
        chunks.append((coid, len(data)))
        add(coid, data)
    m = Manifest(cs.oid, cs.size, chunkmod.CHUNKER_ID, tuple(chunks)) if chunks else None
    return m, cs.oid, cs.size


def write_readonly(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        write_all(fd, data)
    except BaseException:  # a full disk: no partial file stays in tmp/
        os.close(fd)
        _unlink(path)
        raise
    os.close(fd)


__all__ = ["copy_and_hash", "cut", "pipelined", "write_all", "write_readonly"]
