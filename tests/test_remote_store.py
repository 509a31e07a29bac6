"""The remote object store (mlver/store/remote.py) and transfer (mlver/store/transfer.py):
layout, compare-and-swap per backend, and a remote treated as untrusted."""

from __future__ import annotations

import os
import threading

import fsspec
import pytest

from mlver.base.errors import CorruptObjectError, RecordFormatError, RemoteError
from mlver.base.hashing import oid_of
from mlver.store import Store
from mlver.store.objects import LocalObjectStore, ObjectStore
from mlver.store.remote import RemoteStore, open_backend, parse_url
from mlver.store.remote_backend import Backend
from mlver.store.remote_folder import LocalBackend
from mlver.store.transfer import transfer


def _remote(tmp_path, locking=None, name="r", cache="cache") -> RemoteStore:
    url = str(tmp_path / name)
    backend = open_backend("r", url, None, locking)
    return RemoteStore("r", url, backend, str(tmp_path / cache), str(tmp_path / "scratch"))


@pytest.fixture
def local(tmp_path) -> LocalObjectStore:
    Store.create(str(tmp_path / "s"))
    return LocalObjectStore(str(tmp_path / "s"))


def _fill(store: LocalObjectStore, n: int = 50, big: int = 2) -> list[str]:
    with store.batch() as b:
        oids = [b.add_bytes(f"object {i}\n".encode() * (i + 1)) for i in range(n)]
        oids += [b.add_bytes(os.urandom(200_000)) for _ in range(big)]
    return oids


def test_a_remote_is_an_object_store_and_a_folder_remote_is_a_store(tmp_path, local):
    r = _remote(tmp_path)
    r.check(create=True)

    def takes(s: ObjectStore) -> ObjectStore:
        return s
    assert takes(r.objects) is r.objects  # type: ignore[arg-type]
    oids = _fill(local)
    res = transfer(local, r.objects, oids)
    assert res.objects == len(oids) and res.present == 0
    # the folder is itself a valid store: a local store opened on it holds every object
    again = LocalObjectStore(str(tmp_path / "r"))
    assert all(again.read(o) for o in oids)
    assert sorted(again.iter_oids()) == sorted(oids) == list(r.objects.iter_oids())
    assert transfer(local, r.objects, oids).objects == 0  # nothing twice


def test_pull_side_verifies_every_object(tmp_path, local):
    r = _remote(tmp_path)
    r.check(create=True)
    oids = _fill(local, big=1)
    transfer(local, r.objects, oids)
    loose = [o for o in oids if (tmp_path / "r" / "objects" / o[:2] / o[2:]).exists()]
    p = tmp_path / "r" / "objects" / loose[0][:2] / loose[0][2:]
    os.chmod(p, 0o644)
    data = bytearray(p.read_bytes())
    data[100] ^= 1
    p.write_bytes(bytes(data))
    Store.create(str(tmp_path / "t"))
    dst = LocalObjectStore(str(tmp_path / "t"))
    fresh = _remote(tmp_path)
    with pytest.raises(CorruptObjectError, match="is corrupt"):
        transfer(fresh.objects, dst, oids)
    assert not dst.has(loose[0])
    assert os.listdir(tmp_path / "t" / "tmp") == [] or all(
        not f.endswith(".dl") for f in os.listdir(tmp_path / "t" / "tmp"))


def test_a_damaged_remote_index_is_refused_by_name(tmp_path, local):
    r = _remote(tmp_path)
    r.check(create=True)
    transfer(local, r.objects, _fill(local, big=0))
    idx = next((tmp_path / "r" / "objects" / "pack").glob("*.idx"))
    os.chmod(idx, 0o644)
    idx.write_bytes(idx.read_bytes()[:-3] + b"xyz")
    with pytest.raises(CorruptObjectError, match="pack index objects/pack/pack-.*damaged"):
        _remote(tmp_path, cache="fresh-cache").objects.refresh()


def test_a_ref_that_is_not_an_oid_is_refused(tmp_path):
    r = _remote(tmp_path)
    r.check(create=True)
    (tmp_path / "r" / "refs" / "names" / "m").write_text("../../etc/passwd\n")
    with pytest.raises(RecordFormatError, match="does not hold an oid"):
        r.refs.get("m")


def test_a_newer_remote_format_is_refused(tmp_path):
    r = _remote(tmp_path)
    r.check(create=True)
    (tmp_path / "r" / "config.json").write_text('{"format": 99, "hash": "xxh3-128"}')
    with pytest.raises(RemoteError, match="newer than this mlver reads"):
        _remote(tmp_path).check()


@pytest.mark.parametrize("locking", [None, "lease"])
def test_compare_and_swap_of_refs(tmp_path, locking):
    r = _remote(tmp_path, locking)
    r.check(create=True)
    assert isinstance(r.backend, LocalBackend if locking is None else Backend)
    a, b = oid_of(b"a"), oid_of(b"b")
    old, token = r.refs.read("m")
    assert old is None
    assert r.refs.update("m", a, token)
    assert not r.refs.update("m", b, token)  # created meanwhile: not absent any more
    cur, token = r.refs.read("m")
    assert cur == a and r.refs.update("m", b, token)
    assert not r.refs.update("m", a, token if locking == "lease" else (a + "\n").encode())
    assert r.refs.get("m") == b


def test_racing_writers_only_one_wins(tmp_path):
    r = _remote(tmp_path)
    r.check(create=True)
    token = r.refs.read("m")[1]
    wins = []

    def go(i):
        if r.refs.update("m", oid_of(str(i).encode()), token):
            wins.append(i)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_a_lease_held_by_a_dead_writer_is_broken(tmp_path, monkeypatch):
    import json
    import time

    r = _remote(tmp_path, "lease")
    r.check(create=True)
    lock = tmp_path / "r" / "refs" / "names" / "m.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps({"holder": "gone", "expires": time.time() - 1}))
    assert r.refs.update("m", oid_of(b"x"), None)
    assert not lock.exists()


def test_urls(tmp_path):
    assert parse_url("s3://bucket/a/b/") == ("s3", "bucket/a/b")
    assert parse_url(str(tmp_path)) == ("file", str(tmp_path))
    with pytest.raises(RemoteError, match="holds credentials"):
        parse_url("s3://key:secret@bucket/p")
    with pytest.raises(RemoteError, match="names no bucket"):
        parse_url("s3://")
    with pytest.raises(RemoteError, match="pip install"):
        open_backend("x", "nosuchproto://bucket/p")


def test_generic_fsspec_backend_round_trip(tmp_path, local):
    """The code path of gs://, az:// and any other fsspec protocol, on a local folder."""
    url = str(tmp_path / "g")
    backend = Backend(fsspec.filesystem("file", auto_mkdir=True), url, url, "remote 'g'")
    r = RemoteStore("g", url, backend, str(tmp_path / "c2"), str(tmp_path / "s2"))
    r.check(create=True)
    oids = _fill(local)
    transfer(local, r.objects, oids)
    Store.create(str(tmp_path / "u"))
    dst = LocalObjectStore(str(tmp_path / "u"))
    back = RemoteStore("g", url, Backend(fsspec.filesystem("file", auto_mkdir=True), url, url, "g"),
                       str(tmp_path / "c3"), str(tmp_path / "s3"))
    assert transfer(back.objects, dst, oids).objects == len(oids)
    assert all(dst.read(o) == local.read(o) for o in oids)


def test_a_remote_index_pointing_outside_its_pack_is_refused_and_not_cached(tmp_path, local):
    """Opening an index no longer checks every entry's bounds (reads check their own):
    a remote's index is still checked whole before it is cached, so the error names the
    remote's copy, and no damaged copy stays in the cache to fail every later command."""
    import struct

    from mlver.store import packs

    r = _remote(tmp_path)
    r.check(create=True)
    transfer(local, r.objects, _fill(local, big=0))
    idx = next((tmp_path / "r" / "objects" / "pack").glob("*.idx"))
    os.chmod(idx, 0o644)
    data = bytearray(idx.read_bytes())
    count = struct.unpack_from("<I", data, 12)[0]
    struct.pack_into("<Q", data, packs.IDX_HEADER.size + 16 * count, 1 << 40)
    data[-packs.TRAILER:] = packs._digest(data[:-packs.TRAILER])
    idx.write_bytes(bytes(data))
    for _ in range(2):  # the second time too: nothing damaged was kept
        with pytest.raises(CorruptObjectError, match="objects/pack/pack-.*damaged \\(an index "
                                                     "entry points outside its pack\\); the "
                                                     "remote's copy is damaged"):
            _remote(tmp_path, cache="fresh-cache").objects.refresh()
    assert not list((tmp_path / "fresh-cache").rglob("*.idx"))
