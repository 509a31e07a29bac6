"""``mlver explain A B``: replay a recorded run with its inputs swapped, and measure how much
of a metric's change each changed input group caused (Shapley values, see
:mod:`mlver.attribute`).

The groups are what differs between two records of one name that ``mlver run`` made:
each data slot, the code (commit, uncommitted patch and command, when they differ within
the code scope), and the params (one group, or one per changed key). A replay of a subset
``S`` of them builds a scratch workspace outside the repository:

1. ``git worktree add --detach`` at the commit of the new record when ``code`` is in
   ``S`` (else the old one's), and that record's patch applied with ``git apply`` from
   the blob's bytes on stdin;
2. the params files written as the new record had them for the params groups in ``S``
   (else as the old one had them): their bytes as git holds them at that record's commit
   plus patch, or rebuilt from the recorded values when git does not hold them;
3. each data slot checked out from the store as the new record has it when in ``S``
   (else the old one), with :mod:`mlver.checkout` (paths checked, hashes verified);

then runs the recorded command there and reads the metrics files. The user's workspace
is never touched. Scratch worktrees are removed (``git worktree remove --force``, then
``prune``) after each replay, on failure, and on Ctrl-C or SIGTERM.

Each replay is cached by a hash of everything it ran on (command, commit, patch, input
oids and paths, params bytes, repeat number) as a derived object of the store, so that
asking again, or for another metric, reruns nothing. ``gc`` may drop the cache.

Only the main thread touches git, the store and the index; the worker threads (``jobs``)
run commands and read their metrics files.
"""

from __future__ import annotations

import copy
import os
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

from . import attribute, canonical
from .capture import git as capgit
from .capture.params import dump_values, flatten, merge, parse_bytes, parse_file
from .checkout import Checkout, check_target_path, plan
from .errors import CaptureError, MlverError, ParamsError, ReplayError
from .hashing import oid_of
from .materialize import Dirs, split
from .paramscope import matcher, union
from .progress import Progress
from .record import Artifact, Record
from .store import Store
from .workspace import Workspace

KIND = "replay/1"     # derived objects: the metrics a replay wrote, by a hash of its inputs
NOISE_REPEATS = 2     # extra replays of the old configuration, for the noise floor
DEFAULT_BUDGET = 64   # runs sampling may take when there are more than 5 groups
TAIL_LINES = 20       # lines of a failed replay's log shown
_KILL_WAIT = 5.0      # seconds a command gets between SIGTERM and SIGKILL
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)

Notify = Callable[[str], None]


@dataclass(frozen=True)
class Group:
    """One input group that differs between the two records."""

    kind: str       # "data", "code" or "params"
    name: str = ""  # the slot of a data group; the dotted key of a split params group
    key: tuple = ()  # the key's parts (split params)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}" if self.name else self.kind

    def to_dict(self) -> dict:
        d = {"group": self.label, "kind": self.kind}
        if self.kind == "data":
            d["slot"] = self.name
        elif self.name:
            d["key"] = self.name
        return d


@dataclass
class Side:
    """What one record brings to a replay."""

    oid: str
    rec: Record
    patch: bytes | None = None
    params: dict[str, bytes] = field(default_factory=dict)   # params file -> its bytes
    values: dict[str, dict] = field(default_factory=dict)    # params file -> parsed values

    @property
    def label(self) -> str:
        return self.rec.label

    @property
    def code(self) -> tuple:
        r = self.rec
        return (r.code.commit, r.code.patch, tuple(r.run.command))


# -- refusals --------------------------------------------------------------------------------


def _refuse(store: Store, ws: Workspace, a: Side, b: Side) -> None:
    from .reach import _complete

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
            if not _complete(store, art.oid, art.type):
                raise ReplayError(
                    f"input {slot} ({art.path}) of {s.label} is not in the store (its bytes "
                    "were removed by gc, or never pulled); run mlver pull to fetch them, then "
                    "explain again")
        if r.code.patch is not None and not store.objects.has(r.code.patch):
            raise ReplayError(f"the uncommitted patch of {s.label} is not in the store; run "
                              "mlver pull to fetch it, then explain again")


def _names_root(argv, root: str) -> bool:
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
    replay must take from the scratch worktree); an interpreter in an ignored virtualenv
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


def _agrees(from_files: dict, recorded: Record) -> bool:
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
    got = capgit.files_at(top, side.rec.code.commit, side.patch, [prefix + f for f in files],
                          tmp)
    merged: dict = {}
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


def _tuples(d: dict, prefix: tuple = ()) -> dict[tuple, object]:
    """Like ``flatten``, keyed by the tuple of key parts (keys may hold dots)."""
    out: dict[tuple, object] = {}
    for k, v in d.items():
        key = prefix + (k,)
        if isinstance(v, dict) and v:
            out.update(_tuples(v, key))
        else:
            out[key] = v
    return out


_MISSING = object()


def _get(d: dict, key: tuple):
    cur = d
    for part in key:
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def _set(d: dict, key: tuple, value) -> None:
    cur = d
    for part in key[:-1]:
        if not isinstance(cur.get(part), dict):
            cur[part] = {}
        cur = cur[part]
    cur[key[-1]] = value


def _delete(d: dict, key: tuple) -> None:
    cur = d
    for part in key[:-1]:
        cur = cur.get(part) if isinstance(cur, dict) else None
        if not isinstance(cur, dict):
            return
    if isinstance(cur, dict):
        cur.pop(key[-1], None)


def _merged(side: Side) -> dict:
    out: dict = {}
    for f in side.rec.params_files:
        merge(out, copy.deepcopy(side.values.get(f, {})))
    return out


# -- the plan: groups and configurations -------------------------------------------------------


def _art_key(art: Artifact | None):
    return None if art is None else (art.path, art.oid, art.type, art.exec)


def _code_changed(store: Store, ws: Workspace, a: Side, b: Side) -> tuple[bool, str | None]:
    """Whether the code differs within the code scope, and a note when it differs only
    outside it."""
    if a.code == b.code:
        return False, None
    if a.code[2] != b.code[2]:
        return True, None  # another command is another way to run the code
    from .diff import upstream
    from .diff.codediff import diff_code
    from .diff.records import config_part
    from .workspace import Objects

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


def _number(v) -> bool:
    import math

    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _choose_metrics(a: Record, b: Record, wanted: list[str] | None) -> list[str]:
    from .diff.records import same_value

    fa, fb = flatten(a.metrics), flatten(b.metrics)
    numeric = [k for k in sorted(set(fa) & set(fb)) if _number(fa[k]) and _number(fb[k])]
    if wanted:
        for m in wanted:
            if m not in numeric:
                have = ", ".join(numeric) or "none"
                raise ReplayError(f"'{m}' is not a numeric metric of both {a.label} and "
                                  f"{b.label} (they have: {have}); pick one with --metric")
        return list(dict.fromkeys(wanted))
    if not numeric:
        raise ReplayError(f"{a.label} and {b.label} have no numeric metric in common; "
                          "there is nothing to attribute")
    changed = [k for k in numeric if not same_value(fa[k], fb[k])]
    return changed or numeric


@dataclass(frozen=True)
class Config:
    """Everything one replay runs on; ``key`` names it in the cache."""

    key: str
    subset: frozenset
    repeat: int
    code: Side
    inputs: tuple[tuple[str, Artifact], ...]
    params: tuple[tuple[str, bytes], ...]


class Planner:
    """Groups of the two records, and the configuration of each subset of them."""

    def __init__(self, a: Side, b: Side, prefix: str, groups: list[Group], split: bool) -> None:
        self.a, self.b, self.prefix, self.groups, self.split = a, b, prefix, groups, split

    def config(self, subset: frozenset, repeat: int = 0) -> Config:
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
        cfg = {"format": 1, "command": list(code.rec.run.command),
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


# -- scratch workspaces and running ------------------------------------------------------------


@dataclass
class Scratch:
    """One replay's folder: ``tmp/work`` is the worktree, ``tmp/replay.log`` the log."""

    tmp: str
    added: bool = False

    @property
    def top(self) -> str:
        return os.path.join(self.tmp, "work")

    @property
    def log(self) -> str:
        return os.path.join(self.tmp, "replay.log")


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    metrics: dict | None
    duration_s: float
    why: str | None = None
    tail: tuple[str, ...] = ()


def _write_file(dirs: Dirs, path: str, data: bytes) -> None:
    parent, name = split(path)
    fd = dirs.open(parent, create=True)
    try:
        st = os.lstat(name, dir_fd=fd)
    except FileNotFoundError:
        st = None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise ReplayError(f"'{path}' is a folder in the replayed commit, where the record "
                              "has a params file")
        os.unlink(name, dir_fd=fd)
    out = os.open(name, _CREATE, 0o644, dir_fd=fd)
    with os.fdopen(out, "wb") as f:
        f.write(data)


def _remove_file(dirs: Dirs, path: str) -> None:
    parent, name = split(path)
    try:
        fd = dirs.open(parent, create=False)
    except MlverError:
        return
    if fd is None:
        return
    try:
        st = os.lstat(name, dir_fd=fd)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=fd)


def _tail(path: str, n: int = TAIL_LINES) -> tuple[str, ...]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ()
    return tuple(text.splitlines()[-n:])


def _read_metrics(root: str, files: tuple[str, ...]) -> tuple[dict | None, str | None]:
    real_root = os.path.realpath(root)
    values: dict = {}
    for m in files:
        full = os.path.join(root, m)
        real = os.path.realpath(full)
        if not real.startswith(real_root + os.sep):
            return None, f"its metrics file {m} leads outside the scratch worktree"
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return None, f"it did not write its metrics file {m}"
        if not stat.S_ISREG(st.st_mode):
            return None, f"its metrics file {m} is not a regular file"
        try:
            merge(values, parse_file(full, m))
        except ParamsError as e:
            return None, str(e)
    return values, None


class Runner:
    """Builds scratch worktrees, runs replays ``jobs`` at a time, and cleans up."""

    def __init__(self, store: Store, ws: Workspace, top: str, prefix: str, jobs: int,
                 progress: Progress) -> None:
        self.store, self.ws, self.top, self.prefix = store, ws, top, prefix
        self.jobs, self.progress = jobs, progress
        self.scratches: list[Scratch] = []
        self.procs: set[subprocess.Popen] = set()
        self.lock = threading.Lock()
        self.stopping = False

    # main thread -----------------------------------------------------------------------------

    def prepare(self, cfg: Config) -> Scratch:
        s = Scratch(tempfile.mkdtemp(prefix="mlver-replay-"))
        self.scratches.append(s)  # before git makes anything: cleanup finds it
        side = cfg.code
        try:
            capgit.worktree_add(self.top, s.top, side.rec.code.commit)
            s.added = True
            if side.patch:
                capgit.apply_patch(s.top, side.patch)
        except CaptureError as e:
            raise ReplayError(f"cannot build a scratch worktree at the commit of {side.label} "
                              f"({e})") from None
        root = self.root(s)
        os.makedirs(root, exist_ok=True)
        for m in side.rec.metrics_files:
            check_target_path(m)
        for p, _data in cfg.params:
            check_target_path(p)
        dirs = Dirs(root)
        try:
            for m in side.rec.metrics_files:  # a file left in git is not this replay's figures
                _remove_file(dirs, m)
            for p, data in cfg.params:
                _write_file(dirs, p, data)
        finally:
            dirs.close()
        arts = [art for _slot, art in cfg.inputs]
        if arts:
            want, folders = plan(self.store, arts)
            job = Checkout(self.store, self.ws, root, force=True)
            job.run(side.oid, side.rec, want, folders)
        return s

    def root(self, s: Scratch) -> str:
        return os.path.join(s.top, self.prefix) if self.prefix else s.top

    def cleanup(self, s: Scratch) -> None:
        if s.added:
            capgit.worktree_remove(self.top, s.top)
        shutil.rmtree(s.tmp, ignore_errors=True)
        if s in self.scratches:
            self.scratches.remove(s)

    def cleanup_all(self) -> None:
        for s in list(self.scratches):
            self.cleanup(s)
        capgit.worktree_prune(self.top)

    def kill_all(self) -> None:
        self.stopping = True
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + _KILL_WAIT
        for p in procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p, signal.SIGKILL)
                p.wait()

    def run_all(self, todo: list[Config], done: Callable[[Config, Outcome], None]) -> None:
        """Run ``todo``, ``jobs`` at a time; ``done`` is called in this thread after each."""
        pending = deque(todo)
        running: dict = {}
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="mlver-replay")
        try:
            while pending or running:
                while pending and len(running) < self.jobs:
                    cfg = pending.popleft()
                    s = self.prepare(cfg)
                    fut = pool.submit(self.execute, s, cfg)
                    running[fut] = (cfg, s)
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    cfg, s = running.pop(fut)
                    outcome = fut.result()
                    self.cleanup(s)
                    self.progress.advance()
                    done(cfg, outcome)  # may raise: a failed replay stops the rest
        except BaseException:
            self.kill_all()
            raise
        finally:
            pool.shutdown(wait=True)
            self.cleanup_all()

    # worker threads --------------------------------------------------------------------------

    def execute(self, s: Scratch, cfg: Config) -> Outcome:
        argv = list(cfg.code.rec.run.command)
        cwd = self.root(s)
        env = dict(os.environ, PWD=cwd)
        t0 = time.monotonic()
        with open(s.log, "wb") as log:
            with self.lock:
                if self.stopping:
                    return Outcome(130, None, 0.0, "it was interrupted")
                try:
                    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
                except OSError as e:
                    return Outcome(127, None, 0.0, f"its command could not start ({e.strerror})")
                self.procs.add(proc)
            try:
                code = proc.wait()
            finally:
                with self.lock:
                    self.procs.discard(proc)
        duration = round(time.monotonic() - t0, 3)
        if code != 0:
            why = (f"it was killed by signal {-code}" if code < 0
                   else f"it exited with status {code}")
            return Outcome(code, None, duration, why, _tail(s.log))
        metrics, why = _read_metrics(cwd, cfg.code.rec.metrics_files)
        if metrics is None:
            return Outcome(0, None, duration, why, _tail(s.log))
        return Outcome(0, metrics, duration)


def _signal_group(p: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def _interruptible():
    """SIGTERM raises KeyboardInterrupt too, so that a killed explain cleans up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# -- the cache -------------------------------------------------------------------------------


def _cached(store: Store, key: str) -> tuple[dict, float] | None:
    oid = store.index.get_derived(KIND, key)
    if not oid or not store.objects.has(oid):
        return None
    try:
        d = canonical.loads(store.objects.read(oid))
    except (MlverError, ValueError, OSError):
        return None
    if not isinstance(d, dict) or d.get("type") != "replay" or not isinstance(d.get("metrics"), dict):
        return None
    return d["metrics"], float(d.get("duration_s") or 0.0)


def _remember(store: Store, key: str, metrics: dict, duration: float) -> None:
    data = canonical.dumps({"type": "replay", "format": 1, "metrics": metrics,
                            "duration_s": duration})
    with store.objects.batch() as batch:
        oid = batch.add_bytes(data)
    store.index.set_derived(KIND, key, oid)


# -- explain ---------------------------------------------------------------------------------


def _describe(groups: list[Group], subset: frozenset, repeat: int, a: Side, b: Side) -> str:
    if not subset:
        what = f"{a.label}'s inputs"
    elif len(subset) == len(groups):
        what = f"{b.label}'s inputs"
    else:
        what = (f"{', '.join(groups[i].label for i in sorted(subset))} from {b.label}, the rest "
                f"from {a.label}")
    return what + (f" (noise run {repeat})" if repeat else "")


def _estimate(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{seconds / 60:.0f} min"


def explain(store: Store, ws: Workspace, a_oid: str, a_rec: Record, b_oid: str, b_rec: Record,
            metrics: list[str] | None = None, jobs: int = 1, budget: int = DEFAULT_BUDGET,
            split_params: bool = False, progress: Progress | None = None,
            notify: Notify | None = None, cache: bool = True) -> attribute.Attribution:
    """Attribute the change of each metric from ``a_rec`` to ``b_rec`` to the input groups
    that differ, by replaying the recorded command (see the module doc)."""
    t0 = time.monotonic()
    progress = progress or Progress()
    say = notify or (lambda _text: None)
    if jobs < 1:
        raise ReplayError(f"jobs must be at least 1, not {jobs}")
    a, b = Side(a_oid, a_rec), Side(b_oid, b_rec)
    _refuse(store, ws, a, b)
    where = capgit.work_tree(ws.root)
    if where is None:
        raise ReplayError(f"{ws.root} is not in a git repository; a replay checks the "
                          "recorded commit out into a scratch worktree")
    top, prefix = where
    for s in (a, b):
        if not capgit.has_commit(top, s.rec.code.commit):
            raise ReplayError(f"commit {s.rec.code.commit[:10]} of {s.label} is not in this git "
                              "repository; fetch it (git fetch), then explain again")
        if s.rec.code.patch is not None:
            s.patch = store.objects.read(s.rec.code.patch)
    chosen = _choose_metrics(a.rec, b.rec, metrics)
    notes: list[str] = []
    not_replayed: list[str] = []
    tmp = tempfile.mkdtemp(prefix="mlver-params-")
    try:
        for s in (a, b):
            try:
                _load_params(s, top, prefix, tmp, notes)
            except CaptureError as e:
                raise ReplayError(f"cannot read the params files of {s.label} from git ({e})") \
                    from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    groups = find_groups(store, ws, a, b, split_params, notes, not_replayed)
    notes += _more_notes(a.rec, b.rec)
    n = len(groups)
    planner = Planner(a, b, prefix, groups, split_params)
    if n <= attribute.EXACT_MAX:
        method, sample = "exact", []
        subsets = attribute.all_subsets(n)
    else:
        method = "sampled"
        try:
            sample = attribute.orders(n, budget, int(oid_of(f"{a_oid}{b_oid}".encode())[:15], 16))
        except ValueError as e:
            raise ReplayError(f"{e}; raise --budget to at least {n + 1}") from None
        subsets = sorted({s for o in sample for s in attribute.prefixes(o)},
                         key=lambda s: (len(s), sorted(s)))
    wanted = [(s, 0) for s in subsets] + [(frozenset(), r) for r in range(1, NOISE_REPEATS + 1)]
    configs = {(s, r): planner.config(s, r) for s, r in wanted}
    results: dict[str, tuple[dict, float, bool]] = {}
    if cache:
        for cfg in configs.values():
            hit = _cached(store, cfg.key)
            if hit is not None:
                results[cfg.key] = (hit[0], hit[1], True)
    todo = list({c.key: c for c in configs.values() if c.key not in results}.values())

    commands = dict.fromkeys(shlex.join(s.rec.run.command) for s in (a, b))
    say(f"Replaying the command recorded with {b.label}: {' / '.join(commands)}")
    names = ", ".join(g.label for g in groups)
    env = "; env differs too (not replayable)" if _env_differs(a.rec, b.rec) else ""
    say(f"  {n} input groups differ: {names}{env}" if n > 1 else
        f"  1 input group differs: {names}{env}" if n == 1 else
        f"  no input group differs{env}")
    per_run = a.rec.run.duration_s
    est = per_run * -(-len(todo) // jobs)
    total = attribute.runs_text(len(subsets), NOISE_REPEATS)
    if method == "sampled":
        total += f" ({len(sample)} sampled orders, budget {budget})"
    cached = len({c.key for c in configs.values()}) - len(todo)
    when = (f"about {_estimate(est)} at --jobs {jobs} ({a.label} ran {per_run:.1f} s); each "
            "in a scratch worktree outside the repository") if todo else "nothing to run"
    say(f"  {total}, {cached} cached; {when}")

    def value(metric: str, subset: frozenset, repeat: int = 0) -> float:
        cfg = configs[(subset, repeat)]
        got = flatten(results[cfg.key][0]).get(metric)
        if not _number(got):
            what = _describe(groups, subset, repeat, a, b)
            files = ", ".join(cfg.code.rec.metrics_files)
            raise ReplayError(f"the replay with {what} wrote no number for metric '{metric}' "
                              f"in {files}; pick a metric the command writes with --metric")
        return float(got)

    def finished(cfg: Config, out: Outcome) -> None:
        if out.metrics is None:
            what = _describe(groups, cfg.subset, cfg.repeat, a, b)
            last = next((line.strip() for line in reversed(out.tail) if line.strip()), None)
            end = f"; its log ends with: {last[:300]}" if last else "; its log is empty"
            raise ReplayError(f"the replay with {what} failed: {out.why}{end}",
                              exit_code=out.exit_code, tail=out.tail)
        results[cfg.key] = (out.metrics, out.duration_s, False)
        if cache:
            _remember(store, cfg.key, out.metrics, out.duration_s)
        for m in chosen:
            value(m, cfg.subset, cfg.repeat)  # a metric the command does not write: stop now

    if todo:
        runner = Runner(store, ws, top, prefix, jobs, progress)
        progress.start("replaying")
        progress.total(len(todo))
        try:
            with _interruptible():
                runner.run_all(todo, finished)
        finally:
            progress.finish()

    per_metric = []
    fa, fb = flatten(a.rec.metrics), flatten(b.rec.metrics)
    for m in chosen:
        v = lambda s, m=m: value(m, s)  # noqa: E731
        if method == "exact":
            values, errs = attribute.exact(n, v), [None] * n
        else:
            values, errs = attribute.sampled(n, sample, v)
        base = [value(m, frozenset(), r) for r in range(NOISE_REPEATS + 1)]
        floor = max(base) - min(base)
        full = value(m, frozenset(range(n)))
        total = sum(abs(x) for x in values)
        shares = [attribute.Share(g.label, g.kind, val, abs(val) / total if total else None,
                                  err, abs(val) < floor)
                  for g, val, err in zip(groups, values, errs)]
        shares.sort(key=lambda s: -abs(s.value))
        per_metric.append(attribute.MetricShares(m, float(fa[m]), float(fb[m]), base[0], full,
                                                 floor, tuple(shares)))
    runs = []
    for (s, r), cfg in configs.items():
        got, duration, was_cached = results[cfg.key]
        runs.append(attribute.ReplayRun(tuple(groups[i].label for i in sorted(s)), r,
                                        was_cached, duration, flatten(got)))
    return attribute.Attribution(
        old=_ref(a), new=_ref(b), command=tuple(b.rec.run.command),
        groups=tuple(g.to_dict() for g in groups), method=method,
        orders=len(sample), budget=budget if method == "sampled" else None,
        metrics=tuple(per_metric), runs=tuple(runs), env_differs=_env_differs(a.rec, b.rec),
        notes=tuple(notes), seconds=round(time.monotonic() - t0, 3), jobs=jobs,
        not_replayed=tuple(not_replayed))


def _ref(s: Side) -> dict:
    return {"oid": s.oid, "name": s.rec.name, "version": s.rec.version}


def _more_notes(a: Record, b: Record) -> list[str]:
    from .diff.records import unrecorded_reads

    out = []
    reads = unrecorded_reads(a, b)
    if reads:
        shown = ", ".join(reads[:3]) + (f" and {len(reads) - 3} more" if len(reads) > 3 else "")
        out.append(f"the runs read {shown}, which the records do not hold: replays read them "
                   "as git has them at the replayed commit, or not at all")
    untracked = sorted(set(a.code.untracked) | set(b.code.untracked))
    if untracked:
        shown = ", ".join(untracked[:3]) + (f" and {len(untracked) - 3} more"
                                            if len(untracked) > 3 else "")
        out.append(f"files that were untracked when the runs were recorded are not in the "
                   f"replays: {shown}")
    return out
