"""Chunk manifests: the bytes are canonical, and anything else is refused."""

from __future__ import annotations

import re

import pytest

from mlver.base.errors import CorruptObjectError
from mlver.store.manifest import Manifest, decode

A, B, F = "a" * 32, "b" * 32, "f" * 32


def _m() -> Manifest:
    return Manifest(F, 300, "fastcdc2020-nc1-16k-64k-256k", ((A, 100), (B, 150), (A, 50)))


def test_the_bytes_round_trip_and_are_canonical() -> None:
    m = _m()
    assert m.encode() == (
        b'{"chunker":"fastcdc2020-nc1-16k-64k-256k","chunks":[["' + A.encode() + b'",100],["'
        + B.encode() + b'",150],["' + A.encode() + b'",50]],"format":1,"oid":"' + F.encode()
        + b'","size":300,"type":"chunks"}')
    assert decode(m.encode(), F) == m
    assert m.offsets == [0, 100, 250]
    assert m.chunk_oids() == [A, B]


def test_another_chunker_id_still_reads() -> None:
    m = Manifest(F, 300, "someone-else-v9", ((A, 300),))
    assert decode(m.encode(), F).chunker == "someone-else-v9"


@pytest.mark.parametrize("data,why", [
    (b"not json", "not JSON"),
    (b'{"type":"tree"}', "not a manifest"),
    (_m().encode().replace(b'"size":300', b'"size":301'), "add up to 300 bytes"),
    (_m().encode().replace(b'"format":1', b'"format":2'), "manifest format 2"),
    (_m().encode().replace(b',100]', b',-100]'), "is not [oid, length]"),
    (_m().encode().replace(b'"chunks":[', b'"chunks": ['), "canonical"),
])
def test_a_bad_manifest_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(CorruptObjectError, match=re.escape(why)):
        decode(data, F)


def test_a_manifest_of_another_object_is_refused() -> None:
    with pytest.raises(CorruptObjectError, match="describes another object"):
        decode(_m().encode(), A)
