"""Git hooks: snapshot on commit, compare or restore on checkout, push on push.

``install`` writes, into the folder git really runs hooks from (``core.hooksPath`` when
set, else the repository's hooks folder), a tiny POSIX sh script per hook
(:mod:`mlver.integrations.hookscript`): it runs the user's own hook first when there was
one (moved aside to ``HOOK.mlver-user``, byte for byte, mode kept), then mlver in isolated
mode, so that nothing in the work tree (a branch's ``mlver/``, ``src/`` or ``xxhash.py``)
is importable. What the hooks may run and record: :mod:`mlver.integrations.hookguard`.
``uninstall`` removes the script and moves the user's hook back.

:func:`run` is what the scripts call. The post-* hooks never fail the git command: any
error is one line and exit status 0. pre-push fails the push when the data cannot be
pushed (or when mlver itself is gone), since a pushed commit whose data is not on the
remote is what it exists to prevent; ``git push --no-verify`` skips it, as always. What
each hook does: :mod:`mlver.integrations.hookrun`.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from mlver.base.errors import ConfigError, MlverError, NotAStoreError
from mlver.core.config import HOOK_NAMES
from mlver.integrations.hookscript import (USER_SUFFIX, HookState, hooks_dir, is_ours,
                                           python_of, read_head, script, write_script)

if TYPE_CHECKING:
    from mlver.core.workspace import Workspace
    from mlver.integrations.hookguard import Program
    from mlver.integrations.hookrun import Echo
    from mlver.integrations.hooksite import Site
    from mlver.integrations.hooktrust import Watched
    from mlver.integrations.hookwatch import Watch
    from mlver.store import Store


def _echo(line: str) -> None:
    """One line on stderr (git shows a hook's output there), control and bidi characters
    escaped as the command line does (names and paths can come from someone else's store)."""
    from mlver.base.textsafe import safe

    print(safe(line), file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    """``python -m mlver hooks run HOOK [ARGS]...`` without importing the command line
    (``mlver hooks run`` through click does the same)."""
    if not argv or argv[0] in ("-h", "--help"):
        print("Usage: mlver hooks run HOOK [ARGS]...  (internal: what the installed git "
              "hooks call)", file=sys.stderr)
        return 0 if argv else 2
    return run(argv[0], argv[1:])


# -- install, uninstall, status -------------------------------------------------------------


def _check_names(hooks: list[str] | None) -> list[str]:
    if not hooks:
        return list(HOOK_NAMES)
    for h in hooks:
        if h not in HOOK_NAMES:
            raise ConfigError(f"'{h}' is not a hook mlver installs; choose from "
                              f"{', '.join(HOOK_NAMES)}")
    return list(dict.fromkeys(hooks))


class Hooks:
    """The git hooks of a repository (``repo.hooks``): install, uninstall, status, run.

    Without a store and a workspace (a work tree with no store of its own, say), the
    scripts are still installed, removed and listed; nothing is trusted or pinned."""

    def __init__(self, root: str, store: Store | None = None,
                 workspace: Workspace | None = None) -> None:
        from mlver.integrations.hooksite import Site

        self.root = root
        # what pins [env] python and the watched names on install, and says what runs
        self._site: Site | None = (Site(root, store, workspace)
                                   if store is not None and workspace is not None else None)

    def _enabled(self, hook: str) -> bool:
        if self._site is None:
            return True
        try:
            return self._site.workspace.project.hooks.on(hook)
        except MlverError:
            return True

    def install(self, hooks: list[str] | None = None, python: str | None = None,
                force_interpreter: bool = False) -> list[tuple[str, str]]:
        """Install the hooks (default: all four); ``[(hook, what was done)]``. A hook of
        the user's own is moved to ``HOOK.mlver-user`` and run first; installing again
        changes nothing. An interpreter inside the work tree is refused unless
        ``force_interpreter`` (:mod:`mlver.integrations.hooktrust`). What the hooks watch and the
        ``[env] python`` of mlver.toml are pinned as trusted (see :meth:`trust`);
        :meth:`programs` says what the hooks run."""
        from mlver.integrations.hooktrust import check_interpreter, hook_path, work_tree_top

        names = _check_names(hooks)
        folder, rel = hooks_dir(self.root)
        interp = os.path.abspath(python or sys.executable)
        top = work_tree_top(self.root)
        path_extra = hook_path(interp, top)
        unsafe = (check_interpreter(interp, top, path_extra, force_interpreter)
                  if top is not None else False)
        os.makedirs(folder, exist_ok=True)
        self.trust()
        out = []
        for hook in names:
            path = os.path.join(folder, hook)
            user = path + USER_SUFFIX
            want = script(hook, interp, rel, path_extra, not unsafe)
            head = read_head(path)
            if head is not None and is_ours(head):
                if head == want.encode():
                    out.append((hook, "already installed"))
                else:
                    write_script(path, want)
                    out.append((hook, "updated"))
                continue
            if head is not None or os.path.islink(path):
                if os.path.lexists(user):
                    raise ConfigError(
                        f"cannot chain to {path}: {user} already exists; move one of them "
                        "away, then run mlver hooks install again")
                os.rename(path, user)  # the same file: bytes and mode kept
                write_script(path, want)
                out.append((hook, f"installed, runs your {hook} hook first"))
                continue
            write_script(path, want)
            out.append((hook, "installed" + (f", runs {hook}{USER_SUFFIX} first"
                                             if os.path.lexists(user) else "")))
        return out

    def trust(self) -> list[Watched]:
        """Trust ``[hooks]`` of mlver.toml as it is now (``mlver hooks trust``; install does
        it too): the watched names' tables, ``on-checkout`` and ``[env] python``. The
        watched names, as :class:`mlver.integrations.hooktrust.Watched` (their paths)."""
        from mlver.integrations.hookguard import trust_env_python
        from mlver.integrations.hooktrust import pin_hooks

        if self._site is None:
            return []
        trust_env_python(self._site)
        return pin_hooks(self._site)  # (and the default remote, see hooktrust.pin_hooks)

    def untrusted(self) -> list[str]:
        """One line per watched name the hooks leave out until ``mlver hooks trust`` (its
        ``[snapshot.NAME]`` is new or changed since it was trusted)."""
        from mlver.integrations.hooktrust import status_lines

        try:
            return status_lines(self._site) if self._site is not None else []
        except MlverError:
            return []  # a broken mlver.toml: the lines above name it

    def uninstall(self, hooks: list[str] | None = None) -> list[tuple[str, str]]:
        """Remove our scripts and move back the user's hooks they chained to."""
        names = _check_names(hooks)
        folder, _rel = hooks_dir(self.root)
        out = []
        for hook in names:
            path = os.path.join(folder, hook)
            user = path + USER_SUFFIX
            head = read_head(path)
            if head is None and not os.path.islink(path):
                out.append((hook, "not installed"))
                continue
            if not is_ours(head):
                out.append((hook, "not installed (the hook there is not mlver's; left alone)"))
                continue
            if os.path.lexists(user):
                os.replace(user, path)
                out.append((hook, f"removed, your {hook} hook is back"))
            else:
                os.unlink(path)
                out.append((hook, "removed"))
        return out

    def status(self) -> list[HookState]:
        """Each hook: installed or not, chained, its interpreter, on or off."""
        folder, _rel = hooks_dir(self.root)
        out = []
        for hook in HOOK_NAMES:
            path = os.path.join(folder, hook)
            head = read_head(path)
            ours = is_ours(head)
            py = python_of(head) if ours and head else None
            out.append(HookState(
                hook, path, ours, ours and os.path.lexists(path + USER_SUFFIX),
                not ours and (head is not None or os.path.islink(path)), py,
                bool(py and os.access(py, os.X_OK)), self._enabled(hook)))
        return out

    def programs(self) -> list[Program]:
        """The programs a commit, a checkout, a merge and a push run through the installed
        hooks (:class:`mlver.integrations.hookguard.Program`): each interpreter the scripts
        start, and the ``[env] python`` of mlver.toml when post-commit would snapshot with
        it (or refuses to, saying why)."""
        from mlver.integrations.hookguard import hook_programs

        return hook_programs(self._site, self.status())

    def watch(self) -> Watch:
        """Which names each hook snapshots or compares
        (:class:`mlver.integrations.hookwatch.Watch`): the ``[hooks] snapshot`` names, or
        nothing (said so, with the fix)."""
        from mlver.core.config import load_project
        from mlver.integrations.hooktrust import untrusted_names
        from mlver.integrations.hookwatch import watch

        site = self._site
        if site is None:
            return watch(lambda: load_project(self.root), self.status())
        try:
            untrusted = untrusted_names(site)
        except MlverError:
            untrusted = []  # a broken mlver.toml or pin: the watch's error names the first
        return watch(lambda: site.workspace.project, self.status(), untrusted)


# -- what the hooks do ----------------------------------------------------------------------


def run(hook: str, args: list[str], cwd: str = ".", echo: Echo = _echo) -> int:
    """Run ``hook`` as git calls it (the CLI's ``mlver hooks run``); the exit status.

    Never raises: post-* hooks report any failure in one line and return 0; pre-push
    returns 1 when the data could not be pushed."""
    if os.environ.get("MLVER_HOOKS") == "0" or hook not in HOOK_NAMES:
        if hook not in HOOK_NAMES:
            echo(f"mlver: '{hook}' is not a hook mlver runs ({', '.join(HOOK_NAMES)}); "
                 "nothing done")
        return 0
    blocking = hook == "pre-push"
    try:
        from mlver.integrations import hookrun
        from mlver.integrations.hooksite import open_site

        try:
            site = open_site(cwd)
        except NotAStoreError:
            return 0  # no store in this work tree (another worktree, a shared hooksPath)
        try:
            from mlver.integrations.hooktrust import hook_config

            if hook == "post-checkout":
                prev, new, flag = hookrun.checkout_args(args)
                if flag != "1" or prev == new:
                    return 0  # a file checkout, or no commit change
            # only what mlver hooks install trusted (a merge can change [hooks])
            cfg, untrusted = hook_config(site, hook, echo)
            if not cfg.on(hook):
                return 0
            if hook == "post-commit":
                return hookrun.post_commit(site, cfg, echo)
            if hook in ("post-checkout", "post-merge"):
                return hookrun.after_move(site, cfg, hook, echo)
            return hookrun.pre_push(site, echo, untrusted)
        finally:
            site.store.close()
    except Exception as e:  # noqa: BLE001 - a hook must never break the user's git
        what = str(e) if isinstance(e, MlverError) else f"{type(e).__name__}: {e}"
        if blocking:
            echo(f"mlver: pre-push failed: {what}; the git push is stopped (fix it, or "
                 "git push --no-verify to push without the data)")
            return 1
        echo(f"mlver: {hook} hook failed: {what}")
        return 0


