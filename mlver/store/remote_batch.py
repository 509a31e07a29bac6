"""Writing objects to a remote: packs of small objects and loose large ones, uploaded in
parallel; each pack's index goes up after its pack, so its objects exist only once both do.
A chunked file goes up as its chunks (packed whatever their size, as in the local store)
and then its manifest, ``objects/ab/<30 hex>.chunks``, once every upload of the batch is
done: a remote never lists a manifest whose chunks are absent.
"""

from __future__ import annotations

import io
import os
import threading
import uuid
from contextlib import suppress
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import oid_of
from mlver.store import chunker
from mlver.store import layout
from mlver.store import packs as packmod
from mlver.store.bigwrite import cut
from mlver.store.manifest import Manifest
from mlver.store.packs import PACK_THRESHOLD
from mlver.store.remote_bounds import WORKERS, hash_file, unlink
from mlver.store.remote_listing import RemoteListing

PACK_TARGET = 32 << 20  # a pack sent to a remote is closed at this size (resumable units)


class RemoteBatch:
    """Objects on their way to a remote: small ones appended to packs of up to
    :data:`PACK_TARGET` bytes (each uploaded as soon as it is full: the pack, then its
    index, after which its objects exist), large ones uploaded as loose objects. Uploads
    run on a pool; adding waits while too many are in flight."""

    def __init__(self, remote: RemoteListing) -> None:
        self.remote = remote
        self._pool = ThreadPoolExecutor(WORKERS)
        self._futures: list[Future[None]] = []
        self._lock = threading.Lock()
        self._pack: packmod.PackWriter | None = None
        self._pack_name = ""
        self._pack_bytes = 0
        self._staged: set[str] = set()
        self._temp: list[str] = []
        self._manifests: dict[str, Manifest] = {}
        os.makedirs(remote.scratch_dir, exist_ok=True)
        self.uploaded = 0  # bytes sent
        # A folder makes the batch durable at once (one sync a group), as a local store
        # does; elsewhere each upload is whole and durable when it returns.
        remote.backend.begin()
        self._open = True

    def __enter__(self) -> RemoteBatch:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def has(self, oid: str) -> bool:
        """True when ``oid`` is on the remote or already on its way there."""
        return oid in self._staged or self.remote.has(oid)

    def _submit(self, fn: Callable[[], None]) -> None:
        # Back-pressure: at most 2 × WORKERS uploads queued (bounds disk and memory).
        while True:
            with self._lock:
                self._futures = [f for f in self._futures if not f.done() or f.exception()]
                failed = [f for f in self._futures if f.done()]
                if failed:
                    failed[0].result()
                if len(self._futures) < 2 * WORKERS:
                    self._futures.append(self._pool.submit(fn))
                    return
                first = self._futures[0]
            first.exception()  # wait for one

    def add_bytes(self, data: bytes, expect: str | None = None) -> str:
        """Send ``data`` (refused unless it hashes to ``expect``, when given); return its oid."""
        oid = oid_of(data)
        if expect is not None and oid != expect:
            raise CorruptObjectError(f"object {expect} is corrupt in this store (its bytes hash "
                                     f"to {oid}); it was not sent")
        if oid in self._staged or self.remote.has(oid):
            return oid
        if len(data) >= chunker.CHUNK_THRESHOLD:
            self._chunk(io.BytesIO(data), oid)
            return oid
        self._staged.add(oid)
        if len(data) > PACK_THRESHOLD:
            tmp = os.path.join(self.remote.scratch_dir, f"{os.getpid()}-{uuid.uuid4().hex}.up")
            with open(tmp, "wb") as f:
                f.write(data)
            self._loose(oid, tmp, True)
            return oid
        self._pack_add(oid, data)
        return oid

    def add_chunk(self, data: bytes, expect: str) -> bool:
        """Send one chunk of a chunked file into a pack, whatever its size (refused unless
        it hashes to ``expect``); False when the remote has it or it is already staged."""
        oid = oid_of(data)
        if oid != expect:
            raise CorruptObjectError(f"chunk {expect} is corrupt in this store (its bytes hash "
                                     f"to {oid}); it was not sent")
        if oid in self._staged or self.remote.has(oid):
            return False
        self._staged.add(oid)
        self._pack_add(oid, data)
        return True

    def add_manifest(self, m: Manifest) -> int:
        """Send the manifest of a chunked file once the batch's uploads are done (at
        :meth:`commit`); every chunk must be on the remote or staged in this batch, else
        :class:`CorruptObjectError` names the first that is neither. Returns its size."""
        for c in m.chunk_oids():
            if c not in self._staged and not self.remote.has(c):
                raise CorruptObjectError(f"chunk {c} of object {m.oid} is neither on "
                                         f"{self.remote.label} nor being sent; the manifest was "
                                         "not sent")
        self._staged.add(m.oid)
        self._manifests[m.oid] = m
        return len(m.encode())

    def _chunk(self, f: BinaryIO, oid: str) -> None:
        """Send a big file as the remote stores it, as a local store does: its chunks
        (those the remote lacks) in packs, then its manifest (see :meth:`add_manifest`)."""
        def add(coid: str, data: bytes) -> None:
            if coid not in self._staged and not self.remote.has(coid):
                self._staged.add(coid)
                self._pack_add(coid, data)
        m, got, _size = cut(f, add)
        if got != oid or m is None:
            raise CorruptObjectError(f"object {oid} changed while it was being sent (its bytes "
                                     f"now hash to {got}); it was not sent")
        self.add_manifest(m)

    def _pack_add(self, oid: str, data: bytes) -> None:
        with self._lock:
            if self._pack is None:
                self._pack_name = f"pack-{os.urandom(16).hex()}"
                base = os.path.join(self.remote.scratch_dir, self._pack_name)
                self._pack = packmod.PackWriter(base + ".pack", base + ".idx")
                self._pack_bytes = 0
            self._pack.add(oid, data)
            self._pack_bytes += len(data) + 20
            full = self._pack_bytes >= PACK_TARGET
        if full:
            self._close_pack()

    def add_file(self, path: str) -> tuple[str, int]:
        """Send the file at ``path`` (left in place); return ``(oid, size)``."""
        oid, size = hash_file(path)
        self._send(path, oid, size, owned=False)
        return oid, size

    def adopt(self, path: str, expect: str) -> int:
        """Send a file handed over by the caller (removed once sent), refused unless it
        hashes to ``expect``."""
        oid, size = hash_file(path)
        if oid != expect:
            unlink(path)
            raise CorruptObjectError(f"object {expect} is corrupt (its bytes hash to {oid}); "
                                     "it was not sent")
        self._send(path, oid, size, owned=True)
        return size

    def _send(self, path: str, oid: str, size: int, owned: bool) -> None:
        if size <= PACK_THRESHOLD:
            with open(path, "rb") as f:
                data = f.read()
            if owned:
                unlink(path)
            self.add_bytes(data, oid)
        elif oid in self._staged or self.remote.has(oid):
            if owned:
                unlink(path)
        elif size >= chunker.CHUNK_THRESHOLD:
            try:
                with open(path, "rb") as f:
                    self._chunk(f, oid)
            finally:
                if owned:
                    unlink(path)
        else:
            self._staged.add(oid)
            self._loose(oid, path, owned)

    def _loose(self, oid: str, path: str, owned: bool) -> None:
        rel = layout.loose_rel(oid)
        size = os.path.getsize(path)

        def up() -> None:
            try:
                self.remote.backend.put_file(rel, path)
            finally:
                if owned:
                    unlink(path)
            self.remote.remember(None, None, {oid: size})
            with self._lock:
                self.uploaded += size
        self._submit(up)

    def _close_pack(self) -> None:
        with self._lock:
            pack, name = self._pack, self._pack_name
            self._pack = None
        if pack is None:
            return
        pack.finish()

        def up() -> None:
            try:
                size = os.path.getsize(pack.pack_path)
                self.remote.backend.put_file(layout.pack_rel(name), pack.pack_path)
                self.remote.backend.put_file(layout.idx_rel(name), pack.idx_path)
                self.remote.remember(name, pack.idx_path, {})
                with self._lock:
                    self.uploaded += size
            finally:
                unlink(pack.pack_path)
                unlink(pack.idx_path)
        self._submit(up)

    def _send_manifests(self) -> None:
        """Upload the staged manifests (their chunks are all up: every other upload of the
        batch is done), in parallel."""
        todo = list(self._manifests.values())
        self._manifests = {}

        def up(m: Manifest) -> None:
            data = m.encode()
            self.remote.backend.put(layout.manifest_rel(m.oid), data)
            self.remote.remember(None, None, {}, (m,))
            with self._lock:
                self.uploaded += len(data)
        for f in [self._pool.submit(up, m) for m in todo]:
            f.result()

    def commit(self) -> None:
        """Send what is left and wait for every upload, then send the manifests; the
        objects exist on return."""
        try:
            self._close_pack()
            for f in list(self._futures):
                f.result()
            self._futures = []
            self._send_manifests()
            self._end(True)
        except BaseException:
            self.abort()
            raise
        finally:
            self._pool.shutdown(wait=True)
        self._futures = []

    def abort(self) -> None:
        """Cancel what has not started and drop the open pack (sent objects stay)."""
        with self._lock:
            pack = self._pack
            self._pack = None
            futures = list(self._futures)
            self._manifests = {}
        for f in futures:
            f.cancel()
        self._pool.shutdown(wait=True)
        if pack is not None:
            pack.abort()
        if self._open:
            # What was sent stays (whole objects, published in the layout's order); a
            # publish that fails drops what it staged, so list again at the next lookup.
            with suppress(Exception):
                self._end(True)
            self.remote.forget()

    def _end(self, publish: bool) -> None:
        self._open = False
        self.remote.backend.end(publish)

    def close(self) -> None:
        """Wait for the upload pool to finish."""
        self._pool.shutdown(wait=True)

