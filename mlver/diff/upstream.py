"""Root cause through lineage: follow a changed input upstream.

When an input's old and new content were each produced by a version of the same name
(``features@1`` made the old CSV, ``features@2`` the new one), the diff of those two
records says why the input changed; its own changed inputs are followed the same way,
``depth`` levels at most. Following stops by itself at a record whose inputs did not
change (only its code did, say): nothing of it leads further up.

Which records produced a content: the index's lineage (``Graph.producers``), counting only
records created before the consumer (a later record with the same bytes made nothing the
consumer read); an input named by a record (``-i x=features@3``) names its producer. When
several versions of a name produced the same content before the consumer, the latest is
taken. Each pair of records is diffed once per top diff (a cycle in a tampered index
ends), and at most :data:`MAX_DIFFS` upstream diffs are made in all.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from collections.abc import Callable
from typing import TYPE_CHECKING

from mlver.base.errors import MlverError
from mlver.core.record import Artifact, Record
from mlver.store import Store

if TYPE_CHECKING:
    from mlver.diff.value import Diff, SlotDiff

MAX_DIFFS = 16  # upstream diffs per top-level diff, whatever the depth and fan-in


@dataclass
class Budget:
    """What one top-level diff may still do upstream: pairs already diffed (``None``
    while in progress, so a cycle finds nothing) and how many diffs are left."""

    cache: bool = True  # may table profiles be cached (not under a workspace diff)
    left: int = field(default_factory=lambda: MAX_DIFFS)
    done: dict[tuple[str, str], Diff | None] = field(default_factory=dict)


def _load(store: Store, oid: str) -> Record | None:
    from mlver.core.history import load_record

    try:
        return load_record(store, oid)
    except MlverError:  # missing or damaged: the diff goes on without this level
        return None


def producers(store: Store, art: Artifact, consumer: Record | None,
              consumer_oid: str | None) -> dict[str, str]:
    """``name -> record oid`` of the records that produced ``art``'s content before
    ``consumer`` (the latest version of each name); a workspace side (``consumer_oid``
    None) takes any recorded producer."""
    if art.source:
        rec = _load(store, art.source)
        return {rec.name: art.source} if rec is not None else {}
    before = consumer.created if consumer is not None and consumer_oid else None
    out: dict[str, str] = {}
    for oid, name, _version, _created in store.index.graph.producers(art.oid, before):
        if oid != consumer_oid:
            out[name] = oid  # oldest first: the last one is the latest before the consumer
    return out


def pair(store: Store, a: Artifact, b: Artifact, old: Record, old_oid: str,
         new: Record, new_oid: str | None) -> tuple[str, str] | None:
    """The two versions of one name that produced ``a`` and ``b``, or None."""
    pa = producers(store, a, old, old_oid)
    if not pa:
        return None
    pb = producers(store, b, new, new_oid)
    for name in sorted(set(pa) & set(pb)):
        if pa[name] != pb[name]:
            return pa[name], pb[name]
    return None


def follow(store: Store, inputs: dict[str, SlotDiff], old: Record, old_oid: str, new: Record,
           new_oid: str | None, budget: Budget,
           diff_pair: Callable[[str, Record, str, Record], Diff]) -> dict[str, SlotDiff]:
    """``inputs`` (slot -> SlotDiff) with ``upstream`` set on each modified slot whose
    two contents come from two versions of one name: ``diff_pair(old oid, old record,
    new oid, new record)`` makes that diff (one level less deep)."""
    out = dict(inputs)
    for slot, s in inputs.items():
        if s.status != "modified" or slot not in old.inputs or slot not in new.inputs:
            continue
        found = pair(store, old.inputs[slot], new.inputs[slot], old, old_oid, new, new_oid)
        if found is None:
            continue
        if found in budget.done:
            up = budget.done[found]  # diffed already (or in progress: a cycle)
        elif budget.left <= 0:
            continue
        else:
            a, b = _load(store, found[0]), _load(store, found[1])
            if a is None or b is None:
                continue
            budget.left -= 1
            budget.done[found] = None
            up = budget.done[found] = diff_pair(found[0], a, found[1], b)
        if up is not None:
            out[slot] = replace(s, upstream=up)
    return out


def data_paths(store: Store, oids: list[str]) -> set[str]:
    """The input and output paths of every record upstream of ``oids`` (any depth): data
    of the pipeline, never code, even when git tracks it."""
    from mlver.core.lineage import traverse

    graph = store.index.graph
    found: set[str] = set()
    for oid in oids:
        found |= set(traverse(graph, oid, "upstream")[0])
    return {p for p in graph.slot_paths(sorted(found)) if p != "."}
