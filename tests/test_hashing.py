"""mlver.base.hashing: an oid is XXH3-128 as 32 lowercase hex, equal to ``xxhsum -H2 FILE``."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from mlver.base import hashing
from mlver.base.hashing import HASH_NAME, Hasher, hash_file, is_oid, oid_of

# Known XXH3-128 vectors (checked against `xxhsum -H2` 0.8.1).
VECTORS = [
    (b"", "99aa06d3014798d86001c324468d497f"),
    (b"a", "a96faf705af16834e6c632b61e964e1f"),
    (b"abc", "06b05ab6733a618578af5f94892f3950"),
    (b"hello world\n", "eefac9d87100cd1336b2e733a5484425"),
    (bytes(range(256)) * 4, "83885e853bb6640ca870f92984398d22"),
    (b"x" * (1 << 20) + b"y", "d944ef2a6353ca3e046de5a20855884d"),  # > one CHUNK
]


def test_hash_name_is_xxh3_128():
    assert HASH_NAME == "xxh3-128"


@pytest.mark.parametrize("data,expected", VECTORS, ids=[str(len(d)) for d, _ in VECTORS])
def test_oid_of_known_vectors(data, expected):
    assert oid_of(data) == expected
    # The reference implementation agrees (the vectors are not made up).
    assert xxhash.xxh3_128_hexdigest(data) == expected


@pytest.mark.parametrize("data,expected", VECTORS, ids=[str(len(d)) for d, _ in VECTORS])
def test_hash_file_known_vectors(tmp_path, data, expected):
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    assert hash_file(str(p)) == (expected, len(data))


def test_hash_file_crosses_chunk_boundaries(tmp_path):
    data = bytes(range(251)) * ((3 * hashing.CHUNK) // 251 + 7)  # 3+ chunks, not aligned
    p = tmp_path / "big.bin"
    p.write_bytes(data)
    assert hash_file(str(p)) == (xxhash.xxh3_128_hexdigest(data), len(data))


def test_hash_file_missing_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        hash_file(str(tmp_path / "nope"))


@pytest.mark.skipif(shutil.which("xxhsum") is None, reason="xxhsum binary not installed")
@pytest.mark.parametrize("data,_expected", VECTORS, ids=[str(len(d)) for d, _ in VECTORS])
def test_oid_equals_xxhsum_binary(tmp_path, data, _expected):
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    out = subprocess.run(["xxhsum", "-H2", str(p)], capture_output=True, text=True, check=True).stdout
    assert out.split()[0] == hash_file(str(p))[0] == oid_of(data)


def test_oid_format():
    oid = oid_of(b"anything")
    assert len(oid) == 32 and oid == oid.lower() and is_oid(oid)


@pytest.mark.parametrize("text,ok", [
    ("99aa06d3014798d86001c324468d497f", True),
    ("99AA06D3014798D86001C324468D497F", False),  # oids are lowercase
    ("99aa06d3014798d86001c324468d497", False),  # 31 chars
    ("99aa06d3014798d86001c324468d497f0", False),  # 33 chars
    ("99aa06d3014798d86001c324468d497g", False),
    ("", False),
    ("99aa06d3014798d86001c324468d497f\n", False),
])
def test_is_oid(text, ok):
    assert is_oid(text) is ok


@settings(max_examples=60, deadline=None)
@given(parts=st.lists(st.binary(max_size=300), max_size=8))
def test_incremental_hasher_equals_one_shot(parts):
    h = Hasher()
    for p in parts:
        h.update(p)
    assert h.hexdigest() == oid_of(b"".join(parts))
