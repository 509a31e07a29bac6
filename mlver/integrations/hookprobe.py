"""Asking a Python interpreter where it finds mlver: what ``mlver hooks install`` needs to
write hook scripts that run ``python -I`` (isolated mode, so nothing in the work tree is
importable) and still import the mlver the user installed (:func:`isolated_path`), and
to check that interpreter (:func:`mlver.integrations.hooktrust.check_interpreter`)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from typing import Any

PROBE_TIMEOUT = 20.0  # seconds for the interpreter to say where it finds mlver
_PROBE = ("import json, sys\nsys.path[:0] = json.loads(sys.argv[1])\n"
          "try:\n    import mlver.integrations.hooks as m; f = m.__file__\n"
          "except Exception:\n    f = None\n"
          "print(json.dumps({'prefix': sys.prefix, 'exec_prefix': sys.exec_prefix, "
          "'path': sys.path, 'mlver': f}))\n")


def probe(python: str, flags: list[str], cwd: str,
          path: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """What ``python`` run with ``flags`` from ``cwd``, ``path`` put first on its
    ``sys.path``, sees: ``prefix``, ``exec_prefix``, ``path`` (its ``sys.path``) and
    ``mlver`` (the file of the mlver it imports, or None). None when it does not run or
    says nothing readable (its output is only trusted to be JSON, nothing else)."""
    try:
        p = subprocess.run([python, *flags, "-c", _PROBE, json.dumps(list(path))], cwd=cwd,
                           capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False)
        out = json.loads(p.stdout) if p.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return out if isinstance(out, dict) else None


def isolated_path(python: str) -> tuple[str, ...]:
    """The folders to put first on ``sys.path`` for ``python -I`` to import the mlver that
    ``python`` imports today (empty when isolated mode finds it, as in a virtualenv, or
    when ``python`` cannot be asked). Probed from an empty folder, so the folder the
    command runs in never counts."""
    with tempfile.TemporaryDirectory(prefix="mlver-probe-") as cwd:
        real = os.path.realpath(cwd)
        normal = probe(python, [], cwd)
        if not normal or not normal.get("mlver"):
            return ()
        iso = probe(python, ["-I"], cwd) or {"path": [], "mlver": None}
        if iso.get("mlver") and os.path.realpath(iso["mlver"]) == \
                os.path.realpath(normal["mlver"]):
            return ()
        have = set(iso.get("path") or [])
        extra: list[str] = []
        for p in normal.get("path") or []:
            if not isinstance(p, str) or not os.path.isabs(p) or p in have or p in extra:
                continue
            rp = os.path.realpath(p)
            if rp == real or rp.startswith(real + os.sep):
                continue  # the probe's own folder (a relative PYTHONPATH entry)
            extra.append(p)
        return tuple(extra)
