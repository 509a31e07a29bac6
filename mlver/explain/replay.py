"""``mlver explain A B``: replay a recorded run with its inputs swapped, and measure how much
of a metric's change each changed input group caused (Shapley values, see
:mod:`mlver.explain.attribute`).

The groups are what differs between two records of one name that ``mlver run`` made:
each data slot, the code (commit, uncommitted patch and command, when they differ within
the code scope), and the params (one group, or one per changed key). A replay of a subset
``S`` of them builds a scratch folder outside the repository:

1. a plain copy of the commit of the new record when ``code`` is in ``S`` (else the old
   one's), with that record's patch applied (``git read-tree`` and ``git apply --cached``
   into a temporary index, then ``git checkout-index --prefix``): no ``.git`` in it, so
   the replayed code cannot reach this repository's hooks, config or refs;
2. the params files written as the new record had them for the params groups in ``S``
   (else as the old one had them): their bytes as git holds them at that record's commit
   plus patch, or rebuilt from the recorded values when git does not hold them;
3. each data slot checked out from the store as the new record has it when in ``S``
   (else the old one), with :mod:`mlver.ops.checkout` (paths checked, hashes verified);

then runs the recorded command there and reads the metrics files. The user's workspace
is never touched. Scratch folders are removed after each replay, on failure, and on
Ctrl-C or SIGTERM.

Trust (:mod:`mlver.explain.trust`): a record that arrived from a remote or an import is
replayed only with ``trust=True``. Noise: the configurations of A and of B are each
replayed ``repeats`` times; their pooled spread gives each value an interval.

The modules: :mod:`.plan` (sides, refusals, groups, configurations), :mod:`.runner`
(scratch folders, running), :mod:`.cache` (the replay cache), :mod:`.trust` (origins and
consent); this one puts them together.
"""
from __future__ import annotations

import math
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

from mlver.explain import attribute
from mlver.capture import git as capgit
from mlver.core.params import flatten
from mlver.base.errors import CaptureError, ReplayError
from mlver.base.hashing import oid_of
from mlver.base.progress import Progress
from mlver.core.record import Record
from mlver.store import Store
from mlver.core.workspace import Workspace
from mlver.explain.cache import KIND, _cached, _remember
from mlver.explain.plan import (
    Config,
    Group,
    Planner,
    Side,
    _choose_metrics,
    _env_differs,
    _load_params,
    _names_root,
    _number,
    _refuse,
    _runs_tracked_file,
    find_groups,
)
from mlver.explain.runner import Outcome, Runner, _interruptible
from mlver.explain.trust import check as trust_check, side_origins

__all__ = ["DEFAULT_BUDGET", "KIND", "REPEATS", "explain", "find_groups", "Group", "Side",
           "_names_root", "_runs_tracked_file"]

REPEATS = 3           # replays of each of the two records' configurations, for the noise
DEFAULT_BUDGET = 64   # runs sampling may take when there are more than 5 groups

Notify = Callable[[str], None]


# -- explain ---------------------------------------------------------------------------------


def _describe(groups: list[Group], subset: frozenset[int], repeat: int, a: Side, b: Side
              ) -> str:
    if not subset:
        what = f"{a.label}'s inputs"
    elif len(subset) == len(groups):
        what = f"{b.label}'s inputs"
    else:
        what = (f"{', '.join(groups[i].label for i in sorted(subset))} from {b.label}, the rest "
                f"from {a.label}")
    return what + (f" (repeat {repeat + 1})" if repeat else "")


def _estimate(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{seconds / 60:.0f} min"


def explain(store: Store, ws: Workspace, a_oid: str, a_rec: Record, b_oid: str, b_rec: Record,
            metrics: list[str] | None = None, jobs: int = 1, budget: int = DEFAULT_BUDGET,
            split_params: bool = False, progress: Progress | None = None,
            notify: Notify | None = None, cache: bool = True, repeats: int = REPEATS,
            trust: bool = False) -> attribute.Attribution:
    """Attribute the change of each metric from ``a_rec`` to ``b_rec`` to the input groups
    that differ, by replaying the recorded command (see the module doc).

    ``repeats``: replays of each of the two records' own configurations (at least 2), whose
    spread is the noise; ``trust``: replay a record that arrived from a remote or an import
    (its command and patch are shown through ``notify`` first)."""
    t0 = time.monotonic()
    progress = progress or Progress()
    say = notify or (lambda _text: None)
    if jobs < 1:
        raise ReplayError(f"jobs must be at least 1, not {jobs}")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 2:
        raise ReplayError(f"repeats must be a whole number of at least 2, not {repeats!r}: "
                          "the noise is measured from the spread of repeated replays")
    a, b = Side(a_oid, a_rec), Side(b_oid, b_rec)
    _refuse(store, ws, a, b)
    chosen, unchanged = _choose_metrics(a.rec, b.rec, metrics)
    if not chosen:
        # no numeric metric moved: there is no change to attribute, so nothing runs (the
        # noise of unchanged metrics is asked for by name, with --metric)
        origin = side_origins(store, a, b)
        return attribute.Attribution(
            old=_ref(a, origin[a.oid].kind), new=_ref(b, origin[b.oid].kind),
            command=tuple(b.run.command), groups=(), method="exact", orders=0,
            budget=None, metrics=(), runs=(), env_differs=_env_differs(a.rec, b.rec),
            seconds=round(time.monotonic() - t0, 3), jobs=jobs, repeats=repeats,
            unchanged=tuple(unchanged))
    where = capgit.work_tree(ws.root)
    if where is None:
        raise ReplayError(f"{ws.root} is not in a git repository; a replay checks the "
                          "recorded commit out into a scratch folder")
    top, prefix = where
    for s in (a, b):
        if not capgit.has_commit(top, s.commit):
            raise ReplayError(f"commit {s.commit[:10]} of {s.label} is not in this git "
                              "repository; fetch it (git fetch), then explain again")
        if s.rec.code.patch is not None:
            s.patch = store.objects.read(s.rec.code.patch)
    if not trust:  # where the records came from must be the store's own record of it
        from mlver.sync.tracking import refuse_tracked_store

        refuse_tracked_store(ws.root, "a replay")
    found = trust_check(store, a, b, trust, say)  # before anything runs
    notes: list[str] = []
    not_replayed: list[str] = []
    tmp = tempfile.mkdtemp(prefix="mlver-params-")
    try:
        for s in (a, b):
            try:
                _load_params(s, top, prefix, tmp, notes)
            except CaptureError as e:
                raise ReplayError(f"cannot read the params files of {s.label} from git ({e})") \
                    from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    groups = find_groups(store, ws, a, b, split_params, notes, not_replayed)
    notes += _more_notes(a.rec, b.rec)
    n = len(groups)
    planner = Planner(a, b, prefix, groups, split_params)
    if n <= attribute.EXACT_MAX:
        method, sample = "exact", []
        subsets = attribute.all_subsets(n)
    else:
        method = "sampled"
        try:
            sample = attribute.orders(n, budget, int(oid_of(f"{a_oid}{b_oid}".encode())[:15], 16))
        except ValueError as e:
            raise ReplayError(f"{e}; raise --budget to at least {n + 1}") from None
        subsets = sorted({s for o in sample for s in attribute.prefixes(o)},
                         key=lambda s: (len(s), sorted(s)))
    none: frozenset[int] = frozenset()
    every = frozenset(range(n))
    ends = list(dict.fromkeys((none, every)))  # one configuration when nothing differs
    wanted = [(s, 0) for s in subsets] + [(e, r) for e in ends for r in range(1, repeats)]
    configs = {(s, r): planner.config(s, r) for s, r in wanted}
    results: dict[str, tuple[dict[str, Any], float, bool]] = {}
    if cache:
        for cfg in configs.values():
            hit = _cached(store, cfg.key)
            if hit is not None:
                results[cfg.key] = (hit[0], hit[1], True)
    todo = list({c.key: c for c in configs.values() if c.key not in results}.values())

    commands = dict.fromkeys(shlex.join(s.run.command) for s in (a, b))
    say(f"Replaying the command recorded with {b.label}: {' / '.join(commands)}")
    names = ", ".join(g.label for g in groups)
    env = "; env differs too (not replayable)" if _env_differs(a.rec, b.rec) else ""
    say(f"  {n} input groups differ: {names}{env}" if n > 1 else
        f"  1 input group differs: {names}{env}" if n == 1 else
        f"  no input group differs{env}")
    per_run = a.run.duration_s
    est = per_run * -(-len(todo) // jobs)
    total = attribute.runs_text(len(subsets), len(wanted) - len(subsets))
    if method == "sampled":
        total += f" ({len(sample)} sampled orders, budget {budget})"
    cached = len({c.key for c in configs.values()}) - len(todo)
    when = (f"about {_estimate(est)} at --jobs {jobs} ({a.label} ran {per_run:.1f} s); each "
            "in a scratch copy outside the repository") if todo else "nothing to run"
    say(f"  {total}, {cached} cached; {when}")

    def value(metric: str, subset: frozenset[int], repeat: int = 0) -> float:
        cfg = configs[(subset, repeat)]
        got = flatten(results[cfg.key][0]).get(metric)
        if not isinstance(got, (int, float)) or not _number(got):
            what = _describe(groups, subset, repeat, a, b)
            files = ", ".join(cfg.code.rec.metrics_files)
            raise ReplayError(f"the replay with {what} wrote no number for metric '{metric}' "
                              f"in {files}; pick a metric the command writes with --metric")
        return float(got)

    def finished(cfg: Config, out: Outcome) -> None:
        if out.metrics is None:
            what = _describe(groups, cfg.subset, cfg.repeat, a, b)
            last = next((line.strip() for line in reversed(out.tail) if line.strip()), None)
            end = f"; its log ends with: {last[:300]}" if last else "; its log is empty"
            raise ReplayError(f"the replay with {what} failed: {out.why}{end}",
                              exit_code=out.exit_code, tail=out.tail)
        results[cfg.key] = (out.metrics, out.duration_s, False)
        if cache:
            _remember(store, cfg.key, out.metrics, out.duration_s)
        for m in chosen:
            value(m, cfg.subset, cfg.repeat)  # a metric the command does not write: stop now

    if todo:
        runner = Runner(store, ws, top, prefix, jobs, progress)
        progress.start("replaying")
        progress.total(len(todo))
        try:
            with _interruptible():
                runner.run_all(todo, finished)
        finally:
            progress.finish()

    per_metric = []
    fa, fb = flatten(a.rec.metrics), flatten(b.rec.metrics)
    counts = {e: repeats for e in ends}
    coefs = attribute.coefficients(n, sample if method == "sampled" else None)
    for m in chosen:
        measured = {e: [value(m, e, r) for r in range(repeats)] for e in ends}

        def v(s: frozenset[int], m: str = m,
              measured: dict[frozenset[int], list[float]] = measured) -> float:
            # the two ends were replayed `repeats` times: their mean stands for them
            got = measured.get(s)
            return sum(got) / len(got) if got else value(m, s)

        errs: list[float | None]
        if method == "exact":
            values, errs = attribute.exact(n, v), [None] * n
        else:
            values, errs = attribute.sampled(n, sample, v)
        sd, df = attribute.pooled_sd(list(measured.values()))
        noise = attribute.noise_half_widths(coefs, counts, sd, df)
        spread = sum(abs(x) for x in values)
        shares = []
        for g, val, err, h in zip(groups, values, errs, noise, strict=False):
            # sampling adds its own error (1.96 standard errors) to the noise's
            half = math.hypot(h, 1.96 * err) if err is not None else h
            shares.append(attribute.Share(g.label, g.kind, val,
                                          abs(val) / spread if spread else None, err,
                                          half > 0 and abs(val) <= half, half))
        shares.sort(key=lambda s: -abs(s.value))
        per_metric.append(attribute.MetricShares(
            m, float(fa[m]), float(fb[m]), v(none), v(every),
            attribute.t95(df) * sd if sd else 0.0, tuple(shares), sd, df, repeats,
            _residual_half_width(sd, df, [counts[e] for e in ends])))
    runs = []
    for (subset, r), cfg in configs.items():
        got, duration, was_cached = results[cfg.key]
        runs.append(attribute.ReplayRun(tuple(groups[i].label for i in sorted(subset)), r,
                                        was_cached, duration, flatten(got)))
    return attribute.Attribution(
        old=_ref(a, found[a.oid].kind), new=_ref(b, found[b.oid].kind),
        command=tuple(b.run.command),
        groups=tuple(g.info() for g in groups), method=method,
        orders=len(sample), budget=budget if method == "sampled" else None,
        metrics=tuple(per_metric), runs=tuple(runs), env_differs=_env_differs(a.rec, b.rec),
        notes=tuple(notes), seconds=round(time.monotonic() - t0, 3), jobs=jobs,
        not_replayed=tuple(not_replayed), repeats=repeats, unchanged=tuple(unchanged))


def _residual_half_width(sd: float, df: int, end_counts: list[int]) -> float:
    """The 95% half-width of the residual from the noise alone.

    The residual is ``(new - old) - (mean of B's replays - mean of A's)``: the two
    recorded values are one run each, so two variances ``sd**2``, and each end's mean
    ``sd**2 / k``. When no group differs the two ends are one configuration, their means
    cancel exactly, and only the recorded runs vary."""
    if sd == 0:
        return 0.0
    ends = sum(1 / k for k in end_counts) if len(end_counts) > 1 else 0.0
    return attribute.t95(df) * sd * math.sqrt(2 + ends)


def _ref(s: Side, origin: str) -> attribute.RecordRef:
    return attribute.RecordRef(s.oid, s.rec.name, s.rec.version, origin)


def _more_notes(a: Record, b: Record) -> list[str]:
    from mlver.diff.records import unrecorded_reads

    out = []
    reads = unrecorded_reads(a, b)
    if reads:
        shown = ", ".join(reads[:3]) + (f" and {len(reads) - 3} more" if len(reads) > 3 else "")
        out.append(f"the runs read {shown}, which the records do not hold: replays read them "
                   "as git has them at the replayed commit, or not at all")
    untracked = sorted(set(a.code.untracked) | set(b.code.untracked))
    if untracked:
        shown = ", ".join(untracked[:3]) + (f" and {len(untracked) - 3} more"
                                            if len(untracked) > 3 else "")
        out.append(f"files that were untracked when the runs were recorded are not in the "
                   f"replays: {shown}")
    return out
