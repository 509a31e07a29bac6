"""Writing a whole file atomically and durably: one rule for every small file mlver writes.

The new content goes to a temporary file of a unique name in the same folder (created
with ``O_EXCL``, so never through a link someone planted, and never clashing with another
process or thread writing the same file), is fsynced, then renamed over the target with
``os.replace``, and the folder is fsynced so the rename itself survives a crash. A reader
sees the old file or the new one, never a part; a crash leaves at most a temporary file
named ``.NAME.mlver-*.tmp`` beside it (a long NAME cut short), never a torn target. Any
failure before the rename removes the temporary file.

(The store's objects and packs are staged in batches and made durable with one
``syncfs``: see ``mlver.store.objects``; this module is for single files.)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import BinaryIO

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def temp_path(path: str) -> str:
    """A fresh temporary name beside ``path``: same folder (so ``os.replace`` is a rename
    on one file system), unique per process, thread and call."""
    folder, name = os.path.split(path)
    # a name near the 255-byte limit keeps only its start: the temp name must fit too
    stem = name if len(os.fsencode(name)) <= 100 else name[:25]  # (25 chars <= 100 bytes)
    return os.path.join(folder, f".{stem}.mlver-{os.getpid()}-{os.urandom(6).hex()}.tmp")


def fsync_dir(folder: str) -> None:
    """Make a rename or unlink in ``folder`` durable (a no-op where folders cannot be
    opened, as on Windows)."""
    try:
        fd = os.open(folder or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the data is already synced
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str, mode: int | None = None,
                check: Callable[[str], object] | None = None) -> Iterator[BinaryIO]:
    """A binary file to write the new content of ``path`` into; on leaving the block
    without an error it is fsynced and renamed over ``path`` (see the module docstring).

    ``mode`` sets the file's permission bits (default: ``0o666`` less the umask, as
    ``open`` gives). ``check``, when given, is called with the temporary file's path once
    it is complete and before the rename; if it raises, the target is left untouched.
    """
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(os.path.dirname(path))


def write_atomic(path: str, data: bytes | str, mode: int | None = None,
                 check: Callable[[str], object] | None = None) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8, newlines as given); see
    :func:`atomic_file` for ``mode`` and ``check``."""
    with atomic_file(path, mode, check) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def copy_atomic(src: str, path: str) -> None:
    """Replace ``path`` with a copy of the file ``src``, by the same rule."""
    with open(src, "rb") as s, atomic_file(path) as f:
        import shutil  # here: the git hooks import this module and must start fast

        shutil.copyfileobj(s, f, 1 << 20)


__all__ = ["atomic_file", "copy_atomic", "fsync_dir", "temp_path", "write_atomic"]
