"""The only mutable layer: refs naming the latest record of a name, and tags.

``refs/names/<name>`` holds the oid of the latest record of ``name``;
``refs/tags/<name>/<tag>`` the oid a tag points at. A ref changes under a lock
file (``<ref>.lock``, created exclusively, as git does) with compare-and-swap
on its old value, so two processes snapshotting one name both get a version.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import contextmanager
from typing import Iterator

from ..errors import LockError, RecordFormatError, RefConflictError
from ..hashing import is_oid

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
LOCK_TIMEOUT = 10.0


def valid_name(name: str) -> bool:
    """Names and tags: letters, digits, ``.``, ``_``, ``-``; no ``@``, ``~`` or ``/``."""
    return bool(NAME_RE.match(name)) and not name.endswith(".lock")


class _Lock:
    """A held lock file; ``publish`` renames it over the ref, releasing the lock."""

    def __init__(self, path: str, fd: int) -> None:
        self.path, self.fd, self.published = path, fd, False

    def publish(self, oid: str) -> None:
        # Write the new value into the lock file itself, make it durable, then rename
        # it over the ref: readers see the old or the new value, never a torn one.
        os.write(self.fd, (oid + "\n").encode("ascii"))
        os.fsync(self.fd)
        os.replace(self.path + ".lock", self.path)
        self.published = True
        dfd = os.open(os.path.dirname(self.path), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@contextmanager
def locked(path: str, timeout: float = LOCK_TIMEOUT) -> Iterator[_Lock]:
    """Hold ``path + '.lock'`` exclusively; yield a :class:`_Lock`."""
    lock = path + ".lock"
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise LockError(
                    f"{lock} is held by another mlver process; if none is running, "
                    "delete that file and try again") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    held = _Lock(path, fd)
    try:
        yield held
    finally:
        os.close(fd)
        if not held.published:  # once renamed, the lock name may already be someone else's
            os.unlink(lock)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii") as f:
            value = f.read().strip()
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, IsADirectoryError):
        value = ""
    if not is_oid(value):
        raise RecordFormatError(f"ref {path} does not hold an oid; restore it from a backup, "
                                "or delete it to drop the name")
    return value


class Refs:
    """Refs of one store."""

    def __init__(self, store_dir: str) -> None:
        self.names_dir = os.path.join(store_dir, "refs", "names")
        self.tags_dir = os.path.join(store_dir, "refs", "tags")

    def get(self, name: str) -> str | None:
        """The oid of the latest record of ``name``, or None."""
        return _read(os.path.join(self.names_dir, name)) if valid_name(name) else None

    def names(self) -> list[str]:
        """Every name with a ref, sorted."""
        if not os.path.isdir(self.names_dir):
            return []
        return sorted(n for n in os.listdir(self.names_dir)
                      if valid_name(n) and os.path.isfile(os.path.join(self.names_dir, n)))

    def update(self, name: str, new: str, old: str | None) -> None:
        """Point ``name`` at ``new`` if it still points at ``old`` (None: absent)."""
        os.makedirs(self.names_dir, exist_ok=True)
        path = os.path.join(self.names_dir, name)
        with locked(path) as lock:
            current = _read(path)
            if current != old:
                raise RefConflictError(
                    f"ref {name} moved from {old} to {current} while writing; try again")
            lock.publish(new)

    def get_tag(self, name: str, tag: str) -> str | None:
        """The oid tagged ``tag`` for ``name``, or None."""
        if not (valid_name(name) and valid_name(tag)):
            return None
        return _read(os.path.join(self.tags_dir, name, tag))

    def tags(self, name: str) -> dict[str, str]:
        """Every tag of ``name``: tag -> oid."""
        d = os.path.join(self.tags_dir, name)
        if not os.path.isdir(d):
            return {}
        return {t: v for t in sorted(os.listdir(d))
                if valid_name(t) and (v := _read(os.path.join(d, t)))}

    def set_tag(self, name: str, tag: str, oid: str) -> str | None:
        """Point tag ``tag`` of ``name`` at ``oid``; return the oid it held before."""
        d = os.path.join(self.tags_dir, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, tag)
        with locked(path) as lock:
            old = _read(path)
            lock.publish(oid)
        return old
