"""The store's layout: where each kind of file lives, how a listing is read, and the order
in which a batch publishes its files. One definition for the local store and every remote
(a folder remote is itself a valid store; see docs/format.md).

Everything here is a path relative to a store's root, with ``/`` between parts, whatever
the medium: the local store joins it to its folder (:mod:`.objects`, :mod:`.batch`,
:mod:`.refs`), a remote hands it to its backend (:mod:`.remote_backend`,
:mod:`.remote_folder`).

* naming: a loose object ``objects/ab/<30 hex>``, a chunked file's manifest
  ``objects/ab/<30 hex>.chunks``, a pack ``objects/pack/pack-<32 hex>.pack`` and its index
  ``.idx``, refs ``refs/names/NAME``, ``refs/tags/NAME/TAG``, ``refs/pruned``;
* listing: :func:`parse_objects` sorts a listing of ``objects/`` into loose objects,
  manifests, packs and indexes; :func:`parse_refs` a listing of ``refs/`` into names and
  tags. Anything else in those folders is not the store's and is ignored;
* publish order (:func:`publish_rank`): loose objects and packs first, a pack's index only
  after its pack, a manifest only after every index (its chunks exist by then); refs move
  last, by compare-and-swap, once the batch is committed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mlver.base.hashing import is_oid
from mlver.store.manifest import SUFFIX as MANIFEST_SUFFIX

OBJECTS = "objects"
PACKS = "objects/pack"
REFS = "refs"
NAMES = "refs/names"
TAGS = "refs/tags"
PRUNED_REL = "refs/pruned"
PARTIAL_REL = "refs/partial"
CONFIG_REL = "config.json"
TMP = "tmp"
# The folders a new store (local or a folder remote) is created with.
FOLDERS = ("objects/pack", "tmp", "refs/names", "refs/tags")

PACK_NAME = re.compile(r"pack-[0-9a-f]{32}")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def valid_name(name: str) -> bool:
    """Names and tags: letters, digits, ``.``, ``_``, ``-``; no ``@``, ``~`` or ``/``."""
    return bool(NAME_RE.match(name)) and not name.endswith(".lock")


def valid_pack_name(base: str) -> bool:
    """True for ``pack-<32 lowercase hex>``, the only pack name mlver writes."""
    return PACK_NAME.fullmatch(base) is not None


# -- naming -----------------------------------------------------------------------------------

def loose_rel(oid: str) -> str:
    """``objects/ab/<30 hex>``: the loose object ``oid``."""
    return f"objects/{oid[:2]}/{oid[2:]}"


def manifest_rel(oid: str) -> str:
    """``objects/ab/<30 hex>.chunks``: the chunk manifest of the file ``oid``."""
    return f"objects/{oid[:2]}/{oid[2:]}{MANIFEST_SUFFIX}"


def pack_rel(name: str) -> str:
    """``objects/pack/NAME.pack``."""
    return f"objects/pack/{name}.pack"


def idx_rel(name: str) -> str:
    """``objects/pack/NAME.idx``: the index that makes the pack's objects exist."""
    return f"objects/pack/{name}.idx"


def ref_rel(name: str) -> str:
    """``refs/names/NAME``: the latest record of ``name``."""
    return f"refs/names/{name}"


def tag_rel(name: str, tag: str) -> str:
    """``refs/tags/NAME/TAG``."""
    return f"refs/tags/{name}/{tag}"


def ref_bytes(oid: str) -> bytes:
    """What a ref file holds: one oid and a newline."""
    return (oid + "\n").encode("ascii")


def oid_lines(oids: Iterable[str]) -> bytes:
    """What ``refs/pruned`` and ``refs/partial`` hold: one oid a line, sorted."""
    return "".join(f"{o}\n" for o in sorted(oids)).encode("ascii")


# -- listing ----------------------------------------------------------------------------------

def loose_oid(fan: str, name: str) -> str | None:
    """The oid of ``objects/FAN/NAME`` when it names a loose object, else None."""
    oid = fan + name
    return oid if len(fan) == 2 and is_oid(oid) else None


def manifest_oid(fan: str, name: str) -> str | None:
    """The oid of ``objects/FAN/NAME`` when it names a chunk manifest, else None."""
    if len(fan) != 2 or not name.endswith(MANIFEST_SUFFIX):
        return None
    oid = fan + name[:-len(MANIFEST_SUFFIX)]
    return oid if is_oid(oid) else None


def pack_file(name: str) -> tuple[str, str] | None:
    """``(pack name, ".pack" or ".idx")`` for a file of ``objects/pack/``, else None."""
    base, dot, ext = name.rpartition(".")
    if dot and ext in ("pack", "idx") and valid_pack_name(base):
        return base, "." + ext
    return None


@dataclass
class ObjectListing:
    """A listing of ``objects/`` sorted by kind: oid or pack name -> size in bytes."""

    loose: dict[str, int] = field(default_factory=dict)
    manifests: dict[str, int] = field(default_factory=dict)
    packs: dict[str, int] = field(default_factory=dict)
    indexes: dict[str, int] = field(default_factory=dict)


def parse_objects(files: Mapping[str, int]) -> ObjectListing:
    """Sort ``{path relative to the root: size}`` of the files below ``objects/``."""
    out = ObjectListing()
    for rel, size in files.items():
        parts = rel.split("/")
        if len(parts) != 3 or parts[0] != OBJECTS:
            continue
        if parts[1] == "pack":
            got = pack_file(parts[2])
            if got is not None:
                (out.packs if got[1] == ".pack" else out.indexes)[got[0]] = size
        elif (oid := loose_oid(parts[1], parts[2])) is not None:
            out.loose[oid] = size
        elif (oid := manifest_oid(parts[1], parts[2])) is not None:
            out.manifests[oid] = size
    return out


def parse_refs(rels: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
    """Names with a ref, and the tags of each name, from the files below ``refs/``
    (sorted; a file whose name is not a valid name is not a ref)."""
    names: list[str] = []
    tags: dict[str, list[str]] = {}
    for rel in sorted(rels):
        parts = rel.split("/")
        if len(parts) == 3 and parts[:2] == ["refs", "names"] and valid_name(parts[2]):
            names.append(parts[2])
        elif len(parts) == 4 and parts[:2] == ["refs", "tags"] and valid_name(parts[2]) \
                and valid_name(parts[3]):
            tags.setdefault(parts[2], []).append(parts[3])
    return names, tags


# -- publish order ----------------------------------------------------------------------------

def publish_rank(rel: str) -> int:
    """When a file of a batch may be published: 0 objects and packs, 1 a pack's index
    (after its pack), 2 a chunk manifest (after every index: its chunks exist), 3 anything
    else (a ref or the config is never part of a batch's publishing)."""
    if rel.startswith("objects/pack/"):
        return 1 if rel.endswith(".idx") else 0
    if rel.startswith("objects/"):
        return 2 if rel.endswith(MANIFEST_SUFFIX) else 0
    return 3


def is_object_file(rel: str) -> bool:
    """True for a file of ``objects/`` that a batch publishes (object, pack, index,
    manifest), which a folder may stage and make durable with the rest of its batch."""
    return publish_rank(rel) < 3
