"""Creating a store: ``mlver init`` (refused inside another store's folder) and a fresh
clone's first ``pull`` or ``remote add`` (the store goes where ``mlver.toml`` is)."""

from __future__ import annotations

import os

from mlver.base.errors import ConfigError
from mlver.core.discover import fresh_root, outer_root
from mlver.store import STORE_DIR, Store


def has_store(path: str) -> bool:
    """True when the folder ``path`` holds a store already (``mlver init`` says so)."""
    return os.path.isdir(os.path.join(path, STORE_DIR, "objects"))


def create_store(path: str, force: bool = False) -> None:
    """Create ``.mlver/`` in the folder ``path`` (harmless when it exists).

    A folder already covered by a store further up (in the same git repository) is
    refused (two stores would split one repository's history) unless ``force``; the
    top of a git repository nested in another's working tree is not covered."""
    full = os.path.abspath(path)
    if not os.path.isdir(full):
        raise ConfigError(f"folder {path} does not exist; create it first")
    if not force and not os.path.isdir(os.path.join(full, STORE_DIR)):
        outer = outer_root(full)
        if outer is not None:
            raise ConfigError(
                f"{full} is inside the mlver store of {outer}; run mlver commands "
                "there, or pass --force to create a separate store here")
    Store.create(os.path.join(full, STORE_DIR))


def create_fresh(path: str, any_project: bool = False) -> str | None:
    """In a fresh clone without a store: create one where it belongs (see
    :func:`mlver.core.discover.fresh_root`) and return that folder; None when no folder
    says where."""
    root = fresh_root(path, any_project)
    if root is not None:
        Store.create(os.path.join(root, STORE_DIR))
    return root
