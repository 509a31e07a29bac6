"""Files and folders -> blobs and nested trees, through the stat cache.

The walk stats every entry once; a folder whose entries' stats are all as cached (its
signature, see :func:`_signature`) reuses its tree oid, with no per-file lookup and no tree
built, when every folder below it does too; files whose stat matches the cache skip
hashing; the rest are hashed (and, when writing, copied into the store in the
same read) in a thread pool, since file reads and xxhash release the GIL.
Symlinks inside a folder are stored as links (their target text) and never
followed; a fifo, socket or device is refused by name.
"""

from __future__ import annotations

import errno
import marshal
import os
import stat as stat_mod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlver.base.errors import CaptureError
from mlver.base.hashing import hash_file, oid_of
from mlver.base.paths import not_utf8
from mlver.base.progress import Progress
from mlver.core.workspace import MemoryBatch
from mlver.store.index import FolderRow
from mlver.store.statcache import StatCache, StatKey
from mlver.store.trees import encode_rows

if TYPE_CHECKING:  # pragma: no cover
    from mlver.store.batch import Batch  # a type here: status never loads the writer
    from concurrent.futures import Future, ThreadPoolExecutor

SKIP_NAMES = frozenset({".git", ".mlver"})  # never content: the repos themselves
MAX_DEPTH = 256  # folder levels below a captured path (deeper is refused, never a crash)
# Reads of a cold disk wait on I/O, not on the CPU: more threads keep more reads in flight.
WORKERS = min(16, (os.cpu_count() or 2) * 8)
CHUNK_FILES = 256  # files per pool task: amortises scheduling over tiny files
PRELOAD_FILES = 2000  # above this, list the store once rather than stat each object
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Captured:
    """The content at one path: its type, oid, total size and file count."""

    type: str
    oid: str
    size: int
    files: int
    exec: bool = False  # a single file's exec bit (a folder's are in its trees)
    # a file below has other hard links: a write through another name changes it with no
    # event under this folder, so a file-system monitor cannot vouch for it
    shared: bool = False
    # the tree is a folder row a writing capture left (reused whole by a walk that wrote
    # nothing): it and every object below it are in the store. Where a capture found its
    # answer, not what the content is: not compared.
    stored: bool = field(default=False, compare=False)


# One file found by a walk, filled in place (a list, not a dataclass: 100k of them a
# capture): [name, rel, stat key, exec, oid (None until hashed), hashed size].
Item = list[Any]


def special(st: os.stat_result) -> str | None:
    """What a non-file, non-folder, non-link entry is (\"a fifo\"…), or None."""
    mode = st.st_mode
    for test, word in ((stat_mod.S_ISFIFO, "a fifo"), (stat_mod.S_ISSOCK, "a socket"),
                       (stat_mod.S_ISCHR, "a character device"),
                       (stat_mod.S_ISBLK, "a block device")):
        if test(mode):
            return word
    return None


def refuse_special(rel: str, what: str) -> CaptureError:
    """The error for an entry mlver does not store (``what``: see :func:`special`)."""
    return CaptureError(
        f"'{rel}' is {what}; mlver stores only files, folders and symlinks, "
        "so move it out of the captured path")


def check_utf8(folder: str, name: str) -> None:
    """Refuse a file name that is not valid UTF-8 (records store names as UTF-8 text)."""
    shown = not_utf8(name)
    if shown is not None:
        raise CaptureError(f"file name '{folder}/{shown}' is not valid UTF-8; records store "
                           "names as UTF-8 text, so rename it")


class _Node:
    __slots__ = ("rel", "dirs", "files", "links", "sig", "held", "reuse", "shared")

    def __init__(self, rel: str) -> None:
        self.rel = rel
        self.dirs: list[tuple[str, _Node]] = []
        self.files: list[Item] = []  # [name, rel, stat key, exec, oid, hashed size]
        self.links: list[tuple[str, str]] = []  # name, target
        self.sig = ""  # see _signature
        self.held = False  # files not yet looked up: the folder may be reused whole
        self.reuse: FolderRow | None = None  # the cached row whose tree oid it reuses
        self.shared = False  # a file in it (or, on the top node, below it) is hard-linked


def _signature(node: _Node) -> str:
    """What the folder's own entries are, as far as its tree is concerned: names, stat
    keys and exec bits of its files, link targets, the names of its sub-folders. Equal
    signatures (and equal sub-folders, checked one level down) mean an equal tree, as an
    equal stat means an equal file (the racy rule of store/statcache.py applies). marshal
    is the cheapest stable encoding of these lists (~0.2 us an entry); version 2, which
    writes no back-references, so that equal lists give equal bytes whatever else holds
    their items (version 3 and later mark objects by their reference count)."""
    return oid_of(marshal.dumps((node.files, node.links, [n for n, _ in node.dirs]), 2))


def _row_sig(node: _Node, child_oids: list[str]) -> str:
    """The signature a folder row is kept under: the folder's own (:func:`_signature`) and,
    after a "/", a digest of its sub-folders' tree oids. A row is reused only when its
    sub-folders are what they were when it was written: a capture of a sub-folder alone
    (another name's, or a new folder a monitored patch walks) rewrites that sub-folder's
    row but not its parents', whose own signature (names only) still matches."""
    if not child_oids:
        return node.sig
    return node.sig + "/" + oid_of(",".join(child_oids).encode())


def _scan_dir(root: str, node: _Node, top: bool = False) -> tuple[_Node, list[_Node]]:
    """Read one folder into ``node``; return it and its sub-folders (to read next). The
    ``top`` folder (the captured path) may be a link to a folder, as a captured path may."""
    children: list[_Node] = []
    full = os.path.join(root, node.rel)
    try:
        # Through the folder's descriptor, each entry's lstat resolves one name, not every
        # component of its full path again (15% of a warm walk's time); O_NOFOLLOW: a
        # folder swapped for a link since its parent was read is refused, never followed.
        fd = os.open(full, _DIR_FLAGS & ~os.O_NOFOLLOW if top else _DIR_FLAGS)
    except PermissionError:
        raise CaptureError(f"cannot read folder '{node.rel}' (permission denied); "
                           "fix its permissions or leave it out") from None
    except OSError as e:
        if e.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        raise CaptureError(f"'{node.rel}' stopped being a folder while it was captured; "
                           "try again when nothing is writing to it") from None
    try:
        _read_entries(fd, node, children)
    finally:
        os.close(fd)
    node.sig = _signature(node)  # before any oid is filled in
    return node, children


def _read_entries(fd: int, node: _Node, children: list[_Node]) -> None:
    """The entries of the folder open as ``fd`` into ``node``; its sub-folders into
    ``children``."""
    S_ISDIR, S_ISLNK = stat_mod.S_ISDIR, stat_mod.S_ISLNK
    prefix = node.rel + "/"
    add = node.files.append
    # The loop body runs once per file (100k a status): no function call it can spare.
    with os.scandir(fd) as it:
        for e in it:
            name = e.name
            if name in SKIP_NAMES:
                continue
            if not name.isascii():
                check_utf8(node.rel, name)
            # One lstat per entry answers everything (and files need it for the cache).
            st = e.stat(follow_symlinks=False)
            mode = st.st_mode
            if mode & 0o170000 == 0o100000:  # stat.S_ISREG, inline
                size = st.st_size
                # A plain tuple in StatKey's order: 100k of them per capture.
                add([name, prefix + name, (st.st_dev, st.st_ino, size, st.st_mtime_ns,
                                           st.st_ctime_ns), mode & 0o111 != 0, None, size])
                if st.st_nlink > 1:  # hard-linked: see Captured.shared
                    node.shared = True
                continue
            erel = prefix + name
            if S_ISDIR(mode):
                child = _Node(erel)
                node.dirs.append((name, child))
                children.append(child)
            elif S_ISLNK(mode):
                node.links.append((name, os.readlink(name, dir_fd=fd)))
            else:
                raise refuse_special(erel, special(st) or "not a regular file")


def _scan(root: str, rel: str,
          on_files: Callable[[list[Item]], None] | None = None,
          cache: StatCache | None = None) -> tuple[_Node, list[Item]]:
    """Walk the folder ``root/rel`` once; return its node tree and a flat file list.

    ``on_files(items)`` gets each folder's files as soon as it is read, so hashing starts
    while the walk goes on, except a folder whose signature ``cache`` knows: its files
    are held until :func:`_settle` knows whether the whole folder is reused. (Reading
    folders from several threads was measured: no faster on a cold disk, whose inode reads
    come in batches anyway; nor was a native walker, scandir-rs, which builds a Python
    object per entry: 0.57 s against 0.34 s for 100k files, warm.)
    """
    top = _Node(rel)
    stack = [top]
    files: list[Item] = []
    base = rel.count("/")
    while stack:
        node = stack.pop()
        node, children = _scan_dir(root, node, node is top)
        if children and children[0].rel.count("/") - base > MAX_DEPTH:
            raise CaptureError(f"folders under '{rel}' nest deeper than {MAX_DEPTH} levels "
                               f"(at '{children[0].rel[:200]}…'); mlver captures at most "
                               f"{MAX_DEPTH} levels, so move or leave out the deep part")
        stack += children
        if node.shared:
            top.shared = True
        if node.files:
            files += node.files
            if cache is not None and cache.folder(node.rel, node.sig, own=True) is not None:
                node.held = True
            elif on_files is not None:
                on_files(node.files)
    return top, files


def stored_flag(batch: Batch | None) -> int:
    """1 when a capture writes its objects into the store (not a MemoryBatch's overlay)."""
    return int(batch is not None and not isinstance(batch, MemoryBatch))


def usable(batch: Batch | None, oid: str, stored: int) -> bool:
    """Whether a capture may reuse a tree another capture found: any, when it writes
    nothing; only a stored one (and, for a real batch, one the store has) when it writes."""
    return batch is None or (stored == 1 and (isinstance(batch, MemoryBatch)
                                              or batch.has(oid)))


def _settle(node: _Node, cache: StatCache, batch: Batch | None,
            add: Callable[[list[Item]], None]) -> bool:
    """Bottom-up: reuse the cached tree of each folder whose signature and sub-folders are
    unchanged; hand the held files of the others to ``add``. A capture that writes needs a
    row made by a capture that wrote (``stored``): its tree, and all below, are in the
    store (gc forgets every row before it deletes anything)."""
    children = [_settle(child, cache, batch, add) for _, child in node.dirs]
    row = None
    if all(children):
        below = [child.reuse[2] for _, child in node.dirs if child.reuse is not None]
        row = cache.folder(node.rel, _row_sig(node, below))
    if row is not None and usable(batch, row[2], row[5]):
        node.reuse = row
        return True
    if node.held:
        node.held = False
        add(node.files)
    return False


def _hash_items(root: str, items: list[Item], batch: Batch | None) -> None:
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
            if e.errno in (errno.ENOSPC, errno.EDQUOT):  # writing the copy, not reading
                raise CaptureError(f"no space left on the device holding .mlver while storing "
                                   f"'{item[1]}'; free some space and run again (nothing was "
                                   "recorded)") from None
            raise CaptureError(f"cannot read '{item[1]}' ({e.strerror}); "
                               "fix the file or leave it out") from None
        item[4] = oid
        item[5] = size  # what was hashed, should the file have changed since its stat


class Filler:
    """Looks files up in the stat cache and hashes (and stages) the rest in a thread pool,
    chunk by chunk as the walk finds them: the walk and the reads overlap."""

    def __init__(self, root: str, cache: StatCache, batch: Batch | None,
                 folder_rows: bool = True) -> None:
        self.root, self.cache, self.batch = root, cache, batch
        # False: look each file's row up alone (a few changed files in big folders)
        self.folder_rows = folder_rows
        self.todo: list[Item] = []
        self.pending: list[Item] = []
        self.seen = 0
        self.pool: ThreadPoolExecutor | None = None
        self.futures: list[tuple[Future[None], int]] = []

    def add(self, items: list[Item]) -> None:
        cache, batch = self.cache, self.batch
        # the rows of this folder's files only, when they are first needed: a folder
        # reused whole costs none, and a change deep down does not load 100k rows
        if self.folder_rows:
            cache.load_dir(items[0][1].rpartition("/")[0] if items else "")
        self.seen += len(items)
        if (batch is not None and self.seen > PRELOAD_FILES and hasattr(batch, "preload")):
            batch.preload()  # once: one listing beats a lookup per object from here on
        for item in items:
            oid = cache.lookup(item[1], item[2])
            # A cached oid is only good for a write if the object is really in the store.
            if oid is not None and (batch is None or batch.has(oid)):
                item[4] = oid
            else:
                self.todo.append(item)
                self.pending.append(item)
        while len(self.pending) >= CHUNK_FILES:
            self._submit(self.pending[:CHUNK_FILES])
            self.pending = self.pending[CHUNK_FILES:]

    def _submit(self, chunk: list[Item]) -> None:
        if self.pool is None:
            # imported here: a capture with nothing to hash (the git hooks, an unchanged
            # status) never pays for concurrent.futures and logging
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(WORKERS)
        self.futures.append((self.pool.submit(_hash_items, self.root, chunk, self.batch),
                             len(chunk)))

    def finish(self, total: int, progress: Progress | None = None) -> None:
        if progress:
            progress.total(total, total - len(self.todo))
        try:
            if self.pending:
                if self.pool is None:  # few files: no threads needed
                    _hash_items(self.root, self.pending, self.batch)
                    if progress:
                        progress.advance(len(self.pending))
                else:
                    self._submit(self.pending)
                self.pending = []
            for f, n in self.futures:
                f.result()
                if progress:
                    progress.advance(n)
        except BaseException:
            # Ctrl-C or a bad file: drop the queued chunks instead of finishing them.
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
            raise
        if self.pool is not None:
            self.pool.shutdown(wait=True)
        for item in self.todo:
            if item[5] == item[2][2]:  # a file that changed while read is not cached
                self.cache.remember(item[1], item[2], item[4])

    def abort(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def _fill_oids(root: str, files: list[Item], cache: StatCache, batch: Batch | None,
               progress: Progress | None = None) -> None:
    filler = Filler(root, cache, batch)
    try:
        filler.add(files)
    except BaseException:
        filler.abort()
        raise
    filler.finish(len(files), progress)


def link_oid(target: str, batch: Batch | None) -> str:
    """The oid of a symlink's target text (stored when ``batch`` is given)."""
    data = os.fsencode(target)
    return batch.add_bytes(data) if batch is not None else oid_of(data)


def _build(node: _Node, batch: Batch | None, cache: StatCache) -> tuple[str, int, int]:
    """Trees bottom-up, as canonical bytes; returns (oid, total size, files below). A
    folder :func:`_settle` reused is not built; a built one is remembered by signature."""
    if node.reuse is not None:
        return node.reuse[2], node.reuse[3], node.reuse[4]
    rows = []
    below = []
    count = total = 0
    for name, child in node.dirs:
        oid, size, n = _build(child, batch, cache)
        below.append(oid)
        rows.append((name, "tree", oid, size, False))
        count += n
        total += size
    for name, _rel, _key, exe, oid, size in node.files:
        rows.append((name, "blob", oid, size, exe))
        count += 1
        total += size
    for name, target in node.links:
        size = len(os.fsencode(target))
        rows.append((name, "link", link_oid(target, batch), size, False))
        count += 1
        total += size
    rows.sort(key=lambda r: r[0])
    data = encode_rows(rows)
    oid = batch.add_bytes(data) if batch is not None else oid_of(data)
    # a file that changed while it was read (hashed size is not its stat's) is no base
    if all(item[5] == item[2][2] for item in node.files):
        newest = max((max(item[2][3], item[2][4]) for item in node.files), default=0)
        # a walk that writes nothing but finds the tree a writing capture stored keeps
        # saying so: the next capture (a snapshot patching from a monitor's base) may use it
        stored = stored_flag(batch) or int(cache.stored_tree(node.rel, oid))
        cache.remember_folder((node.rel, _row_sig(node, below), oid, total, count, stored),
                              newest)
    return oid, total, count


def walk_folder(root: str, rel: str, cache: StatCache, batch: Batch | None = None,
                progress: Progress | None = None) -> Captured:
    """Capture the folder ``root/rel`` by walking it (see the module doc)."""
    cache.load_folders(rel)
    filler = Filler(root, cache, batch)
    try:
        node, files = _scan(root, rel, filler.add, cache)
        _settle(node, cache, batch, filler.add)
    except BaseException:
        filler.abort()
        raise
    filler.finish(len(files), progress)
    oid, size, count = _build(node, batch, cache)
    stored = node.reuse[5] == 1 if node.reuse is not None else cache.stored_tree(rel, oid)
    return Captured("tree", oid, size, count, shared=node.shared, stored=stored)


def capture_file(root: str, rel: str, st: os.stat_result, cache: StatCache,
                 batch: Batch | None = None, progress: Progress | None = None) -> Captured:
    """Capture the regular file ``root/rel`` whose stat is ``st``."""
    item: Item = [os.path.basename(rel), rel, StatKey.of(st), False, None, st.st_size]
    _fill_oids(root, [item], cache, batch, progress)
    return Captured("blob", item[4], item[5], 1, bool(st.st_mode & 0o111))
