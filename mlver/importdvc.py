"""``mlver import-dvc``: a DVC project's git history as mlver records, incrementally.

The walk follows ``git log --topo-order --reverse`` over a range (default ``HEAD``). At
each commit that changed a DVC file (``dvc.yaml``, ``dvc.lock``, a ``.dvc`` file) against
its first parent, DVC's own code reads the changed files at that commit
(``dvc.repo.Repo`` switched to it with ``dvc.repo.brancher.switch``, stages loaded with
``dvc.dvcfile.load_file``). A stage, or an output tracked by a ``.dvc`` file, whose
recorded hashes (deps, outs, params, command) differ from the first parent's gets a new
version of its name; every other name is left alone.

Bytes come from the DVC cache (the object databases of ``repo.cache``, paths from their
``oid_to_path``, ``.dir`` manifests parsed by ``dvc_data``'s ``Tree.from_list``), checked
against their md5 and hashed into the store. The md5 -> content map is kept in the
index (``meta`` keys ``dvc-md5/1:…``), so a second import reads no byte it read before.
Content whose bytes are not there is recorded *missing* by md5 (see
:func:`mlver.record.missing_placeholder`). Commits already imported are remembered
(``dvc-import/1:…`` keys); without those (a rebuilt index) the walk reads every commit
again and writes nothing twice, since a name never gets two versions of one commit.

Everything in a DVC project is untrusted: md5s are checked before they name a cache
path, the cache is opened without following links, paths are checked as record paths,
sizes are bounded, and no command of the project is ever run.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import posixpath
import re
import stat
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Iterator

from . import canonical, history
from .capture import git as capgit
from .capture.params import jsonable, merge, parse_bytes
from .errors import (CaptureError, ConfigError, ParamsError, RecordFormatError,
                     RefConflictError)
from .hashing import oid_of
from .progress import Progress
from .record import (MAX_TEXT, Artifact, Code, Env, Record, Run, Scope, Trace, check_path,
                     is_dvc_md5, missing_oid, missing_placeholder)
from .store import Store
from .store.refs import valid_name
from .store.trees import check_name as check_entry_name
from .store.trees import encode_rows
from .workspace import Workspace

STATE_KEY = "dvc-import/1"     # index meta: commits imported, per DVC project
CONTENT_KEY = "dvc-md5/1"      # index meta: DVC md5 -> the content it names in the store
MARK = "imported from DVC"     # ends the message of every imported record: (MARK SOURCE)
RUN_NOTE = "imported from DVC: dvc repro ran this command, not mlver"
INSTALL = "install mlver[dvc] (pip install 'mlver[dvc]')"
# Pathspecs of DVC files (each with its own magic; built here, never from input).
DVC_SPECS = (":(top,glob)**/dvc.yaml", ":(top,glob)**/dvc.lock", ":(top,glob)**/*.dvc")
MAX_DVC_FILE = 16 << 20        # bytes of a dvc.yaml, dvc.lock or .dvc file handed to DVC
MAX_MANIFEST = 256 << 20       # bytes of a .dir manifest
MAX_MANIFEST_ENTRIES = 10_000_000
MAX_GIT_BYTES = 64 << 20       # bytes of an output read from git (cache: false)
IN_MEMORY = 64 << 20           # a cache file up to this size is read once, into memory
FLUSH_COMMITS = 64             # commits whose records are published together
PRELOAD_FILES = 2000           # list the store once before ingesting more files than this
MAX_CAS_RETRIES = 50
_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]")
_SOURCE_RE = re.compile(r"\(" + re.escape(MARK) + r" (.+)\)$")


# --------------------------------------------------------------------------- names


def dvc_name(path: str) -> str | None:
    """The mlver name (or slot) for a DVC stage or path, relative to the DVC project:
    each ``/`` becomes ``-``, any other character that is not a letter, digit, ``.``,
    ``_`` or ``-`` becomes ``_``, leading ``.``, ``_`` and ``-`` are dropped, a final
    ``.lock`` becomes ``-lock``, and a name longer than 128 characters keeps its first
    119 and ``-`` plus 8 hex of the path's hash. None when nothing is left.

    ``data/raw.csv`` -> ``data-raw.csv``; ``train@us`` -> ``train_us``;
    ``models/dvc.yaml`` stage ``fit`` -> ``models-fit``.
    """
    name = _NAME_BAD.sub("_", path.replace("/", "-")).lstrip("._-")
    if name.endswith(".lock"):
        name = name[:-5] + "-lock"
    if len(name) > 128:
        name = f"{name[:119]}-{oid_of(path.encode('utf-8', 'surrogateescape'))[:8]}"
    return name if valid_name(name) else None


def source_of(message: str) -> str | None:
    """The DVC source (``dvc.yaml:train``, ``data/raw.csv``) an imported record's message
    names, or None for a record not imported from DVC."""
    m = _SOURCE_RE.search(message)
    return m.group(1) if m else None


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Item:
    """A dep or out of a stage as DVC recorded it at one commit."""

    path: str             # root-relative (mlver's root)
    rel: str              # relative to the DVC project (for slot names)
    fs_path: str          # DVC's path on the commit's file system (to read from git)
    hash_name: str
    md5: str | None       # None when DVC recorded no (usable) hash
    size: int | None
    nfiles: int | None
    isexec: bool
    cached: bool          # DVC keeps its bytes in the cache (``cache: false`` does not)
    metric: bool


@dataclass(frozen=True)
class Slim:
    """What a commit's state keeps of a stage: enough to compare it with the next
    commit's, and to say which paths DVC manages."""

    source: str
    name: str
    fp: str
    outs: tuple[str, ...]

    def to_list(self) -> list:
        return [self.source, self.name, self.fp, list(self.outs)]


@dataclass(frozen=True)
class StageInfo:
    """A stage (or one output of a ``.dvc`` file) at one commit."""

    slim: Slim
    dvcfile: str          # root-relative path of its dvc.yaml or .dvc file
    is_stage: bool        # a pipeline stage; False: an output tracked by a .dvc file
    cmd: tuple[str, ...] | None
    deps: tuple[Item, ...]
    params: tuple[tuple[str, dict], ...]  # (params file, values recorded in dvc.lock)
    outs: tuple[Item, ...]
    param_keys: tuple[str, ...] = ()  # the keys dvc.lock lists (``train``, ``train.lr``)


@dataclass
class State:
    """The DVC files of one commit: blob of each (by path from the work tree's top) and
    the stages of each dvc.yaml / .dvc file."""

    blobs: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[Slim, ...]] = field(default_factory=dict)

    def stages(self) -> Iterator[Slim]:
        for slims in self.files.values():
            yield from slims

    def to_json(self) -> str:
        return json.dumps({"blobs": self.blobs,
                           "files": {k: [s.to_list() for s in v] for k, v in self.files.items()}},
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "State":
        d = json.loads(text)
        return cls(dict(d["blobs"]), {k: tuple(Slim(s[0], s[1], s[2], tuple(s[3])) for s in v)
                                      for k, v in d["files"].items()})


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
    def from_json(cls, text: str) -> "Content | None":
        try:
            oid, typ, size, files = json.loads(text)
            return cls(str(oid), str(typ), int(size), int(files))
        except (ValueError, TypeError):
            return None


@dataclass(frozen=True)
class ImportResult:
    """What an import did. ``versions`` are the records written, in order."""

    project: str
    rev_range: str
    commits: int              # commits in the range
    walked: int               # commits read this time
    already: int              # commits skipped: imported before
    versions: tuple[tuple[str, Record], ...]
    missing: tuple[str, ...]  # md5s recorded as missing from the DVC cache
    seconds: float

    def to_dict(self) -> dict:
        return {"project": self.project, "range": self.rev_range, "commits": self.commits,
                "walked": self.walked, "already_imported": self.already,
                "seconds": round(self.seconds, 3), "missing": list(self.missing),
                "versions": [{"name": r.name, "version": r.version, "oid": oid,
                              "commit": r.code.commit} for oid, r in self.versions]}


# --------------------------------------------------------------------------- dvc


def _dvc():
    """The ``dvc`` modules used, imported on first use (``mlver --help`` stays fast)."""
    try:
        from dvc.dependency.param import ParamsDependency
        from dvc.dvcfile import load_file
        from dvc.exceptions import DvcException
        from dvc.repo import Repo as DvcRepo
        from dvc.repo.brancher import switch
        from dvc_data.hashfile.hash import fobj_md5
        from dvc_data.hashfile.tree import Tree as DvcTree
    except ImportError as e:
        raise ConfigError(f"importing a DVC project needs the dvc package ({e}); "
                          f"{INSTALL}") from None
    return {"Repo": DvcRepo, "switch": switch, "load_file": load_file,
            "ParamsDependency": ParamsDependency, "DvcException": DvcException,
            "fobj_md5": fobj_md5, "Tree": DvcTree}


@contextlib.contextmanager
def _quiet_dvc() -> Iterator[None]:
    """DVC logs warnings of its own (an outdated lock, say); mlver reports its own."""
    log = logging.getLogger("dvc")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


class _Cache:
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


def _read_fd(fd: int, limit: int) -> bytes | None:
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


def _iso(seconds: int) -> str:
    return _iso_us(seconds * 1_000_000)


def _iso_us(micros: int) -> str:
    seconds, us = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=us) \
        .strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _producers_first(drafts: list[Record]) -> list[Record]:
    """``drafts`` ordered so that a record whose output a later one takes as input comes
    first (ties by name); a cycle (which DVC refuses) keeps name order."""
    todo = sorted(drafts, key=lambda r: r.name)
    out: list[Record] = []
    while todo:
        for i, rec in enumerate(todo):
            ins = [a.path for a in rec.inputs.values()]
            if not any(_overlap(o.path, p) for other in todo if other is not rec
                       for o in other.outputs.values() for p in ins):
                out.append(todo.pop(i))
                break
        else:
            out += todo
            break
    return out


def _nest(values: dict) -> dict:
    """DVC's dotted param keys (``train.lr``) nested as in the params file."""
    out: dict = {}
    for key, value in values.items():
        parts = str(key).split(".")
        cur = out
        for p in parts[:-1]:
            nxt = cur.get(p)
            if not isinstance(nxt, dict):
                nxt = cur[p] = {}
            cur = nxt
        cur[parts[-1]] = value
    return out


def _fingerprint(cmd, deps, params, outs) -> str:
    return oid_of(canonical.dumps({
        "cmd": list(cmd) if cmd else None,
        "deps": [[d.path, d.md5] for d in deps],
        "params": [[f, v] for f, v in params],
        "outs": [[o.path, o.md5, o.metric] for o in outs]}))


# --------------------------------------------------------------------------- the import


class _Importer:
    def __init__(self, store: Store, ws: Workspace, project: str, progress: Progress) -> None:
        self.store, self.ws, self.progress = store, ws, progress
        self.project = project  # root-relative path of the DVC project ("." at the root)
        self.abs = os.path.join(ws.root, project) if project != "." else ws.root
        self.d: dict[str, Any] = {}  # the dvc modules, imported once a commit needs reading
        self.warned: set[str] = set()
        self.memo: dict[tuple[str, str], Content] = {}
        self.absent: set[tuple[str, str]] = set()
        self.new_content: dict[tuple[str, str], Content] = {}
        self.missing: set[str] = set()
        self.parsed: dict[tuple[str, str], tuple[StageInfo, ...]] = {}
        self.known: dict[str, tuple[set[str], str | None]] = {}  # name -> commits, head commit
        self.touched: set[str] = set()
        self.ancestors: dict[str, set[str]] = {}
        self.pending: list[Record] = []
        self.last_created = 0  # microseconds since the epoch of the last record queued
        self.versions: list[tuple[str, Record]] = []

    def warn(self, message: str) -> None:
        if message not in self.warned:
            self.warned.add(message)
            self.ws.warn(message)

    # -- paths ------------------------------------------------------------------------------

    def _setup_paths(self) -> None:
        top = capgit.toplevel(self.ws.root)
        if top is None:
            raise ConfigError(f"{self.ws.root} is not in a git repository; import-dvc reads "
                              "the DVC project's git history")
        self.top = top
        rel = os.path.relpath(os.path.realpath(self.abs), os.path.realpath(top))
        if rel == ".." or rel.startswith("../"):
            raise ConfigError(f"the DVC project {self.abs} is outside the git repository {top}")
        self.git_prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"

    def dvc_rel(self, git_path: str) -> str:
        """A git path of a DVC file as a path relative to the DVC project."""
        return git_path[len(self.git_prefix):]

    def root_rel(self, dvc_rel: str) -> str:
        """A path relative to the DVC project as a root-relative (record) path."""
        return posixpath.normpath(dvc_rel if self.project == "." else f"{self.project}/{dvc_rel}")

    def _is_dvc_file(self, change: capgit.Change) -> bool:
        p = change.path
        if not p.startswith(self.git_prefix):
            return False
        parts = self.dvc_rel(p).split("/")
        if any(x in (".dvc", ".git", ".mlver") for x in parts[:-1]):
            return False
        return parts[-1] in ("dvc.yaml", "dvc.lock") or (parts[-1].endswith(".dvc")
                                                          and parts[-1] != ".dvc")

    # -- walking ----------------------------------------------------------------------------

    def run(self, rev_range: str) -> ImportResult:
        t0 = time.perf_counter()
        self._setup_paths()
        try:
            commits = capgit.walk_commits(self.top, rev_range)
        except CaptureError as e:
            if not capgit.has_commits(self.top):
                raise ConfigError(f"the git repository {self.top} has no commit yet; "
                                  "import-dvc reads the DVC project's git history") from None
            raise ConfigError(f"git cannot walk the revision range {rev_range!r} ({e}); give "
                              "revisions this repository has, like HEAD~10..HEAD") from None
        self.position = {c.sha: i for i, c in enumerate(commits)}
        index = self.store.index
        done_keys = index.get_meta_many(self._state_key(c.sha) for c in commits)
        todo = [c for c in commits if self._state_key(c.sha) not in done_keys]
        self.progress.start("importing")
        self.progress.total(len(commits), len(commits) - len(todo))
        if not todo:
            self.progress.finish()
            return self._result(rev_range, commits, todo, t0)
        changes = capgit.changes(self.top, todo, list(DVC_SPECS))
        children: dict[str, int] = defaultdict(int)
        in_walk = {c.sha for c in todo}
        for c in todo:
            if c.parents and c.parents[0] in in_walk:
                children[c.parents[0]] += 1
        states: dict[str, State] = {}
        self.d = _dvc()
        Repo = self.d["Repo"]
        with _quiet_dvc():
            try:
                self.repo = Repo(self.abs)
            except self.d["DvcException"] as e:
                raise ConfigError(f"DVC cannot open the project {self.abs} ({e}); "
                                  "give the folder where dvc init ran") from None
            self.cache = _Cache({"md5": self.repo.cache.local,
                                 "md5-dos2unix": self.repo.cache.legacy})
            try:
                with self.store.objects.batch() as batch:
                    self.batch = batch
                    flushed: list[str] = []
                    for c in todo:
                        parent = c.parents[0] if c.parents else None
                        before = states.get(parent) if parent else State()
                        if before is None:
                            before = self._state_at(parent)
                        states[c.sha] = self._commit(c, before, changes.get(c.sha, []))
                        if parent in children:
                            children[parent] -= 1
                            if children[parent] == 0:
                                states.pop(parent, None)  # no child left to compare with it
                        flushed.append(c.sha)
                        self.progress.advance()
                        if len(flushed) >= FLUSH_COMMITS:
                            self._flush(flushed)
                            flushed = []
                    tips = [s for s in states if children.get(s, 0) == 0]
                    self._flush(flushed, {s: states[s] for s in tips})
            finally:
                self.cache.close()
                self.repo.close()
        self.progress.finish()
        for refused in dict.fromkeys(self.cache.refused):
            self.warn(f"DVC cache entry {refused} was refused; its content is recorded as "
                      "missing")
        return self._result(rev_range, commits, todo, t0)

    def _result(self, rev_range, commits, todo, t0) -> ImportResult:
        return ImportResult(self.project, rev_range, len(commits), len(todo),
                            len(commits) - len(todo), tuple(self.versions),
                            tuple(sorted(self.missing)), time.perf_counter() - t0)

    def _state_key(self, sha: str) -> str:
        return f"{STATE_KEY}:{self.project}:{sha}"

    def _state_at(self, sha: str) -> State:
        """The DVC files of a commit outside this walk: remembered by an earlier import
        when it was that walk's last commit, else read from git and DVC."""
        text = self.store.index.get_meta(f"{STATE_KEY}:{self.project}:state:{sha}")
        if text:
            try:
                return State.from_json(text)
            except (ValueError, KeyError, TypeError, IndexError):
                pass
        files = [c for c in capgit.files_in(self.top, sha, list(DVC_SPECS))
                 if self._is_dvc_file(c)]
        with self._switcher(sha) as at:
            try:
                return self._apply(sha, State(), files, at)[0]
            except self.d["DvcException"] as e:
                self.warn(f"DVC cannot read commit {sha[:7]} ({str(e)[:300]}); the import "
                          "starts from no DVC files there")
                return State()

    @contextlib.contextmanager
    def _switcher(self, sha: str) -> Iterator[Any]:
        """A function that switches the DVC repo to commit ``sha`` the first time it is
        called (and back when the block ends): commits whose changed files were all read
        before never pay for the switch."""
        with contextlib.ExitStack() as stack:
            switched: list[bool] = []

            def at() -> None:
                if not switched:
                    stack.enter_context(self.d["switch"](self.repo, sha))
                    switched.append(True)

            yield at

    def _commit(self, c: capgit.Commit, before: State, changed: list[capgit.Change]) -> State:
        """Read what changed at commit ``c`` and draft a version for each stage whose
        recorded hashes changed; return the commit's state."""
        changed = [ch for ch in changed if self._is_dvc_file(ch)]
        if not changed:
            return before
        with self._switcher(c.sha) as at:
            try:
                state, infos = self._apply(c.sha, before, changed, at)
                if not infos:
                    return state
                self._check_names(state, c)
                old = {s.source: s.fp for s in before.stages()}
                outs = sorted({o for s in state.stages() for o in s.outs})
                drafts = []
                for info in infos:
                    if not info.slim.fp or old.get(info.slim.source) == info.slim.fp:
                        continue
                    if not self._wanted(info.slim.name, info.slim.source, c.sha):
                        continue
                    at()
                    drafts.append(self._draft(info, c, outs))
                self._queue(c, drafts)
            except self.d["DvcException"] as e:
                self.warn(f"DVC cannot read commit {c.sha[:7]} ({str(e)[:300]}); its DVC "
                          "files keep the state of the commit before")
                return before
        return state

    def _apply(self, sha: str, before: State, changed: list[capgit.Change],
               at) -> tuple[State, list[StageInfo]]:
        """``before`` with the changes of commit ``sha`` applied; the stages of every DVC
        file that changed, read at ``sha`` (``at()`` switches the DVC repo there)."""
        blobs = dict(before.blobs)
        for ch in changed:
            if ch.blob is None or ch.mode not in ("100644", "100755"):
                if ch.blob is not None:
                    self.warn(f"{ch.path} at commit {sha[:7]} is not a regular file in git "
                              "(a link or a submodule); DVC files must be files, so it is "
                              "left out")
                blobs.pop(ch.path, None)
            else:
                blobs[ch.path] = ch.blob
        keys = set()
        for ch in changed:
            p = ch.path
            keys.add(p[:-len("dvc.lock")] + "dvc.yaml" if posixpath.basename(p) == "dvc.lock"
                     else p)
        files = dict(before.files)
        infos: list[StageInfo] = []
        for key in sorted(keys):
            if key not in blobs:
                files.pop(key, None)
                continue
            lock = key[:-len("dvc.yaml")] + "dvc.lock" if key.endswith("dvc.yaml") else None
            blob_key = f"{blobs[key]}:{blobs.get(lock, '') if lock else ''}"
            found = self.parsed.get((key, blob_key))
            if found is None:
                at()
                found = self._read_dvc_file(sha, key)
                if found is None:  # unreadable: keep what the parent had
                    continue
                self.parsed[(key, blob_key)] = found
            files[key] = tuple(i.slim for i in found)
            infos += found
        return State(blobs, files), infos

    def _read_dvc_file(self, sha: str, key: str) -> tuple[StageInfo, ...] | None:
        """The stages of one dvc.yaml (with its dvc.lock) or .dvc file, read by DVC at the
        commit the repo is switched to; None (with a warning) when DVC cannot read it."""
        repo = self.repo
        rel = self.dvc_rel(key)
        path = repo.fs.join(repo.root_dir, *rel.split("/"))
        for p in (path, *([path[:-len("dvc.yaml")] + "dvc.lock"] if rel.endswith("dvc.yaml")
                          else [])):
            try:
                size = repo.fs.size(p)
            except (OSError, self.d["DvcException"]):
                continue
            if size is not None and size > MAX_DVC_FILE:
                self.warn(f"{key} at commit {sha[:7]} is larger than {MAX_DVC_FILE >> 20} MiB; "
                          "a DVC file is configuration, so it is left out")
                return None
        try:
            dvcfile = self.d["load_file"](repo, path)
            stages = list(dvcfile.stages.values())
            if rel.endswith("dvc.yaml"):
                return tuple(self._stage(st, key) for st in stages)
            return tuple(i for st in stages for i in self._tracked(st, key))
        except (self.d["DvcException"], ValueError, TypeError, KeyError, AttributeError) as e:
            self.warn(f"DVC cannot read {key} at commit {sha[:7]} ({str(e)[:300]}); its "
                      "stages keep the state of the commit before")
            return None

    def _item(self, o, where: str) -> Item | None:
        """A dep or out as an :class:`Item`; None (with a warning) when it is outside the
        project or its path could not be a record's."""
        repo = self.repo
        if not getattr(o, "is_in_repo", False):
            self.warn(f"{where}: {o.def_path} is outside the project; left out (only paths "
                      "inside the project are imported)")
            return None
        rel = posixpath.normpath(repo.fs.relpath(o.fs_path, repo.root_dir).replace(os.sep, "/"))
        try:
            path = check_path(self.root_rel(rel), where)
            if rel.startswith("../") or rel == ".." or {".git", ".mlver"} & set(path.split("/")):
                raise RecordFormatError("inside .git or .mlver, or outside the project")
        except RecordFormatError:
            self.warn(f"{where}: {str(o.def_path)[:200]} is not a plain path inside the "
                      "project; left out")
            return None
        hi = o.hash_info
        md5 = hi.value if hi and hi.name in ("md5", "md5-dos2unix") else None
        if md5 is not None and not is_dvc_md5(md5):
            self.warn(f"{where}: {path} has the hash {str(md5)[:80]!r}, which is not an md5; "
                      "left out")
            md5 = None
        meta = o.meta
        return Item(path=path, rel=rel, fs_path=o.fs_path, hash_name=hi.name if hi else "md5",
                    md5=md5, size=getattr(meta, "size", None),
                    nfiles=getattr(meta, "nfiles", None),
                    isexec=bool(getattr(meta, "isexec", False)),
                    cached=bool(getattr(o, "use_cache", False)),
                    metric=bool(getattr(o, "metric", False)))

    def _stage(self, st, key: str) -> StageInfo:
        rel_dir = posixpath.dirname(self.dvc_rel(key))
        stage_path = f"{rel_dir}/{st.name}" if rel_dir else st.name
        source = f"{self.root_rel(self.dvc_rel(key))}:{st.name}"
        deps, params, keys = [], [], set()
        for d in st.deps:
            if isinstance(d, self.d["ParamsDependency"]):
                item = self._item(d, source)
                values = d.hash_info.value if d.hash_info and isinstance(d.hash_info.value,
                                                                        dict) else {}
                if item is not None:
                    try:
                        params.append((item.path, jsonable(_nest(values), item.path)))
                        keys.update(str(k) for k in values)
                    except ParamsError as e:
                        self.warn(f"{source}: params of {item.path} left out ({e})")
                continue
            item = self._item(d, source)
            if item is not None:
                deps.append(item)
        outs = [i for i in (self._item(o, source) for o in st.outs) if i is not None]
        cmd = st.cmd
        cmd_t: tuple[str, ...] | None = None
        if cmd:
            text = cmd if isinstance(cmd, str) else " && ".join(str(x) for x in cmd)
            wdir = posixpath.normpath(self.repo.fs.relpath(st.wdir, self.repo.root_dir)
                                      .replace(os.sep, "/")) if st.wdir else "."
            if wdir != ".":
                text = f"cd {json.dumps(wdir)} && {text}"
            cmd_t = ("/bin/sh", "-c", text[:MAX_TEXT])
        recorded = any(i.md5 for i in (*deps, *outs)) or any(v for _f, v in params)
        fp = _fingerprint(cmd_t, deps, params, outs) if recorded else ""
        name = dvc_name(stage_path)
        return StageInfo(Slim(source, name or "", fp, tuple(o.path for o in outs)),
                         self.root_rel(self.dvc_rel(key)), True, cmd_t, tuple(deps),
                         tuple(params), tuple(outs), tuple(sorted(keys)))

    def _tracked(self, st, key: str) -> Iterator[StageInfo]:
        """One :class:`StageInfo` per output of a ``.dvc`` file."""
        for o in st.outs:
            item = self._item(o, self.root_rel(self.dvc_rel(key)))
            if item is None:
                continue
            fp = _fingerprint(None, (), (), (item,)) if item.md5 else ""
            yield StageInfo(Slim(item.path, dvc_name(item.rel) or "", fp, (item.path,)),
                            self.root_rel(self.dvc_rel(key)), False, None, (), (), (item,))

    # -- names ------------------------------------------------------------------------------

    def _check_names(self, state: State, c: capgit.Commit) -> None:
        seen: dict[str, str] = {}
        for s in state.stages():
            if not s.fp:
                continue
            if not s.name:
                raise ConfigError(f"DVC {s.source} (commit {c.sha[:7]}) gives no valid mlver "
                                  "name; rename it with letters or digits")
            other = seen.setdefault(s.name, s.source)
            if other != s.source:
                raise ConfigError(
                    f"DVC {other} and {s.source} both map to the mlver name '{s.name}' "
                    f"(commit {c.sha[:7]}); rename one of them (names: '/' becomes '-', other "
                    "characters outside letters, digits, '.', '_' and '-' become '_')")

    def _wanted(self, name: str, source: str, sha: str) -> bool:
        """False when ``name`` already has a version of commit ``sha`` (or of a later
        commit: versions follow commit order). Refuses a name that holds versions not
        imported from this source."""
        if name not in self.known:
            head = self.store.refs.get(name)
            commits: set[str] = set()
            head_commit = None
            if head:
                latest = history.load_record(self.store, head)
                src = source_of(latest.message)
                if src is None:
                    raise ConfigError(
                        f"DVC {source} maps to the mlver name '{name}', which already has "
                        f"versions not imported from DVC ({latest.label}); import into "
                        "another store, or rename the stage or path")
                if src != source:
                    raise ConfigError(
                        f"DVC {source} maps to the mlver name '{name}', which holds versions "
                        f"imported from DVC {src}; rename one of them")
                commits = {c for _oid, c in self.store.index.commits_of(name) if c}
                head_commit = latest.code.commit
                if head_commit:
                    commits.add(head_commit)
            self.known[name] = (commits, head_commit)
        commits, head_commit = self.known[name]
        if sha in commits:
            return False
        if head_commit and name not in self.touched:
            pos = self.position
            if head_commit in pos and pos[sha] > pos[head_commit]:
                return True  # later in topological order: never an ancestor
            if head_commit not in self.ancestors:
                self.ancestors[head_commit] = capgit.ancestors(self.top, head_commit)
            if sha in self.ancestors[head_commit]:
                self.warn(f"{name} already has versions of later commits "
                          f"({head_commit[:7]}); versions follow commit order, so older "
                          "commits are not added (import older ranges first)")
                return False
        return True

    # -- records ----------------------------------------------------------------------------

    def _draft(self, info: StageInfo, c: capgit.Commit, managed: list[str]) -> Record | None:
        name = info.slim.name
        slot_of: dict[str, dict[str, str]] = {"input": {}, "output": {}}

        def slot(side: str, item: Item) -> str:
            s = dvc_name(item.rel)
            if s is None:
                raise ConfigError(f"DVC {info.slim.source}: {item.rel} gives no valid slot "
                                  "name; rename it with letters or digits")
            other = slot_of[side].setdefault(s, item.path)
            if other != item.path:
                raise ConfigError(f"DVC {info.slim.source}: {other} and {item.path} both map to "
                                  f"the {side} slot '{s}' (commit {c.sha[:7]}); rename one")
            return s

        inputs: dict[str, Artifact] = {}
        scope = {info.dvcfile} if info.is_stage else set()
        for d in info.deps:
            if not self._is_data(d, managed):
                scope.add(d.path)
                continue
            if d.md5 is None:
                continue  # DVC recorded no hash for it
            inputs[slot("input", d)] = self._artifact(d)
        outputs: dict[str, Artifact] = {}
        metrics: dict = {}
        metrics_files: list[str] = []
        for o in info.outs:
            if o.metric:
                values = self._metrics(o, c)
                if values is not None:
                    merge(metrics, values)
                    metrics_files.append(o.path)
                continue
            if o.md5 is None:
                continue
            outputs[slot("output", o)] = self._artifact(o)
        params: dict = {}
        for _f, values in info.params:
            merge(params, values)
        kind = self._kind(name, info, metrics_files)
        subject = " ".join(c.subject.split())[:500]
        message = f"{subject} ({MARK} {info.slim.source})" if subject else \
            f"({MARK} {info.slim.source})"
        run = None
        if info.cmd:
            run = Run(command=info.cmd, exit_code=0, started=_iso(c.time), duration_s=0.0,
                      trace=Trace(traced=False, note=RUN_NOTE))
        return Record(
            name=name, version=1, kind=kind, created=_iso(c.time),
            author=c.author[:1000] or None, message=message,
            inputs=dict(sorted(inputs.items())), outputs=dict(sorted(outputs.items())),
            code=Code(commit=c.sha, scope=Scope("declared", tuple(sorted(scope)))),
            # The params are the keys dvc.yaml tracks, as dvc.lock recorded them: the
            # params scope, so a change to another key of the files is not a change.
            params=params, params_files=tuple(dict.fromkeys(f for f, _v in info.params)),
            params_scope=info.param_keys if info.params else None,
            metrics=metrics, metrics_files=tuple(metrics_files), env=Env(), run=run)

    def _queue(self, c: capgit.Commit, drafts: list[Record]) -> None:
        """Queue a commit's drafts producers first, each ``created`` a microsecond after
        the one before: lineage links an output to an input only when the producer was
        created before the consumer, and a commit's stages share its time."""
        base = max(c.time * 1_000_000, self.last_created + 1)
        for i, rec in enumerate(_producers_first(drafts)):
            when = base + i
            self.pending.append(replace(rec, created=_iso_us(when)))
            self.touched.add(rec.name)
            self.last_created = when

    def _kind(self, name: str, info: StageInfo, metrics_files: list[str]) -> str:
        head = self.store.refs.get(name)
        if head:
            return history.load_record(self.store, head).kind
        for rec in reversed(self.pending):
            if rec.name == name:
                return rec.kind
        return "model" if info.is_stage and metrics_files else "dataset"

    def _is_data(self, d: Item, managed: list[str]) -> bool:
        """A dep is data when DVC manages its bytes (it is, holds or lies inside an output
        of a stage or .dvc file) or git does not hold it; a file git holds is code."""
        p = d.path
        for o in managed:
            if p == o or p.startswith(o + "/") or o.startswith(p + "/"):
                return True
        try:
            return not self.repo.fs.exists(d.fs_path)
        except (OSError, self.d["DvcException"]):
            return True

    def _metrics(self, o: Item, c: capgit.Commit) -> dict | None:
        """The values of a metrics file at commit ``c``: from the DVC cache when DVC caches
        it, else from git; None (with a warning) when neither has it or it does not parse."""
        from .capture.params import MAX_FILE

        raw = None
        if o.cached and o.md5 and not o.md5.endswith(".dir"):
            fd = self.cache.open(o.hash_name, o.md5)
            if fd is not None:
                try:
                    raw = _read_fd(fd, MAX_FILE)
                finally:
                    os.close(fd)
        if raw is None:
            raw = self._git_bytes(o, MAX_FILE)
        if raw is None:
            self.warn(f"metrics file {o.path} is neither in git nor in the DVC cache at commit "
                      f"{c.sha[:7]}; its metrics are left out")
            return None
        try:
            return parse_bytes(raw, posixpath.splitext(o.path)[1].lower(), o.path)
        except ParamsError as e:
            self.warn(f"metrics of commit {c.sha[:7]} left out: {e}")
            return None

    def _git_bytes(self, o: Item, limit: int) -> bytes | None:
        fs = self.repo.fs
        try:
            if not fs.isfile(o.fs_path):
                return None
            size = fs.size(o.fs_path)
            if size is None or size > limit:
                return None
            with fs.open(o.fs_path, "rb") as f:
                data = f.read(limit + 1)
        except (OSError, self.d["DvcException"]):
            return None
        return data if len(data) <= limit else None

    # -- content ----------------------------------------------------------------------------

    def _artifact(self, item: Item) -> Artifact:
        assert item.md5 is not None
        found = self._content(item.hash_name, item.md5, item)
        if found is not None:
            return Artifact(path=item.path, oid=found.oid, type=found.type, size=found.size,
                            files=found.files, exec=found.type == "blob" and item.isexec)
        self.missing.add(item.md5)
        self.batch.add_bytes(missing_placeholder(item.md5))
        isdir = item.md5.endswith(".dir")
        return Artifact(path=item.path, oid=missing_oid(item.md5), type="blob",
                        size=max(0, item.size or 0),
                        files=max(0, item.nfiles or 0) if isdir else 1, missing=item.md5)

    def _remembered(self, keys: list[tuple[str, str]]) -> None:
        """Fill the memo from the index for these (hash name, md5) keys, in one query."""
        want = [k for k in keys if k not in self.memo and k not in self.absent]
        if not want:
            return
        rows = self.store.index.get_meta_many(f"{CONTENT_KEY}:{h}:{m}" for h, m in want)
        for h, m in want:
            text = rows.get(f"{CONTENT_KEY}:{h}:{m}")
            found = Content.from_json(text) if text else None
            if found is not None and self.batch.has(found.oid):
                self.memo[(h, m)] = found

    def _content(self, hash_name: str, md5: str, item: Item | None = None) -> Content | None:
        """What ``md5`` names, hashed into the store; None when its bytes are not here."""
        key = (hash_name, md5)
        if key not in self.memo and key not in self.absent:
            self._remembered([key])
        found = self.memo.get(key)
        if found is not None:
            return found
        if key not in self.absent:
            found = self._ingest_dir(hash_name, md5) if md5.endswith(".dir") else \
                self._ingest_file(hash_name, md5)
            if found is None:
                self.absent.add(key)
        if found is None and item is not None and not item.cached and not md5.endswith(".dir"):
            found = self._from_git(item)
        if found is not None:
            self.memo[key] = found
            self.new_content[key] = found
        return found

    def _verified(self, data: bytes, hash_name: str, md5: str) -> bool:
        if hash_name == "md5":
            return hashlib.md5(data, usedforsecurity=False).hexdigest() == md5
        import io

        return self.d["fobj_md5"](io.BytesIO(data), name=hash_name) == md5

    def _ingest_file(self, hash_name: str, md5: str) -> Content | None:
        fd = self.cache.open(hash_name, md5)
        if fd is None:
            return None
        try:
            size = os.fstat(fd).st_size
            if size <= IN_MEMORY:
                data = _read_fd(fd, IN_MEMORY)
                if data is None or not self._verified(data, hash_name, md5):
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

    def _from_git(self, item: Item) -> Content | None:
        data = self._git_bytes(item, MAX_GIT_BYTES)
        if data is None or item.md5 is None or not self._verified(data, item.hash_name, item.md5):
            return None
        return Content(self.batch.add_bytes(data), "blob", len(data), 1)

    def _ingest_dir(self, hash_name: str, md5: str) -> Content | None:
        """A ``.dir`` manifest as a tree of the store, every file of it from the cache;
        None when the manifest or any of its files is missing."""
        fd = self.cache.open(hash_name, md5)
        if fd is None:
            return None
        try:
            raw = _read_fd(fd, MAX_MANIFEST)
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
            tree = self.d["Tree"].from_list(
                listing, hash_name="md5-dos2unix" if hash_name == "md5-dos2unix" else None)
            entries = []
            for parts, meta, hi in tree:
                if not parts or not hi or not is_dvc_md5(hi.value) or hi.value.endswith(".dir"):
                    raise ValueError(f"entry {'/'.join(parts)[:200]!r} has no file md5")
                for part in parts:
                    check_entry_name(part)
                entries.append((tuple(parts), hi.name, hi.value, bool(getattr(meta, "isexec",
                                                                                False))))
        except (ValueError, TypeError, KeyError, AttributeError, RecordFormatError) as e:
            self.warn(f"the DVC manifest {md5} cannot be read ({str(e)[:200]}); its folder is "
                      "recorded as missing")
            return None
        if len(entries) > PRELOAD_FILES:
            self.batch.preload()
        self._remembered([(h, m) for _p, h, m, _x in entries])
        files: dict[tuple[str, ...], list] = defaultdict(list)  # folder -> rows
        folders: set[tuple[str, ...]] = {()}
        absent = 0
        for parts, h, m, isexec in entries:
            found = self._content(h, m)
            if found is None:
                absent += 1
                continue
            files[parts[:-1]].append((parts[-1], "blob", found.oid, found.size, isexec))
            for i in range(len(parts)):
                folders.add(parts[:i])
        if absent:
            self.warn(f"{absent:,} of the {len(entries):,} files of the DVC folder {md5} are "
                      "missing from the DVC cache; the folder is recorded as missing")
            return None
        try:
            return self._trees(files, folders, len(entries))
        except ValueError as e:
            self.warn(f"the DVC manifest {md5} is not a valid folder ({e}); it is recorded as "
                      "missing")
            return None

    def _trees(self, files: dict, folders: set, count: int) -> Content:
        """Trees bottom-up from ``{folder parts: [(name, type, oid, size, exec)]}``."""
        done: dict[tuple[str, ...], tuple[str, int]] = {}
        for folder in sorted(folders, key=len, reverse=True):
            rows = list(files.get(folder, ()))
            names = {r[0] for r in rows}
            for sub in [f for f in folders if len(f) == len(folder) + 1 and f[:-1] == folder]:
                if sub[-1] in names:
                    raise ValueError(f"'{'/'.join(sub)[:200]}' is both a file and a folder")
                oid, size = done[sub]
                rows.append((sub[-1], "tree", oid, size, False))
            rows.sort(key=lambda r: r[0])
            if len({r[0] for r in rows}) != len(rows):
                raise ValueError(f"'{'/'.join(folder)[:200]}' lists a name twice")
            done[folder] = (self.batch.add_bytes(encode_rows(rows)), sum(r[3] for r in rows))
        oid, size = done[()]
        return Content(oid, "tree", size, count)

    # -- publishing -------------------------------------------------------------------------

    def _flush(self, commits: list[str], tips: dict[str, State] | None = None) -> None:
        """Publish the pending drafts (all names' objects in one durable batch, then each
        name's ref by compare-and-swap), index them, and remember the commits."""
        by_name: dict[str, list[Record]] = defaultdict(list)
        for rec in self.pending:
            by_name[rec.name].append(rec)
        self.pending = []
        todo = dict(by_name)
        written: list[tuple[str, Record]] = []
        for _ in range(MAX_CAS_RETRIES):
            if not todo:
                break
            chains = {}
            for name, drafts in todo.items():
                head = self.store.refs.get(name)
                chains[name] = (head, self._chain(head, drafts))
            self.batch.commit()
            retry = {}
            for name, (head, chain) in chains.items():
                if not chain:
                    continue
                try:
                    self.store.refs.update(name, chain[-1][0], head)
                except RefConflictError:
                    retry[name] = todo[name]
                    continue
                written += chain
            todo = retry
        if todo:
            raise RefConflictError(f"refs {', '.join(sorted(todo))} kept moving while importing; "
                                   "run mlver import-dvc again")
        self.batch.commit()  # placeholders and content of commits that wrote no version
        self.versions += written
        try:
            history.index_records(self.store, written)
        except Exception as e:  # noqa: BLE001 - the index is derived; it catches up
            self.warn(f"the index could not be updated ({e}); the next command catches up")
            return
        items = [(f"{CONTENT_KEY}:{h}:{m}", c.to_json()) for (h, m), c in self.new_content.items()]
        self.new_content = {}
        items += [(self._state_key(s), "1") for s in commits]
        items += [(f"{STATE_KEY}:{self.project}:state:{s}", st.to_json())
                  for s, st in (tips or {}).items()]
        self.store.index.set_meta_many(items)

    def _chain(self, head: str | None, drafts: list[Record]) -> list[tuple[str, Record]]:
        prev = history.load_record(self.store, head) if head else None
        parent = head
        chain = []
        for d in drafts:
            if prev is not None and prev.content() == d.content():
                continue
            rec = d.with_version(prev.version + 1 if prev else 1, (parent,) if parent else ())
            parent = self.batch.add_bytes(rec.encode())
            chain.append((parent, rec))
            prev = rec
        return chain


def import_dvc(store: Store, ws: Workspace, project: str, rev_range: str | None = None,
               progress: Progress | None = None) -> ImportResult:
    """Import the DVC project at the root-relative folder ``project`` (see the module
    docstring); ``rev_range`` is a git revision or ``A..B`` (default ``HEAD``)."""
    if not os.path.isdir(os.path.join(ws.root, project, ".dvc")):
        raise ConfigError(f"{project} is not a DVC project (it has no .dvc folder); give the "
                          "folder where dvc init ran")
    rng = capgit.check_range(rev_range) if rev_range is not None else "HEAD"
    return _Importer(store, ws, project, progress or Progress()).run(rng)
