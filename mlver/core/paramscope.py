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

from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any

KeyTest = Callable[[str], bool]  # is this dotted key in (or above) a scope?

MAX_KEYS = 10000       # keys a record's params scope may hold
MAX_KEY = 1024         # characters of one key
MAX_DEPTH = 100        # dotted parts of one key: a params file nests at most 100 levels
MAX_TOTAL = 1 << 20    # characters of all the keys together


def in_scope(key: str, scope: Iterable[str] | None) -> bool:
    """True when the dotted ``key`` is in ``scope`` (None: every key).

    An entry names a key and everything below it: ``train`` holds ``train.lr``. For
    many keys, :func:`matcher` builds the test once."""
    return matcher(scope)(key)


def matcher(scope: Iterable[str] | None) -> KeyTest:
    """``in_scope(·, scope)`` as one function. A record's scope is untrusted and may
    list thousands of keys: each test looks up the prefixes of the key it is given
    (``a.b.c``, ``a.b``, ``a``) in a set, so its cost grows with that key, never with
    the scope's size or with the depth of the scope's own keys."""
    if scope is None:
        return lambda key: True
    entries = frozenset(scope)

    def test(key: str) -> bool:
        while True:
            if key in entries:
                return True
            cut = key.rfind(".")
            if cut < 0:
                return False
            key = key[:cut]
    return test


def _above(scope: Iterable[str]) -> KeyTest:
    """A test: is ``key`` a proper dotted prefix of an entry of ``scope`` (``a`` and
    ``a.b`` for ``a.b.c``)? One binary search in the sorted entries: building every
    prefix of every entry instead costs the square of their depth (a crafted scope of
    10,000 keys 500 levels deep took gigabytes)."""
    entries = sorted(scope)

    def test(key: str) -> bool:
        below = key + "."
        i = bisect_left(entries, below)
        return i < len(entries) and entries[i].startswith(below)
    return test


def union(a: Iterable[str] | None, b: Iterable[str] | None) -> tuple[str, ...] | None:
    """The scope covering both (None, every key, when either is None)."""
    if a is None or b is None:
        return None
    return tuple(sorted(set(a) | set(b)))


def scoped(values: dict[str, Any], scope: Iterable[str] | None) -> dict[str, Any]:
    """The part of the nested ``values`` inside ``scope`` (all of it for None)."""
    if scope is None:
        return values
    return _scoped(values, matcher(scope), _above(scope), "")


def _scoped(values: dict[str, Any], inside: KeyTest, above: KeyTest,
            prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        key = f"{prefix}{k}"
        if inside(key):
            out[k] = v
        elif isinstance(v, dict) and above(key):
            inner = _scoped(v, inside, above, key + ".")
            if inner:
                out[k] = inner
    return out


def parse_keys(text: str, where: str) -> tuple[str, ...]:
    """``train.lr,train.depth`` -> ``("train.depth", "train.lr")``; ``where`` names the
    spec in errors (a ``ValueError`` whose text is the whole sentence)."""
    keys = [k.strip() for k in text.split(",")]
    if not text.strip() or len(keys) > MAX_KEYS or len(text) > MAX_TOTAL \
            or any(not k or len(k) > MAX_KEY or k.count(".") >= MAX_DEPTH or k.startswith(".")
                   or k.endswith(".") or ".." in k for k in keys):
        raise ValueError(f"'{where}' does not list params keys; give FILE:KEY[,KEY...] like "
                         "params.yaml:train or params.yaml:train.lr,train.depth")
    return tuple(sorted(set(keys)))


def check(value: Any, what: str) -> tuple[str, ...]:
    """A record's params scope as read from JSON: a bounded list of short key texts, each
    at most :data:`MAX_DEPTH` dotted parts deep, :data:`MAX_TOTAL` characters in all (a
    ``ValueError`` otherwise). Checked when the record is read, before any command
    matches keys against it."""
    if not isinstance(value, (list, tuple)) or len(value) > MAX_KEYS:
        raise ValueError(f"{what} is not a list of at most {MAX_KEYS} keys")
    total = 0
    for k in value:
        if not isinstance(k, str) or not k or len(k) > MAX_KEY:
            raise ValueError(f"{what} holds an entry that is not a short key text")
        if k.count(".") >= MAX_DEPTH:
            raise ValueError(f"{what} holds a key more than {MAX_DEPTH} levels deep")
        total += len(k)
        if total > MAX_TOTAL:
            raise ValueError(f"{what} holds more than {MAX_TOTAL:,} characters of keys")
    return tuple(value)
