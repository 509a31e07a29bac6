"""The layout's writing rules (mlver.store.writer), over a medium kept in memory: where an
object goes, dedupe, refusals, the manifest rule, pack rollover and the order things go out.
The two real media (the local store's Batch, a remote's RemoteBatch) are tested through
their own test files and tests/test_transfer.py."""

from __future__ import annotations

import os
import random

import pytest

from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import oid_of
from mlver.store import chunker
from mlver.store import packs as packmod
from mlver.store.manifest import Manifest
from mlver.store.packs import PACK_THRESHOLD
from mlver.store.writer import CHUNKED, PACKED, LayoutWriter, placement


class Memory(LayoutWriter):
    """A medium that records what goes out, in order."""

    def __init__(self, tmp: str, held: set[str] | None = None, target: int | None = None
                 ) -> None:
        super().__init__()
        self.tmp = tmp
        self.held = held or set()
        self.pack_target = target
        # ("pack", its oids), ("loose", oid), ("manifest", oid), in the order they go out
        self.out: list[tuple[str, object]] = []

    def _at_destination(self, oid: str) -> bool:
        return oid in self.held

    def _chunk_present(self, oid: str, refresh: bool) -> bool:
        return oid in self.held

    def _pack_base(self, name: str) -> str:
        return os.path.join(self.tmp, name)

    def _pack_closed(self, pack: packmod.PackWriter, name: str) -> None:
        pack.finish()
        index = packmod.PackIndex(pack.idx_path)
        keys = index.keys  # a list of 16-byte keys
        self.out.append(("pack", sorted(k.hex() for k in keys)))

    def _stage_loose(self, oid: str, data: bytes) -> None:
        self.out.append(("loose", oid))

    def _refused(self, what: str, expect: str, oid: str) -> CorruptObjectError:
        return CorruptObjectError(f"{what} {expect} refused ({oid})")

    def _chunkless(self, coid: str, m: Manifest) -> CorruptObjectError:
        return CorruptObjectError(f"chunk {coid} of {m.oid} is nowhere")

    def commit(self) -> None:
        self._close_pack()
        self.out += [("manifest", m.oid) for m in self._take_manifests()]


def test_placement_follows_the_thresholds(monkeypatch):
    assert placement(0) == placement(PACK_THRESHOLD) == "pack"
    assert placement(PACK_THRESHOLD + 1) == "loose"
    assert placement(chunker.CHUNK_THRESHOLD) == "chunks"
    monkeypatch.setattr(chunker, "CHUNK_THRESHOLD", PACK_THRESHOLD + 2)  # read at each call
    assert placement(PACK_THRESHOLD + 2) == "chunks"


def test_small_objects_are_packed_once_large_ones_loose(tmp_path):
    w = Memory(str(tmp_path))
    small, large = b"small", os.urandom(PACK_THRESHOLD + 1)
    assert w.add_bytes(small) == w.add_bytes(small) == oid_of(small)
    w.add_bytes(large)
    w.add_bytes(large)
    assert w._staged[oid_of(small)] == PACKED
    w.commit()
    assert w.out == [("loose", oid_of(large)), ("pack", [oid_of(small)])]


def test_what_the_destination_holds_is_not_written(tmp_path):
    w = Memory(str(tmp_path), held={oid_of(b"there")})
    w.add_bytes(b"there")
    assert w.has(oid_of(b"there")) and not w.has(oid_of(b"elsewhere"))
    assert not w._staged
    w.commit()
    assert w.out == []


def test_bytes_that_do_not_hash_to_expect_are_refused(tmp_path):
    w = Memory(str(tmp_path))
    with pytest.raises(CorruptObjectError, match="object .* refused"):
        w.add_bytes(b"bytes", expect=oid_of(b"other"))
    with pytest.raises(CorruptObjectError, match="chunk .* refused"):
        w._add_chunk(b"bytes", expect=oid_of(b"other"))
    assert not w._staged


def test_a_big_file_is_cut_its_manifest_out_after_its_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(chunker, "CHUNK_THRESHOLD", 256 << 10)
    data = random.Random(1).randbytes(1 << 20)
    w = Memory(str(tmp_path))
    oid = w.add_bytes(data)
    assert oid == oid_of(data) and w._staged[oid] == CHUNKED
    m = w._manifests[oid]
    assert b"".join(data[o:o + n] for o, (_c, n) in zip(m.offsets, m.chunks, strict=True)) == data
    w.commit()
    (kind, packed), last = w.out
    assert kind == "pack" and set(packed) == set(m.chunk_oids()) and last == ("manifest", oid)


def test_a_manifest_is_accepted_only_when_every_chunk_is_there_or_staged(tmp_path):
    a, b = b"chunk a", b"chunk b"
    m = Manifest(oid_of(a + b), len(a + b), chunker.CHUNKER_ID,
                 ((oid_of(a), len(a)), (oid_of(b), len(b))))
    w = Memory(str(tmp_path), held={oid_of(a)})
    with pytest.raises(CorruptObjectError, match=f"chunk {oid_of(b)} of {m.oid} is nowhere"):
        w._add_manifest(m)
    assert w._add_chunk(b, oid_of(b)) == (oid_of(b), True)
    assert w._add_chunk(a, oid_of(a)) == (oid_of(a), False)  # held there: not written
    assert w._add_manifest(m) and not w._add_manifest(m)  # staged once
    w.commit()
    assert w.out == [("pack", [oid_of(b)]), ("manifest", m.oid)]


def test_a_full_pack_goes_out_and_a_new_one_opens(tmp_path):
    w = Memory(str(tmp_path), target=3000)
    blobs = [os.urandom(1000) for _ in range(7)]
    for d in blobs:
        w.add_bytes(d)
    w.commit()
    assert [k for k, _ in w.out] == ["pack", "pack", "pack"]
    assert sorted(o for _k, oids in w.out for o in oids) == sorted(oid_of(d) for d in blobs)  # type: ignore[attr-defined]
