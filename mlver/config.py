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
    from .store.safefs import read_small

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
    if cfg.get("hash") != HASH_NAME:
        raise StoreFormatError(
            f"the store at {store_dir} uses hash {cfg.get('hash')!r}, this mlver only "
            f"{HASH_NAME}; upgrade mlver")
    return cfg


MAX_TOML = 1 << 20  # bytes: mlver.toml is configuration


def _load_toml(path: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        if os.path.getsize(path) > MAX_TOML or not os.path.isfile(path):
            raise ConfigError(f"{path} is not a regular file of at most 1 MiB; fix it")
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not valid TOML ({e}); fix it") from None


@dataclass(frozen=True)
class SnapshotSpec:
    """One ``[snapshot.NAME]`` table of mlver.toml.

    ``command`` is a string (run through the shell, as make and DVC do) or a list of
    arguments (run as is, without a shell).
    """

    kind: str | None = None
    inputs: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    params: tuple = ()
    metrics: tuple = ()
    command: str | tuple | None = None
    message: str | None = None
    code: tuple = ()  # the declared code scope: paths and globs, relative to the root


@dataclass(frozen=True)
class ProjectConfig:
    """The parsed ``mlver.toml`` (all parts optional)."""

    snapshots: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)  # path -> {"key": [...], "target": "col"}
    python: str | None = None

    def table_key(self, path: str) -> list[str] | None:
        key = (self.tables.get(path) or {}).get("key")
        if key is None:
            return None
        return [key] if isinstance(key, str) else list(key)

    def table_target(self, path: str) -> str | None:
        """The label column of the table at ``path`` (``[tables."path"] target``)."""
        return (self.tables.get(path) or {}).get("target")

    hooks: "HooksConfig" = field(default_factory=lambda: HooksConfig())  # [hooks]


# Every key mlver.toml may hold, per table: an unknown one is an error that suggests
# the nearest known key, since a typo ("input =") would otherwise be silently ignored.
_TOP = ("snapshot", "tables", "env")
_SNAPSHOT = ("kind", "inputs", "outputs", "params", "metrics", "command", "message", "code")
_TABLE = ("key", "target")
_ENV = ("python",)
_TOP = _TOP + ("hooks",)


def _check_keys(d: dict, known: tuple, where: str, path: str) -> None:
    import difflib

    for key in d:
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{near[0]}'?" if near else f"known keys: {', '.join(known)}"
            raise ConfigError(f"unknown key '{key}' in {where} of {path}; {hint}")


def _table(value, where: str, path: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} in {path} must be a table, not {_type(value)}; fix it")
    return value


def _type(value) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "true/false",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _as_list(value, what: str) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{what} in {PROJECT_FILE} must be a string or a list of strings, "
                      f"not {_type(value)}; fix it")


def _str(value, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f"{what} in {PROJECT_FILE} must be a string, not {_type(value)}; fix it")


def _slots(value, what: str, path: str) -> dict:
    table = _table(value, what, path)
    for slot, p in table.items():
        if not isinstance(p, str):
            raise ConfigError(f"{what}.{slot} in {path} must be a path string, not "
                              f"{_type(p)} (one path per slot); fix it")
    return dict(table)


def _command(value, what: str):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    got = "an empty list" if value == [] else _type(value)
    raise ConfigError(f"{what} in {PROJECT_FILE} must be a string (run by the shell) or a "
                      f"non-empty list of arguments, not {got}; fix it")


def load_project(root: str) -> ProjectConfig:
    """Read and check ``mlver.toml`` at ``root`` (an absent file is an empty config)."""
    path = os.path.join(root, PROJECT_FILE)
    d = _load_toml(path)
    _check_keys(d, _TOP, "the top level", path)
    snapshots = {}
    for name, s in _table(d.get("snapshot", {}), "[snapshot]", path).items():
        where = f"[snapshot.{name}]"
        _check_keys(_table(s, where, path), _SNAPSHOT, where, path)
        kind = _str(s.get("kind"), f"{where} kind")
        from .record import KINDS  # (record imports nothing of config: no cycle)

        if kind is not None and kind not in KINDS:
            raise ConfigError(f"{where} kind in {path} is '{kind}', not one of "
                              f"{', '.join(KINDS)}; fix it")
        snapshots[name] = SnapshotSpec(
            kind=kind, inputs=_slots(s.get("inputs", {}), f"{where} inputs", path),
            outputs=_slots(s.get("outputs", {}), f"{where} outputs", path),
            params=_as_list(s.get("params"), f"{where} params"),
            metrics=_as_list(s.get("metrics"), f"{where} metrics"),
            command=_command(s.get("command"), f"{where} command"),
            message=_str(s.get("message"), f"{where} message"),
            code=_as_list(s.get("code"), f"{where} code"))
    tables = _table(d.get("tables", {}), "[tables]", path)
    for tpath, t in tables.items():
        where = f'[tables."{tpath}"]'
        _check_keys(_table(t, where, path), _TABLE, where, path)
        _as_list(t.get("key"), f"{where} key")
        _str(t.get("target"), f"{where} target")
    env = _table(d.get("env", {}), "[env]", path)
    _check_keys(env, _ENV, "[env]", path)
    hooks = parse_hooks(_table(d.get("hooks", {}), "[hooks]", path), snapshots, path)
    return ProjectConfig(snapshots=snapshots, tables=tables,
                         python=_str(env.get("python"), "[env] python"), hooks=hooks)


# -- [hooks] -------------------------------------------------------------------------------------

HOOK_NAMES = ("post-commit", "post-checkout", "post-merge", "pre-push")
ON_CHECKOUT = ("warn", "restore")
_HOOKS = ("snapshot", "on-checkout") + HOOK_NAMES


@dataclass(frozen=True)
class HooksConfig:
    """``[hooks]`` of mlver.toml: what the git hooks do (see docs/hooks.md).

    ``snapshot``: the names post-commit snapshots (when their data changed) and
    post-checkout/post-merge compare or restore; ``on_checkout``: ``"warn"`` or
    ``"restore"``; ``enabled``: hook -> on/off (all on by default)."""

    snapshot: tuple = ()
    on_checkout: str = "warn"
    enabled: dict = field(default_factory=lambda: {h: True for h in HOOK_NAMES})

    def on(self, hook: str) -> bool:
        return bool(self.enabled.get(hook, False))


def parse_hooks(table: dict, snapshots: dict, path: str) -> HooksConfig:
    """Check ``[hooks]``: known keys, names declared as ``[snapshot.NAME]``, true/false
    switches, ``on-checkout`` one of warn/restore (each mistake suggests the fix)."""
    import difflib

    _check_keys(table, _HOOKS, "[hooks]", path)
    names = _as_list(table.get("snapshot"), "[hooks] snapshot")
    for name in names:
        if name not in snapshots:
            near = difflib.get_close_matches(name, list(snapshots), n=1)
            hint = (f"did you mean '{near[0]}'?" if near else
                    f"declare [snapshot.{name}] with its inputs and outputs")
            raise ConfigError(f"[hooks] snapshot in {path} names '{name}', which has no "
                              f"[snapshot.{name}] table; {hint}")
    mode = _str(table.get("on-checkout"), "[hooks] on-checkout") or "warn"
    if mode not in ON_CHECKOUT:
        near = difflib.get_close_matches(mode, ON_CHECKOUT, n=1)
        hint = f"did you mean '{near[0]}'?" if near else "use \"warn\" or \"restore\""
        raise ConfigError(f"[hooks] on-checkout in {path} is '{mode}', not one of "
                          f"{', '.join(ON_CHECKOUT)}; {hint}")
    enabled = {}
    for hook in HOOK_NAMES:
        value = table.get(hook, True)
        if not isinstance(value, bool):
            raise ConfigError(f"[hooks] {hook} in {path} must be true or false, not "
                              f"{_type(value)}; fix it")
        enabled[hook] = value
    return HooksConfig(snapshot=tuple(dict.fromkeys(names)), on_checkout=mode,
                       enabled=enabled)
