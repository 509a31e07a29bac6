"""Bytes of a DVC project into the store, for ``mlver import-dvc``: from DVC's cache or git.

A DVC md5 names a content; :class:`Ingester` finds its bytes (the DVC cache, opened by a
checked md5 through folder descriptors without following links; or git at the commit,
for outputs with ``cache: false`` and data deps git holds), checks them against the md5,
hashes them into the store's batch, and remembers what each md5 names (in memory and in
the index's ``dvc-md5/1:…`` meta keys), so no byte is read twice. A ``.dir`` manifest
becomes the nested trees ``mlver snapshot`` would make of the folder, built in one linear
pass over its entries. Content whose bytes are not there is recorded *missing* by md5.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import posixpath
import stat
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

from mlver.core.params import MAX_FILE, parse_bytes
from mlver.base.errors import ParamsError, RecordFormatError
from mlver.core.record import Artifact, is_dvc_md5, missing_oid, missing_placeholder
from mlver.store import Store
from mlver.store.trees import check_name as check_entry_name
from mlver.store.trees import encode_rows
from mlver.capture.dvcfiles import Item, is_source

CONTENT_KEY = "dvc-md5/1"      # index meta: DVC md5 -> the content it names in the store
MAX_MANIFEST = 256 << 20       # bytes of a .dir manifest
MAX_MANIFEST_ENTRIES = 10_000_000
MAX_GIT_BYTES = 64 << 20       # bytes of one file read from git (cache: false, data deps)
IN_MEMORY = 64 << 20           # a cache file up to this size is read once, into memory
PRELOAD_FILES = 2000           # list the store once before ingesting more files than this
Row = tuple[str, str, str, int, bool]  # a tree entry: (name, type, oid, size, exec)


@dataclass(frozen=True)
class Content:
    """What an md5 names in the store: the blob or tree, its size and file count."""

    oid: str
    type: str
    size: int
    files: int

    def to_json(self) -> str:
        return json.dumps([self.oid, self.type, self.size, self.files])

    @classmethod
    def from_json(cls, text: str) -> Content | None:
        try:
            oid, typ, size, files = json.loads(text)
            return cls(str(oid), str(typ), int(size), int(files))
        except (ValueError, TypeError):
            return None


def read_fd(fd: int, limit: int) -> bytes | None:
    """Up to ``limit`` bytes of ``fd`` from its start; None when it holds more."""
    chunks = []
    total = 0
    while True:
        chunk = os.read(fd, min(1 << 24, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            return None
    return b"".join(chunks)


class Cache:
    """Read-only access to DVC's local cache: a file is opened only by a checked md5,
    through folder descriptors, never following a symbolic link, and only when regular."""

    def __init__(self, odbs: dict[str, Any]) -> None:
        self.odbs = odbs  # hash name -> DVC object database (``repo.cache.local``/``legacy``)
        self.roots: dict[str, int | None] = {}
        self.subs: dict[tuple[str, str], int | None] = {}
        self.refused: list[str] = []

    def close(self) -> None:
        for fd in [*self.roots.values(), *self.subs.values()]:
            if fd is not None:
                os.close(fd)
        self.roots, self.subs = {}, {}

    def _root(self, hash_name: str) -> int | None:
        if hash_name not in self.roots:
            odb = self.odbs.get(hash_name)
            fd = None
            if odb is not None:
                try:
                    fd = os.open(odb.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                except OSError:
                    fd = None
            self.roots[hash_name] = fd
        return self.roots[hash_name]

    def open(self, hash_name: str, md5: str) -> int | None:
        """A descriptor of the cache file of ``md5``, or None when it is not there."""
        if not is_dvc_md5(md5):
            return None
        root = self._root(hash_name)
        if root is None:
            return None
        odb = self.odbs[hash_name]
        # The layout is DVC's (oid_to_path); it must be the two parts of a checked md5.
        path = odb.oid_to_path(md5)
        if path != os.path.join(odb.path, md5[:2], md5[2:]):
            self.refused.append(f"{path} (not where DVC's layout puts md5 {md5})")
            return None
        key = (hash_name, md5[:2])
        if key not in self.subs:
            try:
                self.subs[key] = os.open(md5[:2], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
                                         | os.O_CLOEXEC, dir_fd=root)
            except OSError as e:
                if e.errno not in (errno.ENOENT, errno.ENOTDIR):  # just not cached
                    self.refused.append(f"{odb.path}/{md5[:2]} ({e.strerror})")
                self.subs[key] = None
        sub = self.subs[key]
        if sub is None:
            return None
        try:
            fd = os.open(md5[2:], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=sub)
        except FileNotFoundError:
            return None
        except OSError as e:
            self.refused.append(f"{path} ({e.strerror}; a symbolic link is never followed)")
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            self.refused.append(f"{path} (not a regular file)")
            return None
        return fd


def dir_md5(files: list[tuple[str, str]]) -> str:
    """DVC's md5 of a folder from ``(relpath, file md5)`` rows: the md5 of its manifest
    (``json.dumps`` of the rows sorted by path, keys sorted) and ``.dir``."""
    rows = sorted(({"md5": m, "relpath": p} for p, m in files), key=lambda r: r["relpath"])
    raw = json.dumps(rows, sort_keys=True).encode("utf-8")
    return hashlib.md5(raw, usedforsecurity=False).hexdigest() + ".dir"


def trees(add: Callable[[bytes], str], files: dict[tuple[str, ...], list[Row]],
          count: int) -> Content:
    """Trees bottom-up from ``{folder parts: [(name, type, oid, size, exec)]}`` (every
    folder holding a file is a key), each folder's subfolders found from a children map
    built once: linear in the number of folders, however many there are."""
    children: dict[tuple[str, ...], set[str]] = defaultdict(set)
    folders: set[tuple[str, ...]] = {()}
    for folder in files:
        for i in range(len(folder), 0, -1):
            if folder[:i] in folders:
                break
            folders.add(folder[:i])
            children[folder[:i - 1]].add(folder[i - 1])
    done: dict[tuple[str, ...], tuple[str, int]] = {}
    for folder in sorted(folders, key=len, reverse=True):
        rows = list(files.get(folder, ()))
        subs = children.get(folder)
        if subs or len(rows) > 1:
            names = {r[0] for r in rows}
            if len(names) != len(rows):
                raise ValueError(f"'{'/'.join(folder)[:200]}' lists a name twice")
            for sub in subs or ():
                if sub in names:
                    raise ValueError(f"'{'/'.join((*folder, sub))[:200]}' is both a file "
                                     "and a folder")
                oid, size = done.pop((*folder, sub))
                rows.append((sub, "tree", oid, size, False))
            rows.sort()  # names are unique: the order of the names
        done[folder] = (add(encode_rows(rows)), sum(r[3] for r in rows))
    oid, size = done[()]
    return Content(oid, "tree", size, count)


class Ingester:
    """What each DVC md5 names in the store, its bytes read at most once."""

    def __init__(self, store: Store, cache: Cache, d: dict[str, Any], repo: Any,
                 warn: Callable[[str], None]) -> None:
        self.store, self.cache, self.d, self.repo, self.warn = store, cache, d, repo, warn
        self.batch: Any = None  # the store batch new objects go to (set by the importer)
        self.memo: dict[tuple[str, str], Content] = {}
        self.absent: set[tuple[str, str]] = set()
        self.new_content: dict[tuple[str, str], Content] = {}
        self.missing: set[str] = set()
        self.listed: dict[str, dict[tuple[str, ...], tuple[str, str]]] = {}  # .dir -> files

    def artifact(self, item: Item, from_git: bool = False) -> Artifact:
        """``item`` as a record's artifact: its content in the store, or marked missing.
        ``from_git``: its bytes are git's at the commit the DVC repo is switched to."""
        assert item.md5 is not None
        found = self.content(item.hash_name, item.md5, item, from_git)
        if found is not None:
            return Artifact(path=item.path, oid=found.oid, type=found.type, size=found.size,
                            files=found.files, exec=found.type == "blob" and item.isexec)
        self.missing.add(item.md5)
        self.batch.add_bytes(missing_placeholder(item.md5))
        isdir = item.md5.endswith(".dir")
        return Artifact(path=item.path, oid=missing_oid(item.md5), type="blob",
                        size=max(0, item.size or 0),
                        files=max(0, item.nfiles or 0) if isdir else 1, missing=item.md5)

    def remembered(self, keys: list[tuple[str, str]]) -> None:
        """Fill the memo from the index for these (hash name, md5) keys, in one query."""
        want = [k for k in dict.fromkeys(keys) if k not in self.memo and k not in self.absent]
        if not want:
            return
        rows = self.store.index.get_meta_many(f"{CONTENT_KEY}:{h}:{m}" for h, m in want)
        for h, m in want:
            text = rows.get(f"{CONTENT_KEY}:{h}:{m}")
            found = Content.from_json(text) if text else None
            if found is not None and self.batch.has(found.oid):
                self.memo[(h, m)] = found

    def content(self, hash_name: str, md5: str, item: Item | None = None,
                from_git: bool = False) -> Content | None:
        """What ``md5`` names, hashed into the store; None when its bytes are not here."""
        key = (hash_name, md5)
        if key not in self.memo and key not in self.absent:
            self.remembered([key])
        found = self.memo.get(key)
        if found is not None:
            return found
        if key not in self.absent:
            found = self._ingest_dir(hash_name, md5) if md5.endswith(".dir") else \
                self._ingest_file(hash_name, md5)
            if found is None:
                self.absent.add(key)
        if found is None and item is not None and (from_git or not item.cached):
            found = self._git_folder(item) if md5.endswith(".dir") else self._from_git(item)
        if found is not None:
            self.memo[key] = found
            self.new_content[key] = found
        return found

    def verified(self, data: bytes, hash_name: str, md5: str) -> bool:
        """True when ``data`` hashes to ``md5`` the way DVC hashed it (``hash_name``)."""
        return self._md5(data, hash_name) == md5

    def _md5(self, data: bytes, hash_name: str) -> str:
        if hash_name == "md5":
            return hashlib.md5(data, usedforsecurity=False).hexdigest()
        return str(self.d["fobj_md5"](io.BytesIO(data), name=hash_name))

    def _ingest_file(self, hash_name: str, md5: str) -> Content | None:
        fd = self.cache.open(hash_name, md5)
        if fd is None:
            return None
        try:
            size = os.fstat(fd).st_size
            if size <= IN_MEMORY:
                data = read_fd(fd, IN_MEMORY)
                if data is None or not self.verified(data, hash_name, md5):
                    self._damaged(hash_name, md5)
                    return None
                return Content(self.batch.add_bytes(data), "blob", len(data), 1)
            with os.fdopen(os.dup(fd), "rb") as f:
                ok = self.d["fobj_md5"](f, name=hash_name) == md5
            if not ok:
                self._damaged(hash_name, md5)
                return None
            proc = f"/proc/self/fd/{fd}"
            path = proc if os.path.exists(proc) else self.cache.odbs[hash_name].oid_to_path(md5)
            oid, n = self.batch.add_file(path)
            return Content(oid, "blob", n, 1)
        finally:
            os.close(fd)

    def _damaged(self, hash_name: str, md5: str) -> None:
        self.warn(f"the DVC cache file of md5 {md5} does not hash to its md5 (damaged); it is "
                  "recorded as missing (dvc fetch can restore it)")

    # -- git ---------------------------------------------------------------------------------

    def git_bytes(self, fs_path: str, limit: int) -> bytes | None:
        """The bytes of a file at the commit the DVC repo is switched to; None when it is
        not a file there or holds more than ``limit`` bytes."""
        fs = self.repo.fs
        try:
            if not fs.isfile(fs_path):
                return None
            size = fs.size(fs_path)
            if size is None or size > limit:
                return None
            with fs.open(fs_path, "rb") as f:
                data = f.read(limit + 1)
        except (OSError, self.d["DvcException"]):
            return None
        return data if len(data) <= limit else None

    def _from_git(self, item: Item) -> Content | None:
        data = self.git_bytes(item.fs_path, MAX_GIT_BYTES)
        if data is None or item.md5 is None:
            return None
        if not self.verified(data, item.hash_name, item.md5):
            self.warn(f"{item.path} in git does not hash to the md5 DVC recorded for it "
                      f"({item.md5}): the lock is older than the file; it is recorded as "
                      "missing")
            return None
        return Content(self.batch.add_bytes(data), "blob", len(data), 1)

    def git_files(self, fs_path: str) -> list[str] | None:
        """The files under the folder ``fs_path`` at the switched commit (DVC's paths), at
        most :data:`MAX_MANIFEST_ENTRIES`; None when it is not a folder there."""
        fs = self.repo.fs
        try:
            if not fs.isdir(fs_path):
                return None
            out = []
            for path in fs.find(fs_path):
                out.append(path)
                if len(out) > MAX_MANIFEST_ENTRIES:
                    return None
            return out
        except (OSError, self.d["DvcException"]):
            return None

    def is_code_folder(self, fs_path: str) -> bool:
        """True when most files of the folder ``fs_path`` in git are source files."""
        files = self.git_files(fs_path)
        if not files:
            return False
        return 2 * sum(1 for f in files if is_source(f)) >= len(files)

    def _git_folder(self, item: Item) -> Content | None:
        """A folder git holds at the switched commit, as trees of the store, when its files
        hash to the folder md5 DVC recorded; None (with a warning) otherwise."""
        fs = self.repo.fs
        paths = self.git_files(item.fs_path)
        if paths is None or item.md5 is None:
            return None
        files: dict[tuple[str, ...], list[Row]] = defaultdict(list)
        sums = []
        for p in paths:
            rel = fs.relpath(p, item.fs_path).replace(os.sep, "/")
            parts = tuple(rel.split("/"))
            try:
                for part in parts:
                    check_entry_name(part)
            except RecordFormatError:
                return None
            data = self.git_bytes(p, MAX_GIT_BYTES)
            if data is None:
                return None
            sums.append((rel, self._md5(data, item.hash_name)))
            files[parts[:-1]].append((parts[-1], "blob", self.batch.add_bytes(data), len(data),
                                      False))
        if dir_md5(sums) != item.md5:
            self.warn(f"{item.path} in git does not hash to the md5 DVC recorded for it "
                      f"({item.md5}): the lock is older than the folder; it is recorded as "
                      "missing")
            return None
        try:
            return trees(self.batch.add_bytes, files, len(sums))
        except ValueError:
            return None

    # -- metrics ---------------------------------------------------------------------------

    def metrics_in(self, outs: tuple[Item, ...], path: str, sha: str,
                   plot: bool) -> dict[str, Any] | None:
        """The values of a file of dvc.yaml's top-level ``metrics:`` (or ``plots:``) that
        is, or lies inside, an output of the stage. A plots file that holds no mapping of
        values (a table, an image) is left out without a word: plots are often tables."""
        out = next((o for o in outs if o.path == path), None)
        if out is not None:
            return self.metrics(out, sha, quiet=plot)
        folder = next((o for o in outs if path.startswith(o.path + "/")), None)
        raw = self.file_in(folder, path, MAX_FILE) if folder is not None else None
        if raw is None:
            if not plot:
                self.warn(f"metrics file {path} is neither in git nor in the DVC cache at "
                          f"commit {sha[:7]}; its metrics are left out")
            return None
        try:
            return parse_bytes(raw, posixpath.splitext(path)[1].lower(), path)
        except ParamsError as e:
            if not plot:
                self.warn(f"metrics of commit {sha[:7]} left out: {e}")
            return None

    def metrics(self, o: Item, sha: str, quiet: bool = False) -> dict[str, Any] | None:
        """The values of a metrics file at commit ``sha`` (the DVC repo is switched there):
        from the DVC cache when DVC caches it, else from git; None (with a warning unless
        ``quiet``) when neither has it or it does not parse."""
        raw = None
        if o.cached and o.md5 and not o.md5.endswith(".dir"):
            fd = self.cache.open(o.hash_name, o.md5)
            if fd is not None:
                try:
                    raw = read_fd(fd, MAX_FILE)
                finally:
                    os.close(fd)
        if raw is None:
            raw = self.git_bytes(o.fs_path, MAX_FILE)
        if raw is None:
            if not quiet:
                self.warn(f"metrics file {o.path} is neither in git nor in the DVC cache at "
                          f"commit {sha[:7]}; its metrics are left out")
            return None
        try:
            return parse_bytes(raw, posixpath.splitext(o.path)[1].lower(), o.path)
        except ParamsError as e:
            if not quiet:
                self.warn(f"metrics of commit {sha[:7]} left out: {e}")
            return None

    # -- folders -----------------------------------------------------------------------------

    def manifest(self, hash_name: str,
                 md5: str) -> list[tuple[tuple[str, ...], str, str, bool]] | None:
        """The entries ``(parts, hash name, md5, exec)`` of the cached ``.dir`` manifest
        ``md5``; None (with a warning when it is unreadable) when it is not usable."""
        fd = self.cache.open(hash_name, md5)
        if fd is None:
            return None
        try:
            raw = read_fd(fd, MAX_MANIFEST)
        finally:
            os.close(fd)
        if raw is None:
            self.warn(f"the DVC manifest {md5} is larger than {MAX_MANIFEST >> 20} MiB; its "
                      "folder is recorded as missing")
            return None
        if hashlib.md5(raw, usedforsecurity=False).hexdigest() + ".dir" != md5:
            self._damaged(hash_name, md5)
            return None
        try:
            listing = json.loads(raw)
            if not isinstance(listing, list) or len(listing) > MAX_MANIFEST_ENTRIES:
                raise ValueError("not a list of at most "
                                 f"{MAX_MANIFEST_ENTRIES:,} entries")
            # DVC's manifest rows ({"md5", "relpath"}, optionally "isexec"), read directly:
            # dvc_data's Tree.from_list builds a Meta per row, a third of the import time
            # of a large folder. md5-dos2unix caches (DVC 2) name their md5 "md5" too.
            name = "md5-dos2unix" if hash_name == "md5-dos2unix" else "md5"
            entries = []
            for row in listing:
                if not isinstance(row, dict):
                    raise ValueError("an entry is not a mapping")
                rel, m = row.get("relpath"), row.get("md5")
                if not isinstance(rel, str) or not rel:
                    raise ValueError("an entry has no relpath")
                if not isinstance(m, str) or not is_dvc_md5(m) or m.endswith(".dir"):
                    raise ValueError(f"entry {rel[:200]!r} has no file md5")
                parts = tuple(rel.split("/"))
                for part in parts:
                    check_entry_name(part)
                entries.append((parts, name, m, row.get("isexec") is True))
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError,
                RecordFormatError) as e:
            why = "nested too deep" if isinstance(e, RecursionError) else str(e)[:200]
            self.warn(f"the DVC manifest {md5} cannot be read ({why}); its folder is "
                      "recorded as missing")
            return None
        return entries

    def _ingest_dir(self, hash_name: str, md5: str) -> Content | None:
        """A ``.dir`` manifest as a tree of the store, every file of it from the cache;
        None when the manifest or any of its files is missing."""
        entries = self.manifest(hash_name, md5)
        if entries is None:
            return None
        if len(entries) > PRELOAD_FILES:
            self.batch.preload()
        self.remembered([(h, m) for _p, h, m, _x in entries])
        files: dict[tuple[str, ...], list[Row]] = defaultdict(list)  # folder -> rows
        absent = 0
        for parts, h, m, isexec in entries:
            found = self.content(h, m)
            if found is None:
                absent += 1
                continue
            files[parts[:-1]].append((parts[-1], "blob", found.oid, found.size, isexec))
        if absent:
            self.warn(f"{absent:,} of the {len(entries):,} files of the DVC folder {md5} are "
                      "missing from the DVC cache; the folder is recorded as missing")
            return None
        try:
            return trees(self.batch.add_bytes, files, len(entries))
        except ValueError as e:
            self.warn(f"the DVC manifest {md5} is not a valid folder ({e}); it is recorded as "
                      "missing")
            return None

    def file_in(self, item: Item, path: str, limit: int) -> bytes | None:
        """The bytes of ``path`` (root-relative) inside the output folder ``item`` at the
        switched commit: from git, else from the folder's manifest in the DVC cache."""
        rel = posixpath.relpath(path, item.path)
        data = self.git_bytes(self.repo.fs.join(item.fs_path, *rel.split("/")), limit)
        if data is not None or not item.md5 or not item.md5.endswith(".dir"):
            return data
        if item.md5 not in self.listed:
            if len(self.listed) >= 4:  # the folders of one stage's metrics, not every folder
                self.listed.clear()
            entries = self.manifest(item.hash_name, item.md5) or []
            self.listed[item.md5] = {parts: (h, m) for parts, h, m, _x in entries}
        found = self.listed[item.md5].get(tuple(rel.split("/")))
        if found is None:
            return None
        fd = self.cache.open(*found)
        if fd is None:
            return None
        try:
            data = read_fd(fd, limit)
        finally:
            os.close(fd)
        return data if data is not None and self.verified(data, *found) else None
