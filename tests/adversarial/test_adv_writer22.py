"""Adversarial: the shared layout writer (issue 22, mlver.store.writer) on a remote whose
copy of a chunked file is incomplete or lies.

A remote's batch trusts its listing: a file listed there is not sent again. For a chunked
file the listing names its manifest only, so a lost pack of chunks, or a manifest that
lies, made every later send of the file a no-op and the remote's copy stayed unreadable.
"""

from __future__ import annotations

import os
import random

import pytest

from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import oid_of
from mlver.store import layout
from mlver.store.manifest import Manifest
from mlver.store.remote import RemoteStore, open_backend

DATA = random.Random(22).randbytes(1 << 20)
OTHER = random.Random(23).randbytes(1 << 20)


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch):
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 256 << 10)


class Folder:
    """A folder remote, opened afresh (empty caches) at each :meth:`open`."""

    def __init__(self, tmp_path) -> None:
        self.tmp = tmp_path
        self.url = str(tmp_path / "remote")
        self.n = 0
        self.open().check(create=True)

    def open(self) -> RemoteStore:
        self.n += 1
        return RemoteStore("origin", self.url, open_backend("origin", self.url),
                           str(self.tmp / f"cache-{self.n}"), str(self.tmp / f"scratch-{self.n}"))

    def path(self, rel: str) -> str:
        return os.path.join(self.url, rel)


def _file(tmp_path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def _sent(remote: Folder, path: str) -> str:
    with remote.open().objects.batch() as b:
        oid, _n = b.add_file(path)
    return oid


def _drop_packs(remote: Folder) -> None:
    pack_dir = remote.path("objects/pack")
    for name in os.listdir(pack_dir):
        os.unlink(os.path.join(pack_dir, name))


def test_a_big_file_listed_on_the_remote_whose_chunks_are_gone_is_sent_again(tmp_path):
    remote = Folder(tmp_path)
    path = _file(tmp_path, "big.bin", DATA)
    oid = _sent(remote, path)
    _drop_packs(remote)  # a lost pack: the manifest stays listed
    assert remote.open().objects.has(oid)
    assert _sent(remote, path) == oid  # add_file: cut again, the lacking chunks sent
    assert remote.open().objects.read(oid) == DATA
    _drop_packs(remote)
    with remote.open().objects.batch() as b:  # add_bytes, likewise
        assert b.add_bytes(DATA) == oid
    assert remote.open().objects.read(oid) == DATA


def test_a_manifest_that_lies_on_the_remote_is_replaced_by_a_true_one(tmp_path):
    remote = Folder(tmp_path)
    oid = _sent(remote, _file(tmp_path, "big.bin", DATA))
    other = _sent(remote, _file(tmp_path, "other.bin", OTHER))
    objects = remote.open().objects
    true, lie = objects.manifest(oid), objects.manifest(other)
    assert true is not None and lie is not None and lie.size == true.size
    rel = layout.manifest_rel(oid)
    os.chmod(remote.path(rel), 0o644)
    with open(remote.path(rel), "wb") as f:  # canonical, every chunk present: only the
        f.write(Manifest(oid, true.size, true.chunker, lie.chunks).encode())  # hash tells
    with pytest.raises(CorruptObjectError, match="damaged or crafted"):
        remote.open().objects.read(oid)
    with remote.open().objects.batch() as b:  # a push of the true manifest (all chunks there)
        b.add_manifest(true)
    assert remote.open().objects.manifest(oid) == true
    assert remote.open().objects.read(oid) == DATA
    assert oid_of(DATA) == oid
