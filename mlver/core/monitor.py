"""A file-system monitor for the workspace: with watchman, ``status`` and an unchanged
snapshot ask what changed under a folder since the last capture instead of walking it.

It is an optimisation that never changes an answer:

- It is used only when the user turned it on for this store (``mlver monitor on`` writes
  ``"monitor": "watchman"`` into ``.mlver/config.json``, a local setting: a cloned
  ``mlver.toml`` cannot start a daemon on someone's machine).
- The clock is taken *before* the walk whose result it vouches for, so a file written
  during the walk shows up as a change next time (watchman reports events, so git's racy
  mtime rule is not needed here).
- A fresh watchman instance (restarted, or the watch was dropped), an error of any kind, or
  a missing ``watchman`` binary or ``pywatchman`` package means "changed": capture walks
  as it does without a monitor; so does a watch whose ``.watchmanconfig`` ignores folders.

Its limit is inotify's: a write through a shared memory map sends no event, nor does a
write through a hard link made later from outside the captured folder (a hard-linked file
seen by a capture makes it walk, see :mod:`mlver.capture.path`). docs/cli.md says so.
"""
from __future__ import annotations

import contextlib
import os
import stat
from typing import Any

from mlver.base.errors import ConfigError
from mlver.store.settings import rewrite_store_config

MONITOR_KEY = "monitor"  # in the store's config.json
SOCK_KEY = "monitor_sock"  # beside it: watchman's socket, as monitor on found it
MAX_SOCK = 1024  # characters of a socket path read from the config
WATCHMAN = "watchman"
TIMEOUT_S = 5.0  # per call; a slower daemon is treated as absent
SKIP_NAMES = frozenset({".git", ".mlver"})  # never content (as capture.files)
MAX_NAMES = 10_000  # a longer answer is as good as "changed": capture walks anyway


class Watchman:
    """One connection to watchman for one command, watching the repository ``root``;
    ``sock`` is the socket ``mlver monitor on`` found (it spares a ``watchman
    get-sockname`` process a command; when it no longer answers, watchman is asked)."""

    def __init__(self, root: str, sock: str | None = None) -> None:
        self.root = root
        self.sock = sock
        self._client: Any = None
        self._watch: str | None = None
        self._prefix: str | None = None  # the repository's path inside the watched root
        self._clock: str | None = None
        self.broken = False  # once a call failed, the command walks like without a monitor

    def _connect(self) -> Any:
        if self._client is None:
            import pywatchman  # optional: imported only when the monitor is on

            client = _client(pywatchman, self.sock)
            kept = client.sockpath is not None  # the kept socket, not the one watchman names
            try:
                got = client.query("watch-project", os.path.realpath(self.root))
            except Exception:  # noqa: BLE001 - moved, or another program's: ask watchman
                if not kept:
                    raise
                client.close()
                client = _client(pywatchman, None)
                got = client.query("watch-project", os.path.realpath(self.root))
            watch = str(got["watch"])
            # A .watchmanconfig that makes watchman ignore folders (ignore_dirs) or other
            # names (ignore_vcs) hides changes that are content here: never trust it.
            cfg = client.query("get-config", watch).get("config")
            if not isinstance(cfg, dict) or cfg.get("ignore_dirs") or "ignore_vcs" in cfg:
                client.close()
                raise ValueError("watchman ignores some folders of this watch")
            self._client, self._watch = client, watch
            self._prefix = got.get("relative_path") or None
        return self._client

    def clock(self) -> str | None:
        """watchman's clock now (synced: every event up to now is in), taken once per
        command, before the first walk; None when watchman cannot answer."""
        if self._clock is None and not self.broken:
            try:
                client = self._connect()
                self._clock = str(client.query("clock", self._watch,
                                               {"sync_timeout": int(TIMEOUT_S * 1000)})["clock"])
            except Exception:  # noqa: BLE001 - an optimisation: any failure means "walk"
                self.broken = True
        return self._clock

    def unchanged(self, rel: str, since: str) -> bool:
        """True when nothing at or below ``rel`` (relative to the repository) changed since
        the clock ``since``; False when something did, or when watchman cannot tell."""
        return self.changed(rel, since) == []

    def changed(self, rel: str, since: str) -> list[str] | None:
        """The paths (relative to the repository) at or below ``rel`` that changed since the
        clock ``since``, created and deleted ones included, leaving out what lies inside a
        nested ``.git`` or ``.mlver`` (never content); None when watchman cannot tell
        (an error, a restarted daemon) or names more than :data:`MAX_NAMES` paths."""
        if self.broken:
            return None
        query: dict[str, Any] = {"since": since, "fields": ["name"],
                                 "empty_on_fresh_instance": True}
        if self._prefix:
            query["relative_root"] = self._prefix
        if rel not in ("", "."):
            query["expression"] = ["anyof", ["name", rel, "wholename"], ["dirname", rel]]
        try:
            got = self._connect().query("query", self._watch, query)
        except Exception:  # noqa: BLE001 - as in clock()
            self.broken = True
            return None
        if got.get("is_fresh_instance", True):
            return None  # a restarted daemon knows nothing of what happened before
        names = got.get("files", [])
        if not isinstance(names, list) or len(names) > MAX_NAMES:
            return None
        out = []
        for n in names:
            if not isinstance(n, str):
                return None
            if not SKIP_NAMES.intersection(n.split("/")):
                out.append(n)
        return out


def configured(cfg: dict[str, Any]) -> str | None:
    """The monitor the store's config turns on (``"watchman"``), or None."""
    value = cfg.get(MONITOR_KEY)
    return WATCHMAN if value == WATCHMAN else None


def configured_sock(cfg: dict[str, Any]) -> str | None:
    """The watchman socket the store's config names, when it is a plausible one (an
    absolute path of a sane length); else None (watchman is then asked for it)."""
    value = cfg.get(SOCK_KEY)
    if isinstance(value, str) and value.startswith("/") and len(value) <= MAX_SOCK \
            and "\0" not in value:
        return value
    return None


def _client(pywatchman: Any, sock: str | None) -> Any:
    """A client of watchman's socket ``sock``, or of the one watchman names (the
    ``WATCHMAN_SOCK`` environment variable wins over both, as in every watchman client).
    ``sock`` is used only when it is this user's own socket in a folder no one else can
    write: watchman's default one is in ``/tmp``, and once a stopped watchman's folder is
    cleaned away another user could serve "nothing changed" there (watchman itself
    checks its folder's owner when it starts; a direct connection must too)."""
    if sock is None or os.environ.get("WATCHMAN_SOCK") or not _own_socket(sock):
        return pywatchman.client(timeout=TIMEOUT_S)
    return pywatchman.client(sockpath=sock, timeout=TIMEOUT_S)


def _own_socket(path: str) -> bool:
    """True when ``path`` is a unix socket owned by this user, in a folder owned by this
    user (or root) that neither its group nor others can write."""
    try:
        st = os.lstat(path)
        folder = os.lstat(os.path.dirname(path))
    except (OSError, ValueError):
        return False
    uid = os.getuid()
    return (stat.S_ISSOCK(st.st_mode) and st.st_uid == uid and stat.S_ISDIR(folder.st_mode)
            and folder.st_uid in (uid, 0) and not folder.st_mode & 0o022)


def check_available() -> str:
    """The version of the running (or started) watchman; a clear error when the binary or
    the ``pywatchman`` package is missing."""
    return _check()[0]


def _check() -> tuple[str, str | None]:
    """The version of the running (or started) watchman and its unix socket (None when
    it is reached otherwise), or a clear error."""
    try:
        import pywatchman
    except ImportError:
        raise ConfigError("the pywatchman package is not installed; pip install pywatchman "
                          "(and install watchman, e.g. apt install watchman)") from None
    import shutil  # here: 3 ms of imports (its compressors) a status does not need

    if not os.environ.get("WATCHMAN_SOCK") and shutil.which("watchman") is None:
        # pywatchman's own message here is "executable not in PATH (%s)", unformatted
        raise ConfigError("watchman does not answer (no watchman executable on PATH); "
                          "install it (e.g. apt install watchman) and run mlver monitor on "
                          "again")
    try:
        client = pywatchman.client(timeout=TIMEOUT_S)
        try:
            version = str(client.query("version")["version"])
            sock = getattr(client.sockpath, "unix_domain", None)
            return version, sock if isinstance(sock, str) else None
        finally:
            client.close()
    except Exception as e:  # noqa: BLE001 - reported to the user, with the fix
        if os.environ.get("WATCHMAN_SOCK"):  # watchman is asked there only: say so
            raise ConfigError(f"watchman does not answer ({str(e)[:200]}) at the socket "
                              "the WATCHMAN_SOCK environment variable names; start watchman "
                              "there or unset WATCHMAN_SOCK, and run mlver monitor on "
                              "again") from None
        raise ConfigError(f"watchman does not answer ({str(e)[:200]}); install it (e.g. "
                          "apt install watchman) and run mlver monitor on again") from None


def not_answering(sock: str | None = None) -> str | None:
    """None when watchman answers now (at the kept socket ``sock`` when it is this user's
    own, as captures ask it first, or where watchman says it is); else why not (one
    sentence, with the fix)."""
    if sock is not None and not os.environ.get("WATCHMAN_SOCK") and _own_socket(sock):
        with contextlib.suppress(Exception):
            import pywatchman

            client = pywatchman.client(sockpath=sock, timeout=TIMEOUT_S)
            try:
                client.query("version")
                return None
            finally:
                client.close()
    try:
        check_available()
    except ConfigError as e:
        return str(e)
    return None


def turn(store_dir: str, cfg: dict[str, Any], root: str, on: bool) -> None:
    """Turn the monitor on (checking that watchman answers, and starting its watch of
    ``root``) or off (dropping the watch) for the store at ``store_dir``."""
    sock = _check()[1] if on else None
    _watch(root, on, None if on else configured_sock(cfg))
    new = {k: v for k, v in cfg.items() if k not in (MONITOR_KEY, SOCK_KEY)}
    if on:
        new[MONITOR_KEY] = WATCHMAN
        if sock is not None:
            new[SOCK_KEY] = sock
    rewrite_store_config(store_dir, new)
    cfg.clear()
    cfg.update(new)


def _watch(root: str, on: bool, kept: str | None = None) -> None:
    """Start (``on``) or drop watchman's watch of ``root``; dropping one that is not there,
    or when watchman is gone, is not an error. A watch is dropped both where watchman
    says it is and at the kept socket ``kept`` (the one captures asked first: a watchman
    reached through ``WATCHMAN_SOCK`` when the monitor was turned on)."""
    try:
        import pywatchman
    except ImportError:
        if on:
            raise
        return

    if not on:
        for sock in ([None] if kept is None else [kept, None]):
            with contextlib.suppress(Exception):  # off must work when watchman is broken
                client = _client(pywatchman, sock)
                try:
                    client.query("watch-del", os.path.realpath(root))
                finally:
                    client.close()
        return
    client = pywatchman.client(timeout=TIMEOUT_S)
    try:
        client.query("watch-project", os.path.realpath(root))
    finally:
        client.close()
