"""What a store holds as files, and the check of their bytes.

:func:`list_store` lists loose objects and packs with their sizes and ages (what ``gc``
weighs), pack files that lost their index, and leftovers in ``tmp/``. :func:`check_pack`
and :func:`check_loose` re-hash objects as stored (what ``verify`` does): a pack is read
once, front to back, in large blocks (the disk's sequential speed, and its trailer
checksum checked on the way); a loose object is streamed. Both are safe to run from
several threads at once: reads and hashing of large buffers release the GIL.

Nothing here knows what a record is: reachability is decided above the store.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass

from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import CHUNK, Hasher, digest, is_oid
from mlver.store import manifest as manifestmod
from mlver.store import packs as packmod
from mlver.store.objects import LocalObjectStore

BLOCK = 8 * CHUNK  # bytes read at a time: large enough for a disk's sequential speed
_FADV = getattr(os, "POSIX_FADV_SEQUENTIAL", None)


@dataclass(frozen=True)
class StoredFile:
    """A file of the store: its path, size in bytes and modification time (seconds)."""

    path: str
    size: int
    mtime: float


@dataclass(frozen=True)
class LooseObject:
    """A loose object file ``objects/ab/<30 hex>``."""

    oid: str
    path: str
    size: int
    mtime: float


@dataclass(frozen=True)
class ManifestFile:
    """A chunk manifest ``objects/ab/<30 hex>.chunks``: ``oid`` is the file it describes."""

    oid: str
    path: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Pack:
    """A pack with a valid index: the index, and the pack file's size and age (a packed
    object is as old as its pack file)."""

    index: packmod.PackIndex
    size: int  # of the .pack file as found (the index says what it should be)
    idx_size: int
    mtime: float

    @property
    def name(self) -> str:
        return self.index.name


@dataclass(frozen=True)
class Listing:
    """Everything in ``objects/`` and ``tmp/``, as files."""

    loose: tuple[LooseObject, ...]
    packs: tuple[Pack, ...]
    damaged: tuple[tuple[str, str], ...]  # (path, why): indexes or files that cannot be used
    orphans: tuple[StoredFile, ...]  # pack files whose index is missing: invisible
    tmp: tuple[StoredFile, ...]  # files in tmp/ (lock files left out)
    manifests: tuple[ManifestFile, ...] = ()  # chunked files, by the file's oid

    @property
    def bytes(self) -> int:
        """What the store's objects take on disk: loose objects, packs and their indexes,
        manifests (leftovers and damaged files left out)."""
        return (sum(o.size for o in self.loose) + sum(m.size for m in self.manifests)
                + sum(p.size + p.idx_size for p in self.packs))


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def list_store(store: LocalObjectStore) -> Listing:
    """List the store's files (one directory scan; nothing is read but pack indexes)."""
    listed_packs, bad = store.pack_listing()
    damaged = [(os.path.join(store.pack_dir, name if name.endswith((".idx", ".pack"))
                             else name + ".idx"), str(err))
               for name, err in sorted(bad.items())]
    packs = []
    for p in listed_packs:
        err = p.damage()  # entries checked lazily when opened: listed damaged, as before
        if err is not None:
            damaged.append((p.idx_path, str(err)))
            continue
        st, ist = _stat(p.pack_path), _stat(p.idx_path)
        if st is None or ist is None:
            damaged.append((p.pack_path, "the index is there, its pack file is missing"))
            continue
        packs.append(Pack(p, st.st_size, ist.st_size, st.st_mtime))
    listed = {p.name for p in listed_packs} | set(bad)
    orphans = []
    try:
        with os.scandir(store.pack_dir) as it:
            for e in it:
                if e.name.startswith("pack-") and e.name.endswith(".pack") \
                        and e.name[:-5] not in listed and not e.is_symlink():
                    st = e.stat(follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode):
                        orphans.append(StoredFile(e.path, st.st_size, st.st_mtime))
    except FileNotFoundError:
        pass
    loose, manifests = [], []
    for fan in _listdir(store.objects_dir):
        d = os.path.join(store.objects_dir, fan)
        if len(fan) == 2 and os.path.islink(d):
            damaged.append((d, "a symbolic link, which verify and gc do not follow; a store "
                               "holds no links: put the folder it points to in its place"))
            continue
        if len(fan) != 2 or not os.path.isdir(d):
            continue
        for rest in _listdir(d):
            is_manifest = rest.endswith(manifestmod.SUFFIX)
            oid = fan + (rest[:-len(manifestmod.SUFFIX)] if is_manifest else rest)
            if not is_oid(oid):
                continue
            path = os.path.join(d, rest)
            st = _stat(path)
            if st is None:
                continue
            if not stat.S_ISREG(st.st_mode):
                damaged.append((path, "not a regular file; a store holds no symlinks or "
                                      "special files"))
                continue
            if is_manifest:
                manifests.append(ManifestFile(oid, path, st.st_size, st.st_mtime))
            else:
                loose.append(LooseObject(oid, path, st.st_size, st.st_mtime))
    tmp = []
    for name in _listdir(store.tmp_dir):
        path = os.path.join(store.tmp_dir, name)
        st = _stat(path)
        if st is not None and not name.endswith(".lock") \
                and (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            tmp.append(StoredFile(path, st.st_size, st.st_mtime))
    return Listing(tuple(sorted(loose, key=lambda o: o.oid)),
                   tuple(sorted(packs, key=lambda p: p.name)), tuple(damaged),
                   tuple(sorted(orphans, key=lambda f: f.path)),
                   tuple(sorted(tmp, key=lambda f: f.path)),
                   tuple(sorted(manifests, key=lambda m: m.oid)))


def manifest_path(store: LocalObjectStore, oid: str) -> str:
    """Where the chunk manifest of ``oid`` lives (whether or not it exists)."""
    return store.manifest_path(oid)


def load_manifest(store: LocalObjectStore, oid: str) -> manifestmod.Manifest | None:
    """The validated manifest of ``oid``, or None when ``oid`` is not stored chunked.
    Raises :class:`CorruptObjectError` for a manifest that cannot be read or is invalid.
    Read afresh from the disk each time (``LocalObjectStore.manifest`` caches, and gc and
    verify must see what is there now)."""
    path = manifest_path(store, oid)
    try:
        fd = packmod.open_regular(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        with io.FileIO(fd, "rb", closefd=False) as f:
            data = f.read(manifestmod.MAX_MANIFEST + 1)  # bounded: decode refuses more
    except OSError as e:
        raise CorruptObjectError(f"the chunk manifest {path} cannot be read ({e.strerror}); "
                                 "restore it from a backup") from None
    finally:
        os.close(fd)
    return manifestmod.decode(data, oid)


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


# -- checking bytes ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Checked:
    """What re-hashing one file's objects found.

    ``oids`` were checked; ``bad`` are those whose stored bytes do not hash to their oid
    (or could not be read); ``damaged`` says why the file as a whole is unusable or
    damaged (a missing or truncated pack, a checksum mismatch), else None.
    """

    path: str
    oids: tuple[str, ...]
    bad: tuple[str, ...]
    nbytes: int
    damaged: str | None = None
    detail: str | None = None  # why ``bad`` are bad, when it is not simply their bytes


def check_loose(obj: LooseObject) -> Checked:
    """Re-hash a loose object, streamed in large blocks."""
    try:
        fd = packmod.open_regular(obj.path)
    except FileNotFoundError:
        return Checked(obj.path, (obj.oid,), (obj.oid,), 0, "the file is gone")
    except CorruptObjectError as e:
        return Checked(obj.path, (obj.oid,), (obj.oid,), 0, str(e))
    h = Hasher()
    n = 0
    buf = bytearray(BLOCK)
    mv = memoryview(buf)
    try:
        if _FADV is not None:
            os.posix_fadvise(fd, 0, 0, _FADV)
        with io.FileIO(fd, "rb", closefd=False) as f:
            while k := f.readinto(mv):
                h.update(mv[:k])  # type: ignore[arg-type]  # xxhash takes any buffer
                n += k
    except OSError as e:  # an I/O error of the disk: this copy cannot be trusted
        return Checked(obj.path, (obj.oid,), (obj.oid,), n, f"cannot be read ({e.strerror})")
    finally:
        os.close(fd)
    ok = h.hexdigest() == obj.oid
    return Checked(obj.path, (obj.oid,), () if ok else (obj.oid,), n)


def check_manifest(store: LocalObjectStore, m: ManifestFile, strict: bool = False) -> Checked:
    """Check a chunked file whole: its manifest is valid, and its chunks, read in order,
    hash to the file's oid. A chunk that is missing or whose bytes hash differently does
    not make the file ``bad`` here (unless ``strict``): the chunk is an object of its own,
    which the check of its pack (or its absence from every pack) names, with the versions
    it breaks."""
    try:
        man = load_manifest(store, m.oid)
    except CorruptObjectError as e:
        return Checked(m.path, (m.oid,), (m.oid,), 0, detail=str(e))
    if man is None:
        return Checked(m.path, (m.oid,), (m.oid,), 0, detail="its chunk manifest is gone")
    h = Hasher()
    n = 0
    for c, length in man.chunks:
        try:
            # has() first: a store whose data is on demand must not download during a check
            data = store.read(c, verify=False) if store.has(c) else None
        except (CorruptObjectError, OSError):
            data = None
        if data is None or digest(data) != bytes.fromhex(c):
            # The chunk's own check names it, if it is a packed or loose object (or absent);
            # one present only as a manifest (the file itself, or a file that contains it:
            # a forged manifest) is checked as a file, which this read just found good.
            named = c != m.oid and (store.has_packed(c, refresh=False)
                                    or store.local_file(c) is not None
                                    or not store.has(c))
            return Checked(m.path, (m.oid,), (m.oid,) if strict or not named else (), n,
                           detail=f"its chunk {c} is missing or corrupt" if named else
                           f"its chunk {c} is stored as chunks itself (the chunk manifest "
                           f"{m.path} is forged)")
        n += len(data)
        if len(data) != length:
            return Checked(m.path, (m.oid,), (m.oid,), n, detail=(
                f"its chunk manifest {m.path} gives chunk {c} {length} bytes, the chunk has "
                f"{len(data)}"))
        h.update(data)
    if h.hexdigest() != m.oid:
        return Checked(m.path, (m.oid,), (m.oid,), n, detail=(
            f"its chunks, read in the order of its manifest {m.path}, hash to "
            f"{h.hexdigest()}, not to its oid"))
    return Checked(m.path, (m.oid,), (), n)


def _open_pack(idx: packmod.PackIndex) -> tuple[int | None, str | None]:
    """An fd on the pack, or why it cannot be read (size and header checked)."""
    try:
        fd = packmod.open_regular(idx.pack_path)
    except FileNotFoundError:
        return None, "the index is there, its pack file is missing"
    except CorruptObjectError as e:
        return None, str(e)
    size = os.fstat(fd).st_size
    why = None
    if size != idx.pack_size:
        why = f"pack is {size} bytes, its index says {idx.pack_size}"
    elif os.pread(fd, packmod.PACK_HEADER.size, 0) != packmod.PACK_HEADER.pack(
            packmod.PACK_MAGIC, packmod.PACK_VERSION):
        why = "not a pack: bad magic bytes or version"
    if why is not None:
        os.close(fd)
        return None, why
    return fd, None


def check_pack(idx: packmod.PackIndex, only: set[bytes] | None = None) -> Checked:
    """Re-hash the objects of one pack: all of them, reading the pack once front to back
    (and checking its trailer checksum); or, with ``only``, just those oids (16 raw bytes),
    one ``pread`` each in pack order."""
    order = sorted(range(idx.count), key=idx.offsets.__getitem__)
    if only is not None:
        order = [i for i in order if idx.keys[i] in only]
    oids = tuple(idx.keys[i].hex() for i in order)
    fd, why = _open_pack(idx)
    if fd is None:
        return Checked(idx.pack_path, oids, oids, 0, why)
    try:
        if _FADV is not None and only is None:
            os.posix_fadvise(fd, 0, 0, _FADV)
        if only is not None or _overlapping(idx, order):
            bad, n = _check_entries(fd, idx, order)
            why = None
        else:
            bad, n, why = _check_stream(fd, idx, order)
    except OSError as e:  # an I/O error of the disk: nothing read from this pack is sure
        return Checked(idx.pack_path, oids, oids, 0, f"cannot be read ({e.strerror})")
    finally:
        os.close(fd)
    return Checked(idx.pack_path, oids, tuple(bad), n, why)


def _overlapping(idx: packmod.PackIndex, order: list[int]) -> bool:
    # Entries written by mlver never overlap; a crafted index may. Those are checked one
    # pread at a time instead of in the single pass, which assumes disjoint entries.
    end = 0
    for i in order:
        if idx.offsets[i] < end:
            return True
        end = idx.offsets[i] + idx.lengths[i]
    return False


def _check_entries(fd: int, idx: packmod.PackIndex, order: list[int]) -> tuple[list[str], int]:
    bad = []
    n = 0
    for i in order:
        want = idx.lengths[i]
        data = os.pread(fd, want, idx.offsets[i]) if want <= BLOCK else None
        if data is None:  # a huge (crafted) entry: streamed, never held whole
            h = Hasher()
            pos, left = idx.offsets[i], want
            while left:
                chunk = os.pread(fd, min(left, BLOCK), pos)
                if not chunk:
                    break
                h.update(chunk)
                pos, left, n = pos + len(chunk), left - len(chunk), n + len(chunk)
            ok = not left and h.hexdigest() == idx.keys[i].hex()
        else:
            n += len(data)
            ok = len(data) == want and digest(data) == idx.keys[i]
        if not ok:
            bad.append(idx.keys[i].hex())
    return bad, n


def _check_stream(fd: int, idx: packmod.PackIndex,
                  order: list[int]) -> tuple[list[str], int, str | None]:
    """One pass over the pack in blocks: the trailer checksum over every byte before it,
    and each object's hash over its slice (objects cut by a block end are hashed in two
    parts)."""
    body_end = idx.pack_size - packmod.TRAILER
    whole = Hasher()
    bad: list[str] = []
    buf = bytearray(BLOCK)
    mv = memoryview(buf)
    j, pos = 0, 0
    part: Hasher | None = None  # an object begun in the previous block
    tail = b""
    with io.FileIO(fd, "rb", closefd=False) as f:
        while True:
            k = f.readinto(mv)
            if not k:
                break
            block = mv[:k]
            end = pos + k
            if pos < body_end:
                whole.update(block[:min(k, body_end - pos)])  # type: ignore[arg-type]
            if end > body_end:
                tail = (tail + bytes(block[max(0, body_end - pos):]))[-packmod.TRAILER:]
            while j < len(order):
                i = order[j]
                off, ln = idx.offsets[i], idx.lengths[i]
                if off >= end and not (ln == 0 and off == end):
                    break
                s, e = max(off, pos) - pos, min(off + ln, end) - pos
                if off + ln <= end and part is None:
                    ok = digest(block[s:e]) == idx.keys[i]  # the whole object is here
                else:
                    part = part or Hasher()
                    part.update(block[s:e])  # type: ignore[arg-type]
                    if off + ln > end:
                        break  # continues in the next block
                    ok = part.hexdigest() == idx.keys[i].hex()
                    part = None
                if not ok:
                    bad.append(idx.keys[i].hex())
                j += 1
            pos = end
    why = None
    if j < len(order) or pos != idx.pack_size:
        bad += [idx.keys[i].hex() for i in order[j:]]
        why = "pack is shorter than its index says"
    elif bytes.fromhex(whole.hexdigest()) != tail or tail != idx.pack_trailer:
        why = "pack checksum mismatch (an entry header or the trailer is damaged)"
    return bad, pos, why
