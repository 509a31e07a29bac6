"""``mlver gc``: remove what no ref or tag reaches, and (``--keep-last N``) the data of old
versions.

gc takes the store lock exclusively (no batch is open meanwhile: a writer never loses an
object it has counted on), reads every ref and tag, walks what they reach, and removes
the rest that is older than the grace period: loose objects, packs whose objects are all
garbage, and packs that are mostly garbage (more than :data:`REPACK_DEAD_FRACTION` of
their bytes) rewritten without it. It refuses to delete anything while a ref, record or
tree it must walk cannot be read: what such an object would reach is unknown.

``--keep-last N`` also prunes every version older than the last N of its name (tagged
versions excepted): its record, history, code patch and package list stay, the trees and
blobs of its inputs and outputs go unless a kept version shares them. The pruned records
are listed in ``refs/pruned`` before anything is deleted, so ``verify`` knows the data is
gone on purpose and ``show``/``diff`` can say so.
"""

from __future__ import annotations

import errno
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterator

from mlver.core import reach
from mlver.ops import rechunk as rechunkmod
from mlver.ops.rechunk import RechunkResult
from mlver.base.errors import ConfigError, CorruptObjectError, MlverError
from mlver.base.progress import Progress
from mlver.core.record import Record
from mlver.store import Store
from mlver.store import packs as packmod
from mlver.store import prune, scan, storelock

DEFAULT_GRACE = 3600.0  # seconds: a snapshot in flight is younger than this
# A pack is rewritten when more than this share of its bytes is garbage: each repack
# copies the live rest once, so live bytes are copied at most about once per halving of
# the pack (git and restic bound the same cost, restic with --max-unused).
REPACK_DEAD_FRACTION = 0.5
LOCK_TIMEOUT = 10.0  # seconds gc waits for open batches to finish
MAX_GRACE = 100 * 365 * 86400.0  # seconds: a longer grace period is a typo

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | float | int) -> float:
    """Seconds from ``30s``, ``10m``, ``1h``, ``2d`` or plain seconds (``0`` for none)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text < 0:
            raise ConfigError(f"grace period {text} is negative; give 0 or more seconds")
        try:
            seconds = float(text)
        except OverflowError:
            seconds = float("inf")
    else:
        m = _DURATION.fullmatch(str(text))
        if m is None:
            raise ConfigError(f"grace period '{text}' is not a duration; write it as 30s, 10m, "
                              "1h, 2d or a number of seconds (0 for none)")
        seconds = float(m.group(1)) * _UNIT[m.group(2)]
    if not seconds <= MAX_GRACE:  # also NaN and infinity, which JSON cannot carry
        raise ConfigError(f"grace period '{text}' is longer than 100 years; give a shorter "
                          "one (30s, 10m, 1h, 2d)")
    return seconds


def format_duration(seconds: float) -> str:
    """``1h``, ``90s``: how a grace period is shown."""
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= n and seconds % n == 0:
            return f"{int(seconds // n)}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class GcResult:
    """What gc removed (with ``dry_run``: what it would remove). ``objects`` and ``bytes``
    count object copies and bytes freed on disk, leftover files included."""

    dry_run: bool
    objects: int
    bytes: int
    loose: int  # loose objects removed
    packed: int  # objects dropped from packs
    packs_removed: int
    packs_repacked: int
    leftovers: int  # files in tmp/ and pack files without an index
    pruned: tuple[tuple[str, str], ...]  # (record oid, name@version) whose data was dropped now
    young_objects: int  # unreachable, kept: younger than the grace period
    young_bytes: int
    left_in_packs: int  # unreachable, kept: in packs that are mostly live
    left_in_packs_bytes: int
    grace: float
    keep_last: int | None
    seconds: float
    warnings: tuple[str, ...] = ()
    manifests: int = 0  # chunk manifests removed (of files no kept version reaches)
    rechunked: RechunkResult | None = None  # with ``--rechunk``

    def to_dict(self) -> dict[str, Any]:
        extra = {} if self.rechunked is None else {"rechunk": self.rechunked.to_dict()}
        return extra | {
            "dry_run": self.dry_run, "objects": self.objects, "bytes": self.bytes,
            "loose": self.loose, "manifests": self.manifests, "packed": self.packed,
            "packs_removed": self.packs_removed,
            "packs_repacked": self.packs_repacked, "leftover_files": self.leftovers,
            "pruned": [{"oid": o, "name": label.rpartition("@")[0],
                        "version": int(label.rpartition("@")[2])} for o, label in self.pruned],
            "kept_young": {"objects": self.young_objects, "bytes": self.young_bytes},
            "kept_in_packs": {"objects": self.left_in_packs, "bytes": self.left_in_packs_bytes},
            "grace_s": self.grace, "keep_last": self.keep_last,
            "seconds": round(self.seconds, 3), "warnings": list(self.warnings)}

    def lines(self) -> list[str]:
        """The text report of ``mlver gc``."""
        from mlver.base.fmt import human_size

        verb = "Would remove" if self.dry_run else "Removed"
        if not self.objects and not self.leftovers:
            out = ["Nothing to remove" + (" (dry run)" if self.dry_run else "")]
        else:
            parts = [f"{self.loose:,} loose", f"{self.packed:,} packed"]
            if self.manifests:
                parts.append(_n(self.manifests, "chunk manifest"))
            packs = [f"{n} pack{'s' if n != 1 else ''} {what}" for n, what in
                     ((self.packs_removed, "removed"), (self.packs_repacked, "repacked")) if n]
            extra = f", {_n(self.leftovers, 'leftover file')}" if self.leftovers else ""
            out = [f"{verb} {_n(self.objects, 'object')} ({human_size(self.bytes)}): "
                   f"{', '.join(parts)}" + (f" ({', '.join(packs)})" if packs else "") + extra]
        if self.pruned:
            labels = ", ".join(label for _, label in self.pruned[:10])
            more = f" and {len(self.pruned) - 10} more" if len(self.pruned) > 10 else ""
            verb2 = "Would drop" if self.dry_run else "Dropped"
            out.append(f"{verb2} the data of {_n(len(self.pruned), 'version')} (records and "
                       f"history stay): {labels}{more}")
        if self.young_objects:
            out.append(f"Kept {_n(self.young_objects, 'unreachable object')} "
                       f"({human_size(self.young_bytes)}) younger than the grace period "
                       f"({format_duration(self.grace)})")
        if self.left_in_packs:
            out.append(f"Kept {_n(self.left_in_packs, 'unreachable object')} "
                       f"({human_size(self.left_in_packs_bytes)}) in packs that are mostly "
                       "in use")
        if self.rechunked is not None:
            out += self.rechunked.lines()
        return out


def _n(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def gc(store: Store, dry_run: bool = False, keep_last: int | None = None,
       grace: float = DEFAULT_GRACE, lock_timeout: float = LOCK_TIMEOUT,
       progress: Progress | None = None, rechunk: bool = False) -> GcResult:
    """Remove unreachable objects older than ``grace`` seconds (and, with ``keep_last``,
    the data of older versions); with ``dry_run`` only report what would go. With
    ``rechunk``, then store the whole-file objects left that are big enough as chunks
    (:mod:`.rechunk`)."""
    if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int)
                                  or keep_last < 1):
        raise ConfigError(f"--keep-last {keep_last} keeps no version; give 1 or more")
    grace = parse_duration(grace)
    t0 = time.perf_counter()
    progress = progress or Progress()
    # A dry run deletes nothing: it only keeps gc out, and lets writers go on.
    with (_shared(store.path) if dry_run else storelock.exclusive(store.path, lock_timeout)):
        starts = reach.ref_starts(store)
        if starts.errors:
            raise CorruptObjectError(f"gc removed nothing: {starts.errors[0]}")
        pruned = store.refs.pruned()
        r = reach.walk_records(store, starts.labelled())
        _refuse_unreadable(r)
        new = _to_prune(r.records, set(starts.tags.values()), keep_last, pruned)
        dropped = pruned | new
        reach.walk_data(store, r, lambda oid: oid not in dropped)
        listing = scan.list_store(store.objects)
        # Reachable files stored chunked keep their manifest and every chunk it lists.
        reach.walk_chunks(store, r, [m.oid for m in listing.manifests])
        _refuse_unreadable(r)
        plan = _plan(listing, r, time.time(), grace, lambda oid: _chunks_of(store, oid))
        warnings = list(plan.warnings)
        if not dry_run:
            try:
                if new:  # first: verify must know the data is gone on purpose before it goes
                    store.refs.add_pruned(new)
                # and before anything goes, the folder rows: one could name a tree whose
                # files are about to go, and a snapshot would reuse it
                store.index.clear_folders()
                warnings += _apply(store, plan, progress)
            except OSError as e:
                if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                # Every step is crash-safe (store/prune.py): stopping here is like a kill.
                raise MlverError(
                    f"gc stopped: no space left on the device holding {store.path} (at "
                    f"{e.filename or 'a repack'}); nothing a version needs was removed; free "
                    "some space and run gc again") from None
    labels = tuple(sorted(((o, r.labels[o]) for o in new), key=lambda p: reach.label_key(p[1])))
    rechunked = None
    if rechunk:  # after gc let go of the lock: its batches take it shared
        rechunked = rechunkmod.rechunk(store, dry_run, lock_timeout, progress)
        warnings += rechunked.warnings
    return GcResult(
        dry_run=dry_run, objects=plan.objects, bytes=plan.bytes, loose=len(plan.loose),
        manifests=len(plan.manifests),
        packed=plan.packed, packs_removed=len(plan.remove_packs),
        packs_repacked=len(plan.repacks), leftovers=len(plan.leftovers), pruned=labels,
        young_objects=plan.young, young_bytes=plan.young_bytes, left_in_packs=plan.left,
        left_in_packs_bytes=plan.left_bytes, grace=grace, keep_last=keep_last,
        seconds=time.perf_counter() - t0, warnings=tuple(warnings), rechunked=rechunked)


@contextmanager
def _shared(store_dir: str) -> Iterator[None]:
    fd = storelock.shared(store_dir)
    try:
        yield
    finally:
        storelock.release(fd)


def _refuse_unreadable(r: reach.Reach) -> None:
    if r.unreadable:
        u = next(iter(r.unreadable.values()))
        as_tree = u.kind == "tree" and u.problem == "invalid"
        breaks = ", ".join(r.breaks(u.oid, as_tree=as_tree)[:5]) or "a version"
        raise CorruptObjectError(
            f"gc removed nothing: {u.kind} {u.oid} (reached by {breaks}) is {u.problem}, so "
            "what it reaches is unknown; run mlver verify, then restore it from a backup")


def _to_prune(records: dict[str, Record], tagged: set[str], keep_last: int | None,
              pruned: frozenset[str]) -> set[str]:
    """Records older than the last ``keep_last`` versions of their name, tagged ones and
    those already pruned left out."""
    if keep_last is None:
        return set()
    by_name: dict[str, list[tuple[int, str]]] = {}
    for oid, rec in records.items():
        by_name.setdefault(rec.name, []).append((rec.version, oid))
    out = set()
    for versions in by_name.values():
        latest = sorted({v for v, _ in versions}, reverse=True)[:keep_last]
        floor = latest[-1]
        out |= {oid for v, oid in versions if v < floor}
    return out - tagged - pruned


def _chunks_of(store: Store, oid: str) -> list[str]:
    """The chunks of a file kept although unreachable (young): they stay with it. A
    manifest that cannot be read keeps nothing (it is damaged; verify names it)."""
    try:
        m = scan.load_manifest(store.objects, oid)
    except MlverError:
        return []
    return m.chunk_oids() if m is not None else []


@dataclass
class _Plan:
    loose: list[scan.LooseObject]
    remove_packs: list[scan.Pack]
    repacks: list[tuple[scan.Pack, set[bytes]]]
    leftovers: list[scan.StoredFile]
    manifests: list[scan.ManifestFile] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0
    packed: int = 0
    young: int = 0
    young_bytes: int = 0
    left: int = 0
    left_bytes: int = 0
    warnings: tuple[str, ...] = ()


def _plan(listing: scan.Listing, r: reach.Reach, now: float, grace: float,
          chunks_of: Callable[[str], list[str]]) -> _Plan:
    """What goes: decided from the listing alone, so a dry run reports exactly what a real
    run removes."""
    keep = r.kinds
    plan = _Plan([], [], [], [])
    young_chunks: set[str] = set()
    for m in listing.manifests:
        if m.oid in keep:
            continue
        if now - m.mtime < grace:
            # A manifest kept must never outlive its chunks (a snapshot in flight may
            # have published it a moment ago, reusing chunks of old packs).
            young_chunks.update(chunks_of(m.oid))
            plan.young += 1
            plan.young_bytes += m.size
        else:
            plan.manifests.append(m)
            plan.objects += 1
            plan.bytes += m.size
    held = young_chunks - keep.keys()  # kept only because a young manifest lists them
    for o in listing.loose:
        if o.oid in keep:
            continue
        if o.oid in held:
            plan.young += 1
            plan.young_bytes += o.size
            continue
        if now - o.mtime < grace:
            plan.young += 1
            plan.young_bytes += o.size
        else:
            plan.loose.append(o)
            plan.objects += 1
            plan.bytes += o.size
    warnings = [f"{path} is damaged ({why}); gc leaves it alone: run mlver verify"
                for path, why in listing.damaged]
    held_keys = {bytes.fromhex(o) for o in held}
    live = {bytes.fromhex(o) for o in keep} | held_keys
    for p in listing.packs:
        idx = p.index
        if p.size != idx.pack_size:
            warnings.append(f"{idx.pack_path} is {p.size} bytes, its index says "
                            f"{idx.pack_size}; gc leaves it alone: run mlver verify")
            continue
        # The report counts what the grace period keeps, chunks of young manifests included.
        for i in range(idx.count):
            if idx.keys[i] in held_keys:
                plan.young += 1
                plan.young_bytes += packmod.ENTRY_HEADER.size + idx.lengths[i]
        dead = [i for i in range(idx.count) if idx.keys[i] not in live]
        if not dead:
            continue
        dead_bytes = sum(packmod.ENTRY_HEADER.size + idx.lengths[i] for i in dead)
        if now - p.mtime < grace:
            plan.young += len(dead)
            plan.young_bytes += dead_bytes
        elif len(dead) == idx.count:
            plan.remove_packs.append(p)
            plan.objects += len(dead)
            plan.packed += len(dead)
            plan.bytes += p.size + p.idx_size
        elif dead_bytes > REPACK_DEAD_FRACTION * p.size:
            keys = {idx.keys[i] for i in range(idx.count)} - {idx.keys[i] for i in dead}
            plan.repacks.append((p, keys))
            plan.objects += len(dead)
            plan.packed += len(dead)
            plan.bytes += p.size + p.idx_size - prune.repacked_size(idx, keys)
        else:
            plan.left += len(dead)
            plan.left_bytes += dead_bytes
    for f in (*listing.orphans, *listing.tmp):
        if now - f.mtime >= grace:
            plan.leftovers.append(f)
            plan.bytes += f.size
    plan.warnings = tuple(warnings)
    return plan


def _apply(store: Store, plan: _Plan, progress: Progress) -> list[str]:
    """Delete what the plan says, each step crash-safe (see store/prune.py)."""
    warnings = []
    objects = store.objects
    progress.start("removing")
    progress.total(len(plan.manifests) + len(plan.loose) + len(plan.remove_packs)
                   + len(plan.repacks) + len(plan.leftovers))
    # Manifests first: a kill after this leaves chunks without a manifest (garbage the next
    # gc removes), never a manifest whose chunks are gone.
    for m in plan.manifests:
        prune.remove_manifest(objects, m.oid)
        progress.advance()
    if plan.manifests and (plan.repacks or plan.remove_packs or plan.loose):
        prune.sync_removals(objects)  # the unlinks are durable before a chunk goes
    for o in plan.loose:
        prune.remove_loose(objects, o.oid)
        progress.advance()
    for p, keys in plan.repacks:
        done = prune.repack(objects, p.index, keys)
        warnings += [f"object {oid} in {p.index.pack_path} is corrupt; gc kept it as it is in "
                     f"{done.name}: run mlver verify" for oid in done.corrupt]
        progress.advance()
    for p in plan.remove_packs:
        prune.remove_pack(objects, p.index)
        progress.advance()
    for f in plan.leftovers:
        prune.remove_file(f.path)
        progress.advance()
    progress.finish()
    return warnings
