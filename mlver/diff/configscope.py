"""Config files in the code scope: a change counts only where it concerns the version.

``mlver.toml`` declares every name of a project; a ``dvc.yaml`` every stage of a DVC
project. A commit that adds ``[snapshot.other]`` or a new DVC stage is not a change of
``price-model`` or of the imported stage ``train``. So when such a file differs between
the two sides of a code diff, its part for this version (``[snapshot.NAME]`` of
mlver.toml; the stage's own entry of its dvc.yaml: cmd, deps, outs, params…) is read on
both sides, and the file counts only when that part differs.
"""

from __future__ import annotations

import shutil
import tempfile
from typing import TYPE_CHECKING

from mlver.core.config import PROJECT_FILE
from mlver.base.errors import MlverError

if TYPE_CHECKING:
    from mlver.core.record import Code, Record
    from mlver.core.workspace import Objects

MAX_CONFIG = 16 << 20  # bytes of a config file parsed here (as import-dvc bounds dvc.yaml)
_UNREADABLE = object()  # a side whose file cannot be read or parsed: never equal


def quiet_files(objs: Objects, old: Code, new: Code, name: str | None, source: str | None,
                changed: set[str], pre: str) -> set[str]:
    """Which of the ``changed`` config files (paths from the top of the git work tree)
    differ only outside the part of version ``name`` (imported from the DVC ``source``
    ``dvc.yaml:STAGE``, or None); ``old``/``new`` are the two :class:`~mlver.core.record.Code`."""
    wanted: dict[str, tuple[str, str]] = {}
    if name:
        wanted[pre + PROJECT_FILE] = ("toml", name)
    if source and ":" in source:
        path, _, stage = source.rpartition(":")
        if path.endswith("dvc.yaml"):
            wanted[pre + path] = ("dvc", stage.split("@")[0])  # foreach/matrix: its entry
    found = {p: w for p, w in wanted.items() if p in changed}
    if not found or not old.commit or not new.commit:
        return set()
    a = _read(objs, old, list(found))
    b = _read(objs, new, list(found))
    if a is None or b is None:  # a side git cannot rebuild: the files count
        return set()
    quiet = set()
    for path, (kind, key) in found.items():
        pa, pb = _part(a.get(path), kind, key), _part(b.get(path), kind, key)
        if pa is not _UNREADABLE and pb is not _UNREADABLE and pa == pb:
            quiet.add(path)
    return quiet


def _read(objs: Objects, code: Code, paths: list[str]) -> dict[str, bytes | None] | None:
    """The bytes of ``paths`` in ``code``'s commit with its patch applied (a path's None:
    absent there), or None when git cannot tell (an unknown commit, a patch that does
    not apply)."""
    from mlver.capture import git as capgit

    top = capgit.toplevel(objs.ws.root)
    if top is None or not code.commit:  # (callers pass only sides with a commit)
        return None
    try:
        patch = objs.read(code.patch) if code.patch else None
    except MlverError:
        return None
    scratch = tempfile.mkdtemp(prefix="mlver-config-")
    try:
        return capgit.files_at(top, code.commit, patch, paths, scratch)
    except MlverError:
        return None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _part(raw: bytes | None, kind: str, key: str) -> object:
    """The version's part of a config file's bytes (None when the file or part is absent)."""
    if raw is None:
        return None
    if len(raw) > MAX_CONFIG:
        return _UNREADABLE
    try:
        if kind == "toml":
            import tomllib

            d = tomllib.loads(raw.decode("utf-8"))
            section = d.get("snapshot", {})
        else:
            import yaml

            d = yaml.safe_load(raw.decode("utf-8")) or {}
            section = d.get("stages", {}) if isinstance(d, dict) else None
    except Exception:  # each parser has its own errors: an unreadable side counts
        return _UNREADABLE
    if not isinstance(section, dict):
        return None
    return section.get(key)


def config_part(old: Record, new: Record) -> tuple[str | None, str | None]:
    """The name and DVC source whose part of mlver.toml / dvc.yaml the code diff of two
    records compares (None for two different names: every config change counts)."""
    from mlver.capture.dvcfiles import source_of

    if old.name != new.name:
        return None, None
    return old.name, source_of(old.message) or source_of(new.message)
