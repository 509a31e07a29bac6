"""Push and pull: sharing versions through a remote.

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
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterable

from mlver.base.atomic import write_atomic
from mlver.core import history, reach
from mlver.sync import origins as sync_origins
from mlver.core.config import RemoteSpec
from mlver.base.errors import (
    CorruptObjectError,
    MlverError,
    NoSuchName,
    RecordFormatError,
    RefConflictError,
    RemoteError,
)
from mlver.core.record import Record
from mlver.sync.verify import pruned_on
from mlver.store import Store, storelock
from mlver.store.refs import Refs
from mlver.store.remote import RemoteStore, open_backend
from mlver.store.remote_bounds import Declared, check_declared, check_meta_size
from mlver.store.transfer import NOTHING, TransferResult, transfer
from mlver.store.trees import Tree

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


def _set_tracking(t: Refs, name: str, oid: str | None) -> None:
    old = t.get(name)
    if old == oid:
        return
    if oid is None:
        if old is not None:
            t.delete_name(name, old)
        return
    t.update(name, oid, old)


def _set_tracking_tag(t: Refs, name: str, tag: str, oid: str | None) -> None:
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
                "present": self.moved.present, "requests": self.requests,
                "seconds": round(self.seconds, 3), "data": self.data,
                "warnings": list(self.warnings)}


PushResult = SyncResult
PullResult = SyncResult


# -- helpers --------------------------------------------------------------------------------------

def _chain(get: Callable[[str], Record], oid: str | None, limit: int = 10_000_000) -> list[str]:
    """``oid`` and every earlier version of its name (through :attr:`Record.prior`, so
    versions of sibling branches too), newest first."""
    out: list[str] = []
    seen: set[str] = set()
    while oid and oid not in seen and len(out) < limit:
        seen.add(oid)
        out.append(oid)
        oid = get(oid).prior
    return out


def _label(store: Store, oid: str) -> str:
    try:
        return history.load_record(store, oid).label
    except MlverError:
        return oid[:10]


# -- push -----------------------------------------------------------------------------------------

def push(store: Store, remote: RemoteStore, names: Iterable[str] | None = None,
         progress: Any = None, warn: Warn | None = None) -> SyncResult:
    """Send ``names`` (default: every name) to ``remote``: objects first, then records,
    then refs and tags by compare-and-swap. Raises :class:`PushRefused` (after pushing
    the others) when the remote moved since the last pull for some names."""
    t0 = time.perf_counter()
    result = SyncResult(remote.name, remote.url)
    say = warn or (lambda _m: None)
    local_names = store.refs.names()
    chosen = list(dict.fromkeys(names)) if names else local_names
    for n in chosen:
        if n not in local_names:
            history.resolve(store, n)  # the usual unknown-name error
    track = tracking(store, remote.name)
    fd = storelock.shared(store.path)  # gc must not remove what is being sent
    try:
        remote.check(create=True)
        heads: dict[str, tuple[str | None, Any]] = {n: remote.refs.read(n) for n in chosen}
        accepted: dict[str, str] = {}
        for n in chosen:
            local = store.refs.get(n)
            assert local is not None
            rhead = heads[n][0]
            if rhead == local:
                result.names.append(NameUpdate(n, "up to date", rhead, local))
                accepted[n] = local
                continue
            chain = _chain(lambda o: history.load_record(store, o), local)
            if rhead is not None and rhead not in chain:
                result.names.append(NameUpdate(n, "refused", rhead, local))
                continue
            accepted[n] = local
        starts = [(oid, f"{n} (latest)") for n, oid in accepted.items()]
        local_tags = {n: store.refs.tags(n) for n in accepted}
        starts += [(oid, f"{n}@{t}") for n, ts in local_tags.items() for t, oid in ts.items()]
        r = reach.walk(store, starts)
        result.moved, gone = _send(store, remote, r, progress)
        if gone:  # listed before any ref reaches them: a clone knows their data is gone
            remote.refs.add_pruned(gone)
        for n, local in accepted.items():
            rhead, token = heads[n]
            if rhead != local:
                if remote.refs.update(n, local, token):
                    status = "new" if rhead is None else "fast-forward"
                    result.names.append(NameUpdate(n, status, rhead, local))
                else:  # someone pushed meanwhile
                    result.names.append(NameUpdate(n, "refused", rhead, local))
                    continue
            _set_tracking(track, n, local)
            _push_tags(store, remote, track, n, local_tags[n], result, say)
    finally:
        storelock.release(fd)
    result.requests = remote.backend.requests
    result.seconds = time.perf_counter() - t0
    result.names.sort(key=lambda u: u.name)
    if result.refused:
        which = ", ".join(result.refused)
        raise PushRefused(
            f"{remote.label} has versions of {which} that this store does not have (its head "
            f"moved since your last pull); run mlver pull {remote.name}, then push again", result)
    return result


def _send(store: Store, remote: RemoteStore, r: reach.Reach, progress: Any
          ) -> tuple[TransferResult, set[str]]:
    """Send what ``r`` reached and the remote lacks: data, then trees, then records.
    Returns what moved and the records sent without their data (gc removed it here), which
    the remote must list as pruned. Data that is only elsewhere (pulled with --no-data)
    is refused: the remote would hold versions that no clone can pull."""
    bad = [u for u in r.unreadable.values() if u.problem != "missing"]
    if bad:
        u = bad[0]
        raise CorruptObjectError(f"{u.kind} {u.oid} is {u.problem} in this store ({u.detail}); "
                                 "nothing was pushed: run mlver verify and repair it first")
    leaves = [o for o, k in r.kinds.items() if k not in ("tree", "record")]
    trees = [o for o, k in r.kinds.items() if k == "tree"]
    records = [o for o, k in r.kinds.items() if k == "record"]
    skip = store.refs.pruned() | store.refs.partial()
    need = remote.objects.missing(leaves + trees + records)
    absent = [o for o in need if not store.objects.has(o)]
    dropped: set[str] = set()
    gone: set[str] = set()
    pruned = store.refs.pruned()
    by_label = {label: oid for oid, label in r.labels.items()}
    for o in absent:
        breaks = r.breaks(o, skip)
        if breaks:
            raise CorruptObjectError(
                f"object {o} ({r.kinds[o]}) of {', '.join(breaks[:3])} is neither in this store "
                f"nor on {remote.label}; nothing was pushed: pull it from where it came from, or "
                "run mlver verify")
        holders = [by_label[lb] for lb in r.breaks(o) if lb in by_label]
        elsewhere = [lb for lb in r.breaks(o) if by_label.get(lb) not in pruned]
        if elsewhere:
            raise RemoteError(
                f"the data of {', '.join(elsewhere[:3])} is not in this store (it was pulled "
                f"with --no-data), so {remote.label} could not pull it back; nothing was "
                "pushed: run mlver pull without --no-data from the remote that has it, then "
                "push again")
        gone.update(holders)
        dropped.add(o)
    moved = NOTHING
    for label, oids in (("sending data", leaves), ("sending trees", trees),
                        ("sending records", records)):
        moved = moved + transfer(store.objects, remote.objects,
                                 [o for o in oids if o not in dropped], progress, label)
    return moved, gone


def _push_tags(store: Store, remote: RemoteStore, track: Refs, name: str,
               tags: dict[str, str], result: SyncResult, say: Warn) -> None:
    for tag, oid in sorted(tags.items()):
        rv, token = remote.refs.read_tag(name, tag)
        if rv != oid:
            tv = track.get_tag(name, tag)
            if rv is not None and rv != tv:
                say(f"tag {name}@{tag} was moved on {remote.label} since your last pull; it was "
                    f"not pushed: run mlver pull {remote.name} to take it, then tag and push "
                    "again")
                continue
            if not remote.refs.update_tag(name, tag, oid, token):
                say(f"tag {name}@{tag} moved on {remote.label} while pushing; pull, then push "
                    "again")
                continue
            result.tags.append(f"{name}@{tag}")
            if rv is None:
                result.tags_created.append(f"{name}@{tag}")
        _set_tracking_tag(track, name, tag, oid)


# -- pull -----------------------------------------------------------------------------------------

class _Fetched:
    """Records and trees fetched from a remote, verified, held until the data is stored."""

    def __init__(self, store: Store, remote: RemoteStore) -> None:
        self.store, self.remote = store, remote
        self.raw: dict[str, bytes] = {}
        self.records: dict[str, Record] = {}
        self.trees: dict[str, Tree] = {}

    def fetch(self, oids: list[str], what: str) -> None:
        need = [o for o in oids if o not in self.raw and not self.store.objects.has(o)]
        for o in need:
            size = self.remote.objects.size(o)
            if size is None:
                raise CorruptObjectError(f"{what} {o} is missing from {self.remote.label}; run "
                                         f"mlver verify --remote {self.remote.name}")
            check_meta_size(self.remote.label, what, o, size)
        for it in self.remote.objects.iter_objects(need, in_memory=True):
            assert it.data is not None
            self.raw[it.oid] = it.data

    def record(self, oid: str) -> Record:
        rec = self.records.get(oid)
        if rec is None:
            if oid in self.raw:
                try:
                    rec = Record.decode(self.raw[oid])
                except RecordFormatError as e:
                    raise RecordFormatError(f"record {oid} of {self.remote.label}: {e}") from None
            else:
                rec = history.load_record(self.store, oid)
            self.records[oid] = rec
        return rec

    def tree(self, oid: str) -> Tree:
        t = self.trees.get(oid)
        if t is None:
            if oid in self.raw:
                try:
                    t = Tree.decode(self.raw[oid])
                except RecordFormatError as e:
                    raise RecordFormatError(f"tree {oid} of {self.remote.label}: {e}") from None
            else:
                t = self.store.tree(oid)
            self.trees[oid] = t
        return t


def pull(store: Store, remote: RemoteStore, names: Iterable[str] | None = None,
         data: bool = True, progress: Any = None, warn: Warn | None = None,
         root: str | None = None) -> SyncResult:
    """Bring ``names`` (default: every name of the remote) from ``remote``: refs, records
    and trees, then the data (unless ``data`` is False), then move local refs, replaying
    local-only records on top of the remote's head. ``root`` is the work tree whose git
    history picks a replayed record's parent (None: the version before it)."""
    t0 = time.perf_counter()
    result = SyncResult(remote.name, remote.url, data=data)
    say = warn or (lambda _m: None)
    fd = storelock.shared(store.path)  # what arrives stays until the refs reach it
    try:
        remote.check()
        chosen = list(dict.fromkeys(names)) if names else None
        heads, rtags = remote.refs.all(chosen)
        for n in chosen or ():
            if n not in heads:
                have = tuple(remote.refs.names())
                raise NoSuchName(f"{remote.label} has no versions of '{n}' (its names: "
                                 f"{', '.join(have) or 'none'})", n, have)
        f = _Fetched(store, remote)
        recs = _walk_records(f, list(heads.values()) + list(rtags.values()))
        declared: dict[str, Declared] = {}
        gone = pruned_on(remote, recs)  # pushed after gc --keep-last: no trees, no data
        blobs = _walk_trees(f, {o: r for o, r in recs.items() if o not in gone}, declared)
        meta = [o for o in (*(r.code.patch for r in recs.values()),
                            *(r.env.packages for r in recs.values())) if o]
        want = list(dict.fromkeys(meta + (blobs if data else [])))
        check_declared(remote.label, remote.objects.size,
                       {o: declared[o] for o in want if o in declared and not store.objects.has(o)})
        moved = transfer(remote.objects, store.objects, want, progress,
                         "fetching data" if data else "fetching")
        result.moved = moved + TransferResult(len(f.raw), sum(map(len, f.raw.values())), 0, 0.0)
        # Marked before stored (bytes already here too): none is ever taken for local.
        sync_origins.mark_adopted(store, recs, f.raw, remote.name)
        if f.raw:  # trees and records last: a record here has its trees (and data) here
            with store.objects.batch() as b:
                for oid, raw in f.raw.items():
                    b.add_bytes(raw, expect=oid)
        lost = [o for o in recs if o in gone and reach.gone_slots(store, o, recs[o], gone)]
        if lost:  # before any ref reaches them, as gc does: verify must know why
            store.refs.add_pruned(lost)
        if data:
            done = set(recs)
            if store.refs.partial() & done:
                store.refs.change_partial(drop=done)
        elif any(not store.objects.has(o) for o in blobs):
            store.refs.change_partial(add=recs)
        _move_refs(store, remote, f, heads, rtags, result, say, root)
    finally:
        storelock.release(fd)
    result.requests = remote.backend.requests
    result.seconds = time.perf_counter() - t0
    result.names.sort(key=lambda u: u.name)
    return result


def _walk_records(f: _Fetched, starts: list[str]) -> dict[str, Record]:
    """Every record reachable from ``starts`` (parents and input sources), fetching the
    missing ones a generation at a time."""
    recs: dict[str, Record] = {}
    frontier = list(dict.fromkeys(starts))
    while frontier:
        f.fetch(frontier, "record")
        nxt: list[str] = []
        for oid in frontier:
            rec = f.record(oid)
            recs[oid] = rec
            for p in (*rec.links, *(a.source for a in rec.inputs.values() if a.source)):
                if p and p not in recs:
                    nxt.append(p)
        frontier = [o for o in dict.fromkeys(nxt) if o not in recs]
    return recs


def _declare(declared: dict[str, Declared], oid: str, size: int, where: str) -> None:
    if oid not in declared or size < declared[oid].size:
        declared[oid] = Declared(size, where)


def _walk_trees(f: _Fetched, recs: dict[str, Record], declared: dict[str, Declared]
                ) -> list[str]:
    """Fetch every tree below the records' inputs and outputs (a level at a time); return
    the blobs and links they reach, noting in ``declared`` the size each blob is said to
    have (the smallest claim, and who makes it)."""
    blobs: list[str] = []
    level: list[str] = []
    for rec in recs.values():
        for side, arts in (("input", rec.inputs), ("output", rec.outputs)):
            for slot, art in arts.items():
                (level if art.type == "tree" else blobs).append(art.oid)
                if art.type == "blob" and not art.missing:  # a placeholder has DVC's size
                    _declare(declared, art.oid, art.size, f"{rec.label}'s {side} {slot}")
    seen: set[str] = set()
    entries = 0
    while level:
        level = [o for o in dict.fromkeys(level) if o not in seen]
        f.fetch(level, "tree")
        nxt: list[str] = []
        for oid in level:
            seen.add(oid)
            t = f.tree(oid)
            entries += len(t.entries)
            if entries > reach.MAX_REACH_ENTRIES:
                raise RecordFormatError(f"the trees of {f.remote.label} hold more than "
                                        f"{reach.MAX_REACH_ENTRIES:,} entries; they may have been "
                                        "crafted to exhaust memory")
            for e in t.entries:
                (nxt if e.type == "tree" else blobs).append(e.oid)
                if e.type == "blob":
                    _declare(declared, e.oid, e.size, f"the entry {e.name!r} of tree {oid}")
        level = nxt
    return list(dict.fromkeys(blobs))


def _move_refs(store: Store, remote: RemoteStore, f: _Fetched, heads: dict[str, str],
               rtags: dict[tuple[str, str], str], result: SyncResult, say: Warn,
               root: str | None = None) -> None:
    track = tracking(store, remote.name)
    get = f.record
    touched: list[str] = []
    for name, rhead in sorted(heads.items()):
        local = store.refs.get(name)
        if local is None:
            store.refs.update(name, rhead, None)
            result.names.append(NameUpdate(name, "new", None, rhead))
        elif local == rhead:
            result.names.append(NameUpdate(name, "up to date", local, rhead))
        else:
            rchain = _chain(get, rhead)
            if local in rchain:
                _cas(store, name, rhead, local)
                result.names.append(NameUpdate(name, "fast-forward", local, rhead))
            else:
                lchain = _chain(get, local)
                if rhead in lchain:
                    result.names.append(NameUpdate(name, "ahead", local, local))
                else:
                    top = _replay(store, name, local, lchain, rhead, set(rchain), get, result,
                                  root)
                    result.names.append(NameUpdate(name, "replayed", local, top))
                    touched.append(name)
        _set_tracking(track, name, rhead)
    for (name, tag), rv in sorted(rtags.items()):
        lv = store.refs.get_tag(name, tag)
        tv = track.get_tag(name, tag)
        if lv != rv and rv != tv:  # moved on the remote: it wins
            if lv is not None and lv != tv:
                say(f"tag {name}@{tag} was moved here and on {remote.label}; the remote's "
                    f"({_label(store, rv)}) replaces this store's ({_label(store, lv)})")
            store.refs.update_tag(name, tag, rv, lv)
            result.tags.append(f"{name}@{tag}")
            if lv is None:
                result.tags_created.append(f"{name}@{tag}")
        _set_tracking_tag(track, name, tag, rv)
    for name in {n for n, _t in rtags} | set(heads):
        for tag in set(track.tags(name)) - {t for (n, t) in rtags if n == name}:
            _set_tracking_tag(track, name, tag, None)  # deleted on the remote
    if touched or any(u.status in ("new", "fast-forward") for u in result.names):
        index = store.index
        for name in touched:
            index.drop_name(name)
        history.sync_index(store, index)


def _cas(store: Store, name: str, new: str, old: str) -> None:
    try:
        store.refs.update(name, new, old)
    except RefConflictError:
        raise RefConflictError(f"{name} got a new version here while pulling; run mlver pull "
                               "again") from None


def _replay(store: Store, name: str, local: str, lchain: list[str], rhead: str,
            rset: set[str], get: Callable[[str], Record], result: SyncResult,
            root: str | None = None) -> str:
    """Write the local-only records of ``name`` again on top of ``rhead`` (same content,
    next versions), move the ref and the tags that named them; return the new head.

    Each replayed record's parent is chosen again, as :func:`mlver.ops.snapshot.publish` does:
    the latest version of the new line (remote versions, then those replayed before it)
    on its own commit's git history; so a record of one branch never gets a sibling
    branch's version as its parent."""
    from mlver.core.branches import ancestry_of, parent_of

    local_only = []
    for oid in lchain:
        if oid in rset:
            break
        local_only.append(oid)
    prev_oid, prev = rhead, get(rhead)
    mapping: dict[str, str] = {}
    written: dict[str, Record] = {}  # replayed records, not readable from the store yet

    def read(o: str) -> Record:
        return written[o] if o in written else get(o)

    with store.objects.batch() as b:
        for oid in reversed(local_only):
            rec = get(oid)
            commit = rec.code.commit
            ancestry = ancestry_of(root, commit) if root is not None else None
            parent = parent_of(read, prev_oid, commit, ancestry)
            new = rec.with_version(prev.version + 1, (parent,) if parent else (), prev_oid)
            noid = b.add_bytes(new.encode())
            written[noid] = new
            mapping[oid] = noid
            result.replayed.append(Replayed(oid, noid, rec.label, new.label))
            prev_oid, prev = noid, new
        sync_origins.carry(store, mapping)  # a pulled or imported record stays so, replayed
        b.commit()
        _cas(store, name, prev_oid, local)
    for tag, oid in store.refs.tags(name).items():
        if oid in mapping:
            store.refs.update_tag(name, tag, mapping[oid], oid)
            result.tags.append(f"{name}@{tag}")
    return prev_oid


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


__all__ = ["PushRefused", "Replayed", "NameUpdate", "SyncResult", "fetcher", "open_remote",
           "pull", "push", "tracking"]
