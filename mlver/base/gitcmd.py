"""Running the git binary: one helper, one environment rule, one timeout.

Environment: mlver always names the repository by the folder it runs git in (``cwd``),
never by variables it inherited. Inside a git hook, git exports ``GIT_DIR`` (often the
relative ``.git``), ``GIT_INDEX_FILE`` (a temporary index during ``commit -a``) and, for
worktrees, ``GIT_COMMON_DIR``; a user may have ``GIT_WORK_TREE`` set for another tree.
Kept, those would point git at another repository, index or tree than the folder mlver
asks about (or fail once ``cwd`` is not where the relative ``GIT_DIR`` was meant), so
:func:`git_env` drops every variable that locates a repository, its index or its objects.
Everything else (``HOME``, ``PATH``, ``GIT_CONFIG_*``, locale) is kept: it is the user's
own configuration. A caller adds its own variables (a scratch ``GIT_INDEX_FILE``) with
``env=``.

Timeout: every call is bounded (:data:`GIT_TIMEOUT` unless the caller says otherwise), so
a git waiting on a lock or a credential prompt never hangs a command; the caller decides
what a timeout means (``subprocess.TimeoutExpired`` is raised, like ``OSError`` when git
is missing).

Arguments: a value that comes from a user or a record (a commit, a path, a range) goes
after ``--end-of-options`` (or ``--`` for paths) in the caller's ``args``, so it can never
be read as an option.
"""

from __future__ import annotations

import os
import subprocess

GIT_TIMEOUT = 60.0  # seconds one git call may take
# for a call whose work grows with the repository (a whole history, a checkout of every
# file into a scratch copy): generous, still bounded
GIT_LONG_TIMEOUT = 600.0

# Variables that choose the repository, work tree, index or object store (see above).
GIT_LOCATION_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX",
                     "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
                     "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE")


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a git call: ours less :data:`GIT_LOCATION_VARS`, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in GIT_LOCATION_VARS}
    env.update(extra or {})
    return env


def run_git(cwd: str, *args: str, data: bytes | None = None,
            env: dict[str, str] | None = None,
            timeout: float | None = GIT_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
    """Run ``git args`` in ``cwd`` with ``data`` on its stdin; its completed process
    (stdout and stderr as bytes; a non-zero exit is the caller's to judge).

    Raises ``OSError`` when git cannot be started and ``subprocess.TimeoutExpired`` past
    ``timeout`` seconds.
    """
    return subprocess.run(["git", *args], cwd=cwd, input=data, capture_output=True,
                          env=git_env(env), check=False, timeout=timeout)


def popen_git(cwd: str, *args: str) -> subprocess.Popen[bytes]:
    """Start ``git args`` in ``cwd`` with its stdout piped (stderr dropped), for output
    read as it comes; same environment rule as :func:`run_git`."""
    return subprocess.Popen(["git", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=git_env())


def show_toplevel(root: str) -> str | None:
    """The top folder of the git work tree holding ``root`` as git names it (``git
    rev-parse --show-toplevel``); None outside git, or when git cannot be asked."""
    try:
        proc = run_git(root, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError):
        return None
    top = proc.stdout.decode("utf-8", "surrogateescape").strip()
    return top if proc.returncode == 0 and top else None


__all__ = ["GIT_LOCATION_VARS", "GIT_LONG_TIMEOUT", "GIT_TIMEOUT", "git_env", "popen_git",
           "run_git", "show_toplevel"]
