"""Capture a folder at the cost of what changed, with a file-system monitor.

With ``mlver monitor on``, the last capture of a folder left in the index its tree and the
monitor's clock taken before it (:class:`~mlver.store.statcache.Monitored`). When watchman
names the paths below the folder that changed since that clock, capture does not walk:

- nothing changed: that capture's tree is the answer;
- some paths changed (at most :data:`mlver.core.monitor.MAX_NAMES`): the last tree is
  *patched*. Only the folders on the way to a changed path are read, from their trees in the
  store; only the changed paths are stat'ed (and hashed, unless the stat cache knows them);
  a new folder is walked. Unchanged entries and unchanged sub-folders keep their oids
  without a stat, so a snapshot after editing 1% of 100k files costs those 1,000 files and
  the trees above them, not 100k stats.

The answer is the walk's: the same entries, oids, sizes and exec bits, since watchman
reports every name created, deleted or written since the clock (its events, not mtimes,
so git's racy rule is not needed). Whatever it cannot vouch for (a tree not in the local
store, an error, too many names, a restarted daemon) makes the caller walk.
"""

from __future__ import annotations

import os
import stat as stat_mod
from typing import TYPE_CHECKING, Any

from mlver.base.errors import RecordFormatError
from mlver.base.hashing import oid_of
from mlver.base.paths import is_plain_name
from mlver.base.progress import Progress
from mlver.capture.files import (MAX_DEPTH, Captured, Filler, Item, check_utf8, link_oid,
                                 refuse_special, special, stored_flag, usable, walk_folder)
from mlver.store.statcache import StatCache
from mlver.store.trees import Row, decode_rows, encode_rows

if TYPE_CHECKING:  # pragma: no cover
    from mlver.store.batch import Batch  # a type here: status never loads the writer

MAX_COUNTED = 10_000_000  # entries read to count the files of a removed folder (bounded)


class _Fallback(Exception):
    """The patch cannot be made here: the caller walks."""


class _Dir:
    __slots__ = ("rows", "dirs", "items", "links")

    def __init__(self, rows: list[Row]) -> None:
        self.rows: dict[str, Row] = {r[0]: r for r in rows}  # unchanged entries
        self.dirs: dict[str, _Dir] = {}  # patched sub-folders
        self.items: list[Item] = []  # changed files (filled by the hashing)
        self.links: dict[str, str] = {}  # changed links: name -> target


def capture_monitored(root: str, rel: str, cache: StatCache, batch: Batch | None,
                      progress: Progress | None = None) -> tuple[Captured, int | None] | None:
    """The folder ``rel`` as the monitor lets capture find it without a walk, and the
    ``stored`` flag to remember it with as the base of the next capture (None: keep the
    current base); None when the folder must be walked."""
    hit = cache.monitored(rel)
    if hit is None or cache.monitor is None or not usable(batch, hit[1], hit[4]):
        return None
    names = cache.monitor.changed(rel, hit[0])
    if names is None:
        return None
    if not names:
        return Captured("tree", hit[1], hit[2], hit[3]), hit[4]
    try:
        got = _Patch(root, cache, batch).run(rel, hit[1], hit[3], names, progress)
    except _Fallback:
        return None
    # A capture that wrote its trees is the next base; one that did not (status, a diff
    # against the workspace) keeps the stored base, and the next one patches it again
    # with every change since: the cost stays what changed since the last snapshot.
    return got, (1 if stored_flag(batch) else None)


class _Patch:
    def __init__(self, root: str, cache: StatCache, batch: Batch | None) -> None:
        self.root, self.cache, self.batch = root, cache, batch
        self.items: list[Item] = []
        self.delta = 0  # files added less files removed

    def run(self, rel: str, base: str, count: int, names: list[str],
            progress: Progress | None) -> Captured:
        top = "" if rel in ("", ".") else rel
        trie: dict[str, Any] = {}
        for n in names:
            if n == top:
                continue  # the folder itself: its entries say what changed in it
            if top and not n.startswith(top + "/"):
                raise _Fallback
            parts = n[len(top) + 1 if top else 0:].split("/")
            if len(parts) > MAX_DEPTH or not all(is_plain_name(p) for p in parts):
                raise _Fallback
            d = trie
            for p in parts:
                d = d.setdefault(p, {})
        node = self._visit(top, base, trie)
        filler = Filler(self.root, self.cache, self.batch, folder_rows=False)
        try:
            filler.add(self.items)
        except BaseException:
            filler.abort()
            raise
        filler.finish(len(self.items), progress)
        oid, size = self._build(node)
        return Captured("tree", oid, size, count + self.delta)

    def _rows(self, oid: str) -> list[Row]:
        # (read_tree verifies the bytes against the oid, as every read of the store does)
        data = self.cache.read_tree(oid) if self.cache.read_tree is not None else None
        if data is None:
            raise _Fallback
        try:
            return decode_rows(data)
        except RecordFormatError:
            raise _Fallback from None

    def _visit(self, rel: str, oid: str, trie: dict[str, Any]) -> _Dir:
        node = _Dir(self._rows(oid))
        for name, below in trie.items():
            path = f"{rel}/{name}" if rel else name
            old = node.rows.pop(name, None)
            try:
                st = os.lstat(os.path.join(self.root, path))
            except (FileNotFoundError, NotADirectoryError):
                self.delta -= self._files(old)
                continue
            if not name.isascii():
                check_utf8(rel, name)
            mode = st.st_mode
            if stat_mod.S_ISDIR(mode):
                if old is not None and old[1] == "tree":
                    if below:
                        node.dirs[name] = self._visit(path, old[2], below)
                    else:  # the folder itself changed (its mode, its mtime), none of its names
                        node.rows[name] = old
                    continue
                cap = walk_folder(self.root, path, self.cache, self.batch)
                if cap.shared:
                    raise _Fallback  # a hard link: see walk_folder's caller
                node.rows[name] = (name, "tree", cap.oid, cap.size, False)
                self.delta += cap.files - self._files(old)
                continue
            self.delta += 1 - self._files(old)
            if stat_mod.S_ISREG(mode):
                if st.st_nlink > 1:
                    # another name of this file may be written with no event here: the
                    # walk finds it and leaves no base (see capture.path)
                    raise _Fallback
                item: Item = [name, path, (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
                                           st.st_ctime_ns), bool(mode & 0o111), None,
                              st.st_size]
                node.items.append(item)
                self.items.append(item)
            elif stat_mod.S_ISLNK(mode):
                node.links[name] = os.readlink(os.path.join(self.root, path))
            else:
                raise refuse_special(path, special(st) or "not a regular file")
        return node

    def _files(self, row: Row | None) -> int:
        """The files (and links) an old entry held: 1, or all below a folder."""
        if row is None:
            return 0
        if row[1] != "tree":
            return 1
        n, todo, seen = 0, [row[2]], 0
        while todo:
            rows = self._rows(todo.pop())
            seen += len(rows)
            if seen > MAX_COUNTED:
                raise _Fallback
            for r in rows:
                if r[1] == "tree":
                    todo.append(r[2])
                else:
                    n += 1
        return n

    def _build(self, node: _Dir) -> tuple[str, int]:
        rows = node.rows
        for name, child in node.dirs.items():
            oid, size = self._build(child)
            rows[name] = (name, "tree", oid, size, False)
        for item in node.items:
            rows[item[0]] = (item[0], "blob", item[4], item[5], item[3])
        for name, target in node.links.items():
            rows[name] = (name, "link", link_oid(target, self.batch),
                          len(os.fsencode(target)), False)
        ordered = sorted(rows.values(), key=lambda r: r[0])
        data = encode_rows(ordered)
        oid = self.batch.add_bytes(data) if self.batch is not None else oid_of(data)
        return oid, sum(r[3] for r in ordered)
