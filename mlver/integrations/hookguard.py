"""What the git hooks may run and record (used by :mod:`mlver.integrations.hooks`).

* **No code from the work tree.** The scripts start mlver in isolated mode (``-I``): a
  branch holding ``mlver/__init__.py`` or ``xxhash.py`` is never imported.
  :func:`isolated_path` finds, at install time, the folders an isolated interpreter would
  lose (``PYTHONPATH``, the user site) that the installing one found mlver in.
* **No program named by a merged mlver.toml.** A snapshot runs ``[env] python`` to list
  its packages. From a hook (no one typed a command) it runs only the one ``mlver hooks
  install`` showed and pinned (:mod:`mlver.sync.trust`), never a file git tracks (a branch
  could change its bytes); otherwise post-commit snapshots nothing and says why.
* **No false pair.** A name whose inputs changed while its outputs did not is not
  snapshotted: its outputs were not made from those inputs (:class:`Change`). Nor is a
  name whose outputs are those of a version recorded on another branch: a branch switch
  left them there, nothing made them from this branch's code and params
  (:func:`made_elsewhere`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlver.base.gitcmd import run_git
from mlver.integrations.hookprobe import PROBE_TIMEOUT, isolated_path  # noqa: F401 (hookguard API)
from mlver.integrations.hookscript import USER_SUFFIX

if TYPE_CHECKING:
    from mlver.integrations.hookscript import HookState
    from mlver.integrations.hooksite import Site

# -- [env] python --------------------------------------------------------------------------


def resolve_env_python(root: str, text: str) -> str | None:
    """The file ``[env] python`` names, as a snapshot run from ``root`` finds it: a path
    (relative to ``root``) or a command on ``PATH``; None when there is none."""
    path = os.path.expanduser(text)
    if os.sep in path or (os.altsep and os.altsep in path):
        path = os.path.join(root, path)
        return os.path.abspath(path) if os.path.isfile(path) else None
    found = shutil.which(path)
    return os.path.abspath(found) if found else None


def tracked_by_git(root: str, path: str) -> bool:
    """True when ``path`` (or the file it links to) is inside ``root``'s work tree and git
    tracks it: a checkout can change its bytes."""
    top = os.path.realpath(root)
    for p in {os.path.abspath(path), os.path.realpath(path)}:
        rp = os.path.realpath(os.path.dirname(p))
        if rp != top and not rp.startswith(top + os.sep):
            continue
        rel = os.path.relpath(os.path.join(rp, os.path.basename(p)), top)
        try:
            out = run_git(top, "ls-files", "-z", "--", f":(literal){rel}", timeout=10)
        except (OSError, subprocess.SubprocessError):
            return True  # cannot tell: do not trust it
        if out.returncode != 0 or out.stdout.strip(b"\0"):
            return True
    return False


@dataclass(frozen=True)
class EnvPython:
    """``[env] python`` of mlver.toml as the hooks see it."""

    text: str  # as written in mlver.toml
    path: str | None  # the file it names (None: not found)
    trusted: bool  # pinned by mlver hooks install, and not a file git tracks
    why: str  # why not trusted ("" when trusted)


def env_python(site: Site) -> EnvPython | None:
    """The ``[env] python`` a hook's snapshot would run (None when mlver.toml names none)."""
    from mlver.sync.trust import read_pins

    text = site.workspace.project.python
    if not text:
        return None
    path = resolve_env_python(site.root, text)
    if path is None:
        return EnvPython(text, None, False, f"[env] python in mlver.toml names {text}, "
                         "which was not found")
    if tracked_by_git(site.root, path):
        return EnvPython(text, path, False, f"[env] python in mlver.toml names {text}, a "
                         "file git tracks (a branch can change what it runs), so the hooks "
                         "never run it")
    if read_pins(site.store.path).python != (text, path):
        return EnvPython(text, path, False, f"[env] python in mlver.toml names {text}, which "
                         "mlver hooks install has not trusted (a merge or a checkout may have "
                         "changed it); check it, then run mlver hooks install to trust it")
    return EnvPython(text, path, True, "")


def env_python_refusal(site: Site) -> str | None:
    """Why a hook must not snapshot (it would run an untrusted ``[env] python``), or None."""
    ep = env_python(site)
    if ep is None or ep.trusted:
        return None
    return ep.why


def trust_env_python(site: Site) -> EnvPython | None:
    """What ``mlver hooks install`` does with ``[env] python``: pin it when it can be
    trusted (found, not tracked by git); the result says what the hooks will do."""
    from mlver.sync.trust import pin_python

    text = site.workspace.project.python
    if not text:
        pin_python(site.store.path, None, None)
        return None
    path = resolve_env_python(site.root, text)
    if path is not None and not tracked_by_git(site.root, path):
        pin_python(site.store.path, text, path)
    return env_python(site)


# -- what changed since the latest version -------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What differs between ``[snapshot.NAME]``'s paths and its latest version."""

    inputs: bool  # an input slot, path or content differs
    outputs: bool  # an output slot, path or content differs
    version: int | None  # the latest version (None: the name has none)
    output_paths: tuple[str, ...]  # the outputs the latest version recorded

    @property
    def any(self) -> bool:
        return self.inputs or self.outputs

    @property
    def stale_outputs(self) -> bool:
        """Inputs moved on, outputs did not: a snapshot would pair new data with an old
        model (or table), a version no run produced."""
        return self.inputs and not self.outputs and bool(self.output_paths)


def changes(site: Site, name: str) -> Change:
    """Compare the inputs and outputs ``[snapshot.NAME]`` names with its latest version on
    HEAD's history (or its latest, outside git): slots, paths or content (through the stat
    cache). A name with no version on this history has changed."""
    from mlver.core import history
    from mlver.ops import snapshot as snap
    from mlver.core.branches import version_on_head
    from mlver.ops.drift import drift

    store, ws = site.store, site.workspace
    branch = version_on_head(store, name, ws.root)
    if branch is None or branch.on_history is False:
        return Change(True, True, None, ())
    rec = history.load_record(store, branch.oid)
    p = snap.plan(store, ws, name)
    outs = tuple(a.path for a in rec.outputs.values())
    inputs = set(p.inputs) | set(p.revisions) != set(rec.inputs)
    outputs = set(p.outputs) != set(rec.outputs)
    cache = ws.stat_cache()
    try:
        for side, slots, arts in (("in", p.inputs, rec.inputs), ("out", p.outputs, rec.outputs)):
            if inputs if side == "in" else outputs:
                continue  # already known to differ
            for slot, path in slots.items():
                art = arts.get(slot)
                moved = (art is None or bool(art.source) or art.path != path
                         or drift(ws, art, cache).changed)
                if moved:
                    if side == "in":
                        inputs = True
                    else:
                        outputs = True
                    break
        if not inputs:
            for slot, text in p.revisions.items():
                art = rec.inputs.get(slot)
                if art is None or not art.source or \
                        snap.from_revision(store, text).oid != art.oid:
                    inputs = True
                    break
    finally:
        cache.save()
    return Change(inputs, outputs, rec.version, outs)


MAX_ORIGINS = 200  # versions of one name holding the same content, checked newest first


@dataclass(frozen=True)
class Elsewhere:
    """The workspace's outputs of a name (its inputs, for a name without outputs) are
    exactly those of a version recorded on another branch: a checkout left them there
    (git does not touch ignored files), no run made them here."""

    name: str
    label: str  # the other branch's version, ``NAME@N``
    paths: tuple[str, ...]  # the workspace paths that are that version's
    here: int | None  # the latest version on HEAD's history (None: none is)

    def line(self) -> str:
        """The one line post-commit prints instead of a snapshot."""
        verb = "is" if len(self.paths) == 1 else "are"
        fix = (f"mlver checkout {self.name}@{self.here} restores this branch's, or retrain "
               f"with mlver run {self.name}" if self.here is not None
               else f"retrain with mlver run {self.name}")
        return (f"mlver: {self.name}: {', '.join(self.paths)} {verb} {self.label}'s (recorded "
                f"on another branch), not made here; {fix}")


def made_elsewhere(site: Site, name: str, here: int | None) -> Elsewhere | None:
    """The version of ``name`` recorded on another branch (its commit is not HEAD nor an
    ancestor of it) whose outputs (inputs, for a name without outputs) the workspace
    holds, slot for slot; None when there is none, when a version on HEAD's history holds
    them too, outside git, or when a path is missing.

    Bounded: one index query for the versions of ``name`` whose first slot holds the
    workspace's content (at most :data:`MAX_ORIGINS`), each then checked against its
    record, the truth. A version without a commit is on every history: never elsewhere.
    """
    from mlver.core import history
    from mlver.ops import snapshot as snap
    from mlver.core.branches import head_ancestry
    from mlver.capture.path import capture_path

    store, ws = site.store, site.workspace
    p = snap.plan(store, ws, name)
    relation, slots = ("output", p.outputs) if p.outputs else ("input", p.inputs)
    if not slots or (relation == "input" and p.revisions):
        return None  # an input of another record's output: not a file a checkout leaves
    cache = ws.stat_cache()
    try:
        now = {}
        for slot, path in slots.items():
            if not ws.exists(path):
                return None
            now[slot] = capture_path(ws.root, path, cache)
    finally:
        cache.save()
    ancestry = head_ancestry(ws.root)
    if ancestry is None:
        return None
    first = min(slots)
    found = None
    for oid, _version, _commit in store.index.versions_holding(
            name, relation, first, now[first].oid, MAX_ORIGINS):
        rec = history.load_record(store, oid)
        arts = rec.outputs if relation == "output" else rec.inputs
        if set(arts) != set(slots) or not all(
                arts[s].path == slots[s] and not arts[s].source and arts[s].oid == now[s].oid
                and arts[s].type == now[s].type for s in slots):
            continue
        commit = rec.code.commit  # the record's, not the index's: the record is the truth
        if commit is None or ancestry.contains(commit):
            return None  # a version on this history holds them too: they may be this branch's
        found = found or rec
    if found is None:
        return None
    return Elsewhere(name, found.label, tuple(slots[s] for s in sorted(slots)), here)


def data_changed(site: Site, name: str) -> bool:
    """True when the inputs or outputs ``[snapshot.NAME]`` names differ from its latest
    version on HEAD's history (or it has none there)."""
    return changes(site, name).any


# -- what the hooks run ----------------------------------------------------------------------


@dataclass(frozen=True)
class Program:
    """A program the installed git hooks run (``mlver hooks install`` and ``status`` list
    them)."""

    path: str
    hooks: tuple[str, ...]  # the hooks that run it
    why: str  # "mlver" (the interpreter of the scripts), "[env] python" or "your hook"
    runs: bool  # False: an [env] python the hooks refuse to run
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"program": self.path, "hooks": list(self.hooks), "why": self.why,
                "runs": self.runs, "note": self.note}

    def line(self) -> str:
        hooks = ", ".join(self.hooks)
        if self.why == "your hook":
            return f"runs: {self.path} ({hooks}: your own hook, first)"
        if self.why == "mlver":
            if self.note:  # an interpreter a branch can change (install --force-interpreter)
                return f"runs: {self.path} -I ({hooks}), UNSAFE: {self.note}"
            return (f"runs: {self.path} -I ({hooks}: mlver in isolated mode, nothing in the "
                    "work tree is imported)")
        if self.runs:
            return (f"runs: {self.path} ({hooks}: [env] python of mlver.toml, to list the "
                    "packages of a snapshot; trusted by mlver hooks install)")
        return f"never runs: {self.path} ({hooks}): {self.note}; post-commit snapshots nothing"


def hook_programs(site: Site | None, states: list[HookState]) -> list[Program]:
    """The programs of :meth:`mlver.integrations.hooks.Hooks.programs`, from the hooks' states."""
    from mlver.base.errors import MlverError

    pys: dict[str, list[str]] = {}
    for s in states:
        if s.installed and s.enabled and s.python:
            pys.setdefault(s.python, []).append(s.hook)

    out = [Program(s.path + USER_SUFFIX, (s.hook,), "your hook", True)
           for s in states if s.installed and s.chained]
    from mlver.integrations.hooktrust import interpreter_note, work_tree_top

    top = work_tree_top(site.root) if site is not None and pys else None
    out += [Program(py, tuple(h), "mlver", True, interpreter_note(py, top))
            for py, h in pys.items()]
    commit = next((s for s in states if s.hook == "post-commit"), None)
    if site is None or commit is None or not (commit.installed and commit.enabled):
        return out
    try:
        if not site.workspace.project.hooks.snapshot:
            return out
        ep = env_python(site)
    except MlverError:
        return out
    if ep is not None:
        out.append(Program(ep.path or ep.text, ("post-commit",), "[env] python", ep.trusted,
                           ep.why))
    return out
