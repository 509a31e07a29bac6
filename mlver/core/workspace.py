"""The workspace: the repository's files as they are now.

A :class:`Workspace` owns the root folder, the project's ``mlver.toml``, the stat
cache (kept in the store's index file, but about workspace files), and the objects
a workspace capture computed without writing them (the overlay: trees, the patch,
the package list of a ``status`` or ``diff REV``).
"""

from __future__ import annotations

import io
import json
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO
from collections.abc import Callable, Iterator

from mlver.base.errors import CaptureError, CorruptObjectError
from mlver.base.paths import not_utf8
from mlver.store import Store
from mlver.store.statcache import StatCache
from mlver.store.trees import Tree

if TYPE_CHECKING:  # pragma: no cover
    from mlver.core.config import ProjectConfig
    from mlver.core.monitor import Watchman

Warn = Callable[[str], None]
_COPY = 8 << 20  # bytes per read when copying a blob to a temporary file


class Workspace:
    """The root folder of a repository and what is computed from it without writing."""

    def __init__(self, root: str, store: Store, warn: Warn | None = None) -> None:
        self.root = root
        self.store = store  # only for the stat cache and env cache rows of its index
        self._warn = warn
        self._project: ProjectConfig | None = None
        self.overlay: dict[str, bytes] = {}
        self._monitor: Watchman | None = None  # see stat_cache()

    def warn(self, message: str) -> None:
        """Report a non-fatal problem (the CLI prints ``Warning: …`` on stderr)."""
        if self._warn is not None:
            self._warn(message)

    @property
    def project(self) -> ProjectConfig:
        """The parsed ``mlver.toml`` of the root."""
        if self._project is None:
            # imported here, as shutil and tempfile below: status never needs them, and
            # every millisecond of its start-up counts (issue 24)
            from mlver.core.config import load_project

            self._project = load_project(self.root)
        return self._project

    def full(self, rel: str) -> str:
        """The absolute path of a root-relative path."""
        return os.path.join(self.root, rel)

    def exists(self, rel: str) -> bool:
        """True when something (even a dangling link) is at the root-relative ``rel``."""
        return os.path.lexists(self.full(rel))

    def to_rel(self, path: str, base: str | None = None) -> str:
        """A user path (relative to ``base``, default the root) as a root-relative posix path."""
        shown = not_utf8(path)
        if shown is not None:
            raise CaptureError(f"path '{shown}' is not valid UTF-8; records store paths as "
                               "UTF-8 text, so rename it")
        full = os.path.normpath(os.path.join(base or self.root, path))
        rel = os.path.relpath(full, self.root)
        if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
            raise CaptureError(f"path '{path}' is outside the mlver repository {self.root}; "
                               "move it inside or run mlver init in a folder above it")
        return "." if rel == "." else rel.replace(os.sep, "/")

    def check_capturable(self, rel: str, what: str) -> None:
        """Refuse a path that is the store, git's folder, or leads out of the repository
        through a link: capturing it would store the store, or a file from elsewhere."""
        parts = rel.split("/")
        for bad in (".mlver", ".git"):
            if bad in parts:
                raise CaptureError(f"{what} is {rel}, inside {bad}/, which mlver never "
                                   "captures; give a path of your project's files")
        full = self.full(rel)
        probe = full if os.path.lexists(full) else os.path.dirname(full)
        real, root = os.path.realpath(probe), os.path.realpath(self.root)
        if real != root and not real.startswith(root + os.sep):
            raise CaptureError(f"{what} ({rel}) leads outside the repository through a "
                               f"symbolic link (to {real}); copy the content into the "
                               "repository instead")

    def stat_cache(self) -> StatCache:
        """A stat cache over the store's index; call ``save()`` when done. With a
        file-system monitor turned on for this store, the cache carries it (one connection
        for the command)."""
        from mlver.core.monitor import Watchman, configured, configured_sock

        cache = StatCache(self.store.index)
        if configured(self.store.config):
            if self._monitor is None:
                self._monitor = Watchman(self.root, configured_sock(self.store.config))
            cache.monitor = self._monitor
            cache.read_tree = self._tree_bytes
        return cache

    def _tree_bytes(self, oid: str) -> bytes | None:
        """A tree's bytes from the local store (verified), or None when it is not there
        or does not read: the caller then walks (never a fetch from a remote)."""
        from mlver.base.errors import MlverError

        objects = self.store.objects
        try:
            return objects.read(oid) if objects.has(oid) else None
        except (MlverError, OSError):
            return None

    # The environment probe is slow; its result is cached until site-packages change.
    def env_cache_get(self, python: str) -> tuple[str, str] | None:
        raw = self.store.index.get_meta("env:" + python)
        if not raw:
            return None
        fingerprint, payload = json.loads(raw)
        return fingerprint, payload

    def env_cache_put(self, python: str, fingerprint: str, payload: str) -> None:
        self.store.index.set_meta("env:" + python, json.dumps([fingerprint, payload]))


class Objects:
    """Objects as a diff sees them: the store's, then the workspace overlay's."""

    def __init__(self, store: Store, ws: Workspace) -> None:
        self.store, self.ws = store, ws
        self._verified: set[str] = set()  # loose objects hashed once per diff, not per read

    def _verify(self, path: str, oid: str) -> None:
        if oid not in self._verified:
            _verify(path, oid)
            self._verified.add(oid)

    def has(self, oid: str) -> bool:
        """True when the overlay or the store holds ``oid``."""
        return oid in self.ws.overlay or self.store.objects.has(oid)

    def read(self, oid: str) -> bytes:
        """Bytes of an object from the store, or from the overlay of a workspace capture."""
        data = self.ws.overlay.get(oid)
        return data if data is not None else self.store.objects.read(oid)

    def tree(self, oid: str) -> Tree:
        """A tree from the overlay or the store, validated."""
        data = self.ws.overlay.get(oid)
        return Tree.decode(data) if data is not None else self.store.tree(oid)

    def open_blob(self, oid: str, path: str | None = None) -> BinaryIO:
        """A readable binary file of blob ``oid``: the store's copy, else the overlay's,
        else the workspace file at ``path`` (root-relative) when it still hashes to ``oid``.

        Raises :class:`CorruptObjectError` when none of them holds it.
        """
        from mlver.base.hashing import hash_file

        objects = self.store.objects
        if objects.has(oid):
            local = objects.local_file(oid)
            if local is not None:
                self._verify(local, oid)
                return open(local, "rb")
            if objects.manifest(oid) is not None:
                # Chunked (big): streamed from its chunks, never whole in memory; each chunk
                # is verified as it is read, the whole file by a read to its end.
                return objects.open(oid)
            return io.BytesIO(objects.read(oid))  # packed, so small: read and verified
        if oid in self.ws.overlay:
            return io.BytesIO(self.ws.overlay[oid])
        if path is not None:
            full = self.ws.full(path)
            if os.path.isfile(full) and hash_file(full)[0] == oid:
                return open(full, "rb")
        if self.store.objects.fetch([oid]):  # data on demand, from the default remote
            return self.open_blob(oid, path)
        raise CorruptObjectError(f"object {oid} is missing from the store; "
                                 "restore .mlver/objects from a backup or re-snapshot")

    @contextmanager
    def local_path(self, oid: str, path: str,
                   tmp_dir: str | None = None) -> Iterator[str | None]:
        """A file holding blob ``oid``, for readers that want a path: a loose object, the
        unchanged workspace file at ``path``, or a temporary copy outside the store of a
        packed one (small) or a chunked one (streamed into it: never whole in memory, and
        verified whole by the copy; in ``tmp_dir`` when given, else the system's). None
        when the content is nowhere."""
        local = self.store.objects.local_file(oid)
        if local is None and not self.store.objects.has(oid) and oid not in self.ws.overlay \
                and os.path.isfile(self.ws.full(path)):
            full = self.ws.full(path)
            if self.store.objects.fetcher is not None and oid not in self._verified:
                from mlver.base.hashing import hash_file

                if hash_file(full)[0] == oid:
                    self._verified.add(oid)
                else:  # an older version pulled with --no-data: bring it, on demand
                    self.store.objects.fetch([oid])
            local = self.store.objects.local_file(oid)
            if local is None and not self.store.objects.has(oid):
                local = full  # a workspace diff's new side: never stored
        elif local is None and not self.store.objects.has(oid) and oid not in self.ws.overlay:
            self.store.objects.fetch([oid])  # data on demand (a no-op without a remote)
            local = self.store.objects.local_file(oid)
        if local is not None:
            # a flipped byte must not become a wrong diff, or a cached profile
            self._verify(local, oid)
            yield local
            return
        try:
            src = self.open_blob(oid, path)
        except CorruptObjectError:
            yield None
            return
        import shutil
        import tempfile

        with src, tempfile.NamedTemporaryFile(prefix="mlver-", suffix=os.path.basename(path),
                                              dir=tmp_dir) as tmp:
            shutil.copyfileobj(src, tmp, _COPY)  # to the end: a chunked one is verified
            tmp.flush()
            yield tmp.name


def _verify(path: str, oid: str) -> None:
    """Raise :class:`CorruptObjectError` unless the file at ``path`` hashes to ``oid``."""
    from mlver.base.hashing import hash_file

    if hash_file(path)[0] != oid:
        raise CorruptObjectError(f"object {oid} is corrupt (its bytes hash differently); "
                                 "restore it from a backup, or delete it and re-snapshot")


class MemoryBatch:
    """A batch that writes nothing: files are only hashed, small objects kept in memory.

    Used to capture the workspace for ``mlver diff REV`` and ``status`` without
    touching the store; the kept objects land in the workspace's overlay.
    """

    def __init__(self, overlay: dict[str, bytes]) -> None:
        self.overlay = overlay

    def has(self, oid: str) -> bool:
        return True

    def add_bytes(self, data: bytes) -> str:
        from mlver.base.hashing import oid_of

        oid = oid_of(data)
        self.overlay[oid] = data
        return oid

    def add_file(self, path: str) -> tuple[str, int]:
        from mlver.base.hashing import hash_file

        return hash_file(path)
