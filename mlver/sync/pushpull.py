"""Push and pull: sharing versions through a remote; what both directions share.

``.mlver/`` is local state; a team shares through a remote (see docs/remotes.md). Both
directions go through :func:`mlver.store.transfer.transfer`, in the store's write order:

* **push** sends the objects the remote lacks (data, then trees, then records), then moves
  each remote ref by compare-and-swap from the value it read. A remote head that is not
  an ancestor of the local one (someone pushed since this store last pulled) is refused,
  naming the name: pull first.
* **pull** reads the remote's refs, fetches records and trees (held in memory and verified),
  then the data (unless ``--no-data``), then stores the records and trees, and only then
  moves local refs. A name whose local history diverged has its local-only records
  *replayed* on top of the remote head: new records with the same content and new version
  numbers and parents; tags follow them; the old oids stay valid objects.

The remote head of each name at the last push or pull is remembered in
``.mlver/remotes/REMOTE/refs/`` (remote-tracking refs); it decides whose tag moved.

This module opens remotes and keeps their tracking refs, holds the results both return
and fetches data on demand; :mod:`mlver.sync.push` and :mod:`mlver.sync.pull` hold the
two directions.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlver.base.atomic import write_atomic
from mlver.base.errors import MlverError, RefConflictError, RemoteError
from mlver.core import history
from mlver.core.config import RemoteSpec
from mlver.core.record import Record
from mlver.store import Store
from mlver.store.refs import Refs
from mlver.store.remote import RemoteStore, open_backend
from mlver.store.transfer import NOTHING, TransferResult, transfer

Warn = Callable[[str], None]


class PushRefused(RefConflictError):
    """Push refused for some names: the remote moved since the last pull."""

    def __init__(self, message: str, result: PushResult) -> None:
        super().__init__(message)
        self.result = result


# -- opening a remote -----------------------------------------------------------------------------

def remote_dir(store: Store, name: str) -> str:
    """``.mlver/remotes/NAME``: the tracking refs and the cached pack indexes of a remote."""
    return os.path.join(store.path, "remotes", name)


def open_remote(store: Store, spec: RemoteSpec) -> RemoteStore:
    """Open the remote ``spec`` names (nothing is read yet). The local state kept for it is
    dropped when its URL changed: it described another store."""
    base = remote_dir(store, spec.name)
    os.makedirs(base, exist_ok=True)
    url_file = os.path.join(base, "url")
    try:
        with open(url_file, encoding="utf-8") as f:
            known = f.read().strip()
    except FileNotFoundError:
        known = None
    if known != spec.url:
        for sub in ("pack", "refs"):
            shutil.rmtree(os.path.join(base, sub), ignore_errors=True)
        write_atomic(url_file, spec.url + "\n")
    backend = open_backend(spec.name, spec.url, spec.endpoint_url, spec.locking)
    return RemoteStore(spec.name, spec.url, backend, os.path.join(base, "pack"),
                       store.objects.tmp_dir)


def tracking(store: Store, remote: str) -> Refs:
    """The remote-tracking refs of ``remote``: its heads and tags at the last push or pull."""
    return Refs(remote_dir(store, remote), gc_roots=False)


def set_tracking(t: Refs, name: str, oid: str | None) -> None:
    """Set (``None``: delete) the tracking ref of ``name``."""
    old = t.get(name)
    if old == oid:
        return
    if oid is None:
        if old is not None:
            t.delete_name(name, old)
        return
    t.update(name, oid, old)


def set_tracking_tag(t: Refs, name: str, tag: str, oid: str | None) -> None:
    """Set (``None``: delete) the tracking ref of ``name@tag``."""
    old = t.get_tag(name, tag)
    if old == oid:
        return
    if oid is None:
        t.delete_tag(name, tag, old)
    else:
        t.update_tag(name, tag, oid, old)


# -- results --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NameUpdate:
    """What push or pull did to one name: ``status`` is ``new``, ``fast-forward``,
    ``replayed``, ``up to date``, ``ahead`` (pull: only the local store has the newer
    versions) or ``refused`` (push: the remote moved since the last pull)."""

    name: str
    status: str
    old: str | None
    new: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class Replayed:
    """A local record replayed on top of the remote head: same content, new version."""

    old: str
    new: str
    old_label: str
    new_label: str

    def to_dict(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "old_label": self.old_label,
                "new_label": self.new_label}


@dataclass
class SyncResult:
    """What a push or a pull did."""

    remote: str
    url: str
    names: list[NameUpdate] = field(default_factory=list)
    replayed: list[Replayed] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # NAME@TAG set: created or moved
    tags_created: list[str] = field(default_factory=list)  # those of tags that were new
    moved: TransferResult = NOTHING
    requests: int = 0
    seconds: float = 0.0
    data: bool = True
    warnings: list[str] = field(default_factory=list)

    @property
    def refused(self) -> list[str]:
        return [u.name for u in self.names if u.status == "refused"]

    def to_dict(self) -> dict[str, Any]:
        return {"remote": self.remote, "url": self.url,
                "names": [u.to_dict() for u in self.names],
                "replayed": [r.to_dict() for r in self.replayed], "tags": list(self.tags),
                "tags_created": list(self.tags_created),
                "objects": self.moved.objects, "bytes": self.moved.bytes,
                "chunks": self.moved.chunks,
                "present": self.moved.present, "requests": self.requests,
                "seconds": round(self.seconds, 3), "data": self.data,
                "warnings": list(self.warnings)}


PushResult = SyncResult
PullResult = SyncResult


# -- helpers --------------------------------------------------------------------------------------

def chain_of(get: Callable[[str], Record], oid: str | None, limit: int = 10_000_000) -> list[str]:
    """``oid`` and every earlier version of its name (through :attr:`Record.prior`, so
    versions of sibling branches too), newest first."""
    out: list[str] = []
    seen: set[str] = set()
    while oid and oid not in seen and len(out) < limit:
        seen.add(oid)
        out.append(oid)
        oid = get(oid).prior
    return out


def label_or_oid(store: Store, oid: str) -> str:
    """The label of record ``oid``, or its first 10 digits when it cannot be read."""
    try:
        return history.load_record(store, oid).label
    except MlverError:
        return oid[:10]


# -- data on demand -------------------------------------------------------------------------------

def fetcher(store: Store, spec: RemoteSpec) -> Callable[[list[str]], None]:
    """A fetcher for :attr:`LocalObjectStore.fetcher`: opens the remote on first use and
    copies in the objects asked for that it holds."""
    lock = threading.Lock()
    opened: list[RemoteStore] = []

    def fetch(oids: list[str]) -> None:
        with lock:
            try:
                if not opened:
                    r = open_remote(store, spec)
                    r.check()
                    opened.append(r)
                remote = opened[0]
                have = [o for o in oids if remote.objects.has(o)]
                if have:
                    transfer(remote.objects, store.objects, have)
            except RemoteError as e:
                raise RemoteError(f"object {oids[0]} is not in this store, and fetching it "
                                  f"failed: {e}") from None

    return fetch


__all__ = ["NameUpdate", "PushRefused", "Replayed", "SyncResult", "chain_of", "fetcher",
           "label_or_oid", "open_remote", "remote_dir", "set_tracking", "set_tracking_tag",
           "tracking"]
