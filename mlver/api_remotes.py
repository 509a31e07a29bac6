"""The remote methods of :class:`mlver.api.Repo` (``remote add``, push, pull), kept in a
module of their own so that the facade stays readable; ``Repo`` inherits them."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from mlver.base.progress import Progress

if TYPE_CHECKING:  # imported when a method needs them: the command line starts fast
    from mlver.core.config import RemoteSpec
    from mlver.core.workspace import Workspace
    from mlver.store import Store
    from mlver.sync.pushpull import SyncResult

#: A name or several (``names=``).
Names = str | Iterable[str] | None


class RemoteMethods:
    """Remotes, push and pull, over the ``store`` and ``workspace`` of a ``Repo``."""

    root: str
    store: Store
    workspace: Workspace
    _fetcher: Callable[[list[str]], None] | None

    def warn(self, message: str) -> None:  # pragma: no cover - Repo defines it
        raise NotImplementedError

    def names(self) -> list[str]:  # pragma: no cover - Repo defines it
        raise NotImplementedError

    def remotes(self) -> tuple[dict[str, RemoteSpec], str | None]:
        """``({name: RemoteSpec}, default name or None)``: mlver.toml's ``[remotes.NAME]``
        tables and the store's own (``--local``) ones, which win."""
        from mlver.core.config import all_remotes

        return all_remotes(self.workspace.project, self.store.path)

    def remote_add(self, name: str, url: str, endpoint_url: str | None = None,
                   default: bool = False, local: bool = False,
                   locking: str | None = None) -> RemoteSpec:
        """Add the remote ``name`` to mlver.toml (or, with ``local``, to the store's own
        config). ``url``: a folder, ``s3://BUCKET/PREFIX``, ``gs://…``; never credentials."""
        from mlver.sync.sharing import add_remote

        spec = add_remote(self.root, self.store.path, name, url, endpoint_url, default, local,
                          locking)
        self.workspace._project = None
        self._fetcher = None
        self.remote_trust(name)  # the user typed this URL: pushes may go there
        return spec

    def remote_trust(self, name: str) -> RemoteSpec:
        """Trust pushes to the remote ``name`` at the URL mlver.toml now gives it (pinned in
        the store's own config; see docs/remotes.md): the fix when a push is refused because
        a merged mlver.toml changed that remote or the default."""
        from mlver.sync.trust import trust_remote

        return trust_remote(self, name)

    def remote_remove(self, name: str, local: bool = False) -> RemoteSpec:
        """Remove the remote ``name`` (from the store's own config with ``local``); the
        remote itself is untouched."""
        from mlver.sync.sharing import remove_remote

        spec = remove_remote(self.root, self.store.path, name, local)
        self.workspace._project = None
        self._fetcher = None
        return spec

    def remote_and_names(self, first: str | None, names: Iterable[str],
                         push: bool = False) -> tuple[str | None, list[str]]:
        """``push``/``pull [REMOTE] [NAME]…``: ``(remote, names)``. A first argument that
        is no configured remote is a name of the default remote; for ``push`` one that is
        no local name either is refused, naming both."""
        from mlver.sync.sharing import remote_and_names

        return remote_and_names(self, first, names, push)

    def mistyped_remote(self, first: str | None) -> AbstractContextManager[None]:
        """Around :meth:`pull`: when ``first`` (a first argument taken as a name) is a name
        the default remote does not hold, the error says it is no remote either."""
        from mlver.sync.sharing import mistyped_remote

        return mistyped_remote(self, first)

    def push(self, remote: str | None = None, names: Iterable[str] | str | None = None,
             progress: Progress | None = None) -> SyncResult:
        """Send versions (of ``names``, default all) to ``remote`` (default: the default
        remote): objects the remote lacks, then records, then refs and tags by
        compare-and-swap. A name the remote moved since the last pull raises
        :class:`mlver.sync.pushpull.PushRefused` (the others are pushed)."""
        from mlver.sync.named import push_named

        return push_named(self.store, self.workspace, remote, _names(names), progress,
                          self.warn)

    def pull(self, remote: str | None = None, names: Iterable[str] | str | None = None,
             data: bool = True, progress: Progress | None = None) -> SyncResult:
        """Bring versions (of ``names``, default all) from ``remote``: refs, records and
        trees, then the data (``data=False``: fetched later, on demand). Local-only records
        of a name the remote moved are replayed on top of its head (``.replayed``: old and
        new oids); a remote with no pinned URL is pinned."""
        from mlver.sync.named import pull_named

        return pull_named(self.store, self.workspace, remote, _names(names), data, progress,
                          self.warn)

    def _fetch(self, oids: list[str]) -> None:
        if self._fetcher is None:
            from mlver.sync.named import default_fetcher

            self._fetcher = default_fetcher(self.store, self.workspace)
        self._fetcher(oids)


def _names(value: Names) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)
