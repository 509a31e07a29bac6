"""File access inside ``.mlver/`` that never follows a link out and never blocks.

Everything in a store may have been crafted by someone else (a copied store, soon a
remote): a ref may be a symlink to ``/dev/zero``, a folder of refs a symlink to
``/etc``. mlver only ever reads and writes regular files and real folders there.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Callable

from mlver.base.errors import StoreFormatError
import contextlib

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CHUNK = 1 << 20  # bytes asked of one os.read past what the file said it holds


def discard(path: str) -> None:
    """Remove the file ``path``; one already gone is fine (a leftover, a staged copy)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _refuse(path: str, what: str) -> StoreFormatError:
    return StoreFormatError(f"{path} is {what}, not a regular file or folder; mlver refuses "
                            "links and special files inside .mlver (remove it, or restore it "
                            "from a backup)")


def _too_big(path: str, size: int, limit: int, at_least: str = "") -> StoreFormatError:
    return StoreFormatError(f"{path} is {at_least}{size} bytes, more than the {limit} a file "
                            "of its kind may hold; it was not written by mlver (remove it, or "
                            "restore it from a backup)")


def check_dir(path: str, create: bool = False) -> None:
    """Make sure ``path`` is a real folder (not a link); create it when asked."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not create:
            return
        os.makedirs(path, exist_ok=True)
        st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(path, "a symbolic link")
    if not stat.S_ISDIR(st.st_mode):
        raise _refuse(path, "not a folder")


def check_dirs(base: str, rel: str, create: bool = False) -> str:
    """Check (or create) each folder of ``rel`` below ``base``; return the full path."""
    cur = base
    for part in rel.split("/"):
        cur = os.path.join(cur, part)
        check_dir(cur, create)
    return cur


def check_file(path: str) -> bool:
    """True when ``path`` is a regular file, False when absent; refuse anything else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(path, "a symbolic link")
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(path, "a special file or folder")
    return True


def read_small(path: str, limit: int) -> bytes | None:
    """The bytes of the regular file ``path`` (None when absent), at most ``limit`` bytes.

    Opened without following a link and without blocking (a FIFO never hangs it); a
    larger file is refused rather than read whole.
    """
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _refuse(path, "a symbolic link") from None
        if e.errno == errno.EISDIR:
            raise _refuse(path, "a folder") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _refuse(path, "a special file or folder")
        if st.st_size > limit:
            raise _too_big(path, st.st_size, limit)
        # Ask first for what the file says it holds (one piece, its size: never ``limit``,
        # which os.read would allocate whole), then read on in chunks until the end: a
        # size that lies (a file still growing, a short read, /proc) never truncates it
        # silently, and more than ``limit`` is refused however it arrives.
        parts: list[bytes] = []
        total, ask = 0, st.st_size + 1
        while chunk := os.read(fd, ask):
            total += len(chunk)
            if total > limit:
                raise _too_big(path, total, limit, "at least ")
            parts.append(chunk)
            ask = min(_CHUNK, limit + 1 - total)
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(fd)


@functools.cache  # on the first sync, not at import: ctypes costs the git hooks ~9 ms
def _load_syncfs() -> Callable[[int], int] | None:
    import ctypes

    # the process's own symbols hold libc's (no ctypes.util.find_library: it runs ldconfig)
    try:
        fn: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
        return fn
    except (OSError, AttributeError):
        pass
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.syncfs
        return fn
    except (OSError, AttributeError):
        return None


def sync_filesystem(path: str) -> None:
    """Flush every dirty page of the file system holding ``path`` (one call per batch)."""
    syncfs = _load_syncfs()
    if syncfs is not None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()
