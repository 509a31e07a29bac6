"""Whether git tracks files of the store, which it must not: ``.mlver/`` is local state.

``mlver init`` writes ``.mlver/.gitignore`` holding ``*``. When git tracks anything under
``.mlver/`` anyway (a store made by an older mlver, whose refs were committed), every
command warns with the exact fix, and push, pull and replay refuse to run (the store's
trust state must be its own).

Asking git costs a process on every command, so a "nothing tracked" answer is kept in
``.mlver/git-index.stat`` with the identity of git's index file at the time (device,
inode, size, mtime, ctime). git rewrites its index (a new file, renamed into place) for
every change of what it tracks, so while the index file is the same one, so is the answer.
Only the warning uses it; the refusals always ask git.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from contextlib import suppress

from mlver.base.atomic import write_atomic
from mlver.base.errors import ConfigError, MlverError
from mlver.base.gitcmd import run_git
from mlver.core.discover import git_top
from mlver.store import STORE_DIR, upgrade_gitignore
from mlver.store.safefs import read_small

GIT_TIMEOUT = 10.0
STAT_FILE = "git-index.stat"  # in the store: the git index on which git tracked nothing here
RACY_S = 2.0  # an index younger than this may still change within its mtime: not kept


def tracked_store_files(root: str) -> list[str] | None:
    """The files under ``root/.mlver`` that git tracks (None outside git, or when git
    cannot say)."""
    if git_top(root) is None:
        return None
    try:
        out = run_git(root, "ls-files", "-z", "--end-of-options", STORE_DIR, timeout=GIT_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return [p for p in out.stdout.decode("utf-8", "replace").split("\0") if p]


def check_git_tracking(root: str, read_only: bool = False) -> str | None:
    """The warning to print when git tracks files of the store, else None. A store's
    ``.gitignore`` written by an older mlver is replaced on the way. Git is not asked
    again while its index is the one on which it last tracked nothing here (nor is
    anything written with ``read_only``)."""
    store = os.path.join(root, STORE_DIR)
    if not read_only:
        with suppress(OSError):
            upgrade_gitignore(store)
    seen = _index_identity(root)
    kept = os.path.join(store, STAT_FILE)
    if seen is not None and _kept(kept) == seen:
        return None
    files = tracked_store_files(root)
    if not files:
        if files is not None and seen is not None and not read_only \
                and _git_uses_dot_git(root):
            with suppress(OSError, MlverError):
                write_atomic(kept, seen)
        return None
    return (f"{_tracked(files)}; the store is local state, and refs committed to git go "
            "stale across branches and clones: run git rm -r --cached .mlver && git commit -m "
            "\"Stop tracking .mlver\" (share versions with mlver push and mlver pull)")


def refuse_tracked_store(root: str, what: str) -> None:
    """Refuse ``what`` (a push, a pull, a replay) while git tracks files under ``.mlver/``.

    The store's trust state (the remotes it pinned and its local remotes in
    ``.mlver/config.json``, where each record came from in ``refs/origins``) must be the
    store's own; git treats ignored files as disposable, so a commit that force-adds them
    rewrites them on ``git pull`` or ``git checkout``."""
    files = tracked_store_files(root)
    if not files:
        return
    raise ConfigError(
        f"{_tracked(files)}, so a commit can rewrite this store's trust state (the "
        f"remotes it trusts, where its records came from); {what} is refused until you run "
        "git rm -r --cached .mlver && git commit -m \"Stop tracking .mlver\", then check "
        ".mlver/config.json")


def _tracked(files: list[str]) -> str:
    """``git tracks N files under .mlver/ (FIRST, …)``: how both messages start."""
    n = len(files)
    return (f"git tracks {n} file{'s' if n != 1 else ''} under .mlver/ ({files[0]}"
            f"{', …' if n > 1 else ''})")


def _kept(path: str) -> str | None:
    """The line kept at ``path``, or None: absent, or not a small regular file (a FIFO,
    a symlink, a folder never hangs nor misleads a command, and is replaced on the next
    write)."""
    try:
        data = read_small(path, 256)
    except (OSError, MlverError):
        return None
    return None if data is None else data.decode("ascii", "replace")


def _git_uses_dot_git(root: str) -> bool:
    """True when git itself uses the ``.git`` folder whose index :func:`_index_identity`
    read: one git does not take for a repository (empty or broken) is passed over by
    git's discovery, and its ``index`` then says nothing of what git tracks. Asked only
    before a line is kept (once per new index file)."""
    top = git_top(root)
    if top is None:
        return False
    try:
        out = run_git(root, "rev-parse", "--absolute-git-dir", timeout=GIT_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return False
    if out.returncode != 0:
        return False
    found = out.stdout.decode("utf-8", "replace").rstrip("\n")
    return os.path.realpath(found) == os.path.realpath(os.path.join(top, ".git"))


def _index_identity(root: str) -> str | None:
    """The identity of git's index file for the repository holding ``root`` (one line),
    or None when it cannot vouch for an answer: no ``.git`` folder (a worktree or a
    submodule keeps its index elsewhere), an index named by the environment, or one
    written in the last :data:`RACY_S` seconds, or a symlink (git replaces the file it
    points to and leaves the link as it was)."""
    if os.environ.get("GIT_INDEX_FILE") or os.environ.get("GIT_DIR"):
        return None
    top = git_top(root)
    if top is None:
        return None
    try:
        st = os.stat(os.path.join(top, ".git", "index"), follow_symlinks=False)
    except OSError:  # no index yet, or .git is a file
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if time.time() - st.st_mtime < RACY_S:
        return None
    return f"{st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns}\n"


__all__ = ["check_git_tracking", "refuse_tracked_store", "tracked_store_files"]
