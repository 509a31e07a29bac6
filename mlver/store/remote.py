"""A remote: a second store reached through fsspec (a folder, ``s3://``, ``gs://``, ``az://``).

A remote has the layout of a local store (``config.json``, ``objects/pack/pack-*.pack`` and
``.idx``, loose ``objects/ab/<30 hex>``, ``refs/names/NAME``, ``refs/tags/NAME/TAG``), so a
folder remote is itself a valid store. :class:`RemoteObjectStore` offers what the local
object store offers (``has``, ``open``, ``read``, ``batch``, ``iter_oids``) plus batched
presence checks and parallel fetches; :class:`RemoteRefs` moves refs by compare-and-swap:

* a folder: the local store's lock file (``O_EXCL``), then a rename;
* S3: conditional writes (``If-None-Match: *`` to create, ``If-Match: <etag>`` to update);
* any other fsspec file system: a lock object with a lease, then a plain write.

A remote is untrusted: its pack indexes are validated as local ones are, every object that
arrives is re-hashed before it is stored, refs must hold an oid, and every read is bounded.
Credentials are never handled here: fsspec and its backends find them where they always do.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, BinaryIO

from mlver.base.atomic import copy_atomic, write_atomic
from mlver.core.config import STORE_FORMAT
from mlver.base.errors import CorruptObjectError, MlverError, RecordFormatError, RemoteError
from mlver.base.hashing import HASH_NAME, is_oid, oid_of
from mlver.store import packs as packmod
from mlver.store.objects import PACK_THRESHOLD
from mlver.store.refs import REF_MAX, locked, valid_name
from mlver.store.remote_pruned import add_pruned, read_pruned
from mlver.store.remote_bounds import (
    WORKERS,
    check_index_total,
    check_meta_size,
    copy_bounded,
    hash_file,
    no_links,
    parallel,
    unlink,
    valid_pack_name,
    verify_item,
)
from mlver.store.safefs import check_dirs, read_small
from mlver.store.trees import Tree

CONFIG_MAX = 65536
PACK_TARGET = 32 << 20  # a pack sent to a remote is closed at this size (resumable units)
WHOLE_PACK = 64 << 20  # a pack up to this size is fetched whole when half of it is wanted
SMALL_PACK = 4 << 20  # ... and whatever is wanted of it, when it is this small
RANGE_GAP = 256 << 10  # wanted objects closer than this are fetched in one ranged read
RANGE_MAX = 16 << 20  # longest ranged read
PACK_CACHE = 64 << 20  # small packs kept in memory once fetched whole
IN_MEMORY = 16 << 20  # a loose object up to this size is fetched into memory, larger to a file
LEASE = 60.0  # seconds a remote ref lock object is held at most (lease-lock backends)
LOCK_WAIT = 30.0


def _label(name: str, url: str) -> str:
    return f"remote '{name}' ({url})"


@dataclass(frozen=True)
class Item:
    """One object on its way: its bytes, or a local file holding them (``owned``: the
    receiver may move or delete it)."""

    oid: str
    size: int
    data: bytes | None = None
    path: str | None = None
    owned: bool = False


# -- byte access ------------------------------------------------------------------------------

class Backend:
    """Byte access to one remote folder or prefix through an fsspec file system.

    Paths are relative to the remote's root (``objects/pack/pack-….idx``). Refs move by
    compare-and-swap under a lock object with a lease (the generic way, for file systems
    without conditional writes); :class:`S3Backend` and :class:`LocalBackend` do better.
    """

    cas = "lock object with a lease"

    def __init__(self, fs: Any, root: str, url: str, label: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url
        self.label = label
        self.requests = 0  # requests made (counted by the benchmarks)
        self._count = threading.Lock()

    def _n(self, k: int = 1) -> None:
        with self._count:
            self.requests += k

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}" if self.root else rel

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Turn whatever the file system raises into one :class:`RemoteError` sentence."""
        try:
            yield
        except (MlverError, KeyboardInterrupt, FileNotFoundError):
            raise
        except Exception as e:  # network, credentials, permissions: one sentence
            raise RemoteError(_explain(self.label, what, e)) from None

    # reading
    def list(self, rel: str) -> dict[str, int]:
        """Every file below ``rel``: its path relative to the root -> size. {} when absent."""
        base = self.path(rel)
        with self.guard(f"listing {rel}"):
            self._n()
            try:
                found = self.fs.find(base, detail=True)
            except FileNotFoundError:
                return {}
        out: dict[str, int] = {}
        prefix = self.root + "/" if self.root else ""
        for p, info in found.items():
            p = p.rstrip("/")
            if info.get("type") != "file" or not p.startswith(prefix):
                continue
            out[p[len(prefix):]] = int(info.get("size") or 0)
        return out

    def read(self, rel: str, limit: int, size: int | None = None) -> bytes | None:
        """The bytes of ``rel`` (None when absent); refused when larger than ``limit``."""
        p = self.path(rel)
        with self.guard(f"reading {rel}"):
            try:
                if size is None:
                    self._n()
                    size = int(self.fs.info(p).get("size") or 0)
                if size > limit:
                    raise RemoteError(f"{self.label}: {rel} is {size} bytes, more than the "
                                      f"{limit} a file of its kind may hold; it was not written "
                                      "by mlver")
                self._n()
                data = bytes(self.fs.cat_file(p))
            except FileNotFoundError:
                return None
        if len(data) > limit:
            raise RemoteError(f"{self.label}: {rel} is larger than the {limit} bytes a file of "
                              "its kind may hold; it was not written by mlver")
        return data

    def read_range(self, rel: str, start: int, length: int) -> bytes:
        with self.guard(f"reading {rel}"):
            self._n()
            try:
                data = bytes(self.fs.cat_file(self.path(rel), start=start, end=start + length))
            except FileNotFoundError:
                raise RemoteError(f"{self.label}: {rel} vanished while it was read; if a gc "
                                  "of the remote ran meanwhile, run the command again") from None
        if len(data) != length:
            raise CorruptObjectError(f"{self.label}: {rel} is shorter than its index says; "
                                     "the remote's copy is damaged")
        return data

    def get_file(self, rel: str, local: str, size: int) -> None:
        with self.guard(f"downloading {rel}"):
            self._n()
            with self.fs.open(self.path(rel), "rb") as src, open(local, "wb") as dst:
                copy_bounded(src, dst, size, self.label, rel)
        if os.path.getsize(local) != size:
            raise CorruptObjectError(f"{self.label}: {rel} changed size while it was "
                                     "downloaded; the remote's copy is damaged")

    # writing
    def put(self, rel: str, data: bytes) -> None:
        """Write a whole file (an object store's PUT is atomic: whole or absent)."""
        with self.guard(f"writing {rel}"):
            self._n()
            self.fs.pipe_file(self.path(rel), data)

    def put_file(self, rel: str, local: str) -> None:
        with self.guard(f"uploading {rel}"):
            self._n()
            self.fs.put_file(local, self.path(rel))

    def delete(self, rel: str) -> None:
        with self.guard(f"deleting {rel}"):
            self._n()
            with suppress(FileNotFoundError):
                self.fs.rm_file(self.path(rel))

    def prepare(self) -> None:
        """Create what a new store needs besides its config (folders, for a folder)."""

    # refs: compare-and-swap
    def read_ref(self, rel: str, limit: int = REF_MAX) -> tuple[bytes | None, Any]:
        """``(bytes or None, token)``: the token is what :meth:`swap` compares against."""
        data = self.read(rel, limit)
        return data, data

    def swap(self, rel: str, token: Any, new: bytes, limit: int = REF_MAX) -> bool:
        """Write ``new`` at ``rel`` if it still holds what ``token`` was read from (None:
        absent); False when it moved meanwhile."""
        with self._leased(rel):
            current = self.read(rel, limit)
            if current != token:
                return False
            self.put(rel, new)
            return True

    @contextmanager
    def _leased(self, rel: str) -> Iterator[None]:
        """Hold ``rel.lock``, an object naming its holder and when its lease ends. A lock
        whose lease ended is broken; a new one is read back after a pause, so that of two
        writers that both saw no lock only the one whose lock stayed goes on."""
        lock = rel + ".lock"
        me = f"{uuid.uuid4().hex} {socket.gethostname()} {os.getpid()}"
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            raw = self.read(lock, 4096)
            if raw is not None:
                try:
                    held = json.loads(raw.decode("utf-8"))
                    expires = float(held["expires"])
                except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                    expires = 0.0
                if expires > time.time():
                    if time.monotonic() > deadline:
                        raise RemoteError(
                            f"{self.label}: {lock} is held by another mlver push; wait for it to "
                            f"finish (its lease ends within {LEASE:.0f} s) and run again")
                    time.sleep(0.2)
                    continue
                self.delete(lock)  # lease over: its holder died
            self.put(lock, json.dumps({"holder": me, "expires": time.time() + LEASE}).encode())
            time.sleep(0.2)
            back = self.read(lock, 4096)
            try:
                mine = back is not None and json.loads(back.decode("utf-8")).get("holder") == me
            except (ValueError, UnicodeDecodeError, AttributeError):
                mine = False
            if mine:
                break
            if time.monotonic() > deadline:
                raise RemoteError(f"{self.label}: {lock} keeps changing hands; run again")
        try:
            yield
        finally:
            self.delete(lock)


class S3Backend(Backend):
    """S3 and S3-compatible servers: refs move by conditional writes."""

    cas = "conditional writes (If-None-Match, If-Match)"

    def _split(self, rel: str) -> tuple[str, str]:
        bucket, _, key = self.path(rel).partition("/")
        return bucket, key

    def _call(self, method: str, limit: int = REF_MAX, **kw: Any) -> dict[str, Any]:
        from fsspec.asyn import sync

        fs = self.fs

        async def go() -> dict[str, Any]:
            await fs.set_session()
            s3 = await fs.get_s3(kw.get("Bucket"))
            resp: dict[str, Any] = await getattr(s3, method)(**kw)
            body = resp.get("Body")
            if body is not None:
                try:
                    resp["Data"] = await body.read(limit + 1)
                finally:
                    body.close()
            return resp

        self._n()
        out: dict[str, Any] = sync(fs.loop, go)
        return out

    @staticmethod
    def _code(e: Exception) -> str:
        resp = getattr(e, "response", None)
        if isinstance(resp, dict):
            return str(resp.get("Error", {}).get("Code", ""))
        return ""

    def read_ref(self, rel: str, limit: int = REF_MAX) -> tuple[bytes | None, Any]:
        bucket, key = self._split(rel)
        with self.guard(f"reading {rel}"):
            try:
                resp = self._call("get_object", limit, Bucket=bucket, Key=key)
            except Exception as e:
                if self._code(e) in ("NoSuchKey", "404"):
                    return None, None
                raise
        data = bytes(resp["Data"])
        if len(data) > limit:
            raise RemoteError(f"{self.label}: {rel} is larger than a ref; it was not written "
                              "by mlver")
        return data, resp.get("ETag")

    def swap(self, rel: str, token: Any, new: bytes, limit: int = REF_MAX) -> bool:
        bucket, key = self._split(rel)
        cond = {"IfNoneMatch": "*"} if token is None else {"IfMatch": token}
        with self.guard(f"writing {rel}"):
            try:
                self._call("put_object", Bucket=bucket, Key=key, Body=new, **cond)
            except Exception as e:
                if self._code(e) in ("PreconditionFailed", "412", "ConditionalRequestConflict",
                                     "409"):
                    return False
                raise
        return True


class LocalBackend(Backend):
    """A folder (local disk, NFS, a mounted share). Reads never follow a link out of the
    folder nor block; files are written to ``tmp/`` and renamed (or linked) into place;
    refs move under the local store's lock file, created exclusively."""

    cas = "exclusive create of a lock file"

    def full(self, rel: str) -> str:
        return os.path.join(self.root, *rel.split("/"))

    def prepare(self) -> None:
        with self.guard("creating the store folders"):
            for sub in ("objects/pack", "tmp", "refs/names", "refs/tags"):
                check_dirs(self.root, sub, create=True)

    def list(self, rel: str) -> dict[str, int]:
        base = self.full(rel)
        out: dict[str, int] = {}
        no_links(self.root, rel, self.label)  # os.walk would follow a linked top folder
        with self.guard(f"listing {rel}"):
            self._n()
            for dirpath, dirs, files in os.walk(base):
                for d in dirs:  # mlver writes no links: refused, never followed
                    no_links(self.root, os.path.relpath(os.path.join(dirpath, d), self.root)
                             .replace(os.sep, "/"), self.label)
                for f in files:
                    p = os.path.join(dirpath, f)
                    st = os.lstat(p)
                    if os.path.isfile(p) and not os.path.islink(p):
                        out[os.path.relpath(p, self.root).replace(os.sep, "/")] = st.st_size
        return out

    def read(self, rel: str, limit: int, size: int | None = None) -> bytes | None:
        no_links(self.root, os.path.dirname(rel), self.label)
        with self.guard(f"reading {rel}"):
            self._n()
            return read_small(self.full(rel), limit)

    def read_range(self, rel: str, start: int, length: int) -> bytes:
        no_links(self.root, os.path.dirname(rel), self.label)
        with self.guard(f"reading {rel}"):
            self._n()
            try:
                fd = packmod.open_regular(self.full(rel))
            except FileNotFoundError:
                raise RemoteError(f"{self.label}: {rel} vanished while it was read; run the "
                                  "command again") from None
            try:
                data = os.pread(fd, length, start)
            finally:
                os.close(fd)
        if len(data) != length:
            raise CorruptObjectError(f"{self.label}: {rel} is shorter than its index says; "
                                     "the remote's copy is damaged")
        return data

    def get_file(self, rel: str, local: str, size: int) -> None:
        no_links(self.root, os.path.dirname(rel), self.label)
        with self.guard(f"copying {rel}"):
            self._n()
            fd = packmod.open_regular(self.full(rel))
            with os.fdopen(fd, "rb") as src, open(local, "wb") as dst:
                copy_bounded(src, dst, size, self.label, rel)
        if os.path.getsize(local) != size:
            raise CorruptObjectError(f"{self.label}: {rel} changed size while it was copied")

    def _stage(self) -> str:
        check_dirs(self.root, "tmp", create=True)
        return os.path.join(self.root, "tmp", f"{os.getpid()}-{uuid.uuid4().hex}")

    def _publish(self, tmp: str, rel: str) -> None:
        final = self.full(rel)
        parent = os.path.dirname(final)
        check_dirs(self.root, os.path.relpath(parent, self.root).replace(os.sep, "/"),
                   create=True)
        if rel.startswith("objects/") and "/pack/" not in "/" + rel:
            try:
                os.link(tmp, final)  # a loose object is never replaced
            except FileExistsError:
                pass
            os.unlink(tmp)
        else:
            os.replace(tmp, final)

    def put(self, rel: str, data: bytes) -> None:
        with self.guard(f"writing {rel}"):
            self._n()
            tmp = self._stage()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            self._publish(tmp, rel)

    def put_file(self, rel: str, local: str) -> None:
        with self.guard(f"writing {rel}"):
            self._n()
            tmp = self._stage()
            shutil.copyfile(local, tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(tmp, 0o444)
            self._publish(tmp, rel)

    def delete(self, rel: str) -> None:
        with self.guard(f"deleting {rel}"):
            with suppress(FileNotFoundError):
                os.unlink(self.full(rel))

    def swap(self, rel: str, token: Any, new: bytes, limit: int = REF_MAX) -> bool:
        full = self.full(rel)
        no_links(self.root, os.path.dirname(rel), self.label)
        with self.guard(f"writing {rel}"):
            self._n()
            check_dirs(self.root, os.path.dirname(rel), create=True)
            with locked(full) as lock:
                if read_small(full, limit) != token:
                    return False
                lock.publish_bytes(new)
        return True


def _explain(label: str, what: str, e: BaseException) -> str:
    """One sentence for a failure of the file system behind a remote."""
    kind = type(e).__name__
    text = " ".join(str(e).split())[:300] or kind
    if kind in ("NoCredentialsError", "PartialCredentialsError") or "credentials" in text.lower():
        return (f"{label}: no credentials were found ({text}); set them the usual way "
                "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials or "
                "an instance role) and run again")
    if isinstance(e, PermissionError):
        return (f"{label}: access denied while {what} ({text}); check the credentials and "
                "their permissions on that bucket or folder")
    return (f"{label} cannot be reached ({what}: {text}); check the URL, the network and the "
            "credentials, then run again")


def parse_url(url: str) -> tuple[str, str]:
    """``(protocol, root)`` of a remote URL: ``("file", "/abs/folder")``, ``("s3",
    "bucket/prefix")``, ``("gs", "bucket/prefix")``…"""
    if "://" not in url:
        return "file", os.path.abspath(os.path.expanduser(url))
    proto, _, rest = url.partition("://")
    proto = proto.lower()
    if proto == "file":
        return "file", os.path.abspath(rest)
    if proto in ("s3", "s3a"):
        proto = "s3"
    rest = rest.strip("/")
    if "@" in rest.split("/", 1)[0] and proto != "abfs":
        raise RemoteError(f"the URL {url} holds credentials (user:secret@); remove them and let "
                          "the backend find them in the environment or its config files")
    if not rest:
        raise RemoteError(f"the URL {url} names no bucket or folder; write it as "
                          f"{proto}://BUCKET/PREFIX")
    return proto, rest


def open_backend(name: str, url: str, endpoint_url: str | None = None,
                 locking: str | None = None) -> Backend:
    """The backend for a remote URL: a folder, S3 (or an S3-compatible server at
    ``endpoint_url``), or any other fsspec protocol whose package is installed."""
    proto, root = parse_url(url)
    label = _label(name, url)
    if proto == "file":
        import fsspec

        if locking == "lease":
            return Backend(fsspec.filesystem("file", auto_mkdir=True), root, url, label)
        return LocalBackend(fsspec.filesystem("file"), root, url, label)
    try:
        import fsspec

        opts: dict[str, Any] = {"skip_instance_cache": True}
        if proto == "s3":
            opts.update(use_listings_cache=False, max_concurrency=1)
            if endpoint_url:
                opts["endpoint_url"] = endpoint_url
        elif endpoint_url:
            raise RemoteError(f"endpoint_url is for S3-compatible servers; {url} is not s3://")
        fs = fsspec.filesystem(proto, **opts)
    except (ImportError, ValueError) as e:
        pkg = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs"}.get(
            proto, f"the fsspec package for {proto}://")
        raise RemoteError(f"{label} needs {pkg}, which is not installed ({e}); pip install "
                          f"{pkg}") from None
    except (MlverError, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - a backend class refusing its options: one line
        raise RemoteError(_explain(label, f"opening {proto}://", e)) from None
    if proto == "s3" and locking != "lease":
        return S3Backend(fs, root, url, label)
    return Backend(fs, root, url, label)


# -- objects ----------------------------------------------------------------------------------

def check_config(raw: bytes | None, label: str) -> int:
    """The format of a remote's ``config.json``; refuse what this mlver cannot read."""
    if raw is None:
        raise RemoteError(f"{label} holds no mlver store yet (no config.json); mlver push "
                          "creates one there")
    try:
        cfg = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        cfg = None
    if not isinstance(cfg, dict):
        raise RemoteError(f"{label}: config.json is not a JSON object; it is not an mlver store")
    fmt = cfg.get("format")
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt > STORE_FORMAT or fmt < 1:
        raise RemoteError(f"{label} has store format {fmt!r}, newer than this mlver reads "
                          f"(format {STORE_FORMAT}); upgrade mlver (pip install -U mlver)")
    if cfg.get("hash") != HASH_NAME:
        raise RemoteError(f"{label} uses hash {cfg.get('hash')!r}, this mlver only {HASH_NAME}")
    return fmt


def config_bytes() -> bytes:
    return (json.dumps({"format": STORE_FORMAT, "hash": HASH_NAME}, indent=2, sort_keys=True)
            + "\n").encode()


class RemoteObjectStore:
    """The objects of a remote: listed once (pack indexes cached locally by pack name,
    since packs never change), then looked up in memory."""

    def __init__(self, backend: Backend, cache_dir: str, scratch_dir: str) -> None:
        self.backend = backend
        self.cache_dir = cache_dir
        self.scratch_dir = scratch_dir
        self._lock = threading.RLock()
        self._packs: dict[str, packmod.PackIndex] = {}
        self._loose: dict[str, int] = {}
        self._listed = False
        # Small packs fetched whole stay in memory (records and trees are read one at a
        # time by walks): pack name -> bytes, at most PACK_CACHE bytes in all.
        self._pack_cache: dict[str, bytes] = {}

    @property
    def label(self) -> str:
        return self.backend.label

    # -- listing ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """List the remote's objects (again): one listing, plus each new pack index."""
        with self._lock:
            files = self.backend.list("objects")
            loose: dict[str, int] = {}
            idx: dict[str, int] = {}
            packs: dict[str, int] = {}
            for rel, size in files.items():
                parts = rel.split("/")
                if len(parts) == 3 and parts[1] == "pack":
                    base, ext = os.path.splitext(parts[2])
                    if valid_pack_name(base) and ext == ".idx":
                        idx[base] = size
                    elif valid_pack_name(base) and ext == ".pack":
                        packs[base] = size
                elif len(parts) == 3 and len(parts[1]) == 2 and is_oid(parts[1] + parts[2]):
                    loose[parts[1] + parts[2]] = size
            check_index_total(self.label, idx)  # before any index is read
            todo = [n for n in sorted(idx) if n not in self._packs]
            found = {n: p for n, p in self._packs.items() if n in idx}
            if todo:
                with ThreadPoolExecutor(WORKERS) as pool:
                    for name, pi in zip(todo, pool.map(lambda n: self._index(n, idx[n]), todo), strict=False):
                        found[name] = pi
            for name, pi in list(found.items()):
                if packs.get(name) != pi.pack_size:
                    del found[name]  # a pack still uploading, or damaged: not usable
            self._packs = found
            self._loose = loose
            self._listed = True

    def _index(self, name: str, size: int) -> packmod.PackIndex:
        os.makedirs(self.cache_dir, exist_ok=True)
        path = os.path.join(self.cache_dir, name + ".idx")
        if os.path.exists(path):
            try:
                return packmod.PackIndex(path)
            except CorruptObjectError:
                os.unlink(path)
        data = self.backend.read(f"objects/pack/{name}.idx", packmod.MAX_IDX_BYTES, size)
        if data is None:
            raise RemoteError(f"{self.label}: objects/pack/{name}.idx vanished while listing; "
                              "run the command again")
        try:
            write_atomic(path, data, check=packmod.PackIndex)
        except CorruptObjectError as e:
            raise CorruptObjectError(f"{self.label}: the pack index objects/pack/{name}.idx is "
                                     f"damaged ({str(e).split('(')[1].split(')')[0]}); the "
                                     "remote's copy is damaged") from None
        return packmod.PackIndex(path)

    def remember(self, pack_name: str | None, idx_file: str | None, loose: dict[str, int]) -> None:
        """Note objects this process just wrote, without listing again."""
        with self._lock:
            if pack_name and idx_file:
                os.makedirs(self.cache_dir, exist_ok=True)
                dest = os.path.join(self.cache_dir, pack_name + ".idx")
                copy_atomic(idx_file, dest)
                self._packs[pack_name] = packmod.PackIndex(dest)
            self._loose.update(loose)

    def _ensure(self) -> None:
        if not self._listed:
            self.refresh()

    def _locate(self, oid: str) -> tuple[packmod.PackIndex, int] | int | None:
        self._ensure()
        try:
            key = bytes.fromhex(oid)
        except ValueError:
            return None
        for p in self._packs.values():
            i = p.find(key)
            if i >= 0:
                return p, i
        return self._loose.get(oid)

    # -- the ObjectStore interface -----------------------------------------------------------

    def has(self, oid: str) -> bool:
        return self._locate(oid) is not None

    def missing(self, oids: Iterable[str]) -> list[str]:
        """The oids the remote lacks (one listing for all of them)."""
        return [o for o in oids if not self.has(o)]

    def size(self, oid: str) -> int | None:
        at = self._locate(oid)
        if at is None:
            return None
        if isinstance(at, int):
            return at
        return at[0].lengths[at[1]]

    def iter_oids(self) -> Iterator[str]:
        self._ensure()
        found: set[str] = set(self._loose)
        for p in self._packs.values():
            found.update(p.iter_oids())
        return iter(sorted(found))

    def read(self, oid: str, verify: bool = True) -> bytes:
        """The bytes of one record or tree (always verified: a remote is never trusted);
        one over 256 MiB is refused before it is read (no record or tree is that large)."""
        check_meta_size(self.label, "object", oid, self.size(oid))
        for item in self.iter_objects([oid], in_memory=True):
            assert item.data is not None
            return item.data
        raise AssertionError("unreachable")

    def open(self, oid: str) -> BinaryIO:
        return io.BytesIO(self.read(oid))

    def tree(self, oid: str) -> Tree:
        return Tree.decode(self.read(oid))

    def batch(self) -> RemoteBatch:
        return RemoteBatch(self)

    # -- fetching many -----------------------------------------------------------------------

    def _plan(self, oids: Iterable[str], in_memory: bool = False
              ) -> list[Callable[[], list[Item]]]:
        """Units of work, each one request: a whole pack, a ranged read of neighbouring
        objects, or a loose object."""
        by_pack: dict[str, list[int]] = {}
        units: list[Callable[[], list[Item]]] = []
        absent = []
        for oid in dict.fromkeys(oids):
            at = self._locate(oid)
            if at is None:
                absent.append(oid)
            elif isinstance(at, int):
                units.append(self._loose_unit(oid, at, in_memory))
            else:
                by_pack.setdefault(at[0].name, []).append(at[1])
        if absent:
            raise CorruptObjectError(
                f"object {absent[0]} is not in {self.label}"
                + (f" (nor are {len(absent) - 1} more)" if len(absent) > 1 else "")
                + "; push it there from a store that has it")
        for name, idxs in by_pack.items():
            p = self._packs[name]
            idxs.sort(key=p.offsets.__getitem__)
            cached = self._pack_cache.get(name)
            if cached is not None:
                units.append(self._cached_unit(p, idxs, cached))
                continue
            wanted = sum(p.lengths[i] for i in idxs)
            if p.pack_size <= SMALL_PACK or (p.pack_size <= WHOLE_PACK
                                             and 2 * wanted >= p.pack_size):
                units.append(self._range_unit(p, idxs, 0, p.pack_size))
                continue
            run: list[int] = []
            for i in idxs:
                if run:
                    start = p.offsets[run[0]]
                    end = p.offsets[run[-1]] + p.lengths[run[-1]]
                    if p.offsets[i] - end > RANGE_GAP or p.offsets[i] + p.lengths[i] - start \
                            > RANGE_MAX:
                        units.append(self._range_unit(p, run, start, end - start))
                        run = []
                run.append(i)
            if run:
                start = p.offsets[run[0]]
                end = p.offsets[run[-1]] + p.lengths[run[-1]]
                units.append(self._range_unit(p, run, start, end - start))
        return units

    def _cached_unit(self, p: packmod.PackIndex, idxs: list[int], data: bytes
                     ) -> Callable[[], list[Item]]:
        def run() -> list[Item]:
            return [Item(p.keys[i].hex(), p.lengths[i],
                         data=data[p.offsets[i]:p.offsets[i] + p.lengths[i]]) for i in idxs]
        return run

    def _range_unit(self, p: packmod.PackIndex, idxs: list[int], start: int, length: int
                    ) -> Callable[[], list[Item]]:
        rel = f"objects/pack/{p.name}.pack"

        def run() -> list[Item]:
            data = self.backend.read_range(rel, start, length)
            if start == 0 and length == p.pack_size and length <= SMALL_PACK:
                with self._lock:
                    while self._pack_cache and sum(map(len, self._pack_cache.values())) \
                            + length > PACK_CACHE:
                        del self._pack_cache[next(iter(self._pack_cache))]
                    self._pack_cache[p.name] = data
            out = []
            for i in idxs:
                off = p.offsets[i] - start
                obj = data[off:off + p.lengths[i]]
                out.append(Item(p.keys[i].hex(), len(obj), data=obj))
            return out
        return run

    def _loose_unit(self, oid: str, size: int, in_memory: bool = False
                    ) -> Callable[[], list[Item]]:
        rel = f"objects/{oid[:2]}/{oid[2:]}"

        def run() -> list[Item]:
            if size <= IN_MEMORY or in_memory:
                data = self.backend.read_range(rel, 0, size) if size else b""
                return [Item(oid, size, data=data)]
            os.makedirs(self.scratch_dir, exist_ok=True)
            local = os.path.join(self.scratch_dir, f"{os.getpid()}-{uuid.uuid4().hex}.dl")
            try:
                self.backend.get_file(rel, local, size)
            except BaseException:
                unlink(local)
                raise
            return [Item(oid, size, path=local, owned=True)]
        return run

    def iter_objects(self, oids: Iterable[str], in_memory: bool = False) -> Iterator[Item]:
        """Fetch ``oids`` in parallel and yield each as it arrives, verified: bytes whose
        hash is not their oid raise :class:`CorruptObjectError` naming the remote."""
        units = self._plan(oids, in_memory)
        for items in parallel(units):
            for it in items:
                try:
                    verify_item(it, self.label)
                except CorruptObjectError as bad:
                    it = self._good_copy(it.oid, in_memory, bad)
                yield it

    def _good_copy(self, oid: str, in_memory: bool, bad: CorruptObjectError) -> Item:
        """Another copy of ``oid`` that hashes right (store rule 5: a reader accepts any
        good copy), read afresh from each pack and the loose object; ``bad`` when none."""
        key = bytes.fromhex(oid)
        units = [self._range_unit(p, [i], p.offsets[i], p.lengths[i])
                 for p in list(self._packs.values()) if (i := p.find(key)) >= 0]
        if oid in self._loose:
            units.append(self._loose_unit(oid, self._loose[oid], in_memory))
        for unit in units:
            for it in unit():
                try:
                    verify_item(it, self.label)
                    return it
                except CorruptObjectError:
                    continue
        raise bad


class RemoteBatch:
    """Objects on their way to a remote: small ones appended to packs of up to
    :data:`PACK_TARGET` bytes (each uploaded as soon as it is full: the pack, then its
    index, after which its objects exist), large ones uploaded as loose objects. Uploads
    run on a pool; adding waits while too many are in flight."""

    def __init__(self, remote: RemoteObjectStore) -> None:
        self.remote = remote
        self._pool = ThreadPoolExecutor(WORKERS)
        self._futures: list[Future[None]] = []
        self._lock = threading.Lock()
        self._pack: packmod.PackWriter | None = None
        self._pack_name = ""
        self._pack_bytes = 0
        self._staged: set[str] = set()
        self._temp: list[str] = []
        os.makedirs(remote.scratch_dir, exist_ok=True)
        self.uploaded = 0  # bytes sent

    def __enter__(self) -> RemoteBatch:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def has(self, oid: str) -> bool:
        return oid in self._staged or self.remote.has(oid)

    def _submit(self, fn: Callable[[], None]) -> None:
        # Back-pressure: at most 2 × WORKERS uploads queued (bounds disk and memory).
        while True:
            with self._lock:
                self._futures = [f for f in self._futures if not f.done() or f.exception()]
                failed = [f for f in self._futures if f.done()]
                if failed:
                    failed[0].result()
                if len(self._futures) < 2 * WORKERS:
                    self._futures.append(self._pool.submit(fn))
                    return
                first = self._futures[0]
            first.exception()  # wait for one

    def add_bytes(self, data: bytes, expect: str | None = None) -> str:
        oid = oid_of(data)
        if expect is not None and oid != expect:
            raise CorruptObjectError(f"object {expect} is corrupt in this store (its bytes hash "
                                     f"to {oid}); it was not sent")
        if oid in self._staged or self.remote.has(oid):
            return oid
        self._staged.add(oid)
        if len(data) > PACK_THRESHOLD:
            tmp = os.path.join(self.remote.scratch_dir, f"{os.getpid()}-{uuid.uuid4().hex}.up")
            with open(tmp, "wb") as f:
                f.write(data)
            self._loose(oid, tmp, True)
            return oid
        with self._lock:
            if self._pack is None:
                self._pack_name = f"pack-{os.urandom(16).hex()}"
                base = os.path.join(self.remote.scratch_dir, self._pack_name)
                self._pack = packmod.PackWriter(base + ".pack", base + ".idx")
                self._pack_bytes = 0
            self._pack.add(oid, data)
            self._pack_bytes += len(data) + 20
            full = self._pack_bytes >= PACK_TARGET
        if full:
            self._close_pack()
        return oid

    def add_file(self, path: str) -> tuple[str, int]:
        """Send the file at ``path`` (left in place); return ``(oid, size)``."""
        oid, size = hash_file(path)
        self._send(path, oid, size, owned=False)
        return oid, size

    def adopt(self, path: str, expect: str) -> int:
        """Send a file handed over by the caller (removed once sent), refused unless it
        hashes to ``expect``."""
        oid, size = hash_file(path)
        if oid != expect:
            unlink(path)
            raise CorruptObjectError(f"object {expect} is corrupt (its bytes hash to {oid}); "
                                     "it was not sent")
        self._send(path, oid, size, owned=True)
        return size

    def _send(self, path: str, oid: str, size: int, owned: bool) -> None:
        if size <= PACK_THRESHOLD:
            with open(path, "rb") as f:
                data = f.read()
            if owned:
                unlink(path)
            self.add_bytes(data, oid)
        elif oid in self._staged or self.remote.has(oid):
            if owned:
                unlink(path)
        else:
            self._staged.add(oid)
            self._loose(oid, path, owned)

    def _loose(self, oid: str, path: str, owned: bool) -> None:
        rel = f"objects/{oid[:2]}/{oid[2:]}"
        size = os.path.getsize(path)

        def up() -> None:
            try:
                self.remote.backend.put_file(rel, path)
            finally:
                if owned:
                    unlink(path)
            self.remote.remember(None, None, {oid: size})
            with self._lock:
                self.uploaded += size
        self._submit(up)

    def _close_pack(self) -> None:
        with self._lock:
            pack, name = self._pack, self._pack_name
            self._pack = None
        if pack is None:
            return
        pack.finish()

        def up() -> None:
            try:
                size = os.path.getsize(pack.pack_path)
                self.remote.backend.put_file(f"objects/pack/{name}.pack", pack.pack_path)
                self.remote.backend.put_file(f"objects/pack/{name}.idx", pack.idx_path)
                self.remote.remember(name, pack.idx_path, {})
                with self._lock:
                    self.uploaded += size
            finally:
                unlink(pack.pack_path)
                unlink(pack.idx_path)
        self._submit(up)

    def commit(self) -> None:
        """Send what is left and wait for every upload; the objects exist on return."""
        try:
            self._close_pack()
            for f in list(self._futures):
                f.result()
        except BaseException:
            self.abort()
            raise
        finally:
            self._pool.shutdown(wait=True)
        self._futures = []

    def abort(self) -> None:
        with self._lock:
            pack = self._pack
            self._pack = None
            futures = list(self._futures)
        for f in futures:
            f.cancel()
        self._pool.shutdown(wait=True)
        if pack is not None:
            pack.abort()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


# -- refs -------------------------------------------------------------------------------------

def _parse_ref(label: str, rel: str, data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        value = data.decode("ascii").strip()
    except UnicodeDecodeError:
        value = ""
    if not is_oid(value):
        raise RecordFormatError(f"{label}: the ref {rel} does not hold an oid; it was not "
                                "written by mlver (fix or delete it on the remote)")
    return value


class RemoteRefs:
    """The refs of a remote, moved only by compare-and-swap."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def _read(self, rel: str) -> tuple[str | None, Any]:
        data, token = self.backend.read_ref(rel)
        return _parse_ref(self.backend.label, rel, data), token

    def listing(self) -> tuple[list[str], dict[str, list[str]]]:
        """Names with a ref, and the tags of each name (one listing)."""
        names: list[str] = []
        tags: dict[str, list[str]] = {}
        for rel in sorted(self.backend.list("refs")):
            parts = rel.split("/")
            if len(parts) == 3 and parts[1] == "names" and valid_name(parts[2]):
                names.append(parts[2])
            elif len(parts) == 4 and parts[1] == "tags" and valid_name(parts[2]) \
                    and valid_name(parts[3]):
                tags.setdefault(parts[2], []).append(parts[3])
        return names, tags

    def names(self) -> list[str]:
        return self.listing()[0]

    def tag_names(self) -> list[str]:
        return sorted(self.listing()[1])

    def get(self, name: str) -> str | None:
        if not valid_name(name):
            return None
        return self._read(f"refs/names/{name}")[0]

    def read(self, name: str) -> tuple[str | None, Any]:
        """``(oid or None, token)`` of a name's ref, for :meth:`update`."""
        return self._read(f"refs/names/{name}")

    def update(self, name: str, new: str, token: Any) -> bool:
        """Point ``name`` at ``new`` if its ref is still as read with ``token``."""
        return self.backend.swap(f"refs/names/{name}", token, (new + "\n").encode("ascii"))

    def get_tag(self, name: str, tag: str) -> str | None:
        if not (valid_name(name) and valid_name(tag)):
            return None
        return self._read(f"refs/tags/{name}/{tag}")[0]

    def read_tag(self, name: str, tag: str) -> tuple[str | None, Any]:
        return self._read(f"refs/tags/{name}/{tag}")

    def update_tag(self, name: str, tag: str, new: str, token: Any) -> bool:
        return self.backend.swap(f"refs/tags/{name}/{tag}", token, (new + "\n").encode("ascii"))

    def tags(self, name: str) -> dict[str, str]:
        if not valid_name(name):
            return {}
        _names, tags = self.listing()
        return {t: v for t in tags.get(name, []) if (v := self.get_tag(name, t))}

    def all(self, only: Iterable[str] | None = None
            ) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
        """Every head and tag (of the names ``only``): one listing, reads in parallel."""
        names, tags = self.listing()
        keep = set(only) if only is not None else None
        rels = [f"refs/names/{n}" for n in names if keep is None or n in keep]
        rels += [f"refs/tags/{n}/{t}" for n, ts in tags.items() if keep is None or n in keep
                 for t in ts]
        with ThreadPoolExecutor(WORKERS) as pool:
            values = list(pool.map(lambda r: self._read(r)[0], rels))
        heads: dict[str, str] = {}
        tag_map: dict[tuple[str, str], str] = {}
        for rel, v in zip(rels, values, strict=False):
            if v is None:
                continue
            parts = rel.split("/")
            if parts[1] == "names":
                heads[parts[2]] = v
            else:
                tag_map[(parts[2], parts[3])] = v
        return heads, tag_map

    def pruned(self) -> frozenset[str]:
        """The records pushed after ``gc --keep-last`` removed their data
        (``refs/pruned``, as in a local store): the remote holds them without their trees
        and data on purpose, and a pull marks them "data removed by gc"."""
        return read_pruned(self.backend)[0]

    def add_pruned(self, oids: Iterable[str]) -> None:
        """Add record oids to the remote's ``refs/pruned`` by compare-and-swap."""
        add_pruned(self.backend, oids)


class RemoteStore:
    """A remote opened for use: its objects and refs, and the decoded-object memo that the
    record and reachability code expects of a store."""

    def __init__(self, name: str, url: str, backend: Backend, cache_dir: str,
                 scratch_dir: str) -> None:
        self.name = name
        self.url = url
        self.path = url
        self.backend = backend
        self.objects = RemoteObjectStore(backend, cache_dir, scratch_dir)
        self.refs = RemoteRefs(backend)
        self.memo: dict[str, object] = {}
        self.format = 0

    @property
    def label(self) -> str:
        return self.backend.label

    def tree(self, oid: str) -> Tree:
        try:
            return self.objects.tree(oid)
        except RecordFormatError as e:
            raise RecordFormatError(f"tree {oid} of {self.label}: {e}") from None

    def check(self, create: bool = False) -> None:
        """Read the remote's config (refusing a newer format); with ``create``, make a
        new store there when it has none."""
        raw = self.backend.read("config.json", CONFIG_MAX)
        if raw is None and create:
            self.backend.prepare()
            self.backend.swap("config.json", None, config_bytes())
            raw = self.backend.read("config.json", CONFIG_MAX)
        self.format = check_config(raw, self.label)
        if create and self.format < STORE_FORMAT:
            # Packs are about to arrive: an older mlver must not misread the store.
            self.backend.put("config.json", config_bytes())
            self.format = STORE_FORMAT


__all__ = ["Backend", "Item", "LocalBackend", "RemoteBatch", "RemoteObjectStore", "RemoteRefs",
           "RemoteStore", "S3Backend", "check_config", "open_backend", "parse_url"]
