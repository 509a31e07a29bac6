"""Git hooks: snapshot on commit, compare or restore on checkout, push on push.

``install`` writes, into the folder git really runs hooks from (``core.hooksPath`` when
set, else the repository's hooks folder, found with ``git rev-parse --git-path hooks``),
a tiny POSIX sh script per hook. The script carries :data:`MARKER`, runs the user's own
hook first when there was one (moved aside to ``HOOK.mlver-user``, byte for byte, mode
kept), then mlver (``hooks run HOOK "$@"``) with the interpreter that installed it, in
isolated mode and with every folder of the work tree taken off ``sys.path`` (:func:`launch`):
nothing in the work tree (a branch's ``mlver/``, ``src/`` or ``xxhash.py``) is importable. What the hooks may run and record: :mod:`mlver.integrations.hookguard`. ``uninstall`` removes the script and moves the user's hook back.

``run`` is what the scripts call. The post-* hooks never fail the git command: any
error is one line and exit status 0. pre-push fails the push when the data cannot be
pushed (or when mlver itself is gone), since a pushed commit whose data is not on the
remote is what it exists to prevent; ``git push --no-verify`` skips it, as always.

The hook paths are kept cheap: no pandas, the stat cache for content, and at most two
git processes for a branch switch.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

from mlver.base.atomic import write_atomic
from mlver.base.gitcmd import run_git
from mlver.core.config import HOOK_NAMES, HooksConfig
from mlver.base.errors import CheckoutError, ConfigError, MlverError, NotAStoreError
from mlver.integrations.hookguard import USER_SUFFIX

MARKER = "# mlver-hook: installed by mlver hooks install"
MAX_SCRIPT = 1 << 16  # bytes read of a hook file to tell whether it is ours
_NULL_SHA = "0" * 40

Echo = Callable[[str], None]


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


# -- git ------------------------------------------------------------------------------------


def _git(cwd: str, *args: str) -> subprocess.CompletedProcess:
    p = run_git(cwd, *args)
    return subprocess.CompletedProcess(p.args, p.returncode, os.fsdecode(p.stdout),
                                       os.fsdecode(p.stderr))


def hooks_dir(root: str) -> tuple[str, str]:
    """``(folder git runs hooks from, the root's folder inside its work tree)``.

    ``core.hooksPath`` when it is set (a relative one is taken from the top of the work
    tree, as git does), else the hooks folder of the repository, its common one for a
    worktree and its own for a submodule."""
    p = _git(root, "rev-parse", "--path-format=absolute", "--git-path", "hooks",
             "--show-toplevel")
    lines = p.stdout.splitlines()
    if p.returncode != 0 or len(lines) < 2:
        raise ConfigError(f"{root} is not inside a git work tree, so there are no git hooks "
                          "to install; run git init first")
    rel = os.path.relpath(os.path.realpath(root), os.path.realpath(lines[1]))
    return lines[0], "." if rel == "." else rel.replace(os.sep, "/")


# -- the script -----------------------------------------------------------------------------


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def launch(path: tuple[str, ...] = (), guard: bool = True) -> str:
    """How the script starts mlver after ``"$python"``: always in isolated mode (``-I``),
    so that nothing in the work tree is importable. ``-m`` alone puts the current folder
    first on ``sys.path``, and the script runs from the top of the work tree: a branch
    holding ``mlver/__init__.py`` or ``xxhash.py`` would run on ``git checkout``. ``-I``
    also drops ``PYTHONPATH`` and the user site, so an mlver found only there is put back
    by ``path`` (absolute folders found at install, see :func:`isolated_path`).

    ``guard``: before mlver is imported, take off ``sys.path`` every folder inside the work
    tree (``"$top"``, the folder git runs hooks from): the interpreter's own site can put
    one there (an editable install of the project adds ``src/``, once a branch creates it).
    Off only for an interpreter installed inside the work tree (``--force-interpreter``),
    whose own packages are there."""
    if not path and not guard:
        return "-I -m mlver hooks run"
    import json

    # JSON is a Python list literal here, in double quotes: no quoting clash with sh's '…'
    off = ("import os, sys; t = os.path.realpath(sys.argv.pop(1)); sys.path[:] = [p for p in "
           "sys.path if os.path.isabs(p) and os.path.commonpath([t, os.path.realpath(p)]) "
           "!= t]; " if guard else "import sys; ")
    put = f"sys.path[:0] = {json.dumps(list(path))}; " if path else ""
    code = f"{off}{put}from mlver.integrations.hooks import main; sys.exit(main(sys.argv[1:]))"
    return "-I -c " + _sh_quote(code) + (' "$top"' if guard else "")


def script(hook: str, python: str, rel: str = ".", path: tuple[str, ...] = (),
           guard: bool = True) -> str:
    """The hook script for ``hook``: runs the chained user hook (exactly once, its exit
    status kept), then mlver with ``python`` (isolated: see :func:`launch`) from the mlver
    root ``rel`` of the work tree."""
    blocking = hook.startswith("pre-")
    gone_exit = "1" if blocking else '"$status"'
    gone_fix = ("; git push --no-verify pushes without the data" if blocking else "")
    lines = [
        "#!/bin/sh",
        MARKER,
        "# (mlver hooks uninstall removes it and puts back the hook it chains to, if any)",
        f"hook={hook}",
        f"python={_sh_quote(python)}",
        'user="${0%/*}/$hook' + USER_SUFFIX + '"',
        "status=0",
        'if [ -f "$user" ] && [ -x "$user" ]; then',
        '    "$user" "$@"',
        "    status=$?",
        "fi",
    ]
    if blocking:
        lines.append('[ "$status" -ne 0 ] && exit "$status"')
    lines += [
        '[ "${MLVER_HOOKS:-1}" = 0 ] && exit "$status"',
        'if [ ! -x "$python" ]; then',
        '    echo "mlver: $python, which installed the $hook hook, is gone; '
        f'run mlver hooks install again{gone_fix}" >&2',
        f"    exit {gone_exit}",
        "fi",
    ]
    if guard:
        lines.append('top=$(pwd -P) || exit "$status"')  # git runs hooks from the top
    if rel != ".":
        lines.append(f'cd -- {_sh_quote(rel)} || exit "$status"')
    lines += [
        f'"$python" {launch(path, guard)} "$hook" "$@"',
        "rc=$?",
        '[ "$status" -ne 0 ] && exit "$status"',
        'exit "$rc"' if blocking else "exit 0",
        "",
    ]
    return "\n".join(lines)


def _read_head(path: str) -> bytes | None:
    """The start of a hook file (never following a link); None when absent."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError:
        return b""  # a link or something unreadable: not ours
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.read(fd, MAX_SCRIPT)
    finally:
        os.close(fd)


def _is_ours(head: bytes | None) -> bool:
    return head is not None and MARKER.encode() in head.splitlines()


def _python_of(head: bytes) -> str | None:
    for line in head.decode("utf-8", "replace").splitlines():
        if line.startswith("python='") and line.endswith("'"):
            return line[len("python='"):-1].replace("'\\''", "'")
    return None


def _write(path: str, text: str) -> None:
    write_atomic(path, text, mode=0o755)


# -- install, uninstall, status -------------------------------------------------------------


@dataclass(frozen=True)
class HookState:
    """One git hook as ``mlver hooks status`` sees it."""

    hook: str
    path: str
    installed: bool  # our script is there
    chained: bool  # a user hook was moved aside and runs first
    foreign: bool  # a hook that is not ours is there (install would chain it)
    python: str | None  # the interpreter our script runs
    python_ok: bool
    enabled: bool  # not turned off in [hooks] of mlver.toml

    def to_dict(self) -> dict:
        return {"hook": self.hook, "path": self.path, "installed": self.installed,
                "chained": self.chained, "foreign": self.foreign, "python": self.python,
                "python_ok": self.python_ok, "enabled": self.enabled}

    def line(self) -> str:
        if self.installed:
            what = "installed"
            if self.chained:
                what += f", runs {self.hook}{USER_SUFFIX} first"
            if not self.python_ok:
                what += f", but {self.python} is gone (run mlver hooks install again)"
        elif self.foreign:
            what = "not installed (a hook of your own is there; install chains to it)"
        else:
            what = "not installed"
        return f"{self.hook}: {what}{'' if self.enabled else '; turned off in mlver.toml'}"


def _check_names(hooks: list[str] | None) -> list[str]:
    if not hooks:
        return list(HOOK_NAMES)
    for h in hooks:
        if h not in HOOK_NAMES:
            raise ConfigError(f"'{h}' is not a hook mlver installs; choose from "
                              f"{', '.join(HOOK_NAMES)}")
    return list(dict.fromkeys(hooks))


class Hooks:
    """The git hooks of a repository (``repo.hooks``): install, uninstall, status, run."""

    def __init__(self, root: str, config: Callable[[], HooksConfig] | None = None,
                 repo: Any = None) -> None:
        self.root = root
        self._config = config
        self._repo = repo  # the facade: pins [env] python on install, says what runs

    def _enabled(self, hook: str) -> bool:
        try:
            return self._config().on(hook) if self._config else True
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
            head = _read_head(path)
            if head is not None and _is_ours(head):
                if head == want.encode():
                    out.append((hook, "already installed"))
                else:
                    _write(path, want)
                    out.append((hook, "updated"))
                continue
            if head is not None or os.path.islink(path):
                if os.path.lexists(user):
                    raise ConfigError(
                        f"cannot chain to {path}: {user} already exists; move one of them "
                        "away, then run mlver hooks install again")
                os.rename(path, user)  # the same file: bytes and mode kept
                _write(path, want)
                out.append((hook, f"installed, runs your {hook} hook first"))
                continue
            _write(path, want)
            out.append((hook, "installed" + (f", runs {hook}{USER_SUFFIX} first"
                                             if os.path.lexists(user) else "")))
        return out

    def trust(self) -> list[Any]:
        """Trust ``[hooks]`` of mlver.toml as it is now (``mlver hooks trust``; install does
        it too): the watched names' tables, ``on-checkout`` and ``[env] python``. The
        watched names, as :class:`mlver.integrations.hooktrust.Watched` (their paths)."""
        from mlver.integrations.hookguard import trust_env_python
        from mlver.integrations.hooktrust import pin_hooks

        if self._repo is None:
            return []
        trust_env_python(self._repo)
        return pin_hooks(self._repo)  # (and the default remote, see hooktrust.pin_hooks)

    def untrusted(self) -> list[str]:
        """One line per watched name the hooks leave out until ``mlver hooks trust`` (its
        ``[snapshot.NAME]`` is new or changed since it was trusted)."""
        from mlver.integrations.hooktrust import status_lines

        try:
            return status_lines(self._repo) if self._repo is not None else []
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
            head = _read_head(path)
            if head is None and not os.path.islink(path):
                out.append((hook, "not installed"))
                continue
            if not _is_ours(head):
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
            head = _read_head(path)
            ours = _is_ours(head)
            py = _python_of(head) if ours and head else None
            out.append(HookState(
                hook, path, ours, ours and os.path.lexists(path + USER_SUFFIX),
                not ours and (head is not None or os.path.islink(path)), py,
                bool(py) and os.access(py, os.X_OK), self._enabled(hook)))
        return out

    def programs(self) -> list[Any]:
        """The programs a commit, a checkout, a merge and a push run through the installed
        hooks (:class:`mlver.integrations.hookguard.Program`): each interpreter the scripts start, and
        the ``[env] python`` of mlver.toml when post-commit would snapshot with it (or
        refuses to, saying why)."""
        from mlver.integrations.hookguard import hook_programs

        return hook_programs(self._repo, self.status())

    def watch(self) -> Any:
        """Which names each hook snapshots or compares (:class:`mlver.integrations.hookwatch.Watch`):
        the ``[hooks] snapshot`` names, or nothing (said so, with the fix)."""
        from mlver.core.config import load_project
        from mlver.integrations.hookwatch import watch

        repo = self._repo
        return watch((lambda: repo.workspace.project) if repo is not None
                     else (lambda: load_project(self.root)), self.status())


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
        from mlver.api import Repo

        try:
            repo = Repo(cwd)
        except NotAStoreError:
            return 0  # no store in this work tree (another worktree, a shared hooksPath)
        repo.default_python = None  # as the command line: not mlver's own interpreter
        try:
            from mlver.integrations.hooktrust import hook_config

            if hook == "post-checkout":
                prev, new, flag = _checkout_args(args)
                if flag != "1" or prev == new:
                    return 0  # a file checkout, or no commit change
            # only what mlver hooks install trusted (a merge can change [hooks])
            cfg, untrusted = hook_config(repo, hook, echo)
            if not cfg.on(hook):
                return 0
            if hook == "post-commit":
                return _post_commit(repo, cfg, echo)
            if hook in ("post-checkout", "post-merge"):
                return _after_move(repo, cfg, hook, echo)
            return _pre_push(repo, echo, untrusted)
        finally:
            repo.close()
    except Exception as e:  # noqa: BLE001 - a hook must never break the user's git
        what = str(e) if isinstance(e, MlverError) else f"{type(e).__name__}: {e}"
        if blocking:
            echo(f"mlver: pre-push failed: {what}; the git push is stopped (fix it, or "
                 "git push --no-verify to push without the data)")
            return 1
        echo(f"mlver: {hook} hook failed: {what}")
        return 0


def _checkout_args(args: list[str]) -> tuple[str, str, str]:
    """post-checkout's ``PREV NEW FLAG`` (the pre-commit framework passes them in
    ``PRE_COMMIT_FROM_REF``, ``PRE_COMMIT_TO_REF`` and ``PRE_COMMIT_CHECKOUT_TYPE``)."""
    if len(args) >= 3:
        return args[0], args[1], args[2]
    env = os.environ
    return (env.get("PRE_COMMIT_FROM_REF", ""), env.get("PRE_COMMIT_TO_REF", ""),
            env.get("PRE_COMMIT_CHECKOUT_TYPE", ""))


def _post_commit(repo: Any, cfg: HooksConfig, echo: Echo) -> int:
    """Snapshot each ``[hooks] snapshot`` name whose data changed; one line each. A name
    whose inputs changed while its outputs did not is left alone, said so: its outputs
    were not made from those inputs. So is a name whose outputs are another branch's
    version's (:func:`mlver.integrations.hookguard.made_elsewhere`): a branch switch left them there.

    Mid-rebase or mid-bisect it does nothing: the commits a rebase writes are not the
    user's yet, and their data is compared with the versions on their (new) history."""
    from mlver.integrations.hookguard import changes, env_python_refusal, made_elsewhere

    if cfg.snapshot and _in_progress(repo.root)[1]:
        return 0

    refused: str | None = None
    for name in cfg.snapshot:
        try:
            ch = changes(repo, name)
            if not ch.any:
                continue
            if ch.stale_outputs:
                echo(f"mlver: {name}: inputs changed since @{ch.version} but "
                     f"{', '.join(ch.output_paths)} did not; retrain with mlver run {name}")
                continue
            # changed outputs (or inputs, with no outputs) that another branch's version
            # holds came from a checkout, not from a run on this branch's code and params
            other = made_elsewhere(repo, name, ch.version)
            if other is not None:
                echo(other.line())
                continue
            if refused is None:
                refused = env_python_refusal(repo) or ""
            if refused:
                echo(f"mlver: post-commit did not snapshot {name}: {refused}; or run mlver "
                     f"snapshot {name} yourself")
                continue
            r = repo.snapshot(name)
            if r.created:
                echo(f"mlver: snapshot {r.record.label} {r.oid[:10]}")
        except Exception as e:  # noqa: BLE001 - never fail the commit
            what = str(e) if isinstance(e, MlverError) else f"{type(e).__name__}: {e}"
            echo(f"mlver: post-commit could not snapshot {name}: {what}; run mlver snapshot "
                 f"{name}")
    return 0


def _in_progress(root: str) -> tuple[str | None, list[str]]:
    """``(HEAD sha, [paths of a rebase or bisect in progress])`` from one git call."""
    p = _git(root, "rev-parse", "--path-format=absolute", "--git-path", "rebase-merge",
             "--git-path", "rebase-apply", "--git-path", "BISECT_LOG", "--verify", "-q",
             "HEAD")
    lines = p.stdout.splitlines()
    busy = [x for x in lines[:3] if os.path.exists(x)]
    head = lines[3] if len(lines) > 3 else None
    return head, busy


def _differs(repo: Any, rec: Any) -> list[tuple[Any, str]]:
    """``[(artifact, "modified" | "removed")]`` of the record's data in the workspace
    (``removed``: the file is gone, the word status and diff use)."""
    from mlver.ops.drift import MODIFIED, drift

    ws = repo.workspace
    cache = ws.stat_cache()
    out = []
    seen = set()
    try:
        for art in [*rec.inputs.values(), *rec.outputs.values()]:
            if art.path in seen:
                continue
            seen.add(art.path)
            try:
                state = drift(ws, art, cache).state
            except MlverError:  # unreadable now: not what was recorded
                state = MODIFIED
            if state != "unchanged":
                out.append((art, state))
    finally:
        cache.save()
    return out


def _after_move(repo: Any, cfg: HooksConfig, hook: str, echo: Echo) -> int:
    """post-checkout (branch switch) and post-merge: for each configured name, its latest
    version on HEAD's history (:func:`mlver.core.branches.version_on_head`); warn about or
    restore its data, all of a name's slots or none of them. A name with no version on
    this history is left alone."""
    from mlver.core import history
    from mlver.core.branches import head_ancestry, version_on_head
    from mlver.ops.checkout import checkout

    if not cfg.snapshot:
        return 0
    head, busy = _in_progress(repo.root)
    if busy or head is None:
        return 0  # mid-rebase or mid-bisect: the user is not on a branch of theirs yet
    ancestry = head_ancestry(repo.root)
    for name in cfg.snapshot:
        branch = version_on_head(repo.store, name, repo.root, ancestry)
        if branch is None or not branch.on_history:
            continue
        oid = branch.oid
        rec = history.load_record(repo.store, oid)
        diffs = _differs(repo, rec)
        if not diffs:
            continue
        at = (rec.code.commit[:7] if rec.code.commit else "?") + f", {branch.which}"
        if cfg.on_checkout == "warn":
            listed = ", ".join(f"{a.path} {state}" for a, state in diffs)
            echo(f"mlver: {rec.label} (commit {at}) differs here: {listed}; "
                 f"mlver checkout {rec.label} restores it")
            continue
        # All or nothing per name: one checkout of every slot that differs, which refuses
        # before writing anything when any of them cannot be restored safely. Restoring
        # some slots would pair this branch's data with another branch's model.
        paths = [a.path for a, _state in diffs]
        try:
            r = checkout(repo.store, repo.workspace, oid, rec, paths)
        except CheckoutError as e:
            echo(f"mlver: restored nothing of {rec.label} (commit {at}): {e}; then mlver "
                 f"checkout {rec.label} restores {', '.join(paths)} together")
            continue
        if r.written or r.removed:
            echo(f"mlver: restored {', '.join(paths)} from {rec.label} (commit {at})")
    return 0


def _pre_push(repo: Any, echo: Echo, untrusted: tuple[str, ...] = ()) -> int:
    """Push the data to the default remote (not the ``untrusted`` watched names); 1 (the
    git push stops) when that fails."""
    _specs, default = repo.remotes()
    if default is None:
        echo("mlver: no default remote is configured, so no data was pushed "
             "(mlver remote add NAME URL --default sets one)")
        return 0
    from mlver.sync.trust import check_hook_push

    names = None
    if untrusted:
        names = [n for n in repo.store.refs.names() if n not in untrusted]
        if not names:
            return 0
    try:
        check_hook_push(repo)  # never a first push: a merge may have added this remote
        r = repo.push(names=names)  # no remote: a default that changed is refused
    except Exception as e:  # noqa: BLE001
        what = str(e) if isinstance(e, MlverError) else f"{type(e).__name__}: {e}"
        echo(f"mlver: pushing data to remote '{default}' failed: {what}; the git push is "
             "stopped (fix it and push again, or git push --no-verify to push without the "
             "data)")
        return 1
    m = r.moved
    echo(f"mlver: pushed data to remote '{default}': {m.objects} objects sent, "
         f"{m.present} already there")
    return 0
