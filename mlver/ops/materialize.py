"""Writing objects out as files: staged under temporary names, then renamed into place.

Every folder is opened without following links and every file is created relative to
its folder's descriptor (``O_NOFOLLOW | O_EXCL``), so nothing written here can land
outside the target through a link, even one swapped in while the checkout runs.

A file whose folder exists is staged as ``.mlver-<pid>-<n>.tmp`` beside its final name. A
folder the target lacks is made as ``.mlver-<pid>-<n>.tmp`` in its parent and filled there
(its files and sub-folders under their own names): one rename puts it in place, and its
files need no rename of their own (restoring an emptied folder of 100k files makes 100k
files and one rename, not 100k renames). Nothing is renamed into place before every file
is staged and its hash verified; a failure before that removes everything staged.

Staging and renaming run in a small thread pool (the work is system calls, which release
the GIL): folders are made and opened by the calling thread first, workers only create,
write and rename files relative to those descriptors.
"""

from __future__ import annotations

import errno
import io
import itertools
import os
import stat
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
import contextlib
from collections.abc import Callable
from typing import BinaryIO, NamedTuple, Protocol, TypeVar

from mlver.base.errors import CheckoutError, CorruptObjectError
from mlver.base.hashing import Hasher, oid_of
from mlver.base.progress import Progress
from mlver.store import Store
from mlver.store.chunked import ChunkedReader

_T = TypeVar("_T")


class Want(NamedTuple):
    """One path a checkout makes: a file, a link or a folder, relative to the target.

    A named tuple, not a dataclass: a checkout plans one per file, 100k at a time.
    """

    path: str
    type: str  # "blob", "link" or "tree"
    oid: str
    exec: bool = False
    # the size the tree declares (-1: unknown): only a hint of which blobs are small
    # enough to prefetch; the bytes are verified whatever it says
    size: int = -1


class Job(Protocol):
    """What a :class:`Writer` needs of the checkout it writes for (``ops.checkout.Checkout``).

    A protocol, so this module does not import the checkout that imports it.
    """

    @property
    def store(self) -> Store: ...
    @property
    def target(self) -> str: ...
    @property
    def progress(self) -> Progress: ...

    def remember(self, path: str, st: os.stat_result, oid: str) -> None:
        """Queue a stat cache row for a file written (saved once the checkout succeeded)."""


_Staged = tuple[int, str, str, Want]  # folder fd, staging name, final name, what

_counter = itertools.count()
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_STREAM = 4 << 20  # objects larger than this are copied in pieces, not read whole
_COPY = 1 << 20  # bytes per read and write of a big object: few calls, and the buffer
# stays in cache between the two copies (8 MiB pieces wrote 1 GiB slower here)
# Threads that stage and rename files (the work is mostly system calls, which release the
# GIL). More than the cores do not pay: on 2 cores, 100k small files, 1-3 threads took the
# same time within noise and 4-8 were slower (GIL hand-offs, and the file system's locks
# contended); see benchmarks/README.md, bench_checkout.py.
WORKERS = min(4, os.cpu_count() or 1)
_CHUNK_FILES = 256  # files per task: one future per file would cost more than the write
# Blobs up to this size are read a task at a time (the store reads neighbours in a pack
# with one pread): at most 256 x 16 KiB held per worker.
_PREFETCH_MAX = 16 << 10


def split(path: str) -> tuple[str, str]:
    """``("a/b", "c")`` for ``"a/b/c"``; ``("", "c")`` for ``"c"``."""
    parent, _, name = path.rpartition("/")
    return parent, name


class Dirs:
    """Folders of the target opened without following links, by relative path.

    A folder the target lacks is made (by ``open(rel, create=True)``) under a temporary
    name in its parent, and filled there: its sub-folders and files under their own names.
    :meth:`publish` renames it into place, once everything is staged.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self.fds: dict[str, int] = {}
        # Folders this checkout made, in order: (relative path, parent fd, name on disk).
        self.created: list[tuple[str, int, str]] = []
        # Folders made here, at a temporary name or inside one: what is written into them
        # needs no temporary name of its own.
        self.new: set[str] = set()
        self._pending: list[tuple[str, int, str, str]] = []  # (rel, parent fd, tmp, name)
        # Folders found absent by a lookup without ``create`` (the survey of an emptied
        # target asks once per file); a lookup with ``create`` looks again.
        self.absent: set[str] = set()

    def open(self, rel: str, create: bool) -> int | None:
        """An fd of folder ``rel`` ("" for the root); None when absent and not ``create``."""
        fd = self.fds.get(rel)
        if fd is not None:
            return fd
        if not create and rel in self.absent:
            return None
        if rel == "":
            fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        else:
            parent_rel, _, name = rel.rpartition("/")
            parent = self.open(parent_rel, create)
            if parent is None:
                self.absent.add(rel)
                return None
            try:
                fd = os.open(name, _DIR, dir_fd=parent)
            except FileNotFoundError:
                if not create:
                    self.absent.add(rel)
                    return None
                disk = name
                if parent_rel not in self.new:  # the top of a missing subtree: staged
                    disk = f".mlver-{os.getpid()}-{next(_counter)}.tmp"
                os.mkdir(disk, 0o777, dir_fd=parent)
                self.created.append((rel, parent, disk))
                if disk != name:
                    self._pending.append((rel, parent, disk, name))
                self.new.add(rel)
                fd = os.open(disk, _DIR, dir_fd=parent)
            except OSError as e:
                if e.errno in (errno.ENOTDIR, errno.ELOOP):  # a file, or a link (O_NOFOLLOW)
                    raise CheckoutError(
                        f"'{rel}' in {self.root} is a symbolic link or a file, not a folder; "
                        "checkout never writes through a link: move it away and check out "
                        "again") from None
                raise
        self.fds[rel] = fd
        return fd

    def publish(self) -> None:
        """Rename the folders staged under temporary names into place. One that cannot
        be (a folder of that name appeared meanwhile) is removed with what it holds and
        reported, after the others are in place."""
        failed = []
        for rel, parent, tmp, name in self._pending:
            try:
                os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)
            except OSError:
                _remove_tree(parent, tmp)
                failed.append(rel)
        self._pending.clear()
        self.created.clear()
        if failed:
            raise CheckoutError(
                f"'{failed[0]}' appeared in {self.root} while checking out"
                + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else "")
                + "; nothing was written into it: move it away and check out again")

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    def remove_created(self) -> None:
        """Remove the folders this checkout created (after a failure), deepest first."""
        for _rel, parent, disk in sorted(self.created, key=lambda c: len(c[0]), reverse=True):
            with contextlib.suppress(OSError):
                os.rmdir(disk, dir_fd=parent)
        self.created.clear()
        self._pending.clear()


def _remove_tree(parent: int, name: str) -> None:
    """Remove folder ``name`` of ``parent`` and what it holds, following no link."""
    try:
        fd = os.open(name, _DIR, dir_fd=parent)
    except OSError:
        return
    try:
        for e in os.scandir(fd):
            if e.is_dir(follow_symlinks=False):
                _remove_tree(fd, e.name)
            else:
                _unlink(fd, e.name)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(name, dir_fd=parent)


class Writer:
    """Stage every file of a checkout, then rename them all into place."""

    def __init__(self, job: Job, dirs: Dirs, workers: int = WORKERS) -> None:
        self.job, self.dirs = job, dirs
        self.objects = job.store.objects
        self.prefix = f".mlver-{os.getpid()}-"
        self.workers = max(1, workers)
        self._stop = threading.Event()  # set on a failure: workers stage no more files

    def write(self, todo: list[Want], extra: list[str]) -> int:
        """Write ``todo`` and remove ``extra``; return the bytes written. A failure while
        staging removes what was staged and the folders created: the target is unchanged."""
        progress = self.job.progress
        progress.start("checkout")
        progress.total(len(todo))
        # Every staging name is chosen before any file is created, so that after a failure
        # (in any worker, or an interrupt) all of them can be removed once the workers have
        # stopped. In a folder staged whole (see Dirs) a file is made under its own name.
        staged: list[_Staged] = []
        nbytes = 0
        new = self.dirs.new
        remember = self.job.remember  # queued only: saved once the checkout succeeded

        def staged_chunk(result: tuple[int, list[tuple[str, os.stat_result, str]]]) -> None:
            nonlocal nbytes
            nbytes += result[0]
            for path, st, oid in result[1]:
                remember(path, st, oid)

        def renamed_chunk(result: list[tuple[str, os.stat_result, str]]) -> None:
            for path, st, oid in result:
                remember(path, st, oid)

        pool = (ThreadPoolExecutor(self.workers, thread_name_prefix="mlver-checkout")
                if self.workers > 1 and len(todo) > _CHUNK_FILES else None)
        try:
            try:
                for w in todo:  # folders by this thread, first: workers only use their fds
                    if w.type == "tree":
                        self.dirs.open(w.path, create=True)
                        progress.advance()
                        continue
                    parent, name = split(w.path)
                    dfd = self.dirs.open(parent, create=True)
                    assert dfd is not None
                    tmp = name if parent in new else f"{self.prefix}{next(_counter)}.tmp"
                    staged.append((dfd, tmp, name, w))
                self._chunks(pool, self._stage_chunk, staged, staged_chunk, progress)
            except BaseException:
                self._stop.set()
                if pool is not None:
                    pool.shutdown(wait=True, cancel_futures=True)  # no worker is left writing
                for dfd, tmp, _name, _w in staged:
                    _unlink(dfd, tmp)
                self.dirs.remove_created()
                progress.finish()
                raise
            # Everything is staged and verified: only renames are left, which do not fail
            # for want of space: the files staged in existing folders, then the folders.
            renames = [s for s in staged if s[1] != s[2]]
            try:
                self._chunks(pool, self._rename_chunk, renames, renamed_chunk, None)
            except OSError as e:
                raise CheckoutError(
                    f"checkout into {self.job.target} stopped while moving files into place "
                    f"({e.strerror}); each file there is whole, some are of the new version: "
                    "check out again to finish") from None
            finally:
                self.dirs.publish()
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        for path in extra:
            parent, name = split(path)
            dfd = self.dirs.open(parent, create=False)
            if dfd is not None:
                try:
                    is_dir = stat.S_ISDIR(os.lstat(name, dir_fd=dfd).st_mode)
                except FileNotFoundError:
                    continue
                if is_dir:  # only a folder a killed checkout staged is ever listed here
                    _remove_tree(dfd, name)
                else:
                    _unlink(dfd, name)
        progress.finish()
        return nbytes

    def _chunks(self, pool: ThreadPoolExecutor | None, fn: Callable[[list[_Staged]], _T],
                items: list[_Staged], done: Callable[[_T], None],
                progress: Progress | None) -> None:
        """Run ``fn`` on each chunk of ``items`` (in the pool when there is one) and hand
        each result to ``done``, in this thread, as it comes (overlapping the workers'
        system calls). The first failure is raised once no chunk is running any more."""
        chunks = _spread(items)
        if pool is None:
            for c in chunks:
                done(fn(c))
                if progress is not None:
                    progress.advance(len(c))
            return
        futures = {pool.submit(fn, c): len(c) for c in chunks}
        running = set(futures)
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                err = f.exception()
                if err is not None:
                    self._stop.set()
                    for r in running:
                        r.cancel()
                    wait(running)
                    raise err
                done(f.result())
                if progress is not None:
                    progress.advance(futures[f])

    def _stage_chunk(self, chunk: list[_Staged]
                     ) -> tuple[int, list[tuple[str, os.stat_result, str]]]:
        """Stage each file; the bytes written, and the stat of each file made under its
        own name (in a staged folder: its stat will not change)."""
        n = 0
        stats = []
        packed = self._prefetch(chunk)
        for dfd, tmp, name, w in chunk:
            if self._stop.is_set():  # another chunk failed: the caller removes everything
                break
            try:
                size, st = self._stage(dfd, tmp, w, tmp == name, packed.get(w.oid))
            except BaseException:
                _unlink(dfd, tmp)
                raise
            n += size
            if st is not None:
                stats.append((w.path, st, w.oid))
        return n, stats

    def _prefetch(self, chunk: list[_Staged]) -> dict[str, bytes]:
        """The verified bytes of the chunk's small blobs (those the tree says are at most
        :data:`_PREFETCH_MAX` bytes), read by the store in one call (one ``pread`` per run
        of neighbours in a pack) instead of a lookup and a read per object. Best effort:
        what it does not return ``_stage`` reads the usual way, which reports any damage."""
        oids = [w.oid for _dfd, _tmp, _name, w in chunk
                if w.type == "blob" and 0 <= w.size <= _PREFETCH_MAX]
        if not oids:
            return {}
        try:
            return self.objects.read_many(oids)
        except (OSError, CorruptObjectError):
            return {}

    def _rename_chunk(self, chunk: list[_Staged]) -> list[tuple[str, os.stat_result, str]]:
        """Rename each staged file over its name; ``(path, stat after, oid)`` of each. A
        rename that fails removes its staged file; the others go on, then it is raised."""
        out = []
        failed: OSError | None = None
        for dfd, tmp, name, w in chunk:
            try:
                os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except OSError as e:
                _unlink(dfd, tmp)
                failed = failed or e
                continue
            out.append((w.path, os.lstat(name, dir_fd=dfd), w.oid))  # rename moved ctime
        if failed is not None:
            raise failed
        return out

    def _stage(self, dfd: int, tmp: str, w: Want, keep_stat: bool, data: bytes | None = None
               ) -> tuple[int, os.stat_result | None]:
        """Write ``w`` as ``tmp`` in folder ``dfd``, verified (``data``: its bytes when
        already read and verified, by :meth:`_prefetch`); its size, and its stat (taken
        before closing it) when ``keep_stat`` and it is a file."""
        try:
            if w.type == "link":
                target = self.objects.read(w.oid)  # verified
                os.symlink(os.fsdecode(target), tmp, dir_fd=dfd)
                return len(target), None
            mode = 0o777 if w.exec else 0o666
            if data is None:
                # One lookup: a packed object comes as its bytes, a loose one as its file,
                # a chunked one as a reader streaming its chunks from the packs.
                with self.objects.open(w.oid) as src:
                    if isinstance(src, io.BytesIO):
                        data = src.getvalue()
                    elif (size := _file_size(src)) is not None and size <= _STREAM:
                        data = src.read()
                    else:  # big: never whole in memory
                        fd = os.open(tmp, _CREATE, mode, dir_fd=dfd)
                        try:
                            # a chunked file's reader verifies it (its manifest is
                            # cached by the open just made)
                            chunked = size is None and self.objects.manifest(w.oid) is not None
                            n = self._copy(fd, src, w, hashed=chunked)
                            return n, os.fstat(fd) if keep_stat else None
                        finally:
                            os.close(fd)
                if oid_of(data) != w.oid:
                    data = self.objects.read(w.oid)  # a repaired copy, or the store's error
            fd = os.open(tmp, _CREATE, mode, dir_fd=dfd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                return len(data), os.fstat(fd) if keep_stat else None
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

    def _copy(self, fd: int, src: BinaryIO, w: Want, hashed: bool) -> int:
        """Copy a big object to ``fd`` in large pieces through one buffer (no allocation
        per piece): the staged file is whole and right, or the checkout fails (and removes
        it). A loose file is hashed here as it goes; a chunked file's reader (``hashed``)
        verifies each chunk as it reads it and the whole file at its end, so damage is
        named by chunk and it is not hashed twice."""
        if isinstance(src, ChunkedReader):  # views of the packs' pages, each chunk verified
            n = 0
            for piece in src.views():
                n += len(piece)
                while piece:
                    piece = piece[os.write(fd, piece):]
            return n
        h = None if hashed else Hasher()
        buf = bytearray(_COPY)
        view = memoryview(buf)
        n = 0
        while got := _read_into(src, buf):
            piece = view[:got]
            if h is not None:
                h.update(piece)  # type: ignore[arg-type]  # any buffer
            while piece:
                piece = piece[os.write(fd, piece):]
            n += got
        if h is not None and h.hexdigest() != w.oid:
            raise CorruptObjectError(f"object {w.oid} is corrupt (its bytes hash differently); "
                                     "restore it from a backup, or re-snapshot")
        return n


def _read_into(src: BinaryIO, buf: bytearray) -> int:
    """Fill ``buf`` from ``src`` (fewer bytes only at its end); 0 at the end."""
    if isinstance(src, (io.RawIOBase, io.BufferedIOBase)):
        view = memoryview(buf)
        done = 0
        while done < len(buf):
            got = src.readinto(view[done:])
            if not got:
                break
            done += got
        return done
    data = src.read(len(buf))
    buf[:len(data)] = data
    return len(data)


def _file_size(src: BinaryIO) -> int | None:
    """The size of the file behind ``src`` (a loose object), or None when it is no file
    (a chunked object's reader)."""
    try:
        return os.fstat(src.fileno()).st_size
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is both
        return None


def _spread(items: list[_Staged]) -> list[list[_Staged]]:
    """``items`` in chunks of at most :data:`_CHUNK_FILES` files of one folder, ordered so
    that chunks next to each other (run at the same time) are in different folders: threads
    creating files in one folder wait on its lock (and spin, burning system time)."""
    by_dir: dict[int, list[_Staged]] = {}
    for s in items:
        by_dir.setdefault(s[0], []).append(s)
    pieces = [[group[i:i + _CHUNK_FILES] for i in range(0, len(group), _CHUNK_FILES)]
              for group in by_dir.values()]
    return [p[r] for r in range(max(map(len, pieces), default=0)) for p in pieces if r < len(p)]


def _unlink(dfd: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dfd)
