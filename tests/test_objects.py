"""mlver.store.objects: immutable objects, small ones packed, large ones loose at
objects/ab/<30 hex>, staged in tmp/. The pack format itself: test_packs.py."""

from __future__ import annotations

import os
import stat

import pytest

from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import oid_of
from mlver.store import objects as objmod
from mlver.store.objects import LocalObjectStore, ObjectStore


@pytest.fixture
def store(tmp_path) -> LocalObjectStore:
    d = tmp_path / ".mlver"
    (d / "objects").mkdir(parents=True)
    return LocalObjectStore(str(d))


BIG = objmod.PACK_THRESHOLD + 1  # the smallest object stored loose


def big(tag: bytes) -> bytes:
    return (tag * (BIG // len(tag) + 1))[:BIG]


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_local_store_is_an_object_store(store):
    def takes(s: ObjectStore) -> ObjectStore:
        return s
    assert takes(store) is store
    assert not hasattr(store, "path")  # nothing outside store/ builds an object's path


def test_loose_layout(store):
    data = big(b"layout")
    with store.batch() as b:
        oid = b.add_bytes(data)
    p = store.local_file(oid)
    assert p == os.path.join(store.objects_dir, oid[:2], oid[2:])
    assert len(os.path.basename(p)) == 30
    assert store.size(oid) == BIG


def test_add_bytes_commit_publishes_a_readonly_pack(store):
    with store.batch() as b:
        oid = b.add_bytes(b"hello")
        assert oid == oid_of(b"hello")
        # Only a complete, committed object carries its final name.
        assert not store.has(oid)
        assert b.has(oid)
        assert len(os.listdir(store.tmp_dir)) == 1  # the batch's pack, being written
    assert store.has(oid)
    assert store.local_file(oid) is None and store.size(oid) == 5
    (name,) = store.packs()
    for ext in (".pack", ".idx"):
        assert _mode(os.path.join(store.objects_dir, "pack", name + ext)) == 0o444
    assert store.read(oid) == b"hello"
    assert store.open(oid).read() == b"hello"
    assert os.listdir(store.tmp_dir) == []


def test_add_bytes_large_is_loose_and_readonly(store):
    data = big(b"large")
    with store.batch() as b:
        oid = b.add_bytes(data)
        assert len(os.listdir(store.tmp_dir)) == 1
    assert _mode(store.local_file(oid)) == 0o444
    assert store.packs() == []
    assert store.read(oid) == data
    with store.open(oid) as f:
        assert f.read() == data


def test_same_bytes_twice_in_a_batch_is_staged_once(store):
    b = store.batch()
    o1 = b.add_bytes(b"same")
    o2 = b.add_bytes(b"same")
    assert o1 == o2
    assert len(b) == 1
    assert len(os.listdir(store.tmp_dir)) == 1
    b.commit()
    assert list(store.iter_oids()) == [o1]


@pytest.mark.parametrize("data", [b"keep me", big(b"keep me")])
def test_existing_object_is_never_rewritten(store, data):
    def listing():
        out = {}
        for d, _dirs, files in os.walk(store.objects_dir):
            for f in files:
                st = os.stat(os.path.join(d, f))
                out[os.path.join(d, f)] = (st.st_ino, st.st_mtime_ns)
        return out

    with store.batch() as b:
        oid = b.add_bytes(data)
    before = listing()
    with store.batch() as b:
        assert b.add_bytes(data) == oid
        assert os.listdir(store.tmp_dir) == []  # nothing staged for an existing object
    assert listing() == before


def test_abort_drops_staged_objects(store):
    b = store.batch()
    oid = b.add_bytes(b"never published")
    b.abort()
    assert not store.has(oid)
    assert os.listdir(store.tmp_dir) == []


def test_exception_in_batch_context_aborts(store):
    with pytest.raises(RuntimeError):
        with store.batch() as b:
            oid = b.add_bytes(b"half done")
            raise RuntimeError("boom")
    assert not store.has(oid)
    assert os.listdir(store.tmp_dir) == []
    assert list(store.iter_oids()) == []


def test_add_file_small(store, tmp_path):
    f = tmp_path / "small.csv"
    f.write_bytes(b"a,b\n1,2\n")
    with store.batch() as b:
        oid, size = b.add_file(str(f))
    assert (oid, size) == (oid_of(b"a,b\n1,2\n"), 8)
    assert store.read(oid) == b"a,b\n1,2\n"
    assert store.local_file(oid) is None  # packed


def test_add_file_large_streams_and_dedupes(store, tmp_path, monkeypatch):
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 1 << 40)  # stored whole
    data = os.urandom(1024) * ((8 << 20) // 1024 + 3)  # several read chunks: streamed
    assert len(data) > objmod.PACK_THRESHOLD
    f = tmp_path / "large.bin"
    f.write_bytes(data)
    with store.batch() as b:
        oid, size = b.add_file(str(f))
        # The same large content again: its second tmp copy is dropped at once.
        assert b.add_file(str(f)) == (oid, size)
        assert len(os.listdir(store.tmp_dir)) == 1
    assert (oid, size) == (oid_of(data), len(data))
    assert store.verify_file(oid)
    assert _mode(store.local_file(oid)) == 0o444
    assert os.listdir(store.tmp_dir) == []
    # Already stored: streaming it again stages nothing.
    with store.batch() as b:
        assert b.add_file(str(f)) == (oid, size)
    assert os.listdir(store.tmp_dir) == []


def test_read_detects_corruption(store):
    original = big(b"original")
    with store.batch() as b:
        oid = b.add_bytes(original)
    p = store.local_file(oid)
    os.chmod(p, 0o644)
    with open(p, "wb") as f:
        f.write(b"tampered")
    with pytest.raises(CorruptObjectError, match=oid):
        store.read(oid)
    assert store.read(oid, verify=False) == b"tampered"
    assert store.verify_file(oid) is False


def test_read_missing_and_bad_oid(store):
    missing = oid_of(b"not stored")
    with pytest.raises(CorruptObjectError, match="missing"):
        store.read(missing)
    with pytest.raises(CorruptObjectError, match="missing"):
        store.open(missing)
    assert store.verify_file(missing) is False
    assert store.size(missing) is None and store.local_file(missing) is None
    assert not store.has(missing)
    with pytest.raises(CorruptObjectError, match="not an object id"):
        store.read("../../etc/passwd")


def test_iter_oids_lists_every_object_sorted(store):
    with store.batch() as b:
        oids = {b.add_bytes(str(i).encode()) for i in range(20)}
        oids |= {b.add_bytes(big(str(i).encode())) for i in range(3)}
    with store.batch() as b:
        oids |= {b.add_bytes(str(i).encode()) for i in range(15, 30)}  # overlaps: once each
    assert list(store.iter_oids()) == sorted(oids)
    # Stray files that are not objects are ignored.
    (open(os.path.join(store.objects_dir, "README"), "w")).close()
    assert list(store.iter_oids()) == sorted(oids)


@pytest.mark.parametrize("data", [b"raced", big(b"raced")])
def test_commit_keeps_an_object_written_meanwhile(store, data):
    b1, b2 = store.batch(), store.batch()
    o1 = b1.add_bytes(data)
    o2 = b2.add_bytes(data)
    b1.commit()
    loose = store.local_file(o1)
    ino = os.stat(loose).st_ino if loose else None
    b2.commit()  # another process won: keep theirs (a pack may hold it twice: harmless)
    assert o1 == o2
    if loose:
        assert os.stat(store.local_file(o1)).st_ino == ino
    assert store.read(o1) == data
    assert list(store.iter_oids()) == [o1]
    assert os.listdir(store.tmp_dir) == []


def test_batch_is_thread_safe(store):
    from concurrent.futures import ThreadPoolExecutor

    blobs = [str(i % 300).encode() * (1 + i % 7) for i in range(2000)]
    with store.batch() as b:
        with ThreadPoolExecutor(8) as pool:
            oids = list(pool.map(b.add_bytes, blobs))
        assert len(b) == len(set(blobs))
    assert oids == [oid_of(x) for x in blobs]
    for oid, data in zip(oids, blobs):
        assert store.read(oid) == data
    assert len(store.packs()) == 1


def test_add_file_large_without_a_kernel_copy(store, tmp_path, monkeypatch):
    """Where copy_file_range is missing, the large file is read and written in chunks."""
    monkeypatch.delattr(os, "copy_file_range", raising=False)
    data = os.urandom(3 << 20)
    f = tmp_path / "large.bin"
    f.write_bytes(data)
    with store.batch() as b:
        assert b.add_file(str(f)) == (oid_of(data), len(data))
    assert store.read(oid_of(data)) == data
