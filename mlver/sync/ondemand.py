"""Opening a configured remote by name, and data on demand from the default remote."""

from __future__ import annotations

from collections.abc import Callable

from mlver.base.errors import MlverError
from mlver.core.config import RemoteSpec, all_remotes
from mlver.core.workspace import Workspace
from mlver.store import Store
from mlver.store.remote import RemoteStore
from mlver.sync.pushpull import fetcher, open_remote
from mlver.sync.sharing import pick_remote, resolve_folder

Fetcher = Callable[[list[str]], None]


def open_named(store: Store, ws: Workspace, name: str | None) -> RemoteStore:
    """The remote ``name`` (None: the default one) of the repository's configuration."""
    remotes, default = all_remotes(ws.project, store.path)
    return open_remote(store, resolve_folder(ws.root, pick_remote(remotes, default, name)))


def default_fetcher(store: Store, ws: Workspace) -> Fetcher:
    """What fetches missing objects: from the default remote, or nothing when none is
    configured (or the configuration cannot be read)."""
    try:
        remotes, default = all_remotes(ws.project, store.path)
    except MlverError:
        default = None
    if default is None:
        return lambda _oids: None
    spec: RemoteSpec = remotes[default]
    return fetcher(store, resolve_folder(ws.root, spec))
