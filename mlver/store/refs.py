"""The only mutable layer: refs naming the latest record of a name, and tags.

``refs/names/<name>`` holds the oid of the latest record of ``name``;
``refs/tags/<name>/<tag>`` the oid a tag points at. A ref changes under a lock
file (``<ref>.lock``, created exclusively, as git does) with compare-and-swap
on its old value, so two processes snapshotting one name both get a version.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import time
from contextlib import contextmanager, suppress
from collections.abc import Callable, Iterable, Iterator

from mlver.base.errors import (
    LockError,
    ReadOnlyError,
    RecordFormatError,
    RefConflictError,
    StoreFormatError,
)
from mlver.base.hashing import is_oid
from mlver.store import layout
from mlver.store.layout import NAME_RE as NAME_RE
from mlver.store.layout import oid_lines, ref_bytes
from mlver.store.layout import valid_name as valid_name
from mlver.store.safefs import _NOFOLLOW, check_dir, check_dirs, read_small

LOCK_TIMEOUT = 10.0
REF_MAX = 256  # bytes: a ref holds one oid and a newline
# refs/pruned: the records whose data gc dropped, one oid a line
PRUNED_FILE = layout.PRUNED_REL.rsplit("/", 1)[1]
PRUNED_MAX = 64 << 20  # bytes: two million records; a larger file was not written by mlver
_counter = itertools.count()  # lock files' temporary names, unique per process
_NO_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK)
# refs/partial: records pulled with --no-data, one oid a line
PARTIAL_FILE = layout.PARTIAL_REL.rsplit("/", 1)[1]


class _Lock:
    """A held lock file; ``publish`` writes the ref's new value while it is held."""

    def __init__(self, path: str, fd: int) -> None:
        self.path, self.fd = path, fd

    def publish(self, oid: str) -> None:
        # The new value goes to a file of its own, made durable, then renamed over the
        # ref: readers see the old or the new value, never a torn one. The lock file
        # keeps naming its holder until it is removed, so a kill at any moment leaves a
        # lock that the next process can recognise as stale and break.
        self.publish_bytes((oid + "\n").encode("ascii"))

    def publish_bytes(self, data: bytes) -> None:
        """Like :meth:`publish`, for a file of several lines (``refs/pruned``)."""
        tmp = f"{self.path}@new-{os.getpid()}"  # "@": never read as a name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dfd = os.open(os.path.dirname(self.path), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _holder() -> str:
    """Who holds a lock: ``pid host boot-relative start``; enough to tell it is gone."""
    import socket  # here: 2 ms of import that only a writer needs
    return f"{os.getpid()} {socket.gethostname()} {_start_time(os.getpid())}\n"


def _start_time(pid: int) -> str:
    # A pid can be reused: its start time (from /proc) tells a new process from the
    # holder. Where /proc is missing, the pid alone is checked.
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return "-"


def _stale(lock: str) -> bool:
    """True when ``lock`` names a holder on this host that no longer runs."""
    try:
        text = (read_small(lock, 512) or b"").decode("ascii", "replace").split()
    except (OSError, StoreFormatError):
        return False
    import socket

    if len(text) != 3 or not text[0].isdigit() or text[1] != socket.gethostname():
        return False  # an old-style, foreign or half-written lock: never guess
    pid = int(text[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    return _start_time(pid) not in (text[2], "-")


def _create_lock(path: str) -> int:
    """Create ``path + '.lock'`` already holding this process's holder line; return an fd
    on it. Raises FileExistsError when it exists.

    The line is written to ``path@lock-PID-N`` (``@``: never read as a name) which is then
    hard-linked to the lock's name, so the lock never exists empty: a process killed
    between creating it and writing to it would leave a lock naming nobody, which no one
    could tell from a live one, blocking the name until someone deletes it by hand."""
    lock = path + ".lock"
    holder = _holder().encode("ascii")
    tmp = f"{path}@lock-{os.getpid()}-{next(_counter)}"
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
    try:
        os.write(fd, holder)
        os.link(tmp, lock)  # FileExistsError while another process holds it
        return fd
    except OSError as e:
        os.close(fd)
        if isinstance(e, FileExistsError) or e.errno not in _NO_LINKS:
            raise
    except BaseException:
        os.close(fd)
        raise
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
    # A file system without hard links: create the lock in place, then name the holder.
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
    os.write(fd, holder)
    return fd


@contextmanager
def locked(path: str, timeout: float = LOCK_TIMEOUT) -> Iterator[_Lock]:
    """Hold ``path + '.lock'`` exclusively; yield a :class:`_Lock`.

    The lock file names its holder; a lock whose holder died (kill -9) is broken by
    the next process that wants it instead of blocking the name forever.
    """
    lock = path + ".lock"
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            fd = _create_lock(path)
            break
        except FileExistsError:
            if _stale(lock):
                with suppress(FileNotFoundError):
                    os.unlink(lock)
                continue
            if time.monotonic() > deadline:
                raise LockError(
                    f"{lock} is held by another mlver process; if none is running, "
                    "delete that file and try again") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    held = _Lock(path, fd)
    try:
        _drop_leftovers(path)
        yield held
    finally:
        os.close(fd)
        os.unlink(lock)


KEEP = object()  # what a change of :func:`update_file` returns to leave the file as it is


def update_file(path: str, change: Callable[[bytes | None], bytes | None | object],
                limit: int = REF_MAX) -> bool:
    """The compare-and-swap of a ref file in a folder (a local store, a folder remote):
    under ``path.lock``, ``change`` sees the file's bytes (None: absent) and returns its
    new bytes (written to a file of their own, fsynced, renamed over it), None to delete
    it, or :data:`KEEP` to leave it. True when the file changed.

    Every ref of a folder moves here: a name's ref, a tag, ``refs/pruned`` and
    ``refs/partial`` of the local store (:class:`Refs`), and every ref of a folder
    remote (:meth:`~mlver.store.remote_folder.LocalBackend.swap`)."""
    with locked(path) as lock:
        new = change(read_small(path, limit))
        if new is KEEP:
            return False
        if new is None:
            with suppress(FileNotFoundError):
                os.unlink(path)
            _fsync_dir(os.path.dirname(path))
        else:
            assert isinstance(new, bytes)
            lock.publish_bytes(new)
    return True


def parse_ref(data: bytes, what: str, fix: str) -> str:
    """The oid a ref file holds (one oid, white space around it allowed), for a local
    store's refs and a remote's alike; anything else is refused naming ``what`` and
    ``fix``."""
    try:
        value = data.decode("ascii").strip()
    except UnicodeDecodeError:
        value = ""
    if not is_oid(value):
        raise RecordFormatError(f"{what} does not hold an oid; {fix}")
    return value


def _read(path: str) -> str | None:
    return _value(path, read_small(path, REF_MAX))


def _value(path: str, data: bytes | None) -> str | None:
    if data is None:
        return None
    return parse_ref(data, f"ref {path}",
                     "restore it from a backup, or delete it to drop the name")


def _moving(path: str, old: str | None, new: bytes | None, seen: list[str | None],
            always: bool = False) -> Callable[[bytes | None], bytes | None | object]:
    """The change of :func:`update_file` that moves a ref from ``old`` to ``new`` (None:
    delete it; ``always``: whatever it holds), noting in ``seen`` what it found there."""
    def change(data: bytes | None) -> bytes | None | object:
        seen.append(_value(path, data))
        return new if always or seen[-1] == old else KEEP
    return change


def _parse_pruned(path: str, data: bytes) -> frozenset[str]:
    """The oids of a ``refs/pruned`` file; anything but one oid a line is refused."""
    try:
        lines = data.decode("ascii").split("\n")
    except UnicodeDecodeError:
        lines = ["(not ASCII)"]
    if lines[-1] == "":
        lines.pop()
    bad = next((ln for ln in lines if not is_oid(ln)), None)
    if bad is not None:
        raise RecordFormatError(
            f"{path} holds a line that is not a record oid ({bad[:40]!r}); restore it from a "
            "backup, or delete it (mlver verify then reports the data gc removed as missing)")
    return frozenset(lines)


def _drop_leftovers(path: str) -> None:
    """Remove ``<path>@new-PID`` files left by a writer killed before its rename (the lock
    is held, so no live writer owns one), and ``<path>@lock-PID-N`` files of processes
    killed while taking the lock."""
    d, base = os.path.split(path)
    for n in os.listdir(d):
        dead = n.startswith(base + "@new-")
        if n.startswith(base + "@lock-"):
            pid = n[len(base) + 6:].partition("-")[0]
            dead = pid.isdigit() and not _alive(int(pid))
        if dead:
            with suppress(FileNotFoundError):
                os.unlink(os.path.join(d, n))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        pass
    return True


class Refs:
    """Refs of one store."""

    def __init__(self, store_dir: str, read_only: bool = False, gc_roots: bool = True) -> None:
        self.store_dir = store_dir
        self.read_only = read_only
        # Remote-tracking refs (gc_roots False) are no roots of gc: no store lock for them.
        self.gc_roots = gc_roots
        self.names_dir = os.path.join(store_dir, "refs", "names")
        self.tags_dir = os.path.join(store_dir, "refs", "tags")

    def _writable(self) -> None:
        if self.read_only:
            raise ReadOnlyError(f"the store {self.store_dir} is open read-only; "
                                "no ref or tag can change through it")

    def _dir(self, rel: str, create: bool = False) -> str:
        # Every folder on the way must be real: a linked refs/tags/NAME would make a tag
        # write land anywhere on the disk.
        return check_dirs(self.store_dir, rel, create)

    def _list(self, d: str) -> list[str]:
        """Names of the regular files in folder ``d`` that are valid names."""
        check_dir(d)
        if not os.path.isdir(d):
            return []
        out = []
        for n in os.listdir(d):
            if valid_name(n):
                st = os.lstat(os.path.join(d, n))
                if stat.S_ISREG(st.st_mode):
                    out.append(n)
        return sorted(out)

    # -- records whose data gc dropped (refs/pruned) -----------------------------------------

    def _pruned_path(self) -> str:
        return os.path.join(self._dir(layout.REFS), PRUNED_FILE)

    def pruned(self) -> frozenset[str]:
        """The records whose data (the trees and blobs of their inputs and outputs)
        ``gc --keep-last`` dropped on purpose; their records and history stay."""
        path = self._pruned_path()
        data = read_small(path, PRUNED_MAX)
        return frozenset() if data is None else _parse_pruned(path, data)

    def add_pruned(self, oids: Iterable[str]) -> None:
        """Add record oids to ``refs/pruned``: under its lock, the whole sorted list is
        written to a new file, fsynced and renamed over the old one (a reader sees the old
        list or the new one, never a torn one)."""
        self._writable()
        new = set(oids)
        bad = next((o for o in sorted(new) if not is_oid(o)), None)
        if bad is not None:
            raise ValueError(f"{bad!r} is not an oid")
        path = os.path.join(self._dir(layout.REFS, create=True), PRUNED_FILE)

        def change(data: bytes | None) -> bytes | None | object:
            old = frozenset() if data is None else _parse_pruned(path, data)
            return KEEP if new <= old else oid_lines(old | new)
        update_file(path, change, PRUNED_MAX)

    # -- records pulled without their data (refs/partial) -------------------------------------

    def partial(self) -> frozenset[str]:
        """The records ``pull --no-data`` brought without their data: it is on a remote,
        fetched on demand; ``verify`` does not report it missing."""
        path = os.path.join(self._dir(layout.REFS), PARTIAL_FILE)
        data = read_small(path, PRUNED_MAX)
        return frozenset() if data is None else _parse_pruned(path, data)

    def change_partial(self, add: Iterable[str] = (), drop: Iterable[str] = ()) -> None:
        """Add records to ``refs/partial`` and drop others from it, under its lock (the
        whole list rewritten and renamed, as ``refs/pruned`` is)."""
        new, gone = set(add), set(drop)
        bad = next((o for o in sorted(new | gone) if not is_oid(o)), None)
        if bad is not None:
            raise ValueError(f"{bad!r} is not an oid")
        path = os.path.join(self._dir(layout.REFS, create=True), PARTIAL_FILE)

        def change(data: bytes | None) -> bytes | None | object:
            old = frozenset() if data is None else _parse_pruned(path, data)
            now = (old | new) - gone
            return KEEP if now == old else oid_lines(now)
        update_file(path, change, PRUNED_MAX)

    def tag_names(self) -> list[str]:
        """Every name that has a folder of tags (also a name whose ref is gone), sorted.

        A link in its place is listed too, so that :meth:`tags` refuses it by name rather
        than its tags being silently skipped."""
        d = self._dir(layout.TAGS)
        if not os.path.isdir(d):
            return []
        return sorted(n for n in os.listdir(d) if valid_name(n)
                      and not stat.S_ISREG(os.lstat(os.path.join(d, n)).st_mode))

    def get(self, name: str) -> str | None:
        """The oid of the latest record of ``name``, or None."""
        if not valid_name(name):
            return None
        return _read(os.path.join(self._dir(layout.NAMES), name))

    def names(self) -> list[str]:
        """Every name with a ref, sorted."""
        return self._list(self._dir(layout.NAMES))

    def update(self, name: str, new: str, old: str | None) -> None:
        """Point ``name`` at ``new`` if it still points at ``old`` (None: absent)."""
        self._writable()
        path = os.path.join(self._dir(layout.NAMES, create=True), name)
        seen: list[str | None] = []
        if not update_file(path, _moving(path, old, ref_bytes(new), seen)):
            raise RefConflictError(
                f"ref {name} moved from {old} to {seen[-1]} while writing; try again")

    def get_tag(self, name: str, tag: str) -> str | None:
        """The oid tagged ``tag`` for ``name``, or None."""
        if not (valid_name(name) and valid_name(tag)):
            return None
        return _read(os.path.join(self._dir(f"{layout.TAGS}/{name}"), tag))

    def tags(self, name: str) -> dict[str, str]:
        """Every tag of ``name``: tag -> oid."""
        if not valid_name(name):
            return {}
        d = self._dir(f"{layout.TAGS}/{name}")
        return {t: v for t in self._list(d) if (v := _read(os.path.join(d, t)))}

    def set_tag(self, name: str, tag: str, oid: str) -> str | None:
        """Point tag ``tag`` of ``name`` at ``oid``; return the oid it held before.

        Waits while gc runs (the store lock, shared): a tag is a root gc keeps, so it
        must not appear between gc reading the tags and gc deleting."""
        self._writable()
        from mlver.store import storelock

        path = os.path.join(self._dir(f"{layout.TAGS}/{name}", create=True), tag)
        writer = storelock.shared(self.store_dir) if self.gc_roots else None
        seen: list[str | None] = []
        try:
            update_file(path, _moving(path, None, ref_bytes(oid), seen, always=True))
        finally:
            storelock.release(writer)
        return seen[-1]

    def update_tag(self, name: str, tag: str, new: str, old: str | None) -> None:
        """Point tag ``tag`` of ``name`` at ``new`` if it still holds ``old`` (None: absent),
        as :meth:`update` does for a name; :class:`RefConflictError` otherwise."""
        from mlver.store import storelock

        path = os.path.join(self._dir(f"{layout.TAGS}/{name}", create=True), tag)
        writer = storelock.shared(self.store_dir) if self.gc_roots else None
        seen: list[str | None] = []
        try:
            if not update_file(path, _moving(path, old, ref_bytes(new), seen)):
                raise RefConflictError(f"tag {name}@{tag} moved from {old} to {seen[-1]} while "
                                       "writing; try again")
        finally:
            storelock.release(writer)

    def delete_name(self, name: str, old: str) -> None:
        """Remove the ref of ``name`` while it still holds ``old`` (compare-and-swap); the
        records stay. Used for remote-tracking refs only."""
        path = os.path.join(self._dir(layout.NAMES), name)
        seen: list[str | None] = []
        if not update_file(path, _moving(path, old, None, seen)):
            raise RefConflictError(f"ref {name} moved from {old} to {seen[-1]}; try again")

    def delete_tag(self, name: str, tag: str, old: str | None = None) -> str | None:
        """Delete tag ``tag`` of ``name``; return the oid it held, None when there was none.

        With ``old``, the tag is deleted only while it still holds ``old``
        (compare-and-swap): a tag moved or deleted meanwhile raises
        :class:`RefConflictError` and is left as it is. Only the tag's ref file goes;
        the record it named, and every other object, stay.
        """
        self._writable()
        current = None
        if valid_name(name) and valid_name(tag):
            d = self._dir(f"{layout.TAGS}/{name}")
            if os.path.isdir(d):
                path = os.path.join(d, tag)
                seen: list[str | None] = []

                def change(data: bytes | None) -> bytes | None | object:
                    seen.append(_value(path, data))
                    return None if seen[-1] is not None and old in (None, seen[-1]) else KEEP
                if update_file(path, change):
                    return seen[-1]
                current = seen[-1]
        if old is not None and current != old:
            raise RefConflictError(
                f"tag {name}@{tag} moved from {old} to {current} while deleting; try again")
        return None


def _fsync_dir(path: str) -> None:
    """Make a rename or unlink in folder ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
