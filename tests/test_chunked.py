"""Big files stored as chunks plus a manifest: written in one pass, read back verified."""

from __future__ import annotations

import json
import os

import pytest
import xxhash

from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import oid_of
from mlver.store import Store
from mlver.store.manifest import Manifest
from mlver.store.objects import LocalObjectStore

from conftest import count_chunk_reads


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch):
    # 256 KiB: a 1.5 MiB file is ~20 chunks, cheap enough for every test here
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 256 << 10)


@pytest.fixture
def store(tmp_path) -> LocalObjectStore:
    path = str(tmp_path / ".mlver")
    Store.create(path)
    return Store(path).objects


def _pack_bytes(store: LocalObjectStore) -> int:
    return sum(os.path.getsize(os.path.join(store.pack_dir, p))
               for p in os.listdir(store.pack_dir) if p.endswith(".pack"))


def _write(tmp_path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


# Fixed bytes (not os.urandom): their cuts are known, one chunk is above 128 KiB.
def _other_store(tmp_path) -> tuple[str, LocalObjectStore]:
    """A second, empty store (its path and its objects)."""
    path = str(tmp_path / "other" / ".mlver")
    os.makedirs(os.path.dirname(path))
    Store.create(path)
    return path, Store(path).objects


def _flip_a_byte_of(store: LocalObjectStore, coid: str) -> None:
    """Damage the packed chunk ``coid`` in place: one bit of its 8th byte."""
    pack, i = store.find_packed(coid)
    os.chmod(pack.pack_path, 0o644)
    with open(pack.pack_path, "r+b") as f:
        f.seek(pack.offsets[i] + 7)
        byte = f.read(1)
        f.seek(pack.offsets[i] + 7)
        f.write(bytes([byte[0] ^ 1]))


DATA = b"".join(xxhash.xxh3_128_digest(i.to_bytes(8, "little")) for i in range((3 << 19) // 16))


def test_a_big_file_is_stored_as_packed_chunks_and_a_manifest(store, tmp_path):
    with store.batch() as b:
        oid, size = b.add_file(_write(tmp_path, "big", DATA))
    assert (oid, size) == (oid_of(DATA), len(DATA))  # identity unchanged
    m = store.manifest(oid)
    assert m is not None and m.size == len(DATA) and len(m.chunks) > 5
    assert store.local_file(oid) is None  # no loose copy of the whole file
    assert all(store.find_packed(c) is not None for c, _n in m.chunks)
    assert max(n for _c, n in m.chunks) > 128 << 10  # chunks above the pack threshold: packed
    assert os.path.isfile(store.manifest_path(oid))
    assert store.read(oid) == DATA
    assert store.size(oid) == len(DATA) and store.has(oid) and store.verify_file(oid)
    assert oid in set(store.iter_oids()) and list(store.iter_manifests()) == [oid]
    assert store.missing([oid, "0" * 32]) == ["0" * 32]
    assert os.listdir(store.tmp_dir) == []


def test_reads_are_streamed_seekable_and_ranged(store):
    with store.batch() as b:
        oid = b.add_bytes(DATA)
    with store.open(oid) as f:
        f.seek(700_000)
        assert f.read(10) == DATA[700_000:700_010]
        f.seek(-5, os.SEEK_END)
        assert f.read() == DATA[-5:]
    assert store.read_range(oid, 300_000, 400_000) == DATA[300_000:700_000]
    assert store.read_range(oid, len(DATA) - 3, 100) == DATA[-3:]
    got = store.read_many([oid] + [c for c, _n in store.manifest(oid).chunks[:3]])
    assert got[oid] == DATA and len(got) == 4


def test_a_range_reads_exactly_the_chunks_that_cover_it(store, monkeypatch):
    with store.batch() as b:
        oid = b.add_bytes(DATA)
    m = store.manifest(oid)
    starts = m.offsets
    read = count_chunk_reads(monkeypatch)
    # from inside chunk 3 to inside chunk 5: chunks 3, 4 and 5, nothing ahead
    lo, hi = starts[3] + 10, starts[5] + 10
    assert store.read_range(oid, lo, hi - lo) == DATA[lo:hi]
    assert read == [sum(n for _c, n in m.chunks[3:6])]
    read.clear()
    assert store.read_range(oid, starts[4], m.chunks[4][1]) == DATA[starts[4]:starts[5]]
    assert read == [m.chunks[4][1]]
    assert store.read_range(oid, len(DATA), 10) == b""
    assert store.read_range(oid, len(DATA) - 2, 10) == DATA[-2:]
    flipped = m.chunks[7][0]
    _flip_a_byte_of(store, flipped)
    fresh = LocalObjectStore(store.store_dir)
    with pytest.raises(CorruptObjectError, match=f"chunk {flipped} of object {oid}"):
        fresh.read_range(oid, starts[7], 5)


def test_a_second_version_adds_only_the_chunks_that_changed(store, tmp_path):
    with store.batch() as b:
        b.add_file(_write(tmp_path, "v1", DATA))
    before = _pack_bytes(store)
    v2 = DATA[:500_000] + b"an edit" + DATA[500_000:] + os.urandom(20_000)
    with store.batch() as b:
        oid2, _ = b.add_file(_write(tmp_path, "v2", v2))
    added = _pack_bytes(store) - before
    assert 0 < added < 0.4 * len(v2)
    assert store.read(oid2) == v2
    with store.batch() as b:  # the same file again: nothing new
        b.add_file(_write(tmp_path, "v2again", v2))
    assert _pack_bytes(store) - before == added


def test_a_flipped_byte_in_a_chunk_is_named_with_its_file(store):
    with store.batch() as b:
        oid = b.add_bytes(DATA)
    m = store.manifest(oid)
    victim, _n = m.chunks[2]
    _flip_a_byte_of(store, victim)
    fresh = LocalObjectStore(store.store_dir)
    with pytest.raises(CorruptObjectError, match=f"chunk {victim} of object {oid}"):
        fresh.read(oid)
    assert not fresh.verify_file(oid)
    assert fresh.read_range(oid, 0, 1000) == DATA[:1000]  # chunks before it still read


def test_a_manifest_that_lies_is_caught_by_the_whole_file_hash(store):
    with store.batch() as b:
        oid = b.add_bytes(DATA)
    m = store.manifest(oid)
    swapped = (m.chunks[1], m.chunks[0]) + m.chunks[2:]
    path = store.manifest_path(oid)
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(Manifest(oid, m.size, m.chunker, swapped).encode())
    fresh = LocalObjectStore(store.store_dir)
    with pytest.raises(CorruptObjectError, match=f"object {oid} is corrupt: its chunks hash"):
        fresh.read(oid)
    with open(path, "wb") as f:
        f.write(b'{"type":"chunks"}')
    with pytest.raises(CorruptObjectError, match="chunk manifest of object"):
        LocalObjectStore(store.store_dir).read(oid)


def test_a_manifest_is_refused_until_its_chunks_are_there(store):
    m = Manifest("f" * 32, 10, "x", (("a" * 32, 10),))
    b = store.batch()
    try:
        with pytest.raises(CorruptObjectError, match=f"chunk {'a' * 32} of object {'f' * 32}"):
            b.add_manifest(m)
    finally:
        b.abort()
    assert not store.has("f" * 32)


def test_chunks_and_manifest_copy_between_stores(store, tmp_path):
    with store.batch() as b:
        oid = b.add_bytes(DATA)
    m = store.manifest(oid)
    other_path, other = _other_store(tmp_path)
    with other.batch() as b:
        for coid, data in store.read_many(m.chunk_oids()).items():
            b.add_chunk(data, expect=coid)
        b.add_manifest(m)
    assert other.read(oid) == DATA


def test_a_big_object_adopted_or_added_as_bytes_is_chunked(store, tmp_path):
    b = store.batch()
    tmp = b.tmp_path()
    with open(tmp, "wb") as f:
        f.write(DATA)
    assert b.adopt(tmp, oid_of(DATA)) == len(DATA)
    b.commit()
    b.close()
    assert not os.path.exists(tmp)
    assert store.manifest(oid_of(DATA)) is not None


def test_a_format_2_store_reads_its_whole_big_files_and_chunks_new_ones(tmp_path, monkeypatch):
    path = str(tmp_path / ".mlver")
    Store.create(path)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump({"format": 2, "hash": "xxh3-128"}, f)
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 1 << 40)  # an older mlver
    objs = Store(path).objects
    with objs.batch() as b:
        old = b.add_bytes(DATA)
    assert objs.local_file(old) is not None
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 256 << 10)
    objs = Store(path).objects
    new_data = DATA[::-1]
    with objs.batch() as b:
        new = b.add_bytes(new_data)
    assert objs.read(old) == DATA and objs.read(new) == new_data
    assert objs.manifest(new) is not None and objs.manifest(old) is None
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    assert cfg == {"format": 3, "hash": "xxh3-128", "chunker": "fastcdc2020-nc1-16k-64k-256k"}


def test_a_lying_manifest_from_elsewhere_is_refused_before_it_is_published(store, tmp_path):
    with store.batch() as b:
        oid = b.add_bytes(DATA)
    m = store.manifest(oid)
    other_path, other = _other_store(tmp_path)
    liar = Manifest(oid, m.size, m.chunker, (m.chunks[1], m.chunks[0]) + m.chunks[2:])
    b = other.batch()
    try:
        for coid, data in store.read_many(m.chunk_oids()).items():
            b.add_chunk(data, expect=coid)
        b.add_manifest(liar)
        with pytest.raises(CorruptObjectError, match=f"object {oid} is corrupt: its chunks hash"):
            b.commit()
    finally:
        b.abort()
        b.close()
    assert not other.has(oid) and os.listdir(other.tmp_dir) == []
    with other.batch() as b:  # the true manifest is still welcome
        b.add_manifest(m)
    assert other.read(oid) == DATA


def test_views_are_the_bytes_verified_each_valid_until_the_next(store):
    """views() reads runs of chunks into one reused buffer: each view is a chunk's bytes
    until the next view is asked for (a checkout writes each at once)."""
    from mlver.store.chunked import ChunkedReader

    with store.batch() as b:
        oid = b.add_bytes(DATA)
    with store.open(oid) as f:
        assert isinstance(f, ChunkedReader)
        pieces = [(isinstance(v, memoryview), bytes(v)) for v in f.views()]
        assert all(is_view for is_view, _ in pieces)
        assert b"".join(p for _, p in pieces) == DATA
        assert len(pieces) == len(store.manifest(oid).chunks)  # one a chunk
        f.seek(1_000_000)
        assert b"".join(bytes(v) for v in f.views()) == DATA[1_000_000:]


def test_adding_a_big_file_again_repairs_a_corrupt_chunk(store, tmp_path):
    with store.batch() as b:
        oid = b.add_bytes(DATA)
    victim, _n = store.manifest(oid).chunks[2]
    _flip_a_byte_of(store, victim)
    fresh = LocalObjectStore(store.store_dir)
    assert not fresh.verify_file(oid)
    with fresh.batch() as b:  # what "re-snapshot the versions they break" does
        b.add_file(_write(tmp_path, "again.bin", DATA))
    assert LocalObjectStore(store.store_dir).verify_file(oid)


def _drop_pack_of(store: LocalObjectStore, coid: str) -> None:
    pack, _i = store.find_packed(coid)
    os.unlink(pack.pack_path)
    os.unlink(pack.idx_path)


def test_a_file_whose_chunks_are_not_all_here_is_missing_and_a_transfer_completes_it(
        store, tmp_path):
    from mlver.store.transfer import transfer

    with store.batch() as b:
        oid = b.add_bytes(DATA)
    other_path, other = _other_store(tmp_path)
    transfer(store, other, [oid])
    victim = other.manifest(oid).chunks[3][0]
    _drop_pack_of(other, victim)  # a lost pack: the manifest stays
    other = LocalObjectStore(other_path)
    assert other.has(oid) and other.missing([oid]) == [oid]
    moved = transfer(store, other, [oid])
    assert moved.chunks == len(other.manifest(oid).chunk_oids())  # every chunk was in that pack
    assert LocalObjectStore(other_path).read(oid) == DATA


def test_chunks_fetched_on_demand_come_in_one_fetch(store, tmp_path):
    with store.batch() as b:
        oid = b.add_bytes(DATA)
    m = store.manifest(oid)
    keep = {c: d for c, d in store.read_many(m.chunk_oids()).items()}
    _drop_pack_of(store, m.chunks[0][0])
    fresh = LocalObjectStore(store.store_dir)
    calls = []

    def fetcher(oids):
        calls.append(list(oids))
        with fresh.batch() as b:
            for c in oids:
                b.add_chunk(keep[c], expect=c)

    fresh.fetcher = fetcher
    assert fresh.read(oid) == DATA
    assert len(calls) == 1 and sorted(calls[0]) == sorted(m.chunk_oids())
