"""The env section of a diff: Python version, platform and packages."""

from __future__ import annotations

import re

from ..record import Env
from ..workspace import Objects


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


def version_key(v: str):
    """Order versions: PEP 440 when ``packaging`` is there, else numeric runs."""
    try:
        from packaging.version import InvalidVersion, Version

        try:
            return (0, Version(v))
        except InvalidVersion:
            pass
    except ImportError:
        pass
    return (1, tuple(int(x) if x.isdigit() else -1 for x in re.findall(r"\d+|[a-z]+", v.lower())))


def _older(a: str, b: str) -> bool:
    ka, kb = version_key(a), version_key(b)
    if ka[0] != kb[0]:
        return a < b
    return ka < kb


def diff_env(objs: Objects, old: Env, new: Env) -> dict:
    """What differs between two envs, as plain data."""
    pa = _packages(objs, old.packages) if old.packages != new.packages else {}
    pb = _packages(objs, new.packages) if old.packages != new.packages else {}
    upgraded, downgraded = [], []
    for name in sorted(set(pa) & set(pb)):
        if pa[name] != pb[name]:
            row = {"name": name, "old": pa[name], "new": pb[name]}
            (upgraded if _older(pa[name], pb[name]) else downgraded).append(row)
    out = {
        "python": {"old": old.python, "new": new.python},
        "implementation": {"old": old.implementation, "new": new.implementation},
        "platform": {"old": old.platform, "new": new.platform},
        "packages_count": {"old": old.packages_count, "new": new.packages_count},
        "packages": {"added": [f"{n}=={pb[n]}" for n in sorted(set(pb) - set(pa))],
                     "removed": [f"{n}=={pa[n]}" for n in sorted(set(pa) - set(pb))],
                     "upgraded": upgraded, "downgraded": downgraded},
    }
    out["changed"] = (old.python != new.python or old.implementation != new.implementation
                      or old.platform != new.platform or old.packages != new.packages)
    return out
