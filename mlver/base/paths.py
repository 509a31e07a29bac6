"""Relative paths read from untrusted input (a record, a tree, a DVC file): one rule.

A record or a tree may come from a copied store or a remote, written by anyone; every path
in it is checked here before mlver joins it onto a folder. A plain relative path is
forward-slash separated, non-empty, and each of its parts is a real name: no absolute
path, no empty part (``a//b``, a trailing ``/``), no ``.`` or ``..`` part, no backslash
(a separator on Windows), no NUL (cuts a path short in C), and valid Unicode (a lone
surrogate that JSON can spell names no file). Callers raise their own error, with their
own message, when :func:`is_plain_relpath` says no.

``.git`` and ``.mlver`` are recognised in any letter case (:func:`in_reserved`): on a
case-insensitive file system (macOS, Windows) ``.GIT/config`` is ``.git/config``.
"""

from __future__ import annotations

import os

RESERVED = (".git", ".mlver")  # folders mlver never writes into from a record


def not_utf8(text: str) -> str | None:
    """None when ``text`` (a name from the file system) encodes as UTF-8; else the text to
    show for it in an error, its undecodable bytes backslash-escaped."""
    if _unicode(text):
        return None
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def _unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_plain_name(name: object) -> bool:
    """True for one plain file name: not empty, not ``.`` or ``..``, no ``/``, ``\\`` or NUL."""
    return (isinstance(name, str) and name not in ("", ".", "..") and "/" not in name
            and "\\" not in name and "\0" not in name and _unicode(name))


def is_plain_relpath(path: object, allow_top: bool = False) -> bool:
    """True for a plain relative path inside a folder (see the module docstring).

    With ``allow_top``, ``"."`` (the folder itself, e.g. a command's working folder at
    the repository's root) is accepted too.
    """
    if not isinstance(path, str):
        return False
    if allow_top and path == ".":
        return True
    if not path or path[0] == "/" or "\\" in path or "\0" in path:
        return False
    parts = path.split("/")  # (list membership, not a generator: 100k paths a checkout)
    return "" not in parts and "." not in parts and ".." not in parts and _unicode(path)


def in_reserved(path: str) -> bool:
    """True when a part of ``path`` is ``.git`` or ``.mlver``, in any letter case."""
    lowered = path.lower().split("/")  # lower() never makes or removes a "/"
    return any(r in lowered for r in RESERVED)


__all__ = ["RESERVED", "in_reserved", "is_plain_name", "is_plain_relpath"]
