"""Byte access to a remote through fsspec (any protocol).

:class:`Backend` reads, writes and lists files below a remote's root, with every read
bounded, and moves a ref by compare-and-swap under a lock object with a lease (the generic
way, for file systems without conditional writes). S3 is
:class:`~mlver.store.remote_s3.S3Backend` (conditional writes); a folder is
:class:`~mlver.store.remote_folder.LocalBackend`.
Every failure of the file system becomes one :class:`RemoteError` sentence.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, Protocol

from mlver.base.errors import CorruptObjectError, MlverError, RemoteError
from mlver.store.refs import REF_MAX
from mlver.store.remote_bounds import copy_bounded

LEASE = 60.0  # seconds a remote ref lock object is held at most (lease-lock backends)
LOCK_WAIT = 30.0


class Medium(Protocol):
    """The backend interface: what the one layout needs of the medium that holds a store's
    bytes, paths relative to its root (:mod:`mlver.store.layout` names them). Implemented
    by :class:`Backend` (fsspec, any protocol; refs under a leased lock object),
    :class:`S3Backend` (refs by conditional writes) and
    :class:`~mlver.store.remote_folder.LocalBackend` (a folder, written by the local
    store's code: :mod:`mlver.store.publish`, :func:`mlver.store.refs.update_file`)."""

    label: str
    requests: int

    def survey(self) -> None:
        """List the whole remote once for this command, where requests cost: later
        listings, absences and sizes are answered from it (kept true for our own writes)."""
        ...

    def list(self, rel: str) -> dict[str, int]:
        """Every file below ``rel``: its path -> size ({} when absent)."""
        ...

    def drop_survey(self) -> None:
        """Forget the survey: later listings and reads ask the medium."""
        ...

    def read(self, rel: str, limit: int, size: int | None = None) -> bytes | None:
        """A whole small file, refused past ``limit`` bytes; None when absent."""
        ...

    def read_range(self, rel: str, start: int, length: int) -> bytes:
        """``length`` bytes from ``start``; short means damage."""
        ...

    def get_file(self, rel: str, local: str, size: int) -> None:
        """Copy ``rel`` to the local file ``local``, never past ``size`` bytes."""
        ...

    def put(self, rel: str, data: bytes) -> None:
        """Write a whole file (whole or absent)."""
        ...

    def put_file(self, rel: str, local: str) -> None:
        """Write a whole file from the local file ``local``."""
        ...

    def delete(self, rel: str) -> None:
        """Remove ``rel`` (nothing when absent)."""
        ...

    def prepare(self) -> None:
        """Create what a new store needs besides its config."""
        ...

    def read_ref(self, rel: str, limit: int = ...) -> tuple[bytes | None, Any]:
        """A ref's bytes (None: absent) and the token :meth:`swap` compares against."""
        ...

    def proven(self, rel: str, guesses: tuple[bytes, ...]) -> tuple[bytes, Any] | None:
        """``(bytes, token)`` as :meth:`read_ref` gives them, without a request, when the
        survey proves ``rel`` holds one of ``guesses``; None when it cannot tell."""
        ...

    def swap(self, rel: str, token: Any, new: bytes, limit: int = ...) -> bool:
        """Compare-and-swap: write ``new`` if ``rel`` is still as read with ``token``."""
        ...

    def begin(self) -> None:
        """A batch of object writes starts (see :meth:`flush`)."""
        ...

    def flush(self) -> None:
        """Publish durably, in the layout's order, what the batch has written so far."""
        ...

    def end(self, publish: bool) -> None:
        """The batch ends: publish what waits, or drop it."""
        ...


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
        # What :meth:`survey` listed (path -> size), kept true for this process's own writes;
        # None: ask the medium. Never consulted where a live answer matters (the lease
        # lock, the read inside a leased swap); dropped when a compare-and-swap fails.
        self._known: dict[str, int] | None = None
        self._etags: dict[str, str] = {}  # of the survey's files, where the medium gives them

    def _n(self, k: int = 1) -> None:
        with self._count:
            self.requests += k

    def path(self, rel: str) -> str:
        """The file system path of ``rel`` (relative to the remote's root)."""
        return f"{self.root}/{rel}" if self.root else rel

    @contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Turn whatever the file system raises into one :class:`RemoteError` sentence."""
        try:
            yield
        except (MlverError, KeyboardInterrupt, FileNotFoundError):
            raise
        except Exception as e:  # network, credentials, permissions: one sentence
            raise RemoteError(explain(self.label, what, e)) from None

    # what a command knows of the remote
    def survey(self) -> None:
        """List the whole remote in one go (one request per 1,000 files on S3) so that the
        command's later listings (objects, refs) and its reads of absent files (a ref not
        yet pushed, ``refs/pruned``) cost no request, and sizes need no HEAD. Only for a
        remote under a prefix (``s3://bucket/prefix``): a bucket's root may hold anything."""
        if self._known is None and "/" in self.root.strip("/"):
            etags: dict[str, str] = {}
            found = self._list_live("", etags)
            with self._count:
                self._known, self._etags = found, etags

    def _no_root(self) -> None:
        """A listing found nothing at all: raise when that is because the place holding the
        remote does not exist (S3: its bucket), not because the remote is empty."""

    def _note(self, rel: str, size: int | None) -> None:
        """Keep the survey true after this process wrote (``size``) or deleted ``rel``."""
        with self._count:
            self._etags.pop(rel, None)
            if self._known is not None:
                if size is None:
                    self._known.pop(rel, None)
                else:
                    self._known[rel] = size

    def drop_survey(self) -> None:
        """Forget the survey (someone else wrote meanwhile: a compare-and-swap failed, a ref
        moved, a reader missed an object the refs reach); later listings and reads ask the
        medium."""
        with self._count:
            self._known, self._etags = None, {}

    def _surveyed(self, rel: str) -> tuple[bool, int | None]:
        """``(known, size)``: whether the survey answers for ``rel``, and its size there
        (None: absent)."""
        with self._count:
            if self._known is None:
                return False, None
            return True, self._known.get(rel)

    # reading
    def list(self, rel: str) -> dict[str, int]:
        """Every file below ``rel``: its path relative to the root -> size. {} when absent."""
        with self._count:
            known = self._known
            if known is not None:
                pre = rel.strip("/") + "/"
                return {p: n for p, n in known.items() if p.startswith(pre)}
        return self._list_live(rel)

    def _list_live(self, rel: str, etags: dict[str, str] | None = None) -> dict[str, int]:
        base = self.path(rel) if rel else self.root
        with self.guard(f"listing {rel}" if rel else "listing it"):
            self._n()
            try:
                found = self.fs.find(base, detail=True)
            except FileNotFoundError:
                self._no_root()
                return {}
        out: dict[str, int] = {}
        prefix = self.root + "/" if self.root else ""
        for p, info in found.items():
            p = p.rstrip("/")
            if info.get("type") != "file" or not p.startswith(prefix):
                continue
            out[p[len(prefix):]] = int(info.get("size") or 0)
            etag = info.get("ETag")
            rel_p = p[len(prefix):]
            # kept for proofs (refs, config), not for each of a big remote's objects
            if etags is not None and isinstance(etag, str) and not rel_p.startswith("objects/"):
                etags[rel_p] = etag
        return out

    def read(self, rel: str, limit: int, size: int | None = None) -> bytes | None:
        """The bytes of ``rel`` (None when absent); refused when larger than ``limit``."""
        if size is None:
            known, size = self._surveyed(rel)
            if known and size is None:
                return None
        return self._read(rel, limit, size)

    def _read(self, rel: str, limit: int, size: int | None = None) -> bytes | None:
        """:meth:`read` from the medium itself."""
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
                # bounded even when ``size`` (a listing's) is stale or crafted
                data = bytes(self.fs.cat_file(p, start=0, end=limit + 1))
            except FileNotFoundError:
                return None
        if len(data) > limit:
            raise RemoteError(f"{self.label}: {rel} is larger than the {limit} bytes a file of "
                              "its kind may hold; it was not written by mlver")
        return data

    def read_range(self, rel: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``rel`` from ``start``; a short read means damage."""
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
        """Download ``rel`` to the local file ``local``, never past ``size`` bytes."""
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
        self._note(rel, len(data))

    def put_file(self, rel: str, local: str) -> None:
        """Upload the local file ``local`` to ``rel`` (whole or absent)."""
        with self.guard(f"uploading {rel}"):
            self._n()
            self.fs.put_file(local, self.path(rel))
        self._note(rel, os.path.getsize(local))

    def delete(self, rel: str) -> None:
        """Remove ``rel`` (nothing when it is absent)."""
        with self.guard(f"deleting {rel}"):
            self._n()
            with suppress(FileNotFoundError):
                self.fs.rm_file(self.path(rel))
        self._note(rel, None)

    def prepare(self) -> None:
        """Create what a new store needs besides its config (folders, for a folder)."""

    # batches: where the medium makes a batch durable at once (a folder), the files of
    # ``objects/`` put between begin() and end() may wait for flush(); here each PUT is
    # already whole and durable, so there is nothing to wait for.
    def begin(self) -> None:
        """A batch of object uploads starts."""

    def flush(self) -> None:
        """Publish, durably and in the layout's order, what the batch has put so far."""

    def end(self, publish: bool) -> None:
        """The batch ends: publish what waits (``publish``) or drop it."""

    # refs: compare-and-swap
    def read_ref(self, rel: str, limit: int = REF_MAX) -> tuple[bytes | None, Any]:
        """``(bytes or None, token)``: the token is what :meth:`swap` compares against."""
        known, size = self._surveyed(rel)
        if known and size is None:
            return None, None  # absent when surveyed (as the refs' listing is); swap checks
        data = self._read(rel, limit)
        if known:
            # A generic listing proves no content: the ref may have moved since, to what
            # the listing lacks (a push landed in between), so the medium is asked from now.
            self.drop_survey()
        return data, data

    def proven(self, rel: str, guesses: tuple[bytes, ...]) -> tuple[bytes, Any] | None:
        """None: a generic file system's listing proves no file's content."""
        return None

    def swap(self, rel: str, token: Any, new: bytes, limit: int = REF_MAX) -> bool:
        """Write ``new`` at ``rel`` if it still holds what ``token`` was read from (None:
        absent); False when it moved meanwhile."""
        with self._leased(rel):
            current = self._read(rel, limit)
            if current != token:
                self.drop_survey()
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
            raw = self._read(lock, 4096)
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
            back = self._read(lock, 4096)
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


def explain(label: str, what: str, e: BaseException) -> str:
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

