"""Shapley values of input groups, and the value ``mlver explain`` returns.

Pure: no I/O. :mod:`mlver.explain.replay` measures the metric for subsets of the groups that
changed between two records (a subset ``S`` runs with the groups in ``S`` taken from
the new record and the rest from the old one); this module turns those measurements
into each group's Shapley value:

    phi_i = sum over S not holding i of |S|! (n - |S| - 1)! / n! * (v(S + i) - v(S))

Exact over all 2^n subsets for a few groups; for more, the mean of the marginal
contributions ``v(prefix + i) - v(prefix)`` along random orders of the groups, with its
standard error. Either way the values add up to ``v(all) - v(none)``: along one order
the marginal contributions telescope, so their means do too.

Noise: every value is a fixed linear combination of the measured subsets
(:func:`coefficients`), so from the pooled spread of repeated replays (:func:`pooled_sd`)
each value gets a 95% interval (:func:`noise_half_widths`, Student's t by :func:`t95`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any
from mlver.base.display import Displayable
from mlver.base.fmt import version_label

EXACT_MAX = 5        # groups up to which every subset is replayed
MAX_ORDERS = 10_000  # orders sampled at most, whatever the budget

Subset = frozenset  # of group indices


def all_subsets(n: int) -> list[frozenset[int]]:
    """Every subset of ``range(n)``, smallest first."""
    return [frozenset(c) for k in range(n + 1) for c in combinations(range(n), k)]


def exact(n: int, v: Callable[[frozenset[int]], float]) -> list[float]:
    """The Shapley value of each of ``n`` groups from ``v`` over all subsets."""
    weight = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
              for k in range(n)]
    out = []
    for i in range(n):
        others = [j for j in range(n) if j != i]
        total = 0.0
        for k in range(n):
            for c in combinations(others, k):
                s = frozenset(c)
                total += weight[k] * (v(s | {i}) - v(s))
        out.append(total)
    return out


def prefixes(order: tuple[int, ...]) -> list[frozenset[int]]:
    """The subsets an order of the groups visits: none, the first, the first two … all."""
    return [frozenset(order[:k]) for k in range(len(order) + 1)]


def orders(n: int, budget: int, seed: int) -> list[tuple[int, ...]]:
    """Random orders of ``n`` groups whose prefixes make at most ``budget`` distinct
    subsets (the runs they cost), drawn from a generator seeded with ``seed`` so that
    the same question samples the same orders (and finds its replays cached)."""
    if budget < n + 1:
        raise ValueError(f"a budget of {budget} runs cannot sample {n} groups: one order "
                         f"of them takes {n + 1} runs")
    rng = random.Random(seed)
    seen: set[frozenset[int]] = set()
    out: list[tuple[int, ...]] = []
    while len(out) < MAX_ORDERS:
        order = list(range(n))
        rng.shuffle(order)
        new = set(prefixes(tuple(order))) - seen
        if len(seen) + len(new) > budget:
            break  # stop at the first order that does not fit: every order drawn counts
        seen |= new
        out.append(tuple(order))
    return out


def sampled(n: int, sample: list[tuple[int, ...]], v: Callable[[frozenset[int]], float]
            ) -> tuple[list[float], list[float | None]]:
    """Mean marginal contribution of each group over the orders ``sample``, and its
    standard error (None from a single order)."""
    contrib: list[list[float]] = [[] for _ in range(n)]
    for order in sample:
        before: frozenset[int] = frozenset()
        for i in order:
            after = before | {i}
            contrib[i].append(v(after) - v(before))
            before = after
    means = [sum(c) / len(c) for c in contrib]
    errs: list[float | None] = []
    for c, m in zip(contrib, means, strict=False):
        if len(c) < 2:
            errs.append(None)
        else:
            var = sum((x - m) ** 2 for x in c) / (len(c) - 1)
            errs.append(math.sqrt(var / len(c)))
    return means, errs


# -- noise -----------------------------------------------------------------------------------

# Two-sided 95% quantiles of Student's t by degrees of freedom; between two entries the
# smaller df's (larger) value is used, so intervals err on the wide side.
_T95 = ((1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (6, 2.447), (7, 2.365),
        (8, 2.306), (9, 2.262), (10, 2.228), (12, 2.179), (15, 2.131), (20, 2.086),
        (30, 2.042), (60, 2.000), (120, 1.980))


def t95(df: int) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom."""
    if df < 1:
        return math.inf
    if df >= 120:
        return 1.960
    best = _T95[0][1]
    for d, t in _T95:
        if d <= df:
            best = t
    return best


def pooled_sd(samples: list[list[float]]) -> tuple[float, int]:
    """The pooled standard deviation of several samples of one noise (each around its own
    mean), and its degrees of freedom (sum of ``len - 1``)."""
    ss, df = 0.0, 0
    for xs in samples:
        if len(xs) < 2:
            continue
        m = sum(xs) / len(xs)
        ss += sum((x - m) ** 2 for x in xs)
        df += len(xs) - 1
    return (math.sqrt(ss / df) if df else 0.0), df


def coefficients(n: int, sample: list[tuple[int, ...]] | None = None
                 ) -> list[dict[frozenset[int], float]]:
    """Each group's value as a linear combination of the measured subsets: ``phi_i = sum
    c_i[T] * v(T)``, exactly (``sample`` None) or over the sampled orders."""
    out: list[dict[frozenset[int], float]] = [{} for _ in range(n)]

    def add(i: int, t: frozenset[int], w: float) -> None:
        out[i][t] = out[i].get(t, 0.0) + w

    if sample is None:
        weight = [math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
                  for k in range(n)]
        for i in range(n):
            others = [j for j in range(n) if j != i]
            for k in range(n):
                for c in combinations(others, k):
                    add(i, frozenset(c) | {i}, weight[k])
                    add(i, frozenset(c), -weight[k])
        return out
    seen = [0] * n
    for order in sample:
        for i in order:
            seen[i] += 1
    for order in sample:
        before: frozenset[int] = frozenset()
        for i in order:
            after = before | {i}
            add(i, after, 1 / seen[i])
            add(i, before, -1 / seen[i])
            before = after
    return out


def noise_half_widths(coefs: list[dict[frozenset[int], float]],
                      counts: dict[frozenset[int], int], sd: float, df: int) -> list[float]:
    """The 95% half-width of each group's value from measurement noise alone.

    A value is ``sum c_T v(T)`` (:func:`coefficients`); a subset measured ``k`` times (its
    mean is used) has variance ``sd**2 / k``, the others ``sd**2``, so the value's variance
    is ``sd**2 * sum c_T**2 / k_T``."""
    if sd == 0:
        return [0.0] * len(coefs)
    q = t95(df)
    return [q * sd * math.sqrt(sum(c * c / counts.get(t, 1) for t, c in coef.items()))
            for coef in coefs]


# -- the result ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordRef:
    """One of the two records explained: its oid, name, version and where it came from
    (``local``, ``pulled`` or ``imported``; None in a value built by hand without it)."""

    oid: str
    name: str
    version: int
    origin: str | None = None

    @classmethod
    def of(cls, ref: RecordRef | Mapping[str, Any]) -> RecordRef:
        """``ref`` itself, or the record its mapping (``oid``, ``name``, ``version``,
        ``origin``: the JSON form) describes."""
        if isinstance(ref, RecordRef):
            return ref
        return cls(ref["oid"], ref["name"], ref["version"], ref.get("origin"))

    @property
    def label(self) -> str:
        """``NAME@VERSION``."""
        return version_label(self.name, self.version)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``old`` and ``new`` (see docs/explain.md)."""
        d: dict[str, Any] = {"oid": self.oid, "name": self.name, "version": self.version}
        if self.origin is not None:
            d["origin"] = self.origin
        return d


@dataclass(frozen=True)
class GroupInfo(Mapping[str, str]):
    """One input group that differs, as the result shows it: its label (``group``), its
    ``kind``, and the ``slot`` of a data group or the ``key`` of a split params group.

    Also a read-only mapping of its JSON entry (``g["group"]``), as the result's groups
    were plain dicts before."""

    group: str
    kind: str
    slot: str | None = None
    key: str | None = None

    @classmethod
    def of(cls, group: GroupInfo | Mapping[str, str]) -> GroupInfo:
        """``group`` itself, or the group its JSON entry describes."""
        if isinstance(group, GroupInfo):
            return group
        return cls(group["group"], group["kind"], group.get("slot"), group.get("key"))

    def to_dict(self) -> dict[str, str]:
        """The JSON entry of ``groups`` (see docs/explain.md)."""
        d = {"group": self.group, "kind": self.kind}
        if self.slot is not None:
            d["slot"] = self.slot
        if self.key is not None:
            d["key"] = self.key
        return d

    def __getitem__(self, name: str) -> str:
        return self.to_dict()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


@dataclass(frozen=True)
class Share:
    """One group's part of one metric's change."""

    group: str            # "data train", "code", "params", "params train.lr"
    kind: str             # "data", "code" or "params"
    value: float          # its Shapley value, in the metric's units
    share: float | None   # |value| / the sum of |value| over the groups (None when 0)
    stderr: float | None  # standard error when sampled, else None
    within_noise: bool    # its interval holds 0: the replays cannot tell it from nothing
    half_width: float = 0.0  # the 95% interval is value ± half_width (noise, and sampling)

    @property
    def interval(self) -> tuple[float, float]:
        """``(low, high)``: where the value lies with 95% confidence."""
        return (self.value - self.half_width, self.value + self.half_width)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of one group of ``metrics.M.groups``."""
        return {"group": self.group, "kind": self.kind, "value": self.value,
                "share": self.share, "stderr": self.stderr, "within_noise": self.within_noise,
                "interval": list(self.interval)}


@dataclass(frozen=True)
class MetricShares:
    """How one metric's change splits over the groups."""

    metric: str
    old: float                # recorded with the old record
    new: float                # recorded with the new record
    replayed_old: float       # the mean of the replays of the old record's configuration
    replayed_new: float       # the mean of the replays of the new record's configuration
    noise_floor: float        # t95 * noise_sd: how far one replay strays, 95% of the time
    shares: tuple[Share, ...]
    noise_sd: float = 0.0     # pooled standard deviation of the repeated replays
    noise_df: int = 0         # its degrees of freedom
    repeats: int = 3          # replays of each of the two configurations
    residual_half_width: float = 0.0  # the residual's 95% interval is residual ± this

    @property
    def residual_interval(self) -> tuple[float, float]:
        """``(low, high)``: where the residual lies with 95% confidence, from the noise."""
        return (self.residual - self.residual_half_width,
                self.residual + self.residual_half_width)

    @property
    def residual_within_noise(self) -> bool:
        """The residual's interval holds 0: the noise alone can explain it."""
        return self.residual_half_width > 0 and abs(self.residual) <= self.residual_half_width

    @property
    def change(self) -> float:
        """The recorded change, new - old."""
        return self.new - self.old

    @property
    def replayed_change(self) -> float:
        """What replay reproduced; the Shapley values add up to it."""
        return self.replayed_new - self.replayed_old

    @property
    def residual(self) -> float:
        """The recorded change that replay did not reproduce (env, nondeterminism,
        unrecorded reads)."""
        return self.change - self.replayed_change

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``metrics.M``."""
        return {"metric": self.metric, "old": self.old, "new": self.new,
                "change": self.change, "replayed_old": self.replayed_old,
                "replayed_new": self.replayed_new, "replayed_change": self.replayed_change,
                "residual": self.residual, "residual_interval": list(self.residual_interval),
                "residual_within_noise": self.residual_within_noise,
                "noise_floor": self.noise_floor,
                "noise_sd": self.noise_sd, "noise_df": self.noise_df, "repeats": self.repeats,
                "groups": [s.to_dict() for s in self.shares]}


@dataclass(frozen=True)
class ReplayRun:
    """One replay: the groups taken from the new record (the rest from the old one)."""

    groups: tuple[str, ...]
    repeat: int               # 0; 1 … repeats-1 are the repeated replays of the old and
                              # the new configurations (for the noise)
    cached: bool              # found in the cache: nothing ran
    duration_s: float         # how long the command ran (when it ran, or when cached)
    metrics: dict[str, Any]   # the metrics it wrote, dotted keys

    def to_dict(self) -> dict[str, Any]:
        """The JSON of one of ``runs``."""
        return {"groups": list(self.groups), "repeat": self.repeat, "cached": self.cached,
                "duration_s": self.duration_s, "metrics": self.metrics}


@dataclass(frozen=True)
class Attribution(Displayable):
    """What ``mlver explain A B`` found: for each metric, each changed group's part.

    ``str()`` is the text ``mlver explain`` prints, ``to_dict()`` its ``--json``,
    ``to_frame()`` one row per metric and group."""

    old: RecordRef
    new: RecordRef
    command: tuple[str, ...]
    groups: tuple[GroupInfo, ...]
    method: str               # "exact" or "sampled"
    orders: int               # orders sampled (0 when exact)
    budget: int | None        # the run budget when sampled
    metrics: tuple[MetricShares, ...]
    runs: tuple[ReplayRun, ...]
    env_differs: bool
    notes: tuple[str, ...] = ()
    seconds: float = 0.0      # wall time of this explanation
    jobs: int = 1
    not_replayed: tuple[str, ...] = field(default=())  # changes replay cannot swap
    repeats: int = 3          # replays of each of the two records' configurations
    unchanged: tuple[str, ...] = ()  # numeric metrics left out: their values did not change

    def __post_init__(self) -> None:
        # A value built by hand (tests, notebooks) may give ``old``, ``new`` and ``groups``
        # in their JSON form; they are held typed all the same.
        object.__setattr__(self, "old", RecordRef.of(self.old))
        object.__setattr__(self, "new", RecordRef.of(self.new))
        object.__setattr__(self, "groups", tuple(GroupInfo.of(g) for g in self.groups))

    @property
    def runs_made(self) -> int:
        """Replays that ran now (not found in the cache)."""
        return sum(not r.cached for r in self.runs)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``mlver explain --json`` (see docs/explain.md)."""
        return {"old": self.old.to_dict(), "new": self.new.to_dict(),
                "command": list(self.command), "groups": [g.to_dict() for g in self.groups],
                "method": self.method, "orders": self.orders,
                "budget": self.budget, "metrics": {m.metric: m.to_dict() for m in self.metrics},
                "env_differs": self.env_differs, "not_replayed": list(self.not_replayed),
                "notes": list(self.notes),
                "runs": [r.to_dict() for r in self.runs], "runs_made": self.runs_made,
                "runs_cached": len(self.runs) - self.runs_made, "jobs": self.jobs,
                "repeats": self.repeats, "seconds": self.seconds,
                "unchanged": list(self.unchanged)}

    def to_frame(self) -> Any:
        """A pandas DataFrame: one row per metric and group (``metric``, ``group``,
        ``kind``, ``value``, ``share``, ``stderr``, ``within_noise``, ``interval``,
        ``noise_floor``, ``residual``)."""
        import pandas as pd

        rows = [{"metric": m.metric, **s.to_dict(), "noise_floor": m.noise_floor,
                 "residual": m.residual} for m in self.metrics for s in m.shares]
        cols = ["metric", "group", "kind", "value", "share", "stderr", "within_noise",
                "interval", "noise_floor", "residual"]
        return pd.DataFrame(rows, columns=cols)

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def lines(self) -> list[str]:
        """The text of ``mlver explain``."""
        label = f"{self.old.label} -> {self.new.label}"
        runs = [r for r in self.runs if r.repeat == 0]
        how = runs_text(len(runs), len(self.runs) - len(runs))
        if self.method == "sampled":
            how = f"sampled: {self.orders} orders, {how}"
        cached = len(self.runs) - self.runs_made
        if cached:
            how += ", all cached" if cached == len(self.runs) else f", {cached} cached"
        how += f", {_secs(self.seconds)}"
        out: list[str] = []
        if not self.metrics:
            same = ", ".join(self.unchanged[:5]) + (f" and {len(self.unchanged) - 5} more"
                                                    if len(self.unchanged) > 5 else "")
            verb = "is" if len(self.unchanged) == 1 else "are"
            why = f" ({same} {verb} the same in both)" if same else ""
            out.append(f"{label}: no numeric metric changed{why}, so nothing was replayed; "
                       "name one with --metric to replay it anyway")
        for i, m in enumerate(self.metrics):
            out += _metric_lines(label, how if i == 0 else "", m, self)
        for n in self.not_replayed:
            out.append(f"  not replayable: {n}")
        for n in self.notes:
            out.append(f"  note: {n}")
        return out


def runs_text(runs: int, noise: int) -> str:
    """``8 runs + 2 for noise``."""
    return f"{runs} run{'s' if runs != 1 else ''} + {noise} for noise"


def _secs(s: float) -> str:
    return f"{s:.1f} s" if s < 10 else f"{s:.0f} s"


def decimals(*values: float) -> int:
    """Decimals that show the largest of ``values`` with 4 significant digits."""
    big = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    if big == 0:
        return 2
    return min(10, max(0, 3 - math.floor(math.log10(big))))


def _signed(v: float, d: int) -> str:
    if v == 0:
        return "0"
    text = f"{v:+.{d}f}"
    return "+" + text[1:] if float(text) == 0 else text  # never "-0.00"


def _num(v: float) -> str:
    return f"{v:.4g}"


def _metric_lines(label: str, how: str, m: MetricShares, a: Attribution) -> list[str]:
    shown = (m.change, m.replayed_change, *(s.value for s in m.shares))
    # whole numbers, give or take the rounding of a Shapley mean (99.99999999999999)
    whole = all(math.isfinite(x) and _close(x, round(x), x)
                for x in (m.old, m.new, m.replayed_old, m.replayed_new, m.noise_floor, *shown))
    d = 0 if whole else decimals(*shown)
    out = [f"{label}: {m.metric} {_num(m.old)} -> {_num(m.new)} ({_signed(m.change, d)})"
           + (f", by replay ({how})" if how else "")]
    names = [s.group for s in m.shares] + ["noise floor", "replayed"]
    width = max(len(n) for n in names) + 2
    vals = [_signed(s.value, d) + (f" ±{s.half_width:.{d}f}"
                                   if s.half_width > 0 or s.stderr is not None else "")
            for s in m.shares]
    vwidth = max([len(v) for v in vals] + [6]) + 2
    for s, v in zip(m.shares, vals, strict=False):
        share = f"({s.share * 100:.0f}%)" if s.share is not None else "(-)"
        mark = "  within noise" if s.within_noise else ""
        out.append(f"  {s.group:<{width}}{v:<{vwidth}}{share}{mark}".rstrip())
    if not m.shares:
        out.append("  no replayable input differs")
    if not _close(m.replayed_old, m.old) or not _close(m.replayed_new, m.new):
        out.append(f"  {'replayed':<{width}}{_num(m.replayed_old)} -> {_num(m.replayed_new)} "
                   f"({_signed(m.replayed_change, d)})")
    if a.old.oid == a.new.oid:
        both = "of it"
    elif not m.shares:
        # no group differs: the two versions are one configuration, run `repeats` times in
        # all (not that many times each)
        both = "of the configuration both versions share"
    else:
        both = "of each version"
    if m.noise_sd == 0:
        floor = f"±0  (the {m.repeats} replays {both} agree)"
    else:
        floor = (f"±{m.noise_floor:.{d}f}  (sd {m.noise_sd:.2g} over "
                 f"{m.repeats} replays {both}; ± is a 95% interval)")
    out.append(f"  {'noise floor':<{width}}{floor}")
    residual = _signed(m.residual, d)
    if m.residual_half_width > 0:
        residual += f" ±{m.residual_half_width:.{d}f}"
    within = m.residual_within_noise
    if a.env_differs:
        out.append(f"  env differs (not replayable): its part, if any, is in the residual "
                   f"{residual}" + ("  within noise" if within else ""))
    elif _close(m.residual, 0.0, m.change):
        pass
    elif within:
        out.append(f"  residual {residual}  within noise: the recorded change that replay did "
                   "not reproduce is no larger than the replays' own noise")
    else:
        out.append(f"  residual {residual}: the recorded change that replay did not reproduce "
                   "(nondeterminism, or something the record does not hold)")
    return out


def _close(a: float, b: float, scale: float | None = None) -> bool:
    ref = max(abs(a), abs(b), abs(scale or 0.0))
    return abs(a - b) <= 1e-9 * max(ref, 1e-300) or a == b
