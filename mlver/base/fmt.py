"""How mlver writes sizes, values and version labels, in one place: the command line, the
HTML report, the UI and progress bars all call these, so they never disagree."""

from __future__ import annotations

import json
import math
import re


def human_size(n: int | float | None) -> str:
    """Bytes as ``1.2 MB`` (powers of 1000, as ``ls --si`` and DVC print them); ``?`` for
    an unknown size."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # not reached: TB ends the loop


def fmt_value(v: object) -> str:
    """A param, metric or cell value as users write it (YAML/JSON spelling), never a
    Python repr: ``true``, ``false``, ``null``, ``0.1``, text as is (``""`` when empty),
    lists and maps as JSON."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)  # the shortest text that reads back as the same number
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return v if v else '""'
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def version_label(name: object, version: object) -> str:
    """A version's label, ``NAME@N`` (also ``NAME@TAG``): what users type and read."""
    return f"{name}@{version}"


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.I)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


def parse_size(text: str) -> int | None:
    """Bytes of a memory size as users write it, ``"2GB"``, ``"512MB"``, ``"1.5GiB"``
    (``[diff] memory``); None when it is not one, or under 16 MB (too little for a join)."""
    m = _SIZE.match(text) if isinstance(text, str) else None
    if m is None:
        return None
    n = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    return n if n >= 16 * 10**6 else None
