"""Which records a pull marks as ``pulled``, and how a replay keeps origins (see
:mod:`mlver.store.origins`).

Two ways a record someone else wrote used to pass for local:

* **Bytes already here.** The fetcher skips an object the store already holds, and such
  an object may have arrived as a data blob (a file whose bytes are a record) or through
  an on-demand fetch. So a pull marks every record it adopts from the remote's refs and
  tags that *was not reachable from this store's own refs and tags before the pull* and
  has no mark yet, fetched now or not. A record this store made and pushed is still
  reachable from its refs when it comes back, so it stays local.
* **Replay.** Pull rewrites local-only records on top of the remote's head (new version
  numbers, new oids); those records may themselves have been pulled or imported. Each
  rewritten record gets the origin of the record it was rewritten from, written before
  the rewritten records are stored; a record rewritten from a local one stays local.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING
from collections.abc import Container, Iterable, Mapping

from mlver.core import reach
from mlver.store.origins import mark_origin, origins

if TYPE_CHECKING:
    from mlver.store import Store


def locally_reached(store: Store) -> frozenset[str]:
    """Every record readable from this store's refs and tags (through parents and input
    sources): what this store has adopted so far. An unreadable ref or record adds
    nothing, so what it would have reached counts as not adopted (marked, never trusted)."""
    return frozenset(reach.walk_records(store, reach.ref_starts(store).labelled()).records)


def mark_adopted(store: Store, adopted: Iterable[str], fetched: Container[str],
                 remote_name: str) -> None:
    """Mark as ``pulled`` from ``remote_name`` every record of ``adopted`` (the records
    reached from the remote's refs and tags) that this store had not adopted before and
    that has no mark yet (the first mark stays: an imported record stays imported).
    ``fetched``: the records whose bytes this pull brought (new here, so not adopted
    before). Call it before the records are stored and before any ref reaches them."""
    marked = origins(store)
    todo = [o for o in dict.fromkeys(adopted) if o not in marked]
    held = [o for o in todo if o not in fetched]
    before = locally_reached(store) if held else frozenset()
    mark_origin(store, [o for o in todo if o not in before], "pulled", remote_name)


def carry(store: Store, rewritten: Mapping[str, str]) -> None:
    """Give each replayed record (``old oid -> new oid``) the origin of the record it was
    rewritten from. Call it before the new records are stored."""
    marked = origins(store)
    by_origin: dict[tuple[str, str], list[str]] = defaultdict(list)
    for old, new in rewritten.items():
        o = marked.get(old)
        if o is not None and not o.local:
            by_origin[(o.kind, o.source)].append(new)
    for (kind, source), oids in sorted(by_origin.items()):
        mark_origin(store, oids, kind, source)
