"""Tests of mlver.diff.tables: row multisets, keyed diffs, drift, round trips."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlver.diff.colhash import row_hashes
from mlver.diff.drift import DISTANCE, MIN_ROWS, P_VALUE, SMALL_REFERENCE, DriftStat
from mlver.diff.profile import profile_table, read_table
from mlver.diff.tableerrors import TableError
from mlver.diff.tables import (
    TableDiff,
    diff_from_profiles,
    diff_tables,
    needs_rehash,
)


def base(n=5000, seed=0) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "id": np.arange(n),
        "x": rng.normal(0, 1, n),
        "y": rng.normal(100, 15, n),
        "z": rng.integers(0, 20, n),
        "cat": rng.choice(["a", "b", "c", "d"], n),
        "flag": rng.random(n) > 0.5,
    })


def stat(diff: TableDiff, column: str) -> DriftStat:
    return next(s for s in diff.drift if s.column == column)


def replace(table: pa.Table, name: str, values) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, pa.array(values))


def cached_diff(old: pa.Table, new: pa.Table) -> TableDiff:
    """What the caller does with cached profiles: never look at the data again
    unless the common columns changed."""
    (op, oh), (np_, nh) = profile_table(old), profile_table(new)
    # the cache stores canonical JSON (sorted keys) and np.save'd hashes
    op, np_ = (json.loads(json.dumps(p, sort_keys=True, allow_nan=False)) for p in (op, np_))
    common = needs_rehash(op, np_)
    if common is not None:
        oh, nh = row_hashes(old, common), row_hashes(new, common)
    return diff_from_profiles(op, oh, np_, nh)


# --------------------------------------------------------------------------- rows without key

def test_drop_ten_rows():
    t = base()
    d = diff_tables(t, t.filter(pa.array(np.arange(t.num_rows) % 500 != 7)))
    assert (d.rows_old, d.rows_new, d.rows_removed, d.rows_added) == (5000, 4990, 10, 0)
    assert d.rows_changed is None and d.key is None and d.cells_changed == ()


def test_append_fifty_rows():
    t = base()
    d = diff_tables(t, pa.concat_tables([t, base(50, seed=9)]))
    assert (d.rows_added, d.rows_removed) == (50, 0)
    assert d.summary().startswith("+50 rows, -0")


def test_one_changed_row_is_one_added_and_one_removed():
    t = base()
    x = t["x"].to_numpy().copy()
    x[123] += 1
    d = diff_tables(t, replace(t, "x", x))
    assert (d.rows_added, d.rows_removed) == (1, 1)


def test_duplicate_rows_are_a_multiset():
    t = base(100)
    row = t.slice(5, 1)
    old = pa.concat_tables([t, row])               # row 5 twice
    assert (lambda d: (d.rows_added, d.rows_removed))(
        diff_tables(old, pa.concat_tables([t, row, row]))) == (1, 0)   # three times
    assert (lambda d: (d.rows_added, d.rows_removed))(diff_tables(old, t)) == (0, 1)
    same = pa.table({"a": [1, 1, 1, 2]})
    d = diff_tables(same, pa.table({"a": [1, 2, 2, 2, 2]}))
    assert (d.rows_added, d.rows_removed) == (3, 2)


def test_row_and_column_order_do_not_matter():
    t = base()
    shuffled = t.take(np.random.default_rng(3).permutation(t.num_rows))
    d = diff_tables(t, shuffled.select(list(reversed(t.column_names))))
    assert (d.rows_added, d.rows_removed, d.columns_added, d.columns_removed) == (0, 0, (), ())
    assert all(s.psi == 0 and s.level == "stable" for s in d.drift)
    assert d.summary() == "no changes (5,000 rows)"


def test_unkeyed_samples_are_exactly_the_surplus_rows():
    old = pa.table({"a": [1, 1, 2, 3], "b": ["p", "p", "q", "r"]})
    new = pa.table({"a": [3, 1, 1, 1, 4, 2], "b": ["r", "p", "p", "p", "s", "q"]})
    d = diff_tables(old, new, rows=10)
    assert (d.rows_added, d.rows_removed) == (2, 0)
    assert d.samples["added"] == [{"a": 1, "b": "p"}, {"a": 4, "b": "s"}]
    assert d.samples["removed"] == [] and d.sample_frame("added").shape == (2, 2)
    d = diff_tables(new, old, rows=1)
    assert len(d.samples["removed"]) == 1 and d.rows_removed == 2


# --------------------------------------------------------------------------- schema

def test_add_remove_retype_columns():
    t = base(1000)
    new = t.drop_columns(["y"]).append_column("w", pa.array(np.ones(1000)))
    new = replace(new, "z", t["z"].to_numpy().astype(float))     # same values, as doubles
    d = diff_tables(t, new)
    assert d.columns_added == ("w",) and d.columns_removed == ("y",)
    assert d.columns_retyped == (("z", "int64", "double"),)
    assert (d.rows_added, d.rows_removed) == (0, 0)              # common columns unchanged
    s = d.summary()
    assert "new column 'w'" in s and "dropped column 'y'" in s
    assert "'z' retyped int64 -> double" in s
    c = cached_diff(t, new)
    assert (c.rows_added, c.rows_removed, c.columns_retyped) == (0, 0, d.columns_retyped)


def test_retype_to_strings_changes_rows():
    t = base(200)
    d = diff_tables(t, replace(t, "z", [str(v) for v in t["z"].to_pylist()]))
    assert d.columns_retyped == (("z", "int64", "string"),) and d.rows_added == 200
    k = diff_tables(t, replace(t, "z", [str(v) for v in t["z"].to_pylist()]), key="id")
    assert k.cells_changed == (("z", 200),)


def test_null_rate_change_is_reported():
    t = base(1000)
    x = t["x"].to_pylist()
    x[:50] = [None] * 50
    d = diff_tables(t, replace(t, "x", x))
    assert d.null_rates == (("x", 0.0, 0.05),)
    assert "'x' nulls 0.0% -> 5.0%" in d.summary()
    x[:50] = [float("nan")] * 50                                  # NaN counts as missing too
    assert diff_tables(t, replace(t, "x", x)).null_rates == (("x", 0.0, 0.05),)
    x = t["x"].to_pylist()
    x[:5] = [None] * 5                                            # 0.5% < 1%: not reported
    assert diff_tables(t, replace(t, "x", x)).null_rates == ()


# --------------------------------------------------------------------------- drift

def numbers(n, shift=0.0, seed=0, scale=1.0):
    return pa.table({"x": np.random.default_rng(seed).normal(100 + shift, 10 * scale, n)})


def cats(n, shares, seed=0, values=("a", "b", "c", "d")):
    rng = np.random.default_rng(seed)
    return pa.table({"c": rng.choice(list(values)[:len(shares)], n, p=shares)})


@pytest.mark.parametrize("n,test", [(400, "ks"), (20000, "wasserstein")])
def test_numeric_drift_at_both_sample_sizes(n, test):
    assert (n <= SMALL_REFERENCE) == (test == "ks")
    base_, shifted = numbers(n, seed=1), numbers(n, shift=5, seed=2)      # +0.5 sigma
    d = diff_tables(base_, shifted)
    s = stat(d, "x")
    assert (s.test, s.kind, s.drifted, s.level) == (test, "numeric", True, "drift")
    assert s.threshold == (P_VALUE if test == "ks" else DISTANCE)
    assert (s.value < P_VALUE) if test == "ks" else (s.value >= DISTANCE)
    assert s.rows == (n, n) and s.psi is not None and s.psi > 0
    assert s.figures["mean"]["new"] - s.figures["mean"]["old"] == pytest.approx(5, abs=1.5)
    assert set(s.figures) == {"mean", "median", "p5", "p95"}
    assert f"'x' drifted ({'KS p=' if test == 'ks' else 'Wasserstein 0.'}" in d.summary()
    same = stat(diff_tables(base_, numbers(n, seed=3)), "x")            # resampled: no drift
    assert not same.drifted and same.level in ("stable", "moderate")


def test_wasserstein_value_is_the_shift_in_old_standard_deviations():
    s = stat(diff_tables(numbers(20000, seed=1), numbers(20000, shift=3, seed=2)), "x")
    assert s.value == pytest.approx(0.3, abs=0.03)
    text = s.text()
    assert text.startswith("'x' drifted (Wasserstein 0.3") and "σ ≥ 0.1; mean 99" in text
    small = stat(diff_tables(numbers(20000, seed=1), numbers(20000, shift=0.7, seed=2)), "x")
    assert small.level == "moderate" and not small.drifted                # 0.05 to 0.1
    assert small.text().startswith("'x' worth a look (Wasserstein 0.0")


def test_a_change_of_spread_is_drift_too():
    s = stat(diff_tables(numbers(20000, seed=1), numbers(20000, seed=2, scale=1.5)), "x")
    assert s.drifted and abs(s.figures["mean"]["new"] - s.figures["mean"]["old"]) < 1
    assert s.figures["p95"]["new"] > s.figures["p95"]["old"] + 5


@pytest.mark.parametrize("n,test", [(600, "chi_square"), (30000, "jensen_shannon")])
def test_categorical_drift_at_both_sample_sizes(n, test):
    old = cats(n, [0.4, 0.3, 0.2, 0.1], seed=1)
    new = cats(n, [0.25, 0.3, 0.2, 0.25], seed=2)
    d = diff_tables(old, new)
    s = stat(d, "c")
    assert (s.test, s.kind, s.drifted) == (test, "categorical", True)
    moved = s.figures["category"]
    assert moved["value"] in ("a", "d") and abs(moved["new"] - moved["old"]) > 0.1
    assert s.figures["new_categories"] == 0 and s.figures["vanished_categories"] == 0
    name = "chi-square p=" if test == "chi_square" else "Jensen-Shannon 0."
    assert f"'c' drifted ({name}" in d.summary() and f"{moved['value']!r} " in d.summary()
    same = stat(diff_tables(old, cats(n, [0.4, 0.3, 0.2, 0.1], seed=3)), "c")
    assert not same.drifted


@pytest.mark.parametrize("n,test", [(800, "z_test"), (5000, "jensen_shannon")])
def test_two_valued_columns(n, test):
    old = pa.table({"flag": np.random.default_rng(1).random(n) < 0.3})
    new = pa.table({"flag": np.random.default_rng(2).random(n) < 0.6})
    s = stat(diff_tables(old, new), "flag")
    assert (s.test, s.drifted) == (test, True)
    assert s.figures["category"]["value"] in ("true", "false")
    same = stat(diff_tables(old, pa.table({"flag": np.random.default_rng(3).random(n) < 0.3})),
                "flag")
    assert not same.drifted


@pytest.mark.parametrize("n,test", [(500, "chi_square"), (20000, "jensen_shannon")])
def test_integers_with_few_values_are_categories(n, test):
    rng = np.random.default_rng(0)
    old = pa.table({"month": rng.integers(1, 13, n), "rooms": rng.integers(1, 4, n)})
    new = pa.table({"month": np.where(rng.random(n) < 0.3, 13, rng.integers(1, 13, n)),
                    "rooms": rng.integers(1, 4, n)})
    d = diff_tables(old, new)
    month = stat(d, "month")
    assert (month.test, month.kind, month.drifted) == (test, "categorical", True)
    assert month.figures["category"]["value"] == "13" and month.figures["category"]["old"] == 0
    assert month.figures["new_categories"] == 1 and "'month' has 1 new category" in d.summary()
    assert stat(d, "rooms").kind == "categorical" and not stat(d, "rooms").drifted
    # floats with five values or fewer too (Evidently's rule), more are numbers
    f = pa.table({"f": rng.choice([0.5, 1.5, 2.5], n)})
    assert stat(diff_tables(f, f.slice(1)), "f").kind == "categorical"
    wide = pa.table({"w": rng.integers(0, 500, n)})
    assert stat(diff_tables(wide, wide.slice(1)), "w").kind == "numeric"


@pytest.mark.parametrize("old_n,new_n", [(1, 2), (3, 4), (MIN_ROWS - 1, 5000)])
def test_too_few_rows_to_judge_drift(old_n, new_n):
    old, new = numbers(old_n, seed=1), numbers(new_n, shift=50, seed=2)
    old = old.append_column("c", pa.array(["a"] * old_n))
    new = new.append_column("c", pa.array(["b"] * new_n))
    d = diff_tables(old, new)
    for s in d.drift:
        assert (s.level, s.value, s.drifted, s.psi) == ("too_few_rows", None, False, None)
        assert s.rows == (old_n, new_n)
    assert f"'x', 'c': too few rows to judge drift ({old_n:,} -> {new_n:,} rows)" in d.summary()
    assert "PSI" not in d.summary() and "drifted" not in d.summary()
    assert d.dataset_drift["columns"] == 0 and not d.dataset_drift["drifted"]


def test_dataset_drift_is_the_share_of_drifted_columns():
    n = 3000
    rng = np.random.default_rng(0)
    cols = {f"n{i}": rng.normal(0, 1, n) for i in range(4)}
    old = pa.table(cols)
    new = pa.table({k: v + (1.0 if k in ("n0", "n1") else 0.0) for k, v in cols.items()})
    d = diff_tables(old, new)
    assert d.dataset_drift == {"columns": 4, "drifted_columns": 2, "share": 0.5,
                               "threshold": 0.5, "drifted": True}
    assert "dataset drifted (2 of 4 columns)" in d.summary()
    assert [s.column for s in d.drift[:2]] == ["n0", "n1"] or \
        [s.column for s in d.drift[:2]] == ["n1", "n0"]            # drifted first
    one = diff_tables(old, pa.table({k: v + (1.0 if k == "n0" else 0.0) for k, v in cols.items()}))
    assert one.dataset_drift["share"] == 0.25 and not one.dataset_drift["drifted"]
    assert "dataset drifted" not in one.summary()


@pytest.mark.parametrize("n", [200, 5000])
def test_categorical_target_is_reported_first_even_when_stable(n):
    rng = np.random.default_rng(0)
    old = pa.table({"x": rng.normal(0, 1, n), "y": rng.choice(["cat", "dog"], n, p=[.5, .5])})
    new = pa.table({"x": rng.normal(2, 1, n), "y": rng.choice(["cat", "dog"], n, p=[.5, .5])})
    d = diff_tables(old, new, target="y")
    assert d.drift[0].column == "y" and d.drift[0].target and not d.drift[0].drifted
    assert d.target["column"] == "y" and d.target["kind"] == "categorical"
    assert [c["value"] for c in d.target["classes"]] == ["cat", "dog"]
    assert sum(c["new"] for c in d.target["classes"]) == pytest.approx(1.0)
    assert d.summary().startswith("label 'y': classes '")
    assert "'x' drifted" in d.summary() and "'y' drifted" not in d.summary()
    moved = pa.table({"x": old["x"], "y": rng.choice(["cat", "dog"], n, p=[.35, .65])})
    text = diff_tables(old, moved, target="y").summary()
    assert text.startswith("label 'y' drifted (")
    assert "'dog' 5" in text and ("% -> 6" in text or "% -> 7" in text)


def test_numeric_target_reports_quantiles():
    rng = np.random.default_rng(0)
    old = pa.table({"price": rng.normal(100, 10, 4000)})
    new = pa.table({"price": rng.normal(100, 10, 4000)})
    d = diff_tables(old, new, target="price")
    assert d.target["kind"] == "numeric" and d.target["classes"] is None
    assert set(d.target["quantiles"]) == {"mean", "p5", "p25", "median", "p75", "p95"}
    assert d.summary().startswith("label 'price': median ")
    assert ", p5 " in d.summary() and ", p95 " in d.summary()
    assert diff_tables(old, new, target="nosuch").target is None   # absent: no label


def test_drift_entries_json_shape():
    n = 3000
    rng = np.random.default_rng(0)
    old = pa.table({"x": rng.normal(0, 1, n), "c": rng.choice(["a", "b", "c"], n)})
    new = pa.table({"x": rng.normal(1, 1, n), "c": rng.choice(["a", "b", "c"], n)})
    d = json.loads(json.dumps(diff_tables(old, new).to_dict(), allow_nan=False))
    x, c = d["drift"]
    assert set(x) == {"column", "test", "value", "threshold", "drifted", "level", "kind", "psi",
                      "target", "rows_old", "rows_new", "mean", "median", "p5", "p95", "p", "q",
                      "basis"}
    assert set(x["mean"]) == {"old", "new"} and x["test"] == "wasserstein"
    assert set(c) == {"column", "test", "value", "threshold", "drifted", "level", "kind", "psi",
                      "target", "rows_old", "rows_new", "category", "new_categories",
                      "vanished_categories", "new_share", "p", "q", "basis"}
    assert set(c["category"]) == {"value", "old", "new"}
    assert (x["basis"], c["basis"]) == ("exact", "exact")  # 3,000 rows: all in the sample
    assert d["dataset_drift"]["drifted_columns"] == 1 and d["target"] is None


def test_diff_from_profiles_agrees_with_diff_tables():
    t = base(12000)
    x = t["x"].to_numpy()
    new = pa.concat_tables([replace(t, "x", x + 0.5), replace(base(300, seed=5), "x", x[:300])])
    new = new.slice(20)
    new = new.append_column("extra", pa.array(np.zeros(new.num_rows)))
    full = diff_tables(t, new, target="cat")
    (op, oh), (np_, nh) = profile_table(t), profile_table(new)
    fast = diff_from_profiles(op, row_hashes(t, t.column_names), np_,
                              row_hashes(new, t.column_names), target="cat")
    assert (fast.rows_added, fast.rows_removed) == (full.rows_added, full.rows_removed)
    assert fast.drift == full.drift and fast.null_rates == full.null_rates
    assert fast.target == full.target and fast.dataset_drift == full.dataset_drift
    assert fast.columns_added == full.columns_added == ("extra",)
    assert stat(full, "x").drifted and stat(full, "x").test == "wasserstein"
    assert cached_diff(t, new).drift == diff_tables(t, new).drift
    assert needs_rehash(op, np_) == t.column_names
    assert needs_rehash(op, profile_table(t)[0]) is None
    # and passing the cached profiles and hashes to diff_tables changes nothing
    again = diff_tables(t, new, old_profile=op, new_profile=np_, old_hashes=oh, new_hashes=nh,
                        target="cat")
    assert again == full


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 2**32 - 1), st.booleans())
def test_a_table_against_itself_has_no_change_and_no_drift(n, seed, shuffle):
    rng = np.random.default_rng(seed)
    t = pa.table({"x": rng.normal(0, 1, n), "k": rng.integers(0, 4, n),
                  "c": rng.choice(["a", "b", "c"], n), "f": rng.random(n) < 0.5,
                  "w": rng.integers(0, 10**6, n)})
    other = t.take(rng.permutation(n)) if shuffle else t
    for d in (diff_tables(t, other, target="c"), cached_diff(t, other)):
        assert (d.rows_added, d.rows_removed) == (0, 0)
        assert not any(s.drifted or s.level == "moderate" for s in d.drift)
        assert not d.dataset_drift["drifted"] and d.dataset_drift["drifted_columns"] == 0
        assert all(s.level == ("too_few_rows" if n < MIN_ROWS else "stable") for s in d.drift)
        assert "drifted" not in d.summary() and "worth a look" not in d.summary()


# --------------------------------------------------------------------------- keyed diffs

def test_key_changes_cells_rows_and_keys():
    t = base()
    x, y = t["x"].to_numpy().copy(), t["y"].to_numpy().copy()
    x[[10, 20, 30, 40, 50, 60, 70]] += 1.0                         # 7 cells of x
    y[[10, 20, 99]] += 1.0                                         # 3 cells of y, 1 new row
    new = replace(replace(t, "x", x), "y", y)
    new = new.filter(pa.array(~np.isin(np.arange(t.num_rows), [1, 2, 3, 4])))   # 4 keys gone
    extra = replace(base(6, seed=4), "id", np.arange(10000, 10006))              # 6 keys new
    new = pa.concat_tables([new, extra])
    new = new.take(np.random.default_rng(0).permutation(new.num_rows))           # any order
    d = diff_tables(t, new, key="id")
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (6, 4, 8)
    assert dict(d.cells_changed) == {"x": 7, "y": 3}
    assert d.key == ("id",)
    assert d.summary().startswith("+6 rows, -4, 8 changed")


def test_five_rows_seven_cells():
    t = base(1000)
    x, z = t["x"].to_numpy().copy(), t["z"].to_numpy().copy()
    x[[1, 2, 3, 4, 5]] -= 2.0
    z[[1, 2]] += 100
    d = diff_tables(t, replace(replace(t, "x", x), "z", z), key=["id"])
    assert d.rows_changed == 5 and d.cells_changed == (("x", 5), ("z", 2))
    assert sum(n for _, n in d.cells_changed) == 7


def test_nan_and_null_are_equal_cells():
    old = pa.table({"k": [1, 2, 3, 4], "v": [float("nan"), None, 1.0, float("nan")]})
    new = pa.table({"k": [1, 2, 3, 4], "v": [float("nan"), float("nan"), 1.0, 2.0]})
    d = diff_tables(old, new, key="k")
    assert d.rows_changed == 1 and d.cells_changed == (("v", 1),)
    assert (diff_tables(old, new).rows_added, diff_tables(old, new).rows_removed) == (1, 1)


def test_composite_key_and_retyped_key():
    old = pa.table({"a": [1, 1, 2], "b": ["x", "y", "x"], "v": [1, 2, 3]})
    new = pa.table({"a": [1.0, 1.0, 3.0], "b": ["x", "y", "x"], "v": [1, 5, 3]})
    d = diff_tables(old, new, key=["a", "b"])
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (1, 1, 1)


def test_duplicate_key_raises_naming_it():
    t = base(100)
    dup = pa.concat_tables([t, t.slice(42, 1)])
    with pytest.raises(TableError, match=r"duplicate key id = 42 in the new version"):
        diff_tables(t, dup, key="id")
    with pytest.raises(TableError, match=r"duplicate key .*old"):
        diff_tables(dup, t, key="id")


def test_missing_key_column_raises_naming_it():
    t = base(10)
    with pytest.raises(TableError, match="'listing_id'.*'id'"):
        diff_tables(t, t, key="listing_id")
    with pytest.raises(TableError, match="'x'.*new"):
        diff_tables(t, t.drop_columns(["x"]), key=["id", "x"])


def test_keyed_samples_are_json_and_frames():
    t = base(300).append_column("when", pa.array(np.arange(300).astype("datetime64[s]")))
    x = t["x"].to_numpy().copy()
    x[[5, 6]] = [np.nan, 7.0]
    new = pa.concat_tables([replace(t, "x", x).slice(2),
                            replace(t.slice(0, 3), "id", np.array([900, 901, 902]))])
    d = diff_tables(t, new, key="id", rows=2)
    json.dumps(d.to_dict(), allow_nan=False)
    assert [r["id"] for r in d.samples["added"]] == [900, 901]
    assert [r["id"] for r in d.samples["removed"]] == [0, 1]
    first = d.samples["changed"][0]
    assert first["key"] == {"id": 5} and first["columns"] == ["x"] and first["new"]["x"] is None
    assert isinstance(first["old"]["when"], str)
    frame = d.sample_frame("changed")
    assert list(frame.columns) == ["id", "x.old", "x.new"] and len(frame) == 2
    assert len(d.sample_frame("removed")) == 2
    with pytest.raises(ValueError):
        diff_tables(t, new, key="id").sample_frame("added")


# --------------------------------------------------------------------------- files end to end

def test_csv_parquet_and_jsonl_versions_of_the_same_data(tmp_path):
    t = base(500).drop_columns(["flag"])
    import pyarrow.csv as pcsv
    pcsv.write_csv(t, tmp_path / "a.csv")
    pq.write_table(t, tmp_path / "a.parquet")
    with open(tmp_path / "a.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in t.to_pylist())
    tables = [read_table(str(tmp_path / f), f.split(".")[1])
              for f in ("a.csv", "a.parquet", "a.jsonl")]
    for other in tables[1:]:
        d = diff_tables(tables[0], other, key="id")
        assert (d.rows_added, d.rows_removed, d.rows_changed) == (0, 0, 0)
        assert (diff_tables(tables[0], other).rows_added, d.columns_retyped) == (0, ())


def test_semicolon_csv_against_comma_csv(tmp_path):
    (tmp_path / "a.csv").write_text("id,price\n1,2.5\n2,3.0\n")
    (tmp_path / "b.csv").write_text("id;price\n1;2.5\n2;3.5\n3;1.0\n")
    d = diff_tables(read_table(str(tmp_path / "a.csv"), "csv"),
                    read_table(str(tmp_path / "b.csv"), "csv"), key="id")
    assert (d.rows_added, d.rows_changed, d.cells_changed) == (1, 1, (("price", 1),))


def test_nested_columns_diff():
    old = pa.table({"k": [1, 2], "tags": [["a"], ["b", "c"]], "m": [{"p": 1}, {"p": 2}]})
    new = pa.table({"k": [1, 2], "tags": [["a"], ["b"]], "m": [{"p": 1}, {"p": 2}]})
    d = diff_tables(old, new, key="k")
    assert d.rows_changed == 1 and d.cells_changed == (("tags", 1),)
    assert (diff_tables(old, new).rows_added, diff_tables(old, new).rows_removed) == (1, 1)


def test_empty_tables():
    t = base(10)
    d = diff_tables(t.slice(0, 0), t, key="id", rows=3)
    assert (d.rows_added, d.rows_removed, d.rows_changed) == (10, 0, 0)
    assert diff_tables(t.slice(0, 0), t.slice(0, 0)).summary() == "no changes (0 rows)"


# --------------------------------------------------------------------------- round trips

def test_real_diff_round_trips_through_json():
    t = base(500)
    x = t["x"].to_numpy().copy()
    x[:100] += 5
    new = replace(t, "x", x).drop_columns(["y"])
    for d in (diff_tables(t, new, key="id", rows=3), diff_tables(t, new)):
        assert TableDiff.from_dict(json.loads(json.dumps(d.to_dict(), allow_nan=False))) == d


names = st.text(min_size=1, max_size=8)
counts = st.integers(min_value=0, max_value=10**9)
rates = st.floats(min_value=0, max_value=1, allow_nan=False)
arrow_types = st.sampled_from(["int64", "double", "string", "timestamp[s]", "list<item: int64>"])
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5)
                           | st.floats(allow_nan=False, allow_infinity=False),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=6)
rows_st = st.lists(st.dictionaries(names, json_values, max_size=3), max_size=2)


@st.composite
def table_diffs(draw):
    key = draw(st.none() | st.lists(names, min_size=1, max_size=2).map(tuple))
    samples = draw(st.none() | st.fixed_dictionaries({
        "added": rows_st, "removed": rows_st,
        "changed": st.lists(st.fixed_dictionaries({
            "key": st.dictionaries(names, json_values, max_size=2),
            "old": st.dictionaries(names, json_values, max_size=2),
            "new": st.dictionaries(names, json_values, max_size=2),
            "columns": st.lists(names, max_size=2)}), max_size=2)}))
    return TableDiff(
        rows_old=draw(counts), rows_new=draw(counts), rows_added=draw(counts),
        rows_removed=draw(counts), rows_changed=None if key is None else draw(counts), key=key,
        columns_added=tuple(draw(st.lists(names, max_size=3))),
        columns_removed=tuple(draw(st.lists(names, max_size=3))),
        columns_retyped=tuple(draw(st.lists(st.tuples(names, arrow_types, arrow_types),
                                            max_size=3))),
        null_rates=tuple(draw(st.lists(st.tuples(names, rates, rates), max_size=3))),
        cells_changed=tuple(draw(st.dictionaries(names, counts, max_size=3)).items()),
        drift=tuple(draw(st.lists(st.builds(
            DriftStat, names, st.sampled_from(["ks", "chi_square", "wasserstein", "psi"]),
            st.none() | st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
            st.none() | st.sampled_from([0.05, 0.1]),
            st.sampled_from(["drift", "moderate", "stable", "too_few_rows"]),
            st.sampled_from(["numeric", "categorical"]),
            st.none() | st.tuples(counts, counts), st.none() | rates,
            st.sampled_from([{}, {"mean": {"old": 1.0, "new": 2.0}},
                             {"category": {"value": "a", "old": 0.1, "new": 0.2},
                              "new_categories": 1, "vanished_categories": 0, "new_share": 0.2}]),
            st.booleans()), max_size=4))),
        samples=samples)


@settings(max_examples=200, deadline=None)
@given(table_diffs())
def test_to_dict_from_dict_round_trip(d):
    assert TableDiff.from_dict(d.to_dict()) == d
    assert TableDiff.from_dict(json.loads(json.dumps(d.to_dict(), allow_nan=False))) == d
    assert isinstance(d.summary(), str) and "\n" not in d.summary()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["a", "b", None])), max_size=30),
       st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["a", "b", None])), max_size=30))
def test_multiset_counts_match_a_counter(old_rows, new_rows):
    from collections import Counter

    def table(rows):
        return pa.table({"n": pa.array([r[0] for r in rows], pa.int64()),
                         "s": pa.array([r[1] for r in rows], pa.string())})
    o, n = Counter(old_rows), Counter(new_rows)
    d = diff_tables(table(old_rows), table(new_rows), rows=100)
    assert d.rows_added == sum((n - o).values()) and d.rows_removed == sum((o - n).values())
    assert Counter((r["n"], r["s"]) for r in d.samples["added"]) == n - o
    assert cached_diff(table(old_rows), table(new_rows)).rows_added == d.rows_added


def test_no_common_columns_does_not_reuse_the_stored_hashes():
    old, new = pa.table({"a": [1, 2, 3]}), pa.table({"b": [1, 2, 3, 4, 5]})
    (op, oh), (np_, nh) = profile_table(old), profile_table(new)
    assert needs_rehash(op, np_) == []
    d = diff_tables(old, new, old_profile=op, new_profile=np_, old_hashes=oh, new_hashes=nh)
    assert (d.rows_added, d.rows_removed) == (2, 0)   # rows are indistinguishable over no columns
    assert cached_diff(old, new) == d


EXOTIC = {
    "map": pa.array([[("a", 1)], None, []], pa.map_(pa.string(), pa.int64())),
    "struct": pa.array([{"x": 1}, None, {"x": 2}]),
    "decimal": pa.array([1, None, 2], pa.decimal128(5, 1)),
    "duration": pa.array([1, None, 3], pa.duration("s")),
    "time": pa.array([1, None, 3], pa.time32("s")),
    "interval": pa.array([pa.MonthDayNano([1, 2, 3]), None, pa.MonthDayNano([0, 0, 0])]),
    "fixed_binary": pa.array([b"ab", None, b"\xff\xfe"], pa.binary(2)),
    "binary": pa.array([b"\xff", None, b"x"]),
    "dict_int": pa.array([1, None, 2]).dictionary_encode(),
    "null": pa.nulls(3),
    "half": pa.array(np.array([1, 2, 3], dtype=np.float16)),
    "tz": pa.array([1, None, 3], pa.timestamp("ms", tz="UTC")),
    "view": pa.array(["a", None, "b"], pa.string_view()),
}


@pytest.mark.parametrize("name", sorted(EXOTIC))
def test_exotic_column_types(name):
    t = pa.table({"k": [1, 2, 3], name: EXOTIC[name]})
    json.dumps(profile_table(t)[0], allow_nan=False)
    for key in (None, "k"):
        d = diff_tables(t, t.slice(1), key=key, rows=2)
        assert (d.rows_added, d.rows_removed) == (0, 1)
        json.dumps(d.to_dict(), allow_nan=False)
    assert diff_tables(t, t, key="k").rows_changed == 0


def test_integer_fast_path_agrees_with_the_join():
    t = base(3000)
    x = t["x"].to_numpy().copy()
    x[::97] += 1
    new = replace(t, "x", x).filter(pa.array(np.arange(3000) % 13 != 0))
    new = pa.concat_tables([new, replace(base(40, seed=7), "id", np.arange(5000, 5040))])
    new = new.take(np.random.default_rng(2).permutation(new.num_rows))
    as_text = [replace(tb, "id", pc.cast(tb["id"], pa.string())) for tb in (t, new)]
    fast, joined = diff_tables(t, new, key="id", rows=3), diff_tables(*as_text, key="id", rows=3)
    assert fast.rows_added == joined.rows_added == 40
    assert fast.rows_removed == joined.rows_removed == len(range(0, 3000, 13))
    assert fast.rows_changed == joined.rows_changed and fast.cells_changed == joined.cells_changed
    assert [r["new"]["x"] for r in fast.samples["changed"]] == \
        [r["new"]["x"] for r in joined.samples["changed"]]


def test_duplicate_string_and_composite_keys_raise():
    t = pa.table({"k": ["a", "b", "b"], "j": [1, 2, 2], "v": [1, 2, 3]})
    with pytest.raises(TableError, match=r"duplicate key k = 'b' in the old version \(2 rows\)"):
        diff_tables(t, t.slice(0, 2), key="k")
    with pytest.raises(TableError, match=r"duplicate key k, j = \('b', 2\)"):
        diff_tables(t, t.slice(0, 2), key=["k", "j"])


def test_null_key_values_match_each_other():
    old = pa.table({"k": ["a", None, "b"], "n": [1, None, 2], "v": [1, 2, 3]})
    new = pa.table({"k": [None, "a", "c"], "n": [None, 1, 3], "v": [5, 1, 4]})
    for key in ("k", "n", ["k", "n"]):
        d = diff_tables(old, new, key=key)
        assert (d.rows_added, d.rows_removed, d.rows_changed) == (1, 1, 1), key
        assert d.cells_changed == (("v", 1),)


# --------------------------------------------------------------------------- renamed columns


def test_a_dropped_and_an_added_column_with_the_same_values_are_a_rename():
    old = base(300, seed=3)
    new = old.rename_columns(["id", "x_renamed", "y", "z", "cat", "flag"])
    for d in (diff_tables(old, new), cached_diff(old, new), diff_tables(old, new, key="id")):
        assert d.columns_renamed == (("x", "x_renamed"),)
        assert d.columns_added == () and d.columns_removed == ()
        assert (d.rows_added, d.rows_removed) == (0, 0)
    assert diff_tables(old, new).summary() == (
        "+0 rows, -0; 'x' renamed to 'x_renamed'; 'id': identifier (unique per row), not "
        "tested for drift; 4 columns stable")


def test_a_rename_survives_reordered_rows_and_a_retype_to_float():
    old = pa.table({"id": [1, 2, 3], "a": [10, 20, 30]})
    new = pa.table({"id": [3, 1, 2], "b": [30.0, 10.0, 20.0]})
    assert diff_tables(old, new).columns_renamed == (("a", "b"),)


def test_different_values_are_a_drop_and_an_add_not_a_rename():
    old = pa.table({"id": [1, 2, 3], "a": [10, 20, 30]})
    new = pa.table({"id": [1, 2, 3], "b": [10, 20, 31]})
    d = diff_tables(old, new)
    assert d.columns_renamed == ()
    assert (d.columns_removed, d.columns_added) == (("a",), ("b",))
    assert d.summary() == ("+0 rows, -0; new column 'b'; dropped column 'a'; "
                           "'id': too few rows to judge drift (3 -> 3 rows)")


def test_renames_pair_one_to_one_in_column_order():
    old = pa.table({"id": [1, 2], "a": [5, 6], "b": [5, 6], "c": ["x", "y"]})
    new = pa.table({"id": [1, 2], "p": [5, 6], "q": [5, 6], "r": ["y", "z"]})
    d = diff_tables(old, new)
    assert d.columns_renamed == (("a", "p"), ("b", "q"))
    assert (d.columns_removed, d.columns_added) == (("c",), ("r",))


def test_profiles_without_column_digests_report_no_rename():
    # a profile cached by an older mlver has no "content": a drop and an add, as before
    old = base(100, seed=4)
    new = old.rename_columns(["id", "x2", "y", "z", "cat", "flag"])
    (po, ho), (pn, hn) = profile_table(old), profile_table(new)
    for p in (po, pn):
        for c in p["columns"]:
            del c["content"]
    d = diff_from_profiles(po, ho, pn, hn)
    assert d.columns_renamed == () and d.columns_removed == ("x",)
    # the tables at hand fill the digests in
    assert diff_tables(old, new, old_profile=po, new_profile=pn).columns_renamed == (("x", "x2"),)
    assert all("content" not in c for c in po["columns"])  # the caller's dicts are untouched


def test_columns_renamed_round_trip():
    d = TableDiff(1, 1, 0, 0, columns_renamed=(("a", "b"),))
    assert d.to_dict()["columns_renamed"] == [{"old": "a", "new": "b"}]
    assert TableDiff.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    assert TableDiff.from_dict({k: v for k, v in d.to_dict().items()
                                if k != "columns_renamed"}).columns_renamed == ()


# --------------------------------------------------------------------------- changed cells


def test_summary_names_the_most_changed_columns_first():
    d = TableDiff(10, 10, 0, 0, rows_changed=4_950_000, key=("id",),
                  cells_changed=(("is_fraud", 384_739), ("hour", 4_950_000)))
    assert d.summary() == "+0 rows, -0, 4,950,000 changed: hour 4,950,000, is_fraud 384,739"
    many = TableDiff(10, 10, 0, 0, rows_changed=9, key=("id",),
                     cells_changed=(("a", 1), ("b", 9), ("c", 3), ("d", 3), ("e", 2)))
    assert many.summary() == "+0 rows, -0, 9 changed: b 9, c 3, d 3 (+2 more)"
    odd = TableDiff(10, 10, 0, 0, rows_changed=1, key=("id",), cells_changed=(("a, b", 1),))
    assert odd.summary() == "+0 rows, -0, 1 changed: 'a, b' 1"


def test_keyed_diff_summary_counts_cells_per_column():
    old = base(200, seed=5)
    x = old["x"].to_numpy().copy()
    x[:6] += 1
    cat = old["cat"].to_pylist()
    cat[10:12] = ["zz", "zz"]
    new = replace(replace(old, "x", x), "cat", cat)
    d = diff_tables(old, new, key="id")
    assert d.summary().startswith("+0 rows, -0, 8 changed: x 6, cat 2;")


def test_duplicate_null_key_is_named_null():
    t = pa.table({"k": [None, None, 1], "v": [1, 2, 3]})
    with pytest.raises(TableError, match=r"duplicate key k = null in the old version"):
        diff_tables(t, t.slice(0, 1), key="k")
