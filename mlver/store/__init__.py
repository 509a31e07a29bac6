"""Storage: immutable objects, trees, the mutable ref layer and the SQLite index.

:class:`Store` owns one ``.mlver/`` folder. Nothing here knows what a record means;
``mlver.core.record`` and the use cases above do. Nothing outside this package builds an
object's path or writes SQL.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from mlver.base.atomic import write_atomic
from mlver.store.settings import read_store_config, write_store_config
from mlver.base.errors import ConfigError, RecordFormatError
from mlver.store.index import INDEX_FILE, Index
from mlver.store.objects import LocalObjectStore
from mlver.store.refs import Refs
from mlver.store.safefs import check_dir
from mlver.store.storelock import LOCK_FILE
from mlver.store.trees import Tree

STORE_DIR = ".mlver"
DAMAGED_FIX = "restore .mlver/objects from a backup, or re-snapshot the name"
_SUBDIRS = ("objects", "tmp", "refs/names", "refs/tags")
_LINK_FREE = ("objects", "objects/pack", "tmp")  # real folders or absent, never links
# The store is local state: git ignores all of it (this file included). Versions are
# shared through remotes (mlver push/pull), never by committing refs.
GITIGNORE = ("# The mlver store is local state; share versions with mlver push and pull.\n"
             "*\n")
OLD_GITIGNORES = ("# Content lives in objects/, never in git.\n"
                  "/objects/\n/tmp/\n/index.sqlite*\n*.lock\n",)


def upgrade_gitignore(path: str) -> bool:
    """Replace a ``.gitignore`` that an older mlver wrote (which let git see the refs and
    config) with one that makes git ignore the whole store; True when it did."""
    gi = os.path.join(path, ".gitignore")
    try:
        with open(gi, encoding="utf-8") as f:
            old = f.read()
    except (FileNotFoundError, UnicodeDecodeError, IsADirectoryError):
        return False
    if old not in OLD_GITIGNORES:
        return False
    write_atomic(gi, GITIGNORE)
    return True


class Store:
    """The objects, refs and index of one store folder.

    ``on_index_open(index)`` runs once, when the index is first used: the layer above
    uses it to bring the index up to date with the refs.

    ``read_only``: nothing is ever written: the index file is opened read-only (or a
    private in-memory index stands in), and writing objects or refs raises
    :class:`~mlver.base.errors.ReadOnlyError`. For readers such as ``mlver ui``.
    """

    def __init__(self, path: str, on_index_open: Callable[[Index], None] | None = None,
                 read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self.config = read_store_config(path)
        # gc and every batch delete files in these folders (old leftovers in tmp/, garbage
        # objects, packs without an index): through a link they would delete elsewhere.
        for sub in _LINK_FREE:
            check_dir(os.path.join(path, sub))
        self.objects = LocalObjectStore(path, read_only=read_only)
        self.refs = Refs(path, read_only=read_only)
        self._on_index_open = on_index_open
        self._index: Index | None = None
        # Values decoded from objects, by oid: objects never change, so neither do these.
        self.memo: dict[str, object] = {}

    @classmethod
    def create(cls, path: str) -> None:
        """Lay out a new, empty store folder at ``path`` (its parent must exist)."""
        if os.path.exists(os.path.join(path, "config.json")):
            read_store_config(path)  # refuse to "reinitialise" a newer store
            upgrade_gitignore(path)
            return
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise ConfigError(f"folder {os.path.dirname(path)} does not exist; create it first")
        for sub in _SUBDIRS:
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        with open(os.path.join(path, ".gitignore"), "w", encoding="utf-8") as f:
            f.write(GITIGNORE)
        # The store lock exists from the start, so that the first command to use it (even
        # one that then fails) leaves the store as it found it. Older stores get it then.
        open(os.path.join(path, LOCK_FILE), "a").close()
        write_store_config(path)

    @property
    def index(self) -> Index:
        """The index, opened (and brought up to date) on first use."""
        if self._index is None:
            self._index = Index(os.path.join(self.path, INDEX_FILE), read_only=self.read_only)
            self._index.graph.read_tree = self.tree  # lineage catches up through it
            if self._on_index_open is not None:
                self._on_index_open(self._index)
        return self._index

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def tree(self, oid: str) -> Tree:
        """Load and validate the tree ``oid``."""
        try:
            return Tree.decode(self.objects.read(oid))
        except RecordFormatError as e:
            raise RecordFormatError(f"tree {oid}: {e}; {DAMAGED_FIX}") from None


__all__ = ["DAMAGED_FIX", "GITIGNORE", "STORE_DIR", "Store", "upgrade_gitignore"]
