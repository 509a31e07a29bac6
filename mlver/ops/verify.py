"""``mlver verify``: re-hash what the store holds and check that every version reaches all
its objects.

Without revisions every object is re-hashed, packed and loose, reachable or not: each
pack is read once, front to back (its trailer checksum too), loose objects are streamed,
and the files are spread over a few threads (reads, and the hashing of large buffers,
release the GIL; see benchmarks/README.md for threads against processes). With
revisions, only the objects those records reach are re-hashed: the records, their
history (parents and input sources, as records) and their own data.

A problem names the object, what it is and the versions it breaks. The data of records
that ``gc --keep-last`` pruned is gone on purpose and is not reported missing.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from collections.abc import Callable

from mlver.core import history, reach
from mlver.base.errors import MlverError
from mlver.base.progress import Progress
from mlver.store import Store
from mlver.store import scan, storelock

# Threads reading and hashing at once: enough to keep a disk's queue full (reads, and
# xxhash on large buffers, run outside the GIL). Threads hashed as fast as processes in
# benchmarks/bench_verify.py, and let the walk of the trees overlap the reading.
WORKERS = 8
SHOWN_BREAKS = 10  # versions named on a text line; the JSON lists them all
T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the store.

    ``what`` is ``object`` (then ``oid``, ``kind`` and ``breaks`` are set), ``file`` (a pack
    or other file of the store that cannot be used; ``path``) or ``ref``. ``problem`` is
    ``missing``, ``corrupt``, ``invalid`` or ``damaged``. For an object a version reaches,
    ``where`` is the first such version's slot and path of it (``output model: w.bin``);
    for a chunk (``kind`` ``chunk``), ``chunk_of`` is the oid of the file it is part of and
    ``where`` that file's place. A chunked file's broken manifest has ``kind``
    ``manifest``, its ``path`` the manifest file.
    """

    what: str
    problem: str
    detail: str
    oid: str | None = None
    kind: str | None = None
    breaks: tuple[str, ...] = ()
    path: str | None = None
    where: str | None = None
    chunk_of: str | None = None

    def __str__(self) -> str:
        if self.what == "object":
            what = self.kind
            if self.chunk_of:
                what = f"chunk of {self.chunk_of}"
            if self.where and self.kind in ("chunk", "manifest"):
                what = f"{what}, {self.where}"  # a chunk's oid alone says nothing to a user
            if self.breaks:
                names = ", ".join(self.breaks[:SHOWN_BREAKS])
                more = len(self.breaks) - SHOWN_BREAKS
                tail = f": breaks {names}" + (f" and {more} more" if more > 0 else "")
            else:
                tail = ": no version reaches it (mlver gc removes it)"
            return f"object {self.oid} ({what}) is {self.problem}{tail}"
        if self.what == "file":
            return f"{self.path} is damaged: {self.detail}"
        return self.detail

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "problem": self.problem, "detail": self.detail,
                "oid": self.oid, "kind": self.kind, "breaks": list(self.breaks),
                "path": self.path, "where": self.where, "chunk_of": self.chunk_of}


@dataclass(frozen=True)
class VerifyResult:
    """What ``verify`` checked and found. ``ok`` when there is no problem."""

    objects: int  # object copies re-hashed
    bytes: int  # bytes read to do it
    seconds: float
    records: int  # records reached
    problems: tuple[Problem, ...]
    warnings: tuple[str, ...] = ()
    revisions: tuple[str, ...] = ()  # what was verified; () for the whole store
    # verify --remote: data was checked for presence, not read, so ``bytes`` is the size of
    # what is there and no read rate is shown
    by_presence: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """One sentence: what was checked, how fast, and the verdict."""
        from mlver.base.fmt import human_size

        rate = (f" ({human_size(int(self.bytes / self.seconds))}/s)"
                if self.seconds > 0 and not self.by_presence else "")
        scope = f" reached by {', '.join(self.revisions)}" if self.revisions else ""
        verdict = "no problems" if self.ok else self.verdict()
        size = human_size(self.bytes) + (", data present, not read" if self.by_presence else "")
        return (f"Checked {_n(self.objects, 'object')}{scope} ({size}) in "
                f"{self.seconds:.2f} s{rate}, {_n(self.records, 'record')} reached: {verdict}")

    def verdict(self) -> str:
        """``3 problems (2 corrupt, 1 missing)``."""
        counts: dict[str, int] = {}
        for p in self.problems:
            counts[p.problem] = counts.get(p.problem, 0) + 1
        kinds = ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items()))
        return f"{_n(len(self.problems), 'problem')} ({kinds})"

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "objects": self.objects, "bytes": self.bytes,
                "seconds": round(self.seconds, 3), "records": self.records,
                "revisions": list(self.revisions),
                "problems": [p.to_dict() for p in self.problems],
                "warnings": list(self.warnings)}


def _n(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def verify(store: Store, revs: list[str] | None = None, progress: Progress | None = None,
           workers: int = WORKERS) -> VerifyResult:
    """Check the store (or what ``revs`` reach): every object re-hashed, every object a
    version needs present. Holds the store lock shared, so ``gc`` cannot delete
    underneath it (writers go on)."""
    progress = progress or Progress()
    t0 = time.perf_counter()
    problems: list[Problem] = []
    fd = storelock.shared(store.path)
    try:
        pruned: frozenset[str] = frozenset()
        try:
            pruned = store.refs.pruned()
        except MlverError as e:
            problems.append(Problem("ref", "invalid", str(e)))
        try:  # data of versions pulled with --no-data is on a remote, not missing
            pruned = pruned | store.refs.partial()
        except MlverError as e:
            problems.append(Problem("ref", "invalid", str(e)))
        if revs:
            oids = [history.resolve(store, r) for r in revs]
            named = set(oids)
            r = reach.walk(store, list(zip(oids, revs, strict=False)), lambda o: o in named)
            listing = scan.list_store(store.objects)
            reach.walk_chunks(store, r, [m.oid for m in listing.manifests])
            checked, _ = _check_all(_jobs(store, listing, r), progress, workers, lambda: None)
        else:
            # Refs are read before the objects are listed (restic's order): everything a ref
            # read here reaches was durable before the ref moved, so it is in the listing.
            starts = reach.ref_starts(store)
            problems += [Problem("ref", "invalid", e) for e in starts.errors]
            listing = scan.list_store(store.objects)
            # The walk (Python, holding the GIL) runs while the threads read and hash.
            chunked = [m.oid for m in listing.manifests]
            checked, r = _check_all(_jobs(store, listing, None), progress, workers,
                                    lambda: reach.walk_chunks(
                                        store, reach.walk(store, starts.labelled()), chunked))
        found, warnings = _findings(store, r, listing, checked, pruned, whole=not revs)
    finally:
        storelock.release(fd)
    warnings += missing_at_import(r)
    return VerifyResult(
        objects=sum(len(c.oids) for c in checked), bytes=sum(c.nbytes for c in checked),
        seconds=time.perf_counter() - t0, records=len(r.labels),
        problems=tuple(problems + found), warnings=tuple(warnings),
        revisions=tuple(revs or ()))


_Job = tuple[int, Callable[..., scan.Checked], tuple[Any, ...], int]  # size, fn, args, objects


# A manifest lists ~45 bytes a chunk of ~64 KiB: the file it describes is about this many
# times its size (to order the jobs, largest first).
_MANIFEST_RATIO = 1400


def _jobs(store: Store, listing: scan.Listing, only: reach.Reach | None) -> list[_Job]:
    """One job a file: every object of the listing, or only those ``only`` reached; the
    largest files first, so that no thread is left alone with a big one at the end. A
    chunked file is one job more: its chunks read in order and hashed whole."""
    jobs: list[_Job] = []
    jobs += [(m.size * _MANIFEST_RATIO, scan.check_manifest, (store.objects, m), 1)
             for m in listing.manifests if only is None or m.oid in only.kinds]
    if only is None:
        jobs += [(p.size, scan.check_pack, (p.index,), p.index.count) for p in listing.packs]
        jobs += [(o.size, scan.check_loose, (o,), 1) for o in listing.loose]
    else:
        want = {bytes.fromhex(o) for o in only.kinds}
        for p in listing.packs:
            keys = want.intersection(p.index.keys)
            if keys:
                size = sum(p.index.lengths[p.index.find(k)] for k in keys)
                jobs.append((size, scan.check_pack, (p.index, keys), len(keys)))
        jobs += [(o.size, scan.check_loose, (o,), 1) for o in listing.loose if o.oid in only.kinds]
    return sorted(jobs, key=lambda j: -j[0])


def _check_all(jobs: list[_Job], progress: Progress, workers: int,
               meanwhile: Callable[[], T]) -> tuple[list[scan.Checked], T]:
    """Run the jobs in threads; call ``meanwhile()`` in this thread as they run."""
    progress.start("verifying")
    progress.total(sum(j[3] for j in jobs))
    lock = threading.Lock()

    def done(f: Future[scan.Checked]) -> None:
        if not f.cancelled() and f.exception() is None:
            with lock:
                progress.advance(len(f.result().oids))

    with ThreadPoolExecutor(max(1, workers)) as pool:
        futures = [pool.submit(fn, *args) for _size, fn, args, _n in jobs]
        for f in futures:
            f.add_done_callback(done)
        try:
            other = meanwhile()
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        out = [f.result() for f in futures]
    progress.finish()
    return out, other


SHOWN_WHERE = 100  # problems whose place in a version is looked up (a few tree reads each)


def _findings(store: Store, r: reach.Reach, listing: scan.Listing,
              checked: list[scan.Checked], pruned: frozenset[str], whole: bool
              ) -> tuple[list[Problem], list[str]]:
    problems: list[Problem] = []
    warnings: list[str] = []
    good: set[str] = set()
    bad: dict[str, list[str]] = {}
    details: dict[str, str] = {}
    for c in checked:
        wrong = set(c.bad)
        for oid in c.oids:
            if oid in wrong:
                bad.setdefault(oid, []).append(c.path)
                if c.detail:
                    details.setdefault(oid, c.detail)
            else:
                good.add(oid)
        if c.damaged:
            problems.append(Problem("file", "damaged", c.damaged, path=c.path))
    problems += [Problem("file", "damaged", why, path=path) for path, why in listing.damaged]
    seen: set[str] = set()
    for oid, kind in r.kinds.items():
        if oid in good and oid not in r.unreadable:
            continue
        u = r.unreadable.get(oid)
        if oid in bad and oid not in good:
            problem = "corrupt"
            detail = details.get(oid) or f"its bytes hash differently (in {bad[oid][0]})"
        elif u is not None and u.problem != "missing":
            problem, detail = u.problem, u.detail
        elif oid in good:
            continue
        else:
            problem, detail = "missing", "no pack index lists it and no loose file holds it"
        if u is not None and problem == u.problem:
            kind = u.kind  # what it was read as: bytes that are a fine blob, an invalid tree
        breaks = r.breaks(oid, pruned if problem == "missing" else (),
                          as_tree=problem == "invalid" and kind == "tree")
        if problem == "missing" and not breaks:
            continue  # only pruned records reach it: gc removed it on purpose
        seen.add(oid)
        place = reach.path_of(store, r, oid) if len(seen) <= SHOWN_WHERE else None
        chunk_of = r._up.get(oid) if kind == "chunk" else None
        path = bad[oid][0] if kind == "manifest" and oid in bad else None
        problems.append(Problem("object", problem, detail, oid, kind, breaks, path, place,
                                chunk_of))
    for oid, where in sorted(bad.items()):
        if oid in good:
            warnings.append(f"{where[0]} holds a damaged copy of object {oid}; a good copy "
                            "exists and readers use it")
        elif whole and oid not in seen and oid not in r.kinds:
            detail = details.get(oid) or f"its bytes hash differently (in {where[0]})"
            problems.append(Problem("object", "corrupt", detail, oid, "unreachable"))
    return problems, warnings


SHOWN_MISSING = 20  # contents missing at a DVC import named one a line


def missing_at_import(r: reach.Reach) -> list[str]:
    """One warning per content that versions imported from DVC hold by md5 only (its bytes
    were missing from the DVC cache at import): not a problem of the store, which holds
    what those records say, but data that cannot be checked out."""
    from mlver.core.record import MISSING_AT_IMPORT

    found: dict[str, list[str]] = {}
    for rec in r.records.values():
        for side, arts in (("input", rec.inputs), ("output", rec.outputs)):
            for slot, a in arts.items():
                if a.missing:
                    found.setdefault(a.missing, []).append(f"{rec.label} {side} {slot}")
    lines = []
    for md5, where in sorted(found.items())[:SHOWN_MISSING]:
        where.sort(key=reach.label_key)
        shown = ", ".join(where[:5]) + (f" and {len(where) - 5} more" if len(where) > 5 else "")
        lines.append(f"content {MISSING_AT_IMPORT} (md5 {md5}) is held by md5 only (the store "
                     f"never had its bytes): {shown}")
    if len(found) > SHOWN_MISSING:
        lines.append(f"{len(found) - SHOWN_MISSING:,} more contents {MISSING_AT_IMPORT} are "
                     "held by md5 only")
    return lines


def problem_lines(result: VerifyResult) -> list[str]:
    """The report ``mlver verify`` prints: one line a problem."""
    return [str(p) for p in result.problems]
