"""A remote's ``refs/pruned``: the records pushed after ``gc --keep-last`` removed their data.

format.md's rule is that a record on a remote has its trees and data, so a clone can pull
any of it. A pruned record is the one exception, and only when it is listed here (one oid a
line, sorted, as a local store's ``refs/pruned``): push lists it, by compare-and-swap,
before any ref that reaches it moves; pull and ``verify --remote`` skip its trees and data
and the clone records it as pruned too, so ``show`` and ``diff`` say "data removed by gc".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlver.base.errors import RemoteError
from mlver.base.hashing import is_oid
from mlver.store.layout import PRUNED_REL, oid_lines
from mlver.store.refs import PRUNED_MAX, _parse_pruned
from mlver.store.remote_backend import Medium



def read_pruned(backend: Medium) -> tuple[frozenset[str], Any]:
    """The oids of the remote's ``refs/pruned`` (empty when absent), and its CAS token."""
    data, token = backend.read_ref(PRUNED_REL, PRUNED_MAX)
    if data is None:
        return frozenset(), None
    return _parse_pruned(f"{backend.label}: {PRUNED_REL}", data), token


def add_pruned(backend: Medium, oids: Iterable[str]) -> None:
    """Add ``oids`` to the remote's ``refs/pruned`` (the whole sorted list rewritten by
    compare-and-swap, retried while another push moves it)."""
    new = set(oids)
    if not new:
        return
    bad = next((o for o in sorted(new) if not is_oid(o)), None)
    if bad is not None:
        raise ValueError(f"{bad!r} is not an oid")
    for _ in range(50):
        old, token = read_pruned(backend)
        if new <= old:
            return
        body = oid_lines(old | new)
        if backend.swap(PRUNED_REL, token, body, PRUNED_MAX):
            return
    raise RemoteError(f"{backend.label}: {PRUNED_REL} kept changing while this push wrote "
                      "it; run mlver push again")
