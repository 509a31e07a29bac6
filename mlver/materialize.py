"""Writing objects out as files: staged under temporary names, then renamed into place.

Every folder is opened without following links and every file is created relative to
its folder's descriptor (``O_NOFOLLOW | O_EXCL``), so nothing written here can land
outside the target through a link, even one swapped in while the checkout runs.
"""

from __future__ import annotations

import errno
import itertools
import os
from typing import TYPE_CHECKING

from .errors import CheckoutError, CorruptObjectError
from .hashing import CHUNK, Hasher

if TYPE_CHECKING:
    from .checkout import Checkout, Want

_counter = itertools.count()
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_STREAM = 4 << 20  # objects larger than this are copied in chunks, not read whole


def split(path: str) -> tuple[str, str]:
    """``("a/b", "c")`` for ``"a/b/c"``; ``("", "c")`` for ``"c"``."""
    parent, _, name = path.rpartition("/")
    return parent, name


class Dirs:
    """Folders of the target opened without following links, by relative path."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.fds: dict[str, int] = {}
        self.created: list[str] = []

    def open(self, rel: str, create: bool) -> int | None:
        """An fd of folder ``rel`` ("" for the root); None when absent and not ``create``."""
        fd = self.fds.get(rel)
        if fd is not None:
            return fd
        if rel == "":
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        else:
            parent_rel, _, name = rel.rpartition("/")
            parent = self.open(parent_rel, create)
            if parent is None:
                return None
            try:
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    return None
                os.mkdir(name, 0o777, dir_fd=parent)
                self.created.append(rel)
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
            except OSError as e:
                if e.errno in (errno.ENOTDIR, errno.ELOOP):  # a file, or a link (O_NOFOLLOW)
                    raise CheckoutError(
                        f"'{rel}' in {self.root} is a symbolic link or a file, not a folder; "
                        "checkout never writes through a link: move it away and check out "
                        "again") from None
                raise
        self.fds[rel] = fd
        return fd

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    def remove_created(self) -> None:
        """Remove the folders this checkout created (after a failure), deepest first."""
        for rel in sorted(self.created, key=len, reverse=True):
            parent_rel, _, name = rel.rpartition("/")
            parent = self.fds.get(parent_rel)
            if parent is not None:
                try:
                    os.rmdir(name, dir_fd=parent)
                except OSError:
                    pass


def _split(path: str) -> tuple[str, str]:
    parent, _, name = path.rpartition("/")
    return parent, name


class Writer:
    """Stage every file of a checkout, then rename them all into place."""

    def __init__(self, job: Checkout, dirs: Dirs) -> None:
        self.job, self.dirs = job, dirs
        self.objects = job.store.objects
        self.prefix = f".mlver-{os.getpid()}-"

    def write(self, todo: list[Want], extra: list[str]) -> int:
        """Write ``todo`` and remove ``extra``; return the bytes written. A failure while
        staging removes what was staged and the folders created: the target is unchanged."""
        progress = self.job.progress
        progress.start("checkout")
        progress.total(len(todo))
        staged: list[tuple[int, str, str, Want]] = []
        nbytes = 0
        try:
            for w in todo:
                if w.type == "tree":
                    self.dirs.open(w.path, create=True)
                else:
                    parent, name = split(w.path)
                    dfd = self.dirs.open(parent, create=True)
                    assert dfd is not None
                    tmp = f"{self.prefix}{next(_counter)}.tmp"
                    try:
                        nbytes += self._stage(dfd, tmp, w)
                    except BaseException:
                        _unlink(dfd, tmp)
                        raise
                    staged.append((dfd, tmp, name, w))
                progress.advance()
        except BaseException:
            for dfd, tmp, _name, _w in staged:
                _unlink(dfd, tmp)
            self.dirs.remove_created()
            progress.finish()
            raise
        # Everything is staged and verified: only renames are left, which do not fail
        # for want of space.
        done = 0
        try:
            for dfd, tmp, name, w in staged:
                os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
                done += 1
                self.job._remember(w.path, os.lstat(name, dir_fd=dfd), w.oid)
            for path in extra:
                parent, name = split(path)
                dfd = self.dirs.open(parent, create=False)
                if dfd is not None:
                    _unlink(dfd, name)
        except OSError as e:
            for dfd, tmp, _name, _w in staged[done:]:
                _unlink(dfd, tmp)
            raise CheckoutError(
                f"checkout into {self.job.target} stopped while moving files into place "
                f"({e.strerror}); each file there is whole, some are of the new version: "
                "check out again to finish") from None
        finally:
            progress.finish()
        return nbytes

    def _stage(self, dfd: int, tmp: str, w: Want) -> int:
        try:
            if w.type == "link":
                target = self.objects.read(w.oid)  # verified
                os.symlink(os.fsdecode(target), tmp, dir_fd=dfd)
                return len(target)
            size = self.objects.size(w.oid)
            fd = os.open(tmp, _CREATE, 0o777 if w.exec else 0o666, dir_fd=dfd)
            try:
                if size is not None and size > _STREAM:
                    return self._copy(fd, w)
                data = self.objects.read(w.oid)  # verified, from a pack or a loose file
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                return len(data)
            finally:
                os.close(fd)
        except CorruptObjectError as e:
            raise CorruptObjectError(f"{w.path}: {e}") from None
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise CheckoutError(f"no space left on the device holding {self.job.target} "
                                    f"while writing {w.path}; free space there and check out "
                                    "again (nothing was changed)") from None
            raise

    def _copy(self, fd: int, w: Want) -> int:
        """Copy a large loose object in chunks, hashing as it goes."""
        h = Hasher()
        n = 0
        with self.objects.open(w.oid) as src:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                n += len(chunk)
        if h.hexdigest() != w.oid:
            raise CorruptObjectError(f"object {w.oid} is corrupt (its bytes hash differently); "
                                     "restore it from a backup, or re-snapshot")
        return n


def _unlink(dfd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=dfd)
    except FileNotFoundError:
        pass
