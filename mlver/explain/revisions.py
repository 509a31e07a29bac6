"""``mlver explain REV REV2``: the two records a replay attributes a metric's change
between, with the defaults of the command line."""

from __future__ import annotations

from collections.abc import Callable

from mlver.base.progress import Progress
from mlver.core import history
from mlver.core.workspace import Workspace
from mlver.explain.attribute import Attribution
from mlver.explain.replay import DEFAULT_BUDGET, REPEATS, explain
from mlver.store import Store


def explain_revisions(store: Store, ws: Workspace, a: str, b: str,
                      metrics: list[str] | None = None, jobs: int = 1,
                      budget: int | None = None, split_params: bool = False,
                      progress: Progress | None = None,
                      notify: Callable[[str], None] | None = None, cache: bool = True,
                      repeats: int | None = None, trust: bool = False) -> Attribution:
    """:func:`mlver.explain.replay.explain` of the records revisions ``a`` and ``b`` name;
    ``budget`` and ``repeats`` None take their defaults."""
    a_oid = history.resolve(store, a)
    a_rec = history.load_record(store, a_oid)
    b_oid = history.resolve(store, b)
    b_rec = history.load_record(store, b_oid)
    return explain(store, ws, a_oid, a_rec, b_oid, b_rec, metrics=metrics, jobs=jobs,
                   budget=DEFAULT_BUDGET if budget is None else budget,
                   split_params=split_params, progress=progress, notify=notify,
                   cache=cache, repeats=REPEATS if repeats is None else repeats, trust=trust)
