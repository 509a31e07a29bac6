"""Code scope: which paths a version's code depends on. Pure: no I/O.

A scope is a list of root-relative entries. An entry without a wildcard is a path:
it matches itself and everything below it. An entry holding ``*``, ``?`` or ``[``
is a glob with git's ``:(glob)`` rules, matched against the whole path: ``*`` and
``?`` never match ``/``, ``**/`` matches any number of folders, a trailing ``/**``
everything below. ``None`` stands for the whole repository.

``pathspecs`` turns a scope into git pathspecs with an explicit magic prefix
(``:(top,literal)`` or ``:(top,glob)``), so nothing stored in a record is ever
read by git as options or pathspec magic; ``matches`` gives the same answers in
Python (the tests check both against the git binary).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

GLOB_CHARS = "*?["
MAX_ENTRIES = 10000   # entries a record's scope may hold
MAX_ENTRY = 4096      # characters of one entry


def is_glob(entry: str) -> bool:
    """True when ``entry`` holds a wildcard (``*``, ``?`` or ``[``)."""
    return any(c in entry for c in GLOB_CHARS)


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> re.Pattern[str]:
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            j = i
            while j < n and pattern[j] == "*":
                j += 1
            whole = (i == 0 or pattern[i - 1] == "/") and (j == n or pattern[j] == "/")
            if j - i >= 2 and whole and j == n:
                out.append(".*")  # a last component "**": everything below
            elif j - i >= 2 and whole:
                out.append("(?:.*/)?")  # "**/": any number of folders
                j += 1
            else:
                out.append("[^/]*")
            i = j
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = i + 1
            if j < n and pattern[j] in "!^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:  # no closing bracket: a plain "["
                out.append(re.escape(c))
                i += 1
                continue
            body = pattern[i + 1:j]
            neg = body[:1] in ("!", "^")
            body = body[1:] if neg else body
            body = body.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
            if not neg and body.startswith("^"):
                body = "\\" + body
            out.append(f"[^{body}/]" if neg else f"[{body}]")
            i = j + 1
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.S)


def matches(path: str, entries: Iterable[str] | None) -> bool:
    """True when the root-relative ``path`` is in the scope ``entries`` (None: everything)."""
    if entries is None:
        return True
    for e in entries:
        if is_glob(e):
            if _regex(e).fullmatch(path):
                return True
        elif e == "." or path == e or path.startswith(e + "/"):
            return True
    return False


def union(a: Iterable[str] | None, b: Iterable[str] | None) -> tuple[str, ...] | None:
    """The scope covering both (None, the whole repository, when either is None)."""
    if a is None or b is None:
        return None
    return tuple(sorted(set(a) | set(b)))


def pathspecs(entries: Iterable[str], prefix: str = "") -> list[str]:
    """Git pathspecs for a scope; ``prefix`` is the root's path inside the git
    repository (``""`` or ``"sub/"``). Every spec carries its own magic, so the text
    after it is taken as a path or a glob, never as magic or an option."""
    out = []
    for e in entries:
        if e == ".":
            out.append(f":(top,literal){prefix.rstrip('/')}" if prefix else ":(top)")
        else:
            out.append(f":(top,{'glob' if is_glob(e) else 'literal'}){prefix}{e}")
    return out
