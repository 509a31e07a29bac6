"""Pack files: many small objects in one file, found through a sorted index (store format 2).

A pack ``objects/pack/pack-<32 hex>.pack`` holds objects back to back; its index
``pack-<32 hex>.idx`` lists each object's oid, offset and length, sorted by oid. An
object exists once an index lists it: a pack and its index are written to ``tmp/``,
made durable with the batch's one sync, then renamed into place, the index last.
The byte layout and the rules are in ``docs/format.md`` ("Packs").

Pack::

    "MLVRPACK"  u32 version=1                                   12-byte header
    per object: oid (16 raw bytes)  u32 length  bytes           20-byte entry header + data
    xxh3-128 of every byte above (16 raw bytes)                 trailer

Index (all integers little-endian)::

    "MLVRIDX\\0"  u32 version=1  u32 count  u64 pack size  pack trailer (16)   40-byte header
    count x oid (16 raw bytes), strictly increasing
    count x u64 offset of the object's bytes in the pack
    count x u32 length of the object
    xxh3-128 of every byte above (16 raw bytes)                 trailer
"""

from __future__ import annotations

import bisect
import io
import os
import stat
import struct
import sys
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator

from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import Hasher, oid_of
import contextlib

# Objects up to this size go into packs; larger ones stay loose files. Measured with
# benchmarks/bench_pack_threshold.py (docs/format.md, "Why 128 KiB").
PACK_THRESHOLD = 128 << 10

PACK_MAGIC = b"MLVRPACK"
IDX_MAGIC = b"MLVRIDX\0"
PACK_VERSION = 1
IDX_VERSION = 1
PACK_HEADER = struct.Struct("<8sI")
ENTRY_HEADER = struct.Struct("<16sI")
IDX_HEADER = struct.Struct("<8sIIQ16s")
TRAILER = 16
MAX_OBJECT = (1 << 32) - 1  # an entry's length is a u32
MAX_IDX_BYTES = 1 << 31  # bound on what an index read may allocate
_FLUSH = 1 << 20  # writer buffer
# Lookups bisecting an index's bytes before its key list is built: a few (status, a
# record's read) cost less than building 100k keys; a snapshot's many go through the list.
LAZY_FINDS = 64
_DIRECT = 32 << 10  # an object this big skips the buffer (a chunk of a big file)
# O_NONBLOCK: opening a FIFO planted where an object or manifest belongs must not wait
# for a writer forever (it is refused as not a regular file right after); on a regular
# file the flag changes nothing, and it is cleared once the file is known to be one.
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
               | getattr(os, "O_NONBLOCK", 0))


def _digest(data: bytes | bytearray | memoryview) -> bytes:
    return bytes.fromhex(oid_of(bytes(data)))


def _le(a: array[int]) -> array[int]:
    if sys.byteorder != "little":
        a.byteswap()
    return a


def damaged(path: str, why: str) -> CorruptObjectError:
    """The error for a damaged pack or index file: names the file and the fix."""
    return _damaged(path, why)


def _damaged(path: str, why: str) -> CorruptObjectError:
    base = path[:-4] if path.endswith((".idx", ".pack")) else path
    if base.endswith("."):
        base = base[:-1]
    return CorruptObjectError(
        f"pack file {path} is damaged ({why}); restore {os.path.basename(base)}.pack and "
        f"{os.path.basename(base)}.idx in {os.path.dirname(path)} from a backup, or move both "
        "out of the store and re-snapshot what they held")


def open_regular(path: str) -> int:
    """Open ``path`` read-only without following a symlink; refuse anything but a file."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise CorruptObjectError(
            f"{path} cannot be opened as a plain file ({e.strerror}); a store holds no "
            "symlinks or special files: move it out of the store") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CorruptObjectError(
            f"{path} is not a regular file; a store holds no symlinks or special files: "
            "move it out of the store")
    if hasattr(os, "set_blocking"):
        os.set_blocking(fd, True)
    return fd


# -- writing --------------------------------------------------------------------------------------

class PackWriter:
    """Appends objects to a new pack file; :meth:`finish` writes its trailer and index.

    Not thread-safe by itself: the batch calls it under its lock.
    """

    def __init__(self, pack_path: str, idx_path: str) -> None:
        self.pack_path = pack_path
        self.idx_path = idx_path
        self._fd: int | None = os.open(pack_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        self._buf = bytearray(PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION))
        self._hash = Hasher()
        self._pos = len(self._buf)
        self._keys: list[bytes] = []
        self._offsets: list[int] = []
        self._lengths: list[int] = []
        self._failed: OSError | None = None  # a write failed: the pack can never be finished

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, oid: str, data: bytes) -> None:
        """Append the object ``oid`` (whose bytes are ``data``)."""
        n = len(data)
        if n > MAX_OBJECT:
            raise ValueError(f"object {oid} is too large for a pack ({n} bytes)")
        key = bytes.fromhex(oid)
        head = ENTRY_HEADER.pack(key, n)
        self._keys.append(key)
        self._offsets.append(self._pos + ENTRY_HEADER.size)
        self._lengths.append(n)
        self._pos += ENTRY_HEADER.size + n
        if n >= _DIRECT:  # a big file's chunk: written as it is, not copied into the buffer
            self._flush()
            self._write([head, data])
            return
        self._buf += head
        self._buf += data
        if len(self._buf) >= _FLUSH:
            self._flush()

    def _flush(self) -> None:
        assert self._fd is not None
        if self._failed is not None:
            raise self._failed
        # The buffer is swapped out before writing: a failed write (a full disk) must
        # not leave a view of it exported, or the next add() of another thread fails
        # with BufferError instead of the batch reporting the full disk.
        if not self._buf:
            return
        data, self._buf = bytes(self._buf), bytearray()
        self._write([data])

    def _write(self, parts: list[bytes]) -> None:
        assert self._fd is not None
        if self._failed is not None:
            raise self._failed
        for part in parts:
            self._hash.update(part)
        try:
            for part in parts:
                view = memoryview(part)
                while view:
                    view = view[os.write(self._fd, view):]
        except OSError as e:
            self._failed = OSError(e.errno, e.strerror, self.pack_path)
            raise self._failed from None

    def finish(self) -> int:
        """Write the pack's trailer and its index file; return the number of objects."""
        self._flush()
        trailer = bytes.fromhex(self._hash.hexdigest())
        assert self._fd is not None
        os.write(self._fd, trailer)
        os.close(self._fd)
        self._fd = None
        pack_size = self._pos + TRAILER
        order = sorted(range(len(self._keys)), key=self._keys.__getitem__)
        for a, b in zip(order, order[1:], strict=False):
            if self._keys[a] == self._keys[b]:  # every reader refuses such an index
                raise CorruptObjectError(
                    f"object {self._keys[a].hex()} was added twice to the pack {self.pack_path} "
                    "(a bug in mlver); nothing of this batch was stored: run the command again")
        data = index_bytes([self._keys[i] for i in order], [self._offsets[i] for i in order],
                           [self._lengths[i] for i in order], pack_size, trailer)
        fd = os.open(self.idx_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        return len(self._keys)

    def abort(self) -> None:
        """Drop the unfinished pack (and its index, if written)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        for p in (self.pack_path, self.idx_path):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)


def index_bytes(keys: list[bytes], offsets: list[int], lengths: list[int], pack_size: int,
                pack_trailer: bytes) -> bytes:
    """The bytes of an index; ``keys`` must be sorted (duplicates are a caller's bug)."""
    body = bytearray(IDX_HEADER.pack(IDX_MAGIC, IDX_VERSION, len(keys), pack_size, pack_trailer))
    body += b"".join(keys)
    body += _le(array("Q", offsets)).tobytes()
    body += _le(array("I", lengths)).tobytes()
    body += _digest(body)
    return bytes(body)


def write_pack(pack_path: str, idx_path: str, objects: Iterable[tuple[str, bytes]]) -> int:
    """Write a pack of ``objects`` (in the order given) and its index; return the count."""
    w = PackWriter(pack_path, idx_path)
    try:
        for oid, data in objects:
            w.add(oid, data)
        return w.finish()
    except BaseException:
        w.abort()
        raise


# -- reading --------------------------------------------------------------------------------------

class PackIndex:
    """One validated index and its pack: oid -> (offset, length); reads with one ``pread``.

    The index is held in memory as a sorted list of 16-byte oids (searched by bisection)
    and two arrays; the pack is opened on the first read (``O_NOFOLLOW``, regular file,
    size and header checked).
    """

    def __init__(self, idx_path: str) -> None:
        self.idx_path = idx_path
        self.pack_path = idx_path[:-4] + ".pack"
        self.name = os.path.basename(idx_path)[:-4]
        fd = open_regular(idx_path)
        try:
            size = os.fstat(fd).st_size
            if size > MAX_IDX_BYTES:
                raise _damaged(idx_path, f"index of {size} bytes is beyond any valid size")
            with io.FileIO(fd, "rb", closefd=False) as f:
                # the size it has: one read into one buffer (read() to the end grows its
                # buffer as it goes, a millisecond of copies for a 100k-entry index)
                data = f.read(size)
                rest = f.read() if len(data) == size else b""
                if rest:
                    data += rest  # grown since (its checks then name it)
        finally:
            os.close(fd)
        self._parse(data)
        self._fd: int | None = None
        self._lock = threading.Lock()

    def _parse(self, data: bytes) -> None:
        path = self.idx_path
        if len(data) < IDX_HEADER.size + TRAILER:
            raise _damaged(path, f"index is truncated ({len(data)} bytes)")
        magic, version, count, pack_size, trailer = IDX_HEADER.unpack_from(data)
        if magic != IDX_MAGIC:
            raise _damaged(path, "not a pack index: bad magic bytes")
        if version != IDX_VERSION:
            raise _damaged(path, f"index version {version} is unknown; upgrade mlver")
        want = IDX_HEADER.size + count * 28 + TRAILER
        if len(data) != want:
            raise _damaged(path, f"index is {len(data)} bytes, its count of {count} objects "
                                 f"needs {want}")
        if _digest(memoryview(data)[:-TRAILER]) != data[-TRAILER:]:
            raise _damaged(path, "index checksum mismatch")
        h = IDX_HEADER.size
        o = h + 16 * count
        offsets = _le(array("Q", data[o:o + 8 * count]))
        lengths = _le(array("I", data[o + 8 * count:o + 12 * count]))
        self.count = count
        self.pack_size = pack_size
        self.pack_trailer = trailer
        self._data = data
        self._keys: list[bytes] | None = None
        self._finds = 0
        self._offsets = offsets
        self._lengths = lengths
        self._span = (PACK_HEADER.size + ENTRY_HEADER.size, pack_size - TRAILER)
        self._bounded = False

    def _check_bounds(self) -> None:
        """Every entry lies inside the pack. Checked once, on the first use of the whole
        arrays: a command that reads a few objects of a 100k-entry index (``status``) checks
        only those (:meth:`read_at`), and spares the 20 ms of a pass over every entry."""
        if self._bounded:
            return
        offsets, lengths = self._offsets, self._lengths
        lo, hi = self._span
        # (the max offset plus the max length is a bound checked in C; only an index that
        # exceeds it pays for the exact check, entry by entry)
        if self.count and (min(offsets) < lo or (max(offsets) + max(lengths) > hi and max(
                map(int.__add__, offsets, lengths)) > hi)):
            raise self._outside()
        self._bounded = True

    def _outside(self) -> CorruptObjectError:
        return _damaged(self.idx_path, "an index entry points outside its pack")

    def damage(self) -> CorruptObjectError | None:
        """Why the index as a whole cannot be used (an entry outside its pack, entries out
        of order), or None: what opening it checked before the checks were made lazy.
        Listing a store for verify and gc, and choosing packs to merge, ask it first."""
        try:
            self._check_bounds()
            self.keys  # noqa: B018 - builds and checks the sorted keys
        except CorruptObjectError as e:
            return e
        return None

    @property
    def offsets(self) -> array[int]:
        """Each entry's offset in the pack (every entry checked inside it)."""
        self._check_bounds()
        return self._offsets

    @property
    def lengths(self) -> array[int]:
        """Each entry's length (every entry checked inside the pack)."""
        self._check_bounds()
        return self._lengths

    @property
    def keys(self) -> list[bytes]:
        """The sorted 16-byte oids, built (and checked sorted and unique) on first use:
        a command that only looks up a few objects in a 100k-entry index (``status``)
        bisects the raw bytes instead and never pays for the list."""
        if self._keys is None:
            h = IDX_HEADER.size
            keys = [self._data[p:p + 16] for p in range(h, h + 16 * self.count, 16)]
            if any(a >= b for a, b in zip(keys, keys[1:], strict=False)):
                raise _damaged(self.idx_path, "index entries are not sorted and unique")
            self._keys = keys
        return self._keys

    def find(self, key: bytes) -> int:
        """Position of the 16-byte oid ``key``, or -1. (An index whose entries are out of
        order, which only a tampered one can be, may miss an entry here: the object then
        counts as absent; listing the keys, as verify and gc do, names the damage.)"""
        if self._keys is None:
            self._finds += 1
            if self._finds > LAZY_FINDS:  # many lookups (a snapshot): the list pays
                self.keys  # noqa: B018 - builds and checks it
        if self._keys is not None:
            i = bisect.bisect_left(self._keys, key)
            return i if i < self.count and self._keys[i] == key else -1
        data, h = self._data, IDX_HEADER.size
        lo, hi = 0, self.count
        while lo < hi:  # bisect over the index bytes: no list of 100k keys
            mid = (lo + hi) // 2
            if data[h + 16 * mid:h + 16 * mid + 16] < key:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < self.count and data[h + 16 * lo:h + 16 * lo + 16] == key else -1

    def iter_oids(self) -> Iterator[str]:
        return (k.hex() for k in self.keys)

    def _pack_fd(self) -> int:
        with self._lock:
            if self._fd is None:
                fd = open_regular(self.pack_path)  # FileNotFoundError: merged away meanwhile
                try:
                    size = os.fstat(fd).st_size
                    if size != self.pack_size:
                        raise _damaged(self.pack_path, f"pack is {size} bytes, its index says "
                                                       f"{self.pack_size}")
                    head = os.pread(fd, PACK_HEADER.size, 0)
                    if head != PACK_HEADER.pack(PACK_MAGIC, PACK_VERSION):
                        raise _damaged(self.pack_path, "not a pack: bad magic bytes or version")
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            return self._fd

    def pread(self, offset: int, n: int) -> bytes:
        """``n`` bytes of the pack at ``offset``: one ``pread`` (a run of neighbouring
        objects); short when the pack is."""
        return os.pread(self._pack_fd(), n, offset)

    def pread_into(self, buf: bytearray | memoryview, offset: int) -> int:
        """Fill ``buf`` from the pack at ``offset`` (one ``preadv``, into memory the caller
        reuses: no fresh pages to fault in); the count read, short when the pack is."""
        return os.preadv(self._pack_fd(), [buf], offset)

    def read_at(self, i: int) -> bytes:
        """The bytes of entry ``i``: one ``pread``."""
        off, n = self._offsets[i], self._lengths[i]
        if not self._bounded and (off < self._span[0] or off + n > self._span[1]):
            raise self._outside()
        data = os.pread(self._pack_fd(), n, off)
        if len(data) != n:
            raise _damaged(self.pack_path, "pack is shorter than its index says")
        return data

    def iter_objects(self) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(16-byte oid, bytes)`` in pack order, read sequentially (for merging)."""
        fd = self._pack_fd()
        order = sorted(range(self.count), key=self.offsets.__getitem__)
        with io.BufferedReader(io.FileIO(os.dup(fd), "rb"), 1 << 20) as f:
            for i in order:
                f.seek(self.offsets[i])
                data = f.read(self.lengths[i])
                if len(data) != self.lengths[i]:
                    raise _damaged(self.pack_path, "pack is shorter than its index says")
                yield self.keys[i], data

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def open_checked(idx_path: str) -> PackIndex:
    """The index at ``idx_path`` with every entry checked now (bounds and order), as
    opening one did before those checks were made lazy: for an index that arrived from
    elsewhere (a remote's), refused before it is cached and trusted."""
    idx = PackIndex(idx_path)
    err = idx.damage()
    if err is not None:
        idx.close()
        raise err
    return idx


# -- merging --------------------------------------------------------------------------------------

def pick_merge(sizes: list[int], limit: int) -> int:
    """How many of the packs (sorted by size, smallest first) to merge: 0 when at most
    ``limit`` exist; else the smallest ones up to where the rest grow geometrically (each at
    least twice everything smaller), as ``git repack --geometric=2`` does; all when that
    would still leave more than ``limit``."""
    n = len(sizes)
    if n <= limit:
        return 0
    cut = n
    total = sum(sizes)
    for j in range(n - 1, -1, -1):
        total -= sizes[j]
        if sizes[j] < 2 * total:
            cut = j + 1
            break
        cut = j
    cut = max(cut, 2)
    return cut if n - cut + 1 <= limit else n


def merge(sources: list[PackIndex], pack_path: str, idx_path: str,
          publish: Callable[[], None]) -> int:
    """Write every object of ``sources`` once (each re-hashed) to a new pack + index at the
    given tmp paths, call ``publish`` (sync and rename), then remove the sources: indexes
    first, then packs. Return the number of objects written."""
    w = PackWriter(pack_path, idx_path)
    try:
        seen: set[bytes] = set()
        bad: dict[bytes, str] = {}  # damaged copies: fatal unless a good one comes later
        for src in sources:
            for key, data in src.iter_objects():
                if key in seen:
                    continue
                if _digest(data) != key:
                    # A repair (re-adding a file) writes a good copy to a newer pack and
                    # leaves the damaged one: that pack may come first.
                    bad.setdefault(key, src.pack_path)
                    continue
                seen.add(key)
                w.add(key.hex(), data)
        for key, where in bad.items():
            if key not in seen:
                raise CorruptObjectError(
                    f"object {key.hex()} in {where} is corrupt (its bytes hash "
                    "differently); restore that pack from a backup")
        n = w.finish()
    except BaseException:
        w.abort()
        raise
    publish()
    for src in sources:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(src.idx_path)
    for src in sources:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(src.pack_path)
        src.close()
    return n
