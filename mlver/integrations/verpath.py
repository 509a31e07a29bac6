"""Version paths: what ``mlver://REV/SLOT/PATH`` and ``mlver://OID`` name, resolved.

A version path is ``REV`` (a version: its slots list as a folder), ``REV/SLOT`` (an input
or output slot: a file, or a folder for a folder slot), ``REV/SLOT/a/b.parquet`` (a file
inside a folder slot) or a 32-hex object id alone (that object's bytes). ``REV`` is any
revision ``mlver show`` takes (``NAME``, ``NAME@3``, ``NAME@TAG``, ``NAME~1``, an oid
prefix). A slot name held by both sides is named ``inputs.X`` or ``outputs.X``.

Everything in a path is untrusted: each component must be a plain name (no ``..``, no
empty one, no absolute path), trees are walked one level at a time, and a symbolic link
entry is never followed (its target could point anywhere).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlver.base.errors import MlverError, RevisionError
from mlver.base.hashing import is_oid
from mlver.base.paths import is_plain_name
from mlver.core import history
from mlver.core.record import Artifact, Record
from mlver.store import Store

PROTOCOL = "mlver"
SIDES = ("inputs", "outputs")


class VersionPathError(MlverError, FileNotFoundError):
    """A version path names nothing: an unknown revision, slot or file, or a path that is
    refused. A FileNotFoundError too, which is what fsspec readers expect."""


@dataclass(frozen=True)
class Target:
    """What a version path names.

    ``kind``: ``names`` (the root: every versioned name), ``version`` (a record: its
    slots), ``tree`` (a folder slot or a folder in one), ``blob`` (a file), ``link`` (a
    symbolic link, listed but never read). ``oid`` is the content's (the record's for a
    version), ``size`` its size in bytes (a folder's: the files below it).
    """

    path: str
    kind: str
    oid: str = ""
    size: int = 0
    record: Record | None = None

    @property
    def is_dir(self) -> bool:
        """True for what lists as a folder."""
        return self.kind in ("names", "version", "tree")


def strip_protocol(path: str) -> str:
    """``path`` without the ``mlver://`` protocol and trailing slashes (kept otherwise)."""
    for head in (PROTOCOL + "://", PROTOCOL + "::"):
        if path.startswith(head):
            path = path[len(head):]
            break
    return path.rstrip("/") if path not in ("/", "") else path


def split(path: str) -> list[str]:
    """The components of a version path, each checked to be a plain name."""
    path = strip_protocol(path)
    if path.startswith("/") or path.startswith("\\"):
        raise VersionPathError(f"mlver://{path} is an absolute path; give REV/SLOT/PATH, "
                               "e.g. mlver://features@3/data/part-0.parquet")
    if not path:
        return []
    parts = path.split("/")
    for part in parts:
        if not is_plain_name(part):
            raise VersionPathError(
                f"mlver://{path}: component {part!r} is refused (no '..', '.', empty or "
                "NUL components: a version path stays inside its version)")
    return parts


def _version(store: Store, rev: str) -> tuple[str, Record]:
    try:
        oid = history.resolve(store, rev)
    except RevisionError as e:
        raise VersionPathError(f"mlver://{rev}: {e}") from None
    return oid, history.load_record(store, oid)


def slot_names(record: Record) -> dict[str, tuple[str, Artifact]]:
    """The names a version's slots list under: the bare name when one side holds it,
    ``inputs.X`` and ``outputs.X`` when both do."""
    out: dict[str, tuple[str, Artifact]] = {}
    both = set(record.inputs) & set(record.outputs)
    for side in SIDES:
        slots: dict[str, Artifact] = getattr(record, side)
        for name, art in slots.items():
            out[f"{side}.{name}" if name in both else name] = (side, art)
    return out


def find_slot(record: Record, rev: str, name: str) -> tuple[str, Artifact]:
    """The side and artifact of slot ``name`` (``X``, ``inputs.X`` or ``outputs.X``)."""
    side, dot, bare = name.partition(".")
    if dot and side in SIDES and bare in getattr(record, side):
        return side, getattr(record, side)[bare]
    if name in record.inputs and name in record.outputs:
        raise VersionPathError(
            f"mlver://{rev}/{name}: '{name}' is both an input and an output of {rev}; "
            f"name one: mlver://{rev}/inputs.{name} or mlver://{rev}/outputs.{name}")
    for side in SIDES:
        if name in getattr(record, side):
            return side, getattr(record, side)[name]
    shown = ", ".join(sorted(slot_names(record))) or "none"
    raise VersionPathError(f"mlver://{rev}/{name}: {rev} has no slot '{name}'; "
                           f"its slots: {shown}")


def resolve(store: Store, path: str) -> Target:
    """What the version path ``path`` names (``mlver://`` optional); a
    :class:`VersionPathError` when it names nothing."""
    parts = split(path)
    shown = "/".join(parts)
    if not parts:
        return Target("", "names")
    head, rest = parts[0], parts[1:]
    if not rest and is_oid(head) and not _is_record(store, head):
        size = object_size(store, head)
        if size is None:
            raise VersionPathError(f"mlver://{head}: no object {head} in this store or its "
                                   "default remote")
        return Target(shown, "blob", head, size)
    rec_oid, record = _version(store, head)
    if not rest:
        return Target(shown, "version", rec_oid, 0, record)
    _side, art = find_slot(record, head, rest[0])
    if art.missing:
        raise VersionPathError(f"mlver://{shown}: {art.missing_note}")
    kind, oid, size = art.type, art.oid, art.size
    for i, name in enumerate(rest[1:], start=2):
        if kind != "tree":
            what = "a symbolic link (never followed)" if kind == "link" else "a file"
            raise VersionPathError(f"mlver://{shown}: {'/'.join(parts[:i])} is {what}, "
                                   "not a folder")
        entry = store.tree(oid).get(name)
        if entry is None:
            raise VersionPathError(f"mlver://{shown}: no '{name}' in "
                                   f"{'/'.join(parts[:i])} of {head}")
        kind, oid, size = entry.type, entry.oid, entry.size
    return Target(shown, kind, oid, size, record)


def _is_record(store: Store, oid: str) -> bool:
    try:
        return bool(store.index.oids_with_prefix(oid))
    except MlverError:
        return False


def object_size(store: Store, oid: str) -> int | None:
    """The size of object ``oid``, fetched from the default remote when missing here."""
    size = store.objects.size(oid)
    if size is None and store.objects.fetch([oid]):
        size = store.objects.size(oid)
    return size


def children(store: Store, target: Target) -> list[Target]:
    """What a folder target lists: names, slots, or a tree's entries."""
    base = target.path + "/" if target.path else ""
    if target.kind == "names":
        return [Target(n, "version") for n in sorted(store.refs.names())]
    if target.kind == "version":
        assert target.record is not None
        out = []
        for name, (_side, art) in sorted(slot_names(target.record).items()):
            out.append(Target(base + name, art.type, art.oid, art.size, target.record))
        return out
    if target.kind == "tree":
        return [Target(base + e.name, e.type, e.oid, e.size, target.record)
                for e in store.tree(target.oid).entries]
    raise VersionPathError(f"mlver://{target.path} is a file, not a folder")


__all__ = ["PROTOCOL", "Target", "VersionPathError", "children", "find_slot", "object_size",
           "resolve", "slot_names", "split", "strip_protocol"]
