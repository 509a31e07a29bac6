"""Building a record from the workspace, and publishing it.

Order of writes (the store's crash rule): blobs and trees, then the record,
in one durable batch; then the ref, by compare-and-swap. A crash at any point
leaves at most unreferenced objects, never a ref to something missing.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypedDict, cast

from mlver.base.paths import in_reserved
from mlver.core import history
from mlver.core.history import check_name  # noqa: F401 (callers import it from here)
from mlver.core import revision as revmod
from mlver.capture.path import capture_path
from mlver.core import params as capparams
from mlver.base.errors import CaptureError, ConfigError, RefConflictError, RevisionError
from mlver.core.record import KINDS, Artifact, Code, Env, Record, Run, Scope
from mlver.store import Store
from mlver.store.batch import Batch
from mlver.store.statcache import StatCache
from mlver.base.progress import Progress
from mlver.core.workspace import MemoryBatch, Workspace

MAX_CAS_RETRIES = 50


@dataclass(frozen=True)
class SnapshotResult:
    """What a snapshot did: the record (new or the unchanged latest) and its oid."""

    oid: str
    record: Record
    created: bool
    exit_code: int = 0  # of the command, for mlver run (the record may be an older one)
    warning: str | None = None  # published, but something after it failed (the index)


def now_utc() -> str:
    """UTC timestamp with microseconds, ISO 8601 with a ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def split_inputs(store: Store, ws: Workspace, inputs: dict[str, str],
                 base: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """Decide, once, whether each input names a path or a record's output.

    The one rule: an input is a path when something exists there (relative to
    ``base``, default the root); otherwise it is ``REV[:SLOT]`` when that reads as a
    revision of a name with versions; otherwise it is a path (that capture reports
    missing). Returns ``({slot: root-relative path}, {slot: "REV[:SLOT]"})``.
    """
    paths: dict[str, str] = {}
    revisions: dict[str, str] = {}
    for slot, text in inputs.items():
        check_name(slot, "slot")
        if os.path.lexists(os.path.join(base or ws.root, text)):
            paths[slot] = ws.to_rel(text, base)
        elif history.names_record(store, text):
            revisions[slot] = text
        elif _looks_like_revision(text):
            raise CaptureError(f"input '{slot}' ({text}) is neither a path nor a known "
                               "revision; check the path, or see mlver log for the names")
        else:
            paths[slot] = ws.to_rel(text, base)  # capture reports the missing path
    return paths, revisions


def _looks_like_revision(text: str) -> bool:
    """``NAME@X``, ``NAME~K`` or ``REV:SLOT``: what no plain path would be written as."""
    try:
        rev = revmod.parse(text.partition(":")[0])
    except RevisionError:
        return False
    return rev.name is not None and (rev.version is not None or rev.tag is not None
                                     or rev.back > 0 or ":" in text)


def capture_slots(ws: Workspace, slots: dict[str, str], cache: StatCache, batch: Batch | None,
                  progress: Progress | None = None) -> dict[str, Artifact]:
    """Capture each ``slot -> root-relative path``."""
    out = {}
    for slot, path in slots.items():
        check_name(slot, "slot")
        if progress is not None:
            progress.start(slot)
        cap = capture_path(ws.root, path, cache, batch, progress)
        if progress is not None:
            progress.finish()
        out[slot] = Artifact(path=path, oid=cap.oid, type=cap.type, size=cap.size, files=cap.files,
                             exec=cap.exec)
    return out


def capture_inputs(store: Store, ws: Workspace, p: Plan, cache: StatCache,
                   batch: Batch | None, progress: Progress | None = None
                   ) -> dict[str, Artifact]:
    """The plan's inputs: paths captured, revisions resolved to a record's output."""
    arts = capture_slots(ws, p.inputs, cache, batch, progress)
    arts.update({slot: from_revision(store, text) for slot, text in p.revisions.items()})
    return dict(sorted(arts.items()))


def from_revision(store: Store, text: str) -> Artifact:
    """An input named by a record: that record's (single or named) output (refused when
    ``gc --keep-last`` removed its data: the new record would reach what is not here)."""
    from mlver.core.reach import gone_artifacts

    rev_text, _, slot = text.partition(":")
    oid = history.resolve(store, rev_text)
    rec = history.load_record(store, oid)
    if slot:
        art = rec.outputs.get(slot)
        if art is None:
            raise RevisionError(f"{rec.label} has no output '{slot}'; its outputs: "
                                f"{', '.join(rec.outputs) or 'none'}")
    elif len(rec.outputs) == 1:
        art = next(iter(rec.outputs.values()))
    else:
        raise RevisionError(f"{rec.label} has {len(rec.outputs)} outputs "
                            f"({', '.join(rec.outputs) or 'none'}); name one as {rev_text}:SLOT")
    if any(a == art for _side, _slot, a in gone_artifacts(store, oid, rec)):
        raise RevisionError(f"the data of {rec.label}'s output {art.path} was removed by gc; "
                            "mlver pull from a remote that has it can bring it back, or take "
                            "the input from a version whose data is kept")
    return replace(art, source=oid)


class Context(TypedDict):
    """The record fields a snapshot captures besides its slots (see :func:`capture_context`)."""

    code: Code
    params: dict[str, Any]
    params_files: tuple[str, ...]
    params_scope: tuple[str, ...] | None
    metrics: dict[str, Any]
    metrics_files: tuple[str, ...]
    env: Env
    author: str | None


def capture_context(ws: Workspace, exclude: list[str], params: Sequence[str] | None,
                    metrics: Sequence[str] | None, python: str | None,
                    batch: Batch | MemoryBatch, like_env: Env | None = None) -> Context:
    """Code, params, metrics and env: the record fields that are not slots.

    With ``like_env`` (a read-only capture of the workspace) the interpreter is never
    run: its cached description is used when still valid, else ``like_env`` is kept.
    """
    from mlver.capture import env as capenv
    from mlver.capture import git as capgit

    pvals, pfiles, pscope = capparams.collect_params(params or (), ws.root)
    mvals, mfiles = capparams.collect(metrics or (), ws.root)
    git = capgit.capture_code(ws.root, exclude)
    if git is None:
        ws.warn("not inside a git repository: the record has no code section")
        code = Code()
    else:
        patch_oid = batch.add_bytes(git.patch) if git.patch else None
        code = Code(commit=git.commit, branch=git.branch, remote=git.remote, dirty=git.dirty,
                    patch=patch_oid, untracked=git.untracked)
        if git.commit is None:
            ws.warn("the git repository has no commit yet: the code section has no commit")
    env = capenv.capture_env(python or ws.project.python, ws.env_cache_get, ws.env_cache_put,
                             probe=like_env is None)
    if env is None:  # only without probing (like_env given): a probe finds a Python
        env_rec = like_env if like_env is not None else Env()
    else:
        env_rec = Env(python=env.python, implementation=env.implementation,
                      platform=env.platform, packages=batch.add_bytes(env.packages),
                      packages_count=env.packages_count)
    return {"code": code, "params": pvals, "params_files": tuple(pfiles), "params_scope": pscope,
            "metrics": mvals, "metrics_files": tuple(mfiles), "env": env_rec,
            "author": git.author if git is not None else None}


def publish(store: Store, draft: Record, batch: Batch,
            ws: Workspace | None = None) -> SnapshotResult:
    """Give ``draft`` its version, write it, and move the ref (retrying on a race).

    Its version number follows the name's latest version (on any branch); its parent is
    the latest version on its own commit's git history (see :mod:`mlver.core.branches`; git is
    asked in ``ws``'s root; without ``ws``, the latest version). A draft that is the same
    version as that parent is no new version: equal in content, or, with ``ws``, differing
    only in code a diff would not count (see :mod:`mlver.diff.identity`)."""
    from mlver.core.branches import ancestry_of, parent_of
    from mlver.diff.identity import same_version

    root = ws.root if ws is not None else None
    ancestry = ancestry_of(root, draft.code.commit) if root is not None else None
    for _ in range(MAX_CAS_RETRIES):
        head = store.refs.get(draft.name)
        latest = history.load_record(store, head) if head else None
        parent = parent_of(lambda o: history.load_record(store, o), head, draft.code.commit,
                           ancestry)
        prev = history.load_record(store, parent) if parent else None
        if parent is not None and prev is not None and \
                same_version(store, ws, prev, draft, batch.commit):
            batch.commit()  # restores any object of the old version that went missing
            return SnapshotResult(parent, prev, False)
        rec = draft.with_version(latest.version + 1 if latest else 1,
                                 (parent,) if parent else (), head)
        oid = batch.add_bytes(rec.encode())
        batch.commit()
        try:
            store.refs.update(draft.name, oid, head)
        except RefConflictError:
            continue  # another process published a version meanwhile: renumber and retry
        try:
            history.index_records(store, [(oid, rec)])
        except (sqlite3.Error, OSError) as e:
            # The version is published (the ref moved): that is success. The index is
            # derived and catches up with the refs on the next command that opens it.
            return SnapshotResult(oid, rec, True, warning=f"{rec.label} is saved, but the "
                                  f"index could not be updated ({e}); the next command "
                                  "catches up")
        return SnapshotResult(oid, rec, True)
    raise RefConflictError(f"ref {draft.name} kept moving while writing; try again")


@dataclass(frozen=True)
class Plan:
    """What a snapshot or run will capture: the caller's options filled in from
    ``[snapshot.NAME]`` of mlver.toml, paths made root-relative, kind decided."""

    name: str
    kind: str
    message: str
    inputs: dict[str, str]     # slot -> root-relative path
    revisions: dict[str, str]  # slot -> REV[:SLOT]: an output of another record
    outputs: dict[str, str]    # slot -> root-relative path
    params: list[str]
    metrics: list[str]
    command: str | tuple[str, ...] | None = None
    code: tuple[str, ...] | None = None  # the declared code scope (root-relative), if any


def resolve_kind(store: Store, name: str, kind: str | None) -> str:
    """``kind`` as given, else the latest version's, else ``model``; checked."""
    if kind is None:
        head = store.refs.get(name)
        kind = history.load_record(store, head).kind if head else KINDS[0]
    if kind not in KINDS:
        raise ConfigError(f"kind '{kind}' is not one of {', '.join(KINDS)}; "
                          f"pass --kind {'|'.join(KINDS)}")
    return kind


def plan(store: Store, ws: Workspace, name: str, inputs: dict[str, str] | None = None,
         outputs: dict[str, str] | None = None, params: Iterable[str] | None = None,
         metrics: Iterable[str] | None = None, kind: str | None = None,
         message: str | None = None, command: str | tuple[str, ...] | None = None,
         base: str | None = None, code: str | Iterable[str] | None = None) -> Plan:
    """Decide what to capture; ``[snapshot.NAME]`` supplies what the caller did not give.

    Paths given by the caller are relative to ``base`` (default the root); paths from
    mlver.toml are relative to the root. ``code`` declares the code scope (paths and
    globs; ``code`` in ``[snapshot.NAME]`` when not given).
    """
    check_name(name)
    spec = ws.project.snapshots.get(name)
    for what, value in (("inputs", inputs), ("outputs", outputs)):
        if value is not None and not isinstance(value, dict):
            raise ConfigError(f"{what} must map slot names to paths, like "
                              f"{{\"data\": \"data/train.csv\"}}; got {type(value).__name__}")
    pspecs = [_spec_rel(ws, v, base) for v in params or ()]
    capparams.check_given_keys(pspecs, ws.root)  # the caller's -p: a usage error (exit 2)
    mspecs = [_spec_rel(ws, v, base) for v in metrics or ()]
    if isinstance(code, str):
        code = [code]
    scope = [_scope_rel(ws, v, base) for v in code] if code else None
    if spec is not None and (inputs or outputs):
        ws.warn(f"[snapshot.{name}] in mlver.toml is ignored because inputs or outputs were "
                "given; give none to use it")
    if not inputs and not outputs:
        if spec is None:
            raise ConfigError(
                f"no inputs or outputs given for '{name}' and mlver.toml has no [snapshot.{name}]; "
                "pass -i SLOT=PATH / -o SLOT=PATH or declare it in mlver.toml")
        for slot in (*spec.inputs, *spec.outputs):  # mlver.toml's, not a usage error
            check_name(slot, "slot", usage=False)
        inputs, outputs = spec.inputs, spec.outputs
        pspecs = pspecs or list(spec.params)
        mspecs = mspecs or list(spec.metrics)
        command = command or spec.command
        if scope is None and spec.code:
            scope = [_scope_rel(ws, v, None) for v in spec.code]
        base = None  # paths in mlver.toml are relative to the root
    if spec is not None:
        kind = kind or spec.kind
        message = message if message is not None else spec.message
    ins, revs = split_inputs(store, ws, dict(inputs or {}), base)
    outs = {}
    for slot, path in dict(outputs or {}).items():
        check_name(slot, "slot")
        outs[slot] = ws.to_rel(path, base)
    for side, slots in (("input", ins), ("output", outs)):
        for slot, path in slots.items():
            ws.check_capturable(path, f"{side} '{slot}'")
    for slot, out in outs.items():
        for islot, inp in ins.items():
            if _overlaps(out, inp):
                raise ConfigError(
                    f"output '{slot}' ({out}) overlaps input '{islot}' ({inp}): a record "
                    "cannot consume what it produces (it would be its own ancestor); "
                    "write the output to another path")
    return Plan(name=name, kind=resolve_kind(store, name, kind), message=message or "",
                inputs=ins, revisions=revs, outputs=outs, params=pspecs, metrics=mspecs,
                command=command,
                code=tuple(sorted(set(scope))) if scope is not None else None)


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/") or a == "." or b == "."


def _scope_rel(ws: Workspace, value: object, base: str | None) -> str:
    """A declared code-scope entry (a path or a glob) as a root-relative posix path."""
    from mlver.core.scope import MAX_ENTRY, is_glob

    if not isinstance(value, str) or not value or len(value) > MAX_ENTRY or "\0" in value:
        raise ConfigError(f"code scope entry {str(value)[:80]!r} is not a path or a glob; "
                          "give paths like --code train.py or --code 'src/**/*.py'")
    rel = ws.to_rel(value, base)  # refuses a path outside the repository
    if in_reserved(rel):
        raise ConfigError(f"code scope entry '{value}' is inside .mlver or .git; give paths "
                          "of your project's code")
    if not is_glob(rel) and not ws.exists(rel):
        ws.warn(f"code scope path '{rel}' does not exist; check its spelling (only commits "
                "touching the scope count as code changes)")
    return rel


def with_scope(code: Code, scope: Scope | None) -> Code:
    """``code`` carrying ``scope`` (a :class:`~mlver.core.record.Scope` or None); a record
    without a commit has no code section, so no scope either."""
    if code.commit is None or scope is None:
        return code
    return replace(code, scope=scope)


def _spec_rel(ws: Workspace, value: str, base: str | None) -> str:
    """A params/metrics spec: a file becomes root-relative (so does the file of a
    ``FILE:KEYS`` spec); ``KEY=VALUE`` stays."""
    if base is None:
        return value
    if os.path.isfile(os.path.join(base, value)):
        return ws.to_rel(value, base)
    keyed = capparams.keyed_spec(value, base)
    if keyed is not None and os.path.isfile(os.path.join(base, keyed[0])):
        return f"{ws.to_rel(keyed[0], base)}:{keyed[1]}"
    return value


def draft_record(name: str, kind: str, message: str, inputs: dict[str, Artifact],
                 outputs: dict[str, Artifact], ctx: Context, run: Run | None = None) -> Record:
    """A record not yet numbered (version and parents are set by :func:`publish`)."""
    return Record(name=name, version=1, kind=kind, created=now_utc(), author=ctx["author"],
                  message=message, inputs=inputs, outputs=outputs, code=ctx["code"],
                  params=ctx["params"], params_files=ctx["params_files"], metrics=ctx["metrics"],
                  metrics_files=ctx["metrics_files"], env=ctx["env"], run=run,
                  params_scope=ctx.get("params_scope"))


def snapshot(store: Store, ws: Workspace, p: Plan, python: str | None = None,
             progress: Progress | None = None) -> SnapshotResult:
    """Capture a plan's inputs, outputs, code, params, metrics and env as a new version
    (or find the content equal to the latest version, and write no version)."""
    cache = ws.stat_cache()
    with store.objects.batch() as batch:
        ins = capture_inputs(store, ws, p, cache, batch, progress)
        outs = capture_slots(ws, p.outputs, cache, batch, progress)
        ctx = capture_context(ws, [*p.inputs.values(), *p.outputs.values()], p.params,
                              p.metrics, python, batch)
        if p.code is not None:
            ctx["code"] = with_scope(ctx["code"], Scope("declared", p.code))
        draft = draft_record(p.name, p.kind, p.message, ins, outs, ctx)
        result = publish(store, draft, batch, ws)
    cache.save()
    return result


def workspace_record(store: Store, ws: Workspace, like: Record) -> Record:
    """What snapshotting ``like``'s paths, params and metrics files would record now.

    Writes nothing to the store: objects it computes land in ``ws.overlay``."""
    mem = MemoryBatch(ws.overlay)
    cache = ws.stat_cache()
    slots: dict[str, dict[str, Artifact]] = {}
    for side, arts in (("inputs", like.inputs), ("outputs", like.outputs)):
        found: dict[str, Artifact] = {}
        for slot, art in arts.items():
            if art.source:
                found[slot] = art
                continue
            try:
                # A MemoryBatch writes as a Batch does (add_bytes, add_file), to the overlay.
                cap = capture_path(ws.root, art.path, cache, cast(Batch, mem))
            except CaptureError as e:
                if not ws.exists(art.path):
                    continue  # gone from the workspace: the diff reports it removed
                raise e
            found[slot] = Artifact(path=art.path, oid=cap.oid, type=cap.type, size=cap.size,
                                   files=cap.files, exec=cap.exec)
        slots[side] = found
    cache.save()
    exclude = [a.path for a in (*slots["inputs"].values(), *slots["outputs"].values())
               if not a.source]
    # A params or metrics file that is not here (a fresh clone, a metrics file written by
    # training) is not an error: its values are taken as recorded, and the user is told.
    files = {}
    for part in ("params", "metrics"):
        files[part] = [f for f in getattr(like, part + "_files") if os.path.isfile(ws.full(f))]
        for f in getattr(like, part + "_files"):
            if f not in files[part]:
                ws.warn(f"{part} file {f} of {like.label} is absent in the workspace; its "
                        "values are taken as recorded, not compared")
    ctx = capture_context(ws, exclude, files["params"], files["metrics"], None, mem,
                          like_env=like.env)
    ctx["code"] = with_scope(ctx["code"], like.code.scope)  # the scope compared is the record's
    ctx["params_scope"] = like.params_scope  # and so are its params keys
    # KEY=VALUE params and metrics live in no file: carry them over so they do not read
    # as removed.
    import copy

    from mlver.core.params import merge
    from mlver.core.paramscope import scoped

    params = copy.deepcopy(like.params)
    merge(params, ctx["params"])
    ctx["params"] = params
    metrics = copy.deepcopy(like.metrics)
    merge(metrics, ctx["metrics"])
    ctx["metrics"] = metrics
    if like.params_scope is not None and like.scoped_params == like.params:
        # a record holding only its scope's keys (imported from dvc.lock): so does this
        ctx["params"] = scoped(ctx["params"], like.params_scope)
    return draft_record(like.name, like.kind, "(workspace)", slots["inputs"], slots["outputs"],
                        ctx)
