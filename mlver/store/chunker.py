"""Content-defined chunking of big files: FastCDC 2020 with frozen parameters.

A file of at least :data:`CHUNK_THRESHOLD` bytes is stored as chunks (see
:mod:`.manifest`). Where the cuts fall decides what two versions share, so the
parameters are frozen under :data:`CHUNKER_ID`, which the store's config names: a change of
any of them (or of the package's algorithm) must get a new id, and the golden tests in
``tests/test_chunker.py`` pin the cut offsets of fixed inputs so that an upgrade of the
package cannot move them silently. Manifests written under another id still read: only the
cutting depends on the id, never the reading.

One pass over the bytes does everything: :func:`chunk_stream` reads the file once, hashes
the whole of it (its oid, as ``xxhsum -H2`` prints it) and yields each chunk with its own
oid, so a 1 GiB file is read once and never held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import xxhash

from mlver.base.hashing import Hasher

# Chosen by measurement (benchmarks/bench_chunks.py; docs/format.md#chunks): on a CSV that
# gains 2% rows and 20 edited rows, and a 64 MB checkpoint with a grown header and four
# rewritten 1 MiB regions, the second version added 6.0% and 7.5% of its size at
# 16/64/256 KiB, 4.3% and 6.9% at 8/32/128 KiB with twice the chunks (manifest, pack index
# and per-chunk lookups), 2.8% and 6.5% at 4/16/64 KiB with four times as many. All meet the
# 12% target; the largest chunks keep the per-chunk costs lowest.
MIN_SIZE = 16 << 10
AVG_SIZE = 64 << 10
MAX_SIZE = 256 << 10
NORMALIZATION = 1  # fastcdc-rs's default; level 2 and 3 cost dedup on the CSV case
CHUNKER_ID = "fastcdc2020-nc1-16k-64k-256k"
# Files at least this big are chunked; smaller ones are stored whole (packed or loose). A
# 4 MiB file is ~50 chunks: below that a manifest saves little and costs a lookup each.
CHUNK_THRESHOLD = 4 << 20
_READ = 8 << 20  # bytes per read of the stream: large enough that syscalls do not count


@dataclass(frozen=True)
class Piece:
    """One chunk as the chunker cut it: where it starts, its bytes and its oid.

    ``data`` is valid only until the next piece is produced (it is a view into the
    chunker's buffer): copy it (``bytes(p.data)``) to keep it.
    """

    offset: int
    data: memoryview
    oid: str


class _HashingReader:
    """A reader that hashes every byte it hands to the chunker: the whole-file oid comes
    from the same pass that cuts the chunks."""

    def __init__(self, f: BinaryIO, first: bytes = b"") -> None:
        self._f = f
        self._first = memoryview(first)
        self.hasher = Hasher()
        self.size = 0

    def readinto(self, b: memoryview) -> int:
        if self._first:
            n = min(len(b), len(self._first))
            b[:n] = self._first[:n]
            self._first = self._first[n:]
        else:
            got = self._f.readinto(b)  # type: ignore[attr-defined]  # raw and buffered files have it
            n = got or 0
        if n:
            self.hasher.update(b[:n])  # type: ignore[arg-type]  # xxhash takes any buffer
            self.size += n
        return n


def _cdc() -> Any:  # pyfastcdc's compiled class has no stubs of its own
    from pyfastcdc.cy import FastCDC  # the compiled chunker: 3+ GB/s here

    return FastCDC(AVG_SIZE, min_size=MIN_SIZE, max_size=MAX_SIZE,
                   normalized_chunking=NORMALIZATION)


class ChunkStream:
    """Cut the stream ``f`` into chunks: iterate for the :class:`Piece` s, then read
    :attr:`oid` and :attr:`size` of the whole stream (``first``: bytes already read from
    ``f``, which come before the rest)."""

    def __init__(self, f: BinaryIO, first: bytes = b"") -> None:
        self._reader = _HashingReader(f, first)
        self._done = False

    def __iter__(self) -> Iterator[Piece]:
        for ch in _cdc().cut_stream(self._reader):
            data = ch.data
            yield Piece(ch.offset, data, xxhash.xxh3_128_hexdigest(data))
        self._done = True

    @property
    def oid(self) -> str:
        """The whole stream's oid (once iterated to the end)."""
        assert self._done, "iterate the chunks first"
        return self._reader.hasher.hexdigest()

    @property
    def size(self) -> int:
        """The whole stream's size in bytes (once iterated to the end)."""
        assert self._done, "iterate the chunks first"
        return self._reader.size


def cut_offsets(data: bytes) -> list[int]:
    """The offsets at which the chunker cuts ``data`` (the first is 0): what the golden
    tests pin."""
    return [ch.offset for ch in _cdc().cut_buf(data)]


__all__ = ["AVG_SIZE", "CHUNKER_ID", "CHUNK_THRESHOLD", "ChunkStream", "MAX_SIZE", "MIN_SIZE",
           "NORMALIZATION", "Piece", "cut_offsets"]
