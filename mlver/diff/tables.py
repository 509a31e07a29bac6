"""How a table changed between two versions of a file (``mlver diff``).

Rows are compared as an exact multiset over the columns both versions share
(via 64-bit row hashes, see :mod:`mlver.diff.profile`), or, with a key, by
joining on the key.  Schema changes, null rates and per-column drift (PSI) come
from the two profiles alone, so :func:`diff_from_profiles` can answer from the
cache without reading the data.

Drift thresholds (PSI, population stability index):
``PSI >= PSI_DRIFT`` (0.2) is drift, ``PSI_MODERATE <= PSI < PSI_DRIFT`` is a
moderate shift, below 0.1 the column is stable.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence


class TableError(Exception):
    """A file cannot be read or diffed as a table (the caller falls back to bytes)."""


# profile.py imports TableError from here, so this import must follow it.
from . import profile as _profile  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    import numpy
    import pandas
    import pyarrow

PSI_DRIFT = 0.2            # PSI at or above this: the column drifted
PSI_MODERATE = 0.1         # PSI in [0.1, 0.2): moderate shift
PSI_EPSILON = 1e-4         # floor for empty bins, so that log() stays finite
NULL_RATE_DELTA = 0.01     # null-rate changes smaller than this are not reported
NEW_CATEGORY_SHARE = 0.01  # a new/vanished category this big (share of rows) is drift
_OI, _NI = "__mlver_old_row", "__mlver_new_row"


@dataclass(frozen=True)
class DriftStat:
    """One drift measure of one column; ``metric`` is "psi", "mean_delta"
    (new mean - old mean, informative only), "new_categories" or
    "vanished_categories" (counts of categories present on one side only)."""
    column: str
    metric: str
    value: float
    drifted: bool

    @property
    def level(self) -> str:
        """"drifted", "moderate" or "stable" (by PSI thresholds; others: drifted or stable)."""
        if self.drifted:
            return "drifted"
        return "moderate" if self.metric == "psi" and self.value >= PSI_MODERATE else "stable"


@dataclass(frozen=True)
class TableDiff:
    """The result of a table diff; ``to_dict``/``from_dict`` round-trip through JSON."""
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

    def to_dict(self) -> dict:
        """Plain JSON-able data (see the field docs in the module's README of the CLI)."""
        return {
            "rows_old": self.rows_old, "rows_new": self.rows_new,
            "rows_added": self.rows_added, "rows_removed": self.rows_removed,
            "rows_changed": self.rows_changed,
            "key": list(self.key) if self.key is not None else None,
            "columns_added": list(self.columns_added),
            "columns_removed": list(self.columns_removed),
            "columns_retyped": [{"column": c, "old": o, "new": n} for c, o, n in self.columns_retyped],
            "null_rates": [{"column": c, "old": o, "new": n} for c, o, n in self.null_rates],
            "cells_changed": dict(self.cells_changed),
            "drift": [{"column": d.column, "metric": d.metric, "value": d.value,
                       "drifted": d.drifted} for d in self.drift],
            "samples": copy.deepcopy(self.samples),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "TableDiff":
        """Inverse of :meth:`to_dict`."""
        return cls(
            rows_old=d["rows_old"], rows_new=d["rows_new"], rows_added=d["rows_added"],
            rows_removed=d["rows_removed"], rows_changed=d.get("rows_changed"),
            key=tuple(d["key"]) if d.get("key") is not None else None,
            columns_added=tuple(d.get("columns_added", ())),
            columns_removed=tuple(d.get("columns_removed", ())),
            columns_retyped=tuple((r["column"], r["old"], r["new"]) for r in d.get("columns_retyped", ())),
            null_rates=tuple((r["column"], r["old"], r["new"]) for r in d.get("null_rates", ())),
            cells_changed=tuple((c, n) for c, n in d.get("cells_changed", {}).items()),
            drift=tuple(DriftStat(s["column"], s["metric"], s["value"], s["drifted"])
                        for s in d.get("drift", ())),
            samples=copy.deepcopy(d.get("samples")),
        )

    def summary(self) -> str:
        """One human line, e.g. ``+1,204 rows, -0, 37 changed; new column 'x'; 'price' drifted (PSI 0.31)``."""
        parts = [f"+{self.rows_added:,} rows, -{self.rows_removed:,}"
                 + (f", {self.rows_changed:,} changed" if self.rows_changed is not None else "")]
        if self.columns_added:
            parts.append(_listing("new column", self.columns_added))
        if self.columns_removed:
            parts.append(_listing("dropped column", self.columns_removed))
        parts += _capped([f"'{c}' retyped {o} -> {n}" for c, o, n in self.columns_retyped])
        parts += _capped([f"'{c}' nulls {o:.1%} -> {n:.1%}" for c, o, n in self.null_rates])
        parts += _capped([f"'{s.column}' drifted (PSI {s.value:.2f})" for s in self.drift
                          if s.metric == "psi" and s.drifted])
        parts += _capped([f"'{s.column}' has {int(s.value)} new categor{'y' if s.value == 1 else 'ies'}"
                          for s in self.drift if s.metric == "new_categories" and s.drifted])
        if len(parts) == 1 and not (self.rows_added or self.rows_removed or self.rows_changed):
            return f"no changes ({self.rows_new:,} rows)"
        return "; ".join(parts)

    def sample_frame(self, kind: str) -> "pandas.DataFrame":
        """Sample rows as a DataFrame; ``kind`` is "added", "removed" or "changed".

        "changed" has the key columns, then ``<col>.old`` and ``<col>.new`` for
        every column that changed in any sampled row.  Raises ValueError when
        the diff was made without ``rows=N``.
        """
        import pandas as pd
        if self.samples is None:
            raise ValueError("no samples: diff_tables(..., rows=N) computes them")
        if kind in ("added", "removed"):
            return pd.DataFrame(self.samples.get(kind, []))
        if kind != "changed":
            raise ValueError(f"kind must be 'added', 'removed' or 'changed', not {kind!r}")
        records = []
        for entry in self.samples.get("changed", []):
            rec = dict(entry.get("key", {}))
            for col in entry.get("columns", []):
                rec[f"{col}.old"] = entry["old"].get(col)
                rec[f"{col}.new"] = entry["new"].get(col)
            records.append(rec)
        return pd.DataFrame(records)


def _listing(what: str, names: Sequence[str]) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:3])
    more = f" (+{len(names) - 3} more)" if len(names) > 3 else ""
    return f"{what}{'s' if len(names) > 1 else ''} {shown}{more}"


def _capped(items: list[str], limit: int = 3) -> list[str]:
    return items[:limit] + ([f"{len(items) - limit} more"] if len(items) > limit else [])


# --------------------------------------------------------------------------- entry points

def needs_rehash(old_profile: dict, new_profile: dict) -> list[str] | None:
    """None when both profiles' stored row hashes cover exactly the common columns;
    otherwise the common column list (possibly empty) to pass to ``row_hashes``."""
    common = _common(old_profile, new_profile)
    old_cols, new_cols = old_profile.get("row_hash_columns"), new_profile.get("row_hash_columns")
    if old_cols is not None and new_cols is not None and set(old_cols) == set(common) == set(new_cols):
        return None
    return common


def diff_from_profiles(old_profile: dict, old_hashes: "numpy.ndarray",
                       new_profile: dict, new_hashes: "numpy.ndarray") -> TableDiff:
    """Everything that needs neither a key nor samples, from cached data only.

    The hashes must cover the common columns: the stored ones when
    :func:`needs_rehash` returns None, else ``row_hashes(table, that list)``.
    """
    added, removed = _multiset_diff(old_hashes, new_hashes)
    return _assemble(old_profile, new_profile, added, removed)


def diff_tables(old: "pyarrow.Table", new: "pyarrow.Table", *, key: str | Sequence[str] | None = None,
                rows: int = 0, old_profile: dict | None = None, new_profile: dict | None = None,
                old_hashes: "numpy.ndarray | None" = None,
                new_hashes: "numpy.ndarray | None" = None) -> TableDiff:
    """Diff two tables.

    Without ``key`` rows_added/rows_removed are the exact multiset difference
    of rows over the common columns.  With ``key`` (a name or list of names)
    rows are matched by key: rows_changed counts matched rows whose common
    columns differ and cells_changed counts per column (null and NaN equal
    each other).  Rows whose key holds a null never match.  Duplicate keys or
    a missing key column raise TableError.  ``rows=N`` keeps up to N sample
    added/removed/changed rows.  Profiles and hashes, when given, must be those
    of these tables (from the cache); drift always comes from the profiles so
    that this agrees with :func:`diff_from_profiles`.
    """
    old, new = _profile.unique_names(old), _profile.unique_names(new)
    keys = (key,) if isinstance(key, str) else (tuple(key) if key else None)
    for name in keys or ():
        for side, table in (("old", old), ("new", new)):
            if name not in table.column_names:
                raise TableError(f"key column {name!r} not in the {side} version; columns are: "
                                 + ", ".join(repr(c) for c in table.column_names))
    old_profile = old_profile if old_profile is not None else _profile.profile_only(old)
    new_profile = new_profile if new_profile is not None else _profile.profile_only(new)
    if keys:
        return _keyed_diff(old, new, keys, rows, old_profile, new_profile)

    import numpy as np
    common = _common(old_profile, new_profile)
    samples = None
    if rows > 0:  # samples need per-row hashes in table order
        old_rows = _profile._row_hashes_unsorted(old, common)
        new_rows = _profile._row_hashes_unsorted(new, common)
        old_hashes, new_hashes = np.sort(old_rows), np.sort(new_rows)
        samples = {"added": _rows_json(new, _surplus(new_rows, old_hashes, rows)),
                   "removed": _rows_json(old, _surplus(old_rows, new_hashes, rows)),
                   "changed": []}
    elif needs_rehash(old_profile, new_profile) is not None or old_hashes is None or new_hashes is None:
        old_hashes = _profile.row_hashes(old, common)
        new_hashes = _profile.row_hashes(new, common)
    added, removed = _multiset_diff(old_hashes, new_hashes)
    return _assemble(old_profile, new_profile, added, removed, samples=samples)


def _common(old_profile: dict, new_profile: dict) -> list[str]:
    new_names = {c["name"] for c in new_profile["columns"]}
    return [c["name"] for c in old_profile["columns"] if c["name"] in new_names]


def _assemble(old_p: dict, new_p: dict, added: int, removed: int, **extra: Any) -> TableDiff:
    """Schema changes, null rates and drift from the profiles, plus the row counts."""
    old_cols = {c["name"]: c for c in old_p["columns"]}
    new_cols = {c["name"]: c for c in new_p["columns"]}
    common = _common(old_p, new_p)
    rates = []
    for name in common:
        o = old_cols[name]["nulls"] / old_p["rows"] if old_p["rows"] else 0.0
        n = new_cols[name]["nulls"] / new_p["rows"] if new_p["rows"] else 0.0
        if abs(n - o) >= NULL_RATE_DELTA:
            rates.append((name, round(o, 4), round(n, 4)))
    return TableDiff(
        rows_old=old_p["rows"], rows_new=new_p["rows"], rows_added=added, rows_removed=removed,
        columns_added=tuple(c for c in new_cols if c not in old_cols),
        columns_removed=tuple(c for c in old_cols if c not in new_cols),
        columns_retyped=tuple((c, old_cols[c]["type"], new_cols[c]["type"]) for c in common
                              if old_cols[c]["type"] != new_cols[c]["type"]),
        null_rates=tuple(rates), drift=_drift(old_p, new_p, common), **extra)


def _multiset_diff(old_sorted: "numpy.ndarray", new_sorted: "numpy.ndarray") -> tuple[int, int]:
    """(added, removed): a hash present twice before and three times after adds one row."""
    import numpy as np

    def counts(h):
        h = np.asarray(h, dtype=np.uint64)
        if len(h) > 1 and not np.all(h[1:] >= h[:-1]):
            h = np.sort(h)  # cached arrays should be sorted; do not trust blindly
        starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]]) if len(h) else np.empty(0, np.int64)
        return h[starts], np.diff(np.r_[starts, len(h)]), len(h)

    uo, co, no = counts(old_sorted)
    un, cn, nn = counts(new_sorted)
    if not len(uo) or not len(un):
        return nn, no
    idx = np.minimum(np.searchsorted(un, uo), len(un) - 1)
    match = un[idx] == uo
    shared = int(np.minimum(co[match], cn[idx[match]]).sum())
    return nn - shared, no - shared


def _surplus(hashes: "numpy.ndarray", other_sorted: "numpy.ndarray", limit: int) -> "numpy.ndarray":
    """Row positions beyond the other side's count of each hash: the first ``limit``
    of exactly the rows counted as added (or removed), in table order."""
    import numpy as np
    n = len(hashes)
    order = np.argsort(hashes, kind="stable")  # stable: earlier occurrences match first
    hs = hashes[order]
    starts = np.r_[True, hs[1:] != hs[:-1]] if n else np.zeros(0, bool)
    rank = np.arange(n) - np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    have = np.searchsorted(other_sorted, hs, "right") - np.searchsorted(other_sorted, hs, "left")
    return np.sort(order[rank >= have])[:limit]


# --------------------------------------------------------------------------- keyed diff

def _keyed_diff(old, new, keys, rows, old_profile, new_profile) -> TableDiff:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    for side, table in (("old", old), ("new", new)):
        _check_unique(table, keys, side)
    ko, kn = _align_keys(old.select(list(keys)), new.select(list(keys)), keys)
    ko = ko.append_column(_OI, pa.array(np.arange(old.num_rows, dtype=np.int64)))
    kn = kn.append_column(_NI, pa.array(np.arange(new.num_rows, dtype=np.int64)))
    try:
        joined = ko.join(kn, keys=list(keys), join_type="full outer")
    except pa.ArrowException as exc:
        raise TableError(f"cannot join on key {list(keys)}: {exc}") from exc
    oi, ni = joined[_OI], joined[_NI]
    removed_idx = np.sort(pc.filter(oi, ni.is_null()).to_numpy())
    added_idx = np.sort(pc.filter(ni, oi.is_null()).to_numpy())
    both = pc.and_(oi.is_valid(), ni.is_valid())
    mo, mn = pc.filter(oi, both).to_numpy(), pc.filter(ni, both).to_numpy()
    order = np.argsort(mo, kind="stable")
    mo, mn = mo[order], mn[order]

    new_names = set(new.column_names)
    compare = [c for c in old.column_names if c in new_names and c not in keys]
    # Row order is usually kept between versions: a boolean filter is then much
    # cheaper than a gather of every column.
    a = old.select(compare)
    if len(mo) < old.num_rows:
        mask = np.zeros(old.num_rows, bool)
        mask[mo] = True
        a = a.filter(pa.array(mask))
    b = new.select(compare)
    if len(mn) > 1 and not np.all(mn[1:] > mn[:-1]):
        b = b.take(pa.array(mn))
    elif len(mn) < new.num_rows:
        mask = np.zeros(new.num_rows, bool)
        mask[mn] = True
        b = b.filter(pa.array(mask))

    any_changed = np.zeros(len(mo), dtype=bool)
    cells, per_column = [], {}
    for name in compare:
        differ = _cells_differ(a[name], b[name])
        count = int(differ.sum())
        if count:
            cells.append((name, count))
            any_changed |= differ
            if rows > 0:
                per_column[name] = differ
    samples = None
    if rows > 0:
        changed = []
        for p in np.flatnonzero(any_changed)[:rows]:
            old_row = _rows_json(old, [mo[p]])[0]
            changed.append({"key": {k: old_row[k] for k in keys}, "old": old_row,
                            "new": _rows_json(new, [mn[p]])[0],
                            "columns": [c for c, d in per_column.items() if d[p]]})
        samples = {"added": _rows_json(new, added_idx[:rows]),
                   "removed": _rows_json(old, removed_idx[:rows]), "changed": changed}
    return _assemble(old_profile, new_profile, len(added_idx), len(removed_idx), key=tuple(keys),
                     rows_changed=int(any_changed.sum()), cells_changed=tuple(cells), samples=samples)


def _check_unique(table, keys, side: str) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc
    if table.num_rows < 2:
        return
    try:
        groups = table.select(list(keys)).group_by(list(keys)).aggregate([([], "count_all")])
    except pa.ArrowException as exc:
        raise TableError(f"cannot use {list(keys)} as a key: {exc}") from exc
    if groups.num_rows < table.num_rows:
        dup = groups.filter(pc.greater(groups["count_all"], 1)).slice(0, 1).to_pylist()[0]
        value = dup[keys[0]] if len(keys) == 1 else tuple(dup[k] for k in keys)
        raise TableError(f"duplicate key {', '.join(keys)} = {value!r} in the {side} version "
                         f"({dup['count_all']} rows)")


def _align_keys(ko, kn, keys):
    """Give key columns one type on both sides (the join needs it)."""
    import pyarrow as pa
    for k in keys:
        a, b = ko[k], kn[k]
        if pa.types.is_dictionary(a.type):
            a = a.cast(a.type.value_type)
        if pa.types.is_dictionary(b.type):
            b = b.cast(b.type.value_type)
        if a.type != b.type:
            try:
                b = b.cast(a.type)
            except pa.ArrowException:
                try:
                    a, b = a.cast(pa.large_string()), b.cast(pa.large_string())
                except pa.ArrowException as exc:
                    raise TableError(f"key column {k!r} changed type {a.type} -> {b.type}") from exc
        ko = ko.set_column(ko.column_names.index(k), k, a)
        kn = kn.set_column(kn.column_names.index(k), k, b)
    return ko, kn


def _kind(t) -> str:
    import pyarrow as pa
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "num"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "str"
    return str(t)


def _cells_differ(a, b) -> "numpy.ndarray":
    """Boolean array, True where the values differ; null and NaN equal each other.

    Same rules as the row hashes: numbers compare as float64, values of
    different kinds (e.g. int vs string) compare by their hashes, i.e. differ.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    if pa.types.is_dictionary(a.type):
        a = a.cast(a.type.value_type)
    if pa.types.is_dictionary(b.type):
        b = b.cast(b.type.value_type)
    if a.type != b.type:
        kind = _kind(a.type)
        if kind != _kind(b.type) or kind not in ("num", "str"):
            return _profile.column_hash(a) != _profile.column_hash(b)
        target = pa.float64() if kind == "num" else pa.large_string()
        a, b = a.cast(target, safe=False), b.cast(target, safe=False)
    try:
        equal = pc.fill_null(pc.equal(a, b), False)
    except pa.ArrowNotImplementedError:  # nested types have no comparison kernel
        return _profile.column_hash(a) != _profile.column_hash(b)
    missing = pc.and_(pc.is_null(a, nan_is_null=True), pc.is_null(b, nan_is_null=True))
    return pc.invert(pc.or_(equal, missing)).to_numpy(zero_copy_only=False)


# --------------------------------------------------------------------------- drift

def _drift(old_p: dict, new_p: dict, common: list[str]) -> tuple[DriftStat, ...]:
    """PSI for every common column with usable stats, highest first; then the
    secondary stats (mean_delta, new/vanished categories) in the same column order."""
    old_cols = {c["name"]: c for c in old_p["columns"]}
    new_cols = {c["name"]: c for c in new_p["columns"]}
    psi, extra = [], {}
    for name in common:
        o, n = old_cols[name], new_cols[name]
        if o.get("numeric") and n.get("numeric"):
            value = _numeric_psi(o["numeric"]["quantiles"], n["numeric"]["quantiles"])
            delta = (n["numeric"]["mean"] or 0.0) - (o["numeric"]["mean"] or 0.0)
            extra[name] = [DriftStat(name, "mean_delta", float(f"{delta:.6g}"), False)] if delta else []
        elif o.get("categories") is not None and n.get("categories") is not None:
            oc, nc = o["categories"], n["categories"]
            if not oc or not nc:
                continue
            value = _categorical_psi(oc, nc)
            extra[name] = []
            for metric, here, there, total in (("new_categories", nc, oc, new_p["rows"]),
                                               ("vanished_categories", oc, nc, old_p["rows"])):
                only = [c for c in here if c not in there]
                if only:
                    big = any(here[c] >= NEW_CATEGORY_SHARE * total for c in only)
                    extra[name].append(DriftStat(name, metric, float(len(only)), big))
        else:
            continue  # too many categories, or no numbers to bin: no drift measure
        psi.append(DriftStat(name, "psi", round(value, 4), value >= PSI_DRIFT))
    psi.sort(key=lambda s: -s.value)  # stable: ties keep column order
    return tuple(psi) + tuple(s for p in psi for s in extra[p.column])


def _psi(expected: "numpy.ndarray", actual: "numpy.ndarray") -> float:
    import numpy as np
    e, a = np.maximum(expected, PSI_EPSILON), np.maximum(actual, PSI_EPSILON)
    return max(0.0, float(np.sum((a - e) * np.log(a / e))))


def _cdf(q: "numpy.ndarray", x: "numpy.ndarray") -> "numpy.ndarray":
    """Fraction of values <= x, from 101 quantiles by linear interpolation.

    Between two consecutive quantiles the CDF is taken as linear, i.e. values
    as spread uniformly inside each percentile; at a run of tied quantiles it
    jumps (right-continuous), as it does for discrete data.
    """
    import numpy as np
    k = np.searchsorted(q, x, side="right") - 1          # last quantile <= x
    kk = np.clip(k, 0, len(q) - 2)
    lo, hi = q[kk], q[kk + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(hi > lo, (x - lo) / (hi - lo), 0.0)
    out = (kk + np.clip(frac, 0.0, 1.0)) / (len(q) - 1)
    return np.where(k < 0, 0.0, np.where(k >= len(q) - 1, 1.0, out))


def _numeric_psi(old_q: list[float], new_q: list[float]) -> float:
    """PSI over the old version's deciles, from the two profiles' quantiles only.

    Approximation: both versions' bin fractions are read off a CDF rebuilt from
    their 101 quantiles (:func:`_cdf`), not counted on the rows.  Used for both
    diff_tables and diff_from_profiles so that the two always agree; with 101
    quantiles the error per bin is below 1% of rows.  Tied deciles (discrete
    data) merge into one bin edge.
    """
    import numpy as np
    oq, nq = np.asarray(old_q, dtype=float), np.asarray(new_q, dtype=float)
    edges = np.unique(oq[10:100:10])
    old_f = np.diff(np.concatenate(([0.0], _cdf(oq, edges), [1.0])))
    new_f = np.diff(np.concatenate(([0.0], _cdf(nq, edges), [1.0])))
    return _psi(old_f, new_f)


def _categorical_psi(old_c: dict, new_c: dict) -> float:
    """PSI over the union of categories (shares of non-null values)."""
    import numpy as np
    cats = list(dict.fromkeys([*old_c, *new_c]))
    o = np.array([old_c.get(c, 0) for c in cats], dtype=float)
    n = np.array([new_c.get(c, 0) for c in cats], dtype=float)
    return _psi(o / o.sum(), n / n.sum())


# --------------------------------------------------------------------------- samples

def _rows_json(table, positions) -> list[dict]:
    import pyarrow as pa
    if len(positions) == 0:
        return []
    rows = table.take(pa.array(positions, type=pa.int64())).to_pylist()
    return [{k: _jsonable(v) for k, v in row.items()} for row in rows]


def _jsonable(v: Any) -> Any:
    """Python value from pyarrow -> JSON-able (NaN/inf -> None, dates -> ISO text)."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", errors="backslashreplace")
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return str(v)
