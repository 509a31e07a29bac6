"""``mlver log``: the records of one name (or of every name), newest first, optionally only
those on HEAD's git history, and in a read-only store also those the index lacks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from mlver.base.display import Displayable
from mlver.core import history
from mlver.core.branches import on_head_flags
from mlver.core.record import Record
from mlver.store import Store

Items = list[tuple[str, Record]]


class Log(Displayable, list[tuple[str, Record]]):
    """What ``repo.log()`` returns: ``(oid, record)`` pairs newest first. A list (it is
    indexed, sliced, compared and extended as one), which a notebook shows as the table of
    ``mlver log`` (``_repr_html_``)."""

    __slots__ = ()


def log(store: Store, root: str, name: str | None, n: int | None, branch: bool,
        warn: Callable[[str], None], unindexed: Sequence[tuple[str, Record]] = (),
        skipped: Mapping[str, str] | None = None) -> Log:
    """Records newest first: of ``name`` by version, or of all names by time.

    ``branch``: only versions on HEAD's git history of the repository at ``root``
    (recorded at HEAD or an ancestor, or without a commit); ``n`` then counts those.
    ``unindexed``: records the index lacks (a read-only store cannot catch it up);
    ``skipped``: names the index could not read, and why (each listed one is warned of)."""
    cut = None if branch else n
    found = history.log(store, name, cut, warn)
    if unindexed:
        found = _merge(found, [(o, r) for o, r in unindexed
                               if name is None or r.name == name], name, cut)
    for bad, why in (skipped or {}).items():
        if name is None or name == bad:
            warn(f"{bad} is damaged: {why}")
    if branch:
        flags = on_head_flags(found, root)
        if flags is not None:
            found = [(o, r) for o, r in found if flags[o]]
        if n is not None:
            found = found[:max(n, 0)]
    return Log(found)


def _merge(found: Items, extra: Items, name: str | None, n: int | None) -> Items:
    """``found`` (from the index) and records the index lacks, in the log's order."""
    have = {o for o, _ in found}
    items = found + [(o, r) for o, r in extra if o not in have]
    if name is not None:
        items.sort(key=lambda it: -it[1].version)
    else:
        items.sort(key=lambda it: it[1].name)
        items.sort(key=lambda it: it[1].created, reverse=True)
    return items[:max(n, 0)] if n is not None else items
