"""``mlver import-dvc``: a DVC project's git history as mlver records, incrementally.

The walk follows ``git log --topo-order --reverse`` over a range (default ``HEAD``). At
each commit that changed a DVC file (``dvc.yaml``, ``dvc.lock``, a ``.dvc`` file) against
its first parent, DVC's own code reads the changed files at that commit
(``dvc.repo.Repo`` switched to it with ``dvc.repo.brancher.switch``, stages loaded with
``dvc.dvcfile.load_file``; :mod:`mlver.capture.dvcfiles`). A stage, or an output tracked by a
``.dvc`` file, whose recorded hashes (deps, outs, params, command) differ from the first
parent's gets a new version of its name; every other name is left alone. Its parent is
the latest version of its name on the history of its commit (:mod:`mlver.integrations.dvc_lines`),
so each branch keeps its own line.

Bytes come from the DVC cache (the object databases of ``repo.cache``, paths from their
``oid_to_path``) or, for ``cache: false`` outputs and data deps git holds, from git at the
commit; checked against their md5 and hashed into the store (:mod:`mlver.integrations.dvc_ingest`).
The md5 -> content map is kept in the index (``meta`` keys ``dvc-md5/1:…``), so a
second import reads no byte it read before.
Content whose bytes are not there is recorded *missing* by md5 (see
:func:`mlver.core.record.missing_placeholder`). Commits already imported are remembered
(``dvc-import/1:…`` keys); without those (a rebuilt index) the walk reads every commit
again and writes nothing twice, since a name never gets two versions of one commit.

Everything in a DVC project is untrusted: md5s are checked before they name a cache
path, the cache is opened without following links, paths are checked as record paths,
sizes and nesting are bounded, a stage's working folder is quoted for the shell, and no
command of the project is ever run.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, UTC
from typing import Any
from collections.abc import Callable, Iterable, Iterator

from mlver.core import history
from mlver.capture import git as capgit
from mlver.core.params import merge
from mlver.integrations.dvc_ingest import CONTENT_KEY, Cache, Ingester
from mlver.integrations.dvc_lines import Lines, Ref, Resolved, producers_first
from mlver.capture.dvcfiles import (
    MARK,
    Item,
    Reader,
    Slim,
    StageInfo,
    State,
    dvc_modules,
    dvc_name,
    is_source,
    quiet_dvc,
    source_of,
)
from mlver.base.errors import CaptureError, ConfigError, RefConflictError
from mlver.base.progress import Progress
from mlver.core.record import Artifact, Code, Env, Record, Run, Scope, Trace
from mlver.store import Store
from mlver.store.origins import mark_origin
from mlver.core.workspace import Workspace

__all__ = ["ImportResult", "import_dvc", "dvc_name", "source_of", "MARK", "Slim", "State",
           "StageInfo", "Item"]

STATE_KEY = "dvc-import/1"     # index meta: commits imported, per DVC project
RUN_NOTE = "imported from DVC: dvc repro ran this command, not mlver"
# Pathspecs of DVC files (each with its own magic; built here, never from input).
DVC_SPECS = (":(top,glob)**/dvc.yaml", ":(top,glob)**/dvc.lock", ":(top,glob)**/*.dvc")
FLUSH_COMMITS = 64             # commits whose records are published together
MAX_CAS_RETRIES = 50


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

    def to_dict(self) -> dict[str, Any]:
        return {"project": self.project, "range": self.rev_range, "commits": self.commits,
                "walked": self.walked, "already_imported": self.already,
                "seconds": round(self.seconds, 3), "missing": list(self.missing),
                "versions": [{"name": r.name, "version": r.version, "oid": oid,
                              "commit": r.code.commit} for oid, r in self.versions]}


def _iso(seconds: int) -> str:
    return _iso_us(seconds * 1_000_000)


def _iso_us(micros: int) -> str:
    seconds, us = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=us) \
        .strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------- the import


class _Importer:
    def __init__(self, store: Store, ws: Workspace, project: str, progress: Progress) -> None:
        self.store, self.ws, self.progress = store, ws, progress
        self.project = project  # root-relative path of the DVC project ("." at the root)
        self.abs = os.path.join(ws.root, project) if project != "." else ws.root
        self.d: dict[str, Any] = {}  # the dvc modules, imported once a commit needs reading
        self.warned: set[str] = set()
        self.parsed: dict[tuple[str, str], tuple[StageInfo, ...]] = {}
        # name -> ({commit: record oid} of its versions, the commit of its latest version)
        self.known: dict[str, tuple[dict[str, str], str | None]] = {}
        self.touched: set[str] = set()
        self.ancestors: dict[str, set[str]] = {}
        self.pending: list[tuple[int, Record, Ref | None]] = []  # (seq, draft, its parent)
        self.seq = 0
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
        self.d = dvc_modules()
        Repo = self.d["Repo"]
        with quiet_dvc():
            try:
                self.repo = Repo(self.abs)
            except self.d["DvcException"] as e:
                raise ConfigError(f"DVC cannot open the project {self.abs} ({e}); "
                                  "give the folder where dvc init ran") from None
            self.cache = Cache({"md5": self.repo.cache.local,
                                "md5-dos2unix": self.repo.cache.legacy})
            self.reader = Reader(self.repo, self.d, self.project, self.git_prefix, self.warn)
            self.ingest = Ingester(self.store, self.cache, self.d, self.repo, self.warn)
            self.lines = Lines(self.store, self.top)
            self.resolved = Resolved(lambda oid: history.load_record(self.store, oid))
            try:
                with self.store.objects.batch() as batch:
                    self.batch = self.ingest.batch = batch
                    flushed: list[str] = []
                    for c in todo:
                        parent = c.parents[0] if c.parents else None
                        before = states.get(parent) if parent else State()
                        if before is None:  # (only a parent's state can be missing)
                            before = self._state_at(parent or "")
                        self.lines.enter(c.sha, c.parents)
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
        return self._result(rev_range, commits, todo, t0, self.ingest.missing)

    def _result(self, rev_range: str, commits: list[capgit.Commit], todo: list[capgit.Commit],
                t0: float, missing: Iterable[str] = ()) -> ImportResult:
        return ImportResult(self.project, rev_range, len(commits), len(todo),
                            len(commits) - len(todo), tuple(self.versions),
                            tuple(sorted(missing)), time.perf_counter() - t0)

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
               at: Callable[[], None]) -> tuple[State, list[StageInfo]]:
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
                found = self.reader.read_dvc_file(sha, key)
                if found is None:  # unreadable: keep what the parent had
                    continue
                self.parsed[(key, blob_key)] = found
            files[key] = tuple(i.slim for i in found)
            infos += found
        return State(blobs, files), infos

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
            commits: dict[str, str] = {}
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
                for oid, c in reversed(self.store.index.commits_of(name)):
                    if c:
                        commits[c] = oid  # the latest version of a commit wins
                head_commit = latest.code.commit
                if head_commit:
                    commits[head_commit] = head
            self.known[name] = (commits, head_commit)
        commits, head_commit = self.known[name]
        if sha in commits:  # on the line of this commit (and of its children) all the same
            self.lines.set(sha, name, self.lines.stored_ref(name, commits[sha]))
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

    def _draft(self, info: StageInfo, c: capgit.Commit, managed: list[str]) -> Record:
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
            kind = self._dep_kind(d, managed)
            if kind == "code":
                scope.add(d.path)
                continue
            if d.md5 is None:
                continue  # DVC recorded no hash for it
            inputs[slot("input", d)] = self.ingest.artifact(d, from_git=kind == "git")
        outputs: dict[str, Artifact] = {}
        metrics: dict[str, Any] = {}
        metrics_files: list[str] = []
        for o in info.outs:
            if o.metric:
                values = self.ingest.metrics(o, c.sha)
                if values is not None:
                    merge(metrics, values)
                    metrics_files.append(o.path)
                continue
            if o.md5 is None:
                continue
            outputs[slot("output", o)] = self.ingest.artifact(o)
        for path, plot in [(p, False) for p in info.metrics] + [(p, True) for p in info.plots]:
            values = self.ingest.metrics_in(info.outs, path, c.sha, plot)
            if values is not None:
                merge(metrics, values)
                metrics_files.append(path)
        params: dict[str, Any] = {}
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
        for i, rec in enumerate(producers_first(drafts)):
            when = base + i
            # its parent: the latest version of its name on this commit's history
            parent = self.lines.latest(c.sha, rec.name)
            self.seq += 1
            self.pending.append((self.seq, replace(rec, created=_iso_us(when)), parent))
            self.lines.set(c.sha, rec.name, (1, self.seq, ""))
            self.touched.add(rec.name)
            self.last_created = when

    def _kind(self, name: str, info: StageInfo, metrics_files: list[str]) -> str:
        head = self.store.refs.get(name)
        if head:
            return history.load_record(self.store, head).kind
        for _seq, rec, _parent in reversed(self.pending):
            if rec.name == name:
                return rec.kind
        return "model" if info.is_stage and metrics_files else "dataset"

    def _dep_kind(self, d: Item, managed: list[str]) -> str:
        """``dvc`` when DVC manages the dep's bytes (it is, holds or lies inside an output
        of a stage or .dvc file) or git does not hold it; else, for a dep git holds,
        ``code`` for a source file (by its extension, :func:`is_source`) or a folder of
        mostly source files, and ``git`` for data (a table, an image folder): its bytes are
        git's at the commit."""
        p = d.path
        for o in managed:
            if p == o or p.startswith(o + "/") or o.startswith(p + "/"):
                return "dvc"
        fs = self.repo.fs
        try:
            if fs.isfile(d.fs_path):
                return "code" if is_source(d.path) else "git"
            if fs.isdir(d.fs_path):
                return "code" if self.ingest.is_code_folder(d.fs_path) else "git"
        except (OSError, self.d["DvcException"]):
            pass
        return "dvc"

    # -- publishing -------------------------------------------------------------------------

    def _flush(self, commits: list[str], tips: dict[str, State] | None = None) -> None:
        """Publish the pending drafts (all names' objects in one durable batch, then each
        name's ref by compare-and-swap), index them, and remember the commits."""
        by_name: dict[str, list[tuple[int, Record, Ref | None]]] = defaultdict(list)
        for entry in self.pending:
            by_name[entry[1].name].append(entry)
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
            # before the records are durable: an imported record is never taken for local
            mark_origin(self.store, [o for _h, c in chains.values() for o, _r in c],
                        "imported", "dvc")
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
        items = [(f"{CONTENT_KEY}:{h}:{m}", c.to_json())
                 for (h, m), c in self.ingest.new_content.items()]
        self.ingest.new_content = {}
        items += [(self._state_key(s), "1") for s in commits]
        items += [(f"{STATE_KEY}:{self.project}:state:{s}", st.to_json())
                  for s, st in (tips or {}).items()]
        self.store.index.set_meta_many(items)

    def _chain(self, head: str | None, drafts: list[tuple[int, Record, Ref | None]]
               ) -> list[tuple[str, Record]]:
        """The records of one name's drafts: numbered after the latest version of the name
        (any branch), each the child of the version on its own commit's history. A draft
        with the content of that version is not written and stands for it. A record whose
        parent is not the version numbered just before names that one as ``previous``, so
        every version stays reachable from the name's ref."""
        top = history.load_record(self.store, head).version if head else 0
        prev = head
        chain = []
        for seq, d, ref in drafts:
            parent = self.resolved.get(ref)
            if parent is not None and parent[1].content() == d.content():
                self.resolved.drafted[seq] = parent
                continue
            top += 1
            rec = d.with_version(top, (parent[0],) if parent else (), previous=prev)
            oid = self.batch.add_bytes(rec.encode())
            prev = oid
            self.resolved.drafted[seq] = (oid, rec)
            chain.append((oid, rec))
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
