"""What ``mlver hooks install`` checks and pins so that a branch or a merge cannot change
what the git hooks run or record (used by :mod:`mlver.integrations.hooks`; see docs/hooks.md).

* **The interpreter and what it imports live outside the work tree.** A branch can write
  any file into the work tree, ignored folders included (``git add -f``): a ``.pth`` file
  in a virtualenv inside the repository runs on every ``python -I``, and a folder of the
  work tree on the script's ``sys.path`` lets a branch's ``mlver/`` shadow the real one.
  So :func:`hook_path` drops every folder of the work tree from the path written into the
  scripts, :func:`check_interpreter` refuses an interpreter whose file, environment
  (``sys.prefix``) or mlver is inside it, unless forced; and the scripts take every folder
  of the work tree off ``sys.path`` at start (:func:`mlver.integrations.hookscript.launch`).
* **The watched names are the ones the user was shown.** ``[hooks] snapshot`` and the
  ``[snapshot.NAME]`` tables it names decide what post-commit reads (an ignored ``.env``
  can be named as an input) and what pre-push then sends. Install (and ``mlver hooks
  trust``) pins a digest of each watched name's table and the ``on-checkout`` mode in
  ``trusted.hooks`` of ``.mlver/config.json``; a hook leaves out any name whose table is
  new or changed since, and says so in one line (:func:`consent`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlver.base.gitcmd import show_toplevel
from mlver.base.errors import ConfigError, StoreFormatError
from mlver.core.config import HooksConfig, SnapshotSpec
from mlver.store.settings import read_store_config
from mlver.integrations.hookprobe import isolated_path, probe

if TYPE_CHECKING:
    from mlver.integrations.hooksite import Site

KEY = "hooks"  # under "trusted" of the store config
FORCE_FLAG = "--force-interpreter"


class UntrustedInterpreterError(ConfigError):
    """The hooks would run an interpreter a branch can change (see module doc)."""


# -- where things are -----------------------------------------------------------------------


def work_tree_top(root: str) -> str | None:
    """The real path of the top of ``root``'s git work tree (None outside git)."""
    top = show_toplevel(root)
    return os.path.realpath(top) if top else None


def inside(path: str, top: str) -> bool:
    """True when ``path`` (its real path, or its path as written) is ``top`` or below it."""
    for p in {os.path.abspath(path), os.path.realpath(path)}:
        if p == top or p.startswith(top.rstrip(os.sep) + os.sep):
            return True
    return False


def _venv_of(python: str) -> str | None:
    """The virtualenv ``python`` belongs to, from its file alone (``pyvenv.cfg`` one level
    above its folder); None when there is none."""
    env = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    return env if os.path.isfile(os.path.join(env, "pyvenv.cfg")) else None


def interpreter_note(python: str, top: str | None) -> str:
    """For ``mlver hooks status``: why ``python`` (or its virtualenv) is one a branch can
    change, or "" (from the files alone; install asks the interpreter itself)."""
    if top is None:
        return ""
    env = _venv_of(python)
    if inside(python, top):
        where = f"{python} is"
    elif env and inside(env, top):
        where = f"its environment {env} is"
    else:
        return ""
    return (f"{where} inside the work tree, where a branch can add files that every hook "
            "would run; create the virtualenv outside the repository, then run mlver hooks "
            "install again")


def check_interpreter(python: str, top: str, path: tuple[str, ...], force: bool) -> bool:
    """Refuse (unless ``force``) an interpreter a branch can change: its file, its
    environment or the mlver it imports inside the work tree ``top``. Refuse, forced or
    not, when it cannot import mlver without the work tree. True: forced (the scripts then
    keep the work tree's folders on ``sys.path``, where its own packages are)."""
    # what python -I sees with path first on sys.path, run from an empty folder
    with tempfile.TemporaryDirectory(prefix="mlver-probe-") as cwd:
        seen = probe(python, ["-I"], cwd, path)
    if seen is None:
        return False  # it does not run: status says it is gone, as before
    mod = seen.get("mlver")
    if not isinstance(mod, str):
        raise UntrustedInterpreterError(
            f"{python} cannot import mlver in isolated mode without the folders inside the "
            f"work tree {top}; install mlver outside the work tree (pip install mlver in a "
            "virtualenv outside the repository), then run mlver hooks install again")
    why = None
    env = _venv_of(python)
    if inside(python, top):
        why = f"{python} is inside the work tree {top}"
    else:
        for key in ("prefix", "exec_prefix"):
            p = seen.get(key)
            if isinstance(p, str) and inside(p, top):
                why = f"the environment of {python} ({p}) is inside the work tree {top}"
                break
        if why is None and env and inside(env, top):
            why = f"the environment of {python} ({env}) is inside the work tree {top}"
    if why is None and inside(mod, top):
        why = f"{python} imports mlver from {mod}, inside the work tree {top}"
    if why and not force:
        raise UntrustedInterpreterError(
            f"the hooks would run {python}, but {why}: a branch can add files there (a .pth "
            "file, a module) that every commit, checkout, merge and push would run; create "
            "the virtualenv outside the repository and run mlver hooks install from it, or "
            f"pass {FORCE_FLAG}")
    return why is not None


def hook_path(python: str, top: str | None) -> tuple[str, ...]:
    """The folders the scripts put first on ``sys.path`` (:func:`mlver.integrations.hookguard.
    isolated_path`), without any folder inside the work tree ``top``: a branch could add a
    ``mlver/`` there."""
    extra = isolated_path(python)
    return extra if top is None else tuple(p for p in extra if not inside(p, top))


# -- the watched names ----------------------------------------------------------------------


def digest(spec: SnapshotSpec) -> str:
    """A digest of one parsed ``[snapshot.NAME]`` table (canonical JSON of its fields)."""
    text = json.dumps(dataclasses.asdict(spec), sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class HookPin:
    """What the user consented to for the hooks: ``{name: digest}`` and ``on-checkout``."""

    names: dict[str, str]
    on_checkout: str


def read_pin(store_dir: str) -> HookPin | None:
    """``trusted.hooks`` of the store config (None: never pinned), validated."""
    raw = read_store_config(store_dir).get("trusted", {})
    pin = raw.get(KEY) if isinstance(raw, dict) else None
    if pin is None:
        return None
    names = pin.get("names") if isinstance(pin, dict) else None
    mode = pin.get("on-checkout") if isinstance(pin, dict) else None
    if not (isinstance(names, dict) and len(names) <= 1000 and mode in ("warn", "restore")
            and all(isinstance(k, str) and isinstance(v, str) for k, v in names.items())):
        raise StoreFormatError("trusted.hooks in .mlver/config.json is not valid; remove that "
                               "key, then run mlver hooks trust")
    return HookPin(dict(names), mode)


@dataclass(frozen=True)
class Watched:
    """One watched name as pinned (its paths), or the default remote pre-push sends data to
    (``remote``: its URL): the lines install and trust print."""

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    remote: str | None = None  # the URL: the default remote pre-push sends data to

    def line(self) -> str:
        if self.remote is not None:
            return f"trusted: remote {self.name} {self.remote} (pre-push sends the data there)"
        ins = ", ".join(self.inputs) or "none"
        outs = ", ".join(self.outputs) or "none"
        return f"trusted: {self.name} (inputs: {ins}; outputs: {outs})"


def pin_hooks(site: Site, remote: bool = True) -> list[Watched]:
    """Trust the ``[hooks]`` of mlver.toml as it is now: each watched name's table and the
    ``on-checkout`` mode (``mlver hooks install`` and ``mlver hooks trust``); and the default
    remote when its name has no pin yet (:func:`mlver.sync.trust.trust_default_for_hooks`),
    unless not ``remote``."""
    from mlver.sync.trust import update_trusted

    project = site.workspace.project
    cfg = project.hooks
    names = {n: digest(project.snapshots[n]) for n in cfg.snapshot}
    if read_pin(site.store.path) != HookPin(names, cfg.on_checkout):
        def change(raw: dict[str, Any]) -> None:
            raw[KEY] = {"names": names, "on-checkout": cfg.on_checkout}

        update_trusted(site.store.path, change)
    out: list[Watched] = []
    for n in cfg.snapshot:
        s = project.snapshots[n]
        out.append(Watched(n, tuple(s.inputs.values()), tuple(s.outputs.values())))
    from mlver.sync.trust import trust_default_for_hooks

    spec = trust_default_for_hooks(site) if remote else None  # (pre-push needs a pin)
    if spec is not None:
        out.append(Watched(spec.name, (), (), spec.url))
    return out


@dataclass(frozen=True)
class Consent:
    """The part of ``[hooks]`` a hook may act on."""

    config: HooksConfig  # with only the trusted names and the trusted on-checkout
    left_out: tuple[str, ...]  # watched names new or changed since the pin
    mode_held: bool  # on-checkout became "restore" since the pin: "warn" is used


def consent(site: Site, cfg: HooksConfig) -> Consent:
    """The ``[hooks]`` the user trusted, out of ``cfg``. A store whose hooks were never
    pinned (installed by an older mlver, or run by husky, lefthook or the pre-commit
    framework) pins what it sees at the first hook run."""
    pin = read_pin(site.store.path)
    if pin is None:
        pin_hooks(site, remote=False)  # a hook run never pins a remote
        return Consent(cfg, (), False)
    specs = site.workspace.project.snapshots
    keep = tuple(n for n in cfg.snapshot if pin.names.get(n) == digest(specs[n]))
    left = tuple(n for n in cfg.snapshot if n not in keep)
    held = cfg.on_checkout == "restore" and pin.on_checkout != "restore"
    mode = "warn" if held else cfg.on_checkout
    return Consent(dataclasses.replace(cfg, snapshot=keep, on_checkout=mode), left, held)


def untrusted_names(site: Site) -> list[str]:
    """The watched names the hooks leave out (their table is new or changed since it was
    trusted), in ``[hooks] snapshot`` order; none when nothing was ever pinned (the first
    hook run pins what it sees). Nothing is pinned here."""
    pin = read_pin(site.store.path)
    if pin is None:
        return []
    project = site.workspace.project
    return [n for n in project.hooks.snapshot
            if pin.names.get(n) != digest(project.snapshots[n])]


def status_lines(site: Site) -> list[str]:
    """For ``mlver hooks status``: one line per name of :func:`untrusted_names`."""
    return [f"not trusted: {n} ([snapshot.{n}] is new or changed since mlver hooks install; "
            "the hooks leave it out until mlver hooks trust)" for n in untrusted_names(site)]


def consent_line(hook: str, c: Consent) -> str | None:
    """The one line a hook prints when it leaves something out, with the fix."""
    parts = []
    if c.left_out:
        tables = ", ".join(f"[snapshot.{n}]" for n in c.left_out)
        parts.append(f"{hook} left out {', '.join(c.left_out)}: {tables} of [hooks] snapshot "
                     "in mlver.toml is new or changed since mlver hooks install")
    if c.mode_held and hook in ("post-checkout", "post-merge"):
        parts.append(f"{hook} only warns: [hooks] on-checkout is now \"restore\", which "
                     "mlver hooks install did not trust")
    if not parts:
        return None
    return ("mlver: " + "; ".join(parts) + " (a merge or a checkout may have changed it); "
            "check mlver.toml, then run mlver hooks trust")


def hook_config(site: Site, hook: str,
                echo: Callable[[str], None]) -> tuple[HooksConfig, tuple[str, ...]]:
    """``([hooks] as trusted, names pre-push must not send)`` for ``hook``; says what it
    left out. pre-push with a ``[hooks]`` table that does not parse goes on as if there
    were none (the data still goes only to a trusted remote), said in one line."""
    try:
        cfg = site.workspace.project.hooks
    except ConfigError as e:
        if hook != "pre-push":
            raise
        from mlver.core.config import load_project

        try:
            site.workspace._project = load_project(site.root, hooks=False)
        except ConfigError:
            raise e from None
        echo(f"mlver: pre-push ignored [hooks] of mlver.toml: {e}")
        return site.workspace.project.hooks, ()
    if not cfg.on(hook):
        return cfg, ()
    c = consent(site, cfg)
    line = consent_line(hook, c)
    if line:
        echo(line)
    return c.config, c.left_out
