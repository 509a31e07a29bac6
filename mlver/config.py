"""Configuration: the store's own ``.mlver/config.json`` and the project's ``mlver.toml``.

The store config carries the format version and hash name; a store written by
a newer mlver is refused rather than misread. ``mlver.toml`` at the repository
root declares snapshots (``[snapshot.NAME]``), table keys (``[tables."path"]``)
and the training interpreter (``[env] python``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .errors import ConfigError, StoreFormatError
from .hashing import HASH_NAME

STORE_FORMAT = 2  # 2: small objects in packs; format-1 stores (loose only) are read and upgraded
CONFIG_FILE = "config.json"
PROJECT_FILE = "mlver.toml"


def write_store_config(store_dir: str) -> None:
    """Write a fresh store config (to a temporary name, then renamed into place)."""
    path = os.path.join(store_dir, CONFIG_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"format": STORE_FORMAT, "hash": HASH_NAME}, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def read_store_config(store_dir: str) -> dict:
    """Read and check the store config; refuse formats this mlver cannot read."""
    path = os.path.join(store_dir, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except FileNotFoundError:
        raise StoreFormatError(
            f"{path} is missing; this is not a complete mlver store (run mlver init)") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise StoreFormatError(f"{path} is not valid JSON ({e}); restore it") from None
    fmt = cfg.get("format")
    if not isinstance(fmt, int) or fmt > STORE_FORMAT:
        raise StoreFormatError(
            f"the store at {store_dir} has format {fmt!r}, newer than this mlver reads "
            f"(format {STORE_FORMAT}); upgrade mlver (pip install -U mlver)")
    if cfg.get("hash") != HASH_NAME:
        raise StoreFormatError(
            f"the store at {store_dir} uses hash {cfg.get('hash')!r}, this mlver only "
            f"{HASH_NAME}; upgrade mlver")
    return cfg


def _load_toml(path: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML ({e}); fix it") from None


@dataclass(frozen=True)
class SnapshotSpec:
    """One ``[snapshot.NAME]`` table of mlver.toml."""

    kind: str | None = None
    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    params: tuple = ()
    metrics: tuple = ()
    command: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class ProjectConfig:
    """The parsed ``mlver.toml`` (all parts optional)."""

    snapshots: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)  # path -> {"key": [...]}
    python: str | None = None

    def table_key(self, path: str) -> list[str] | None:
        key = (self.tables.get(path) or {}).get("key")
        if key is None:
            return None
        return [key] if isinstance(key, str) else list(key)


def _as_list(value, what: str) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{what} in {PROJECT_FILE} must be a string or a list of strings; fix it")


def load_project(root: str) -> ProjectConfig:
    """Read ``mlver.toml`` at ``root`` (an absent file is an empty config)."""
    path = os.path.join(root, PROJECT_FILE)
    d = _load_toml(path)
    snapshots = {}
    for name, s in (d.get("snapshot") or {}).items():
        if not isinstance(s, dict):
            raise ConfigError(f"[snapshot.{name}] in {path} must be a table; fix it")
        for part in ("inputs", "outputs"):
            if not isinstance(s.get(part, {}), dict):
                raise ConfigError(
                    f"{part} of [snapshot.{name}] in {path} must be a table of SLOT = \"PATH\"; fix it")
        snapshots[name] = SnapshotSpec(
            kind=s.get("kind"), inputs=dict(s.get("inputs", {})), outputs=dict(s.get("outputs", {})),
            params=_as_list(s.get("params"), f"[snapshot.{name}] params"),
            metrics=_as_list(s.get("metrics"), f"[snapshot.{name}] metrics"),
            command=s.get("command"), message=s.get("message"))
    tables = d.get("tables") or {}
    if not isinstance(tables, dict):
        raise ConfigError(f"[tables] in {path} must be a table; fix it")
    python = (d.get("env") or {}).get("python")
    return ProjectConfig(snapshots=snapshots, tables=tables, python=python)
