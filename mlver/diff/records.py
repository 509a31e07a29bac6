"""Compare two records section by section: data, code, params, env, outputs, metrics.

Diffs are computed, never stored; only table profiles are cached (by blob oid,
see ``mlver.diff.tablecache``). The explanation text is built by
``mlver.diff.text`` from the verdict judged here (``mlver.diff.judge``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypedDict, cast

from mlver.core.params import flatten
from mlver.base.errors import CorruptObjectError
from mlver.diff.identity import counts_code, judged_code
from mlver.diff.configscope import config_part  # noqa: F401 (callers import it from here)
from mlver.core.paramscope import matcher, union
from mlver.base.progress import Progress
from mlver.core.reach import REMOVED_NOTE, gone_artifacts
from mlver.core.record import MISSING_AT_IMPORT, Artifact, Record
from mlver.store import Store
from mlver.core.workspace import Objects, Workspace
from mlver.diff import envdiff, tablecache, text, upstream
from mlver.diff.judge import judge
from mlver.diff.codediff import diff_code
from mlver.diff.folders import diff_trees
from mlver.diff.changes import MetricChange, OldNew, ParamsChange, ParamsDelta, Ref
from mlver.diff.value import Diff, SlotDiff

if TYPE_CHECKING:
    from mlver.diff.tables import TableDiff

FOLDER_TABLES = 3  # modified tables inside a folder that get a table diff


class _Common(TypedDict):
    """What every comparison of two versions of a slot says (the keywords of SlotDiff)."""

    path: str
    old: str
    new: str
    type: str
    old_size: int | None
    new_size: int | None
    old_path: str | None


def _slot(objs: Objects, slot: str, a: Artifact | None, b: Artifact | None,
          opts: tablecache.TableOptions, gone: frozenset[str] = frozenset()) -> SlotDiff:
    if a is None:
        assert b is not None  # a slot is on one side at least
        return SlotDiff(slot, "added", b.path, None, b.oid, b.type, None, b.size)
    if b is None:
        return SlotDiff(slot, "removed", a.path, a.oid, None, a.type, a.size, None)
    common = _Common(path=b.path, old=a.oid, new=b.oid, type=b.type, old_size=a.size,
                     new_size=b.size, old_path=a.path if a.path != b.path else None)
    if a.oid == b.oid:  # same content: moved when the path differs
        return SlotDiff(slot, "moved" if a.path != b.path else "unchanged", **common)
    if a.missing or b.missing:  # imported from DVC without its bytes: nothing to compare
        return SlotDiff(slot, "modified", note=missing_note(a, b), **common)
    if a.oid in gone or b.oid in gone:  # gc --keep-last dropped one side's bytes
        return SlotDiff(slot, "modified", note=REMOVED_NOTE, **common)
    if a.type == "tree" and b.type == "tree":
        try:
            files = diff_trees(objs.tree, a.oid, b.oid)
        except CorruptObjectError as e:  # a missing or damaged tree: say so, diff the rest
            return SlotDiff(slot, "modified", note=f"folders not compared: {e}", **common)
        tables: dict[str, TableDiff] = {}
        notes: list[str] = []
        for path, old_oid, new_oid in files.modified_oids:
            if len(tables) >= FOLDER_TABLES:
                break
            full = f"{b.path}/{path}"
            t, note = tablecache.diff_blobs(objs, old_oid, new_oid, f"{a.path}/{path}", full,
                                            opts)
            if t is not None:
                tables[path] = t
            elif note and len(notes) < FOLDER_TABLES:
                notes.append(f"{path}: {note}")
        return SlotDiff(slot, "modified", files=files, tables=tables,
                        note="; ".join(notes) or None, **common)
    if a.type == "blob" and b.type == "blob":
        table, note = tablecache.diff_blobs(objs, a.oid, b.oid, a.path, b.path, opts)
        return SlotDiff(slot, "modified", table=table, note=note,
                        shared_bytes=shared_bytes(objs, a.oid, b.oid), **common)
    return SlotDiff(slot, "modified", note=f"type changed from {a.type} to {b.type}", **common)


def shared_bytes(objs: Objects, old: str, new: str) -> int | None:
    """How many bytes of ``new`` the ``old`` content holds too, from the two files' chunk
    manifests (no byte is read): what a checkpoint whose weights changed in a few places
    keeps. None unless both are stored as chunks."""
    try:
        a, b = objs.store.objects.manifest(old), objs.store.objects.manifest(new)
    except CorruptObjectError:
        return None
    if a is None or b is None:
        return None
    have = {c for c, _n in a.chunks}
    return sum(n for c, n in b.chunks if c in have)


def missing_note(a: Artifact, b: Artifact) -> str:
    """Why two versions of a slot were compared by md5 only: one side (or both) was
    missing from the DVC cache when it was imported."""
    if a.missing and b.missing:
        return (f"both sides were {MISSING_AT_IMPORT} (md5 {a.missing} -> {b.missing}); "
                "compared by md5 only")
    side, art = ("old", a) if a.missing else ("new", b)
    return f"the {side} side was {art.missing_note}; not compared"


def _slots(objs: Objects, old: Mapping[str, Artifact], new: Mapping[str, Artifact],
           opts: tablecache.TableOptions,
           gone: frozenset[str] = frozenset()) -> dict[str, SlotDiff]:
    return {s: _slot(objs, s, old.get(s), new.get(s), opts, gone)
            for s in sorted(set(old) | set(new))}


def _gone(store: Store, *sides: tuple[str | None, Record]) -> frozenset[str]:
    """Slot contents of these records whose bytes ``gc --keep-last`` removed."""
    return frozenset(art.oid for oid, rec in sides if oid is not None
                     for _side, _slot, art in gone_artifacts(store, oid, rec))


def _params_changes(a: dict[str, Any], b: dict[str, Any]) -> ParamsDelta:
    return {"added": {k: b[k] for k in sorted(b) if k not in a},
            "removed": {k: a[k] for k in sorted(a) if k not in b},
            "changed": {k: OldNew(old=a[k], new=b[k]) for k in sorted(a)
                        if k in b and a[k] != b[k]}}


def diff_params(old: dict[str, Any], new: dict[str, Any],
                scope: Sequence[str] | None = None) -> ParamsChange:
    """Added, removed and changed params, nested keys dotted.

    Only keys inside ``scope`` (the union of both records' params scopes; None: every
    key) are changes. With a scope, ``scope`` lists it and ``outside_scope`` holds the
    other keys' changes in the same form (both absent without one, as before scopes)."""
    a, b = flatten(old), flatten(new)
    if scope is None:
        return cast(ParamsChange, _params_changes(a, b))
    ins = matcher(scope)
    inside = _params_changes({k: v for k, v in a.items() if ins(k)},
                             {k: v for k, v in b.items() if ins(k)})
    outside = _params_changes({k: v for k, v in a.items() if not ins(k)},
                              {k: v for k, v in b.items() if not ins(k)})
    return ParamsChange(**inside, scope=list(scope), outside_scope=outside)


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


METRIC_RTOL = 1e-12  # numbers this close (relative) are the same metric value


def same_value(a: Any, b: Any) -> bool:
    """Equal, or two numbers within METRIC_RTOL of each other (NaN equals NaN); a
    boolean never equals a number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and bool(a == b)
    if _number(a) and _number(b):
        if a == b or (math.isnan(a) and math.isnan(b)):
            return True
        return bool(abs(a - b) <= METRIC_RTOL * max(abs(a), abs(b)))
    return bool(a == b)


def diff_metrics(old: dict[str, Any], new: dict[str, Any]) -> dict[str, MetricChange]:
    """Every metric with its old and new value, and the delta when both are numbers."""
    a, b = flatten(old), flatten(new)
    out: dict[str, MetricChange] = {}
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        delta = (round(cast(float, vb) - cast(float, va), 10) if _number(va) and _number(vb)
                 else None)
        changed = (k in a) != (k in b) or not same_value(va, vb)
        out[k] = {"old": va, "new": vb, "delta": delta, "changed": changed}
    return out


def _ref(oid: str | None, rec: Record) -> Ref:
    return {"oid": oid, "name": rec.name, "version": rec.version if oid else None}


def unrecorded_reads(old: Record, new: Record) -> tuple[str, ...]:
    """Data files either run read that neither record holds (their traces' lists)."""
    held = [a.path for r in (old, new) for a in (*r.inputs.values(), *r.outputs.values())]
    found = {p for r in (old, new) if r.run is not None and r.run.trace is not None
             for p in r.run.trace.unrecorded}
    return tuple(sorted(p for p in found
                        if not any(p == h or p.startswith(h + "/") or h == "." for h in held)))


def diff_records(store: Store, ws: Workspace, old_oid: str, old: Record, new_oid: str | None,
                 new: Record, keys: dict[str, Any] | None = None, rows: int = 0,
                 progress: Progress | None = None, depth: int = 0,
                 _budget: upstream.Budget | None = None,
                 targets: Mapping[str, str | None] | None = None,
                 profiles: dict[str, dict[str, Any]] | None = None,
                 cache: bool | None = None) -> Diff:
    """Compute the :class:`Diff` of two records (``new_oid`` None: the workspace).

    ``keys``/``targets`` map a table path (or ``"*"``: every table) to its key
    columns / its target (label) column; mlver.toml's ``[tables]`` fills the rest.
    ``depth`` > 0 follows each changed input upstream that many levels (see
    :mod:`mlver.diff.upstream`): its ``upstream`` is the diff of the two records that
    produced its old and new content. ``profiles``, when given, receives the table
    profile used for each blob oid (this diff's and the upstream ones'); ``cache`` False
    stores no profile (default: store them, except for a workspace diff)."""
    keys = keys or {}
    targets = targets or {}

    def key_for(path: str) -> Any:
        return keys.get(path) or keys.get("*") or ws.project.table_key(path)

    def target_for(path: str) -> str | None:
        return targets.get(path) or targets.get("*") or ws.project.table_target(path)

    # A workspace diff writes nothing, not even profiles (upstream diffs included).
    if _budget is not None:
        cache = _budget.cache
    elif cache is None or cache:
        cache = new_oid is not None
    opts = tablecache.TableOptions(key_for=key_for, target_for=target_for, rows=rows,
                                   cache=cache,
                                   progress=progress or Progress(), profiles=profiles,
                                   memory=ws.project.diff_memory)
    objs = Objects(store, ws)
    gone = _gone(store, (old_oid, old), (new_oid, new))
    inputs = _slots(objs, old.inputs, new.inputs, opts, gone)
    outputs = _slots(objs, old.outputs, new.outputs, opts, gone)
    if depth > 0 and any(s.status == "modified" for s in inputs.values()):
        budget = _budget or upstream.Budget(cache=cache)

        def diff_pair(a_oid: str, a: Record, b_oid: str, b: Record) -> Diff:
            return diff_records(store, ws, a_oid, a, b_oid, b, keys, 0, opts.progress,
                                depth - 1, budget, targets, profiles)

        inputs = upstream.follow(store, inputs, old, old_oid, new, new_oid, budget, diff_pair)
    if _budget is None:
        opts.progress.finish()
    skip = {a.path for a in (*old.inputs.values(), *new.inputs.values(),
                             *old.outputs.values(), *new.outputs.values())}
    skip |= set(old.params_files) | set(new.params_files)
    skip |= set(old.metrics_files) | set(new.metrics_files)
    # data files of the records upstream are data too, even when git tracks them
    skip |= upstream.data_paths(store, [o for o in (old_oid, new_oid) if o])
    code = diff_code(objs, judged_code(old), judged_code(new), skip, *config_part(old, new))
    if not counts_code(old) and not counts_code(new):
        # raw data on both sides: no code of the repository made it (see mlver.diff.identity)
        code["changed"] = False
        code["counted"] = False
    params = diff_params(old.params, new.params, union(old.params_scope, new.params_scope))
    env = envdiff.diff_env(objs, old.env, new.env)
    metrics = diff_metrics(old.metrics, new.metrics)
    changed = []
    if any(s.status != "unchanged" for s in inputs.values()):
        changed.append("data")
    if code["changed"]:
        changed.append("code")
    if params["added"] or params["removed"] or params["changed"]:
        changed.append("params")
    if env["changed"]:
        changed.append("env")
    new_ref: Ref = (_ref(new_oid, new) if new_oid else
                    {"oid": None, "name": new.name, "version": None, "workspace": True})
    d = Diff(old=_ref(old_oid, old), new=new_ref,
             changed=tuple(changed), inputs=inputs, outputs=outputs, code=code, params=params,
             env=env, metrics=metrics, unrecorded_reads=unrecorded_reads(old, new))
    judged = judge(d)  # once: the text below and the HTML report both render it
    return replace(d, verdict=tuple(text.lines(d, judged)), judged=judged)
