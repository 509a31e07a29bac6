"""The filter language of ``mlver ui``'s versions table, parsed in linear time.

``metrics.rmse < 30 and name = price-model``: conditions joined by ``and``, each
``COLUMN OP VALUE`` (``<``, ``<=``, ``>``, ``>=``, ``=``, ``!=``, ``~`` for "contains"),
or free text searched in name, message, kind, commit, tags and status.

Any web page can make a browser send a filter to 127.0.0.1, so the parser is a
hand-written scan, not a backtracking regular expression (one of those took 16 s of
CPU on a 29 KB filter), and a filter longer than :data:`MAX_FILTER_CHARS` is refused.
"""

from __future__ import annotations

import math
from typing import Any


MAX_FILTER_CHARS = 2000
OPERATORS = ("<=", ">=", "!=", "=", "<", ">", "~")  # two-character ones first

Condition = tuple[str, str, Any]


class FilterTooLong(ValueError):
    """A filter over :data:`MAX_FILTER_CHARS`; the UI answers 400 with its message."""


def split_and(text: str) -> list[str]:
    """Split ``text`` at every ``and`` (any case) that has whitespace on both sides;
    the parts come back stripped. One pass over the text."""
    low = text.lower()
    parts: list[str] = []
    start = pos = 0
    while True:
        i = low.find("and", pos)
        if i < 0:
            break
        if i > 0 and low[i - 1].isspace() and i + 3 < len(low) and low[i + 3].isspace():
            parts.append(text[start:i].strip())
            start = i + 3
        pos = i + 3
    parts.append(text[start:].strip())
    return parts


def _column_end(part: str) -> int:
    """Length of the column name that starts ``part`` (0 when none does)."""
    if not part or not (part[0] == "_" or ("a" <= part[0].lower() <= "z")):
        return 0
    i = 1
    while i < len(part) and (part[i].isalnum() or part[i] in "_.-/"):
        i += 1
    return i


def parse_condition(part: str) -> Condition:
    """One part of a filter: ``COLUMN OP VALUE``, or free text (``("*", "~", text)``)."""
    end = _column_end(part)
    if end:
        rest = part[end:].lstrip()
        for op in OPERATORS:
            if rest.startswith(op):
                col = part[:end]
                return ("tags" if col == "tag" else col, op, literal(rest[len(op):].strip()))
    return ("*", "~", part)


def parse_filter(text: str) -> list[Condition]:
    """``metrics.rmse < 30 and name = price-model`` -> conditions ``(column, op, value)``.
    A part that is not ``COLUMN OP VALUE`` searches name, message, kind, commit and tags
    (``("*", "~", text)``). Values read as numbers, ``true``/``false``/``null``, or text
    (quotes optional). Raises :class:`FilterTooLong` for a filter over the length bound."""
    if len(text) > MAX_FILTER_CHARS:
        raise FilterTooLong(f"the filter is {len(text)} characters long; shorten it to at most "
                         f"{MAX_FILTER_CHARS}")
    return [parse_condition(p) for p in split_and(text.strip()) if p]


def literal(raw: str) -> Any:
    """A filter value: quoted text, a boolean, null, a finite number, or text."""
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "none"):
        return None
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        v = float(raw)
        return v if math.isfinite(v) else raw
    except ValueError:
        return raw


def is_number(v: Any) -> bool:
    """True for an int or float that is not a bool (a numeric cell)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def as_text(v: Any) -> str:
    """A value as the text the filter searches and a table cell shows."""
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return " ".join(map(str, v))
    from mlver.base.fmt import fmt_value

    return str(fmt_value(v))


def matches(row: dict[str, Any], cond: Condition) -> bool:
    """Whether one versions-table row satisfies one condition."""
    col, op, want = cond
    if col == "*":
        hay = " ".join(as_text(row.get(k)) for k in ("name", "message", "kind", "commit", "tags",
                                                   "status") if row.get(k) is not None)
        return str(want).lower() in hay.lower()
    if col not in row or row[col] is None:  # a row without the column: only "= null"
        return want is None and op == "="
    have = row[col]
    if op == "~":
        return str(want).lower() in as_text(have).lower()
    if col == "tags":
        inside = str(want) in (have or [])
        return inside if op == "=" else not inside if op == "!=" else False
    a: Any
    b: Any
    if is_number(have) and is_number(want):
        a, b = float(have), float(want)
    elif isinstance(have, bool) or isinstance(want, bool) or want is None:
        a, b = have, want
        if op not in ("=", "!="):
            return False
    else:
        a, b = as_text(have).lower(), as_text(want).lower()
    if op == "=":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    try:
        return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])
    except TypeError:
        return False
