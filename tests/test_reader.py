"""The one reader of the layout (mlver/store/reader.py): the local store and a remote answer
where an object is, presence, sizes and manifests through the same code, each over its
medium; a byte range of a chunked file is cut from its chunks the same way on both."""

from __future__ import annotations

import os
import threading
from collections.abc import Collection
from pathlib import Path

import pytest

from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import oid_of
from mlver.store import Store, layout
from mlver.store import manifest as manifestmod
from mlver.store import packs as packmod
from mlver.store.manifest import Manifest
from mlver.store.objects import LocalObjectStore
from mlver.store.reader import LayoutReader, chunk_range, chunk_span
from mlver.store.remote import RemoteStore, open_backend
from mlver.store.remote_listing import RemoteListing
from mlver.store.transfer import transfer

ABSENT = "0" * 32


def _stores(tmp_path: Path) -> tuple[LocalObjectStore, RemoteListing, dict[str, bytes], str]:
    """A local store with a packed, a loose and a chunked object, pushed to a folder remote."""
    Store.create(str(tmp_path / "a"))
    local = LocalObjectStore(str(tmp_path / "a"))
    blobs = {}
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(5 << 20))  # over the chunking threshold
    with local.batch() as b:
        for data in (b"small", os.urandom(200_000)):
            blobs[b.add_bytes(data)] = data
        chunked, _n = b.add_file(str(big))
    blobs[chunked] = big.read_bytes()
    url = str(tmp_path / "remote")
    r = RemoteStore("origin", url, open_backend("origin", url), str(tmp_path / "c"),
                    str(tmp_path / "s"))
    r.check(create=True)
    transfer(local, r.objects, list(blobs))
    return local, r.objects, blobs, chunked


def test_the_local_store_and_a_remote_are_one_reader_over_two_media(tmp_path):
    local, remote, _blobs, _chunked = _stores(tmp_path)
    assert isinstance(local, LayoutReader) and isinstance(remote, LayoutReader)
    for name in ("find_packed", "stored_size", "has", "size", "manifest", "missing",
                 "iter_oids", "_chunk_fault"):
        assert getattr(type(local), name) is getattr(LayoutReader, name) \
            or name == "size"  # the local store checks the oid first, then the layout's
        assert getattr(type(remote), name) is getattr(LayoutReader, name)


def test_both_answer_presence_sizes_and_manifests_alike(tmp_path):
    local, remote, blobs, chunked = _stores(tmp_path)
    for store in (local, remote):
        for oid, data in blobs.items():
            assert store.has(oid) and store.size(oid) == len(data)
        assert not store.has(ABSENT) and store.size(ABSENT) is None
        assert not store.has("not an oid")
        m = store.manifest(chunked)
        assert m is not None and m.size == len(blobs[chunked])
        assert all(store.manifest(o) is None for o in blobs if o != chunked)
        assert set(blobs) <= set(store.iter_oids())
        assert store.missing([*blobs, ABSENT]) == [ABSENT]
    assert list(local.iter_oids()) == list(remote.iter_oids())
    # the bulk path (one listing of everything) answers as the lookups do
    many = [f"{i:032x}" for i in range(2500)]
    assert local.missing([*blobs, *many]) == remote.missing([*blobs, *many]) == many


def test_a_chunked_file_lacking_a_chunk_is_missing_locally_named_on_the_remote(tmp_path):
    local, remote, blobs, chunked = _stores(tmp_path)
    for p in local.packs():  # the chunks' pack is lost
        os.unlink(os.path.join(local.pack_dir, p + ".pack"))
        os.unlink(os.path.join(local.pack_dir, p + ".idx"))
    assert chunked in local.missing([chunked])  # checks_chunks: a pull brings them
    assert chunked in local.missing(list(blobs) + [f"{i:032x}" for i in range(2500)])
    # a remote trusts its listing (a manifest is published after its chunks)
    assert remote.missing([chunked]) == []


def test_a_range_of_a_chunked_file_is_cut_alike_on_both(tmp_path):
    local, remote, blobs, chunked = _stores(tmp_path)
    data = blobs[chunked]
    m = local.manifest(chunked)
    assert m is not None and len(m.chunks) > 2
    edge = m.offsets[1]
    for offset, length in ((0, 10), (edge - 5, 10), (len(data) - 3, 100), (len(data), 5),
                           (edge, m.chunks[1][1])):
        want = data[offset:offset + length]
        assert local.read_range(chunked, offset, length) == want
        assert remote.read_range(chunked, offset, length) == want


def test_chunk_range_takes_only_the_covering_chunks_and_falls_back_for_a_bad_one():
    parts = [b"aaaa", b"bbb", b"cc", b"d"]
    whole = b"".join(parts)
    m = Manifest(oid_of(whole), len(whole), "test",
                 tuple((oid_of(p), len(p)) for p in parts))
    asked: list[range] = []

    def fetch(todo: range) -> dict[int, bytes | None]:
        asked.append(todo)
        return {j: (None if j == 2 else parts[j]) for j in todo}

    assert chunk_range(m, 3, 5, fetch, lambda j: parts[j]) == whole[3:8]
    assert asked == [range(0, 3)] and chunk_span(m, 3, 8) == range(0, 3)
    assert chunk_range(m, 7, 100, fetch, lambda j: parts[j]) == whole[7:]
    assert chunk_range(m, len(whole), 4, fetch, lambda j: b"") == b""

    def refuse(j: int) -> bytes:
        raise CorruptObjectError(f"chunk {j}")

    with pytest.raises(CorruptObjectError, match="chunk 2"):
        chunk_range(m, 0, len(whole), fetch, refuse)


class _Memory(LayoutReader):
    """The smallest medium: packs on disk, loose objects and manifests in dicts."""

    def __init__(self, packs: tuple[packmod.PackIndex, ...], loose: dict[str, bytes],
                 manifests: dict[str, bytes]) -> None:
        self._lock = threading.RLock()
        self._decoded = manifestmod.ManifestCache()
        self._all = packs
        self.loose, self.manifests = loose, manifests
        self.lists = 0

    def _list(self) -> None:
        self.lists += 1
        self._indexes, self._listed = self._all, True

    def _relisted(self) -> bool:
        return False

    def _fresh_indexes(self) -> tuple[packmod.PackIndex, ...]:
        return self._all

    def _loose_size(self, oid: str) -> int | None:
        got = self.loose.get(oid)
        return None if got is None else len(got)

    def _manifest_listed(self, oid: str) -> bool:
        return oid in self.manifests

    def _manifest_bytes(self, oid: str) -> bytes | None:
        return self.manifests.get(oid)

    def _listing(self) -> tuple[Collection[str], Collection[str]]:
        return self.loose, self.manifests


def test_any_medium_gets_the_layout_rules(tmp_path):
    packed = [b"one", b"two"]
    pack, idx = str(tmp_path / "p.pack"), str(tmp_path / "p.idx")
    packmod.write_pack(pack, idx, [(oid_of(d), d) for d in packed])
    loose = os.urandom(300)
    whole = packed[0] + packed[1]
    m = Manifest(oid_of(whole), len(whole), "test", tuple((oid_of(d), len(d)) for d in packed))
    r = _Memory((packmod.PackIndex(idx),), {oid_of(loose): loose}, {m.oid: m.encode()})
    assert r.find_packed(oid_of(b"two")) is not None and r.lists == 1
    assert r.size(oid_of(b"one")) == 3 and r.size(oid_of(loose)) == 300 and r.size(m.oid) == 6
    assert r.has(m.oid) and not r.has(ABSENT)
    assert r.manifest(m.oid) == m and r.manifest(m.oid) is r.manifest(m.oid)  # cached
    assert list(r.iter_oids()) == sorted({oid_of(b"one"), oid_of(b"two"), oid_of(loose), m.oid})
    assert r.missing([m.oid, ABSENT]) == [ABSENT]
    r.manifests[ABSENT] = b"{not a manifest"
    with pytest.raises(CorruptObjectError):
        r.manifest(ABSENT)
    assert r.size(ABSENT) is None  # size_raises_damage is the remote's policy
    assert layout.manifest_rel(m.oid).endswith(manifestmod.SUFFIX)
