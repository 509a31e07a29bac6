"""A remote: a second store reached through fsspec (a folder, ``s3://``, ``gs://``, ``az://``).

A remote has the layout of a local store (``config.json``, ``objects/pack/pack-*.pack`` and
``.idx``, loose ``objects/ab/<30 hex>``, ``refs/names/NAME``, ``refs/tags/NAME/TAG``), so a
folder remote is itself a valid store. :class:`RemoteStore` opens one: its objects
(:mod:`.remote_listing`, :mod:`.remote_objects` to read, :mod:`.remote_batch` to write) and
its refs (:mod:`.remote_refs`), over a backend that reaches the bytes
(:mod:`.remote_backend`, :mod:`.remote_folder`). Refs move by compare-and-swap:

* a folder: the local store's lock file (``O_EXCL``), then a rename;
* S3: conditional writes (``If-None-Match: *`` to create, ``If-Match: <etag>`` to update);
* any other fsspec file system: a lock object with a lease, then a plain write.

A remote is untrusted: its pack indexes are validated as local ones are, every object that
arrives is re-hashed before it is stored, refs must hold an oid, and every read is bounded.
Credentials are never handled here: fsspec and its backends find them where they always do.
"""

from __future__ import annotations

import json
import os
from typing import Any

from mlver.base.errors import MlverError, RecordFormatError, RemoteError
from mlver.base.hashing import HASH_NAME
from mlver.store.remote_backend import Backend, Medium, explain
from mlver.store.remote_s3 import S3Backend
from mlver.store.remote_folder import LocalBackend
from mlver.store.remote_objects import RemoteObjectStore
from mlver.store.remote_refs import RemoteRefs
from mlver.store.settings import STORE_FORMAT, new_config
from mlver.store.trees import Tree

CONFIG_MAX = 65536


def _label(name: str, url: str) -> str:
    return f"remote '{name}' ({url})"


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
                 locking: str | None = None) -> Medium:
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
        raise RemoteError(explain(label, f"opening {proto}://", e)) from None
    if proto == "s3" and locking != "lease":
        return S3Backend(fs, root, url, label)
    return Backend(fs, root, url, label)


# -- objects ----------------------------------------------------------------------------------

def check_config(raw: bytes | None, label: str) -> int:
    """The format of a remote's ``config.json``; refuse what this mlver cannot read."""
    if raw is None:
        raise RemoteError(f"{label} holds no mlver store yet (no config.json); check the URL "
                          "(a mistyped or missing bucket, prefix or folder looks the same), or "
                          "run mlver push to create one there")
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
    """The ``config.json`` of a new remote store (this mlver's format, hash and chunker id,
    as a local store's: :func:`mlver.store.settings.new_config`)."""
    return (json.dumps(new_config(), indent=2, sort_keys=True) + "\n").encode()


class RemoteStore:
    """A remote opened for use: its objects and refs, and the decoded-object memo that the
    record and reachability code expects of a store."""

    def __init__(self, name: str, url: str, backend: Medium, cache_dir: str,
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
        """How messages name this remote: ``remote 'NAME' (URL)``."""
        return self.backend.label

    def tree(self, oid: str) -> Tree:
        """Load and validate the tree ``oid`` from the remote (verified on arrival)."""
        try:
            return self.objects.tree(oid)
        except RecordFormatError as e:
            raise RecordFormatError(f"tree {oid} of {self.label}: {e}") from None

    def check(self, create: bool = False) -> None:
        """Read the remote's config (refusing a newer format); with ``create``, make a
        new store there when it has none. First the whole remote is listed once
        (:meth:`~mlver.store.remote_backend.Medium.survey`): the command's listings and
        reads of absent refs cost no request after that."""
        self.backend.survey()
        hit = self.backend.proven("config.json", (config_bytes(),))
        raw = hit[0] if hit is not None else self.backend.read("config.json", CONFIG_MAX)
        if raw is None and create:
            self.backend.prepare()
            made = self.backend.swap("config.json", None, config_bytes())
            # another push may have made it first: then its config is read
            raw = config_bytes() if made else self.backend.read("config.json", CONFIG_MAX)
        self.format = check_config(raw, self.label)
        if create and self.format < STORE_FORMAT:
            # Packs and chunk manifests are about to arrive: an older mlver must refuse the
            # store rather than misread it (a format-2 reader would not see chunked files).
            self.backend.put("config.json", config_bytes())
            self.format = STORE_FORMAT


__all__ = ["RemoteStore", "check_config", "config_bytes", "open_backend", "parse_url"]
