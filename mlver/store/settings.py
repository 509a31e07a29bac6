"""The store's own settings: ``.mlver/config.json`` (format version, hash name, remotes).

The config carries the format version and hash name; a store written by a newer mlver is
refused rather than misread. It belongs to the store (the layers above read their parts of
it, such as the store's own remotes, through these functions).
"""

from __future__ import annotations

import json
import os
from typing import Any

from mlver.base.atomic import write_atomic
from mlver.base.errors import StoreFormatError
from mlver.base.hashing import HASH_NAME
from mlver.store.chunker import CHUNKER_ID
from mlver.store.safefs import read_small

# 3: big files as content-defined chunks plus a manifest; 2: small objects in packs;
# 1: loose objects only. Older formats are read as they are and upgraded by the first write.
STORE_FORMAT = 3
CONFIG_FILE = "config.json"


def new_config() -> dict[str, Any]:
    """The config of a store this mlver creates: its format, hash and chunker id (the
    parameters that cut big files; see :mod:`mlver.store.chunker`)."""
    return {"format": STORE_FORMAT, "hash": HASH_NAME, "chunker": CHUNKER_ID}


def write_store_config(store_dir: str) -> None:
    """Write a fresh store config (to a temporary name, then renamed into place)."""
    rewrite_store_config(store_dir, new_config())


def read_store_config(store_dir: str) -> dict[str, Any]:
    """Read and check the store config; refuse formats this mlver cannot read."""
    path = os.path.join(store_dir, CONFIG_FILE)
    raw = read_small(path, 65536)  # never a link, a FIFO or /dev/zero
    if raw is None:
        raise StoreFormatError(
            f"{path} is missing; this is not a complete mlver store (run mlver init)")
    try:
        cfg = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise StoreFormatError(f"{path} is not valid JSON ({e}); restore it") from None
    if not isinstance(cfg, dict):
        raise StoreFormatError(f"{path} is not a JSON object; restore it")
    fmt = cfg.get("format")
    if not isinstance(fmt, int) or fmt > STORE_FORMAT:
        raise StoreFormatError(
            f"the store at {store_dir} has format {fmt!r}, newer than this mlver reads "
            f"(format {STORE_FORMAT}); upgrade mlver (pip install -U mlver)")
    chunker = cfg.get("chunker", CHUNKER_ID)
    if not isinstance(chunker, str) or not 0 < len(chunker) <= 100 or not chunker.isprintable():
        raise StoreFormatError(
            f"{path}: its chunker id {str(chunker)[:40]!r} is not one (a short printable "
            f"name such as {CHUNKER_ID!r}); restore config.json from a backup")
    if cfg.get("hash") != HASH_NAME:
        raise StoreFormatError(
            f"the store at {store_dir} uses hash {cfg.get('hash')!r}, this mlver only "
            f"{HASH_NAME}; upgrade mlver")
    return cfg


def rewrite_store_config(store_dir: str, cfg: dict[str, Any]) -> None:
    """Rewrite the store's ``config.json`` with ``cfg``: to a temporary name, then renamed,
    so a reader sees the old file or the new one, never a part."""
    path = os.path.join(store_dir, CONFIG_FILE)
    write_atomic(path, json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def stage_upgrade(store_dir: str, tmp: str) -> str | None:
    """When the store's config says an older format, write a current one to ``tmp`` (which
    a batch's commit renames over config.json before its first pack appears) and return
    ``tmp``; None when there is nothing to upgrade (a bare object folder included)."""
    path = os.path.join(store_dir, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (FileNotFoundError, ValueError):
        return None  # a bare object folder (tests, tools): nothing to upgrade
    if not isinstance(cfg, dict) or not isinstance(cfg.get("format"), int) \
            or cfg["format"] >= STORE_FORMAT:
        return None
    cfg["format"] = STORE_FORMAT
    cfg.setdefault("hash", HASH_NAME)
    cfg.setdefault("chunker", CHUNKER_ID)  # what cuts this store's big files from now on
    with open(tmp, "x", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    return tmp
