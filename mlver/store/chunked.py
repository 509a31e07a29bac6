"""Reading a file stored as chunks, and many packed objects at once.

:class:`ChunkedReader` is what ``open()`` returns for a chunked file: seekable, it reads
runs of neighbouring chunks with one ``pread`` each (a file's chunks are written to a pack
in order, so a sequential read is a few large reads), verifies every chunk against its oid
as it arrives, and a read from the start to the end also verifies the whole file against
its own oid. :func:`read_runs` is the batched read of packed objects that ``read_many``
and the reader share.
"""

from __future__ import annotations

import bisect
import contextvars
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import Hasher, oid_of
from mlver.store.manifest import Manifest
from mlver.store.packs import PackIndex
from mlver.store.reader import chunk_range

# The chunked files being read by this thread of control, outermost first: a chunk read
# through the store's slow path that names one of them is a cycle in forged manifests (a
# file listed as its own chunk), which would otherwise recurse until Python gives up.
_READING: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "mlver_chunked_reading", default=frozenset())

RUN_MAX = 8 << 20  # bytes one pread may cover: large reads, bounded memory
# views()' one buffer: small enough to stay in the CPU's cache between the read into it,
# the hash and the write out of it, which makes the copy nearly free (a 512 MiB checkout:
# 0.34 s with 1 MiB, 0.50 s with 8 MiB, 0.33 s for views of a mapped pack)
VIEW_RUN = 1 << 20
GAP_MAX = 64 << 10  # neighbours closer than this are read together (the gap is read too)


class Source(Protocol):
    """What the reader needs of a store: where a packed object is, and a slow path."""

    def find_packed(self, oid: str) -> tuple[PackIndex, int] | None: ...

    def read(self, oid: str, verify: bool = True) -> bytes: ...

    def fetch(self, oids: list[str]) -> bool: ...

    def size(self, oid: str) -> int | None: ...


def read_runs(spots: Iterable[tuple[PackIndex, int]]) -> dict[bytes, memoryview]:
    """The bytes of packed entries ``(pack, position)``, by 16-byte oid, NOT verified: one
    ``pread`` per run of neighbours in a pack, each entry a view into its run's buffer (no
    copy). An entry a short read missed is absent."""
    by_pack: dict[str, list[tuple[int, int, PackIndex, int]]] = {}
    for pack, i in spots:
        by_pack.setdefault(pack.pack_path, []).append(
            (pack.offsets[i], pack.lengths[i], pack, i))
    out: dict[bytes, memoryview] = {}
    for entries in by_pack.values():
        entries.sort(key=lambda e: e[0])
        j = 0
        while j < len(entries):
            start, n, pack, _i = entries[j]
            end = start + n
            k = j + 1
            while (k < len(entries) and entries[k][0] - end <= GAP_MAX
                   and entries[k][0] + entries[k][1] - start <= RUN_MAX):
                end = max(end, entries[k][0] + entries[k][1])
                k += 1
            try:
                buf = pack.pread(start, end - start)
            except (OSError, CorruptObjectError):
                buf = b""
            view = memoryview(buf)
            for off, length, p, i in entries[j:k]:
                if off + length - start <= len(buf):
                    out[p.keys[i]] = view[off - start:off - start + length]
            j = k
    return out


def _wrong_size(where: str, have: int, n: int) -> CorruptObjectError:
    return CorruptObjectError(f"{where} is {have} bytes, its manifest says {n}; restore the "
                              "store from a backup, or re-snapshot the file")


class ChunkedReader(io.RawIOBase):
    """A read-only, seekable file over the chunks of ``manifest`` in ``store``."""

    def __init__(self, store: Source, manifest: Manifest) -> None:
        super().__init__()
        self._store = store
        self.manifest = manifest
        self._starts = manifest.offsets
        self._pos = 0
        # chunk index -> its verified bytes, views into the last run read
        self._run: dict[int, bytes | memoryview] = {}
        self._hasher = Hasher()
        self._hashed = 0  # the whole-file hash covers bytes [0, _hashed)
        self._checked = False

    def views(self) -> Iterator[memoryview]:
        """The file's bytes from its current position to its end, one verified view per
        chunk, each valid until the next is asked for (a checkout writes each at once).

        Runs of neighbouring chunks are read with one ``preadv`` each into one buffer of
        :data:`VIEW_RUN` bytes, reused (fresh memory per run costs its page faults: 0.4 s a
        GiB, measured). The packs are not mapped: a pack cut short while it is read (a
        restore with ``rsync --inplace``, a full disk under another tool) is a short read,
        named as damage, where a mapped page past the new end would kill the process with
        SIGBUS. The whole file is checked at its end when the views started at 0."""
        m = self.manifest
        if self._pos >= m.size:
            k = len(m.chunks)
        else:
            k = bisect.bisect_right(self._starts, self._pos) - 1
        buf = memoryview(bytearray(max(min(VIEW_RUN, m.size), 1)))  # a bigger chunk: slow way
        j = max(k, 0)
        while j < len(m.chunks):
            for view in self._run_views(j, buf):
                at = self._pos - self._starts[j]
                if at > 0:
                    view = view[at:]
                if self._hashed == self._pos:
                    self._hasher.update(view)  # type: ignore[arg-type]  # any buffer
                    self._hashed += len(view)
                self._pos += len(view)
                j += 1
                yield view
        self._finish()

    def _run_views(self, k: int, buf: memoryview) -> list[memoryview]:
        """Chunk ``k`` and the neighbours after it in the same pack that fit in ``buf``,
        read into it with one ``preadv``, each verified (a chunk that is not, or is not
        packed here, ends the run: the first one alone goes the slow way)."""
        m = self.manifest
        hit = self._store.find_packed(m.chunks[k][0])
        spots: list[tuple[int, int]] = []  # (offset in the pack, length) of each chunk
        if hit is not None:
            pack, i = hit
            try:
                start = pack.offsets[i]
                for j in range(k, len(m.chunks)):
                    at = hit if j == k else self._store.find_packed(m.chunks[j][0])
                    if at is None or at[0] is not pack:
                        break
                    off, n = pack.offsets[at[1]], pack.lengths[at[1]]
                    end = spots[-1][0] + spots[-1][1] if spots else start
                    if not end <= off <= end + GAP_MAX or off + n - start > len(buf):
                        break  # not the next neighbour, or past the buffer
                    spots.append((off, n))
                got = pack.pread_into(buf, start) if spots else 0
            except (OSError, CorruptObjectError):
                spots, got = [], 0
        views = []
        for j, (off, n) in enumerate(spots, start=k):
            view = buf[off - start:off - start + n]
            coid, want = m.chunks[j]
            if off + n - start > got or n != want or oid_of(view) != coid:  # type: ignore[arg-type]
                break
            views.append(view)
        if not views:
            views.append(memoryview(self._slow(k)))
        return views

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.manifest.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def pread(self, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer at the end), the position unchanged:
        exactly the chunks that cover them are read (no run ahead: a reader by ranges,
        such as a parquet reader, asks for what it needs), each verified."""
        return chunk_range(self.manifest, offset, length, self._read_verified, self._slow,
                           self._starts)

    def _chunk(self, k: int) -> bytes | memoryview:
        got = self._run.get(k)
        if got is None:
            self._load_run(k)
            got = self._run[k]
        return got

    def _load_run(self, k: int) -> None:
        """Read chunk ``k`` and the ones after it, up to :data:`RUN_MAX` bytes, verified."""
        m = self.manifest
        todo = []
        total = 0
        for j in range(k, len(m.chunks)):
            if j > k and total + m.chunks[j][1] > RUN_MAX:
                break
            todo.append(j)
            total += m.chunks[j][1]
        run: dict[int, bytes | memoryview] = {}
        for j, data in self._read_verified(todo).items():
            if data is None:
                if j != k:
                    continue  # named when a read reaches it, not before
                data = self._slow(j)
            run[j] = data
        self._run = run

    def _read_verified(self, todo: Sequence[int]) -> dict[int, bytes | memoryview | None]:
        """Chunks ``todo`` from their packs, neighbours in one ``pread`` each, each checked
        against its oid: None for one that is not packed here or not what it should be."""
        m = self.manifest
        spots = [hit for j in todo
                 if (hit := self._store.find_packed(m.chunks[j][0])) is not None]
        found = read_runs(spots)
        out: dict[int, bytes | memoryview | None] = {}
        for j in todo:
            coid, n = m.chunks[j]
            data: bytes | memoryview | None = found.get(bytes.fromhex(coid))
            bad = data is None or len(data) != n or oid_of(data) != coid  # type: ignore[arg-type]
            out[j] = None if bad else data
        return out

    def _slow(self, j: int) -> bytes:
        """Chunk ``j`` through the store's ordinary read: another copy, a loose one, or
        data on demand; its absence or damage is named with the file it breaks."""
        coid, n = self.manifest.chunks[j]
        where = f"chunk {coid} of object {self.manifest.oid} (bytes {self._starts[j]}–" \
                f"{self._starts[j] + n})"
        reading = _READING.get()
        if coid == self.manifest.oid or coid in reading or len(reading) >= 8:
            raise CorruptObjectError(
                f"{where} is the file itself or one that contains it (its chunk manifest is "
                "forged); restore it from a backup, or re-snapshot the file")
        if self._store.find_packed(coid) is None:
            # Gone (a version pulled without its data, a lost pack): bring every chunk of
            # the file that is gone at once, not one fetch (and one pack) per chunk.
            lacking = [c for c in self.manifest.chunk_oids() if self._store.find_packed(c) is None]
            self._store.fetch(lacking)
        have = self._store.size(coid)
        if have is not None and have != n:  # never read a big object whole for a small chunk
            raise _wrong_size(where, have, n)
        token = _READING.set(reading | {self.manifest.oid})
        try:
            data = self._store.read(coid)
        except CorruptObjectError as e:
            raise CorruptObjectError(f"{where}: {e}") from None
        finally:
            _READING.reset(token)
        if len(data) != n:
            raise _wrong_size(where, len(data), n)
        return data

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        size = self.manifest.size
        if self._pos >= size or not len(b):
            self._finish()
            return 0
        out = memoryview(b).cast("B")
        done = 0
        while done < len(out) and self._pos < size:
            k = bisect.bisect_right(self._starts, self._pos) - 1
            data = self._chunk(k)
            at = self._pos - self._starts[k]
            n = min(len(out) - done, len(data) - at)
            out[done:done + n] = data[at:at + n]
            if self._hashed == self._pos:  # a read from the start on: extend the whole hash
                self._hasher.update(out[done:done + n])  # type: ignore[arg-type]  # any buffer
                self._hashed += n
            done += n
            self._pos += n
        if self._pos >= size:
            self._finish()
        return done

    def readall(self) -> bytes:
        parts = []
        while True:
            chunk = self.read(RUN_MAX)
            if not chunk:
                break
            parts.append(chunk)
        return b"".join(parts)

    def _finish(self) -> None:
        """At the end of a read from the start: the bytes must hash to the file's oid (a
        lying manifest lists real chunks in a wrong order)."""
        if self._checked or self._hashed != self.manifest.size:
            return
        self._checked = True
        got = self._hasher.hexdigest()
        if got != self.manifest.oid:
            raise CorruptObjectError(
                f"object {self.manifest.oid} is corrupt: its chunks hash to {got} (its chunk "
                "manifest is damaged); restore it from a backup, or re-snapshot the file")


__all__ = ["GAP_MAX", "RUN_MAX", "VIEW_RUN", "ChunkedReader", "Source", "read_runs"]
