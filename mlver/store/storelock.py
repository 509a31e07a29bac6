"""The store-wide lock between writers and ``gc`` (restic's rule: prune runs alone).

Every :class:`~.batch.Batch` holds a *shared* ``flock`` on ``.mlver/gc.lock`` from the
moment it is created (before it asks whether an object exists and decides not to write
it) until it is closed (after the ref that reaches its objects moved). ``gc`` takes the
lock *exclusively*, so it never deletes an object a writer has just counted on, and
writers never see half a repack. ``flock`` is released by the kernel when its holder
dies, so a ``kill -9`` can never leave this lock stale.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from contextlib import contextmanager
from collections.abc import Iterator

from mlver.base.errors import LockError
from mlver.store.safefs import _NOFOLLOW

LOCK_FILE = "gc.lock"


def _open(store_dir: str) -> int | None:
    path = os.path.join(store_dir, LOCK_FILE)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise
    try:  # a store we may not write: flock works on a read-only descriptor too
        return os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
        return None  # nobody can write here, so nobody can collect either


def shared(store_dir: str) -> int | None:
    """Take the lock shared (a writer); blocks while ``gc`` runs. Returns the fd to
    pass to :func:`release`."""
    fd = _open(store_dir)
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except BaseException:
            os.close(fd)
            raise
    return fd


def release(fd: int | None) -> None:
    """Release a lock taken by :func:`shared` (closing the fd drops the flock)."""
    if fd is not None:
        os.close(fd)


@contextmanager
def exclusive(store_dir: str, timeout: float = 10.0) -> Iterator[None]:
    """Hold the lock alone (``gc``): wait up to ``timeout`` seconds for writers to end."""
    fd = _open(store_dir)
    if fd is None:
        raise LockError(f"{store_dir} cannot be written; gc needs a store it may change")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() > deadline:
                raise LockError(
                    "another mlver process (a snapshot, run or verify) is using the store; "
                    "run gc again when it has finished")
            time.sleep(0.01)
        yield
    finally:
        os.close(fd)
