"""The env section of a diff: Python version, platform and packages."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mlver.core.record import Env
from mlver.core.workspace import Objects
from mlver.diff.changes import EnvChange, Upgrade

if TYPE_CHECKING:
    from packaging.version import Version


def _packages(objs: Objects, oid: str | None) -> dict[str, str]:
    if oid is None or not objs.has(oid):
        return {}  # not here (yet): nothing to compare, which the diff shows as no change
    try:
        text = objs.read(oid).decode("utf-8")  # a corrupt blob raises: never "no packages"
    except UnicodeDecodeError:
        return {}
    out = {}
    for line in text.splitlines():
        name, sep, version = line.partition("==")
        if sep:
            out[name] = version
    return out


def _pep440(v: str) -> Version | None:
    """``packaging.version.Version(v)``, or None when it does not parse or ``packaging``
    is not installed."""
    try:
        from packaging.version import InvalidVersion, Version
    except ImportError:
        return None
    try:
        return Version(v)
    except InvalidVersion:
        return None


def fallback_key(v: str) -> tuple[tuple[float, int, str], ...]:
    """A safe order for any version text: runs of digits compare as numbers, a run of
    letters (``rc``, ``dev``…) sorts before the end of the text, and the end before any
    number, so ``2.0rc1`` < ``2.0`` < ``2.0.1`` and ``1.9`` < ``1.10``. Never raises."""
    parts: list[tuple[float, int, str]] = [(1, int(x), "") if x.isdigit() else (0, 0, x)
             for x in re.findall(r"\d+|[a-z]+", v.lower())]
    return tuple(parts) + ((0.5, 0, ""),)


def version_key(v: str) -> tuple[int, Version | tuple[tuple[float, int, str], ...]]:
    """Order versions: PEP 440 when ``packaging`` is there, else :func:`fallback_key`."""
    parsed = _pep440(v)
    return (0, parsed) if parsed is not None else (1, fallback_key(v))


def _older(a: str, b: str) -> bool:
    """Whether version ``a`` comes before ``b``: by PEP 440 when both parse, else both
    by :func:`fallback_key` (never a text comparison, where 10.0 < 9.0)."""
    pa, pb = _pep440(a), _pep440(b)
    if pa is not None and pb is not None:
        return bool(pa < pb)
    return fallback_key(a) < fallback_key(b)


def diff_env(objs: Objects, old: Env, new: Env) -> EnvChange:
    """What differs between two envs, as plain data."""
    pa = _packages(objs, old.packages) if old.packages != new.packages else {}
    pb = _packages(objs, new.packages) if old.packages != new.packages else {}
    upgraded: list[Upgrade] = []
    downgraded: list[Upgrade] = []
    for name in sorted(set(pa) & set(pb)):
        if pa[name] != pb[name]:
            row = Upgrade(name=name, old=pa[name], new=pb[name])
            (upgraded if _older(pa[name], pb[name]) else downgraded).append(row)
    out: EnvChange = {
        "python": {"old": old.python, "new": new.python},
        "implementation": {"old": old.implementation, "new": new.implementation},
        "platform": {"old": old.platform, "new": new.platform},
        "packages_count": {"old": old.packages_count, "new": new.packages_count},
        "packages": {"added": [f"{n}=={pb[n]}" for n in sorted(set(pb) - set(pa))],
                     "removed": [f"{n}=={pa[n]}" for n in sorted(set(pa) - set(pb))],
                     "upgraded": upgraded, "downgraded": downgraded},
        # set last: the JSON lists it after the sections (docs/diff.md)
        "changed": (old.python != new.python or old.implementation != new.implementation
                    or old.platform != new.platform or old.packages != new.packages),
    }
    return out
