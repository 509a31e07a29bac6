"""A chunked file's manifest: which chunks, in which order, make its bytes.

A file of at least :data:`~mlver.store.chunker.CHUNK_THRESHOLD` bytes is stored as its
chunks (ordinary objects, packed like any small one) plus this manifest, kept beside the
loose objects as ``objects/<2 hex>/<30 hex>.chunks`` under the *file's* oid: identity is
unchanged, the oid is still the XXH3-128 of the whole file. The manifest is canonical
JSON::

    {"chunker":"fastcdc2020-nc1-16k-64k-256k","chunks":[["<oid>",81234],…],
     "format":1,"oid":"<the file's oid>","size":1073741824,"type":"chunks"}

A manifest does not hash to its name (it is named after the file it describes), so it is
validated by shape and sums here, and the file it describes is verified whole on every
full read: a manifest that lies produces bytes that do not hash to its oid, which readers
refuse. It is untrusted like every object: bounded before it is parsed.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from mlver.base import canonical
from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import is_oid

SUFFIX = ".chunks"
FORMAT = 1
MAX_CHUNK = 64 << 20  # no chunker id of ours cuts bigger; a larger length is a forgery
MAX_MANIFEST = 64 << 20  # bytes: ~1.3M chunks, a 100 GB file at 80 KB a chunk
MAX_CHUNKER_ID = 100


@dataclass(frozen=True)
class Manifest:
    """The chunks of one file: its oid and size, the chunker that cut it, and the chunks'
    oids and lengths in order."""

    oid: str
    size: int
    chunker: str
    chunks: tuple[tuple[str, int], ...]

    def encode(self) -> bytes:
        """The canonical JSON bytes stored for this manifest."""
        return canonical.dumps({
            "chunker": self.chunker, "chunks": [[o, n] for o, n in self.chunks],
            "format": FORMAT, "oid": self.oid, "size": self.size, "type": "chunks"})

    @property
    def offsets(self) -> list[int]:
        """Where each chunk starts in the file (the first at 0)."""
        out = []
        at = 0
        for _oid, n in self.chunks:
            out.append(at)
            at += n
        return out

    def chunk_oids(self) -> list[str]:
        """The distinct chunk oids, in first-use order."""
        return list(dict.fromkeys(o for o, _n in self.chunks))


def _bad(oid: str, why: str) -> CorruptObjectError:
    return CorruptObjectError(
        f"the chunk manifest of object {oid} is corrupt ({why}); restore "
        f".mlver/objects/{oid[:2]}/{oid[2:]}{SUFFIX} from a backup, or re-snapshot the file")


def decode(data: bytes, oid: str) -> Manifest:
    """Parse and validate the manifest bytes stored under ``oid``.

    Raises :class:`CorruptObjectError` for anything but a well-formed manifest of ``oid``
    whose lengths add up to its size.
    """
    if len(data) > MAX_MANIFEST:
        raise _bad(oid, f"{len(data)} bytes, more than any manifest holds")
    try:
        doc = canonical.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise _bad(oid, "not JSON") from None
    if not isinstance(doc, dict) or doc.get("type") != "chunks":
        raise _bad(oid, "not a manifest")
    if doc.get("format") != FORMAT:
        raise _bad(oid, f"manifest format {doc.get('format')!r}, this mlver reads {FORMAT}")
    if doc.get("oid") != oid:
        raise _bad(oid, "it describes another object")
    chunker, size, rows = doc.get("chunker"), doc.get("size"), doc.get("chunks")
    if not isinstance(chunker, str) or not 0 < len(chunker) <= MAX_CHUNKER_ID \
            or not chunker.isprintable():
        raise _bad(oid, "no chunker id")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _bad(oid, "no size")
    if not isinstance(rows, list) or not rows:
        raise _bad(oid, "no chunks")
    chunks = []
    total = 0
    for row in rows:
        if not (isinstance(row, list) and len(row) == 2 and isinstance(row[0], str)
                and is_oid(row[0]) and isinstance(row[1], int)
                and not isinstance(row[1], bool) and 0 < row[1] <= MAX_CHUNK):
            raise _bad(oid, f"a chunk entry {str(row)[:80]!r} is not [oid, length]")
        chunks.append((row[0], row[1]))
        total += row[1]
    if total != size:
        raise _bad(oid, f"its chunks add up to {total} bytes, not its size {size}")
    m = Manifest(oid, size, chunker, tuple(chunks))
    if m.encode() != data:
        raise _bad(oid, "not in canonical form")
    return m


ROWS_MAX = 2_000_000  # chunk entries a cache of decoded manifests holds (~400 MB at most)


class ManifestCache:
    """Decoded manifests kept for reuse (they never change), by the local store and a
    remote alike: bounded by the chunk entries held, not by their count (the largest
    manifest read, ~1.5M entries, fits; a crafted store's hundreds of them do not). Past
    the bound it starts again. Not locked: its owner holds its own lock."""

    def __init__(self, rows_max: int = ROWS_MAX, count_max: int | None = None) -> None:
        self.rows_max = rows_max
        self.count_max = count_max
        self._held: dict[str, Manifest] = {}
        self._rows = 0

    def get(self, oid: str) -> Manifest | None:
        """The manifest of ``oid`` when held."""
        return self._held.get(oid)

    def __contains__(self, oid: object) -> bool:
        return oid in self._held

    def __len__(self) -> int:
        return len(self._held)

    @property
    def rows(self) -> int:
        """The chunk entries held (kept as a counter, never summed per call)."""
        return self._rows

    def values(self) -> list[Manifest]:
        """The manifests held."""
        return list(self._held.values())

    def keep(self, m: Manifest) -> None:
        """Hold ``m`` (in place of an older copy)."""
        old = self._held.pop(m.oid, None)
        if old is not None:
            self._rows -= len(old.chunks)
        if self._rows + len(m.chunks) > self.rows_max \
                or (self.count_max is not None and len(self._held) >= self.count_max):
            self._held = {}
            self._rows = 0
        self._held[m.oid] = m
        self._rows += len(m.chunks)

    def retain(self, oids: Container[str]) -> None:
        """Drop every manifest whose oid is not in ``oids`` (a listing no longer has it)."""
        self._held = {o: m for o, m in self._held.items() if o in oids}
        self._rows = sum(len(m.chunks) for m in self._held.values())


__all__ = ["FORMAT", "MAX_MANIFEST", "ROWS_MAX", "Manifest", "ManifestCache", "SUFFIX", "decode"]
