"""When a new capture is the same version as the latest one (and nothing is written),
and which code a judgment of "changed" compares.

A version is its data, its code within the code scope, its params within the params
scope and its env. ``Record.content`` already leaves out what is information only (the
untracked list, params outside the scope); here the code is compared as ``mlver diff``
compares it: another commit or patch counts only when it changes a file of the code
scope that is not data, params or metrics. So a commit that only edits a key outside
the params scope, or a new log file, makes no new version.

Two rules about the code scope live here, for ``snapshot``, ``status`` and ``diff`` alike
(see docs/concepts.md, "What counts as a change"):

- A version with no command, no inputs and no declared code scope (a raw dataset
  snapshot) was made by no code of the repository: its code never counts as a change.
  Records keep their code section as captured; only the judging reads it so.
- The same commit and the same uncommitted patch are the same code, whatever the
  scopes; and a capture without a scope of its own (a ``snapshot`` of what ``run``
  recorded) is judged against its parent with the parent's scope.
"""

from __future__ import annotations

from dataclasses import replace
from collections.abc import Callable

from mlver.core.record import Code, Record, Scope
from mlver.store import Store
from mlver.core.workspace import Workspace

# The code scope a judgment gives a version that no code made: nothing is its code.
NO_CODE = Scope("declared", ())


def counts_code(rec: Record) -> bool:
    """False for a version that no code of the repository made: no command (no ``run``
    section), no inputs and no declared code scope, i.e. a raw dataset snapshot.

    A declared scope (``code = ["generate_data.py"]``) says which code made the data,
    so it still counts; a recorded command ran code, so a run always counts."""
    return rec.run is not None or bool(rec.inputs) or rec.code.scope is not None


def judged_code(rec: Record) -> Code:
    """``rec``'s code with the scope a judgment compares: :data:`NO_CODE` for a
    version no code made (see :func:`counts_code`), else its own."""
    if counts_code(rec) or rec.code.commit is None:
        return rec.code
    return replace(rec.code, scope=NO_CODE)


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
    a.pop("code")
    b.pop("code")
    if a != b:
        return False
    old, new = prev.code, draft.code
    if (old.commit, old.patch) == (new.commit, new.patch):
        return True  # the same code, whichever scope either side names
    if old.commit is None or new.commit is None:
        return False
    if not counts_code(prev) and not counts_code(draft):
        return True  # raw data: no code of the repository made either
    if ws is None:
        return False
    old, new = judged_code(prev), judged_code(draft)
    if draft.code.scope is None and prev.code.scope is not None:
        # a snapshot of what a run recorded declares no scope: it has what the run traced
        new = replace(new, scope=prev.code.scope)
    if flush is not None:
        flush()
    return not _code_changed(store, ws, prev, draft, old, new)


def _code_changed(store: Store, ws: Workspace, prev: Record, draft: Record,
                  old: Code, new: Code) -> bool:
    from mlver.diff.codediff import diff_code
    from mlver.diff.configscope import config_part
    from mlver.core.workspace import Objects

    skip = {x.path for r in (prev, draft) for x in (*r.inputs.values(), *r.outputs.values())}
    skip |= {p for r in (prev, draft) for p in (*r.params_files, *r.metrics_files)}
    return bool(diff_code(Objects(store, ws), old, new, skip,
                          *config_part(prev, draft))["changed"])
