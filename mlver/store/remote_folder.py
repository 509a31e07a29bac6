"""A remote that is a folder (local disk, NFS, a mounted share): itself a valid store.

Reads never follow a link out of the folder nor block; files are written to ``tmp/`` and
renamed (or linked) into place; refs move under the local store's lock file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import suppress
from typing import Any

from mlver.base.errors import CorruptObjectError, RemoteError
from mlver.store import packs as packmod
from mlver.store.refs import REF_MAX, locked
from mlver.store.remote_backend import Backend
from mlver.store.remote_bounds import copy_bounded, no_links
from mlver.store.safefs import check_dirs, read_small


class LocalBackend(Backend):
    """A folder (local disk, NFS, a mounted share). Reads never follow a link out of the
    folder nor block; files are written to ``tmp/`` and renamed (or linked) into place;
    refs move under the local store's lock file, created exclusively."""

    cas = "exclusive create of a lock file"

    def full(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def prepare(self) -> None:
        with self.guard("creating the store folders"):
            for sub in ("objects/pack", "tmp", "refs/names", "refs/tags"):
                check_dirs(self.root, sub, create=True)

    def list(self, rel: str) -> dict[str, int]:
        base = self.full(rel)
        out: dict[str, int] = {}
        no_links(self.root, rel, self.label)  # os.walk would follow a linked top folder
        with self.guard(f"listing {rel}"):
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
        if rel.startswith("objects/") and "/pack/" not in "/" + rel:
            with suppress(FileExistsError):
                os.link(tmp, final)  # a loose object is never replaced
            os.unlink(tmp)
        else:
            os.replace(tmp, final)

    def put(self, rel: str, data: bytes) -> None:
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
            with locked(full) as lock:
                if read_small(full, limit) != token:
                    return False
                lock.publish_bytes(new)
        return True

