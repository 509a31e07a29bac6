"""The HTML report of a diff (``mlver report``, ``repo.report``) and what it plots.

:func:`report_html` turns a computed :class:`~mlver.diff.value.Diff` into one
self-contained page (:mod:`mlver.views.html`), its plots drawn as inline SVG
(:mod:`mlver.views.svg`) from table profiles: those the diff itself used (handed over
through ``repo.diff(..., profiles=...)``), else the cached ones by blob oid. So a report
reads no table data that the diff did not read.
"""

from __future__ import annotations

import datetime
import os
from typing import TYPE_CHECKING, Any

from mlver.base.atomic import write_atomic

if TYPE_CHECKING:
    from mlver.core.record import Record
    from mlver.diff.value import Diff
    from mlver.explain.attribute import Attribution
    from mlver.store import Store
    from mlver.views.htmlcode import Hunks


def report_html(store: Store, diff: Diff,
                profiles: dict[str, dict[str, Any]] | None = None, *,
                hunks: Hunks | None = None, history: list[Record] | None = None,
                attribution: Attribution | None = None) -> str:
    """The page of ``diff``; plots from ``profiles`` (blob oid -> profile), else the
    store's profile cache (read only); the code ``hunks``, the metric ``history`` (records
    of the name) and the ``attribution`` (``mlver explain``) when given."""
    from mlver._version import __version__
    from mlver.diff.tablecache import cached_profile
    from mlver.views.html import render

    profiles = profiles if profiles is not None else {}

    def profile_of(oid: str) -> dict[str, Any] | None:
        p = profiles.get(oid)
        return p if p is not None else cached_profile(store, oid)

    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return render(diff, profile_of, generated=now, version=__version__, hunks=hunks,
                  history=history, attribution=attribution)


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file renamed into place).

    A ``path`` that exists and is not a regular file (``/dev/null``, ``/dev/stdout``, a
    fifo) is written into, as ``cp`` would: renaming over it would replace the device with
    a file (as root, ``-o /dev/null`` broke every program that writes to it)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    if mode is not None and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
        return
    write_atomic(os.path.abspath(path), text, mode=0o644)
