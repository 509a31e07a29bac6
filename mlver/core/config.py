"""Configuration: the project's ``mlver.toml``, and the remotes of both it and the store.

The store's own ``.mlver/config.json`` (format version, hash name) is read and written by
:mod:`mlver.store.settings`; its ``remotes`` are parsed here. ``mlver.toml`` at the repository
root declares snapshots (``[snapshot.NAME]``), table keys (``[tables."path"]``)
and the training interpreter (``[env] python``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from mlver.base.atomic import write_atomic
from mlver.base.errors import ConfigError, StoreFormatError
from mlver.store.settings import CONFIG_FILE, read_store_config, rewrite_store_config

PROJECT_FILE = "mlver.toml"


MAX_TOML = 1 << 20  # bytes: mlver.toml is configuration


def _load_toml(path: str) -> dict[str, Any]:
    import tomllib
    try:
        if os.path.getsize(path) > MAX_TOML or not os.path.isfile(path):
            raise ConfigError(f"{path} is not a regular file of at most 1 MiB; fix it")
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not valid TOML ({e}); fix it") from None
    except RecursionError:  # tomllib recurses once per nested array or table
        raise ConfigError(f"{path} nests arrays or tables too deeply for configuration; "
                          "fix it") from None


@dataclass(frozen=True)
class SnapshotSpec:
    """One ``[snapshot.NAME]`` table of mlver.toml.

    ``command`` is a string (run through the shell, as make and DVC do) or a list of
    arguments (run as is, without a shell).
    """

    kind: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    params: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    command: str | tuple[str, ...] | None = None
    message: str | None = None
    code: tuple[str, ...] = ()  # the declared code scope: paths and globs, relative to the root


@dataclass(frozen=True)
class ProjectConfig:
    """The parsed ``mlver.toml`` (all parts optional)."""

    snapshots: dict[str, SnapshotSpec] = field(default_factory=dict)
    # path -> {"key": [...], "target": "col"}
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    python: str | None = None
    # name -> RemoteSpec ([remotes.NAME])
    remotes: dict[str, RemoteSpec] = field(default_factory=dict)

    def table_key(self, path: str) -> list[str] | None:
        key = (self.tables.get(path) or {}).get("key")
        if key is None:
            return None
        return [key] if isinstance(key, str) else list(key)

    def table_target(self, path: str) -> str | None:
        """The label column of the table at ``path`` (``[tables."path"] target``)."""
        target = (self.tables.get(path) or {}).get("target")
        return target if isinstance(target, str) else None

    hooks: HooksConfig = field(default_factory=lambda: HooksConfig())  # [hooks]
    # [diff] memory: DuckDB's memory limit for large table diffs ("2GB"); None: the default
    diff_memory: str | None = None


# Every key mlver.toml may hold, per table: an unknown one is an error that suggests
# the nearest known key, since a typo ("input =") would otherwise be silently ignored.
_TOP: tuple[str, ...] = ("snapshot", "tables", "env", "remotes")
_SNAPSHOT = ("kind", "inputs", "outputs", "params", "metrics", "command", "message", "code")
_TABLE = ("key", "target")
_ENV = ("python",)
_TOP = _TOP + ("hooks", "diff")
_DIFF = ("memory",)


def _check_keys(d: dict[str, Any], known: tuple[str, ...], where: str, path: str) -> None:
    import difflib

    for key in d:
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean '{near[0]}'?" if near else f"known keys: {', '.join(known)}"
            raise ConfigError(f"unknown key '{key}' in {where} of {path}; {hint}")


def _table(value: Any, where: str, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} in {path} must be a table, not {_type(value)}; fix it")
    return value


def _type(value: Any) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "true/false",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _as_list(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{what} in {PROJECT_FILE} must be a string or a list of strings, "
                      f"not {_type(value)}; fix it")


def _str(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(f"{what} in {PROJECT_FILE} must be a string, not {_type(value)}; fix it")


def _slots(value: Any, what: str, path: str) -> dict[str, str]:
    table = _table(value, what, path)
    for slot, p in table.items():
        if not isinstance(p, str):
            raise ConfigError(f"{what}.{slot} in {path} must be a path string, not "
                              f"{_type(p)} (one path per slot); fix it")
    return dict(table)


def _command(value: Any, what: str) -> str | tuple[str, ...] | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    got = "an empty list" if value == [] else _type(value)
    raise ConfigError(f"{what} in {PROJECT_FILE} must be a string (run by the shell) or a "
                      f"non-empty list of arguments, not {got}; fix it")


def load_project(root: str, hooks: bool = True) -> ProjectConfig:
    """Read and check ``mlver.toml`` at ``root`` (an absent file is an empty config).
    ``hooks=False``: ``[hooks]`` is left unread (the defaults), so that a broken one cannot
    stop the pre-push hook from pushing."""
    path = os.path.join(root, PROJECT_FILE)
    d = _load_toml(path)
    _check_keys(d, _TOP, "the top level", path)
    snapshots: dict[str, SnapshotSpec] = {}
    for name, s in _table(d.get("snapshot", {}), "[snapshot]", path).items():
        where = f"[snapshot.{name}]"
        _check_keys(_table(s, where, path), _SNAPSHOT, where, path)
        kind = _str(s.get("kind"), f"{where} kind")
        from mlver.core.record import KINDS  # (record imports nothing of config: no cycle)

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
    remotes = parse_remotes(_table(d.get("remotes", {}), "[remotes]", path), path)
    diff = _table(d.get("diff", {}), "[diff]", path)
    _check_keys(diff, _DIFF, "[diff]", path)
    hooks_cfg = (parse_hooks(_table(d.get("hooks", {}), "[hooks]", path), snapshots, path)
                 if hooks else HooksConfig())
    return ProjectConfig(snapshots=snapshots, tables=tables,
                         python=_str(env.get("python"), "[env] python"), remotes=remotes,
                         hooks=hooks_cfg, diff_memory=_memory(diff.get("memory"), path))


def _memory(value: Any, path: str) -> str | None:
    """``[diff] memory``: a size such as "2GB" or "512MB" (at least 16 MB)."""
    from mlver.base.fmt import parse_size
    if value is None:
        return None
    if not isinstance(value, str) or parse_size(value) is None:
        raise ConfigError(f"[diff] memory in {path} must be a size such as \"2GB\" or "
                          f"\"512MB\" (at least 16MB), not {value!r}; fix it")
    return value


# -- remotes -------------------------------------------------------------------------------------

_REMOTE = ("url", "endpoint_url", "default", "locking")
LOCKINGS = ("lease",)


@dataclass(frozen=True)
class RemoteSpec:
    """One remote: ``[remotes.NAME]`` of mlver.toml, or of the store's own config
    (``where`` says which). Never holds a credential."""

    name: str
    url: str
    endpoint_url: str | None = None
    default: bool = False
    locking: str | None = None  # "lease": a lock object instead of conditional writes
    where: str = "project"  # "project" (mlver.toml) or "local" (.mlver/config.json)

    def to_dict(self) -> dict[str, Any]:
        """The ``[remotes.NAME]`` table (or config.json entry) of this remote."""
        d: dict[str, Any] = {"url": self.url}
        if self.endpoint_url:
            d["endpoint_url"] = self.endpoint_url
        if self.default:
            d["default"] = True
        if self.locking:
            d["locking"] = self.locking
        return d


def check_url(url: Any, what: str) -> str:
    """A remote or endpoint URL: text without credentials in it."""
    import re

    if not isinstance(url, str) or not url.strip() or len(url) > 4096 or "\0" in url:
        raise ConfigError(f"{what} must be a non-empty URL or folder path; fix it")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@]*@", url):
        raise ConfigError(f"{what} holds credentials (user:secret@ in {url.split('@')[-1]!r}); "
                          "remove them: mlver finds credentials where the backend always looks "
                          "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, an "
                          "instance role) and never writes them down")
    return url


def parse_remotes(table: dict[str, Any], where: str,
                  origin: str = "project") -> dict[str, RemoteSpec]:
    """``{name: RemoteSpec}`` of a ``remotes`` table; at most one is the default."""
    from mlver.core.remoteurl import form_error
    from mlver.store.refs import valid_name

    out: dict[str, RemoteSpec] = {}
    for name, r in table.items():
        what = f"[remotes.{name}]"
        if not valid_name(str(name)):
            raise ConfigError(f"remote name '{name}' in {where} is not valid (letters, digits, "
                              "'.', '_', '-'); rename it")
        r = _table(r, what, where)
        _check_keys(r, _REMOTE, what, where)
        if "url" not in r:
            raise ConfigError(f"{what} in {where} has no url; add url = \"s3://BUCKET/PREFIX\"")
        endpoint = r.get("endpoint_url")
        if endpoint is not None:
            check_url(endpoint, f"{what} endpoint_url in {where}")
        default = r.get("default", False)
        if not isinstance(default, bool):
            raise ConfigError(f"{what} default in {where} must be true or false; fix it")
        locking = r.get("locking")
        if locking is not None and locking not in LOCKINGS:
            raise ConfigError(f"{what} locking in {where} must be \"lease\" (or absent); fix it")
        url = check_url(r["url"], f"{what} url in {where}")
        bad = form_error(url)
        if bad:
            raise ConfigError(f"{what} url in {where}: {bad}; fix it")
        out[name] = RemoteSpec(name, url, endpoint, default, locking, origin)
    defaults = [n for n, r in out.items() if r.default]
    if len(defaults) > 1:
        raise ConfigError(f"{where} marks {len(defaults)} remotes as default "
                          f"({', '.join(defaults)}); keep default = true on one")
    return out


def read_local_remotes(store_dir: str) -> dict[str, RemoteSpec]:
    """The store's own remotes (``remotes`` of ``.mlver/config.json``: personal ones)."""
    cfg = read_store_config(store_dir)
    table = cfg.get("remotes", {})
    if not isinstance(table, dict):
        raise StoreFormatError(f"remotes in {os.path.join(store_dir, CONFIG_FILE)} is not an "
                               "object; fix it")
    return parse_remotes(table, os.path.join(".mlver", CONFIG_FILE), "local")


def write_local_remotes(store_dir: str, remotes: dict[str, RemoteSpec]) -> None:
    """Rewrite the store config with ``remotes`` (to a temporary name, then renamed)."""
    cfg = read_store_config(store_dir)
    cfg["remotes"] = {n: r.to_dict() for n, r in sorted(remotes.items())}
    if not cfg["remotes"]:
        del cfg["remotes"]
    rewrite_store_config(store_dir, cfg)


def all_remotes(project: ProjectConfig,
                store_dir: str | None) -> tuple[dict[str, RemoteSpec], str | None]:
    """Every remote (the store's own override mlver.toml's of the same name) and the name of
    the default: the one marked default (the store's first), else the only one."""
    merged = dict(project.remotes)
    local = read_local_remotes(store_dir) if store_dir else {}
    merged.update(local)
    default = next((n for n, r in local.items() if r.default), None)
    if default is None:
        default = next((n for n, r in project.remotes.items() if r.default
                        and merged[n].where == "project"), None)
    if default is None and len(merged) == 1:
        default = next(iter(merged))
    return merged, default


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _remote_header(line: str) -> str | None:
    """The remote name of a ``[remotes.NAME]`` header line, else None."""
    import re

    m = re.match(r'^\s*\[\s*remotes\s*\.\s*("?)([A-Za-z0-9._-]+)\1\s*\]\s*(#.*)?$', line)
    return m.group(2) if m else None


def edit_project_remotes(root: str, add: RemoteSpec | None = None,
                         remove: str | None = None) -> None:
    """Add or remove a ``[remotes.NAME]`` table of mlver.toml as text (comments and the
    rest of the file stay as they are); the result is parsed back before it is written."""
    path = os.path.join(root, PROJECT_FILE)
    before = load_project(root)
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines(keepends=True)
    except FileNotFoundError:
        lines = []
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    target = remove or (add.name if add else None)
    out: list[str] = []
    section: str | None = None
    tail_dropped = False
    for line in lines:
        if line.lstrip().startswith("["):
            section = _remote_header(line)
            if section is None and line.strip().startswith("[remotes"):
                section = "?"
        tail_dropped = section == target and target is not None
        if tail_dropped:
            continue  # the table being replaced or removed
        if add is not None and add.default and section not in (None, "?") \
                and line.split("#")[0].replace(" ", "").startswith("default="):
            continue  # one default: the new one
        out.append(line)
    if remove is not None and tail_dropped:
        # the blank line `remote add` put before a last table goes with it (byte-identical)
        while out and not out[-1].strip():
            out.pop()
    if add is not None:
        while out and not out[-1].strip():
            out.pop()
        if out:
            out.append("\n")
        out.append(f"[remotes.{add.name}]\n")
        out.append(f"url = {_toml_str(add.url)}\n")
        if add.endpoint_url:
            out.append(f"endpoint_url = {_toml_str(add.endpoint_url)}\n")
        if add.default:
            out.append("default = true\n")
        if add.locking:
            out.append(f"locking = {_toml_str(add.locking)}\n")
    text = "".join(out)

    def check(tmp: str) -> None:
        after = load_project_text(tmp)
        want = dict(before.remotes)
        if remove:
            want.pop(remove, None)
        if add is not None:
            if add.default:
                want = {n: RemoteSpec(r.name, r.url, r.endpoint_url, False, r.locking, r.where)
                        for n, r in want.items()}
            want[add.name] = add
        if after != want:
            raise ConfigError(f"{path} writes its remotes in a form mlver cannot edit (an inline "
                              "table or dotted keys); edit the [remotes.NAME] tables by hand")

    write_atomic(path, text, check=check)


def load_project_text(path: str) -> dict[str, RemoteSpec]:
    """The remotes of a mlver.toml at ``path`` (used to check an edit)."""
    d = _load_toml(path)
    return parse_remotes(_table(d.get("remotes", {}), "[remotes]", path), PROJECT_FILE)



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

    snapshot: tuple[str, ...] = ()
    on_checkout: str = "warn"
    enabled: dict[str, bool] = field(default_factory=lambda: {h: True for h in HOOK_NAMES})

    def on(self, hook: str) -> bool:
        return bool(self.enabled.get(hook, False))


def parse_hooks(table: dict[str, Any], snapshots: dict[str, SnapshotSpec],
                path: str) -> HooksConfig:
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
    enabled: dict[str, bool] = {}
    for hook in HOOK_NAMES:
        value = table.get(hook, True)
        if not isinstance(value, bool):
            raise ConfigError(f"[hooks] {hook} in {path} must be true or false, not "
                              f"{_type(value)}; fix it")
        enabled[hook] = value
    return HooksConfig(snapshot=tuple(dict.fromkeys(names)), on_checkout=mode,
                       enabled=enabled)
