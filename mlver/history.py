"""Records over a store: loading them, resolving revisions, the log, and keeping the
index in step with the refs.

The store knows objects, refs and index rows; this module knows that some objects
are records, and what of them the index keeps.
"""

from __future__ import annotations

from typing import Callable, Iterable

from . import revision as revmod
from .errors import MlverError, RecordFormatError
from .record import Record
from .store import DAMAGED_FIX, Store
from .store.index import Index, RecordRow, SlotRow


def load_record(store: Store, oid: str) -> Record:
    """Load and validate the record ``oid`` (decoded once per store)."""
    rec = store.memo.get(oid)
    if isinstance(rec, Record):
        return rec
    try:
        rec = Record.decode(store.objects.read(oid))
    except RecordFormatError as e:
        # Format checks say what is wrong; the fix is the same for all of them.
        raise RecordFormatError(f"record {oid}: {e}; {DAMAGED_FIX}") from None
    store.memo[oid] = rec
    return rec


def row_of(oid: str, rec: Record) -> tuple[RecordRow, list[SlotRow]]:
    """What the index keeps of a record: one row, and one slot row per input/output."""
    row = RecordRow(oid, rec.name, rec.version, rec.kind, rec.created, rec.message,
                    rec.code.commit, rec.parents[0] if rec.parents else None, rec.status)
    slots: list[SlotRow] = [
        (relation, slot, art.path, art.oid, art.type, art.source)
        for relation, arts in (("input", rec.inputs), ("output", rec.outputs))
        for slot, art in arts.items()]
    return row, slots


def index_records(store: Store, items: Iterable[tuple[str, Record]]) -> None:
    """Add ``(oid, record)`` pairs to the index (records table and lineage edges)."""
    store.index.add_records([row_of(oid, rec) for oid, rec in items], store.tree)


def sync_index(store: Store, index: Index) -> dict[str, str]:
    """Catch the index up with refs moved by a process that died before indexing, or by
    a deleted index: walk each name's chain back to the first record already known.

    Returns the names that could not be indexed, with why. One damaged name must not
    take the others down: it stays unindexed, and commands that read it still fail with
    the error naming the damage.
    """
    missing: list[tuple[str, Record]] = []
    skipped: dict[str, str] = {}
    for name in store.refs.names():
        chain = []
        try:
            oid = store.refs.get(name)
            while oid and not index.has_record(oid):
                rec = load_record(store, oid)
                chain.append((oid, rec))
                oid = rec.parents[0] if rec.parents else None
        except MlverError as e:
            skipped[name] = str(e)
        missing += chain
    if missing:
        index.add_records([row_of(oid, rec) for oid, rec in missing], store.tree)
    return skipped


def resolve(store: Store, rev: str) -> str:
    """The oid of the record a revision names."""
    def parent(oid: str) -> str | None:
        rec = load_record(store, oid)
        return rec.parents[0] if rec.parents else None

    return revmod.resolve(
        revmod.parse(rev), head=store.refs.get, tag=store.refs.get_tag,
        by_version=store.index.oid_at, by_prefix=store.index.oids_with_prefix,
        parent=parent, names=store.refs.names)


def log(store: Store, name: str | None = None, n: int | None = None) -> list[tuple[str, Record]]:
    """Records newest first: of one name by version, or of all names by time."""
    if name is not None and store.refs.get(name) is None:
        resolve(store, name)  # raises the usual unknown-revision error
    oids = store.index.log(name)
    if n is not None:
        oids = oids[:max(n, 0)]
    return [(o, load_record(store, o)) for o in oids]


def names_record(store: Store, text: str) -> bool:
    """True when ``text`` reads as ``REV[:SLOT]`` of a name that has versions."""
    from .errors import RevisionError

    try:
        rev = revmod.parse(text.partition(":")[0])
    except RevisionError:
        return False
    return rev.name is not None and store.refs.get(rev.name) is not None


Warn = Callable[[str], None]
