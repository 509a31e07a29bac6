"""Records over a store: loading them, resolving revisions, the log, and keeping the
index in step with the refs.

The store knows objects, refs and index rows; this module knows that some objects
are records, and what of them the index keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Iterable

from mlver.core import revision as revmod
from mlver.base.errors import ConfigError, MlverError, RecordFormatError, UsageError
from mlver.core.record import Record
from mlver.store import DAMAGED_FIX, Store
from mlver.store.index import Index, RecordRow, SlotRow
from mlver.store.refs import valid_name


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
    """What the index keeps of a record: one row, and one slot row per input/output.

    A failed run produced nothing: what sits at its output paths may be left over from
    an earlier run, so its outputs are not lineage evidence.
    """
    row = RecordRow(oid, rec.name, rec.version, rec.kind, rec.created, rec.message,
                    rec.code.commit, rec.parents[0] if rec.parents else None, rec.status)
    sides = [("input", rec.inputs)] if rec.failed else [("input", rec.inputs),
                                                         ("output", rec.outputs)]
    slots: list[SlotRow] = [
        (relation, slot, art.path, art.oid, art.type, art.source)
        for relation, arts in sides for slot, art in arts.items()]
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
    _forget_moved_names(store, index)
    missing, skipped = _walk_refs(store, index.has_record)
    if missing:
        _add_isolated(store, index, missing, skipped)
    return skipped


def _add_isolated(store: Store, index: Index, items: list[tuple[str, Record]],
                  skipped: dict[str, str], replace_all: bool = False) -> None:
    """Index ``items`` in one transaction; when SQLite cannot take one (a number or a text
    a validated record should never hold), index the others and name that one in
    ``skipped``, so one record never bricks every command that opens the index."""
    try:
        index.add_records([row_of(oid, rec) for oid, rec in items], store.tree, replace_all)
        return
    except (OverflowError, UnicodeError):
        pass
    good = []
    for oid, rec in items:
        try:
            row, slots = row_of(oid, rec)
            for v in (*row, *(x for slot in slots for x in slot)):
                if isinstance(v, int) and not -2**63 <= v < 2**63:
                    raise OverflowError(f"{v} does not fit SQLite")
                if isinstance(v, str):
                    v.encode("utf-8")
            good.append((oid, rec))
        except (OverflowError, UnicodeError) as e:
            skipped.setdefault(rec.name, f"record {oid} cannot be indexed ({e}); {DAMAGED_FIX}")
    index.add_records([row_of(oid, rec) for oid, rec in good], store.tree, replace_all)


def unindexed(store: Store, index: Index) -> tuple[list[tuple[str, Record]], dict[str, str]]:
    """The records the refs and tags reach that ``index`` lacks, and the damaged names,
    found without writing anything (for a store opened read-only)."""
    return _walk_refs(store, index.has_record)


def _forget_moved_names(store: Store, index: Index) -> None:
    """A ref replaced behind mlver's back (restored from a backup, copied from another
    store) no longer names the highest version the index holds for it: forget that name's
    rows, so the catch-up indexes what the ref names now, and ``NAME@N`` never answers
    with a version the ref has left."""
    for name in store.refs.names():
        try:
            head = store.refs.get(name)
        except MlverError:
            continue
        top = index.head_of(name)
        if top is None or head is None or top[0] == head:
            continue
        oid: str | None = head
        try:  # a process that died before indexing: the chain leads back to the top
            while oid is not None and not index.has_record(oid):
                oid = load_record(store, oid).prior
        except MlverError:
            continue
        if oid != top[0]:
            index.drop_name(name)


def _walk_refs(store: Store, known: Callable[[str], bool]
               ) -> tuple[list[tuple[str, Record]], dict[str, str]]:
    """Records reachable from each ref (and tag) back to one ``known`` already; the names
    whose chain is broken by a damaged record or ref, with why."""
    found: list[tuple[str, Record]] = []
    seen: set[str] = set()
    skipped: dict[str, str] = {}
    try:
        names = store.refs.names()
    except MlverError as e:
        return [], {"(refs)": str(e)}
    for name in names:
        starts = []
        try:
            starts.append(store.refs.get(name))
            starts += store.refs.tags(name).values()
        except MlverError as e:
            skipped[name] = str(e)
        for oid in starts:
            try:
                while oid and oid not in seen and not known(oid):
                    seen.add(oid)
                    rec = load_record(store, oid)
                    found.append((oid, rec))
                    oid = rec.prior
            except MlverError as e:
                skipped.setdefault(name, str(e))
    return found, skipped


def rebuild_index(store: Store) -> tuple[int, dict[str, str]]:
    """Rebuild the index's records and lineage from objects + refs, in one transaction.

    Intact versions behind a damaged one are found by reading the store's records,
    so one damaged version never hides its neighbours. Returns the number of records
    indexed and the damaged names, with why.
    """
    index = store.index
    found, skipped = _walk_refs(store, lambda oid: False)
    if skipped:
        have = {oid for oid, _ in found}
        names = set(store.refs.names())
        for oid, rec in _scan_records(store):
            if oid not in have and rec.name in names:
                found.append((oid, rec))
    _add_isolated(store, index, found, skipped, replace_all=True)
    return len(found), skipped


def _scan_records(store: Store) -> Iterable[tuple[str, Record]]:
    """Every intact record object in the store (a slow path, taken only after damage)."""
    for oid in store.objects.iter_oids():
        try:
            with store.objects.open(oid) as f:
                head = f.read(16)
            if not head.startswith(b'{"author":'):  # canonical JSON: keys sorted
                continue
            yield oid, load_record(store, oid)
        except (MlverError, OSError):
            continue


def resolve(store: Store, rev: str) -> str:
    """The oid of the record a revision names."""
    def parent(oid: str) -> str | None:
        rec = load_record(store, oid)
        return rec.parents[0] if rec.parents else None

    return revmod.resolve(
        revmod.parse(rev), head=store.refs.get, tag=store.refs.get_tag,
        by_version=store.index.oid_at, by_prefix=store.index.oids_with_prefix,
        parent=parent, names=store.refs.names)


def log(store: Store, name: str | None = None, n: int | None = None,
        warn: Callable[[str], None] | None = None) -> list[tuple[str, Record]]:
    """Records newest first: of one name by version, or of all names by time."""
    if name is not None and store.refs.get(name) is None:
        resolve(store, name)  # raises the usual unknown-revision error
    oids = store.index.log(name)
    if n is not None:
        oids = oids[:max(n, 0)]
    out = []
    for o in oids:
        try:
            out.append((o, load_record(store, o)))
        except MlverError as e:
            if warn is None:
                raise
            warn(str(e))  # one damaged version must not hide the others
    return out


def names_record(store: Store, text: str) -> bool:
    """True when ``text`` reads as ``REV[:SLOT]`` of a name that has versions."""
    from mlver.base.errors import RevisionError

    try:
        rev = revmod.parse(text.partition(":")[0])
    except RevisionError:
        return False
    return rev.name is not None and store.refs.get(rev.name) is not None


Warn = Callable[[str], None]


# -- tags --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tag:
    """A tag ``NAME@TAG`` and the record it points at.

    ``version`` is the record's version, or None when the record cannot be read (missing
    or corrupt object; a warning says why)."""

    name: str
    tag: str
    oid: str
    version: int | None

    @property
    def label(self) -> str:
        """``NAME@TAG``."""
        return f"{self.name}@{self.tag}"

    def to_dict(self) -> dict[str, object]:
        """The ``mlver tag --list --json`` form."""
        return {"name": self.name, "tag": self.tag, "oid": self.oid, "version": self.version}


def _tag_of(store: Store, name: str, tag: str, oid: str, warn: Warn | None) -> Tag:
    try:
        version: int | None = load_record(store, oid).version
    except MlverError as e:
        if warn is None:
            raise
        warn(f"{name}@{tag}: {e}")
        version = None
    return Tag(name, tag, oid, version)


def tag_list(store: Store, name: str | None = None, warn: Warn | None = None) -> list[Tag]:
    """Every tag of ``name`` (or of every name), sorted by name then tag."""
    refs = store.refs
    if name is not None:
        if refs.get(name) is None and name not in refs.tag_names():
            resolve(store, name)  # raises the usual unknown-revision error
        names = [name]
    else:
        names = sorted(set(refs.names()) | set(refs.tag_names()))
    return [_tag_of(store, n, t, oid, warn)
            for n in names for t, oid in sorted(refs.tags(n).items())]


def tags_by_record(store: Store, names: Iterable[str], warn: Warn | None = None
                   ) -> dict[str, dict[str, list[str]]]:
    """``{name: {record oid: [tags, sorted]}}``, reading each name's tags once. A name whose
    tags cannot be read gets none (and a warning) instead of failing the caller."""
    out: dict[str, dict[str, list[str]]] = {}
    for name in set(names):
        by_oid: dict[str, list[str]] = {}
        try:
            tags = store.refs.tags(name)
        except MlverError as e:
            if warn is None:
                raise
            warn(f"the tags of {name} cannot be read: {e}")
            tags = {}
        for t, oid in sorted(tags.items()):
            by_oid.setdefault(oid, []).append(t)
        out[name] = by_oid
    return out


def check_name(name: str, what: str = "name", usage: bool = True) -> None:
    """Refuse a name (of a version, slot or tag) that refs and revisions cannot hold: a
    usage error when the caller gave it (``usage``), else one of mlver.toml."""
    if not valid_name(name):
        raise (UsageError if usage else ConfigError)(
            f"{what} '{name}' is not valid; use letters, digits, '.', '_' and '-' "
            "(no '@', '~' or '/'), starting with a letter or digit")


def untag(store: Store, text: str) -> Tag:
    """Delete the tag ``NAME@TAG`` (compare-and-swap on the oid it was read holding);
    return what it pointed at. The record stays."""
    from mlver.base.errors import RevisionError, RevisionSyntaxError

    rev = revmod.parse(text)
    if rev.name is None or rev.tag is None or rev.back:
        if rev.name is not None and rev.version is not None and not rev.back:
            raise RevisionSyntaxError(f"'{text}' names a version, not a tag; give NAME@TAG "
                                      f"(mlver tag --list {rev.name} shows the tags of "
                                      f"{rev.name})")
        raise RevisionSyntaxError(f"'{text}' is not NAME@TAG; give the tag to delete as "
                                  "NAME@TAG, for example price-model@production")
    check_name(rev.tag, "tag")
    name, tag = rev.name, rev.tag
    oid = store.refs.get_tag(name, tag)
    if oid is None:
        tags = sorted(store.refs.tags(name))
        if not tags and store.refs.get(name) is None:
            resolve(store, name)  # raises the usual unknown-revision error
        have = f"its tags: {', '.join(tags)}" if tags else "it has no tags"
        raise RevisionError(f"{name} has no tag '{tag}' ({have}); see mlver tag --list {name}")
    found = _tag_of(store, name, tag, oid, lambda _msg: None)  # a damaged record: delete anyway
    store.refs.delete_tag(name, tag, old=oid)
    return found


def patch(store: Store, oid: str) -> bytes | None:
    """The uncommitted patch (``git diff HEAD --binary``) recorded with record ``oid``, byte
    for byte; None when its code had none. A missing or corrupt blob raises."""
    rec = load_record(store, oid)
    if rec.code.patch is None:
        return None
    return store.objects.read(rec.code.patch)
