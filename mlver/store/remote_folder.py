"""A remote that is a folder (local disk, NFS, a mounted share): itself a valid store.

Reads never follow a link out of the folder nor block. Writes follow the local store's
rules, with its code: a batch's files are staged in ``tmp/``, made durable by one sync of
the file system per group (a complete pack, :data:`GROUP_FILES` loose files or
:data:`GROUP_BYTES` bytes, and at the batch's end) rather than an fsync per file, then
published in the layout's order by :func:`~mlver.store.publish.publish_staged`; refs move by
:func:`~mlver.store.refs.update_file`, the local store's compare-and-swap under a lock file.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from contextlib import suppress
from typing import Any

from mlver.base.errors import CorruptObjectError, MlverError, RemoteError
from mlver.store import layout
from mlver.store import packs as packmod
from mlver.store import upkeep
from mlver.store.bigwrite import write_readonly
from mlver.store.objects import TMP_GRACE
from mlver.store.publish import place, publish_staged
from mlver.store.refs import KEEP, REF_MAX, update_file
from mlver.store.remote_backend import Backend
from mlver.store.remote_bounds import WORKERS, copy_bounded, no_links
from mlver.store.safefs import check_dirs, discard, read_small, sync_filesystem


# A batch's staged files are published (one sync, the renames, one sync) once a pack is
# complete (its index staged) or this many loose files are waiting, so that a push killed
# midway resends at most a group (as an fsspec remote loses at most its uploads in
# flight, WORKERS of them), and a pack uploaded exists at once, as on S3.
GROUP_FILES = WORKERS
GROUP_BYTES = 64 << 20


class LocalBackend(Backend):
    """A folder (local disk, NFS, a mounted share). Reads never follow a link out of the
    folder nor block; inside a batch (:meth:`begin` to :meth:`flush`) the files of
    ``objects/`` are staged and published in groups, each made durable by one sync;
    other files are written to ``tmp/``, fsynced and renamed into place; refs move under
    the local store's lock file, created exclusively."""

    cas = "exclusive create of a lock file"

    def __init__(self, fs: Any, root: str, url: str, label: str) -> None:
        super().__init__(fs, root, url, label)
        self._batches = 0
        self._pending: list[tuple[str, str]] = []  # (rel, staged file), in staging order
        self._pending_bytes = 0
        self._stage_lock = threading.Lock()
        self._swept = False

    def full(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def prepare(self) -> None:
        with self.guard("creating the store folders"):
            for sub in layout.FOLDERS:
                check_dirs(self.root, sub, create=True)

    def survey(self) -> None:
        """Nothing: a folder's listings and reads cost no request, and a survey kept
        across a command would go stale against writers sharing the folder."""

    def list(self, rel: str) -> dict[str, int]:
        base = self.full(rel)
        out: dict[str, int] = {}
        no_links(self.root, rel, self.label)  # os.walk would follow a linked top folder
        with self.guard(f"listing {rel}" if rel else "listing it"):
            self._n()
            for dirpath, dirs, files in os.walk(base):
                for d in dirs:  # mlver writes no links: refused, never followed
                    no_links(self.root, os.path.relpath(os.path.join(dirpath, d), self.root)
                             .replace(os.sep, "/"), self.label)
                for f in files:
                    p = os.path.join(dirpath, f)
                    st = os.lstat(p)
                    if os.path.isfile(p) and not os.path.islink(p):
                        out[os.path.relpath(p, self.root).replace(os.sep, "/")] = st.st_size
        return out

    def read(self, rel: str, limit: int, size: int | None = None) -> bytes | None:
        no_links(self.root, os.path.dirname(rel), self.label)
        with self.guard(f"reading {rel}"):
            self._n()
            return read_small(self.full(rel), limit)

    def read_range(self, rel: str, start: int, length: int) -> bytes:
        no_links(self.root, os.path.dirname(rel), self.label)
        with self.guard(f"reading {rel}"):
            self._n()
            try:
                fd = packmod.open_regular(self.full(rel))
            except FileNotFoundError:
                raise RemoteError(f"{self.label}: {rel} vanished while it was read; run the "
                                  "command again") from None
            try:
                data = os.pread(fd, length, start)
            finally:
                os.close(fd)
        if len(data) != length:
            raise CorruptObjectError(f"{self.label}: {rel} is shorter than its index says; "
                                     "the remote's copy is damaged")
        return data

    def get_file(self, rel: str, local: str, size: int) -> None:
        no_links(self.root, os.path.dirname(rel), self.label)
        with self.guard(f"copying {rel}"):
            self._n()
            fd = packmod.open_regular(self.full(rel))
            with os.fdopen(fd, "rb") as src, open(local, "wb") as dst:
                copy_bounded(src, dst, size, self.label, rel)
        if os.path.getsize(local) != size:
            raise CorruptObjectError(f"{self.label}: {rel} changed size while it was copied")

    def _stage(self) -> str:
        check_dirs(self.root, "tmp", create=True)
        return os.path.join(self.root, "tmp", f"{os.getpid()}-{uuid.uuid4().hex}")

    def _publish(self, tmp: str, rel: str) -> None:
        final = self.full(rel)
        parent = os.path.dirname(final)
        check_dirs(self.root, os.path.relpath(parent, self.root).replace(os.sep, "/"),
                   create=True)
        if layout.publish_rank(rel) == 0 and not rel.startswith("objects/pack/"):
            place(tmp, final)  # a loose object is never replaced
        else:  # a manifest is sent only when absent, incomplete or stale: it replaces
            os.replace(tmp, final)

    # -- batches: staged, one sync a group, published in the layout's order --------------

    def begin(self) -> None:
        with self._stage_lock:
            self._batches += 1
            sweep, self._swept = not self._swept, True
        if sweep:  # what pushes killed midway staged: by age only (other hosts write here)
            with suppress(OSError, MlverError):  # a push never fails for want of cleaning
                check_dirs(self.root, layout.TMP)
                upkeep.sweep(os.path.join(self.root, layout.TMP), TMP_GRACE, by_pid=False)

    def _batched(self, rel: str) -> bool:
        return self._batches > 0 and layout.is_object_file(rel)

    def _staged(self, rel: str, tmp: str) -> None:
        with self._stage_lock:
            self._pending.append((rel, tmp))
            self._pending_bytes += os.path.getsize(tmp)
        self._flush(only_full=True)

    def _full(self) -> bool:
        """A group is ready (under the stage lock): enough files or bytes, or a pack is
        complete (its index staged: its objects should exist at once)."""
        return len(self._pending) >= GROUP_FILES or self._pending_bytes >= GROUP_BYTES \
            or any(layout.publish_rank(rel) == 1 for rel, _tmp in self._pending)

    def flush(self) -> None:
        self._flush(only_full=False)

    def _flush(self, only_full: bool) -> None:
        with self._stage_lock:
            if only_full and not self._full():
                return
            pending, self._pending, self._pending_bytes = self._pending, [], 0
            if not pending:
                return
            try:
                with self.guard("publishing a batch"):
                    for d in sorted({rel.rsplit("/", 1)[0] for rel, _tmp in pending}):
                        check_dirs(self.root, d, create=True)  # real folders, never links
                    sync_filesystem(os.path.join(self.root, layout.TMP))  # the staged bytes
                    # A batch sends a manifest only when the remote's is absent, names a
                    # chunk that is not there, or differs (damaged, or lies): it replaces.
                    publish_staged(self.root, pending,
                                   {rel for rel, _tmp in pending if layout.publish_rank(rel) == 2})
                    sync_filesystem(os.path.join(self.root, layout.OBJECTS))  # their names
            except BaseException:
                for _rel, tmp in pending:
                    discard(tmp)
                raise

    def end(self, publish: bool) -> None:
        try:
            if publish:
                self.flush()
        finally:
            with self._stage_lock:
                self._batches = max(self._batches - 1, 0)
                pending: list[tuple[str, str]] = []
                if not self._batches and not publish:
                    pending, self._pending, self._pending_bytes = self._pending, [], 0
            for _rel, tmp in pending:
                discard(tmp)

    def put(self, rel: str, data: bytes) -> None:
        if self._batched(rel):
            with self.guard(f"writing {rel}"):
                self._n()
                tmp = self._stage()
                write_readonly(tmp, data)
            self._staged(rel, tmp)
            return
        with self.guard(f"writing {rel}"):
            self._n()
            tmp = self._stage()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            self._publish(tmp, rel)

    def put_file(self, rel: str, local: str) -> None:
        if self._batched(rel):
            with self.guard(f"writing {rel}"):
                self._n()
                tmp = self._stage()
                shutil.copyfile(local, tmp)  # a kernel copy; made durable by the group's sync
                os.chmod(tmp, 0o444)
            self._staged(rel, tmp)
            return
        with self.guard(f"writing {rel}"):
            self._n()
            tmp = self._stage()
            shutil.copyfile(local, tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(tmp, 0o444)
            self._publish(tmp, rel)

    def delete(self, rel: str) -> None:
        with self.guard(f"deleting {rel}"), suppress(FileNotFoundError):
            os.unlink(self.full(rel))

    def swap(self, rel: str, token: Any, new: bytes, limit: int = REF_MAX) -> bool:
        full = self.full(rel)
        no_links(self.root, os.path.dirname(rel), self.label)
        with self.guard(f"writing {rel}"):
            self._n()
            check_dirs(self.root, os.path.dirname(rel), create=True)
            return update_file(full, lambda current: new if current == token else KEEP, limit)

