"""The chunker's cut points are frozen: these golden offsets must never move.

If a test here fails after an upgrade of pyfastcdc, the package moved its boundaries: every
big file snapshotted from then on would share nothing with its earlier versions. Pin the old
package, or give the new parameters a new CHUNKER_ID; never edit these numbers.
"""

from __future__ import annotations

import io

import xxhash

from mlver.store.chunker import (AVG_SIZE, CHUNKER_ID, MAX_SIZE, MIN_SIZE, ChunkStream,
                                 cut_offsets)


def _noise(n: int) -> bytes:
    """Incompressible bytes that depend on nothing but xxhash's definition."""
    return b"".join(xxhash.xxh3_128_digest(i.to_bytes(8, "little")) for i in range(n // 16))


def _rows(n: int) -> bytes:
    """CSV-like text."""
    return b"".join(b"%d,%d,%s\n" % (i, (i * 7919) % 1000, b"abc" * (i % 5)) for i in range(n))


def test_the_chunker_id_names_the_parameters() -> None:
    assert (MIN_SIZE, AVG_SIZE, MAX_SIZE) == (16384, 65536, 262144)
    assert CHUNKER_ID == "fastcdc2020-nc1-16k-64k-256k"


def test_golden_offsets_of_noise() -> None:
    offs = cut_offsets(_noise(3 << 20))
    assert offs[:12] == [0, 55340, 123158, 242380, 346171, 425414, 513219, 547471, 622326,
                         662193, 715702, 800712]
    assert len(offs) == 40
    assert xxhash.xxh3_64_hexdigest(repr(offs).encode()) == "b344537d9268a002"


def test_golden_offsets_of_text() -> None:
    offs = cut_offsets(_rows(200_000))
    assert offs[:8] == [0, 105372, 232053, 254028, 271897, 340175, 425055, 493751]
    assert len(offs) == 48
    assert xxhash.xxh3_64_hexdigest(repr(offs).encode()) == "50735035fa78fe54"


def test_a_stream_cuts_where_a_buffer_does_and_hashes_the_whole() -> None:
    data = _noise(3 << 20)
    cs = ChunkStream(io.BytesIO(data[1000:]), first=data[:1000])
    pieces = [(p.offset, bytes(p.data), p.oid) for p in cs]
    assert [p[0] for p in pieces] == cut_offsets(data)
    assert b"".join(p[1] for p in pieces) == data
    assert all(xxhash.xxh3_128_hexdigest(b) == o for _off, b, o in pieces)
    assert cs.oid == xxhash.xxh3_128_hexdigest(data)
    assert cs.size == len(data)
    assert all(MIN_SIZE <= len(b) <= MAX_SIZE for _o, b, _i in pieces[:-1])


def test_an_edit_moves_only_nearby_cuts() -> None:
    data = _noise(3 << 20)
    edited = data[:1_000_000] + b"inserted" + data[1_000_000:]
    before, after = set(cut_offsets(data)), cut_offsets(edited)
    shifted = {o - 8 for o in after if o > 1_000_000}
    assert len(shifted & before) >= len(before) - 25
