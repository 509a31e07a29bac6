"""Where a repository's store is: found walking up from a folder, never past the top of
the git working tree that folder is in.

A git repository kept inside another's working tree (a clone in a sub-folder, a
submodule, a worktree) is a repository of its own: it finds, and makes, a store of its
own, and never reads or writes the outer one's. Outside any git repository the walk goes
up to the file system's root.
"""

from __future__ import annotations

import os

from mlver.base.errors import MlverError, NotAStoreError
from mlver.store import STORE_DIR


def git_top(start: str) -> str | None:
    """The nearest folder at or above ``start`` holding ``.git`` (a directory, or the file
    of a submodule or worktree); None outside git."""
    cur = os.path.abspath(start)
    while True:
        if os.path.lexists(os.path.join(cur, ".git")):
            return cur
        parent = os.path.dirname(cur)
        if parent == cur:
            return None
        cur = parent


def find_root(start: str) -> str:
    """The nearest folder at or above ``start`` holding a store, up to the top of the git
    working tree ``start`` is in."""
    cur = os.path.abspath(start)
    while True:
        if os.path.isdir(os.path.join(cur, STORE_DIR)):
            return cur
        parent = os.path.dirname(cur)
        if os.path.lexists(os.path.join(cur, ".git")):
            raise NotAStoreError(f"no mlver store in {os.path.abspath(start)} or any parent "
                                 f"folder up to the top of its git repository {cur}; "
                                 + _fix(start))
        if parent == cur:
            raise NotAStoreError(f"no mlver store in {os.path.abspath(start)} or any parent "
                                 "folder; " + _fix(start))
        cur = parent


def _fix(start: str) -> str:
    """The fix for a missing store: ``mlver pull`` in a fresh clone whose committed
    mlver.toml configures a remote (pull creates the store and fetches the versions),
    else ``mlver init``."""
    from mlver.core import config as cfgmod  # here: find_root's hot path never needs it

    found = project_root(start)
    if found is None:
        return "run mlver init at the repository root"
    where = os.path.join(found, cfgmod.PROJECT_FILE)
    return (f"{where} configures a remote, so this looks like a fresh clone: run mlver pull "
            "(it creates the store and fetches the versions)")


def outer_root(full: str) -> str | None:
    """The store that already covers the folder ``full`` from above, or None. The top of a
    git repository is covered by no outer store: a nested clone owns its own."""
    if os.path.lexists(os.path.join(full, ".git")):
        return None
    try:
        return find_root(os.path.dirname(full))
    except NotAStoreError:
        return None


def project_root(start: str) -> str | None:
    """The folder at or above ``start`` (up to the top of its git repository) whose
    ``mlver.toml`` configures a remote: where a fresh clone's store goes."""
    from mlver.core import config as cfgmod

    cur = os.path.abspath(start)
    top = git_top(cur)
    while True:
        if os.path.isfile(os.path.join(cur, cfgmod.PROJECT_FILE)):
            try:
                if cfgmod.load_project(cur).remotes:
                    return cur
            except MlverError:
                return None
        parent = os.path.dirname(cur)
        if cur == top or parent == cur:
            return None
        cur = parent


def fresh_root(start: str, any_project: bool = False) -> str | None:
    """Where a fresh clone's store goes: :func:`project_root`; with ``any_project``, the
    nearest folder (up to the top of the git repository) holding an ``mlver.toml`` of any
    content, else that top. None outside git when no ``mlver.toml`` says."""
    if not any_project:
        return project_root(start)
    from mlver.core import config as cfgmod

    cur = os.path.abspath(start)
    top = git_top(cur)
    while True:
        if os.path.isfile(os.path.join(cur, cfgmod.PROJECT_FILE)):
            return cur
        parent = os.path.dirname(cur)
        if cur == top or parent == cur:
            return top
        cur = parent


__all__ = ["find_root", "fresh_root", "git_top", "outer_root", "project_root"]
