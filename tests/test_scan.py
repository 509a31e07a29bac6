"""mlver.store.scan: listing a store's files, and re-hashing packs and loose objects."""

from __future__ import annotations

import os
import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlver.base.hashing import oid_of
from mlver.store import packs, scan
from mlver.store.objects import LocalObjectStore
from mlver.store.packs import PACK_THRESHOLD


@pytest.fixture
def store(tmp_path) -> LocalObjectStore:
    d = tmp_path / ".mlver"
    (d / "objects").mkdir(parents=True)
    (d / "tmp").mkdir()
    return LocalObjectStore(str(d))


def put(store, *blobs: bytes) -> list[str]:
    with store.batch() as b:
        return [b.add_bytes(x) for x in blobs]


def flip(path: str, offset: int) -> None:
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0x40]))


def test_listing_of_loose_packs_orphans_and_tmp(store):
    small, large = put(store, b"small", b"L" * (PACK_THRESHOLD + 1))
    orphan = os.path.join(store.pack_dir, "pack-" + "0" * 32 + ".pack")
    open(orphan, "wb").close()
    leftover = os.path.join(store.tmp_dir, "123-0-0")
    open(leftover, "wb").close()
    open(os.path.join(store.tmp_dir, "pack-merge.lock"), "wb").close()
    listing = scan.list_store(store)
    assert [o.oid for o in listing.loose] == [large]
    assert listing.loose[0].size == PACK_THRESHOLD + 1
    assert abs(listing.loose[0].mtime - time.time()) < 60
    assert len(listing.packs) == 1 and listing.packs[0].index.find(bytes.fromhex(small)) >= 0
    assert listing.packs[0].size == listing.packs[0].index.pack_size
    assert [f.path for f in listing.orphans] == [orphan]
    assert [f.path for f in listing.tmp] == [leftover]  # lock files are not leftovers
    assert listing.damaged == ()


def test_listing_names_links_and_missing_pack_files(store, tmp_path):
    put(store, b"small")
    (tmp_path / "x").write_bytes(b"x")
    fake = oid_of(b"whatever")
    os.makedirs(os.path.join(store.objects_dir, fake[:2]), exist_ok=True)
    os.symlink(tmp_path / "x", os.path.join(store.objects_dir, fake[:2], fake[2:]))
    pack = scan.list_store(store).packs[0].index
    os.unlink(pack.pack_path)
    damaged = dict(scan.list_store(store).damaged)
    assert "not a regular file" in damaged[os.path.join(store.objects_dir, fake[:2], fake[2:])]
    assert "pack file is missing" in damaged[pack.pack_path]


def test_check_finds_nothing_wrong_in_a_good_store(store):
    blobs = [os.urandom(random.randint(0, 5000)) for _ in range(50)] + [b"B" * (PACK_THRESHOLD + 5)]
    oids = put(store, *blobs)
    listing = scan.list_store(store)
    checked = [scan.check_pack(p.index) for p in listing.packs] + \
              [scan.check_loose(o) for o in listing.loose]
    assert sorted(o for c in checked for o in c.oids) == sorted(set(oids))
    assert all(c.bad == () and c.damaged is None for c in checked)
    assert sum(c.nbytes for c in checked) >= sum(map(len, blobs))


def test_a_flipped_byte_is_found_in_a_loose_object(store):
    (oid,) = put(store, b"Q" * (PACK_THRESHOLD + 1))
    obj = scan.list_store(store).loose[0]
    flip(obj.path, 1000)
    c = scan.check_loose(obj)
    assert c.bad == (oid,) and c.oids == (oid,)


def test_a_flipped_byte_is_found_in_a_packed_object_and_by_the_trailer(store):
    oids = put(store, b"one", b"two" * 100, b"three")
    pack = scan.list_store(store).packs[0].index
    i = pack.find(bytes.fromhex(oids[1]))
    flip(pack.pack_path, pack.offsets[i] + 7)
    c = scan.check_pack(pack)
    assert c.bad == (oids[1],)
    assert "checksum" in c.damaged
    only = scan.check_pack(pack, {bytes.fromhex(oids[0]), bytes.fromhex(oids[1])})
    assert sorted(only.oids) == sorted(oids[:2]) and only.bad == (oids[1],)


def test_a_damaged_entry_header_is_found_by_the_trailer_alone(store):
    oids = put(store, b"one", b"two")
    pack = scan.list_store(store).packs[0].index
    flip(pack.pack_path, packs.PACK_HEADER.size + 2)  # inside the first entry's oid field
    c = scan.check_pack(pack)
    assert c.bad == () and sorted(c.oids) == sorted(oids)
    assert "checksum mismatch" in c.damaged


def test_a_truncated_or_missing_pack_makes_all_its_objects_bad(store):
    oids = put(store, b"one", b"two")
    pack = scan.list_store(store).packs[0].index
    os.chmod(pack.pack_path, 0o644)
    os.truncate(pack.pack_path, pack.pack_size - 20)
    c = scan.check_pack(pack)
    assert sorted(c.bad) == sorted(oids) and "index says" in c.damaged
    os.unlink(pack.pack_path)
    c = scan.check_pack(pack)
    assert sorted(c.bad) == sorted(oids) and "missing" in c.damaged


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(0, 300), min_size=1, max_size=25),
       block=st.integers(1, 700), seed=st.integers(0, 1 << 30),
       corrupt=st.sets(st.integers(0, 24), max_size=4))
def test_objects_cut_by_block_ends_are_hashed_right(tmp_path_factory, monkeypatch, sizes, block,
                                                    seed, corrupt):
    """The single pass hashes objects that straddle any number of block ends."""
    rng = random.Random(seed)
    d = tmp_path_factory.mktemp("p")
    blobs = {}
    for n in sizes:
        data = rng.randbytes(n)
        blobs[oid_of(data)] = data
    items = list(blobs.items())
    packs.write_pack(str(d / "p.pack"), str(d / "p.idx"), items)
    idx = packs.PackIndex(str(d / "p.idx"))
    want_bad = set()
    for k in corrupt:
        if k < len(items) and items[k][1]:
            oid = items[k][0]
            i = idx.find(bytes.fromhex(oid))
            flip(idx.pack_path, idx.offsets[i] + rng.randrange(idx.lengths[i]))
            want_bad.add(oid)
    monkeypatch.setattr(scan, "BLOCK", block)
    c = scan.check_pack(idx)
    assert set(c.bad) == want_bad
    assert sorted(c.oids) == sorted(blobs)
    assert (c.damaged is None) == (not want_bad)
    assert c.nbytes == idx.pack_size


# -- chunk manifests ---------------------------------------------------------------------------

def chunked_by_hand(store, data: bytes, size: int = 50_000) -> tuple[str, list[str]]:
    """Store ``data`` as chunks of ``size`` bytes (packed) and a manifest written by hand:
    what the store holds for a chunked file, whatever cuts it."""
    from mlver.store.manifest import Manifest

    pieces = [data[i:i + size] for i in range(0, len(data), size)]
    chunks = put(store, *pieces)
    m = Manifest(oid_of(data), len(data), "test", tuple(zip(chunks, map(len, pieces),
                                                            strict=True)))
    path = scan.manifest_path(store, m.oid)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(m.encode())
    return m.oid, chunks


def test_listing_holds_manifests_apart_from_loose_objects(store):
    data = random.Random(1).randbytes(120_000)
    oid, chunks = chunked_by_hand(store, data)
    listing = scan.list_store(store)
    assert [m.oid for m in listing.manifests] == [oid]
    assert listing.manifests[0].path == scan.manifest_path(store, oid)
    assert oid not in {o.oid for o in listing.loose}
    assert listing.bytes == (listing.manifests[0].size
                             + sum(p.size + p.idx_size for p in listing.packs))
    m = scan.load_manifest(store, oid)
    assert m is not None and m.chunk_oids() == chunks
    assert scan.load_manifest(store, chunks[0]) is None  # not chunked


def test_check_manifest_reads_the_chunks_in_order_and_hashes_the_file(store):
    from mlver.base.errors import CorruptObjectError

    data = random.Random(2).randbytes(120_000)
    oid, chunks = chunked_by_hand(store, data)
    mf = scan.list_store(store).manifests[0]
    ok = scan.check_manifest(store, mf)
    assert (ok.oids, ok.bad, ok.nbytes) == ((oid,), (), len(data))
    # A damaged chunk is the chunk's finding (its pack check names it), not the file's,
    # unless strict (gc --rechunk, which must not trust it).
    idx, i = store._find(chunks[1])
    flip(idx.pack_path, idx.offsets[i] + 5)
    assert scan.check_manifest(store, mf).bad == ()
    assert scan.check_manifest(store, mf, strict=True).bad == (oid,)
    with open(mf.path, "wb") as f:
        f.write(b"not a manifest")
    bad = scan.check_manifest(store, mf)
    assert bad.bad == (oid,) and "chunk manifest" in (bad.detail or "")
    with pytest.raises(CorruptObjectError, match="chunk manifest"):
        scan.load_manifest(store, oid)
