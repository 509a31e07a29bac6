"""``mlver tag REV TAG``: a tag names one record of a name, and moves by compare-and-swap."""

from __future__ import annotations

from mlver.base.errors import RevisionSyntaxError
from mlver.core import history
from mlver.core.record import Record
from mlver.store import Store


def tag(store: Store, rev: str, tag: str) -> tuple[str, Record, str | None]:
    """Tag the record ``rev`` as ``NAME@TAG``; ``(oid, record, previous oid or None)``.
    A tag that is no valid name, or all digits (it would read as a version), is refused."""
    history.check_name(tag, "tag")
    if tag.isdigit():
        raise RevisionSyntaxError(f"tag '{tag}' is all digits and would read as a "
                                  "version; pick a name with a letter")
    oid = history.resolve(store, rev)
    rec = history.load_record(store, oid)
    return oid, rec, store.refs.set_tag(rec.name, tag, oid)
