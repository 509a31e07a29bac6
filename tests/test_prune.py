"""mlver.store.prune: deleting loose objects and packs, and repacking, crash-safely.

The order of the steps under kill -9 is tested end to end in test_gc.py (a gc killed at
every unlink and rename); here, what each primitive leaves behind.
"""

from __future__ import annotations

import os

import pytest

from mlver.base.errors import CorruptObjectError
from mlver.store import prune, scan
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


def test_remove_loose_unlinks_and_tidies_its_folder(store):
    (oid,) = put(store, b"x" * (PACK_THRESHOLD + 1))
    assert store.has(oid)
    prune.remove_loose(store, oid)
    assert not store.has(oid)
    assert not os.path.exists(os.path.join(store.objects_dir, oid[:2]))
    prune.remove_loose(store, oid)  # already gone: fine


def test_repack_keeps_exactly_what_it_is_told(store):
    blobs = [f"object {i}".encode() * 50 for i in range(20)]
    oids = put(store, *blobs)
    (old,) = scan.list_store(store).packs
    keep = {bytes.fromhex(o) for o in oids[:3]}
    expected = prune.repacked_size(old.index, keep)
    done = prune.repack(store, old.index, keep)
    assert done.objects == 3 and done.corrupt == ()
    (new,) = scan.list_store(store).packs
    assert new.name == done.name != old.name
    assert new.size + new.idx_size == expected  # what a dry run reports is what is written
    assert not os.path.exists(old.index.pack_path) and not os.path.exists(old.index.idx_path)
    for i, oid in enumerate(oids):
        if i < 3:
            assert store.read(oid) == blobs[i]
        else:
            assert not store.has(oid)
    assert os.listdir(store.tmp_dir) == []
    assert scan.check_pack(new.index).bad == ()


def test_repack_to_nothing_removes_the_pack(store):
    oids = put(store, b"a", b"b")
    (old,) = scan.list_store(store).packs
    assert prune.repack(store, old.index, set()).name is None
    assert not any(store.has(o) for o in oids)
    assert os.listdir(store.pack_dir) == []


def test_repack_copies_a_corrupt_object_as_it_is_and_names_it(store):
    oids = put(store, b"good one", b"bad one", b"gone")
    (old,) = scan.list_store(store).packs
    i = old.index.find(bytes.fromhex(oids[1]))
    os.chmod(old.index.pack_path, 0o644)
    with open(old.index.pack_path, "r+b") as f:
        f.seek(old.index.offsets[i])
        f.write(b"B")
    done = prune.repack(store, old.index, {bytes.fromhex(o) for o in oids[:2]})
    assert done.corrupt == (oids[1],)
    with pytest.raises(CorruptObjectError, match=oids[1]):
        store.read(oids[1])  # still there, still named corrupt: never silently dropped
    assert store.read(oids[0]) == b"good one"


def test_remove_pack_goes_index_first(store, monkeypatch):
    put(store, b"a")
    (p,) = scan.list_store(store).packs
    order = []
    real = os.unlink
    monkeypatch.setattr(os, "unlink", lambda path: (order.append(path), real(path))[1])
    prune.remove_pack(store, p.index)
    assert order == [p.index.idx_path, p.index.pack_path]
