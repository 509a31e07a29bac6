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

from mlver.diff.profile import profile_table, read_table, row_hashes
from mlver.diff.tableerrors import TableError
from mlver.diff.tables import (PSI_DRIFT, PSI_MODERATE, DriftStat, TableDiff, diff_from_profiles,
                               diff_tables, needs_rehash)


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


def psi(diff: TableDiff, column: str) -> DriftStat:
    return next(s for s in diff.drift if s.column == column and s.metric == "psi")


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
    assert all(s.value == 0 for s in d.drift if s.metric == "psi")
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

def test_shift_by_three_std_drifts_only_that_column():
    t = base()
    x = t["x"].to_numpy()
    d = diff_tables(t, replace(t, "x", x + 3 * x.std()))
    assert psi(d, "x").value >= PSI_DRIFT and psi(d, "x").drifted
    assert d.drift[0].column == "x"                                # highest PSI first
    for name in ("id", "y", "z", "cat", "flag"):
        assert psi(d, name).value < PSI_MODERATE and not psi(d, name).drifted
    mean = next(s for s in d.drift if s.metric == "mean_delta" and s.column == "x")
    assert mean.value == pytest.approx(3 * x.std(), rel=1e-4) and not mean.drifted
    assert "'x' drifted (PSI" in d.summary()


def test_resampling_the_same_distribution_does_not_drift():
    d = diff_tables(base(20000, seed=1), base(20000, seed=2))
    assert all(s.value < PSI_MODERATE for s in d.drift if s.metric == "psi")


def test_new_category_at_twenty_percent_drifts():
    t = base()
    cats = t["cat"].to_numpy(zero_copy_only=False).copy()
    cats[: t.num_rows // 5] = "new"
    d = diff_tables(t, replace(t, "cat", cats))
    assert psi(d, "cat").drifted
    new = next(s for s in d.drift if s.metric == "new_categories")
    assert (new.column, new.value, new.drifted) == ("cat", 1.0, True)
    assert "'cat' has 1 new category" in d.summary()


def test_rare_new_category_and_vanished_category():
    t = base()
    cats = t["cat"].to_numpy(zero_copy_only=False).copy()
    cats[:3] = "rare"                                              # 0.06% of rows
    cats[cats == "d"] = "c"                                        # "d" vanishes
    d = diff_tables(t, replace(t, "cat", cats))
    stats = {s.metric: s for s in d.drift if s.column == "cat"}
    assert stats["new_categories"].value == 1 and not stats["new_categories"].drifted
    assert stats["vanished_categories"].value == 1 and stats["vanished_categories"].drifted


def test_psi_values_are_rounded_and_sorted():
    t = base()
    d = diff_tables(t, replace(t, "y", t["y"].to_numpy() * 1.3))
    values = [s.value for s in d.drift if s.metric == "psi"]
    assert values == sorted(values, reverse=True)
    assert all(v == round(v, 4) for v in values)
    assert {s.column for s in d.drift if s.metric == "psi"} == set(t.column_names)


def test_diff_from_profiles_agrees_with_diff_tables():
    t = base()
    x = t["x"].to_numpy()
    new = pa.concat_tables([replace(t, "x", x + 0.5), replace(base(300, seed=5), "x", x[:300])])
    new = new.slice(20)
    new = new.append_column("extra", pa.array(np.zeros(new.num_rows)))
    full = diff_tables(t, new)
    fast = cached_diff(t, new)
    assert (fast.rows_added, fast.rows_removed) == (full.rows_added, full.rows_removed)
    assert fast.drift == full.drift and fast.null_rates == full.null_rates
    assert fast.columns_added == full.columns_added == ("extra",)
    (op, oh), (np_, nh) = profile_table(t), profile_table(new)
    assert needs_rehash(op, np_) == t.column_names
    assert needs_rehash(op, profile_table(t)[0]) is None
    # and passing the cached profiles and hashes to diff_tables changes nothing
    again = diff_tables(t, new, old_profile=op, new_profile=np_, old_hashes=oh, new_hashes=nh)
    assert again == full


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
        drift=tuple(draw(st.lists(st.builds(DriftStat, names, st.sampled_from(
            ["psi", "mean_delta", "new_categories"]), st.floats(allow_nan=False,
            allow_infinity=False), st.booleans()), max_size=4))),
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
    assert diff_tables(old, new).summary() == "+0 rows, -0; 'x' renamed to 'x_renamed'"


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
    assert d.summary() == "+0 rows, -0; new column 'b'; dropped column 'a'"


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
