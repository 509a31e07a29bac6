"""How a table changed between two versions of a file (``mlver diff``).

Rows are compared as an exact multiset over the common columns (64-bit row
hashes, see :mod:`mlver.diff.profile`), or joined on a key.  Schema changes,
null rates and drift need only the two profiles, so :func:`diff_from_profiles`
answers from the cache.

Drift: one test per column, chosen as Evidently chooses its defaults.  With at
most SMALL_REFERENCE (1,000) values in the old version: numbers with more than
LOW_CARDINALITY (5) distinct values get the two-sample Kolmogorov-Smirnov test,
categories the chi-square test (two values: the two-proportion z-test), drift
when the Benjamini-Hochberg adjusted p-value q < P_VALUE (0.05) over the table's
p-value tests (see :mod:`mlver.diff.manycolumns`).  With more: numbers get the Wasserstein distance
divided by the old standard deviation, categories the Jensen-Shannon distance,
drift when >= DISTANCE (0.1).  Integers with at most INTEGER_CATEGORIES (20)
distinct values are categories.  Fewer than MIN_ROWS (30) values on a side:
too few rows to judge.  PSI is reported alongside, never decides.  Columns unique per
row (see :mod:`mlver.diff.uniqueness`) are identifiers, not tested.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from collections.abc import Sequence

from mlver.diff import manycolumns as _many
from mlver.diff import colhash as _colhash
from mlver.diff import profile as _profile
from mlver.diff import rows as _rows
from mlver.diff.renames import _renames, _shown, _top_cells, _with_digests
from mlver.diff import uniqueness as _uniqueness
from mlver.diff.tableerrors import KeyColumnError, table_errors

if TYPE_CHECKING:  # pragma: no cover
    import numpy
    import pandas
    import pyarrow

SMALL_REFERENCE = 1000     # old values up to this: p-value tests; above: distances
MIN_ROWS = 30              # fewer non-missing values on a side: too few rows to judge drift
P_VALUE = 0.05             # KS, chi-square, z-test: drift when p < this
DISTANCE = 0.1             # Wasserstein / std, Jensen-Shannon: drift when >= this
LOW_CARDINALITY = 5        # numbers with at most this many distinct values are tested as categories
INTEGER_CATEGORIES = 20    # integers with at most this many distinct values are categories
DATASET_SHARE = 0.5        # the dataset drifted when this share of its tested columns drifted
PSI_EPSILON = 1e-4         # share given to empty bins, so that ln() stays finite
NULL_RATE_DELTA = 0.01     # smaller changes of a column's null rate are not reported
NEW_CATEGORY_SHARE = 0.01  # a new (vanished) category with this share of new (old) rows is named
TEST_NAMES = {"ks": "KS", "chi_square": "chi-square", "z_test": "z-test",
              "wasserstein": "Wasserstein", "jensen_shannon": "Jensen-Shannon"}
P_TESTS = _many.P_TESTS
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
    "vanished_categories"}.  ``target``: the column is the label."""
    column: str
    test: str
    value: float | None
    drifted: bool
    threshold: float | None = None
    level: str | None = None
    kind: str | None = None
    rows: tuple[int, int] | None = None
    psi: float | None = None
    figures: dict = field(default_factory=dict, hash=False)
    target: bool = False
    q: float | None = None  # p-value tests: the Benjamini-Hochberg adjusted p-value

    def to_dict(self) -> dict:
        p = self.value if self.test in P_TESTS else None
        d = {"column": self.column, "test": self.test, "value": self.value, "p": p, "q": self.q,
             "threshold": self.threshold, "drifted": self.drifted, "level": self.level,
             "kind": self.kind, "psi": self.psi, "target": self.target,
             "rows_old": self.rows[0] if self.rows else None,
             "rows_new": self.rows[1] if self.rows else None}
        d.update(copy.deepcopy(self.figures))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DriftStat:
        rows = (d["rows_old"], d["rows_new"]) if d.get("rows_old") is not None else None
        return cls(d["column"], d.get("test", d.get("metric")), d.get("value"), d["drifted"],
                   d.get("threshold"), d.get("level"), d.get("kind"), rows, d.get("psi"),
                   {k: copy.deepcopy(d[k]) for k in _FIGURES if k in d}, d.get("target", False),
                   d.get("q"))

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
        if self.test == "psi" and self.value is not None:  # a legacy entry (mlver before drift tests)
            return f"{self.column!r} drifted (PSI {self.value:.2f})"
        what = {"drift": "drifted", "moderate": "worth a look"}.get(self.level, "stable")
        return f"{self.column!r} {what} ({self.measure()}; {self.figure_text()})"

    def measure(self) -> str:
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
        f = self.figures
        if "mean" in f:
            return f"mean {_num(f['mean']['old'])} -> {_num(f['mean']['new'])}"
        if "category" in f and f["category"]:
            c = f["category"]
            return f"{_cat(c['value'])} {_share(c['old'], c['new'])}"
        return ""


def _p(p: float) -> str:
    return "<0.0001" if p < 1e-4 else f"{p:.2g}"


def _num(v) -> str:
    if v is None:
        return "?"
    return f"{v:.4g}" if abs(v) < 1e15 else f"{v:.3g}"


def _cat(v: str) -> str:
    return repr(v)


def _share(old: float, new: float) -> str:
    spec = ".1%" if abs(new - old) < 0.05 else ".0%"
    return f"{old:{spec}} -> {new:{spec}}"


@dataclass(frozen=True)
class TableDiff:
    """How a table changed.  ``rows_changed`` and ``cells_changed`` need a key;
    ``columns_retyped`` holds (column, old type, new type), ``null_rates``
    (column, old rate, new rate) for changes >= NULL_RATE_DELTA; ``drift`` has
    one :class:`DriftStat` per tested column (the target first, then drifted,
    moderate, stable, too few rows); ``samples`` (with ``rows=N``) is {"added":
    [row], "removed": [row], "changed": [{"key", "old", "new", "columns"}]} with
    JSON-able rows; ``target`` the label's distribution ({"column", "kind",
    "classes": [{"value", "old", "new"}] or None, "quantiles": {name: {"old",
    "new"}} or None}); ``dataset_drift`` the share of drifted columns."""
    rows_old: int
    rows_new: int
    rows_added: int
    rows_removed: int
    rows_changed: int | None = None
    key: tuple[str, ...] | None = None
    columns_added: tuple[str, ...] = ()
    columns_removed: tuple[str, ...] = ()
    columns_retyped: tuple[tuple[str, str, str], ...] = ()
    null_rates: tuple[tuple[str, float, float], ...] = ()
    cells_changed: tuple[tuple[str, int], ...] = ()
    drift: tuple[DriftStat, ...] = ()
    samples: dict | None = field(default=None, hash=False)
    columns_renamed: tuple[tuple[str, str], ...] = ()  # (old name, new name): same values
    target: dict | None = field(default=None, hash=False)
    dataset_drift: dict | None = field(default=None, hash=False)
    identifiers: tuple[str, ...] = ()  # columns unique per row: not tested for drift
    fdr: dict | None = field(default=None, hash=False)  # {"method", "alpha", "tests"}

    def to_dict(self) -> dict:
        """JSON-able form; :meth:`from_dict` inverts it exactly."""
        d = {k: getattr(self, k) for k in ("rows_old", "rows_new", "rows_added", "rows_removed",
                                           "rows_changed")}
        triple = ("column", "old", "new")
        return dict(d, key=list(self.key) if self.key is not None else None,
                    columns_added=list(self.columns_added),
                    columns_removed=list(self.columns_removed),
                    columns_retyped=[dict(zip(triple, r, strict=False)) for r in self.columns_retyped],
                    null_rates=[dict(zip(triple, r, strict=False)) for r in self.null_rates],
                    cells_changed=dict(self.cells_changed), samples=copy.deepcopy(self.samples),
                    drift=[s.to_dict() for s in self.drift],
                    target=copy.deepcopy(self.target),
                    dataset_drift=copy.deepcopy(self.dataset_drift),
                    identifiers=list(self.identifiers), fdr=copy.deepcopy(self.fdr),
                    columns_renamed=[{"old": o, "new": n} for o, n in self.columns_renamed])

    @classmethod
    def from_dict(cls, d: dict) -> TableDiff:
        """Rebuild a TableDiff from :meth:`to_dict` output (also after JSON)."""
        def triples(name):
            return tuple((r["column"], r["old"], r["new"]) for r in d.get(name, ()))
        return cls(d["rows_old"], d["rows_new"], d["rows_added"], d["rows_removed"],
                   d.get("rows_changed"), tuple(d["key"]) if d.get("key") is not None else None,
                   tuple(d.get("columns_added", ())), tuple(d.get("columns_removed", ())),
                   triples("columns_retyped"), triples("null_rates"),
                   tuple(d.get("cells_changed", {}).items()),
                   tuple(DriftStat.from_dict(s) for s in d.get("drift", ())),
                   copy.deepcopy(d.get("samples")),
                   columns_renamed=tuple((r["old"], r["new"]) for r in d.get("columns_renamed", ())),
                   target=copy.deepcopy(d.get("target")),
                   dataset_drift=copy.deepcopy(d.get("dataset_drift")),
                   identifiers=tuple(d.get("identifiers", ())), fdr=copy.deepcopy(d.get("fdr")))

    def summary(self) -> str:
        """One line: ``+1,204 rows, -0, 37 changed; new column 'x'; 'price' drifted
        (Wasserstein 0.23 σ ≥ 0.1; mean 101 -> 124)``, the label first when there is one."""
        parts = [f"+{self.rows_added:,} rows, -{self.rows_removed:,}"
                 + (f", {self.rows_changed:,} changed{_top_cells(self.cells_changed)}"
                    if self.rows_changed is not None else "")]
        renamed = [f"{o!r} renamed to {n!r}" for o, n in self.columns_renamed]
        parts += renamed[:5] + ([f"{len(renamed) - 5} more renamed"] if len(renamed) > 5 else [])
        for what, names in (("new column", self.columns_added),
                            ("dropped column", self.columns_removed)):
            if names:
                shown = ", ".join(f"{n!r}" for n in names[:3])
                more = f" (+{len(names) - 3} more)" if len(names) > 3 else ""
                parts.append(f"{what}{'s' if len(names) > 1 else ''} {shown}{more}")
        columns = [s for s in self.drift if not s.target]
        ds = self.dataset_drift or {}
        if ds.get("drifted"):
            parts.append(f"dataset drifted ({ds['drifted_columns']} of {ds['columns']} columns)")
        for items, cap in (
                ([f"{c!r} retyped {o} -> {n}" for c, o, n in self.columns_retyped], 5),
                ([f"{c!r} nulls {o:.1%} -> {n:.1%}" for c, o, n in self.null_rates], 5),
                ([s.text() for s in columns if s.drifted], 5),
                ([s.text() for s in columns if s.level == "moderate"], 3),
                (_too_few(columns), 5),
                ([f"{s.column!r} has {s.figures['new_categories']} new "
                  f"categor{'y' if s.figures['new_categories'] == 1 else 'ies'}"
                  for s in columns if s.figures.get("new_categories")
                  and s.level != "too_few_rows"
                  and s.figures.get("new_share", 0) >= NEW_CATEGORY_SHARE], 5)):
            # Up to five of each kind (three moderate shifts): enough to reach the column
            # that explains a model change, short enough to read.
            more = len(items) - cap
            parts += items[:cap] + ([f"{more} more{' worth a look' if cap == 3 else ''}"]
                                    if more > 0 else [])
        parts += _many.folded(columns, self.identifiers)
        label = _label_text(self)
        if len(parts) == 1 + len(_many.folded(columns, self.identifiers)) and not (
                self.rows_added or self.rows_removed or self.rows_changed):
            parts = [f"no changes ({self.rows_new:,} rows)"]
        return "; ".join(([label] if label else []) + parts)

    def sample_frame(self, kind: str) -> pandas.DataFrame:
        """Sample rows of ``kind`` "added", "removed" or "changed" as a DataFrame; a
        changed row has its key, then ``<col>.old`` and ``<col>.new`` side by side
        for each column that changed.  ValueError when made without ``rows=N``."""
        import pandas as pd
        if self.samples is None:
            raise ValueError("no samples: diff_tables(..., rows=N) computes them")
        if kind != "changed":
            return pd.DataFrame(self.samples[kind])
        return pd.DataFrame([{**e["key"], **{f"{c}.{side}": e[side].get(c) for c in e["columns"]
                                             for side in ("old", "new")}}
                             for e in self.samples["changed"]])


def _too_few(stats: Sequence[DriftStat]) -> list[str]:
    """``'a', 'b': too few rows to judge drift (3 -> 4 rows)``, columns grouped by counts."""
    groups: dict = {}
    for s in stats:
        if s.level == "too_few_rows":
            groups.setdefault(s.rows, []).append(s.column)
    out = []
    for rows, names in groups.items():
        shown = ", ".join(repr(n) for n in names[:3]) + (
            f" (+{len(names) - 3} more)" if len(names) > 3 else "")
        counts = f" ({rows[0]:,} -> {rows[1]:,} rows)" if rows else ""
        out.append(f"{shown}: too few rows to judge drift{counts}")
    return out


def _label_text(t: TableDiff) -> str | None:
    """``label 'y' drifted (chi-square p=0.003 < 0.05): classes 'b' 50% -> 65%, 'a' 50% -> 35%``."""
    info = t.target
    if not info:
        return None
    stat = next((s for s in t.drift if s.target), None)
    head = f"label {info['column']!r}"
    if stat is not None and stat.level in ("drift", "moderate"):
        head += f" {'drifted' if stat.level == 'drift' else 'worth a look'} ({stat.measure()})"
    if info.get("classes") is not None:
        classes = sorted(info["classes"], key=lambda c: -abs(c["new"] - c["old"]))
        body = "classes " + ", ".join(f"{_cat(c['value'])} {_share(c['old'], c['new'])}"
                                      for c in classes[:3]) + (" …" if len(classes) > 3 else "")
    else:
        q = info["quantiles"]
        body = ", ".join(f"{k} {_num(q[k]['old'])} -> {_num(q[k]['new'])}"
                         for k in ("median", "p5", "p95"))
    tail = " (too few rows to judge drift)" if stat is not None and \
        stat.level == "too_few_rows" else ""
    return f"{head}: {body}{tail}"


def needs_rehash(old_profile: dict, new_profile: dict) -> list[str] | None:
    """None when both profiles' stored row hashes cover exactly the common columns,
    else that list (maybe empty: test ``is None``) for ``row_hashes`` on both tables."""
    common = _common(old_profile, new_profile)
    stored = [p.get("row_hash_columns") for p in (old_profile, new_profile)]
    if None not in stored and set(stored[0]) == set(common) == set(stored[1]):
        return None
    return common


def diff_from_profiles(old_profile: dict, old_hashes: numpy.ndarray,
                       new_profile: dict, new_hashes: numpy.ndarray,
                       target: str | None = None) -> TableDiff:
    """Everything that needs neither a key nor samples, from cached data only.
    The hashes must cover the common columns: the stored ones when
    :func:`needs_rehash` returns None, else ``row_hashes(table, that list)``.
    ``target``: the label column, whose distribution is always reported."""
    return _assemble(old_profile, new_profile, *_multiset_diff(old_hashes, new_hashes),
                     target=target)


@table_errors
def diff_tables(old: pyarrow.Table, new: pyarrow.Table, *,
                key: str | Sequence[str] | None = None, rows: int = 0,
                old_profile: dict | None = None, new_profile: dict | None = None,
                old_hashes: numpy.ndarray | None = None,
                new_hashes: numpy.ndarray | None = None,
                target: str | None = None) -> TableDiff:
    """Diff two tables.  Without ``key``, rows_added/rows_removed are the exact
    multiset difference of rows over the common columns.  With ``key`` (name or
    names) rows match by key: rows_changed counts matched rows whose common
    columns differ, cells_changed counts per column (null equals NaN; numbers
    compare by value); null key values match each other; duplicate keys or
    a missing key column raise TableError.  ``rows=N`` keeps N sample rows of
    each kind.  Given profiles/hashes must be these tables' (cached); drift
    always comes from the profiles, so this agrees with diff_from_profiles.
    ``target``: the label column; key columns get no drift test."""
    import numpy as np
    old, new = _profile.normalize(old), _profile.normalize(new)
    keys = (key,) if isinstance(key, str) else (tuple(key) if key else None)
    for name, (side, table) in ((n, s) for n in keys or () for s in (("old", old), ("new", new))):
        if name not in table.column_names:
            raise KeyColumnError(f"key column {name!r} not in the {side} version; columns are: "
                             + ", ".join(repr(c) for c in table.column_names))
    old_profile = old_profile if old_profile is not None else _profile.profile_only(old)
    new_profile = new_profile if new_profile is not None else _profile.profile_only(new)
    old_profile, new_profile = _with_digests(old_profile, old, new_profile, new)
    if keys:
        return _keyed_diff(old, new, keys, rows, old_profile, new_profile, target)
    common, samples = _common(old_profile, new_profile), None
    if rows > 0:  # samples need the hashes in row order
        old_rows, new_rows = (_profile._row_hashes_unsorted(t, common) for t in (old, new))
        old_hashes, new_hashes = np.sort(old_rows), np.sort(new_rows)
        samples = {"changed": [],
                   "added": _rows.rows_as_json(new, _surplus(new_rows, old_hashes, rows)),
                   "removed": _rows.rows_as_json(old, _surplus(old_rows, new_hashes, rows))}
    elif (old_hashes is None or new_hashes is None
          or needs_rehash(old_profile, new_profile) is not None):
        old_hashes, new_hashes = _colhash.row_hashes(old, common), _colhash.row_hashes(new, common)
    added, removed = _multiset_diff(old_hashes, new_hashes)
    return _assemble(old_profile, new_profile, added, removed, samples=samples, target=target)


def _common(old_profile: dict, new_profile: dict) -> list[str]:
    new_names = {c["name"] for c in new_profile["columns"]}
    return [c["name"] for c in old_profile["columns"] if c["name"] in new_names]


def _assemble(old_p: dict, new_p: dict, added: int, removed: int, target: str | None = None,
              **extra: Any) -> TableDiff:
    """Schema changes, null rates and drift from the profiles, plus the row counts;
    no drift for key columns (a key is meant to differ between versions)."""
    old_cols, new_cols = ({c["name"]: c for c in p["columns"]} for p in (old_p, new_p))
    common = _common(old_p, new_p)

    def rate(p, cols, c):
        return cols[c]["nulls"] / p["rows"] if p["rows"] else 0.0
    pairs = [(c, rate(old_p, old_cols, c), rate(new_p, new_cols, c)) for c in common]
    rates = [(c, round(o, 4), round(n, 4)) for c, o, n in pairs if abs(n - o) >= NULL_RATE_DELTA]
    renamed = _renames(old_cols, new_cols)
    gone, came = {o for o, _ in renamed}, {n for _, n in renamed}
    keys = tuple(extra.get("key") or ())
    ids = _uniqueness.identifiers(old_cols, new_cols, common, (old_p["rows"], new_p["rows"]),
                                  keys + ((target,) if target else ()))
    drift, target_info, fdr = _drift(old_cols, new_cols, common, target, keys + ids)
    return TableDiff(
        rows_old=old_p["rows"], rows_new=new_p["rows"], rows_added=added, rows_removed=removed,
        columns_added=tuple(c for c in new_cols if c not in old_cols and c not in came),
        columns_removed=tuple(c for c in old_cols if c not in new_cols and c not in gone),
        columns_renamed=renamed,
        columns_retyped=tuple((c, old_cols[c]["type"], new_cols[c]["type"]) for c in common
                              if old_cols[c]["type"] != new_cols[c]["type"]),
        null_rates=tuple(rates), drift=drift, target=target_info,
        dataset_drift=dataset_drift(drift), identifiers=ids, fdr=fdr, **extra)


def _shared_unique(a: numpy.ndarray, b: numpy.ndarray) -> int:
    """How many values two sorted arrays without duplicates have in common: the
    runs are cut at the same values into pieces merged in parallel threads."""
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor
    pieces = 4 if len(a) + len(b) > 1 << 20 else 1
    cuts_a = [len(a) * i // pieces for i in range(pieces + 1)]
    cuts_b = [0] + [int(np.searchsorted(b, a[c])) for c in cuts_a[1:-1]] + [len(b)]

    def count(i):
        m = np.concatenate([a[cuts_a[i]:cuts_a[i + 1]], b[cuts_b[i]:cuts_b[i + 1]]])
        m.sort(kind="stable")  # two sorted runs: timsort merges them
        return int(np.count_nonzero(m[1:] == m[:-1])) if len(m) else 0

    with ThreadPoolExecutor(max_workers=2) as pool:
        return sum(pool.map(count, range(pieces)))


def _multiset_diff(old_sorted: numpy.ndarray, new_sorted: numpy.ndarray) -> tuple[int, int]:
    """(added, removed): a hash present twice before and three times after adds one row."""
    import numpy as np

    def strictly_sorted(h):
        return len(h) < 2 or bool(np.all(h[1:] > h[:-1]))

    if strictly_sorted(old_sorted) and strictly_sorted(new_sorted):
        # no duplicate rows (the usual case): one linear merge of the two sorted runs
        # (timsort) counts the hashes both sides have; no search of one in the other
        shared = _shared_unique(old_sorted, new_sorted)
        return len(new_sorted) - shared, len(old_sorted) - shared

    def counts(h):
        h = np.sort(h) if len(h) > 1 and not np.all(h[1:] >= h[:-1]) else np.asarray(h)
        starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]]) if len(h) else np.zeros(0, int)
        return h[starts], np.diff(np.r_[starts, len(h)]).astype(np.int64)

    (uo, co), (un, cn) = counts(old_sorted), counts(new_sorted)
    idx = np.minimum(np.searchsorted(un, uo), max(len(un) - 1, 0))
    match = un[idx] == uo if len(un) else np.zeros(len(uo), dtype=bool)
    shared = int(np.minimum(co[match], cn[idx[match]]).sum())
    return int(cn.sum()) - shared, int(co.sum()) - shared


def _surplus(hashes: numpy.ndarray, other_sorted: numpy.ndarray, limit: int) -> numpy.ndarray:
    """Positions of the rows counted as added (or removed): the occurrences of
    each hash beyond the other side's count; the first ``limit``, in row order."""
    import numpy as np
    n = len(hashes)
    order = np.argsort(hashes, kind="stable")  # stable: earlier occurrences match first
    hs = hashes[order]
    starts = np.r_[True, hs[1:] != hs[:-1]] if n else np.zeros(0, bool)
    rank = np.arange(n) - np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    have = np.searchsorted(other_sorted, hs, "right") - np.searchsorted(other_sorted, hs, "left")
    return np.sort(order[rank >= have])[:limit]


def _keyed_diff(old, new, keys, rows, old_profile, new_profile, target=None) -> TableDiff:
    import numpy as np

    mo, mn, added_idx, removed_idx = _match_keys(old, new, keys)
    order = np.argsort(mo)
    mo, mn = mo[order], mn[order]
    compare = [c for c in old.column_names if c in set(new.column_names) - set(keys)]
    a, b = _rows_at(old.select(compare), mo), _rows_at(new.select(compare), mn)
    any_changed = np.zeros(len(mo), dtype=bool)
    cells, per_column = [], {}
    for name in compare:
        differ = _cells_differ(a[name], b[name])
        if count := int(differ.sum()):
            cells.append((name, count))
            any_changed |= differ
            per_column[name] = differ if rows > 0 else None
    samples = None
    if rows > 0:
        picked = np.flatnonzero(any_changed)[:rows]
        olds, news = _rows.rows_as_json(old, mo[picked]), _rows.rows_as_json(new, mn[picked])
        changed = [{"key": {k: o[k] for k in keys}, "old": o, "new": n,
                    "columns": [c for c, d in per_column.items() if d[p]]}
                   for p, o, n in zip(picked, olds, news, strict=False)]
        samples = {"added": _rows.rows_as_json(new, added_idx[:rows]),
                   "removed": _rows.rows_as_json(old, removed_idx[:rows]), "changed": changed}
    return _assemble(old_profile, new_profile, len(added_idx), len(removed_idx), key=keys,
                     rows_changed=int(any_changed.sum()), cells_changed=tuple(cells),
                     samples=samples, target=target)


def _rows_at(table, pos):
    """``table.take(pos)``; but versions usually keep the row order, and then a
    boolean filter is much cheaper than a gather (or nothing is needed at all)."""
    import numpy as np
    import pyarrow as pa
    if len(pos) > 1 and np.any(pos[1:] <= pos[:-1]):
        return table.take(pa.array(pos))
    if len(pos) == table.num_rows:
        return table
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[pos] = True
    return table.filter(pa.array(mask))


def _match_keys(old, new, keys):
    """(matched old rows, matched new rows, added rows, removed rows), or TableError
    for a duplicate key.  Keys become int64 codes (an integer key as it is, else
    one dictionary_encode of both versions, so null matches null), matched by
    numpy sorting: ~3x faster than Acero's hash group-by and join."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    codes = [np.zeros(old.num_rows, dtype=np.int64), np.zeros(new.num_rows, dtype=np.int64)]
    for k in keys:
        a, b = (c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c
                for c in (old[k], new[k]))
        if pa.types.is_integer(a.type) and pa.types.is_integer(b.type):
            a, b = a.cast(pa.int64()), b.cast(pa.int64())
        elif a.type != b.type:
            try:
                b = b.cast(a.type)
            except pa.ArrowException:  # e.g. int -> string: compare as text
                a, b = a.cast(pa.large_string()), b.cast(pa.large_string())
        if len(keys) == 1 and a.type == pa.int64() and not (a.null_count or b.null_count):
            codes = [a.to_numpy(), b.to_numpy()]
            break
        enc = pc.dictionary_encode(pa.chunked_array(a.chunks + b.chunks, type=a.type),
                                   null_encoding="encode")
        idx = np.concatenate([c.indices.to_numpy() for c in enc.chunks] + [np.zeros(0, int)])
        joint = np.concatenate(codes) * len(enc.chunk(0).dictionary if enc.num_chunks else []) + idx
        if len(keys) > 1:  # dense codes again, so that products never overflow
            uniq = np.sort(joint)
            joint = np.searchsorted(uniq[np.r_[True, uniq[1:] != uniq[:-1]]], joint)
        codes = [joint[:old.num_rows], joint[old.num_rows:]]
    sides = []
    for side, table, values in (("old", old, codes[0]), ("new", new, codes[1])):
        order = np.argsort(values, kind="stable")
        dup = np.flatnonzero(values[order][1:] == values[order][:-1])
        if len(dup):
            row = table.slice(int(order[dup[0]]), 1).select(list(keys)).to_pylist()[0]
            value = _shown(row[keys[0]]) if len(keys) == 1 else \
                "(" + ", ".join(_shown(row[k]) for k in keys) + ")"
            raise KeyColumnError(f"duplicate key {', '.join(keys)} = {value} in the {side} "
                             f"version ({int((values == values[order[dup[0]]]).sum())} rows)")
        sides.append((values[order], order))
    (ov, oo), _ = sides
    pos = np.minimum(np.searchsorted(ov, codes[1]), max(len(ov) - 1, 0))
    match = ov[pos] == codes[1] if len(ov) else np.zeros(new.num_rows, dtype=bool)
    mo, mn = oo[pos[match]], np.flatnonzero(match)
    seen = np.zeros(old.num_rows, dtype=bool)
    seen[mo] = True
    return mo, mn, np.flatnonzero(~match), np.flatnonzero(~seen)


def _cells_differ(a, b) -> numpy.ndarray:
    """Boolean array, True where values differ, by the row hashes' rules: null
    equals NaN, numbers compare as float64, different kinds (int vs string) differ."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def kind(t):
        if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
            return "num"
        return "str" if pa.types.is_string(t) or pa.types.is_large_string(t) else str(t)
    a, b = (c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in (a, b))
    if a.type != b.type:
        if kind(a.type) != kind(b.type) or kind(a.type) not in ("num", "str"):
            return _profile.column_hash(a) != _profile.column_hash(b)
        target = pa.float64() if kind(a.type) == "num" else pa.large_string()
        a, b = a.cast(target, safe=False), b.cast(target, safe=False)
    try:
        equal = pc.fill_null(pc.equal(a, b), False)
    except pa.ArrowNotImplementedError:  # nested types have no comparison kernel
        return _profile.column_hash(a) != _profile.column_hash(b)
    missing = pc.and_(pc.is_null(a, nan_is_null=True), pc.is_null(b, nan_is_null=True))
    return pc.invert(pc.or_(equal, missing)).to_numpy(zero_copy_only=False)


def _drift(old_cols: dict, new_cols: dict, common: list[str], target: str | None = None,
           exclude: Sequence[str] = ()) -> tuple[tuple[DriftStat, ...], dict | None, dict]:
    """The drift test of every common column that has numbers or categories on
    both sides (not ``exclude``), the target's distribution, and the ``fdr`` entry.  Order: the
    target, then drifted columns (strongest first), moderate, stable, too few rows."""
    stats, target_info = [], None
    for name in common:
        if name in exclude:
            continue
        stat, info = column_drift(name, old_cols[name], new_cols[name], name == target)
        if stat is not None:
            stats.append(stat)
            target_info = info if name == target else target_info
    stats, fdr = _many.control_fdr(stats)
    rank = {"drift": 0, "moderate": 1, "stable": 2, "too_few_rows": 3}
    stats.sort(key=lambda s: (not s.target, rank.get(s.level, 4),
                              -s.strength if s.level in ("drift", "moderate") else 0))
    return tuple(stats), target_info, fdr


def dataset_drift(drift: Sequence[DriftStat]) -> dict:
    """The share of tested columns (those with enough rows) that drifted."""
    tested = [s for s in drift if s.level in ("drift", "moderate", "stable")]
    k = sum(s.drifted for s in tested)
    share = round(k / len(tested), 4) if tested else 0.0
    return {"columns": len(tested), "drifted_columns": k, "share": share,
            "threshold": DATASET_SHARE, "drifted": bool(tested) and share >= DATASET_SHARE}


def _distribution(col: dict):
    """(values, counts, size) of a number column: exact counts, or the sample."""
    import numpy as np
    size = col["numeric"]["count"]
    if col.get("values"):
        return (np.asarray(col["values"]["value"], float),
                np.asarray(col["values"]["count"], float), size)
    s = _profile.decode_sample(col)
    if s is None or not len(s):  # a profile without sample: its quantiles stand in
        s = np.asarray(col["numeric"]["quantiles"], float)
    return s, np.ones(len(s)), size


def _is_integer(col: dict) -> bool:
    return str(col.get("type", "")).startswith(("int", "uint"))


def column_drift(name: str, o: dict, n: dict, is_target: bool = False):
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
            old_c = {_value_key(v): c for v, c in zip(ov, oc, strict=False)}
            new_c = {_value_key(v): c for v, c in zip(nv, nc, strict=False)}
            return _categorical(name, old_c, new_c, is_target)
        return _numeric(name, o, n, (ov, oc, on), (nv, nc, nn), is_target)
    if o.get("categories") and n.get("categories"):
        return _categorical(name, o["categories"], n["categories"], is_target)
    return None, None


def _value_key(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


_level = _many.level


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def _numeric(name, o, n, old, new, is_target):
    from mlver.diff import stats
    (ov, oc, on), (nv, nc, nn) = old, new
    small = on <= SMALL_REFERENCE
    test, threshold = ("ks", P_VALUE) if small else ("wasserstein", DISTANCE)
    value = None
    if on >= MIN_ROWS and nn >= MIN_ROWS:
        if small:
            value = stats.ks_2samp(ov, oc, nv, nc, n_a=on, n_b=nn)[1]
        else:
            std = o["numeric"]["std"]
            value = stats.wasserstein_1(ov, oc, nv, nc) / max(std if std else 0.0, 0.001)
    level = _level(test, value, threshold)
    oq, nq = o["numeric"]["quantiles"], n["numeric"]["quantiles"]

    def pair(a, b):
        return {"old": _finite_or_none(a), "new": _finite_or_none(b)}
    figures = {"mean": pair(o["numeric"]["mean"], n["numeric"]["mean"]),
               "median": pair(oq[50], nq[50]), "p5": pair(oq[5], nq[5]),
               "p95": pair(oq[95], nq[95])}
    psi = round(_numeric_psi(oq, nq), 4) if level != "too_few_rows" else None
    stat = DriftStat(name, test, _round(value) if value is not None else None,
                     level == "drift", threshold, level, "numeric", (int(on), int(nn)), psi,
                     figures, is_target)
    info = None
    if is_target:
        quant = {"mean": figures["mean"], "p5": figures["p5"], "p25": pair(oq[25], nq[25]),
                 "median": figures["median"], "p75": pair(oq[75], nq[75]),
                 "p95": figures["p95"]}
        info = {"column": name, "kind": "numeric", "classes": None, "quantiles": quant}
    return stat, info


def _finite_or_none(x):
    """A figure for the JSON: 6 significant digits, None when not finite."""
    return float(f"{x:.6g}") if x is not None and math.isfinite(x) else None


def _categorical(name, old_c: dict, new_c: dict, is_target):
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
    value = None
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
    figures = {"category": {"value": keys[moved], "old": round(float(sa[moved]), 4),
                            "new": round(float(sb[moved]), 4)} if keys else None,
               "new_categories": len(new_only),
               "vanished_categories": sum(1 for k in keys if k not in new_c)}
    figures["new_share"] = round(float(sum(sb[i] for i in new_only)), 4)
    psi = round(_psi(sa, sb), 4) if level != "too_few_rows" else None
    stat = DriftStat(name, test, _round(value) if value is not None else None,
                     level == "drift", threshold, level, "categorical", (int(on), int(nn)), psi,
                     figures, is_target)
    info = None
    if is_target:
        classes = [{"value": k, "old": round(float(x), 4), "new": round(float(y), 4)}
                   for k, x, y in zip(keys, sa, sb, strict=False)]
        info = {"column": name, "kind": "categorical", "quantiles": None,
                "classes": sorted(classes, key=lambda c: c["value"])}
    return stat, info


def _psi(expected: numpy.ndarray, actual: numpy.ndarray) -> float:
    import numpy as np
    e, a = np.maximum(expected, PSI_EPSILON), np.maximum(actual, PSI_EPSILON)
    return max(0.0, float(np.sum((a - e) * np.log(a / e))))


def _cdf(q: numpy.ndarray, x: numpy.ndarray) -> numpy.ndarray:
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
    quantiles (:func:`_cdf`), not from counting rows, so each is off by <= ~1% of
    rows.  Tied deciles (discrete data) merge into one edge."""
    import numpy as np
    oq, nq = np.asarray(old_q, dtype=float), np.asarray(new_q, dtype=float)
    edges = np.unique(oq[10:100:10])
    old_f = np.diff(np.concatenate(([0.0], _cdf(oq, edges), [1.0])))
    new_f = np.diff(np.concatenate(([0.0], _cdf(nq, edges), [1.0])))
    return _psi(old_f, new_f)
