"""The refs of a remote (``refs/names/NAME``, ``refs/tags/NAME/TAG``, ``refs/pruned``),
read in parallel and moved only by compare-and-swap (how, the backend decides)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from mlver.store import layout
from mlver.store.refs import parse_ref, valid_name
from mlver.store.remote_backend import Medium
from mlver.store.remote_bounds import WORKERS
from mlver.store.remote_pruned import add_pruned, read_pruned


class Likely(Protocol):
    """Where a remote's ref values may already be known (the remote-tracking refs of the
    last push or pull, the local refs): ``get(name)``, ``get_tag(name, tag)``."""

    def get(self, name: str) -> str | None: ...

    def get_tag(self, name: str, tag: str) -> str | None: ...


def _guesses(likely: Sequence[Likely], name: str, tag: str | None = None
             ) -> tuple[bytes, ...]:
    vals = [r.get(name) if tag is None else r.get_tag(name, tag) for r in likely]
    return tuple(dict.fromkeys(layout.ref_bytes(v) for v in vals if v))


def _parse_ref(label: str, rel: str, data: bytes | None) -> str | None:
    if data is None:
        return None
    return parse_ref(data, f"{label}: the ref {rel}",
                     "it was not written by mlver (fix or delete it on the remote)")


class RemoteRefs:
    """The refs of a remote, moved only by compare-and-swap."""

    def __init__(self, backend: Medium) -> None:
        self.backend = backend

    def _read(self, rel: str, guesses: tuple[bytes, ...] = ()) -> tuple[str | None, Any]:
        """The ref at ``rel`` and its token; no request when the remote's listing proves it
        holds one of ``guesses`` (S3: its ETag is their MD5)."""
        hit = self.backend.proven(rel, guesses) if guesses else None
        data, token = hit if hit is not None else self.backend.read_ref(rel)
        return _parse_ref(self.backend.label, rel, data), token

    def listing(self) -> tuple[list[str], dict[str, list[str]]]:
        """Names with a ref, and the tags of each name (one listing)."""
        return layout.parse_refs(self.backend.list(layout.REFS))

    def names(self) -> list[str]:
        """The names with a ref on the remote, sorted."""
        return self.listing()[0]

    def tag_names(self) -> list[str]:
        """The names with at least one tag on the remote, sorted."""
        return sorted(self.listing()[1])

    def get(self, name: str) -> str | None:
        """The oid a name's ref holds, or None (also for an invalid name)."""
        if not valid_name(name):
            return None
        return self._read(layout.ref_rel(name))[0]

    def read(self, name: str, likely: Sequence[Likely] = ()) -> tuple[str | None, Any]:
        """``(oid or None, token)`` of a name's ref, for :meth:`update` (``likely``: where
        its value may be known already, see :class:`Likely`)."""
        return self._read(layout.ref_rel(name), _guesses(likely, name))

    def update(self, name: str, new: str, token: Any) -> bool:
        """Point ``name`` at ``new`` if its ref is still as read with ``token``."""
        return self.backend.swap(layout.ref_rel(name), token, layout.ref_bytes(new))

    def get_tag(self, name: str, tag: str) -> str | None:
        """The oid of tag ``tag`` of ``name``, or None."""
        if not (valid_name(name) and valid_name(tag)):
            return None
        return self._read(layout.tag_rel(name, tag))[0]

    def read_tag(self, name: str, tag: str, likely: Sequence[Likely] = ()
                 ) -> tuple[str | None, Any]:
        """``(oid or None, token)`` of a tag's ref, for :meth:`update_tag`."""
        return self._read(layout.tag_rel(name, tag), _guesses(likely, name, tag))

    def update_tag(self, name: str, tag: str, new: str, token: Any) -> bool:
        """Point the tag at ``new`` if its ref is still as read with ``token``."""
        return self.backend.swap(layout.tag_rel(name, tag), token, layout.ref_bytes(new))

    def tags(self, name: str) -> dict[str, str]:
        """``{tag: oid}`` of the tags of ``name``."""
        if not valid_name(name):
            return {}
        _names, tags = self.listing()
        return {t: v for t in tags.get(name, []) if (v := self.get_tag(name, t))}

    def all(self, only: Iterable[str] | None = None, likely: Sequence[Likely] = ()
            ) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
        """Every head and tag (of the names ``only``): one listing, reads in parallel (none
        for a ref the listing proves unchanged since ``likely`` saw it)."""
        names, tags = self.listing()
        keep = set(only) if only is not None else None
        todo = [(layout.ref_rel(n), _guesses(likely, n)) for n in names
                if keep is None or n in keep]
        todo += [(layout.tag_rel(n, t), _guesses(likely, n, t)) for n, ts in tags.items()
                 if keep is None or n in keep for t in ts]
        rels = [r for r, _g in todo]
        with ThreadPoolExecutor(WORKERS) as pool:
            values = list(pool.map(lambda rg: self._read(*rg)[0], todo))
        heads: dict[str, str] = {}
        tag_map: dict[tuple[str, str], str] = {}
        for rel, v in zip(rels, values, strict=False):
            if v is None:
                continue
            parts = rel.split("/")
            if parts[1] == "names":
                heads[parts[2]] = v
            else:
                tag_map[(parts[2], parts[3])] = v
        return heads, tag_map

    def pruned(self) -> frozenset[str]:
        """The records pushed after ``gc --keep-last`` removed their data
        (``refs/pruned``, as in a local store): the remote holds them without their trees
        and data on purpose, and a pull marks them "data removed by gc"."""
        return read_pruned(self.backend)[0]

    def add_pruned(self, oids: Iterable[str]) -> None:
        """Add record oids to the remote's ``refs/pruned`` by compare-and-swap."""
        add_pruned(self.backend, oids)
