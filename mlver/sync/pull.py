"""Pull: bring versions from a remote (see :mod:`mlver.sync.pushpull`).

Reads the remote's refs, fetches records and trees (held in memory and verified), then the
data (unless ``--no-data``), then stores the records and trees, and only then moves local
refs. A name whose local history diverged has its local-only records *replayed* on top of
the remote head: new records with the same content and new version numbers and parents;
tags follow them; the old oids stay valid objects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from mlver.base.progress import Progress
from mlver.base.errors import CorruptObjectError, NoSuchName, RecordFormatError, RefConflictError
from mlver.core import history, reach
from mlver.core.record import Record
from mlver.store import Store, storelock
from mlver.store.remote import RemoteStore
from mlver.store.remote_bounds import Declared, check_declared, check_meta_size
from mlver.store.transfer import TransferResult, transfer
from mlver.store.trees import Tree
from mlver.sync import origins as sync_origins
from mlver.sync.pushpull import (
    NameUpdate,
    Replayed,
    SyncResult,
    Warn,
    chain_of,
    label_or_oid,
    set_tracking,
    set_tracking_tag,
    tracking,
)
from mlver.sync.verify import pruned_on


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
         data: bool = True, progress: Progress | None = None, warn: Warn | None = None,
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
        remote.objects.relist_on_miss = True  # every object it asks for should be there
        chosen = list(dict.fromkeys(names)) if names else None
        # refs unchanged since the last pull or push are proven by the listing, not read
        heads, rtags = remote.refs.all(chosen, (tracking(store, remote.name), store.refs))
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
        lacking = store.objects.missing(want)  # a chunked file missing chunks included
        remote.objects.prefetch_manifests(lacking)  # chunked files: their manifests at once
        check_declared(remote.label, remote.objects.size,
                       {o: declared[o] for o in lacking if o in declared})
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
            rchain = chain_of(get, rhead)
            if local in rchain:
                _cas(store, name, rhead, local)
                result.names.append(NameUpdate(name, "fast-forward", local, rhead))
            else:
                lchain = chain_of(get, local)
                if rhead in lchain:
                    result.names.append(NameUpdate(name, "ahead", local, local))
                else:
                    top = _replay(store, name, local, lchain, rhead, set(rchain), get, result,
                                  root)
                    result.names.append(NameUpdate(name, "replayed", local, top))
                    touched.append(name)
        set_tracking(track, name, rhead)
    for (name, tag), rv in sorted(rtags.items()):
        lv = store.refs.get_tag(name, tag)
        tv = track.get_tag(name, tag)
        if lv != rv and rv != tv:  # moved on the remote: it wins
            if lv is not None and lv != tv:
                theirs, ours = label_or_oid(store, rv), label_or_oid(store, lv)
                say(f"tag {name}@{tag} was moved here and on {remote.label}; the remote's "
                    f"({theirs}) replaces this store's ({ours})")
            store.refs.update_tag(name, tag, rv, lv)
            result.tags.append(f"{name}@{tag}")
            if lv is None:
                result.tags_created.append(f"{name}@{tag}")
        set_tracking_tag(track, name, tag, rv)
    for name in {n for n, _t in rtags} | set(heads):
        for tag in set(track.tags(name)) - {t for (n, t) in rtags if n == name}:
            set_tracking_tag(track, name, tag, None)  # deleted on the remote
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


__all__ = ["pull"]
