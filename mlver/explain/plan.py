"""What a replay of ``mlver explain`` runs on: the two records' sides, the refusals made before
anything runs, their params files, the groups that differ, and the configuration (and cache
key) of each subset of the groups. No command runs here."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlver.base import canonical
from mlver.capture import git as capgit
from mlver.core.params import dump_values, flatten, merge, parse_bytes
from mlver.ops.checkout import check_target_path
from mlver.base.errors import ParamsError, ReplayError
from mlver.base.hashing import oid_of
from mlver.core.paramscope import matcher, union
from mlver.core.record import Artifact, Record, Run
from mlver.store import Store
from mlver.core.workspace import Workspace
from mlver.explain.attribute import GroupInfo


@dataclass(frozen=True)
class Group:
    """One input group that differs between the two records."""

    kind: str       # "data", "code" or "params"
    name: str = ""  # the slot of a data group; the dotted key of a split params group
    key: tuple[str, ...] = ()  # the key's parts (split params)

    @property
    def label(self) -> str:
        """``data SLOT``, ``code``, ``params`` or ``params KEY``."""
        return f"{self.kind} {self.name}" if self.name else self.kind

    def info(self) -> GroupInfo:
        """The group as the result shows it."""
        if self.kind == "data":
            return GroupInfo(self.label, self.kind, slot=self.name)
        return GroupInfo(self.label, self.kind, key=self.name or None)

    def to_dict(self) -> dict[str, str]:
        """The JSON entry of the result's ``groups``."""
        return self.info().to_dict()


@dataclass
class Side:
    """What one record brings to a replay."""

    oid: str
    rec: Record
    patch: bytes | None = None
    params: dict[str, bytes] = field(default_factory=dict)   # params file -> its bytes
    # params file -> parsed values
    values: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The record's ``NAME@VERSION``."""
        return self.rec.label

    @property
    def run(self) -> Run:
        """The record's run (a record without one is refused before anything replays)."""
        if self.rec.run is None:
            raise ReplayError(f"{self.label} has no recorded command (it was made by mlver "
                              "snapshot, not mlver run); only a recorded run can be replayed")
        return self.rec.run

    @property
    def commit(self) -> str:
        """The record's git commit (a record without one is refused likewise)."""
        if self.rec.code.commit is None:
            raise ReplayError(f"{self.label} was recorded without a git commit; a replay needs "
                              "its code from git")
        return self.rec.code.commit

    @property
    def code(self) -> tuple[str | None, str | None, tuple[str, ...]]:
        """Commit, patch and command: what makes the code a replay runs."""
        r = self.rec
        return (r.code.commit, r.code.patch, tuple(self.run.command))


# -- refusals --------------------------------------------------------------------------------


def _refuse(store: Store, ws: Workspace, a: Side, b: Side) -> None:
    from mlver.core.reach import complete

    if a.rec.name != b.rec.name:
        raise ReplayError(f"{a.label} and {b.label} are versions of different names; explain "
                          "replays two versions of one name (the same command, other inputs)")
    for s in (a, b):
        r = s.rec
        if r.run is None or not r.run.command:
            raise ReplayError(f"{s.label} has no recorded command (it was made by mlver "
                              "snapshot, not mlver run); only a recorded run can be replayed")
        if r.failed:
            raise ReplayError(f"{s.label} is a failed run (exit status {r.run.exit_code}); "
                              "explain replays runs that succeeded")
        if r.code.commit is None:
            raise ReplayError(f"{s.label} was recorded without a git commit; a replay needs "
                              "its code from git")
        if _names_root(r.run.command[1:], ws.root) or _runs_tracked_file(r.run.command[0], ws):
            root = os.path.realpath(ws.root)
            raise ReplayError(
                    f"the command recorded with {s.label} names the repository's own folder "
                f"({root}), so a replay would read or write the workspace; record the run "
                "with paths relative to the repository")
        if not r.metrics_files:
            raise ReplayError(f"{s.label} read no metrics file (-M FILE), so a replay has "
                              "no metrics to read; record the run with -M metrics.json")
        for slot, art in sorted(r.inputs.items()):
            if not complete(store, art.oid, art.type):
                raise ReplayError(
                    f"input {slot} ({art.path}) of {s.label} is not in the store (its bytes "
                    "were removed by gc, or never pulled); run mlver pull to fetch them, then "
                    "explain again")
        if r.code.patch is not None and not store.objects.has(r.code.patch):
            raise ReplayError(f"the uncommitted patch of {s.label} is not in the store; run "
                              "mlver pull to fetch it, then explain again")


def _names_root(argv: Sequence[str], root: str) -> bool:
    """True when an argument names the repository's folder (or something inside it)."""
    import re

    for r in {os.path.abspath(root), os.path.realpath(root)}:
        if r == "/":
            continue
        pattern = re.compile(re.escape(r) + r"(?![^/\s'\";&|)])")
        if any(pattern.search(arg) for arg in argv):
            return True
    return False


def _runs_tracked_file(program: str, ws: Workspace) -> bool:
    """True when the program is a file of the repository that git tracks (its code, which a
    replay must take from the scratch copy); an interpreter in an ignored virtualenv
    inside the repository is the environment, and is fine."""
    if not program.startswith("/") or not _names_root([program], ws.root):
        return False
    for root in {os.path.abspath(ws.root), os.path.realpath(ws.root)}:
        if program.startswith(root + "/"):
            return bool(capgit.tracked(ws.root, [program[len(root) + 1:]]))
    return False


# -- params ----------------------------------------------------------------------------------


def _ext(path: str) -> str:
    return os.path.splitext(path)[1].lower()


def _agrees(from_files: dict[str, Any], recorded: Record) -> bool:
    """Every value the files give in the params scope is the recorded one (KEY=VALUE
    params may add more)."""
    rec, used = flatten(recorded.params), matcher(recorded.params_scope)
    return all(k in rec and rec[k] == v for k, v in flatten(from_files).items() if used(k))


def _load_params(side: Side, top: str, prefix: str, tmp: str, notes: list[str]) -> None:
    """The bytes and values of ``side``'s params files as the run read them."""
    files = list(side.rec.params_files)
    if not files:
        return
    for f in files:
        check_target_path(f)
    got = capgit.files_at(top, side.commit, side.patch, [prefix + f for f in files], tmp)
    merged: dict[str, Any] = {}
    complete = True
    for f in files:
        raw = got.get(prefix + f)
        if raw is None:
            complete = False
            continue
        try:
            values = parse_bytes(raw, _ext(f), f)
        except ParamsError:
            complete = False
            continue
        side.params[f], side.values[f] = raw, values
        merge(merged, copy.deepcopy(values))
    if complete and _agrees(merged, side.rec):
        return
    if len(files) != 1:
        raise ReplayError(
            f"the params files of {side.label} ({', '.join(files)}) are not in git as they "
            "were recorded (untracked, ignored or changed), and several files cannot be "
            "rebuilt from the merged values; commit them, then record and explain again")
    f = files[0]
    side.values[f] = copy.deepcopy(side.rec.params)
    side.params[f] = dump_values(side.values[f], _ext(f), f)
    notes.append(f"{f} of {side.label} is not in git as it was recorded; replays write it "
                 "from the recorded values")


Key = tuple[str, ...]  # a params key's parts


def _tuples(d: dict[str, Any], prefix: Key = ()) -> dict[Key, object]:
    """Like ``flatten``, keyed by the tuple of key parts (keys may hold dots)."""
    out: dict[Key, object] = {}
    for k, v in d.items():
        key = prefix + (k,)
        if isinstance(v, dict) and v:
            out.update(_tuples(v, key))
        else:
            out[key] = v
    return out


_MISSING = object()


def _get(d: dict[str, Any], key: Key) -> object:
    cur: object = d
    for part in key:
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def _set(d: dict[str, Any], key: Key, value: object) -> None:
    cur = d
    for part in key[:-1]:
        if not isinstance(cur.get(part), dict):
            cur[part] = {}
        cur = cur[part]
    cur[key[-1]] = value


def _delete(d: dict[str, Any], key: Key) -> None:
    cur: object = d
    for part in key[:-1]:
        cur = cur.get(part) if isinstance(cur, dict) else None
        if not isinstance(cur, dict):
            return
    if isinstance(cur, dict):
        cur.pop(key[-1], None)


def _merged(side: Side) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in side.rec.params_files:
        merge(out, copy.deepcopy(side.values.get(f, {})))
    return out


# -- the plan: groups and configurations -------------------------------------------------------


def _art_key(art: Artifact | None) -> tuple[str, str, str, bool] | None:
    return None if art is None else (art.path, art.oid, art.type, art.exec)


def _code_changed(store: Store, ws: Workspace, a: Side, b: Side) -> tuple[bool, str | None]:
    """Whether the code differs within the code scope, and a note when it differs only
    outside it."""
    if a.code == b.code:
        return False, None
    if a.code[2] != b.code[2]:
        return True, None  # another command is another way to run the code
    from mlver.diff import upstream
    from mlver.diff.codediff import diff_code
    from mlver.diff.configscope import config_part
    from mlver.core.workspace import Objects

    skip = {x.path for r in (a.rec, b.rec) for x in (*r.inputs.values(), *r.outputs.values())}
    skip |= {p for r in (a.rec, b.rec) for p in (*r.params_files, *r.metrics_files)}
    skip |= upstream.data_paths(store, [a.oid, b.oid])
    code = diff_code(Objects(store, ws), a.rec.code, b.rec.code, skip,
                     *config_part(a.rec, b.rec))
    if code["changed"]:
        return True, None
    outside = code.get("commits_outside_scope") or 0
    if not outside:
        return False, None  # e.g. only params files differ in the uncommitted patches
    return False, (f"{outside} commit{'s' if outside != 1 else ''} outside the code scope; "
                   f"replays use {a.label}'s code")


def _env_differs(a: Record, b: Record) -> bool:
    e, f = a.env, b.env
    return (e.python, e.implementation, e.platform, e.packages) != \
        (f.python, f.implementation, f.platform, f.packages)


def _number(v: object) -> bool:
    import math

    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _choose_metrics(a: Record, b: Record, wanted: list[str] | None
                    ) -> tuple[list[str], list[str]]:
    """The metrics to explain, and the numeric ones left out because their recorded values
    are the same (by default only metrics that changed are replayed: none may be)."""
    from mlver.diff.records import same_value

    fa, fb = flatten(a.metrics), flatten(b.metrics)
    numeric = [k for k in sorted(set(fa) & set(fb)) if _number(fa[k]) and _number(fb[k])]
    if wanted:
        for m in wanted:
            if m not in numeric:
                have = ", ".join(numeric) or "none"
                raise ReplayError(f"'{m}' is not a numeric metric of both {a.label} and "
                                  f"{b.label} (they have: {have}); pick one with --metric")
        return list(dict.fromkeys(wanted)), []
    if not numeric:
        raise ReplayError(f"{a.label} and {b.label} have no numeric metric in common; "
                          "there is nothing to attribute")
    changed = [k for k in numeric if not same_value(fa[k], fb[k])]
    return changed, [k for k in numeric if k not in changed]


@dataclass(frozen=True)
class Config:
    """Everything one replay runs on; ``key`` names it in the cache."""

    key: str
    subset: frozenset[int]
    repeat: int
    code: Side
    inputs: tuple[tuple[str, Artifact], ...]
    params: tuple[tuple[str, bytes], ...]


class Planner:
    """Groups of the two records, and the configuration of each subset of them."""

    def __init__(self, a: Side, b: Side, prefix: str, groups: list[Group], split: bool) -> None:
        self.a, self.b, self.prefix, self.groups, self.split = a, b, prefix, groups, split

    def config(self, subset: frozenset[int], repeat: int = 0) -> Config:
        """The configuration replaying ``subset`` of the groups (from ``b``; the rest from
        ``a``), for its ``repeat``-th time."""
        a, b = self.a, self.b
        chosen = [self.groups[i] for i in sorted(subset)]
        code = b if any(g.kind == "code" for g in chosen) else a
        slots = {g.name for g in chosen if g.kind == "data"}
        inputs = []
        for slot in sorted(set(a.rec.inputs) | set(b.rec.inputs)):
            art = (b if slot in slots else a).rec.inputs.get(slot)
            if art is not None:
                inputs.append((slot, art))
        params = self._params([g for g in chosen if g.kind == "params"])
        cfg = {"format": 1, "command": list(code.run.command),
               "commit": code.rec.code.commit, "patch": code.rec.code.patch,
               "root": self.prefix, "metrics_files": list(code.rec.metrics_files),
               "inputs": {s: [x.path, x.oid, x.type, x.exec] for s, x in inputs},
               "params": {p: oid_of(data) for p, data in params}, "repeat": repeat}
        return Config(oid_of(canonical.dumps(cfg)), subset, repeat, code, tuple(inputs),
                      tuple(params))

    def _params(self, chosen: list[Group]) -> list[tuple[str, bytes]]:
        a, b = self.a, self.b
        all_params = [g for g in self.groups if g.kind == "params"]
        if not chosen:
            return sorted(a.params.items())
        if len(chosen) == len(all_params):
            return sorted(b.params.items())
        out = []
        for f in sorted(set(a.rec.params_files) | set(b.rec.params_files)):
            values = copy.deepcopy(a.values.get(f, {}))
            touched = False
            for g in chosen:
                new = _get(b.values.get(f, {}), g.key)
                if new is _MISSING and _get(values, g.key) is _MISSING:
                    continue
                if new is _MISSING:
                    _delete(values, g.key)
                else:
                    _set(values, g.key, copy.deepcopy(new))
                touched = True
            if touched:
                out.append((f, dump_values(values, _ext(f), f)))
            elif f in a.params:
                out.append((f, a.params[f]))
        return out


def find_groups(store: Store, ws: Workspace, a: Side, b: Side, split: bool,
                notes: list[str], not_replayed: list[str]) -> list[Group]:
    """The groups that differ: data slots, code, params (see the module doc)."""
    groups = [Group("data", s) for s in sorted(set(a.rec.inputs) | set(b.rec.inputs))
              if _art_key(a.rec.inputs.get(s)) != _art_key(b.rec.inputs.get(s))]
    changed, note = _code_changed(store, ws, a, b)
    if changed:
        groups.append(Group("code"))
    if note:
        notes.append(note)
    ta, tb = _tuples(_merged(a)), _tuples(_merged(b))
    used = matcher(union(a.rec.params_scope, b.rec.params_scope))  # outside: not used
    keys = sorted(k for k in set(ta) | set(tb) if ta.get(k, _MISSING) != tb.get(k, _MISSING)
                  and used(".".join(k)))
    if keys:
        if split:
            groups += [Group("params", ".".join(k), k) for k in keys]
        else:
            groups.append(Group("params"))
    ra, rb = flatten(a.rec.params), flatten(b.rec.params)
    dotted = {".".join(k) for k in keys}
    pairs = sorted(k for k in set(ra) | set(rb)
                   if ra.get(k, _MISSING) != rb.get(k, _MISSING) and k not in dotted
                   and used(k))
    if pairs:
        shown = ", ".join(pairs[:4]) + (f" and {len(pairs) - 4} more" if len(pairs) > 4 else "")
        not_replayed.append(f"params {shown}: not in a params file (KEY=VALUE or logged), "
                            "so a replay cannot set them; their part is in the residual")
    return groups
