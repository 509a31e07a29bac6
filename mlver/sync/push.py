"""Push: send versions to a remote (see :mod:`mlver.sync.pushpull`).

Objects the remote lacks go first (data, then trees, then records), then each remote ref
moves by compare-and-swap from the value read. A remote head that is not an ancestor of
the local one (someone pushed since this store last pulled) is refused, naming the name.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from mlver.base.progress import Progress
from mlver.base.errors import CorruptObjectError, RemoteError
from mlver.core import history, reach
from mlver.store import Store, storelock
from mlver.store.refs import Refs
from mlver.store.remote import RemoteStore
from mlver.store import remote_batch
from mlver.store.packs import PACK_THRESHOLD
from mlver.store.transfer import NOTHING, TransferResult, transfer
from mlver.sync.pushpull import (
    NameUpdate,
    PushRefused,
    SyncResult,
    Warn,
    chain_of,
    set_tracking,
    set_tracking_tag,
    tracking,
)


def push(store: Store, remote: RemoteStore, names: Iterable[str] | None = None,
         progress: Progress | None = None, warn: Warn | None = None) -> SyncResult:
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
        # the last push or pull usually saw the remote head: then no request reads it
        likely = (track, store.refs)
        heads: dict[str, tuple[str | None, Any]] = {n: remote.refs.read(n, likely)
                                                    for n in chosen}
        accepted: dict[str, str] = {}
        for n in chosen:
            local = store.refs.get(n)
            assert local is not None
            rhead = heads[n][0]
            if rhead == local:
                result.names.append(NameUpdate(n, "up to date", rhead, local))
                accepted[n] = local
                continue
            chain = chain_of(lambda o: history.load_record(store, o), local)
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
            set_tracking(track, n, local)
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


def _send(store: Store, remote: RemoteStore, r: reach.Reach, progress: Progress | None
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
    send = [o for o in leaves + trees + records if o not in dropped]
    if _one_pack(store, [o for o in need if o not in dropped]):
        # One transfer, so one batch and one pack: data, trees and records appear at once
        # (a push of a version that changed little is one pack and its index, not three).
        return transfer(store.objects, remote.objects, send, progress, "sending"), gone
    # Else each group whole before the next starts (format.md, rule 1): in one batch a
    # record's pack may be up before a loose file, another pack or a chunked file's
    # manifest (uploaded last), and a push cut short would leave it without its data.
    groups: list[tuple[str, list[str]]] = [("sending data", leaves)]
    meta = set(trees + records) - dropped
    if _one_pack(store, [o for o in need if o in meta]):
        groups.append(("sending trees and records", trees + records))  # one pack: at once
    else:
        groups += [("sending trees", trees), ("sending records", records)]
    moved = NOTHING
    for label, oids in groups:
        moved = moved + transfer(store.objects, remote.objects,
                                 [o for o in oids if o not in dropped], progress, label)
    return moved, gone


def _one_pack(store: Store, oids: list[str]) -> bool:
    """True when ``oids`` all go into one pack of a remote batch: each small enough to be
    packed (never loose, never chunked) and all of them below the size that closes a pack."""
    total = 0
    for o in oids:
        n = store.objects.size(o)
        if n is None or n > PACK_THRESHOLD:
            return False
        total += n + 64  # the pack's own bytes per object, generously
        if total >= remote_batch.PACK_TARGET:
            return False
    return True


def _push_tags(store: Store, remote: RemoteStore, track: Refs, name: str,
               tags: dict[str, str], result: SyncResult, say: Warn) -> None:
    for tag, oid in sorted(tags.items()):
        rv, token = remote.refs.read_tag(name, tag, (track, store.refs))
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
        set_tracking_tag(track, name, tag, oid)


__all__ = ["push"]
