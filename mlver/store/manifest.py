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


__all__ = ["FORMAT", "MAX_MANIFEST", "Manifest", "SUFFIX", "decode"]
