"""When a new capture is the same version as the latest one (and nothing is written).

A version is its data, its code within the code scope, its params within the params
scope and its env. ``Record.content`` already leaves out what is information only (the
untracked list, params outside the scope); here the code is compared as ``mlver diff``
compares it: another commit or patch counts only when it changes a file of the code
scope that is not data, params or metrics. So a commit that only edits a key outside
the params scope, or a new log file, makes no new version.
"""

from __future__ import annotations

from typing import Callable

from .record import Record
from .store import Store
from .workspace import Workspace


def same_version(store: Store, ws: Workspace | None, prev: Record, draft: Record,
                 flush: Callable[[], None] | None = None) -> bool:
    """True when ``draft`` (not yet published) is the same version as ``prev``.

    ``flush`` (the capture's ``Batch.commit``) is called before comparing the code, whose
    patches a capture stages in its batch: it runs only when the records differ in
    nothing but the code section."""
    if prev.failed != draft.failed:
        return False
    a, b = prev.content(), draft.content()
    if a == b:
        return True
    if ws is None or prev.code.commit is None or draft.code.commit is None \
            or prev.code.scope != draft.code.scope:
        return False
    a.pop("code")
    b.pop("code")
    if a != b:
        return False
    if flush is not None:
        flush()
    return not _code_changed(store, ws, prev, draft)


def _code_changed(store: Store, ws: Workspace, prev: Record, draft: Record) -> bool:
    from .diff.codediff import diff_code
    from .diff.records import config_part
    from .workspace import Objects

    skip = {x.path for r in (prev, draft) for x in (*r.inputs.values(), *r.outputs.values())}
    skip |= {p for r in (prev, draft) for p in (*r.params_files, *r.metrics_files)}
    return bool(diff_code(Objects(store, ws), prev.code, draft.code, skip,
                          *config_part(prev, draft))["changed"])
