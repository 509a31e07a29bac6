"""Building a record from the workspace, and publishing it.

Order of writes (the store's crash rule): blobs and trees, then the record,
in one durable batch; then the ref, by compare-and-swap. A crash at any point
leaves at most unreferenced objects, never a ref to something missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from . import revision as revmod
from .capture import files as capfiles
from .capture import params as capparams
from .errors import CaptureError, ConfigError, RefConflictError, RevisionError
from .record import Artifact, Code, Env, Record
from .store.objects import Batch
from .store.refs import valid_name
from .store.statcache import StatCache

MAX_CAS_RETRIES = 50


@dataclass(frozen=True)
class SnapshotResult:
    """What a snapshot did: the record (new or the unchanged latest) and its oid."""

    oid: str
    record: Record
    created: bool
    exit_code: int = 0  # of the command, for mlver run (the record may be an older one)


def now_utc() -> str:
    """UTC timestamp with microseconds, ISO 8601 with a ``Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_name(name: str, what: str = "name") -> None:
    if not valid_name(name):
        raise ConfigError(
            f"{what} '{name}' is not valid; use letters, digits, '.', '_' and '-' "
            "(no '@', '~' or '/'), starting with a letter or digit")


def to_rel(root: str, path: str, base: str | None = None) -> str:
    """A user path (relative to ``base``, default the root) as a root-relative posix path."""
    full = os.path.normpath(os.path.join(base or root, path))
    rel = os.path.relpath(full, root)
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        raise CaptureError(f"path '{path}' is outside the mlver repository {root}; "
                           "move it inside or run mlver init in a folder above it")
    return "." if rel == "." else rel.replace(os.sep, "/")


def normalize_slots(repo, inputs: dict, outputs: dict) -> tuple[dict, dict]:
    """Root-relative posix paths for existing inputs and all outputs (revisions kept)."""
    ins = {k: to_rel(repo.root, v) if os.path.lexists(os.path.join(repo.root, v)) else v
           for k, v in inputs.items()}
    return ins, {k: to_rel(repo.root, v) for k, v in outputs.items()}


def capture_slots(repo, slots: dict, cache: StatCache, batch: Batch | None,
                  progress=None, allow_revisions: bool = True) -> dict[str, Artifact]:
    """Capture each ``slot -> path`` (or ``slot -> REV[:SLOT]`` of a record's output)."""
    out = {}
    for slot, path in slots.items():
        check_name(slot, "slot")
        if allow_revisions and not os.path.lexists(os.path.join(repo.root, path)):
            art = _from_revision(repo, path)
            if art is not None:
                out[slot] = art
                continue
        if progress:
            progress.start(slot)
        cap = capfiles.capture_path(repo.root, path, cache, batch, progress)
        if progress:
            progress.finish()
        out[slot] = Artifact(path=path, oid=cap.oid, type=cap.type, size=cap.size, files=cap.files)
    return out


def _from_revision(repo, text: str) -> Artifact | None:
    """An input named by a record: that record's (single or named) output."""
    rev_text, _, slot = text.partition(":")
    try:
        rev = revmod.parse(rev_text)
    except RevisionError:
        return None
    if rev.name is None or repo.refs.get(rev.name) is None:
        return None  # not a known name: let capture report the missing path
    oid = repo.resolve(rev_text)
    rec = repo.record(oid)
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
    return replace(art, source=oid)


def capture_context(repo, exclude: list[str], params, metrics, python: str | None,
                    batch: Batch) -> dict:
    """Code, params, metrics and env: the record fields that are not slots."""
    from .capture import env as capenv
    from .capture import git as capgit

    pvals, pfiles = capparams.collect(params or (), repo.root)
    mvals, mfiles = capparams.collect(metrics or (), repo.root)
    git = capgit.capture_code(repo.root, exclude)
    if git is None:
        repo.warn("not inside a git repository: the record has no code section")
        code = Code()
    else:
        patch_oid = batch.add_bytes(git.patch) if git.patch else None
        code = Code(commit=git.commit, branch=git.branch, remote=git.remote, dirty=git.dirty,
                    patch=patch_oid, untracked=git.untracked)
        if git.commit is None:
            repo.warn("the git repository has no commit yet: the code section has no commit")
    env = capenv.capture_env(python or repo.project.python, repo.env_cache_get, repo.env_cache_put)
    env_rec = Env(python=env.python, implementation=env.implementation, platform=env.platform,
                  packages=batch.add_bytes(env.packages), packages_count=env.packages_count)
    return {"code": code, "params": pvals, "params_files": tuple(pfiles), "metrics": mvals,
            "metrics_files": tuple(mfiles), "env": env_rec,
            "author": git.author if git is not None else None}


def publish(repo, draft: Record, batch: Batch, allow_unchanged: bool = True) -> SnapshotResult:
    """Give ``draft`` its version, write it, and move the ref (retrying on a race)."""
    for _ in range(MAX_CAS_RETRIES):
        head = repo.refs.get(draft.name)
        prev = repo.record(head) if head else None
        if (allow_unchanged and prev is not None and prev.content() == draft.content()
                and _failed(prev) == _failed(draft)):
            batch.commit()  # restores any object of the old version that went missing
            return SnapshotResult(head, prev, False)
        rec = draft.with_version(prev.version + 1 if prev else 1, (head,) if head else ())
        oid = batch.add_bytes(rec.encode())
        batch.commit()
        try:
            repo.refs.update(draft.name, oid, head)
        except RefConflictError:
            continue  # another process published a version meanwhile: renumber and retry
        repo.index_records([(oid, rec)])
        return SnapshotResult(oid, rec, True)
    raise RefConflictError(f"ref {draft.name} kept moving while writing; try again")


def _failed(rec: Record) -> bool:
    return rec.run is not None and rec.run.exit_code != 0


@dataclass(frozen=True)
class Plan:
    """What a snapshot or run will capture: the caller's options filled in from
    ``[snapshot.NAME]`` of mlver.toml, paths made root-relative, kind decided."""

    name: str
    kind: str
    message: str
    inputs: dict
    outputs: dict
    params: list
    metrics: list
    command: str | None = None


def resolve_kind(repo, name: str, kind: str | None) -> str:
    """``kind`` as given, else the latest version's, else ``model``; checked."""
    if kind is None:
        head = repo.refs.get(name)
        kind = repo.record(head).kind if head else "model"
    if kind not in ("model", "dataset"):
        raise ConfigError(f"kind '{kind}' is not model or dataset; pass --kind model|dataset")
    return kind


def plan(repo, name: str, inputs=None, outputs=None, params=None, metrics=None, kind=None,
         message=None, command=None) -> Plan:
    """Decide what to capture; ``[snapshot.NAME]`` supplies what the caller did not give."""
    check_name(name)
    spec = repo.project.snapshots.get(name)
    if not inputs and not outputs:
        if spec is None:
            raise ConfigError(
                f"no inputs or outputs given for '{name}' and mlver.toml has no [snapshot.{name}]; "
                "pass -i SLOT=PATH / -o SLOT=PATH or declare it in mlver.toml")
        inputs, outputs = spec.inputs, spec.outputs
        params = params or list(spec.params)
        metrics = metrics or list(spec.metrics)
        command = command or spec.command
    if spec is not None:
        kind = kind or spec.kind
        message = message if message is not None else spec.message
    ins, outs = normalize_slots(repo, dict(inputs or {}), dict(outputs or {}))
    return Plan(name=name, kind=resolve_kind(repo, name, kind), message=message or "",
                inputs=ins, outputs=outs, params=list(params or ()), metrics=list(metrics or ()),
                command=command)


def draft_record(name: str, kind: str, message: str, inputs, outputs, ctx: dict, run=None) -> Record:
    """A record not yet numbered (version and parents are set by :func:`publish`)."""
    return Record(name=name, version=1, kind=kind, created=now_utc(), author=ctx["author"],
                  message=message, inputs=inputs, outputs=outputs, code=ctx["code"],
                  params=ctx["params"], params_files=ctx["params_files"], metrics=ctx["metrics"],
                  metrics_files=ctx["metrics_files"], env=ctx["env"], run=run)


class MemoryBatch:
    """A batch that writes nothing: files are only hashed, small objects kept in memory.

    Used to capture the workspace for ``mlver diff REV`` and ``status`` without
    touching the store; the kept objects land in ``repo.overlay``.
    """

    def __init__(self, overlay: dict) -> None:
        self.overlay = overlay

    def has(self, oid: str) -> bool:
        return True

    def add_bytes(self, data: bytes) -> str:
        from .hashing import oid_of

        oid = oid_of(data)
        self.overlay[oid] = data
        return oid

    def add_file(self, path: str) -> tuple[str, int]:
        from .hashing import hash_file

        return hash_file(path)


def workspace_record(repo, like: Record) -> Record:
    """What snapshotting ``like``'s paths, params and metrics files would record now."""
    mem = MemoryBatch(repo.overlay)
    cache = StatCache(repo.conn)
    slots = {}
    for side, arts in (("inputs", like.inputs), ("outputs", like.outputs)):
        found = {}
        for slot, art in arts.items():
            if art.source:
                found[slot] = art
                continue
            try:
                cap = capfiles.capture_path(repo.root, art.path, cache, mem)
            except CaptureError as e:
                if not os.path.lexists(os.path.join(repo.root, art.path)):
                    continue  # gone from the workspace: the diff reports it removed
                raise e
            found[slot] = Artifact(path=art.path, oid=cap.oid, type=cap.type, size=cap.size,
                                   files=cap.files)
        slots[side] = found
    cache.save()
    exclude = [a.path for a in (*slots["inputs"].values(), *slots["outputs"].values()) if not a.source]
    ctx = capture_context(repo, exclude, list(like.params_files), list(like.metrics_files), None, mem)
    # KEY=VALUE params and metrics live in no file: carry them over so they do not read
    # as removed.
    import copy

    from .capture.params import merge

    for part in ("params", "metrics"):
        values = copy.deepcopy(getattr(like, part))
        merge(values, ctx[part])
        ctx[part] = values
    return draft_record(like.name, like.kind, "(workspace)", slots["inputs"], slots["outputs"], ctx)
