"""The env section: the Python that trains, and every distribution installed in it.

That interpreter is not necessarily the one mlver runs in (mlver may live in a
pipx venv): it is ``--python``, else ``[env] python`` in mlver.toml, else the
active virtualenv, else ``python`` on PATH. We ask it about itself in one
subprocess. Environment variables are never captured: they hold secrets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from mlver.base.errors import CaptureError

_PROBE = r"""
import json, platform, sys, site
try:
    from importlib import metadata
except ImportError:
    metadata = None
pkgs = set()
if metadata is not None:
    for d in metadata.distributions():
        name = d.metadata["Name"]
        if name:
            pkgs.add("%s==%s" % (name.lower().replace("_", "-"), d.version))
paths = [p for p in sys.path if p.endswith("-packages")]
print(json.dumps({"python": platform.python_version(),
                  "implementation": platform.python_implementation(),
                  "platform": platform.platform(), "packages": sorted(pkgs), "paths": paths}))
"""


@dataclass(frozen=True)
class EnvCapture:
    """What the interpreter said; ``packages`` is the text of the packages blob."""

    python: str
    implementation: str
    platform: str
    packages: bytes
    packages_count: int


def find_python(explicit: str | None) -> str:
    """The interpreter whose environment is recorded (see module doc)."""
    if explicit:
        found = shutil.which(explicit) or (explicit if os.path.exists(explicit) else None)
        if not found:
            raise CaptureError(f"python interpreter '{explicit}' was not found; "
                               "fix --python or [env] python in mlver.toml")
        return found
    venv = os.environ.get("VIRTUAL_ENV")
    if venv:
        for cand in ("bin/python", "Scripts/python.exe"):
            p = os.path.join(venv, cand)
            if os.path.exists(p):
                return p
    return shutil.which("python") or shutil.which("python3") or sys.executable


def _find_quietly(explicit: str | None) -> str | None:
    try:
        return find_python(explicit)
    except CaptureError:
        return None


def _fingerprint(python: str, paths: list[str]) -> str:
    # Installing or removing a distribution adds or removes a *.dist-info folder,
    # which changes the mtime of the site-packages folder holding it.
    parts = [os.path.realpath(python)]
    for p in [python] + paths:
        try:
            st = os.stat(p)
            parts.append(f"{p}:{st.st_mtime_ns}:{st.st_size}")
        except OSError:
            parts.append(f"{p}:-")
    return "\n".join(parts)


def capture_env(explicit: str | None,
                cache_get: Callable[[str], tuple[str, str] | None] | None = None,
                cache_put: Callable[[str, str, str], None] | None = None,
                probe: bool = True) -> EnvCapture | None:
    """Ask the training interpreter about itself.

    ``cache_get(python) -> (fingerprint_paths, json) | None`` and ``cache_put`` let the
    caller keep the answer while no package was installed or removed since. With
    ``probe`` False nothing is executed: only a still-valid cached answer is returned,
    else None (read-only commands never run a program the repository names).
    """
    python = find_python(explicit) if probe else _find_quietly(explicit)
    if python is None:
        return None
    data = None
    if cache_get is not None:
        hit = cache_get(os.path.realpath(python))
        if hit is not None:
            fp, payload = hit
            d = json.loads(payload)
            if fp == _fingerprint(python, d["paths"]):
                data = d
    if data is None and not probe:
        return None
    if data is None:
        try:
            out = subprocess.run([python, "-I", "-c", _PROBE], capture_output=True,
                                 text=True, timeout=120, check=True).stdout
            data = json.loads(out)
        except (OSError, subprocess.SubprocessError, ValueError) as e:
            raise CaptureError(f"could not ask python '{python}' about its environment ({e}); "
                               "fix --python or [env] python in mlver.toml") from None
        if cache_put is not None:
            cache_put(os.path.realpath(python), _fingerprint(python, data["paths"]),
                      json.dumps(data))
    pkgs = data["packages"]
    blob = "".join(p + "\n" for p in pkgs).encode("utf-8")
    return EnvCapture(python=data["python"], implementation=data["implementation"],
                      platform=data["platform"], packages=blob, packages_count=len(pkgs))
