"""Content hashing: the only module that imports xxhash.

An oid is the XXH3-128 digest of an object's bytes as 32 lowercase hex chars,
the same string ``xxhsum -H2 FILE`` prints. XXH3 is fast and collision-resistant
for accidental collisions; it is *not* a cryptographic hash and does not protect
against a forger who can write into the store.
"""

from __future__ import annotations

import re

import xxhash

HASH_NAME = "xxh3-128"
OID_RE = re.compile(r"^[0-9a-f]{32}$")
CHUNK = 1 << 20  # 1 MiB reads: large enough to amortise syscalls, small in memory


def oid_of(data: bytes) -> str:
    """Return the oid of ``data``."""
    return xxhash.xxh3_128_hexdigest(data)


def digest(data: bytes | bytearray | memoryview) -> bytes:
    """The raw 16 bytes of the oid of ``data`` (any buffer: a slice of a pack is hashed
    where it lies, without a copy)."""
    return bytes(xxhash.xxh3_128_digest(data))


class Hasher:
    """Incremental hasher for content read in chunks."""

    __slots__ = ("_h",)

    def __init__(self) -> None:
        self._h = xxhash.xxh3_128()

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def hash_file(path: str) -> tuple[str, int]:
    """Return ``(oid, size)`` of the file at ``path``, read in chunks."""
    h = xxhash.xxh3_128()
    size = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def is_oid(text: str) -> bool:
    """True when ``text`` is a full 32-hex oid."""
    return bool(OID_RE.fullmatch(text))
