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

    An entry names a key and everything below it: ``train`` holds ``train.lr``. For
    many keys, :func:`matcher` builds the test once."""
    return matcher(scope)(key)


def matcher(scope):
    """``in_scope(·, scope)`` as one function. A record's scope is untrusted and may
    list thousands of keys: each test looks up the key's prefixes in a set, so its cost
    grows with the key's depth, not with the scope's size."""
    if scope is None:
        return lambda key: True
    entries = frozenset(scope)

    def test(key: str) -> bool:
        if key in entries:
            return True
        parts = key.split(".")
        return any(".".join(parts[:i]) in entries for i in range(1, len(parts)))
    return test


def _prefixes(scope) -> frozenset:
    """Every proper dotted prefix of the scope's entries (``a``, ``a.b`` for ``a.b.c``)."""
    out = set()
    for e in scope:
        parts = e.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(out)


def union(a, b):
    """The scope covering both (None, every key, when either is None)."""
    if a is None or b is None:
        return None
    return tuple(sorted(set(a) | set(b)))


def scoped(values: dict, scope) -> dict:
    """The part of the nested ``values`` inside ``scope`` (all of it for None)."""
    if scope is None:
        return values
    return _scoped(values, matcher(scope), _prefixes(scope), "")


def _scoped(values: dict, inside, above: frozenset, prefix: str) -> dict:
    out: dict = {}
    for k, v in values.items():
        key = f"{prefix}{k}"
        if inside(key):
            out[k] = v
        elif isinstance(v, dict) and key in above:
            inner = _scoped(v, inside, above, key + ".")
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
