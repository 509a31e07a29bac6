"""``mlver verify --remote``: is everything a remote's refs and tags reach there?

Records and trees are read from the remote (each refused unread above 256 MiB), hash-checked
and validated; data is checked by presence, not downloaded. The records the remote lists in
``refs/pruned`` (pushed after ``gc --keep-last``) are held without their data on purpose:
their trees and data are not required.
"""

from __future__ import annotations

import time

from mlver.base.errors import MlverError
from mlver.base.progress import Progress
from mlver.core import reach
from mlver.core.record import Record
from mlver.ops.verify import Problem, VerifyResult
from mlver.store.remote import RemoteStore


def pruned_on(remote: RemoteStore, records: dict[str, Record]) -> frozenset[str]:
    """The ``records`` the remote holds without their data: listed in its ``refs/pruned``
    and missing some of it. A listed record whose data a later push brought back (from a
    store that still had it) is whole again."""
    listed = remote.refs.pruned()
    return frozenset(
        oid for oid, rec in records.items() if oid in listed
        and not all(reach.complete(remote, a.oid, a.type)  # type: ignore[arg-type]
                    for a in (*rec.inputs.values(), *rec.outputs.values())))


def _chunk_problem(remote: RemoteStore, oid: str) -> Problem | None:
    """What is wrong with ``oid`` as a chunked file on the remote (a damaged manifest, or
    chunks absent); None when it is whole there or not stored chunked."""
    try:
        m = remote.objects.manifest(oid)
    except MlverError as e:
        return Problem("object", "corrupt", str(e), oid)
    lost = [] if m is None else remote.objects.missing(m.chunk_oids())
    if not lost:
        return None
    return Problem("object", "missing", f"{len(lost)} of its chunks (the first {lost[0]}) are "
                   f"not on {remote.label}", oid)


def verify_remote(remote: RemoteStore, progress: Progress | None = None) -> VerifyResult:
    """Check that every object reachable from the remote's refs and tags is there; a
    problem found is reported, never raised (one bad record does not hide the rest)."""
    t0 = time.perf_counter()
    remote.check()
    remote.objects.relist_on_miss = True  # a miss is listed again before it is reported
    starts = reach.ref_starts(remote)  # type: ignore[arg-type]
    problems = [Problem("ref", "invalid", e) for e in starts.errors]
    r = reach.walk_records(remote, starts.labelled())  # type: ignore[arg-type]
    try:
        pruned = pruned_on(remote, r.records)
    except MlverError as e:
        pruned = frozenset()
        problems.append(Problem("ref", "invalid", str(e)))
    reach.walk_data(remote, r, lambda oid: oid not in pruned)  # type: ignore[arg-type]
    present = 0
    nbytes = 0
    for oid, kind in r.kinds.items():
        u = r.unreadable.get(oid)
        bad = _chunk_problem(remote, oid) if u is None else None
        size = remote.objects.size(oid) if bad is None else None
        if u is None and size is not None:
            present += 1
            nbytes += size
            continue
        if bad is not None:
            problems.append(Problem("object", bad.problem, bad.detail, oid, kind, r.breaks(oid)))
            continue
        problem = u.problem if u is not None else "missing"
        detail = u.detail if u is not None else f"{remote.label} holds no copy of it"
        problems.append(Problem("object", problem, detail, oid, kind, r.breaks(oid)))
    return VerifyResult(objects=present, bytes=nbytes, seconds=time.perf_counter() - t0,
                        records=len(r.labels), problems=tuple(problems),
                        revisions=(f"remote {remote.name}",), by_presence=True)


__all__ = ["verify_remote"]
