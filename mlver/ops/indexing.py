"""Keeping the index (``.mlver/index.sqlite``) in step with the refs, and saying what it
lacks: the index is derived data, rebuilt from objects and refs whenever needed."""

from __future__ import annotations

from collections.abc import Callable

from mlver.core import history
from mlver.core.record import Record
from mlver.store import Store
from mlver.store.index import Index

Warn = Callable[[str], None]


def catch_up(store: Store, index: Index,
             warn: Warn) -> tuple[list[tuple[str, Record]], dict[str, str]]:
    """When ``index`` opens: index the records the refs name and it lacks; a read-only
    index is left as it is and those records are returned instead. Returns ``(records
    the index lacks, {name: why}`` of the names that could not be read``)``."""
    if index.read_only:  # catch up nothing: say what the index lacks
        unindexed, skipped = history.unindexed(store, index)
        if unindexed:
            warn(f"the index lacks {len(unindexed)} record(s) that the refs "
                 "name (a command died before indexing them); they are read from "
                 "the store, without their lineage, until a writing mlver command "
                 "(or mlver reindex) catches the index up")
        return unindexed, skipped
    if index.damaged:
        warn(f"the index was unreadable ({index.damaged}) and is rebuilt from the store")
    return [], history.sync_index(store, index)


def reindex(store: Store, warn: Warn) -> int:
    """Rebuild the index from objects + refs; the number of records indexed. A damaged
    name is named in a warning."""
    count, skipped = history.rebuild_index(store)
    for name, why in skipped.items():
        warn(f"{name} is damaged: {why}")
    return count
