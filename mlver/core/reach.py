"""Reachability: which objects the refs, tags and records of a store reach, and through what.

Shared by ``verify`` (what must be there, and which versions a bad object breaks) and
``gc`` (what must stay). The walk starts at refs and tags (or at given records), follows
records through their ``parents`` and the ``source`` of their inputs, and from each record
reaches its code patch and package list blobs and, unless told otherwise, the trees,
blobs and link blobs of its inputs and outputs.

Everything read is untrusted: each record and tree is read once (by oid), the number of
tree entries walked is bounded, and an unreadable (missing, corrupt or invalid) record or
tree is recorded as a finding with the error that names it, never raised, so one damaged
object does not hide the rest.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from collections.abc import Callable, Iterable

from mlver.core import history
from mlver.base.errors import CorruptObjectError, MlverError, RecordFormatError
from mlver.core.record import Artifact, Record
from mlver.store import Store, trees

# Unique tree entries one walk may visit. Each tree is read once however often it is
# listed, so a "tree bomb" costs its real size; this bounds a store that is simply huge
# (or crafted wide) before it exhausts memory.
MAX_REACH_ENTRIES = trees.MAX_WALK_ENTRIES  # the bound docs/security.md states
REMOVED = "data removed by gc"
BRING_BACK = "mlver pull from a remote that has them can bring them back"
REMOVED_NOTE = f"{REMOVED}; {BRING_BACK}"


@dataclass(frozen=True)
class Starts:
    """Where a walk of the whole store starts: each name's latest record, each tag, and
    the refs that could not be read (with why)."""

    heads: dict[str, str]
    tags: dict[tuple[str, str], str]
    errors: tuple[str, ...] = ()

    def labelled(self) -> list[tuple[str, str]]:
        """``(record oid, label)`` of every start: heads first, then tags."""
        return ([(oid, f"{name} (latest)") for name, oid in self.heads.items()]
                + [(oid, f"{n}@{t}") for (n, t), oid in self.tags.items()])


def ref_starts(store: Store) -> Starts:
    """Read every ref and tag; a ref that cannot be read is an error in the result."""
    heads: dict[str, str] = {}
    tags: dict[tuple[str, str], str] = {}
    errors: list[str] = []
    refs = store.refs
    try:
        names = refs.names()
        tagged = refs.tag_names()
    except MlverError as e:
        return Starts({}, {}, (str(e),))
    for name in names:
        try:
            head = refs.get(name)
        except MlverError as e:
            errors.append(str(e))
            continue
        if head:
            heads[name] = head
    for name in tagged:
        try:
            for tag, oid in refs.tags(name).items():
                tags[(name, tag)] = oid
        except MlverError as e:
            errors.append(str(e))
    return Starts(heads, tags, tuple(errors))


@dataclass(frozen=True)
class Unreadable:
    """A record or tree the walk could not read: ``problem`` is ``missing``, ``corrupt``
    (its bytes do not hash to its oid, or its pack is damaged) or ``invalid`` (it hashes
    right but is not a valid record or tree)."""

    oid: str
    kind: str
    problem: str
    detail: str


@dataclass
class Reach:
    """What a walk reached. ``kinds`` maps every object reached to what it is (``record``,
    ``tree``, ``blob``, ``link``, ``code patch``, ``package list``)."""

    kinds: dict[str, str] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # record oid -> name@version
    unreadable: dict[str, Unreadable] = field(default_factory=dict)
    data_walked: set[str] = field(default_factory=set)  # records whose data was walked
    entries: int = 0
    # Who reaches an object directly (a tree or a record): the first one, and any others.
    # Kept to name the versions a bad object breaks, without a set per object.
    _up: dict[str, str] = field(default_factory=dict)
    _more_up: dict[str, list[str]] = field(default_factory=dict)
    # Who reaches an object *as a tree* (reads its entries): the same bytes can also be
    # a blob elsewhere, and the versions that only hold them as a file are not broken
    # by what the entries hold.
    _tree_up: dict[str, list[str]] = field(default_factory=dict)
    _walked_trees: set[str] = field(default_factory=set)
    # Files stored chunked whose manifest was read: their chunks are reached through them.
    chunked: set[str] = field(default_factory=set)

    def _edge(self, child: str, parent: str, kind: str) -> None:
        if kind == "tree":
            self._tree_up.setdefault(child, []).append(parent)
        if child not in self.kinds:
            self.kinds[child] = kind
            self._up[child] = parent
        elif self._up.get(child) != parent:
            self._more_up.setdefault(child, []).append(parent)

    def breaks(self, oid: str, skip: Iterable[str] = (), as_tree: bool = False
               ) -> tuple[str, ...]:
        """Labels of the records that reach ``oid`` through their data (a record breaks
        itself), leaving out the records in ``skip`` (whose data gc dropped on purpose),
        sorted by name and version. Missing or corrupt bytes break whoever holds them;
        with ``as_tree`` (bytes that are not a valid tree), only those that read ``oid``
        as a tree. Above ``oid`` the walk follows only the trees' readers."""
        if self.kinds.get(oid) == "record" and oid in self.labels and not as_tree:
            return (self.labels[oid],)
        skipped = set(skip)
        out: set[str] = set()
        seen: set[str] = set()
        todo = [oid]
        while todo:
            o = todo.pop()
            if o in seen:
                continue
            seen.add(o)
            if o != oid and o in self.labels:  # a record: the walk up stops there
                if o not in skipped:
                    out.add(self.labels[o])
                continue
            # A file above a chunk: a bad chunk breaks whoever holds the file's bytes.
            if (o == oid or o in self.chunked) and not as_tree:
                up = self._up.get(o)
                if up is not None:
                    todo.append(up)
                    todo.extend(self._more_up.get(o, ()))
            else:
                todo.extend(self._tree_up.get(o, ()))
        return tuple(sorted(out, key=label_key))


_VERSION = re.compile(r"(.*)@(\d+)")


def label_key(label: str) -> tuple[str, int, str]:
    """Sort key of a label: by name, then version as a number (`m@2` before `m@10`)."""
    m = _VERSION.fullmatch(label)
    return (m.group(1), int(m.group(2)), "") if m else (label, 0, label)


def _problem(store: Store, oid: str, err: MlverError) -> str:
    if isinstance(err, RecordFormatError):
        return "invalid"
    try:
        return "corrupt" if store.objects.has(oid) else "missing"
    except MlverError:
        return "corrupt"


def walk_records(store: Store, starts: list[tuple[str, str]]) -> Reach:
    """Read every record reachable from ``starts`` (``(oid, label)``), through parents and
    input sources. Labels of unreadable records come from whoever reached them."""
    reach = Reach()
    queue = deque(starts)
    while queue:
        oid, label = queue.popleft()
        if oid in reach.labels:
            if oid in reach.unreadable and _VERSION.fullmatch(label) \
                    and not _VERSION.fullmatch(reach.labels[oid]):
                reach.labels[oid] = label  # "name@3", from a child, says most
            continue
        reach.labels[oid] = label
        reach.kinds[oid] = "record"
        try:
            if not store.objects.has(oid):
                raise CorruptObjectError(f"object {oid} is missing from the store")
            rec = history.load_record(store, oid)
        except MlverError as e:
            reach.unreadable[oid] = Unreadable(oid, "record", _problem(store, oid, e), str(e))
            continue
        reach.records[oid] = rec
        reach.labels[oid] = rec.label
        for p in rec.links:
            queue.append((p, f"{rec.name}@{rec.version - 1}" if p == rec.prior
                          else f"the parent of {rec.label}"))
        for slot, art in rec.inputs.items():
            if art.source:
                queue.append((art.source, f"the source of {rec.label}'s input {slot}"))
    return reach


def walk_data(store: Store, reach: Reach, data_of: Callable[[str], bool] = lambda oid: True,
              max_entries: int = MAX_REACH_ENTRIES) -> Reach:
    """Add to ``reach`` every object its records reach: each record's patch and package
    list, and, for the records ``data_of`` accepts, every tree, blob and link below their
    inputs and outputs (each tree read once)."""
    stack: list[str] = []
    for oid, rec in reach.records.items():
        if rec.code.patch:
            reach._edge(rec.code.patch, oid, "code patch")
        if rec.env.packages:
            reach._edge(rec.env.packages, oid, "package list")
        if not data_of(oid):
            continue
        reach.data_walked.add(oid)
        for art in (*rec.inputs.values(), *rec.outputs.values()):
            reach._edge(art.oid, oid, art.type)
            if art.type == "tree":
                stack.append(art.oid)
    while stack:
        top = stack.pop()
        if top in reach._walked_trees:
            continue
        reach._walked_trees.add(top)
        try:
            if not store.objects.has(top):  # cheaper than a failed read, which re-lists packs
                raise CorruptObjectError(f"object {top} is missing from the store")
            tree = store.tree(top)
        except MlverError as e:
            reach.unreadable[top] = Unreadable(top, "tree", _problem(store, top, e), str(e))
            continue
        reach.entries += len(tree.entries)
        if reach.entries > max_entries:
            raise RecordFormatError(
                f"the trees of this store hold more than {max_entries:,} distinct entries "
                f"(tree {top} among them); they may have been crafted to exhaust memory; "
                "check where the store came from")
        for ent in tree.entries:
            reach._edge(ent.oid, top, ent.type)
            if ent.type == "tree" and ent.oid not in reach._walked_trees:
                stack.append(ent.oid)
    return reach


def walk_chunks(store: Store, reach: Reach, chunked: Iterable[str]) -> Reach:
    """Add to ``reach`` the chunks of every file it reached that is stored chunked
    (``chunked``: the oids with a manifest, as listed). A manifest that cannot be read is
    recorded as unreadable (``kind`` ``manifest``): which chunks it needs is unknown."""
    from mlver.store import scan

    todo = set(chunked)
    while True:  # again while a chunk reached is itself chunked (only a crafted store)
        now = [o for o in sorted(todo) if o in reach.kinds]
        if not now:
            return reach
        todo.difference_update(now)
        for oid in now:
            try:
                man = scan.load_manifest(store.objects, oid)
            except MlverError as e:
                reach.unreadable[oid] = Unreadable(oid, "manifest", "corrupt", str(e))
                continue
            if man is None:  # gone since it was listed: what reads it will say so
                continue
            reach.chunked.add(oid)
            for c in man.chunk_oids():
                reach._edge(c, oid, "chunk")


def path_of(store: Store, reach: Reach, oid: str) -> str | None:
    """Where the first version that reaches ``oid`` holds it: ``output model:
    sub/w.bin`` (the slot, then the path in its tree); for a chunk, the path of its
    file. None when no record reaches it or a tree on the way cannot be read."""
    parts: list[str] = []
    child = oid
    for _ in range(10_000):  # bounded: trees nest at most this deep in any walk
        up = reach._up.get(child)
        if up is None:
            return None
        if up in reach.records:
            rec = reach.records[up]
            for side, arts in (("input", rec.inputs), ("output", rec.outputs)):
                for slot, art in arts.items():
                    if art.oid == child:
                        where = f"{side} {slot}"
                        return f"{where}: {'/'.join(reversed(parts))}" if parts else where
            return None
        if up in reach.chunked:  # child is a chunk of the file ``up``: go on from the file
            child = up
            continue
        try:
            tree = store.tree(up)
        except MlverError:
            return None
        name = next((e.name for e in tree.entries if e.oid == child), None)
        if name is None:
            return None
        parts.append(name)
        child = up
    return None


def walk(store: Store, starts: list[tuple[str, str]],
         data_of: Callable[[str], bool] = lambda oid: True) -> Reach:
    """:func:`walk_records` then :func:`walk_data`."""
    return walk_data(store, walk_records(store, starts), data_of)


def complete(store: Store, oid: str, kind: str) -> bool:
    """True when the content ``oid`` and, for a tree, everything below it is in the store
    (a bounded walk; a tree that cannot be read counts as incomplete)."""
    try:
        if not store.objects.has(oid):
            return False
        if kind != "tree":
            return True
        return all(e.type == "tree" or store.objects.has(e.oid)
                   for _path, e in trees.walk(store.tree, oid))
    except MlverError:
        return False




def gone_artifacts(store: Store, oid: str, rec: Record, pruned: frozenset[str] | None = None
                   ) -> list[tuple[str, str, Artifact]]:
    """``(side, slot, artifact)`` of record ``oid`` whose data gc removed (``gc
    --keep-last``): the record is listed as pruned (in ``pruned``, by default the store's
    list) and some of the content is not in the store. Empty for every other record
    (missing data of those is damage, not gc)."""
    try:
        if oid not in (store.refs.pruned() if pruned is None else pruned):
            return []
    except MlverError:
        return []  # a damaged list: reported by verify, not by every reader
    return [(side, slot, art)
            for side, arts in (("input", rec.inputs), ("output", rec.outputs))
            for slot, art in arts.items() if not complete(store, art.oid, art.type)]


def gone_slots(store: Store, oid: str, rec: Record, pruned: frozenset[str] | None = None
               ) -> list[str]:
    """The slots (``input train``, ``output model``) of :func:`gone_artifacts`."""
    return [f"{side} {slot}" for side, slot, _art in gone_artifacts(store, oid, rec, pruned)]
