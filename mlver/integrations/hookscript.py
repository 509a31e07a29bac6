"""The hook scripts ``mlver hooks install`` writes, and where git runs them from.

Each script is a tiny POSIX sh file carrying :data:`MARKER` (how install, uninstall and
status tell ours from a hook of the user's own). It runs the user's own hook first when
there was one (moved aside to ``HOOK.mlver-user``), then mlver (``hooks run HOOK "$@"``)
with the interpreter that installed it, in isolated mode and with every folder of the
work tree taken off ``sys.path`` (:func:`launch`): nothing in the work tree is importable.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from dataclasses import dataclass
from typing import Any

from mlver.base.atomic import write_atomic
from mlver.base.gitcmd import run_git
from mlver.base.errors import ConfigError

MARKER = "# mlver-hook: installed by mlver hooks install"
MAX_SCRIPT = 1 << 16  # bytes read of a hook file to tell whether it is ours
USER_SUFFIX = ".mlver-user"  # a user's own hook, moved aside by mlver hooks install


# -- git ------------------------------------------------------------------------------------


def git(cwd: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run git in ``cwd``; its output as text, whatever its exit status."""
    p = run_git(cwd, *args)
    return subprocess.CompletedProcess(p.args, p.returncode, os.fsdecode(p.stdout),
                                       os.fsdecode(p.stderr))


def hooks_dir(root: str) -> tuple[str, str]:
    """``(folder git runs hooks from, the root's folder inside its work tree)``.

    ``core.hooksPath`` when it is set (a relative one is taken from the top of the work
    tree, as git does), else the hooks folder of the repository, its common one for a
    worktree and its own for a submodule."""
    p = git(root, "rev-parse", "--path-format=absolute", "--git-path", "hooks",
             "--show-toplevel")
    lines = p.stdout.splitlines()
    if p.returncode != 0 or len(lines) < 2:
        raise ConfigError(f"{root} is not inside a git work tree, so it has no git hooks to "
                          "install, inspect or remove; run git init first")
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
    by ``path`` (absolute folders found at install, see
    :func:`~mlver.integrations.hookprobe.isolated_path`).

    ``guard``: before mlver is imported, take off ``sys.path`` every folder inside the work
    tree (``"$top"``, the folder git runs hooks from): the interpreter's own site can put
    one there (an editable install of the project adds ``src/``, once a branch creates it).
    Off only for an interpreter installed inside the work tree (``--force-interpreter``),
    whose own packages are there."""
    if not path and not guard:
        return "-I -m mlver hooks run"
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


def read_head(path: str) -> bytes | None:
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


def is_ours(head: bytes | None) -> bool:
    """True when the start of a hook file (:func:`read_head`) carries :data:`MARKER`."""
    return head is not None and MARKER.encode() in head.splitlines()


def python_of(head: bytes) -> str | None:
    """The interpreter one of our scripts runs (its ``python='…'`` line), or None."""
    for line in head.decode("utf-8", "replace").splitlines():
        if line.startswith("python='") and line.endswith("'"):
            return line[len("python='"):-1].replace("'\\''", "'")
    return None


def write_script(path: str, text: str) -> None:
    """Write an executable hook script at ``path``: to a temporary name, then renamed, so
    git never runs half a script."""
    write_atomic(path, text, mode=0o755)


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

    def to_dict(self) -> dict[str, Any]:
        """The object of ``mlver hooks status --json`` (before its ``runs`` and watch
        fields)."""
        return {"hook": self.hook, "path": self.path, "installed": self.installed,
                "chained": self.chained, "foreign": self.foreign, "python": self.python,
                "python_ok": self.python_ok, "enabled": self.enabled}

    def line(self) -> str:
        """The line of ``mlver hooks status``."""
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
