"""Params scope: which params keys a version depends on. Pure: no I/O.

A record holds the whole content of its params files (so a diff can still say what
changed elsewhere), and, when the version declared keys (``-p params.yaml:train``,
``-p params.yaml:train.lr,train.depth``, as DVC stages list them), those keys as its
*params scope*: dotted keys, each standing for itself and everything below it. Only
keys inside the scope count as a change of the version: in a diff, in ``status``,
in ``explain`` and in a snapshot's identity. ``None`` stands for every key (a whole
file, the default).
"""

from __future__ import annotations

from typing import Any

MAX_KEYS = 10000  # keys a record's params scope may hold
MAX_KEY = 1024    # characters of one key


def in_scope(key: str, scope) -> bool:
    """True when the dotted ``key`` is in ``scope`` (None: every key).

    An entry names a key and everything below it: ``train`` holds ``train.lr``."""
    if scope is None:
        return True
    return any(key == e or key.startswith(e + ".") for e in scope)


def union(a, b):
    """The scope covering both (None, every key, when either is None)."""
    if a is None or b is None:
        return None
    return tuple(sorted(set(a) | set(b)))


def scoped(values: dict, scope, prefix: str = "") -> dict:
    """The part of the nested ``values`` inside ``scope`` (all of it for None)."""
    if scope is None:
        return values
    out: dict = {}
    for k, v in values.items():
        key = f"{prefix}{k}"
        if in_scope(key, scope):
            out[k] = v
        elif isinstance(v, dict) and any(e.startswith(key + ".") for e in scope):
            inner = scoped(v, scope, key + ".")
            if inner:
                out[k] = inner
    return out


def parse_keys(text: str, where: str) -> tuple[str, ...]:
    """``train.lr,train.depth`` -> ``("train.depth", "train.lr")``; ``where`` names the
    spec in errors (a ``ValueError`` whose text is the whole sentence)."""
    keys = [k.strip() for k in text.split(",")]
    if not text.strip() or any(not k or len(k) > MAX_KEY or k.startswith(".")
                               or k.endswith(".") or ".." in k for k in keys):
        raise ValueError(f"'{where}' does not list params keys; give FILE:KEY[,KEY...] like "
                         "params.yaml:train or params.yaml:train.lr,train.depth")
    return tuple(sorted(set(keys)))


def check(value: Any, what: str) -> tuple[str, ...]:
    """A record's params scope as read from JSON: a bounded list of short key texts
    (a ``ValueError`` otherwise)."""
    if not isinstance(value, (list, tuple)) or len(value) > MAX_KEYS:
        raise ValueError(f"{what} is not a list of at most {MAX_KEYS} keys")
    for k in value:
        if not isinstance(k, str) or not k or len(k) > MAX_KEY:
            raise ValueError(f"{what} holds an entry that is not a short key text")
    return tuple(value)
