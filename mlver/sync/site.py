"""What the remote helpers of this layer need from their caller: the facade's ``Repo`` for a
command, or a git hook's ``Site`` (:mod:`mlver.integrations.hooksite`). A protocol, so sync
never imports either of them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from mlver.core.config import RemoteSpec
    from mlver.store import Store


class RemoteSite(Protocol):
    """A store in a repository, with the remotes configured for it."""

    @property
    def root(self) -> str:
        """The repository's root folder (where ``mlver.toml`` is)."""
        ...

    @property
    def store(self) -> Store:
        """Its store."""
        ...

    def remotes(self) -> tuple[dict[str, RemoteSpec], str | None]:
        """Every remote by name (the store's own override mlver.toml's), and the default."""
        ...


class NamedSite(RemoteSite, Protocol):
    """A :class:`RemoteSite` that also lists its names (for ``push NAME…``)."""

    def names(self) -> list[str]:
        """The names that have versions in the store."""
        ...
