"""mlver.store.objects: immutable, read-only objects at objects/ab/<30 hex>, staged in tmp/."""

from __future__ import annotations

import os
import stat

import pytest

from mlver.errors import CorruptObjectError
from mlver.hashing import oid_of
from mlver.store import objects as objmod
from mlver.store.objects import ObjectStore


@pytest.fixture
def store(tmp_path) -> ObjectStore:
    d = tmp_path / ".mlver"
    (d / "objects").mkdir(parents=True)
    return ObjectStore(str(d))


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_path_layout(store):
    oid = "99aa06d3014798d86001c324468d497f"
    assert store.path(oid) == os.path.join(store.objects_dir, "99", "aa06d3014798d86001c324468d497f")


def test_add_bytes_commit_publishes_readonly_object(store):
    with store.batch() as b:
        oid = b.add_bytes(b"hello")
        assert oid == oid_of(b"hello")
        # Only a complete, committed object carries its final name.
        assert not store.has(oid)
        assert b.has(oid)
        assert len(os.listdir(store.tmp_dir)) == 1
    assert store.has(oid)
    p = store.path(oid)
    assert os.path.basename(os.path.dirname(p)) == oid[:2] and os.path.basename(p) == oid[2:]
    assert len(os.path.basename(p)) == 30
    assert _mode(p) == 0o444
    assert store.read(oid) == b"hello"
    assert os.listdir(store.tmp_dir) == []


def test_same_bytes_twice_in_a_batch_is_staged_once(store):
    b = store.batch()
    o1 = b.add_bytes(b"same")
    o2 = b.add_bytes(b"same")
    assert o1 == o2
    assert len(b) == 1
    assert len(os.listdir(store.tmp_dir)) == 1
    b.commit()
    assert list(store.iter_oids()) == [o1]


def test_existing_object_is_never_rewritten(store):
    with store.batch() as b:
        oid = b.add_bytes(b"keep me")
    before = os.stat(store.path(oid))
    with store.batch() as b:
        assert b.add_bytes(b"keep me") == oid
        assert os.listdir(store.tmp_dir) == []  # nothing staged for an existing object
    after = os.stat(store.path(oid))
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


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
    assert _mode(store.path(oid)) == 0o444


def test_add_file_large_streams_and_dedupes(store, tmp_path):
    data = os.urandom(1024) * ((objmod.SMALL_FILE // 1024) + 3)  # above SMALL_FILE: streamed
    assert len(data) > objmod.SMALL_FILE
    f = tmp_path / "large.bin"
    f.write_bytes(data)
    with store.batch() as b:
        oid, size = b.add_file(str(f))
        # The same large content again: its second tmp copy is dropped at once.
        assert b.add_file(str(f)) == (oid, size)
        assert len(os.listdir(store.tmp_dir)) == 1
    assert (oid, size) == (oid_of(data), len(data))
    assert store.verify_file(oid)
    assert _mode(store.path(oid)) == 0o444
    assert os.listdir(store.tmp_dir) == []
    # Already stored: streaming it again stages nothing.
    with store.batch() as b:
        assert b.add_file(str(f)) == (oid, size)
    assert os.listdir(store.tmp_dir) == []


def test_read_detects_corruption(store):
    with store.batch() as b:
        oid = b.add_bytes(b"original")
    p = store.path(oid)
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
    assert store.verify_file(missing) is False
    with pytest.raises(CorruptObjectError, match="not an object id"):
        store.read("../../etc/passwd")


def test_iter_oids_lists_every_object_sorted(store):
    with store.batch() as b:
        oids = {b.add_bytes(str(i).encode()) for i in range(20)}
    assert list(store.iter_oids()) == sorted(oids)
    # Stray files that are not objects are ignored.
    (open(os.path.join(store.objects_dir, "README"), "w")).close()
    assert list(store.iter_oids()) == sorted(oids)


def test_commit_keeps_an_object_written_meanwhile(store):
    b1, b2 = store.batch(), store.batch()
    o1 = b1.add_bytes(b"raced")
    o2 = b2.add_bytes(b"raced")
    b1.commit()
    ino = os.stat(store.path(o1)).st_ino
    b2.commit()  # another process won: keep theirs
    assert o1 == o2
    assert os.stat(store.path(o1)).st_ino == ino
    assert store.read(o1) == b"raced"
    assert os.listdir(store.tmp_dir) == []
