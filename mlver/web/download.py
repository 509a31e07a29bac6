"""Artifact downloads of ``mlver ui`` (``/download/OID?side=outputs&slot=S[&path=P]``):
only what a record names. The blob of a file slot, or one file inside a folder slot found
by walking the slot's own trees, name by name (each a plain name: no ``..``, no ``/``, no
absolute path; a symlink or a folder is refused). Nothing else in the store can be
reached: an oid given in the URL is only ever the record's.

The folder listing on a record page is bounded too (:data:`MAX_LISTED` files,
:data:`MAX_TREES` trees read).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlver.base.errors import MlverError
from mlver.base.paths import is_plain_name

if TYPE_CHECKING:
    from mlver import Record, Repo

MAX_LISTED = 50      # files of a folder slot listed with a download link
MAX_TREES = 200      # trees read to list them
MAX_PATH = 4096      # characters of a path asked for
CHUNK = 1 << 20      # bytes streamed at a time
SIDES = ("inputs", "outputs")


class NotDownloadable(MlverError):
    """The request names nothing this record holds (or nothing that is a file)."""


@dataclass(frozen=True)
class Download:
    """A blob to stream: its oid, the file name to offer, its size in bytes."""

    oid: str
    filename: str
    size: int | None


def resolve(repo: Repo, rec: Record, side: str, slot: str, path: str | None) -> Download:
    """The blob that ``rec``'s ``side`` slot ``slot`` names (a file slot), or the file at
    ``path`` inside it (a folder slot)."""
    store = repo.store
    if side not in SIDES:
        raise NotDownloadable(f"side {side!r} is neither inputs nor outputs")
    art = (rec.inputs if side == "inputs" else rec.outputs).get(slot)
    if art is None:
        raise NotDownloadable(f"{rec.label} has no {side[:-1]} slot {slot!r}")
    if art.missing:
        raise NotDownloadable(f"the bytes of {slot!r} were never stored (imported from DVC "
                              "without them)")
    if art.type == "blob":
        if path:
            raise NotDownloadable(f"{slot!r} is one file; leave path out")
        return _found(store, art.oid, art.path.rsplit("/", 1)[-1])
    if art.type != "tree":
        raise NotDownloadable(f"{slot!r} is a {art.type}, not a file or a folder")
    if not path:
        raise NotDownloadable(f"{slot!r} is a folder; name a file in it with path=")
    names = path.split("/")
    if len(path) > MAX_PATH or not all(is_plain_name(n) for n in names):
        raise NotDownloadable(f"path {path[:200]!r} is not a plain relative path in the "
                              "folder")
    oid = art.oid
    for i, name in enumerate(names):
        entry = next((x for x in store.tree(oid).entries if x.name == name), None)
        last = i == len(names) - 1
        if entry is None or entry.type != ("blob" if last else "tree"):
            raise NotDownloadable(f"{slot!r} holds no file {path!r}")
        oid = entry.oid
    return _found(store, oid, names[-1])


def _found(store: Any, oid: str, filename: str) -> Download:
    if not store.objects.has(oid):
        raise NotDownloadable(f"the content {oid[:12]} is not in this store (removed by gc, "
                              "or never pulled)")
    return Download(oid, filename, store.objects.size(oid))


def stream(repo: Repo, oid: str) -> Iterator[bytes]:
    """The bytes of blob ``oid``, a chunk at a time (a chunked blob chunk by chunk)."""
    with repo.store.objects.open(oid) as f:
        while chunk := f.read(CHUNK):
            yield chunk


def disposition(filename: str) -> str:
    """A Content-Disposition offering ``filename`` as an attachment (an ASCII fallback
    and the exact name, percent-encoded: nothing in it can break the header)."""
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:150] or "download"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename[:300], safe='')}"


def folder_files(repo: Repo, tree_oid: str) -> tuple[list[str], bool]:
    """Up to :data:`MAX_LISTED` file paths of folder ``tree_oid`` (breadth first), and
    whether there are more (or more than :data:`MAX_TREES` trees to read)."""
    out: list[str] = []
    queue = [("", tree_oid)]
    read = 0
    while queue:
        prefix, oid = queue.pop(0)
        read += 1
        if read > MAX_TREES:
            return out, True
        for entry in repo.store.tree(oid).entries:
            if entry.type == "tree":
                queue.append((f"{prefix}{entry.name}/", entry.oid))
            elif entry.type == "blob":
                if len(out) == MAX_LISTED:
                    return out, True
                out.append(prefix + entry.name)
    return out, False
