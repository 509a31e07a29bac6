"""How a table changed between two versions of a file (``mlver diff``).

Rows are compared as an exact multiset over the common columns (64-bit row
hashes, see :mod:`mlver.diff.profile`), or joined on a key.  Schema changes,
null rates and drift need only the two profiles, so :func:`diff_from_profiles`
answers from the cache.  Drift is the population stability index, PSI =
sum((new - old) * ln(new / old)) over bins: >= PSI_DRIFT (0.2) is drift,
PSI_MODERATE (0.1) to 0.2 a moderate shift, below 0.1 stable.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from . import profile as _profile
from .tableerrors import KeyColumnError, table_errors

if TYPE_CHECKING:  # pragma: no cover
    import numpy
    import pandas
    import pyarrow

PSI_DRIFT = 0.2            # PSI at or above this: the column drifted
PSI_MODERATE = 0.1         # PSI in [0.1, 0.2): moderate shift
PSI_EPSILON = 1e-4         # share given to empty bins, so that ln() stays finite
NULL_RATE_DELTA = 0.01     # smaller changes of a column's null rate are not reported
NEW_CATEGORY_SHARE = 0.01  # a new (vanished) category with this share of new (old) rows drifts


@dataclass(frozen=True)
class DriftStat:
    """One drift measure of one column.  ``metric``: "psi"; "mean_delta" (new
    mean - old mean, never ``drifted``); "new_categories"/"vanished_categories"
    (how many categories only one side has; drifted if one holds >= 1% of rows)."""
    column: str
    metric: str
    value: float
    drifted: bool


@dataclass(frozen=True)
class TableDiff:
    """How a table changed.  ``rows_changed`` and ``cells_changed`` need a key;
    ``columns_retyped`` holds (column, old type, new type), ``null_rates``
    (column, old rate, new rate) for changes >= NULL_RATE_DELTA; ``drift`` has
    the PSI stats highest first, then the other stats; ``samples`` (with
    ``rows=N``) is {"added": [row], "removed": [row], "changed": [{"key",
    "old", "new", "columns"}]} with JSON-able rows."""
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

    def to_dict(self) -> dict:
        """JSON-able form; :meth:`from_dict` inverts it exactly."""
        d = {k: getattr(self, k) for k in ("rows_old", "rows_new", "rows_added", "rows_removed",
                                           "rows_changed")}
        triple = ("column", "old", "new")
        return dict(d, key=list(self.key) if self.key is not None else None,
                    columns_added=list(self.columns_added),
                    columns_removed=list(self.columns_removed),
                    columns_retyped=[dict(zip(triple, r)) for r in self.columns_retyped],
                    null_rates=[dict(zip(triple, r)) for r in self.null_rates],
                    cells_changed=dict(self.cells_changed), samples=copy.deepcopy(self.samples),
                    drift=[dict(vars(s)) for s in self.drift],
                    columns_renamed=[{"old": o, "new": n} for o, n in self.columns_renamed])

    @classmethod
    def from_dict(cls, d: dict) -> "TableDiff":
        """Rebuild a TableDiff from :meth:`to_dict` output (also after JSON)."""
        def triples(name):
            return tuple((r["column"], r["old"], r["new"]) for r in d.get(name, ()))
        return cls(d["rows_old"], d["rows_new"], d["rows_added"], d["rows_removed"],
                   d.get("rows_changed"), tuple(d["key"]) if d.get("key") is not None else None,
                   tuple(d.get("columns_added", ())), tuple(d.get("columns_removed", ())),
                   triples("columns_retyped"), triples("null_rates"),
                   tuple(d.get("cells_changed", {}).items()),
                   tuple(DriftStat(s["column"], s["metric"], s["value"], s["drifted"])
                         for s in d.get("drift", ())), copy.deepcopy(d.get("samples")),
                   tuple((r["old"], r["new"]) for r in d.get("columns_renamed", ())))

    def summary(self) -> str:
        """One line: ``+1,204 rows, -0, 37 changed; new column 'x'; 'price' drifted (PSI 0.31)``."""
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
        for items in ([f"{c!r} retyped {o} -> {n}" for c, o, n in self.columns_retyped],
                      [f"{c!r} nulls {o:.1%} -> {n:.1%}" for c, o, n in self.null_rates],
                      [f"{s.column!r} drifted (PSI {s.value:.2f})" for s in self.drift
                       if s.metric == "psi" and s.drifted],
                      [f"{s.column!r} has {s.value:.0f} new categor{'y' if s.value == 1 else 'ies'}"
                       for s in self.drift if s.metric == "new_categories" and s.drifted]):
            # Up to five of each kind: enough to reach the column that explains a model change.
            parts += items[:5] + ([f"{len(items) - 5} more"] if len(items) > 5 else [])
        if len(parts) == 1 and not (self.rows_added or self.rows_removed or self.rows_changed):
            return f"no changes ({self.rows_new:,} rows)"
        return "; ".join(parts)

    def sample_frame(self, kind: str) -> "pandas.DataFrame":
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


def needs_rehash(old_profile: dict, new_profile: dict) -> list[str] | None:
    """None when both profiles' stored row hashes cover exactly the common columns,
    else that list (maybe empty: test ``is None``) for ``row_hashes`` on both tables."""
    common = _common(old_profile, new_profile)
    stored = [p.get("row_hash_columns") for p in (old_profile, new_profile)]
    if None not in stored and set(stored[0]) == set(common) == set(stored[1]):
        return None
    return common


def diff_from_profiles(old_profile: dict, old_hashes: "numpy.ndarray",
                       new_profile: dict, new_hashes: "numpy.ndarray") -> TableDiff:
    """Everything that needs neither a key nor samples, from cached data only.
    The hashes must cover the common columns: the stored ones when
    :func:`needs_rehash` returns None, else ``row_hashes(table, that list)``."""
    return _assemble(old_profile, new_profile, *_multiset_diff(old_hashes, new_hashes))


@table_errors
def diff_tables(old: "pyarrow.Table", new: "pyarrow.Table", *,
                key: str | Sequence[str] | None = None, rows: int = 0,
                old_profile: dict | None = None, new_profile: dict | None = None,
                old_hashes: "numpy.ndarray | None" = None,
                new_hashes: "numpy.ndarray | None" = None) -> TableDiff:
    """Diff two tables.  Without ``key``, rows_added/rows_removed are the exact
    multiset difference of rows over the common columns.  With ``key`` (name or
    names) rows match by key: rows_changed counts matched rows whose common
    columns differ, cells_changed counts per column (null equals NaN; numbers
    compare by value); null key values match each other; duplicate keys or
    a missing key column raise TableError.  ``rows=N`` keeps N sample rows of
    each kind.  Given profiles/hashes must be these tables' (cached); drift
    always comes from the profiles, so this agrees with diff_from_profiles."""
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
        return _keyed_diff(old, new, keys, rows, old_profile, new_profile)
    common, samples = _common(old_profile, new_profile), None
    if rows > 0:  # samples need the hashes in row order
        old_rows, new_rows = (_profile._row_hashes_unsorted(t, common) for t in (old, new))
        old_hashes, new_hashes = np.sort(old_rows), np.sort(new_rows)
        samples = {"changed": [],
                   "added": _profile.rows_as_json(new, _surplus(new_rows, old_hashes, rows)),
                   "removed": _profile.rows_as_json(old, _surplus(old_rows, new_hashes, rows))}
    elif (old_hashes is None or new_hashes is None
          or needs_rehash(old_profile, new_profile) is not None):
        old_hashes, new_hashes = _profile.row_hashes(old, common), _profile.row_hashes(new, common)
    added, removed = _multiset_diff(old_hashes, new_hashes)
    return _assemble(old_profile, new_profile, added, removed, samples=samples)


def _common(old_profile: dict, new_profile: dict) -> list[str]:
    new_names = {c["name"] for c in new_profile["columns"]}
    return [c["name"] for c in old_profile["columns"] if c["name"] in new_names]


def _assemble(old_p: dict, new_p: dict, added: int, removed: int, **extra: Any) -> TableDiff:
    """Schema changes, null rates and drift from the profiles, plus the row counts."""
    old_cols, new_cols = ({c["name"]: c for c in p["columns"]} for p in (old_p, new_p))
    common = _common(old_p, new_p)

    def rate(p, cols, c):
        return cols[c]["nulls"] / p["rows"] if p["rows"] else 0.0
    pairs = [(c, rate(old_p, old_cols, c), rate(new_p, new_cols, c)) for c in common]
    rates = [(c, round(o, 4), round(n, 4)) for c, o, n in pairs if abs(n - o) >= NULL_RATE_DELTA]
    renamed = _renames(old_cols, new_cols)
    gone, came = {o for o, _ in renamed}, {n for _, n in renamed}
    return TableDiff(
        rows_old=old_p["rows"], rows_new=new_p["rows"], rows_added=added, rows_removed=removed,
        columns_added=tuple(c for c in new_cols if c not in old_cols and c not in came),
        columns_removed=tuple(c for c in old_cols if c not in new_cols and c not in gone),
        columns_renamed=renamed,
        columns_retyped=tuple((c, old_cols[c]["type"], new_cols[c]["type"]) for c in common
                              if old_cols[c]["type"] != new_cols[c]["type"]),
        null_rates=tuple(rates), drift=_drift(old_cols, new_cols, old_p["rows"], new_p["rows"],
                                              common), **extra)


def _multiset_diff(old_sorted: "numpy.ndarray", new_sorted: "numpy.ndarray") -> tuple[int, int]:
    """(added, removed): a hash present twice before and three times after adds one row."""
    import numpy as np

    def counts(h):
        h = np.sort(h) if len(h) > 1 and not np.all(h[1:] >= h[:-1]) else np.asarray(h)
        starts = np.flatnonzero(np.r_[True, h[1:] != h[:-1]]) if len(h) else np.zeros(0, int)
        return h[starts], np.diff(np.r_[starts, len(h)]).astype(np.int64)

    (uo, co), (un, cn) = counts(old_sorted), counts(new_sorted)
    idx = np.minimum(np.searchsorted(un, uo), max(len(un) - 1, 0))
    match = un[idx] == uo if len(un) else np.zeros(len(uo), dtype=bool)
    shared = int(np.minimum(co[match], cn[idx[match]]).sum())
    return int(cn.sum()) - shared, int(co.sum()) - shared


def _surplus(hashes: "numpy.ndarray", other_sorted: "numpy.ndarray", limit: int) -> "numpy.ndarray":
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


def _keyed_diff(old, new, keys, rows, old_profile, new_profile) -> TableDiff:
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
        olds, news = _profile.rows_as_json(old, mo[picked]), _profile.rows_as_json(new, mn[picked])
        changed = [{"key": {k: o[k] for k in keys}, "old": o, "new": n,
                    "columns": [c for c, d in per_column.items() if d[p]]}
                   for p, o, n in zip(picked, olds, news)]
        samples = {"added": _profile.rows_as_json(new, added_idx[:rows]),
                   "removed": _profile.rows_as_json(old, removed_idx[:rows]), "changed": changed}
    return _assemble(old_profile, new_profile, len(added_idx), len(removed_idx), key=keys,
                     rows_changed=int(any_changed.sum()), cells_changed=tuple(cells),
                     samples=samples)


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


def _cells_differ(a, b) -> "numpy.ndarray":
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


def _drift(old_cols: dict, new_cols: dict, old_rows: int, new_rows: int,
           common: list[str]) -> tuple[DriftStat, ...]:
    """PSI of every common column that has numbers or categories on both sides,
    highest first; then the other stats, columns in the same order."""
    psi, extra = [], {}
    for name in common:
        o, n = old_cols[name], new_cols[name]
        if o.get("numeric") and n.get("numeric"):
            value = _numeric_psi(o["numeric"]["quantiles"], n["numeric"]["quantiles"])
            means = (o["numeric"]["mean"], n["numeric"]["mean"])
            delta = means[1] - means[0] if None not in means else 0.0
            mean = DriftStat(name, "mean_delta", float(f"{delta:.6g}"), False)
            extra[name] = [mean] if delta else []
        elif o.get("categories") and n.get("categories"):
            oc, nc = o["categories"], n["categories"]
            value, extra[name] = _categorical_psi(oc, nc), []
            for metric, here, there, total in (("new_categories", nc, oc, new_rows),
                                               ("vanished_categories", oc, nc, old_rows)):
                if only := [c for c in here if c not in there]:
                    big = any(here[c] >= NEW_CATEGORY_SHARE * total for c in only)
                    extra[name].append(DriftStat(name, metric, float(len(only)), big))
        else:
            continue  # too many categories, all null, or no numbers: nothing to bin
        psi.append(DriftStat(name, "psi", round(value, 4), value >= PSI_DRIFT))
    psi.sort(key=lambda s: -s.value)  # stable: ties keep column order
    return tuple(psi) + tuple(s for p in psi for s in extra[p.column])


def _psi(expected: "numpy.ndarray", actual: "numpy.ndarray") -> float:
    import numpy as np
    e, a = np.maximum(expected, PSI_EPSILON), np.maximum(actual, PSI_EPSILON)
    return max(0.0, float(np.sum((a - e) * np.log(a / e))))


def _cdf(q: "numpy.ndarray", x: "numpy.ndarray") -> "numpy.ndarray":
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
    rows; diff_tables and diff_from_profiles both use it, so they agree.  Tied
    deciles (discrete data) merge into one edge."""
    import numpy as np
    oq, nq = np.asarray(old_q, dtype=float), np.asarray(new_q, dtype=float)
    edges = np.unique(oq[10:100:10])
    old_f = np.diff(np.concatenate(([0.0], _cdf(oq, edges), [1.0])))
    new_f = np.diff(np.concatenate(([0.0], _cdf(nq, edges), [1.0])))
    return _psi(old_f, new_f)


def _categorical_psi(old_c: dict, new_c: dict) -> float:
    """PSI over the union of categories (shares of the non-null values)."""
    import numpy as np
    cats = list(dict.fromkeys([*old_c, *new_c]))
    o = np.array([old_c.get(c, 0) for c in cats], dtype=float)
    n = np.array([new_c.get(c, 0) for c in cats], dtype=float)
    return _psi(o / o.sum(), n / n.sum())


# --------------------------------------------------------------------------- renamed columns
# and changed cells in the summary (kept apart from the drift code above)

TOP_CELLS = 3  # columns named after "N changed", most changed first


def _top_cells(cells: tuple[tuple[str, int], ...]) -> str:
    """``: hour 4,950,000, is_fraud 384,739`` for the summary of keyed changed rows."""
    if not cells:
        return ""
    top = sorted(cells, key=lambda c: -c[1])  # stable: ties keep column order
    more = f" (+{len(top) - TOP_CELLS} more)" if len(top) > TOP_CELLS else ""
    return ": " + ", ".join(f"{_plain(c)} {n:,}" for c, n in top[:TOP_CELLS]) + more


def _plain(name: str) -> str:
    """A column name as is, quoted only when it would blur the line (blank, comma,
    control characters)."""
    ok = name and name.isprintable() and name.strip() == name and "," not in name
    return name if ok else repr(name)


def _shown(v: Any) -> str:
    """A key value in a message, as users write it (never ``None``/``True``)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, str) else str(v)


def _renames(old_cols: dict, new_cols: dict) -> tuple[tuple[str, str], ...]:
    """``(old name, new name)`` for each dropped column whose values reappear, identical,
    in an added column (equal ``content`` digests in the profiles), one to one, in column
    order. Columns without a digest (a profile cached by an older mlver) never match."""
    free: dict[str, list[str]] = {}
    for name, col in new_cols.items():
        if name not in old_cols and col.get("content"):
            free.setdefault(col["content"], []).append(name)
    out = []
    for name, col in old_cols.items():
        if name not in new_cols and free.get(col.get("content") or ""):
            out.append((name, free[col["content"]].pop(0)))
    return tuple(out)


def _with_digests(old_p: dict, old_t, new_p: dict, new_t) -> tuple[dict, dict]:
    """The profiles, with the ``content`` digest of each column only one side has filled
    in from the table when missing (a profile made without row hashes, or cached by an
    older mlver); the given dicts are not changed."""
    names = [{c["name"] for c in p["columns"]} for p in (old_p, new_p)]
    if not (names[0] - names[1]) or not (names[1] - names[0]):
        return old_p, new_p  # a rename needs a dropped and an added column

    def fill(p: dict, table, only: set[str]) -> dict:
        if all("content" in c for c in p["columns"] if c["name"] in only):
            return p
        return dict(p, columns=[
            dict(c, content=_profile.column_digest(_profile.column_hash(table[c["name"]])))
            if c["name"] in only and "content" not in c else c for c in p["columns"]])
    return fill(old_p, old_t, names[0] - names[1]), fill(new_p, new_t, names[1] - names[0])
