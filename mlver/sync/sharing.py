"""The sharing model: ``.mlver/`` stays out of git; remotes are configured, never credentials.

* ``mlver init`` writes ``.mlver/.gitignore`` holding ``*``: git ignores the whole store.
  When git tracks anything under ``.mlver/`` anyway (a store made by an older mlver, whose
  refs were committed), every command warns once with the exact fix
  (:mod:`mlver.sync.tracking`).
* Remotes are ``[remotes.NAME]`` tables of the committed ``mlver.toml`` (``url``, optional
  ``endpoint_url``, one ``default = true``), or personal ones in ``.mlver/config.json``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from mlver.core import config as cfgmod
from mlver.core.config import RemoteSpec
from mlver.core.discover import fresh_root, project_root
from mlver.base.errors import ConfigError, NoSuchName, RevisionError, UsageError
from mlver.store.refs import valid_name
from mlver.sync.site import NamedSite, RemoteSite


def pick_remote(remotes: dict[str, RemoteSpec], default: str | None,
                name: str | None) -> RemoteSpec:
    """The remote ``name`` (default: the default remote), or an error saying how to add one."""
    if name is not None:
        spec = remotes.get(name)
        if spec is None:
            have = ", ".join(sorted(remotes)) or "none"
            raise ConfigError(f"no remote named '{name}' (remotes: {have}); add it with mlver "
                              f"remote add {name} URL")
        return spec
    if default is not None:
        return remotes[default]
    if not remotes:
        raise ConfigError("no remote is configured; add one with mlver remote add origin "
                          "s3://BUCKET/PREFIX (or a folder path)")
    raise ConfigError(f"{len(remotes)} remotes are configured ({', '.join(sorted(remotes))}) and "
                      "none is the default; name one, or mark one with mlver remote add NAME "
                      "URL --default")


def remote_and_names(repo: NamedSite, first: str | None, names: Iterable[str],
                     push: bool = False) -> tuple[str | None, list[str]]:
    """``push``/``pull [REMOTE] [NAME]…``: ``(remote, names)``. A first argument that is
    no configured remote is a name of the default remote. For ``push`` (whose names are
    this store's) one that is no local name either is refused here, naming both."""
    if first is None:
        return None, list(names)
    remotes, _default = repo.remotes()
    if first in remotes:
        return first, list(names)
    if push and first not in repo.names():
        raise not_remote_nor_name(first, remotes, "of this store", repo.names())
    return None, [first, *names]


@contextmanager
def mistyped_remote(repo: RemoteSite, first: str | None) -> Iterator[None]:
    """Around ``pull``: when ``first`` (a first argument taken as a name, not a remote)
    is a name the default remote does not hold, say that it is no remote either."""
    try:
        yield
    except NoSuchName as e:
        if first is None or e.name != first:
            raise
        remotes, default = repo.remotes()
        raise not_remote_nor_name(first, remotes, f"on remote '{default}'", e.names) from None


def not_remote_nor_name(arg: str, remotes: Mapping[str, object], where: str,
                        names: Iterable[str]) -> RevisionError:
    """``push ARG`` / ``pull ARG`` where ARG is neither a configured remote nor a name
    ``where`` holds (``names``): a mistyped remote as likely as a mistyped name, so say
    both (``'orign' is not a remote (remotes: origin) nor a name on remote 'origin' (its
    names: m)``)."""
    have = ", ".join(sorted(remotes)) or "none"
    listed = ", ".join(names) or "none"
    return RevisionError(f"'{arg}' is not a remote (remotes: {have}) nor a name {where} "
                         f"(its names: {listed})")


def resolve_folder(root: str, spec: RemoteSpec) -> RemoteSpec:
    """A folder remote written as a relative path is relative to the repository root."""
    if "://" in spec.url or os.path.isabs(os.path.expanduser(spec.url)):
        return spec
    return RemoteSpec(spec.name, os.path.normpath(os.path.join(root, spec.url)),
                      spec.endpoint_url, spec.default, spec.locking, spec.where)


def add_remote(root: str, store_dir: str, name: str, url: str, endpoint_url: str | None,
               default: bool, local: bool, locking: str | None = None) -> RemoteSpec:
    """Add a remote to mlver.toml (or to the store's own config with ``local``)."""
    from mlver.core.remoteurl import form_error
    from mlver.store.remote import parse_url

    if not valid_name(name):
        raise UsageError(f"remote name '{name}' is not valid: use letters, digits, '.', '_' "
                          "and '-', starting with a letter or digit")
    bad = form_error(url)
    if bad:
        raise UsageError(bad)
    cfgmod.check_url(url, "the remote URL")
    if endpoint_url is not None:
        cfgmod.check_url(endpoint_url, "--endpoint-url")
        if "://" not in url or url.startswith("file://"):
            raise UsageError(f"--endpoint-url is the address of an S3-compatible server, and "
                             f"{url} is a folder: drop --endpoint-url, or give the remote as "
                             "s3://BUCKET/PREFIX")
    parse_url(url)
    if "://" not in url and not os.path.isabs(os.path.expanduser(url)):
        url = os.path.abspath(url)  # mlver.toml is read from the root, not from here
    spec = RemoteSpec(name, url, endpoint_url, default, locking, "local" if local else "project")
    if local:
        mine = cfgmod.read_local_remotes(store_dir)
        if name in mine:
            raise ConfigError(f"remote '{name}' already exists in .mlver/config.json "
                              f"({mine[name].url}); remove it first with mlver remote remove "
                              f"{name} --local")
        if default:
            mine = {n: RemoteSpec(r.name, r.url, r.endpoint_url, False, r.locking, r.where)
                    for n, r in mine.items()}
        mine[name] = spec
        cfgmod.write_local_remotes(store_dir, mine)
        added: RemoteSpec = mine[name]
        return added
    project = cfgmod.load_project(root)
    if name in project.remotes:
        raise ConfigError(f"remote '{name}' already exists in mlver.toml "
                          f"({project.remotes[name].url}); remove it first with mlver remote "
                          f"remove {name}")
    cfgmod.edit_project_remotes(root, add=spec)
    return spec


def remove_remote(root: str, store_dir: str, name: str, local: bool) -> RemoteSpec:
    """Remove a remote from mlver.toml (or from the store's own config)."""
    mine = cfgmod.read_local_remotes(store_dir)
    project = cfgmod.load_project(root)
    spec: RemoteSpec
    if local:
        if name not in mine:
            hint = ("it is in mlver.toml: drop --local" if name in project.remotes
                    else "see mlver remote list")
            raise ConfigError(f"no remote named '{name}' in .mlver/config.json; {hint}")
        spec = mine.pop(name)
        cfgmod.write_local_remotes(store_dir, mine)
    else:
        if name not in project.remotes:
            hint = ("it is in .mlver/config.json: add --local" if name in mine
                    else "see mlver remote list")
            raise ConfigError(f"no remote named '{name}' in mlver.toml; {hint}")
        spec = project.remotes[name]
        cfgmod.edit_project_remotes(root, remove=name)
    still = cfgmod.read_local_remotes(store_dir) | cfgmod.load_project(root).remotes
    if name not in still:  # its tracking refs and cached indexes describe nothing now
        shutil.rmtree(os.path.join(store_dir, "remotes", name), ignore_errors=True)
    return spec


__all__ = ["add_remote", "fresh_root", "mistyped_remote",
           "not_remote_nor_name", "pick_remote", "project_root", "remote_and_names",
           "remove_remote", "resolve_folder"]
