"""The configured remotes of a repository, by name: push to one, pull from one, open one,
and data on demand from the default one. Transfer code is imported when first needed, as
opening a store must stay fast."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mlver.base.errors import MlverError
from mlver.base.progress import Progress
from mlver.core.config import RemoteSpec, all_remotes
from mlver.core.workspace import Workspace
from mlver.store import Store

if TYPE_CHECKING:
    from mlver.ops.verify import VerifyResult
    from mlver.store.remote import RemoteStore
    from mlver.sync.pushpull import SyncResult

Fetcher = Callable[[list[str]], None]
Warn = Callable[[str], None]


def spec_of(store: Store, ws: Workspace, name: str | None) -> RemoteSpec:
    """The remote ``name`` (None: the default one), a folder made absolute."""
    from mlver.sync.sharing import pick_remote, resolve_folder

    remotes, default = all_remotes(ws.project, store.path)
    return resolve_folder(ws.root, pick_remote(remotes, default, name))


def open_named(store: Store, ws: Workspace, name: str | None) -> RemoteStore:
    """The remote ``name`` (None: the default one), opened."""
    from mlver.sync.pushpull import open_remote

    return open_remote(store, spec_of(store, ws, name))


def verify_named(store: Store, ws: Workspace, name: str,
                 progress: Progress | None) -> VerifyResult:
    """``mlver verify --remote NAME``: every object the remote's refs and tags reach is
    there (problems are returned, not raised)."""
    from mlver.sync.verify import verify_remote

    found: VerifyResult = verify_remote(open_named(store, ws, name), progress)
    return found


def push_named(store: Store, ws: Workspace, remote: str | None, names: list[str] | None,
               progress: Progress | None, warn: Warn) -> SyncResult:
    """``mlver push``: to ``remote`` (None: the default one) once this store trusts it
    (a first push pins it); its warnings go to ``warn``."""
    from mlver.sync.push import push
    from mlver.sync.pushpull import open_remote
    from mlver.sync.tracking import refuse_tracked_store
    from mlver.sync.trust import check_push, pin_remote

    refuse_tracked_store(ws.root, "mlver push")
    spec = spec_of(store, ws, remote)
    check_push(store.path, spec, remote is None)  # refused unless trusted (a merged toml)
    pin_remote(store.path, spec)
    r = push(store, open_remote(store, spec), names, progress, warn)
    for w in r.warnings:
        warn(w)
    return r


def pull_named(store: Store, ws: Workspace, remote: str | None, names: list[str] | None,
               data: bool, progress: Progress | None, warn: Warn) -> SyncResult:
    """``mlver pull``: from ``remote`` (None: the default one), which is pinned when no
    URL is pinned for its name yet (a push there is trusted; a moved URL is not)."""
    from mlver.sync.pull import pull
    from mlver.sync.pushpull import open_remote
    from mlver.sync.tracking import refuse_tracked_store
    from mlver.sync.trust import pin_read

    refuse_tracked_store(ws.root, "mlver pull")
    spec = spec_of(store, ws, remote)
    r = pull(store, open_remote(store, spec), names, data, progress, warn, root=ws.root)
    pin_read(store.path, spec)
    return r


def default_fetcher(store: Store, ws: Workspace) -> Fetcher:
    """What fetches missing objects: from the default remote, or nothing when none is
    configured (or the configuration cannot be read)."""
    try:
        remotes, default = all_remotes(ws.project, store.path)
    except MlverError:
        default = None
    if default is None:
        return lambda _oids: None
    from mlver.sync.pushpull import fetcher
    from mlver.sync.sharing import resolve_folder

    return fetcher(store, resolve_folder(ws.root, remotes[default]))


@contextmanager
def local_only(store: Store) -> Iterator[None]:
    """Within: a missing object is missing, not fetched (verify and gc judge this store)."""
    fetch, store.objects.fetcher = store.objects.fetcher, None
    try:
        yield
    finally:
        store.objects.fetcher = fetch
