"""How a table changed between two versions of a file (``mlver diff``): the
:class:`TableDiff` value, its one-line summary, and the diff itself.

Rows are compared as an exact multiset over the common columns (64-bit row
hashes, see :mod:`mlver.diff.colhash`), or joined on a key (see
:mod:`mlver.diff.rowdiff`).  Schema changes, renames, null rates and drift (see
:mod:`mlver.diff.drift`) need only the two profiles, so :func:`diff_from_profiles`
answers from the cache.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlver.diff import manycolumns as _many
from mlver.diff import uniqueness as _uniqueness
from mlver.diff.colhash import normalize, row_hashes
from mlver.diff.drift import (
    DriftStat,
    category_text,
    dataset_drift,
    drift_stats,
    number_text,
    share_text,
)
from mlver.diff.profile import profile_only
from mlver.diff.renames import renamed_columns, top_cells, with_digests
from mlver.diff.rowdiff import keyed_rows, multiset_diff, unkeyed_samples
from mlver.diff.tableerrors import KeyColumnError, table_errors

if TYPE_CHECKING:  # pragma: no cover
    import numpy
    import pandas
    import pyarrow

    from mlver.diff.drift import TargetInfo
    from mlver.diff.profiler import ColumnProfile, Profile

NULL_RATE_DELTA = 0.01     # smaller changes of a column's null rate are not reported
NEW_CATEGORY_SHARE = 0.01  # a new (vanished) category with this share of new (old) rows is named


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
    samples: dict[str, list[Any]] | None = field(default=None, hash=False)
    columns_renamed: tuple[tuple[str, str], ...] = ()  # (old name, new name): same values
    target: TargetInfo | None = field(default=None, hash=False)
    dataset_drift: dict[str, Any] | None = field(default=None, hash=False)
    identifiers: tuple[str, ...] = ()  # columns unique per row: not tested for drift
    fdr: dict[str, Any] | None = field(default=None, hash=False)  # {"method", "alpha", "tests"}
    # which engine computed the rows: "pandas" (in memory; or streamed, for an unkeyed diff
    # without samples) or "duckdb" (out of core: a large keyed or sampled diff)
    engine: str = "pandas"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; :meth:`from_dict` inverts it exactly."""
        d = {k: getattr(self, k) for k in ("rows_old", "rows_new", "rows_added", "rows_removed",
                                           "rows_changed")}
        triple = ("column", "old", "new")
        return dict(d, key=list(self.key) if self.key is not None else None,
                    columns_added=list(self.columns_added),
                    columns_removed=list(self.columns_removed),
                    columns_retyped=[dict(zip(triple, r, strict=False))
                                     for r in self.columns_retyped],
                    null_rates=[dict(zip(triple, r, strict=False)) for r in self.null_rates],
                    cells_changed=dict(self.cells_changed), samples=copy.deepcopy(self.samples),
                    drift=[s.to_dict() for s in self.drift],
                    target=copy.deepcopy(self.target),
                    dataset_drift=copy.deepcopy(self.dataset_drift),
                    identifiers=list(self.identifiers), fdr=copy.deepcopy(self.fdr),
                    columns_renamed=[{"old": o, "new": n} for o, n in self.columns_renamed],
                    engine=self.engine)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableDiff:
        """Rebuild a TableDiff from :meth:`to_dict` output (also after JSON)."""
        def triples(name: str) -> tuple[Any, ...]:
            return tuple((r["column"], r["old"], r["new"]) for r in d.get(name, ()))
        return cls(d["rows_old"], d["rows_new"], d["rows_added"], d["rows_removed"],
                   d.get("rows_changed"), tuple(d["key"]) if d.get("key") is not None else None,
                   tuple(d.get("columns_added", ())), tuple(d.get("columns_removed", ())),
                   triples("columns_retyped"), triples("null_rates"),
                   tuple(d.get("cells_changed", {}).items()),
                   tuple(DriftStat.from_dict(s) for s in d.get("drift", ())),
                   copy.deepcopy(d.get("samples")),
                   columns_renamed=tuple((r["old"], r["new"])
                                         for r in d.get("columns_renamed", ())),
                   target=copy.deepcopy(d.get("target")),
                   dataset_drift=copy.deepcopy(d.get("dataset_drift")),
                   identifiers=tuple(d.get("identifiers", ())), fdr=copy.deepcopy(d.get("fdr")),
                   engine=d.get("engine") or "pandas")

    def summary(self) -> str:
        """One line: ``+1,204 rows, -0, 37 changed; new column 'x'; 'price' drifted
        (Wasserstein 0.23 σ ≥ 0.1; mean 101 -> 124)``, the label first when there is one."""
        parts = [f"+{self.rows_added:,} rows, -{self.rows_removed:,}"
                 + (f", {self.rows_changed:,} changed{top_cells(self.cells_changed)}"
                    if self.rows_changed is not None else "")]
        renamed = [f"{o!r} renamed to {n!r}" for o, n in self.columns_renamed]
        parts += renamed[:5] + ([f"{len(renamed) - 5} more renamed"] if len(renamed) > 5 else [])
        for what, names in (("new column", self.columns_added),
                            ("dropped column", self.columns_removed)):
            if names:
                shown = ", ".join(f"{n!r}" for n in names[:3])
                rest = f" (+{len(names) - 3} more)" if len(names) > 3 else ""
                parts.append(f"{what}{'s' if len(names) > 1 else ''} {shown}{rest}")
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
    groups: dict[tuple[int, int] | None, list[str]] = {}
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
        body = "classes " + ", ".join(
            f"{category_text(c['value'])} {share_text(c['old'], c['new'])}"
            for c in classes[:3]) + (" …" if len(classes) > 3 else "")
    else:
        q = info["quantiles"]
        body = ", ".join(f"{k} {number_text(q[k]['old'])} -> {number_text(q[k]['new'])}"
                         for k in ("median", "p5", "p95"))
    tail = " (too few rows to judge drift)" if stat is not None and \
        stat.level == "too_few_rows" else ""
    return f"{head}: {body}{tail}"


def needs_rehash(old_profile: Profile, new_profile: Profile) -> list[str] | None:
    """None when both profiles' stored row hashes cover exactly the common columns,
    else that list (maybe empty: test ``is None``) for ``row_hashes`` on both tables."""
    common = common_columns(old_profile, new_profile)
    old_stored, new_stored = (p.get("row_hash_columns") for p in (old_profile, new_profile))
    if (old_stored is not None and new_stored is not None
            and set(old_stored) == set(common) == set(new_stored)):
        return None
    return common


def diff_from_profiles(old_profile: Profile, old_hashes: numpy.ndarray,
                       new_profile: Profile, new_hashes: numpy.ndarray,
                       target: str | None = None) -> TableDiff:
    """Everything that needs neither a key nor samples, from cached data only.
    The hashes must cover the common columns: the stored ones when
    :func:`needs_rehash` returns None, else ``row_hashes(table, that list)``.
    ``target``: the label column, whose distribution is always reported."""
    return assemble(old_profile, new_profile, *multiset_diff(old_hashes, new_hashes),
                     target=target)


@table_errors
def diff_tables(old: pyarrow.Table, new: pyarrow.Table, *,
                key: str | Sequence[str] | None = None, rows: int = 0,
                old_profile: Profile | None = None, new_profile: Profile | None = None,
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
    old, new = normalize(old), normalize(new)
    keys = (key,) if isinstance(key, str) else (tuple(key) if key else None)
    for name, (side, table) in ((n, s) for n in keys or () for s in (("old", old), ("new", new))):
        if name not in table.column_names:
            raise KeyColumnError(f"key column {name!r} not in the {side} version; columns are: "
                             + ", ".join(repr(c) for c in table.column_names))
    old_profile = old_profile if old_profile is not None else profile_only(old)
    new_profile = new_profile if new_profile is not None else profile_only(new)
    old_profile, new_profile = with_digests(old_profile, old, new_profile, new)
    if keys:
        k = keyed_rows(old, new, keys, rows)
        return assemble(old_profile, new_profile, k.added, k.removed, key=keys,
                         rows_changed=k.changed, cells_changed=k.cells, samples=k.samples,
                         target=target)
    common, samples = common_columns(old_profile, new_profile), None
    if rows > 0:  # samples need the hashes in row order
        old_hashes, new_hashes, samples = unkeyed_samples(old, new, common, rows)
    elif (old_hashes is None or new_hashes is None
          or needs_rehash(old_profile, new_profile) is not None):
        old_hashes, new_hashes = row_hashes(old, common), row_hashes(new, common)
    added, removed = multiset_diff(old_hashes, new_hashes)
    return assemble(old_profile, new_profile, added, removed, samples=samples, target=target)


def common_columns(old_profile: Profile, new_profile: Profile) -> list[str]:
    """The columns both profiles have, in the old one's order."""
    new_names = {c["name"] for c in new_profile["columns"]}
    return [c["name"] for c in old_profile["columns"] if c["name"] in new_names]


def assemble(old_p: Profile, new_p: Profile, added: int, removed: int,
              target: str | None = None,
              **extra: Any) -> TableDiff:
    """The TableDiff of two profiles and the row figures (``extra``: TableDiff's other
    fields): schema changes, null rates and drift from the profiles;
    no drift for key columns (a key is meant to differ between versions)."""
    old_cols, new_cols = ({c["name"]: c for c in p["columns"]} for p in (old_p, new_p))
    common = common_columns(old_p, new_p)

    def rate(p: Profile, cols: dict[str, ColumnProfile], c: str) -> float:
        return cols[c]["nulls"] / p["rows"] if p["rows"] else 0.0
    pairs = [(c, rate(old_p, old_cols, c), rate(new_p, new_cols, c)) for c in common]
    rates = [(c, round(o, 4), round(n, 4)) for c, o, n in pairs if abs(n - o) >= NULL_RATE_DELTA]
    renamed = renamed_columns(old_cols, new_cols)
    gone, came = {o for o, _ in renamed}, {n for _, n in renamed}
    keys = tuple(extra.get("key") or ())
    ids = _uniqueness.identifiers(old_cols, new_cols, common, (old_p["rows"], new_p["rows"]),
                                  keys + ((target,) if target else ()))
    drift, target_info, fdr = drift_stats(old_cols, new_cols, common, target, keys + ids)
    return TableDiff(
        rows_old=old_p["rows"], rows_new=new_p["rows"], rows_added=added, rows_removed=removed,
        columns_added=tuple(c for c in new_cols if c not in old_cols and c not in came),
        columns_removed=tuple(c for c in old_cols if c not in new_cols and c not in gone),
        columns_renamed=renamed,
        columns_retyped=tuple((c, old_cols[c]["type"], new_cols[c]["type"]) for c in common
                              if old_cols[c]["type"] != new_cols[c]["type"]),
        null_rates=tuple(rates), drift=drift, target=target_info,
        dataset_drift=dataset_drift(drift), identifiers=ids, fdr=fdr, **extra)
