"""Files and folders -> blobs and nested trees, through the stat cache.

The walk stats every entry once; files whose stat matches the cache skip
hashing; the rest are hashed (and, when writing, copied into the store in the
same read) in a thread pool, since file reads and xxhash release the GIL.
Symlinks inside a folder are stored as links (their target text) and never
followed; a fifo, socket or device is refused by name.
"""

from __future__ import annotations

import os
import stat as stat_mod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..errors import CaptureError
from ..hashing import hash_file, oid_of
from ..store.objects import Batch
from ..store.statcache import StatCache, StatKey
from ..store.trees import encode_rows

SKIP_NAMES = frozenset({".git", ".mlver"})  # never content: the repos themselves
WORKERS = min(8, (os.cpu_count() or 2) * 2)
CHUNK_FILES = 256  # files per pool task: amortises scheduling over tiny files
PRELOAD_FILES = 2000  # above this, list the store once rather than stat each object


@dataclass(frozen=True)
class Captured:
    """The content at one path: its type, oid, total size and file count."""

    type: str
    oid: str
    size: int
    files: int


def _special(st: os.stat_result) -> str | None:
    mode = st.st_mode
    for test, word in ((stat_mod.S_ISFIFO, "a fifo"), (stat_mod.S_ISSOCK, "a socket"),
                       (stat_mod.S_ISCHR, "a character device"), (stat_mod.S_ISBLK, "a block device")):
        if test(mode):
            return word
    return None


def _refuse_special(rel: str, what: str) -> CaptureError:
    return CaptureError(
        f"'{rel}' is {what}; mlver stores only files, folders and symlinks, "
        "so move it out of the captured path")


class _Node:
    __slots__ = ("rel", "dirs", "files", "links")

    def __init__(self, rel: str) -> None:
        self.rel = rel
        self.dirs: list[tuple[str, _Node]] = []
        self.files: list[list] = []  # [name, rel, stat key, exec, oid, hashed size]
        self.links: list[tuple[str, str]] = []  # name, target


def _scan(root: str, rel: str) -> tuple[_Node, list[list]]:
    """Walk the folder ``root/rel`` once; return its node tree and a flat file list."""
    top = _Node(rel)
    stack = [top]
    files: list[list] = []
    while stack:
        node = stack.pop()
        full = os.path.join(root, node.rel)
        try:
            it = os.scandir(full)
        except PermissionError:
            raise CaptureError(f"cannot read folder '{node.rel}' (permission denied); "
                               "fix its permissions or leave it out") from None
        with it:
            for e in it:
                if e.name in SKIP_NAMES:
                    continue
                try:
                    e.name.encode("utf-8")
                except UnicodeEncodeError:
                    shown = os.fsencode(e.name).decode("utf-8", "backslashreplace")
                    raise CaptureError(
                        f"file name '{node.rel}/{shown}' is not valid UTF-8; records store "
                        "names as UTF-8 text, so rename it") from None
                erel = f"{node.rel}/{e.name}"
                if e.is_symlink():
                    node.links.append((e.name, os.readlink(e.path)))
                elif e.is_dir(follow_symlinks=False):
                    child = _Node(erel)
                    node.dirs.append((e.name, child))
                    stack.append(child)
                elif e.is_file(follow_symlinks=False):
                    st = e.stat(follow_symlinks=False)
                    # A plain tuple in StatKey's order: 100k of them per capture.
                    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                    item = [e.name, erel, key, bool(st.st_mode & 0o111), None, st.st_size]
                    node.files.append(item)
                    files.append(item)
                else:
                    raise _refuse_special(erel, _special(e.stat(follow_symlinks=False)) or "not a regular file")
    return top, files


def _hash_items(root: str, items: list[list], batch: Batch | None) -> None:
    for item in items:
        path = f"{root}/{item[1]}"
        try:
            if batch is not None:
                oid, size = batch.add_file(path)
            else:
                oid, size = hash_file(path)
        except FileNotFoundError:
            raise CaptureError(f"'{item[1]}' disappeared while it was being captured; "
                               "try again when nothing is writing to it") from None
        except PermissionError:
            raise CaptureError(f"cannot read '{item[1]}' (permission denied); "
                               "fix its permissions or leave it out") from None
        except IsADirectoryError:
            raise CaptureError(f"cannot read '{item[1]}' as a file; leave it out") from None
        except OSError as e:
            raise CaptureError(f"cannot read '{item[1]}' ({e.strerror}); "
                               "fix the file or leave it out") from None
        item[4] = oid
        item[5] = size  # what was hashed, should the file have changed since its stat


def _fill_oids(root: str, files: list[list], cache: StatCache, batch: Batch | None,
               progress=None) -> None:
    todo = []
    if batch is not None and len(files) > PRELOAD_FILES and hasattr(batch, "preload"):
        batch.preload()
    for item in files:
        oid = cache.lookup(item[1], item[2])
        # A cached oid is only good for a write if the object is really in the store.
        if oid is not None and (batch is None or batch.has(oid)):
            item[4] = oid
        else:
            todo.append(item)
    if progress:
        progress.total(len(files), len(files) - len(todo))
    if len(todo) <= CHUNK_FILES:
        _hash_items(root, todo, batch)
        if progress:
            progress.advance(len(todo))
    else:
        chunks = [todo[i:i + CHUNK_FILES] for i in range(0, len(todo), CHUNK_FILES)]
        pool = ThreadPoolExecutor(WORKERS)
        try:
            futures = [pool.submit(_hash_items, root, c, batch) for c in chunks]
            for f, c in zip(futures, chunks):
                f.result()
                if progress:
                    progress.advance(len(c))
        except BaseException:
            # Ctrl-C or a bad file: drop the queued chunks instead of finishing them.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    for item in todo:
        if item[5] == item[2][2]:  # a file that changed while read is not cached
            cache.remember(item[1], item[2], item[4])


def _link_oid(target: str, batch: Batch | None) -> str:
    data = os.fsencode(target)
    return batch.add_bytes(data) if batch is not None else oid_of(data)


def _build(node: _Node, batch: Batch | None) -> tuple[str, int, int]:
    """Trees bottom-up, as canonical bytes; returns (oid, total size, files below)."""
    rows = []
    count = total = 0
    for name, child in node.dirs:
        oid, size, n = _build(child, batch)
        rows.append((name, "tree", oid, size, False))
        count += n
        total += size
    for name, _rel, _key, exe, oid, size in node.files:
        rows.append((name, "blob", oid, size, exe))
        count += 1
        total += size
    for name, target in node.links:
        size = len(os.fsencode(target))
        rows.append((name, "link", _link_oid(target, batch), size, False))
        count += 1
        total += size
    rows.sort(key=lambda r: r[0])
    data = encode_rows(rows)
    return (batch.add_bytes(data) if batch is not None else oid_of(data)), total, count


def capture_path(root: str, rel: str, cache: StatCache, batch: Batch | None = None,
                 progress=None) -> Captured:
    """Capture ``root/rel`` (a file, folder or symlink); write objects when ``batch`` is given.

    A top-level symlink is followed (an input named by a link means its content);
    links inside a folder are stored as links.
    """
    full = os.path.join(root, rel)
    try:
        st = os.stat(full)
    except FileNotFoundError:
        raise CaptureError(f"path '{rel}' does not exist; check the path or create it first") from None
    except PermissionError:
        raise CaptureError(f"cannot access '{rel}' (permission denied); fix its permissions") from None
    except OSError as e:
        raise CaptureError(f"cannot access '{rel}' ({e.strerror}); check the path") from None
    cache.load(rel)
    if stat_mod.S_ISDIR(st.st_mode):
        node, files = _scan(root, rel)
        _fill_oids(root, files, cache, batch, progress)
        oid, size, count = _build(node, batch)
        return Captured("tree", oid, size, count)
    if stat_mod.S_ISREG(st.st_mode):
        item = [os.path.basename(rel), rel, StatKey.of(st), False, None, st.st_size]
        _fill_oids(root, [item], cache, batch, progress)
        return Captured("blob", item[4], item[5], 1)
    raise _refuse_special(rel, _special(st) or "not a regular file")
