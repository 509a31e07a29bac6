"""Canonical JSON: the one byte form of trees and records, whose hash is their oid.

Keys sorted, no insignificant white space, UTF-8 (not ASCII escapes), no NaN or
infinity. Changing any of these changes every oid, so the golden tests pin it.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> bytes:
    """Encode ``value`` canonically."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def loads(data: bytes) -> Any:
    """Decode JSON bytes (canonical or not); ValueError for anything that is not JSON,
    nesting too deep for the parser included (a crafted object must not crash us)."""
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
