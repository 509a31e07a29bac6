"""The repository a git hook works on: its root, store and workspace (:class:`Site`).

The hooks are a use case like the others: they get a Store and a Workspace and call the
layers below (snapshot, checkout, push), never the facade. :func:`open_site` wires them
as ``mlver.Repo(path)`` does for a hook run: the index caught up with the refs when it is
first used, data fetched on demand from the default remote, nothing reported on the side
(a hook prints only its own lines).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlver.base.errors import MlverError
from mlver.core import history
from mlver.core.config import RemoteSpec, all_remotes
from mlver.core.discover import find_root
from mlver.core.workspace import Workspace
from mlver.store import STORE_DIR, Store
from mlver.store.index import Index

if TYPE_CHECKING:
    from mlver.sync.pushpull import SyncResult


@dataclass(frozen=True)
class Site:
    """A repository as the hooks see it. It has what :mod:`mlver.sync.trust` reads of a
    repository (``root``, ``store``, :meth:`remotes`)."""

    root: str
    store: Store
    workspace: Workspace

    def remotes(self) -> tuple[dict[str, RemoteSpec], str | None]:
        """``({name: RemoteSpec}, default name or None)``, the store's own ones winning."""
        return all_remotes(self.workspace.project, self.store.path)


def open_site(path: str) -> Site:
    """Open the store at or above ``path`` (raises
    :class:`mlver.base.errors.NotAStoreError` when there is none)."""
    root = find_root(path)

    def catch_up(index: Index) -> None:
        history.sync_index(store, index)  # a damaged index is rebuilt, said nowhere

    store = Store(os.path.join(root, STORE_DIR), on_index_open=catch_up)
    site = Site(root, store, Workspace(root, store, None))
    store.objects.fetcher = _fetcher(site)
    return site


def _fetcher(site: Site) -> Callable[[list[str]], None]:
    """Data on demand from the default remote, looked up at the first object missing."""
    opened: list[Callable[[list[str]], None]] = []

    def fetch(oids: list[str]) -> None:
        if not opened:
            try:
                remotes, default = site.remotes()
            except MlverError:
                default = None
            if default is None:
                opened.append(lambda _oids: None)
            else:
                from mlver.sync.pushpull import fetcher
                from mlver.sync.sharing import resolve_folder

                opened.append(fetcher(site.store, resolve_folder(site.root, remotes[default])))
        opened[0](oids)

    return fetch


def push(site: Site, names: Iterable[str] | None = None) -> SyncResult:
    """Push ``names`` (default: every name) to the default remote, as ``mlver push`` does:
    refused while git tracks the store, or when the remote is not trusted
    (:func:`mlver.sync.trust.push_target`). The :class:`mlver.sync.pushpull.SyncResult`."""
    from mlver.sync.pushpull import open_remote
    from mlver.sync.push import push as push_names
    from mlver.sync.tracking import refuse_tracked_store
    from mlver.sync.trust import push_target

    refuse_tracked_store(site.root, "mlver push")
    spec = push_target(site, None)
    return push_names(site.store, open_remote(site.store, spec),
                      None if names is None else list(names), None, None)
