"""Writing objects to a remote: packs of small objects and loose large ones, uploaded in
parallel; each pack's index goes up after its pack, so its objects exist only once both do.
A chunked file goes up as its chunks (packed whatever their size, as in the local store)
and then its manifest, ``objects/ab/<30 hex>.chunks``, once every upload of the batch is
done: a remote never lists a manifest whose chunks are absent.

What goes where, dedupe and that order are the layout's, shared with the local store's
batches (:class:`~mlver.store.writer.LayoutWriter`); this module is the remote's medium:
parallel uploads with back-pressure, packs closed at :data:`PACK_TARGET`, the listing told
what was sent (``remember``), scratch files.
"""

from __future__ import annotations

import os
import uuid
from contextlib import suppress
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from mlver.base.errors import CorruptObjectError
from mlver.store import layout
from mlver.store import packs as packmod
from mlver.store.manifest import Manifest
from mlver.store.remote_bounds import WORKERS, hash_file, unlink
from mlver.store.remote_listing import RemoteListing
from mlver.store.writer import LayoutWriter, placement

PACK_TARGET = 32 << 20  # a pack sent to a remote is closed at this size (resumable units)


class RemoteBatch(LayoutWriter):
    """Objects on their way to a remote: small ones appended to packs of up to
    :data:`PACK_TARGET` bytes (each uploaded as soon as it is full: the pack, then its
    index, after which its objects exist), large ones uploaded as loose objects. Uploads
    run on a pool; adding waits while too many are in flight."""

    def __init__(self, remote: RemoteListing) -> None:
        super().__init__()
        self.remote = remote
        self.pack_target = PACK_TARGET  # read here: a test lowers it
        self._pool = ThreadPoolExecutor(WORKERS)
        self._futures: list[Future[None]] = []
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

    # -- the medium: a remote (writer.Sink) --------------------------------------------------

    def _at_destination(self, oid: str) -> bool:
        return self.remote.has(oid)

    def _chunk_present(self, oid: str, refresh: bool) -> bool:
        return self.remote.has(oid) if oid else False

    def _skips_present_file(self, oid: str) -> bool:
        # The listing is trusted for what it can tell: a chunked file is skipped only when
        # its manifest decodes and every chunk it names is listed (a lost pack of chunks
        # is sent again), one read of its manifest when it is listed.
        return oid in self._staged or self.remote.complete(oid)

    def _intact(self, oid: str, size: int, by_size: bool = False) -> bool:
        # A listed manifest naming a chunk that is not there (or undecodable) is sent again.
        return self.remote.complete(oid)

    def _stale(self, m: Manifest) -> bool:
        """True when the remote holds another manifest for ``m.oid`` (damaged, or one that
        lies: ``m``'s chunks are all there or staged, and its caller read the file through
        them), which ``m`` then replaces."""
        try:
            held = self.remote.manifest(m.oid)
        except CorruptObjectError:
            return True
        return held is not None and held != m

    def _refused(self, what: str, expect: str, oid: str) -> CorruptObjectError:
        return CorruptObjectError(f"{what} {expect} is corrupt in this store (its bytes hash "
                                  f"to {oid}); it was not sent")

    def _chunkless(self, coid: str, m: Manifest) -> CorruptObjectError:
        return CorruptObjectError(f"chunk {coid} of object {m.oid} is neither on "
                                  f"{self.remote.label} nor being sent; the manifest was "
                                  "not sent")

    def _pack_base(self, name: str) -> str:
        return os.path.join(self.remote.scratch_dir, name)

    def _stage_loose(self, oid: str, data: bytes) -> None:
        tmp = os.path.join(self.remote.scratch_dir, f"{os.getpid()}-{uuid.uuid4().hex}.up")
        with open(tmp, "wb") as f:
            f.write(data)
        self._loose(oid, tmp, True)

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

    # -- adding ------------------------------------------------------------------------------

    def add_chunk(self, data: bytes, expect: str) -> bool:
        """Send one chunk of a chunked file into a pack, whatever its size (refused unless
        it hashes to ``expect``); False when the remote has it or it is already staged."""
        return self._add_chunk(data, expect)[1]

    def add_manifest(self, m: Manifest) -> int:
        """Send the manifest of a chunked file once the batch's uploads are done (at
        :meth:`commit`); every chunk must be on the remote or staged in this batch, else
        :class:`CorruptObjectError` names the first that is neither. Returns its size."""
        self._add_manifest(m)
        return len(m.encode())

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
        where = placement(size)
        if where == "pack":
            with open(path, "rb") as f:
                data = f.read()
            if owned:
                unlink(path)
            self.add_bytes(data, oid)
        elif self._skips_present_file(oid):
            if owned:
                unlink(path)
        elif where == "chunks":
            try:
                with open(path, "rb") as f:
                    self._add_chunked(f, expect=oid)
            finally:
                if owned:
                    unlink(path)
        elif self._claim(oid, size):
            self._loose(oid, path, owned)
        elif owned:
            unlink(path)

    # -- uploads -----------------------------------------------------------------------------

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

    def _pack_closed(self, pack: packmod.PackWriter, name: str) -> None:
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
        todo = self._take_manifests()

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
