"""``Repo``: the one facade the CLI and Python users call. It never prints.

A Repo wires a :class:`~mlver.store.Store` (objects, refs, index of ``.mlver/``) and
a :class:`~mlver.core.workspace.Workspace` (the files, ``mlver.toml``, the stat cache)
together and hands both to the use case a method names. It holds no logic of its
own. Paths given to the Python API are relative to the repository root unless a
``base`` folder is given.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, BinaryIO

from mlver.api_bridges import BridgeMethods
from mlver.api_remotes import RemoteMethods
from mlver.base.errors import NotAStoreError
from mlver.base.progress import Progress
from mlver.core import history
from mlver.core.discover import find_root
from mlver.core.history import Tag
from mlver.core.record import KINDS, Record
from mlver.core.workspace import Workspace
from mlver.ops.status import NameStatus
from mlver.store import STORE_DIR, Store
from mlver.store.index import Index
from mlver.store.trees import Tree

if TYPE_CHECKING:  # imported when a method needs them: the command line starts fast
    from mlver.core.config import ProjectConfig
    from mlver.core.lineage import Lineage
    from mlver.diff.value import Diff
    from mlver.explain.attribute import Attribution
    from mlver.integrations.hooks import Hooks
    from mlver.integrations.importdvc import ImportResult
    from mlver.ops.checkout import CheckoutResult
    from mlver.ops.gc import GcResult
    from mlver.ops.listing import Log
    from mlver.ops.run import RunSession
    from mlver.ops.snapshot import Plan, SnapshotResult
    from mlver.ops.track import Tracking
    from mlver.ops.verify import VerifyResult
    from mlver.sync.pushpull import PushRefused, SyncResult  # noqa: F401 (in __all__)

# Besides Repo, what the command line takes, and the types of what Repo's methods return.
__all__ = ["KINDS", "Attribution", "CheckoutResult", "Diff", "GcResult", "ImportResult",
           "NameStatus", "PushRefused", "Repo", "SnapshotResult", "SyncResult", "Tag",
           "VerifyResult", "parse_grace", "run_hook"]

Warn = Callable[[str], None]
#: A path, ``KEY=VALUE`` or glob, or several (``params=``, ``metrics=``, ``code=``, ``names=``).
Texts = str | Iterable[str] | None


def __getattr__(name: str) -> object:  # a result type of __all__ on first use: fast start
    mods = dict(Attribution="explain.attribute", CheckoutResult="ops.checkout", Diff="diff.value",
                GcResult="ops.gc", ImportResult="integrations.importdvc", VerifyResult="ops.verify",
                PushRefused="sync.pushpull", SyncResult="sync.pushpull",
                SnapshotResult="ops.snapshot")
    if name not in mods:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(__import__(f"mlver.{mods[name]}", fromlist=[name]), name)


def parse_grace(text: str | float) -> float:
    """Seconds of a grace period of gc: ``30s``, ``10m``, ``1h``, ``2d`` or seconds
    (a :class:`~mlver.base.errors.ConfigError` names a bad one)."""
    from mlver.ops.gc import parse_duration

    return parse_duration(text)


def run_hook(hook: str, args: list[str]) -> int:
    """Run the git hook ``hook`` as git calls it, with git's ``args``; its exit status."""
    from mlver.integrations.hooks import run

    return run(hook, args)


class Repo(RemoteMethods, BridgeMethods):
    """A repository with an mlver store. ``Repo(path)`` opens the nearest one at or above."""

    #: The interpreter whose packages snapshot() and run() record when neither ``python=`` nor
    #: ``[env] python`` of mlver.toml names one: this process's own, which a script calling the
    #: Python API runs on. CLI and git hooks set None: the active virtualenv, else python on PATH.
    default_python: str | None = sys.executable

    def __init__(self, path: str = ".", warn: Warn | None = None,
                 read_only: bool = False) -> None:
        self.root = find_root(path)
        self._warn = warn
        self.skipped: dict[str, str] = {}  # names the index could not read, and why
        # read_only: nothing is written, not even the index or a cached profile (mlver ui);
        # records the index lacks are then found from the refs and kept here
        self.read_only = read_only
        self.unindexed: list[tuple[str, Record]] = []
        self.store = Store(os.path.join(self.root, STORE_DIR), on_index_open=self._sync,
                           read_only=read_only)
        self.workspace = Workspace(self.root, self.store, warn)
        self._fetcher: Callable[[list[str]], None] | None = None
        self.store.objects.fetcher = self._fetch  # data on demand, from the default remote
        if warn is not None:
            from mlver.sync.tracking import check_git_tracking

            message = check_git_tracking(self.root, read_only)
            if message:
                self.warn(message)

    @classmethod
    def init(cls, path: str = ".", force: bool = False) -> Repo:
        """Create ``.mlver/`` in ``path`` (harmless when it exists) and open it.

        A folder already covered by a store further up (in the same git repository) is refused
        (two stores would split one repository's history) unless ``force``; the top of a git
        repository nested in another's working tree is not covered."""
        from mlver.ops.create import create_store

        create_store(path, force)
        return cls(path)

    @staticmethod
    def has_store(path: str = ".") -> bool:
        """True when the folder ``path`` holds a store already."""
        from mlver.ops.create import has_store

        return has_store(path)

    @property
    def config(self) -> dict[str, Any]:
        """The store's parsed ``config.json`` (format, hash)."""
        return self.store.config

    @property
    def project(self) -> ProjectConfig:
        """The parsed ``mlver.toml`` of the repository root."""
        return self.workspace.project

    def _sync(self, index: Index) -> None:
        from mlver.ops.indexing import catch_up

        unindexed, skipped = catch_up(self.store, index, self.warn)
        self.skipped.clear()  # in place: log() holds this dict while the index opens
        self.skipped.update(skipped)
        if index.read_only:
            self.unindexed = unindexed

    def warn(self, message: str) -> None:
        """Report a non-fatal problem (the CLI prints ``Warning: …`` on stderr)."""
        if self._warn is not None:
            self._warn(message)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Repo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- records and revisions --------------------------------------------------------------

    def record(self, oid: str) -> Record:
        """Load and validate the record ``oid``."""
        return history.load_record(self.store, oid)

    def tree(self, oid: str) -> Tree:
        """Load and validate the tree ``oid``."""
        return self.store.tree(oid)

    def resolve(self, rev: str) -> str:
        """The oid of the record a revision names."""
        return history.resolve(self.store, rev)

    def show(self, rev: str) -> tuple[str, Record]:
        """``(oid, record)`` of a revision."""
        oid = self.resolve(rev)
        return oid, self.record(oid)

    def names(self) -> list[str]:
        """Every versioned name."""
        return self.store.refs.names()

    def tags(self, name: str) -> dict[str, str]:
        """Every tag of ``name``: tag -> record oid."""
        return self.store.refs.tags(name)

    def log(self, name: str | None = None, n: int | None = None,
            branch: bool = False) -> Log:
        """Records newest first (a :class:`~mlver.ops.listing.Log`, a list of ``(oid,
        record)``): of one name by version, or of all names by time.

        ``branch``: only versions on HEAD's git history (recorded at HEAD or an ancestor,
        or without a commit); ``n`` then counts those."""
        from mlver.ops.listing import log

        return log(self.store, self.root, name, n, branch, self.warn,
                   self.unindexed if self.read_only else (), self.skipped)

    def on_branch(self, items: list[tuple[str, Record]]) -> dict[str, bool | None] | None:
        """``{oid: True}`` for each of ``items`` (from :meth:`log`) on HEAD's git history
        (recorded at HEAD or an ancestor, or without a commit), False for the others,
        None for one whose commit this git repository does not hold (not fetched);
        None outside git or before the first commit."""
        from mlver.core.branches import on_head_flags

        return on_head_flags(items, self.root)

    def tag(self, rev: str, tag: str) -> tuple[str, Record, str | None]:
        """Tag the record ``rev`` as ``NAME@TAG``; return (oid, record, previous oid)."""
        from mlver.ops.tagging import tag as set_tag

        return set_tag(self.store, rev, tag)

    def tag_list(self, name: str | None = None) -> list[Tag]:
        """Every tag of ``name`` (or of every name) with the record it points at, sorted by
        name then tag. A tag whose record cannot be read has ``version`` None (and a warning)."""
        return history.tag_list(self.store, name, self.warn)

    def tags_by_record(self, names: Iterable[str]) -> dict[str, dict[str, list[str]]]:
        """``{name: {record oid: [tags]}}`` for ``names``, reading each name's tags once."""
        return history.tags_by_record(self.store, names, self.warn)

    def untag(self, rev: str) -> Tag:
        """Delete the tag ``NAME@TAG`` (the record stays); return what it pointed at."""
        return history.untag(self.store, rev)

    def open(self, rev: str, path: str) -> BinaryIO:
        """A seekable, read-only binary file of the slot ``path`` of ``rev`` (``"train"``,
        or a file in a folder slot: ``"data/part-0.parquet"``), read in place by range,
        without a checkout (``mlver://REV/PATH``; see docs/python.md)."""
        from mlver.integrations.readversion import open_version

        return open_version(self.root, rev, path)  # type: ignore[return-value]

    def read_table(self, rev: str, slot: str, columns: list[str] | None = None,
                   engine: str = "pandas") -> Any:
        """The table in ``slot`` of ``rev`` (parquet, CSV/TSV, JSON lines; a folder slot:
        its parquet files) as a pandas DataFrame, or with ``engine="duckdb"`` a DuckDB
        relation over it; ``columns`` reads only those."""
        from mlver.integrations.readversion import read_table

        return read_table(self.root, rev, slot, columns, engine)

    def patch(self, rev: str) -> bytes | None:
        """The uncommitted patch recorded with ``rev`` (``git diff HEAD --binary``, byte for
        byte), or None when its code was committed (or not recorded)."""
        return history.patch(self.store, self.resolve(rev))

    def reindex(self) -> int:
        """Rebuild the index from objects + refs; return the number of records indexed."""
        from mlver.ops.indexing import reindex

        return reindex(self.store, self.warn)

    def monitor(self, on: bool | None = None) -> str | None:
        """The file-system monitor this store uses (``"watchman"`` or None); ``on`` turns it
        on (watchman must answer) or off first. With it, ``status`` and an unchanged
        snapshot ask watchman what changed under a folder instead of walking it."""
        from mlver.core.monitor import configured, turn

        if on is not None:
            turn(self.store.path, self.store.config, self.root, on)
        return configured(self.store.config)

    def monitor_problem(self) -> str | None:
        """Why the monitor turned on for this store does not help right now (watchman does
        not answer: captures walk every file), or None when it answers or is off."""
        from mlver.core.monitor import configured, configured_sock, not_answering

        cfg = self.store.config
        return not_answering(configured_sock(cfg)) if configured(cfg) else None

    def checkout(self, rev: str, paths: list[str] | str | None = None, to: str | None = None,
                 side: str = "all", force: bool = False, progress: Progress | None = None,
                 base: str | None = None) -> CheckoutResult:
        """Write the inputs and outputs of ``rev`` back at their recorded paths (under ``to``
        when given): exact bytes, exec bits and links, each blob's hash verified.

        ``paths`` (relative to ``base``, default the root) narrows it to what lies at or below
        them; ``side`` is ``"all"``, ``"inputs"`` or ``"outputs"``. Without ``force`` a file
        whose content the store does not hold is never overwritten."""
        from mlver.ops.checkout import checkout

        oid, rec = self.show(rev)
        rels = [self.workspace.to_rel(p, base) for p in _listify(paths) or []]
        target = os.path.abspath(os.path.join(base or self.root, to)) if to else None
        return checkout(self.store, self.workspace, oid, rec, rels or None, target, side,
                        force, progress)

    @property
    def hooks(self) -> Hooks:
        """The repository's git hooks: ``install()``, ``uninstall()``, ``status()`` (see
        docs/hooks.md)."""
        from mlver.integrations.hooks import Hooks

        return Hooks(self.root, self.store, self.workspace)

    # -- verify and gc -----------------------------------------------------------------------

    def verify(self, revs: list[str] | None = None, progress: Progress | None = None,
               remote: str | None = None) -> VerifyResult:
        """Re-hash every object (or those the revisions ``revs`` reach) and check that every
        version reaches all its objects (``.ok``, ``.problems``, ``.to_dict()`` of the result).
        Problems are returned, not raised. With ``remote`` (a remote's name), check that
        remote instead: every object its refs reach is there."""
        from mlver.ops.verify import verify
        from mlver.sync.named import local_only, verify_named

        if remote is not None:
            return verify_named(self.store, self.workspace, remote, progress)
        with local_only(self.store):
            return verify(self.store, list(revs) if revs else None, progress)

    def gc(self, dry_run: bool = False, keep_last: int | None = None,
           grace: float | str = 3600, progress: Progress | None = None,
           lock_timeout: float = 10.0, rechunk: bool = False) -> GcResult:
        """Remove objects no ref or tag reaches, older than ``grace`` (seconds, or ``"1h"``);
        with ``keep_last`` also the data of versions older than the last N of each name
        (tagged ones kept). ``dry_run`` deletes nothing; ``rechunk``: see gc --rechunk."""
        from mlver.ops.gc import gc, parse_duration
        from mlver.sync.named import local_only

        with local_only(self.store):
            return gc(self.store, dry_run, keep_last, parse_duration(grace), lock_timeout,
                      progress, rechunk)

    # -- remotes: push, pull ---------------------------------------------------------------

    @classmethod
    def for_pull(cls, path: str = ".", warn: Warn | None = None,
                 any_project: bool = False) -> Repo:
        """The repository at or above ``path``; in a fresh clone without a store, the
        folder holding ``mlver.toml`` gets a new store (``mlver pull`` needs no init).
        Without ``any_project`` that ``mlver.toml`` must configure a remote; with it (what
        ``mlver remote add`` uses) any ``mlver.toml`` will do, else the top of the git
        repository. Never above that top: a nested clone gets a store of its own."""
        try:
            return cls(path, warn=warn)
        except NotAStoreError:
            from mlver.ops.create import create_fresh

            root = create_fresh(path, any_project)
            if root is None:
                raise
            return cls(root, warn=warn)

    def removed_data(self, oid: str) -> list[str]:
        """The slots of record ``oid`` (``"output model"``) whose data ``gc --keep-last``
        removed; empty for a version whose data is all here."""
        from mlver.core.reach import gone_slots

        return gone_slots(self.store, oid, self.record(oid))

    # -- snapshot, run and import-dvc ---------------------------------------------------------

    def plan(self, name: str, inputs: dict[str, str] | None = None,
             outputs: dict[str, str] | None = None, params: Texts = None,
             metrics: Texts = None, message: str | None = None, kind: str | None = None,
             command: str | None = None, base: str | None = None,
             code: Texts = None) -> Plan:
        """What a snapshot or run of ``name`` would capture (see :meth:`snapshot`)."""
        from mlver.ops import snapshot as snap

        return snap.plan(self.store, self.workspace, name, inputs, outputs, _listify(params),
                         _listify(metrics), kind, message, command, base, _listify(code))

    def snapshot(self, name: str, inputs: dict[str, str] | None = None,
                 outputs: dict[str, str] | None = None, params: Texts = None,
                 metrics: Texts = None, message: str | None = None, kind: str | None = None,
                 python: str | None = None, progress: Progress | None = None,
                 base: str | None = None, code: Texts = None) -> SnapshotResult:
        """Capture inputs, outputs, code, params, metrics and env as a new version of ``name``.

        With neither inputs nor outputs, ``[snapshot.NAME]`` of mlver.toml supplies them. When
        the content equals the latest version, no version is written (``result.created`` is
        False). ``params``/``metrics``: a file path, ``KEY=VALUE``, or a list of them. An input
        is a path when something exists there, else ``REV[:SLOT]`` of a record's output.
        ``code``: the code scope, a path or glob or a list of them (default: ``code`` of
        ``[snapshot.NAME]``, else the whole repository). Paths are relative to ``base``
        (default: the repository root). ``python``: the interpreter whose packages are recorded
        (default: ``[env] python``, else :attr:`default_python`, this one)."""
        from mlver.ops import snapshot as snap

        p = self.plan(name, inputs, outputs, params, metrics, message, kind, None, base, code)
        result = snap.snapshot(self.store, self.workspace, p, self._python(python), progress)
        if result.warning:
            self.warn(result.warning)
        return result

    def run(self, name: str, inputs: dict[str, str] | None = None,
            outputs: dict[str, str] | None = None, params: Texts = None, metrics: Texts = None,
            message: str | None = None, kind: str | None = None, python: str | None = None,
            command: str | None = None, progress: Progress | None = None,
            base: str | None = None, code: Texts = None, strict: bool = False) -> RunSession:
        """A recorded execution, used as ``with repo.run(...) as run:``.

        Inputs, code, params and env are captured on entry; outputs and metrics on a clean exit,
        when the record is written (``run.result``). An exception records nothing. Files opened
        inside the block are traced (see :meth:`execute`); ``code`` and ``strict`` are as there."""
        from mlver.ops.run import RunSession

        p = self.plan(name, inputs, outputs, params, metrics, message, kind, command, base, code)
        return RunSession(self.store, self.workspace, p, self._python(python), progress,
                          strict=strict)

    def track(self, name: str, inputs: dict[str, str] | None = None,
              outputs: dict[str, str] | None = None, params: Texts | dict[str, Any] = None,
              metrics: Texts = None, message: str | None = None, kind: str | None = None,
              base: str | None = None, code: Texts = None) -> Tracking:
        """``with repo.track(...) as t:``: a run recorded from this process (a notebook or a
        script), failed or not; ``params`` may be a dict of values. See docs/notebooks.md."""
        from mlver.ops.track import tracking

        return tracking(self.store, self.workspace, name, inputs, outputs,
                        params if isinstance(params, dict) else _listify(params),
                        _listify(metrics), message, kind, _listify(code), base)

    def _python(self, python: str | None) -> str | None:
        # work done in this process ran here, unless mlver.toml names the training interpreter
        if python is None and not self.workspace.project.python:
            return self.default_python
        return python

    def execute(self, name: str, argv: list[str] | str | None = None,
                record_failed: bool = False, cwd: str | None = None,
                stdout_to_stderr: bool = False, *, inputs: dict[str, str] | None = None,
                outputs: dict[str, str] | None = None, params: Texts = None,
                metrics: Texts = None, message: str | None = None, kind: str | None = None,
                python: str | None = None, command: str | None = None,
                progress: Progress | None = None, base: str | None = None,
                code: Texts = None, strict: bool = False) -> SnapshotResult:
        """Run ``argv`` (default: ``command`` of ``[snapshot.NAME]``) and record it. A string
        runs through ``/bin/sh -c``, a list as is.

        The files the command's Python processes open under the repository are traced:
        the source files become the code scope unless ``code=`` (or ``code`` of
        ``[snapshot.NAME]``) declares one, and data files read but not recorded are kept in
        ``record.run.trace.unrecorded``. With ``strict=True`` such a read (or a command
        that cannot be traced) fails the run and records nothing. Other options are those
        of :meth:`snapshot`."""
        from mlver.ops.run import RunSession, execute

        p = self.plan(name, inputs, outputs, params, metrics, message, kind, command, base, code)
        # the command's own interpreter, not ours: python is not defaulted to this one
        session = RunSession(self.store, self.workspace, p, python, progress, strict=strict)
        result = execute(session, argv, record_failed, cwd, stdout_to_stderr)
        if result.warning:
            self.warn(result.warning)
        return result

    def import_dvc(self, path: str = ".", rev_range: str | None = None,
                   progress: Progress | None = None, base: str | None = None) -> ImportResult:
        """Import the git history of the DVC project at ``path`` (relative to ``base``,
        default the repository root) as versions: one per stage (named after it) or
        ``.dvc``-tracked path (``data/raw.csv`` -> ``data-raw.csv``) at each commit where
        its recorded hashes changed. ``rev_range``: a git revision or ``A..B`` (default
        ``HEAD``). Incremental: commits imported before are skipped. Needs ``mlver[dvc]``."""
        from mlver.integrations.importdvc import import_dvc

        rel = self.workspace.to_rel(path, base)
        return import_dvc(self.store, self.workspace, rel, rev_range, progress)

    # -- lineage ----------------------------------------------------------------------------

    def lineage(self, rev: str) -> Lineage:
        """The lineage around ``rev`` (``.upstream()``, ``.downstream()``, ``.graph()``)."""
        from mlver.core.lineage import Lineage

        oid = self.resolve(rev)
        self.record(oid)  # a damaged record is reported as such, not as an empty graph
        return Lineage(self.store.index.graph, oid)

    def content_oid(self, path_or_oid: str) -> str:
        """An oid given as is, or the oid of a path's current content (writing nothing)."""
        from mlver.ops.content import content_oid

        return content_oid(self.workspace, path_or_oid)

    def used_by(self, path_or_oid: str) -> Any:  # a pandas DataFrame (pandas is untyped)
        """Records that consumed this exact content (a path's current content, or an oid)."""
        from mlver.core.lineage import content_frame

        return content_frame(self.store.index.graph, self.content_oid(path_or_oid), "input")

    def produced_by(self, path_or_oid: str) -> Any:
        """Records that produced this exact content."""
        from mlver.core.lineage import content_frame

        return content_frame(self.store.index.graph, self.content_oid(path_or_oid), "output")

    def records(self, name: str | None = None) -> Any:
        """One row per record: name, version, kind, created, commit, message, status, and
        each param and metric as a ``params.KEY`` / ``metrics.KEY`` column (like MLflow)."""
        from mlver.core.lineage import records_frame

        return records_frame(self.log(name))

    # -- status, diff, report and explain -----------------------------------------------------

    def status(self, name: str | None = None) -> list[NameStatus]:
        """Compare the latest version of each name (or ``name``) on HEAD's git history with the
        workspace (see :func:`mlver.core.branches.version_on_head`).

        Reads through the stat cache and writes no objects."""
        from mlver.ops.status import status

        if name and self.store.refs.get(name) is None:
            self.resolve(name)  # the usual unknown-revision error
        return status(self.store, self.workspace, [name] if name else self.names())

    def diff(self, a: str, b: str | None = None, keys: dict[str, Any] | None = None,
             rows: int = 0, progress: Progress | None = None, depth: int = 3,
             targets: dict[str, str] | None = None,
             profiles: dict[str, dict[str, Any]] | None = None) -> Diff:
        """Explain how record ``a`` differs from ``b`` (default: the workspace now).

        Against the workspace, a bare name ``a`` means its latest version on HEAD's git
        history (see :func:`mlver.core.branches.version_on_head`), and the diff says which.

        A changed input made by two versions of another name is followed upstream
        ``depth`` levels (0: not at all): its ``upstream`` is their diff. ``targets`` maps
        a table path (or ``"*"``) to its label column, reported first. ``profiles``, when
        given, receives the table profile the diff used for each blob oid (what the HTML
        report plots). A read-only Repo caches no profile."""
        from mlver.ops.compare import diff_revisions

        return diff_revisions(self.store, self.workspace, a, b, keys, rows, progress, depth,
                              targets, profiles, read_only=self.read_only)

    def report(self, a: str, b: str | None = None, path: str | None = None,
               keys: dict[str, Any] | None = None, depth: int = 3,
               targets: dict[str, str] | None = None, progress: Progress | None = None,
               attribution: Attribution | None = None) -> str:
        """The HTML report of ``diff(a, b)``: one self-contained page (inline CSS, SVG
        plots of each drifted or label column drawn from the table profiles the diff
        used, code hunks, the name's metric history; ``attribution``, from
        :meth:`explain`, adds its section). Written to ``path`` (relative to the
        repository root) when given; the page's text is returned either way."""
        from mlver.views.report_file import write_report

        return write_report(self.store, self.workspace, a, b, path, keys, depth, targets,
                            progress, read_only=self.read_only, attribution=attribution)

    def explain(self, a: str, b: str, metrics: Texts = None, jobs: int = 1,
                budget: int | None = None, split_params: bool = False,
                progress: Progress | None = None, notify: Callable[[str], None] | None = None,
                cache: bool = True, repeats: int | None = None,
                trust: bool = False) -> Attribution:
        """Measure how much of each metric's change from ``a`` to ``b`` each changed input
        group caused, by replaying ``b``'s recorded command with inputs taken from either
        record in scratch copies of the commit (see docs/explain.md); ``str()``,
        ``.to_dict()`` and ``.to_frame()`` of the result show it.

        ``metrics``: a name or a list (default: every numeric metric that changed);
        ``jobs``: replays run at once; ``budget``: runs that sampling may take when more
        than 5 groups differ (default 64); ``split_params``: one group per changed param
        key; ``notify``: called with each line of the plan before anything runs;
        ``cache=False`` reruns replays found in the cache; ``repeats``: replays of each
        version's own configuration, for the noise (default 3); ``trust=True`` replays a
        version that was pulled or imported (refused otherwise)."""
        from mlver.explain.revisions import explain_revisions

        return explain_revisions(self.store, self.workspace, a, b, _listify(metrics), jobs,
                                 budget, split_params, progress, notify, cache, repeats, trust)


def _listify(value: Texts) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)
