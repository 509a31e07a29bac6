"""mlver.diff.duckdiff: the cross-check. The same pairs of small tables (parquet and CSV) are
diffed in memory (pandas/pyarrow) and on DuckDB; every figure of the two TableDiffs must be
equal (``to_dict()`` but for ``engine``), errors too. Then the routing through real snapshots."""
from __future__ import annotations

import errno
import json
import math
import os

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from _fixtures import assert_ok, cli, mrepo, proj, write
from mlver.base.progress import Progress
from mlver.diff import tablecache
from mlver.diff.duckdiff import diff_files
from mlver.diff.ducksource import Unsupported
from mlver.diff.profile import profile_file, profile_table, read_table
from mlver.diff.tableerrors import KeyColumnError
from mlver.diff.tables import TableDiff, diff_tables

__all__ = ["mrepo", "proj"]  # fixtures
NAN = math.nan


def save(table: pa.Table, path, fmt: str) -> str:
    path = f"{path}.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "jsonl":
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in table.to_pylist())
    else:
        pcsv.write_csv(table, path)
    return path


def both(tmp_path, old: pa.Table, new: pa.Table, fmt: str, key=None, rows=0):
    """(in-memory TableDiff or error text, DuckDB TableDiff or error text)."""
    a, b = save(old, tmp_path / "old", fmt), save(new, tmp_path / "new", fmt)
    out = []
    try:
        ta, tb = read_table(a, fmt, key), read_table(b, fmt, key)
        (pa_, ha), (pb_, hb) = profile_table(ta), profile_table(tb)
        out.append(diff_tables(ta, tb, key=key, rows=rows, old_profile=pa_, new_profile=pb_,
                               old_hashes=ha, new_hashes=hb))
    except KeyColumnError as e:
        out.append(f"error: {e}")
    tmp = tmp_path / "store-tmp"
    try:
        profiles = profile_file(a, fmt, key)[0], profile_file(b, fmt, key)[0]
        out.append(diff_files((a, fmt), (b, fmt), profiles, key, rows, None, str(tmp),
                              "64MB", Progress()))
    except KeyColumnError as e:
        out.append(f"error: {e}")
    assert not os.listdir(tmp) if tmp.exists() else True  # the spill folder is gone
    return out[0], out[1]


def same(tmp_path, old, new, key=None, rows=0, formats=("parquet", "csv")):
    """Assert both engines agree, for each format; return the DuckDB dict (the first)."""
    result = None
    for fmt in formats:
        p, d = both(tmp_path, old, new, fmt, key, rows)
        if isinstance(p, str) or isinstance(d, str):
            assert p == d
            result = result or p
            continue
        pd_, dd = p.to_dict(), d.to_dict()
        assert (pd_.pop("engine"), dd.pop("engine")) == ("pandas", "duckdb")
        assert json.dumps(dd, sort_keys=True) == json.dumps(pd_, sort_keys=True)
        result = result or dd
    return result


OLD = pa.table({
    "id": [1, 2, 3, 4, 5, 6, 7, 8],
    "price": [1.5, NAN, None, 4.0, 5.0, 6.25, NAN, 8.0],
    "city": ["a", "b", None, "d", "e", "f", "g", "h"],
    "qty": [10, 20, 30, None, 50, 60, 70, 80]})
NEW = pa.table({
    "id": [2, 1, 3, 4, 5, 9, 7, 10, 11],
    "price": [None, 1.5, NAN, 4.5, 5.0, 9.0, 7.0, 10.0, None],
    "city": ["b", "a", None, "d", "E", "i", "g", "j", None],
    "qty": [20.0, 10.0, 30.0, None, 50.0, 90.0, 70.5, 100.0, 110.0]})


def test_a_keyed_diff_gives_every_figure_the_in_memory_path_gives(tmp_path):
    d = same(tmp_path, OLD, NEW, key=["id"], rows=5)
    # null equals NaN; int 20 equals float 20.0; 'e' -> 'E', 4.0 -> 4.5, NaN -> 7.0, 70 -> 70.5
    assert (d["rows_added"], d["rows_removed"], d["rows_changed"]) == (3, 2, 3)
    assert d["cells_changed"] == {"price": 2, "city": 1, "qty": 1}
    assert [r["id"] for r in d["samples"]["added"]] == [9, 10, 11]
    assert [c["key"] for c in d["samples"]["changed"]] == [{"id": 4}, {"id": 5}, {"id": 7}]
    assert d["samples"]["changed"][2]["columns"] == ["price", "qty"]
    assert same(tmp_path, OLD, NEW, key=["id"])["samples"] is None
    old_form = {k: v for k, v in d.items() if k != "engine"}  # a diff cached by an older mlver
    assert TableDiff.from_dict(old_form).engine == "pandas"
    assert TableDiff.from_dict(dict(d, engine="duckdb")).to_dict() == dict(d, engine="duckdb")


def test_composite_and_null_keys_match_each_other(tmp_path):
    old = pa.table({"k1": ["x", None, "y", None], "k2": [1, 1, None, 2], "v": [1, 2, 3, 4]})
    new = pa.table({"k1": [None, "y", None, "z"], "k2": [1, None, 3, 1], "v": [2, 30, 4, 5]})
    d = same(tmp_path, old, new, key=["k1", "k2"], rows=3)
    assert (d["rows_added"], d["rows_removed"], d["rows_changed"]) == (2, 2, 1)
    assert d["samples"]["changed"][0]["key"] == {"k1": "y", "k2": None}


def test_json_lines_too(tmp_path):
    old = pa.table({"id": [1, 2, 3], "v": ["a", None, "c"], "w": [1.5, 2.0, None]})
    new = pa.table({"id": [3, 2, 4], "v": ["c", "b", "d"], "w": [None, 2.0, 1.0]})
    d = same(tmp_path, old, new, key="id", rows=3, formats=("jsonl",))
    assert (d["rows_added"], d["rows_removed"], d["rows_changed"]) == (1, 1, 1)


def test_columns_added_removed_and_renamed_and_strings(tmp_path):
    old = pa.table({"id": ["a", "b", "c"], "gone": [1, 2, 3], "was": ["p", "q", "r"]})
    new = pa.table({"id": ["c", "b", "d"], "came": [True, False, None], "now": ["p", "q", "r"]})
    d = same(tmp_path, old, new, key="id", rows=2)
    assert d["columns_renamed"] == [{"old": "was", "new": "now"}]
    assert d["cells_changed"] == {} and d["rows_changed"] == 0


def test_duplicate_and_missing_keys_fail_with_the_same_message(tmp_path):
    old = pa.table({"id": [5, 3, 5, 3, 3], "s": ["b", "a", "b", "a", "c"]})
    new = pa.table({"id": [1, 2, 2], "s": ["x", "y", "y"]})
    assert same(tmp_path, old, new, key="id") == \
        "error: duplicate key id = 3 in the old version (3 rows)"
    assert same(tmp_path, old, new, key="s").startswith("error: duplicate key s = 'b' in the old")
    assert same(tmp_path, new, new, key=["s", "id"]) == \
        "error: duplicate key s, id = ('y', 2) in the old version (2 rows)"
    ok = pa.table({"id": [1, 2, 3], "s": ["x", "y", "z"]})
    assert same(tmp_path, ok, new, key="s") == \
        "error: duplicate key s = 'y' in the new version (2 rows)"
    nulls = pa.table({"id": [None, 4, None, 4], "s": ["x", "y", "z", "w"]})
    assert same(tmp_path, nulls, ok, key="id") == \
        "error: duplicate key id = null in the old version (2 rows)"
    assert same(tmp_path, ok, ok, key="nosuch").startswith("error: key column 'nosuch' not found")


def test_unkeyed_samples_are_the_same_rows(tmp_path):
    old = pa.table({"a": [1, 1, 2, 3, 3, 3], "b": ["x", "x", "y", None, None, None]})
    new = pa.table({"a": [3, 1.0, 4, 3, 1, 1], "b": [None, "x", "z", None, "x", "x"]})
    d = same(tmp_path, old, new, rows=10)
    assert (d["rows_added"], d["rows_removed"]) == (2, 2)
    assert d["samples"]["added"] == [{"a": 4.0, "b": "z"}, {"a": 1.0, "b": "x"}]


def test_types_duckdb_cannot_compare_alike_fall_back(tmp_path):
    old = pa.table({"id": [1.5, 2.5], "v": [1, 2]})  # a float key
    a, b = save(old, tmp_path / "o", "parquet"), save(old, tmp_path / "n", "parquet")
    profiles = profile_file(a, "parquet")[0], profile_file(b, "parquet")[0]
    with pytest.raises(Unsupported):
        diff_files((a, "parquet"), (b, "parquet"), profiles, ["id"], 0, None,
                   str(tmp_path / "t"), None, Progress())
    assert os.listdir(tmp_path / "t") == []


def test_routing_through_snapshots_says_which_engine_ran(mrepo, proj, monkeypatch):
    for table in (OLD, NEW):
        pcsv.write_csv(table, str(proj / "t.csv"))
        assert mrepo.snapshot("m", inputs={"t": "t.csv"}).created
    write(proj / "mlver.toml", '[diff]\nmemory = "100MB"\n')
    monkeypatch.setenv("MLVER_TABLE_ENGINE", "duckdb")
    duck = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--key", "id", "--rows", "3",
                                    "--json")))["inputs"]["t"]["table"]
    assert duck["engine"] == "duckdb"
    monkeypatch.setenv("MLVER_TABLE_ENGINE", "pandas")
    mem = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--key", "id", "--rows", "3",
                                   "--json")))["inputs"]["t"]["table"]
    assert mem.pop("engine") == "pandas" and duck.pop("engine") == "duckdb" and mem == duck
    assert os.listdir(proj / ".mlver" / "tmp") == [] or not any(
        n.split("-")[1:2] == ["duck"] for n in os.listdir(proj / ".mlver" / "tmp"))
    # auto: a small table stays in memory
    monkeypatch.delenv("MLVER_TABLE_ENGINE")
    assert os.path.getsize(proj / "t.csv") < tablecache.DUCKDB_TEXT_BYTES
    auto = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--key", "id", "--json")))
    assert auto["inputs"]["t"]["table"]["engine"] == "pandas"
    # auto: a big table goes to DuckDB; one DuckDB would compare otherwise stays in memory
    monkeypatch.setattr(tablecache, "DUCKDB_TEXT_BYTES", 10)
    big = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--key", "id", "--json")))
    assert big["inputs"]["t"]["table"]["engine"] == "duckdb"
    floats = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--key", "price", "--json")))
    assert floats["inputs"]["t"]["note"].startswith("not diffed by key (duplicate key price")
    by_qty = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--key", "qty", "--json")))
    assert by_qty["inputs"]["t"]["table"]["engine"] == "pandas"  # int vs float key


@pytest.mark.parametrize("old_names, key", [(["id", "v"], "nosuch"), (["id", "v"], "v"),
                                            (["v", "w"], "id")])
def test_a_key_missing_from_cached_profiles_tables_is_a_key_error(tmp_path, old_names, key):
    # profiles read from the cache were made without the key: the key is checked again
    old = pa.table({old_names[0]: [1, 2], old_names[1]: ["a", "b"]})
    new = pa.table({"id": [1, 2], "w": ["a", "c"]})
    a, b = save(old, tmp_path / "o", "parquet"), save(new, tmp_path / "n", "parquet")
    profiles = profile_file(a, "parquet")[0], profile_file(b, "parquet")[0]
    with pytest.raises(KeyColumnError, match=f"key column '{key}' not found"):
        diff_files((a, "parquet"), (b, "parquet"), profiles, [key], 0, None,
                   str(tmp_path / "t"), None, Progress())
    assert os.listdir(tmp_path / "t") == []


def test_no_room_for_the_copies_is_a_note_not_a_failed_diff(mrepo, proj, monkeypatch):
    for table in (OLD, NEW):
        pcsv.write_csv(table, str(proj / "t.csv"))
        assert mrepo.snapshot("m", inputs={"t": "t.csv"}).created
    monkeypatch.setenv("MLVER_TABLE_ENGINE", "duckdb")

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(tablecache.tempfile, "mkdtemp", full)
    got = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--key", "id", "--json")))
    assert "No space left on device" in got["inputs"]["t"]["note"]


def test_nan_is_missing_though_parquet_statistics_leave_it_out(tmp_path):
    # min/max statistics skip NaN: DuckDB's optimizer took isnan() for false everywhere
    old = pa.table({"id": [1, 2, 3], "x": [None, 0.0, 1.0]})
    new = pa.table({"id": [1, 2, 3], "x": [NAN, 1.0, 2.0]})
    d = same(tmp_path, old, new, key="id", rows=3)
    assert d["cells_changed"] == {"x": 2}
    assert [c["key"]["id"] for c in d["samples"]["changed"]] == [2, 3]


def test_a_column_that_changes_kind_counts_as_the_row_hashes_do(tmp_path):
    # a number's null hashes unlike a text's or a bool's: those cells differ too
    old = pa.table({"id": [1, 2, 3], "b": [True, False, None], "f": [1.5, NAN, None],
                    "s": ["a", None, None]})
    new = pa.table({"id": [1, 2, 3], "b": [1, 0, None], "f": ["1.5", None, None],
                    "s": [True, None, False]})
    d = same(tmp_path, old, new, key="id", formats=("parquet",))
    assert d["cells_changed"] == {"b": 3, "f": 3, "s": 2}
    # text and bytes of equal bytes hash alike: DuckDB would call them different
    old, new = pa.table({"id": [1], "v": ["a"]}), pa.table({"id": [1], "v": [b"a"]})
    a, b = save(old, tmp_path / "o", "parquet"), save(new, tmp_path / "n", "parquet")
    profiles = profile_file(a, "parquet")[0], profile_file(b, "parquet")[0]
    with pytest.raises(Unsupported):
        diff_files((a, "parquet"), (b, "parquet"), profiles, ["id"], 0, None,
                   str(tmp_path / "t"), None, Progress())


def test_a_keyed_duckdb_diff_makes_no_row_hashes_and_a_later_unkeyed_diff_streams_them(
        mrepo, proj, monkeypatch):
    """A keyed join needs no row hashes (at 100M rows, sorting and storing them cost more
    than the rest of the profile): the profiles it caches have none, but the content
    digests that tell renames; an unkeyed diff after it streams the hashes and answers as
    a fresh store does."""
    for table in (OLD, NEW):
        pq.write_table(table, str(proj / "t.parquet"))
        assert mrepo.snapshot("m", inputs={"t": "t.parquet"}).created
    monkeypatch.setenv("MLVER_TABLE_ENGINE", "duckdb")
    keyed = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--key", "id", "--json")))
    assert keyed["inputs"]["t"]["table"]["engine"] == "duckdb"
    blobs = [mrepo.record(mrepo.resolve(f"m@{v}")).inputs["t"].oid for v in (1, 2)]
    index = mrepo.store.index
    assert all(index.get_derived(tablecache.PROFILE_KIND, b) for b in blobs)
    assert not any(index.get_derived(tablecache.HASHES_KIND, b) for b in blobs)
    profile = tablecache.cached_profile(mrepo.store, blobs[0])
    assert all("content" in c for c in profile["columns"])  # renames can still be told
    monkeypatch.delenv("MLVER_TABLE_ENGINE")
    unkeyed = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--json")))["inputs"]["t"]
    truth = diff_tables(OLD, NEW)
    assert (unkeyed["table"]["rows_added"], unkeyed["table"]["rows_removed"]) == \
        (truth.rows_added, truth.rows_removed)
