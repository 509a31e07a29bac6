"""What this store's user has trusted: the remotes a push may go to, and the ``[env] python``
the git hooks may run.

``mlver.toml`` is committed, so a merge, a pull or a checkout can change it: one line can
make another remote the default (the next ``git push`` would send every name there) or
name another ``[env] python`` (the next commit would run it). So what the user consented to
is pinned in the store's own config (``trusted`` in ``.mlver/config.json``, local state that
git never sees): the URL of each remote this store pushed to (the first push, ``mlver remote
add`` and ``mlver remote trust`` pin it) and the interpreter ``mlver hooks install`` was
shown. ``mlver pull`` pins the remote it read from when its name has no pin yet. A push
to a remote that differs from its pin is refused with the fix (``mlver remote trust
NAME``); see docs/security.md. What the hooks watch is pinned by
:mod:`mlver.integrations.hooktrust`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlver.core.config import RemoteSpec
from mlver.sync.site import RemoteSite
from mlver.store.settings import CONFIG_FILE, read_store_config, rewrite_store_config
from mlver.base.errors import ConfigError, StoreFormatError

KEY = "trusted"
MAX_PINS = 1000  # remotes pinned: a store config is small


class UntrustedRemoteError(ConfigError):
    """A push would go to a remote this store's user has not trusted (see module doc)."""


@dataclass(frozen=True)
class Pins:
    """The pins of a store: ``{remote name: (url, endpoint_url)}`` and the ``[env] python``
    trusted for hooks as ``(text in mlver.toml, resolved path)``."""

    remotes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    python: tuple[str, str] | None = None


def _where(store_dir: str) -> str:
    return os.path.join(os.path.basename(os.path.normpath(store_dir)) or ".mlver", CONFIG_FILE)


def read_pins(store_dir: str) -> Pins:
    """The pins in ``.mlver/config.json`` (validated: it is a file on disk like any other)."""
    cfg = read_store_config(store_dir)
    raw = cfg.get(KEY, {})
    bad = StoreFormatError(f"{KEY} in {_where(store_dir)} is not valid; remove that key, then "
                           "run mlver remote trust NAME for the remotes you trust")
    if not isinstance(raw, dict):
        raise bad
    remotes: dict[str, tuple[str, str | None]] = {}
    table = raw.get("remotes", {})
    if not isinstance(table, dict) or len(table) > MAX_PINS:
        raise bad
    for name, pin in table.items():
        if not (isinstance(pin, dict) and isinstance(pin.get("url"), str)
                and isinstance(pin.get("endpoint_url"), (str, type(None)))):
            raise bad
        remotes[name] = (pin["url"], pin.get("endpoint_url"))
    py = raw.get("python")
    if py is not None and not (isinstance(py, list) and len(py) == 2
                               and all(isinstance(x, str) for x in py)):
        raise bad
    return Pins(remotes, (py[0], py[1]) if py else None)


def update_trusted(store_dir: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Read, change and rewrite the store config (to a temporary name, then renamed)."""
    cfg = read_store_config(store_dir)
    raw = cfg.get(KEY)
    raw = dict(raw) if isinstance(raw, dict) else {}
    change(raw)
    cfg[KEY] = raw
    rewrite_store_config(store_dir, cfg)


def pin_remote(store_dir: str, spec: RemoteSpec) -> None:
    """Trust pushes to ``spec`` (its URL as resolved: a folder is an absolute path)."""
    read_pins(store_dir)  # refuse to rewrite a damaged table blindly

    def change(raw: dict[str, Any]) -> None:
        table = dict(raw.get("remotes") or {})
        table[spec.name] = {"url": spec.url, "endpoint_url": spec.endpoint_url}
        raw["remotes"] = table

    if read_pins(store_dir).remotes.get(spec.name) != (spec.url, spec.endpoint_url):
        update_trusted(store_dir, change)


def pin_python(store_dir: str, text: str | None, path: str | None) -> None:
    """Trust (or, with None, stop trusting) ``[env] python`` ``text`` resolved to ``path``."""
    want = [text, path] if text and path else None
    if (list(read_pins(store_dir).python or ()) or None) == want:
        return

    def change(raw: dict[str, Any]) -> None:
        if want is None:
            raw.pop("python", None)
        else:
            raw["python"] = want

    update_trusted(store_dir, change)


def check_push(store_dir: str, spec: RemoteSpec, default: bool) -> None:
    """Refuse a push to ``spec`` (resolved) that this store's user has not trusted: a remote
    pinned at another URL, or (``default``: no remote was named) a default remote never
    pushed to while others were. A remote of the store's own config (``--local``) is the
    user's own and always trusted. A store with no pinned remote at all (it never pushed,
    pulled, nor added or trusted a remote) trusts its first push, which pins it."""
    if spec.where == "local":
        return
    pins = read_pins(store_dir)
    pinned = pins.remotes.get(spec.name)
    fix = (f"mlver.toml may have changed in a merge, a pull or a checkout: check it, then run "
           f"mlver remote trust {spec.name} to push there")
    if pinned is not None:
        if pinned != (spec.url, spec.endpoint_url):
            was = pinned[0] + (f" (endpoint {pinned[1]})" if pinned[1] else "")
            now = spec.url + (f" (endpoint {spec.endpoint_url})" if spec.endpoint_url else "")
            raise UntrustedRemoteError(
                f"remote '{spec.name}' is now {now}, but this store trusts {was} under "
                f"that name; {fix}")
        return
    if default and pins.remotes:
        known = ", ".join(sorted(pins.remotes))
        raise UntrustedRemoteError(
            f"the default remote is now '{spec.name}' ({spec.url}), where this store has "
            f"never pushed (it trusts {known}); {fix}, or name a remote you trust: "
            f"mlver push {sorted(pins.remotes)[0]}")


def remote_spec(repo: RemoteSite, name: str | None) -> RemoteSpec:
    """The remote ``name`` (else the default) of ``repo``, a folder made absolute."""
    from mlver.sync.sharing import pick_remote, resolve_folder

    remotes, default = repo.remotes()
    return resolve_folder(repo.root, pick_remote(remotes, default, name))


def push_target(repo: RemoteSite, name: str | None) -> RemoteSpec:
    """The remote a push of ``repo`` goes to (``name``, else the default), once
    :func:`check_push` allows it; a first push pins it."""
    spec = remote_spec(repo, name)
    check_push(repo.store.path, spec, name is None)
    pin_remote(repo.store.path, spec)
    return spec


def pin_read(store_dir: str, spec: RemoteSpec) -> None:
    """After ``mlver pull`` read from ``spec``: pin it when no URL is pinned for its name
    yet, so that a merged mlver.toml moving that name elsewhere is refused at the next push
    (a clone that only pulled never trusts a first push to somewhere else)."""
    if spec.where != "local" and spec.name not in read_pins(store_dir).remotes:
        pin_remote(store_dir, spec)


def check_hook_push(repo: RemoteSite) -> None:
    """What the pre-push hook adds to :func:`check_push`: it never trusts a first push. No
    one typed a command, and a merge may have just added the default remote, so the
    default must already be pinned (a push, a pull, remote add or trust, hooks install)."""
    spec = remote_spec(repo, None)
    if spec.where == "local" or read_pins(repo.store.path).remotes:
        return  # some remote is pinned: check_push says what is refused, and why
    raise UntrustedRemoteError(
        f"remote '{spec.name}' ({spec.url}) is not trusted by this store yet: it never pushed "
        "there nor pulled from it, and the pre-push hook never trusts a first push; mlver.toml "
        "may have changed in a merge, a pull or a checkout: check it, then run mlver remote "
        f"trust {spec.name} to push there")


def trust_default_for_hooks(repo: RemoteSite) -> RemoteSpec | None:
    """What ``mlver hooks install`` (and ``hooks trust``) does with the default remote: pin
    it when its name has no pin yet (the install shows it); the default when it is pinned at
    its current URL, else None (no default, or a push there would be refused)."""
    remotes, default = repo.remotes()
    if default is None:
        return None
    spec = remote_spec(repo, default)
    if spec.where == "local":
        return spec
    pinned = read_pins(repo.store.path).remotes.get(spec.name)
    if pinned is None:
        pin_remote(repo.store.path, spec)
        return spec
    return spec if pinned == (spec.url, spec.endpoint_url) else None


def trust_remote(repo: RemoteSite, name: str) -> RemoteSpec:
    """``mlver remote trust NAME``: pin ``name`` at the URL mlver.toml gives it now."""
    spec = remote_spec(repo, name)
    pin_remote(repo.store.path, spec)
    return spec
