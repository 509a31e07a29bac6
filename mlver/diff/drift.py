"""Drift: how one column's distribution moved between two versions of a table, from
their profiles only (see :mod:`mlver.diff.profile`).

One test per column, chosen as Evidently chooses its defaults.  With at
most SMALL_REFERENCE (1,000) values in the old version: numbers with more than
LOW_CARDINALITY (5) distinct values get the two-sample Kolmogorov-Smirnov test,
categories the chi-square test (two values: the two-proportion z-test), drift
when the Benjamini-Hochberg adjusted p-value q < P_VALUE (0.05) over the table's
p-value tests (see :mod:`mlver.diff.manycolumns`).  With more: numbers get the Wasserstein
distance divided by the old standard deviation, categories the Jensen-Shannon distance,
drift when >= DISTANCE (0.1).  Integers with at most INTEGER_CATEGORIES (20)
distinct values are categories.  Fewer than MIN_ROWS (30) values on a side:
too few rows to judge.  PSI is reported alongside, never decides.  Columns unique per
row (see :mod:`mlver.diff.uniqueness`) are identifiers, not tested (the caller leaves
them out).  numpy is imported inside functions only: the CLI imports this module.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from mlver.diff import manycolumns as _many
from mlver.diff.profiler import decode_sample

if TYPE_CHECKING:  # pragma: no cover
    import numpy
    from numpy.typing import ArrayLike

    from mlver.diff.profiler import ColumnProfile

SMALL_REFERENCE = 1000     # old values up to this: p-value tests; above: distances
MIN_ROWS = 30              # fewer non-missing values on a side: too few rows to judge drift
P_VALUE = 0.05             # KS, chi-square, z-test: drift when p < this
DISTANCE = 0.1             # Wasserstein / std, Jensen-Shannon: drift when >= this
LOW_CARDINALITY = 5        # numbers with at most this many distinct values are tested as categories
INTEGER_CATEGORIES = 20    # integers with at most this many distinct values are categories
DATASET_SHARE = 0.5        # the dataset drifted when this share of its tested columns drifted
PSI_EPSILON = 1e-4         # share given to empty bins, so that ln() stays finite
TEST_NAMES = {"ks": "KS", "chi_square": "chi-square", "z_test": "z-test",
              "wasserstein": "Wasserstein", "jensen_shannon": "Jensen-Shannon"}
P_TESTS = _many.P_TESTS
Figures = dict[str, Any]     # DriftStat.figures (see there)
TargetInfo = dict[str, Any]  # the label's distribution (see mlver.diff.tables.TableDiff.target)
_FIGURES = ("mean", "median", "p5", "p95", "category", "new_categories", "vanished_categories",
            "new_share")



@dataclass(frozen=True)
class DriftStat:
    """The drift test of one column.

    ``test``: "ks", "chi_square", "z_test" (``value`` is the p-value, drift when
    below ``threshold``), "wasserstein" (distance / old std) or "jensen_shannon"
    (``value`` is the distance, drift when at or above ``threshold``).  ``level``:
    "drift", "moderate" (past half-way to the threshold: worth a look), "stable"
    or "too_few_rows" (``value`` None).  ``kind``: "numeric" or "categorical";
    ``rows``: (old, new) non-missing values; ``psi``: the population stability
    index, for information.  ``figures``: numeric {"mean", "median", "p5",
    "p95": {"old", "new"}}; categorical {"category": {"value", "old", "new"}
    (the category whose share moved most), "new_categories",
    "vanished_categories"}.  ``target``: the column is the label.  ``basis``: what
    the figures were computed from: "exact" (every value: counts of categories or of
    few distinct numbers, or all rows fit the profile's sample) or "sample" (a
    uniform row sample of each version's profile, see
    :data:`mlver.diff.profiler.SAMPLE_ROWS`; or its quantiles, for a profile without
    one)."""
    column: str
    test: str
    value: float | None
    drifted: bool
    threshold: float | None = None
    level: str | None = None
    kind: str | None = None
    rows: tuple[int, int] | None = None
    psi: float | None = None
    figures: Figures = field(default_factory=dict, hash=False)
    target: bool = False
    q: float | None = None  # p-value tests: the Benjamini-Hochberg adjusted p-value
    basis: str | None = None  # "exact" or "sample"; None: made by an older mlver

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; :meth:`from_dict` inverts it."""
        p = self.value if self.test in P_TESTS else None
        d = {"column": self.column, "test": self.test, "value": self.value, "p": p, "q": self.q,
             "threshold": self.threshold, "drifted": self.drifted, "level": self.level,
             "kind": self.kind, "psi": self.psi, "target": self.target,
             "rows_old": self.rows[0] if self.rows else None,
             "rows_new": self.rows[1] if self.rows else None, "basis": self.basis}
        d.update(copy.deepcopy(self.figures))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DriftStat:
        """Rebuild a DriftStat from :meth:`to_dict` output (or a legacy ``metric`` entry)."""
        rows = (d["rows_old"], d["rows_new"]) if d.get("rows_old") is not None else None
        test = cast(str, d.get("test", d.get("metric")))  # "metric": an mlver before drift tests
        return cls(d["column"], test, d.get("value"), d["drifted"],
                   d.get("threshold"), d.get("level"), d.get("kind"), rows, d.get("psi"),
                   {k: copy.deepcopy(d[k]) for k in _FIGURES if k in d}, d.get("target", False),
                   d.get("q"), d.get("basis"))

    @property
    def strength(self) -> float:
        """How far past (above 1) or short of (below 1) its threshold the value is."""
        if self.value is None or not self.threshold:
            return -1.0
        if self.test in P_TESTS:
            p = self.q if self.q is not None else self.value
            return math.log(max(p, 1e-300)) / math.log(self.threshold)
        return self.value / self.threshold

    def text(self) -> str:
        """``'price' drifted (Wasserstein 0.23 σ ≥ 0.1; mean 101 -> 124)`` and the like."""
        if self.test == "psi" and self.value is not None:
            # a legacy entry (mlver before drift tests)
            return f"{self.column!r} drifted (PSI {self.value:.2f})"
        what = {"drift": "drifted", "moderate": "worth a look"}.get(self.level or "", "stable")
        return f"{self.column!r} {what} ({self.measure()}; {self.figure_text()})"

    def measure(self) -> str:
        """The test and its value: ``KS p=0.003, q=0.01 < 0.05``, ``Jensen-Shannon 0.12``."""
        name = TEST_NAMES.get(self.test, self.test)
        if self.value is None:
            return name
        shown = self.level == "drift" and self.threshold is not None
        if self.test in P_TESTS and self.q is not None:
            return (f"{name} p={_p(self.value)}, q={_p(self.q)}"
                    + (f" < {self.threshold:g}" if shown else ""))
        if self.test in P_TESTS:
            return f"{name} p={_p(self.value)}" + (f" < {self.threshold:g}" if shown else "")
        unit = " σ" if self.test == "wasserstein" else ""
        return f"{name} {self.value:.2f}{unit}" + (f" ≥ {self.threshold:g}" if shown else "")

    def figure_text(self) -> str:
        """The figure that shows the move: ``mean 101 -> 124`` or ``'b' 50% -> 65%``."""
        f = self.figures
        if "mean" in f:
            return f"mean {number_text(f['mean']['old'])} -> {number_text(f['mean']['new'])}"
        if "category" in f and f["category"]:
            c = f["category"]
            return f"{category_text(c['value'])} {share_text(c['old'], c['new'])}"
        return ""


def _p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.2g}"


def number_text(v: float | None) -> str:
    """A figure in a summary: 4 significant digits (3 when huge), ``?`` when unknown."""
    if v is None:
        return "?"
    return f"{v:.4g}" if abs(v) < 1e15 else f"{v:.3g}"


def category_text(v: str) -> str:
    """A category value in a summary: quoted, as Python writes it."""
    return repr(v)


def share_text(old: float, new: float) -> str:
    """``50% -> 65%``; one decimal when the move is under 5 points."""
    spec = ".1%" if abs(new - old) < 0.05 else ".0%"
    return f"{old:{spec}} -> {new:{spec}}"


def drift_stats(old_cols: dict[str, ColumnProfile], new_cols: dict[str, ColumnProfile],
                common: list[str], target: str | None = None, exclude: Sequence[str] = (),
                ) -> tuple[tuple[DriftStat, ...], TargetInfo | None, dict[str, Any]]:
    """The drift test of every common column that has numbers or categories on
    both sides (not ``exclude``), the target's distribution, and the ``fdr`` entry.  Order: the
    target, then drifted columns (strongest first), moderate, stable, too few rows."""
    stats: list[DriftStat] = []
    target_info: TargetInfo | None = None
    for name in common:
        if name in exclude:
            continue
        stat, info = column_drift(name, old_cols[name], new_cols[name], name == target)
        if stat is not None:
            stat = dataclasses.replace(stat, basis=basis(old_cols[name], new_cols[name]))
        if stat is not None:
            stats.append(stat)
            target_info = info if name == target else target_info
    stats, fdr = _many.control_fdr(stats)
    rank = {"drift": 0, "moderate": 1, "stable": 2, "too_few_rows": 3}
    stats.sort(key=lambda s: (not s.target, rank.get(s.level or "", 4),
                              -s.strength if s.level in ("drift", "moderate") else 0))
    return tuple(stats), target_info, fdr


def dataset_drift(drift: Sequence[DriftStat]) -> dict[str, Any]:
    """The share of tested columns (those with enough rows) that drifted."""
    tested = [s for s in drift if s.level in ("drift", "moderate", "stable")]
    k = sum(s.drifted for s in tested)
    share = round(k / len(tested), 4) if tested else 0.0
    return {"columns": len(tested), "drifted_columns": k, "share": share,
            "threshold": DATASET_SHARE, "drifted": bool(tested) and share >= DATASET_SHARE}


def _distribution(col: ColumnProfile) -> tuple[Any, Any, int]:
    """(values, counts, size) of a number column: exact counts, or the sample."""
    import numpy as np
    size = col["numeric"]["count"]
    if col.get("values"):
        return (np.asarray(col["values"]["value"], float),
                np.asarray(col["values"]["count"], float), size)
    s = decode_sample(col)
    if s is None or not len(s):  # a profile without sample: its quantiles stand in
        s = np.asarray(col["numeric"]["quantiles"], float)
    return s, np.ones(len(s)), size


def _is_integer(col: ColumnProfile) -> bool:
    return str(col.get("type", "")).startswith(("int", "uint"))


def column_drift(name: str, o: ColumnProfile, n: ColumnProfile, is_target: bool = False,
                 ) -> tuple[DriftStat | None, TargetInfo | None]:
    """``(DriftStat, target info)`` of one column from its two profile entries,
    or ``(None, None)`` when it has nothing to test (no numbers or categories on
    a side, too many distinct strings)."""
    import numpy as np
    if o.get("numeric") and n.get("numeric"):
        ov, oc, on = _distribution(o)
        nv, nc, nn = _distribution(n)
        exact = bool(o.get("values")) and bool(n.get("values"))
        n_values = len(np.union1d(ov, nv)) if exact else math.inf
        # integers with few values that repeat (5 times each on average) are categories
        if n_values <= LOW_CARDINALITY or (
                _is_integer(o) and _is_integer(n) and n_values <= INTEGER_CATEGORIES
                and on + nn >= 5 * n_values):
            old_c = {value_key(v): c for v, c in zip(ov, oc, strict=False)}
            new_c = {value_key(v): c for v, c in zip(nv, nc, strict=False)}
            return _categorical(name, old_c, new_c, is_target)
        return _numeric(name, o, n, (ov, oc, on), (nv, nc, nn), is_target)
    if o.get("categories") and n.get("categories"):
        return _categorical(name, o["categories"], n["categories"], is_target)
    return None, None


def basis(o: ColumnProfile, n: ColumnProfile) -> str:
    """"exact" when the drift figures of a column come from all its values in both
    profiles, else "sample" (see :class:`DriftStat`)."""
    def exact(col: ColumnProfile) -> bool:
        if not col.get("numeric"):
            return True  # categories: exact counts
        if col.get("values"):
            return True
        s = decode_sample(col)
        return s is not None and len(s) == col["numeric"]["count"]
    return "exact" if exact(o) and exact(n) else "sample"


def value_key(v: float) -> str:
    """A number as a category key: ``3`` for an integral value, else its repr (``2.5``)."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


_level = _many.level


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def _numeric(name: str, o: ColumnProfile, n: ColumnProfile, old: tuple[Any, Any, int],
             new: tuple[Any, Any, int], is_target: bool) -> tuple[DriftStat, TargetInfo | None]:
    from mlver.diff import stats
    (ov, oc, on), (nv, nc, nn) = old, new
    small = on <= SMALL_REFERENCE
    test, threshold = ("ks", P_VALUE) if small else ("wasserstein", DISTANCE)
    value: float | None = None
    if on >= MIN_ROWS and nn >= MIN_ROWS:
        if small:
            value = stats.ks_2samp(ov, oc, nv, nc, n_a=on, n_b=nn)[1]
        else:
            std = o["numeric"]["std"]
            value = stats.wasserstein_1(ov, oc, nv, nc) / max(std if std else 0.0, 0.001)
    level = _level(test, value, threshold)
    oq, nq = o["numeric"]["quantiles"], n["numeric"]["quantiles"]

    def pair(a: float | None, b: float | None) -> dict[str, float | None]:
        return {"old": _finite_or_none(a), "new": _finite_or_none(b)}
    figures: Figures = {"mean": pair(o["numeric"]["mean"], n["numeric"]["mean"]),
               "median": pair(oq[50], nq[50]), "p5": pair(oq[5], nq[5]),
               "p95": pair(oq[95], nq[95])}
    psi = round(_numeric_psi(oq, nq), 4) if level != "too_few_rows" else None
    stat = DriftStat(name, test, _round(value) if value is not None else None,
                     level == "drift", threshold, level, "numeric", (int(on), int(nn)), psi,
                     figures, is_target)
    info: TargetInfo | None = None
    if is_target:
        quant = {"mean": figures["mean"], "p5": figures["p5"], "p25": pair(oq[25], nq[25]),
                 "median": figures["median"], "p75": pair(oq[75], nq[75]),
                 "p95": figures["p95"]}
        info = {"column": name, "kind": "numeric", "classes": None, "quantiles": quant}
    return stat, info


def _finite_or_none(x: float | None) -> float | None:
    """A figure for the JSON: 6 significant digits, None when not finite."""
    return float(f"{x:.6g}") if x is not None and math.isfinite(x) else None


def _categorical(name: str, old_c: dict[Any, Any], new_c: dict[Any, Any],
                 is_target: bool) -> tuple[DriftStat, TargetInfo | None]:
    import numpy as np

    from mlver.diff import stats
    keys = list(dict.fromkeys([*old_c, *new_c]))
    a = np.array([old_c.get(k, 0) for k in keys], dtype=float)
    b = np.array([new_c.get(k, 0) for k in keys], dtype=float)
    on, nn = a.sum(), b.sum()
    small = on <= SMALL_REFERENCE
    if small:
        test, threshold = ("z_test" if len(keys) <= 2 else "chi_square"), P_VALUE
    else:
        test, threshold = "jensen_shannon", DISTANCE
    value: float | None = None
    if on >= MIN_ROWS and nn >= MIN_ROWS:
        if test == "z_test":
            first = int(np.argmax(a + b))
            value = stats.two_proportion_z(a[first], on, b[first], nn)[1]
        elif test == "chi_square":
            value = stats.chi2_homogeneity(a, b)[1]
        else:
            value = stats.jensen_shannon(a, b)
    level = _level(test, value, threshold)
    sa = a / on if on else a
    sb = b / nn if nn else b
    moved = int(np.argmax(np.abs(sb - sa))) if len(keys) else 0
    new_only = [i for i, k in enumerate(keys) if k not in old_c]
    figures: Figures = {"category": {"value": keys[moved], "old": round(float(sa[moved]), 4),
                            "new": round(float(sb[moved]), 4)} if keys else None,
               "new_categories": len(new_only),
               "vanished_categories": sum(1 for k in keys if k not in new_c)}
    figures["new_share"] = round(float(sum(sb[i] for i in new_only)), 4)
    psi = round(_psi(sa, sb), 4) if level != "too_few_rows" else None
    stat = DriftStat(name, test, _round(value) if value is not None else None,
                     level == "drift", threshold, level, "categorical", (int(on), int(nn)), psi,
                     figures, is_target)
    info: TargetInfo | None = None
    if is_target:
        classes = [{"value": k, "old": round(float(x), 4), "new": round(float(y), 4)}
                   for k, x, y in zip(keys, sa, sb, strict=False)]
        info = {"column": name, "kind": "categorical", "quantiles": None,
                "classes": sorted(classes, key=lambda c: c["value"])}
    return stat, info


def _psi(expected: ArrayLike, actual: ArrayLike) -> float:
    """The population stability index of two vectors of shares (empty bins floored)."""
    import numpy as np
    e, a = np.maximum(expected, PSI_EPSILON), np.maximum(actual, PSI_EPSILON)
    return max(0.0, float(np.sum((a - e) * np.log(a / e))))


def cdf(q: numpy.ndarray, x: numpy.ndarray) -> Any:
    """Share of values <= x from 101 quantiles: linear between two quantiles
    (values spread evenly in a percentile), a jump at tied ones (discrete data)."""
    import numpy as np
    k = np.searchsorted(q, x, side="right") - 1          # last quantile <= x
    kk = np.clip(k, 0, len(q) - 2)
    lo, hi = q[kk], q[kk + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(hi > lo, (x - lo) / (hi - lo), 0.0)
    out = (kk + np.clip(frac, 0.0, 1.0)) / (len(q) - 1)
    return np.where(k < 0, 0.0, np.where(k >= len(q) - 1, 1.0, out))


def _numeric_psi(old_q: list[float], new_q: list[float]) -> float:
    """PSI over the old version's decile bins, from the profiles' quantiles.
    Approximation: both sides' bin shares come from a CDF rebuilt from their 101
    quantiles (:func:`cdf`), not from counting rows, so each is off by <= ~1% of
    rows.  Tied deciles (discrete data) merge into one edge."""
    import numpy as np
    oq, nq = np.asarray(old_q, dtype=float), np.asarray(new_q, dtype=float)
    edges = np.unique(oq[10:100:10])
    old_f = np.diff(np.concatenate(([0.0], cdf(oq, edges), [1.0])))
    new_f = np.diff(np.concatenate(([0.0], cdf(nq, edges), [1.0])))
    return _psi(old_f, new_f)

