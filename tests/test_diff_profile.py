"""Tests of mlver.diff.profile: format detection, robust reading, profiles, row hashes."""
from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import mlver.diff.tables  # noqa: F401  (the import test below finds the modules through it)
from mlver.diff.colhash import row_hashes
from mlver.diff.profile import (
    detect_format,
    profile_file,
    profile_table,
    read_table,
    row_hashes_file,
)
from mlver.diff.profiler import MAX_CATEGORIES, SAMPLE_ROWS, Profiler, decode_sample
from mlver.diff.tableerrors import TableError
from mlver.diff.tableformat import sniff_delimiter


def write(tmp_path, name, data: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


# --------------------------------------------------------------------------- detect_format

@pytest.mark.parametrize("name,head,expected", [
    ("a.csv", b"x,y\n1,2\n", "csv"),
    ("A.CSV", b"x,y\n1,2\n", "csv"),
    ("a.tsv", b"x\ty\n", "tsv"),
    ("a.jsonl", b'{"x": 1}\n', "jsonl"),
    ("a.ndjson", b'{"x": 1}\n', "jsonl"),
    ("a.parquet", b"PAR1\x15\x04", "parquet"),
    ("a.pq", b"PAR1\x15\x04", "parquet"),
    ("model.bin", b"PAR1\x15\x04", "parquet"),       # magic wins over the name
    ("a.parquet", b"x,y\n1,2\n", None),             # named parquet, is not
    ("a.csv", b"x,y\n\x00\x01\x02", None),           # binary named .csv
    ("a.csv", "x,y\ncaf\xe9\n".encode("latin-1"), None),
    ("a.csv", "x\ncafé".encode()[:-1], "csv"),      # head cut inside a UTF-8 character
    ("a.txt", b"x,y\n1,2\n", None),
    ("a.csv.gz", gzip.compress(b"x,y\n1,2\n", mtime=0), "csv:gzip"),          # compressed text tables
    ("a.tsv.bz2", bz2.compress(b"x\ty\n1\t2\n"), "tsv:bz2"),
    ("a.jsonl.xz", lzma.compress(b'{"x": 1}\n'), "jsonl:xz"),
    ("a.csv.zst", b"\x28\xb5\x2f\xfd\x00", "csv:zstd"),                # magic only: read decides
    ("a.csv.gz", gzip.compress(b"x,y\n\x00\x01", mtime=0)[:40], None),          # binary inside
    ("a.csv.gz", b"x,y\n1,2\n", None),                                  # named .gz, is not
    ("a.bin.gz", gzip.compress(b"x,y\n1,2\n", mtime=0), None),
    ("a.parquet.gz", gzip.compress(b"x", mtime=0), None),
    ("a.csv", b"", "csv"),
])
def test_detect_format(name, head, expected):
    assert detect_format(name, head) == expected


# --------------------------------------------------------------------------- read_table

def test_semicolon_csv_is_read_with_its_delimiter(tmp_path):
    path = write(tmp_path, "a.csv", "id;name;price\n1;a,b;2.5\n2;c;3.0\n")
    t = read_table(path, "csv")
    assert t.column_names == ["id", "name", "price"]
    assert t["name"].to_pylist() == ["a,b", "c"]
    assert t["price"].to_pylist() == [2.5, 3.0]


@pytest.mark.parametrize("delim", ["|", "\t", ","])
def test_other_delimiters(tmp_path, delim):
    path = write(tmp_path, "a.csv", delim.join(["a", "b", "c"]) + "\n" + delim.join("123") + "\n")
    t = read_table(path, "csv")
    assert t.column_names == ["a", "b", "c"] and t.num_rows == 1


def test_tsv_with_commas_inside_values(tmp_path):
    path = write(tmp_path, "a.tsv", "a\tb\n1,5\tx, y\n2,5\tz\n")
    assert read_table(path, "tsv")["b"].to_pylist() == ["x, y", "z"]


def test_single_column_csv(tmp_path):
    t = read_table(write(tmp_path, "a.csv", "value\n1\n2\n3\n"), "csv")
    assert t.column_names == ["value"] and t.num_rows == 3


def test_quoted_delimiters_do_not_confuse_the_sniffer():
    assert sniff_delimiter(b'a;b\n"1,2,3";4\n"5,6";7\n', True) == ";"


def test_inconsistent_delimiters_raise():
    with pytest.raises(TableError):
        sniff_delimiter(b"a,b;c\n1;2\n1,2,3,4|5\n", True)


@pytest.mark.parametrize("content", [
    "a,b,c\n1,2,3\n4,5\n6,7,8,9\n",          # ragged in the head
    "a,b\n" + "1,2\n" * 300000 + "1,2,3\n",   # ragged far beyond the head
])
def test_malformed_csv_raises_table_error(tmp_path, content):
    with pytest.raises(TableError):
        read_table(write(tmp_path, "bad.csv", content), "csv")


def test_binary_named_csv(tmp_path):
    path = write(tmp_path, "model.csv", bytes(range(256)) * 100)
    with pytest.raises(TableError):
        read_table(path, "csv")


def test_latin1_text_is_a_table_error(tmp_path):
    with pytest.raises(TableError):
        read_table(write(tmp_path, "a.csv", "x,y\n1,caf\xe9\n".encode("latin-1")), "csv")


def test_latin1_beyond_the_head_is_a_table_error(tmp_path):
    body = "x,y\n" + "1,plain\n" * 200000 + "2,caf\xe9\n"
    with pytest.raises(TableError):
        read_table(write(tmp_path, "a.csv", body.encode("latin-1")), "csv")


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path, content):
    with pytest.raises(TableError):
        read_table(write(tmp_path, "a.csv", content), "csv")


def test_header_only_csv_has_no_rows(tmp_path):
    t = read_table(write(tmp_path, "a.csv", "a,b\n"), "csv")
    assert t.column_names == ["a", "b"] and t.num_rows == 0


def test_huge_single_line(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_bytes(b"x" * (50 << 20) + b"\n")
    with pytest.raises(TableError, match="first line longer"):
        read_table(str(path), "csv")


def test_huge_row_is_a_table_error_or_read_correctly(tmp_path):
    for size in (50 << 20, 70 << 20):  # pyarrow's limit lies between 1 and 2 blocks
        path = write(tmp_path, "a.csv", "a,b\n1," + "x" * size + "\n2,y\n")
        try:
            t = read_table(path, "csv")
        except TableError:
            continue
        assert t["a"].to_pylist() == [1, 2] and len(t["b"][0].as_py()) == size


def test_a_long_row_below_the_limit_is_read(tmp_path):
    path = write(tmp_path, "a.csv", "a,b\n1," + "x" * (20 << 20) + "\n2,y\n")
    t = read_table(path, "csv")
    assert t["a"].to_pylist() == [1, 2] and len(t["b"][0].as_py()) == 20 << 20


def test_quoted_newlines_across_blocks_are_read(tmp_path):
    rows = [f'{i},"line one\nline two, {i}"' if i % 2 else f"{i},plain" for i in range(400000)]
    path = write(tmp_path, "a.csv", "id,text\n" + "\n".join(rows) + "\n")
    t = read_table(path, "csv")
    assert t.num_rows == 400000
    assert t["text"][1].as_py() == "line one\nline two, 1"


def test_column_type_changing_late_is_read(tmp_path):
    path = write(tmp_path, "a.csv", "a,b\n" + "1,2\n" * 300000 + "x,3\n")
    t = read_table(path, "csv")
    assert t.num_rows == 300001 and t["a"][-1].as_py() == "x"


def test_missing_key_column_names_it(tmp_path):
    path = write(tmp_path, "a.csv", "id,price\n1,2\n")
    with pytest.raises(TableError, match="'listing_id'.*'id', 'price'"):
        read_table(path, "csv", key=["listing_id"])
    assert read_table(path, "csv", key=["id"]).num_rows == 1


def test_missing_file_is_a_table_error(tmp_path):
    with pytest.raises(TableError):
        read_table(str(tmp_path / "nope.csv"), "csv")


def test_duplicate_column_names_are_renamed(tmp_path):
    t = read_table(write(tmp_path, "a.csv", "a,a,a.1,b\n1,2,3,4\n"), "csv")
    assert len(set(t.column_names)) == 4 and t.column_names[0] == "a" and "b" in t.column_names


def test_parquet_round_trip(tmp_path):
    table = pa.table({"a": [1, 2, None], "b": ["x", None, "z"], "c": [0.5, None, 2.0]})
    pq.write_table(table, tmp_path / "a.parquet")
    path = str(tmp_path / "a.parquet")
    with open(path, "rb") as fh:
        assert detect_format(path, fh.read(64)) == "parquet"
    back = read_table(path, "parquet")
    assert back.equals(table)
    assert profile_table(back)[1].tolist() == profile_table(table)[1].tolist()


def test_parquet_garbage_raises(tmp_path):
    with pytest.raises(TableError):
        read_table(write(tmp_path, "a.parquet", b"PAR1 but not really"), "parquet")


def test_jsonl_round_trip(tmp_path):
    lines = [{"id": 1, "tags": ["a", "b"], "meta": {"k": 1.5}}, {"id": 2, "tags": [], "meta": None}]
    path = write(tmp_path, "a.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    t = read_table(path, "jsonl")
    assert t.to_pylist() == lines
    profile, hashes = profile_table(t)
    json.dumps(profile, allow_nan=False)
    assert len(set(hashes.tolist())) == 2


@pytest.mark.parametrize("content", ["[1, 2, 3]\n", '{"a": 1}\n{"a": "x"\n', "\x00\x01"])
def test_bad_jsonl_raises(tmp_path, content):
    with pytest.raises(TableError):
        read_table(write(tmp_path, "a.jsonl", content), "jsonl")


# --------------------------------------------------------------------------- profiles

def sample_table(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(10, 2, n)
    x[:7] = np.nan
    return pa.table({
        "id": np.arange(n),
        "x": pa.array(x, from_pandas=False),
        "i": pa.array([None if k % 10 == 0 else int(k) for k in rng.integers(0, 50, n)]),
        "inf": np.where(np.arange(n) % 100 == 0, np.inf, 1.0),
        "cat": rng.choice(["a", "b", "c"], n),
        "flag": rng.random(n) > 0.3,
        "empty": pa.nulls(n, pa.float64()),
        "when": pa.array(np.arange(n).astype("datetime64[s]")),
        "dict": pa.array(rng.choice(["p", "q"], n)).dictionary_encode(),
    })


def col(profile, name):
    return next(c for c in profile["columns"] if c["name"] == name)


def test_profile_shape_and_values():
    t = sample_table()
    profile, hashes = profile_table(t)
    json.dumps(profile, allow_nan=False)  # no NaN or infinity anywhere
    assert profile["format"] == 3 and profile["rows"] == 2000
    assert profile["row_hash_columns"] == t.column_names
    x = col(profile, "x")
    assert x["type"] == "double" and x["nulls"] == 7 and x["categories"] is None
    q = x["numeric"]["quantiles"]
    assert len(q) == 101 and q == sorted(q)
    finite = t["x"].to_numpy()[7:]
    assert q[0] == x["numeric"]["min"] == finite.min() and q[100] == finite.max()
    assert q[50] == pytest.approx(np.median(finite))
    assert q[5] == pytest.approx(np.quantile(finite, 0.05))
    assert x["numeric"]["mean"] == pytest.approx(finite.mean())
    assert x["numeric"]["std"] == pytest.approx(finite.std())
    assert x["numeric"]["count"] == 1993 and x["distinct"] is None and x["values"] is None
    assert np.array_equal(decode_sample(x), np.sort(finite))      # 2000 rows: all in the sample
    i = col(profile, "i")
    assert i["nulls"] == t["i"].null_count > 0 and i["sample"] is None
    assert i["distinct"] == len(set(t["i"].to_pylist()) - {None}) == len(i["values"]["value"])
    assert sum(i["values"]["count"]) == 2000 - i["nulls"]
    assert i["numeric"]["quantiles"][50] == pytest.approx(
        np.median([v for v in t["i"].to_pylist() if v is not None]))
    assert col(profile, "inf")["numeric"]["max"] == 1.0        # stats over finite values
    assert col(profile, "empty")["numeric"] is None and col(profile, "empty")["nulls"] == 2000
    cats = col(profile, "cat")["categories"]
    assert set(cats) == {"a", "b", "c"} and sum(cats.values()) == 2000
    assert set(col(profile, "flag")["categories"]) == {"true", "false"}
    assert set(col(profile, "dict")["categories"]) == {"p", "q"}
    assert col(profile, "when")["numeric"] is None
    assert hashes.dtype == np.uint64 and len(hashes) == 2000
    assert np.all(hashes[1:] >= hashes[:-1])


def test_empty_table_profile():
    t = sample_table().slice(0, 0)
    profile, hashes = profile_table(t)
    json.dumps(profile, allow_nan=False)
    assert profile["rows"] == 0 and len(hashes) == 0
    assert [c["name"] for c in profile["columns"]] == t.column_names


@pytest.mark.parametrize("n_distinct,n", [(MAX_CATEGORIES, 5000), (MAX_CATEGORIES + 1, 5000),
                                          (30000, 60000), (500, 60000)])
def test_categories_limit_and_exact_distinct(n_distinct, n):
    values = [f"v{k % n_distinct}" for k in range(n)]
    profile, _ = profile_table(pa.table({"s": values}))
    c = col(profile, "s")
    assert c["distinct"] == (n_distinct if n_distinct <= MAX_CATEGORIES else None)
    assert (c["categories"] is None) == (n_distinct > MAX_CATEGORIES)


def test_a_profile_does_not_depend_on_the_batches():
    t = sample_table(30000)
    whole = profile_table(t)
    profiler = Profiler()
    for start in range(0, t.num_rows, 7001):
        profiler.add(t.slice(start, 7001))
    parts = profiler.finish()
    assert np.array_equal(whole[1], parts[1])
    for a, b in zip(whole[0]["columns"], parts[0]["columns"]):
        assert a.keys() == b.keys()
        for k in a:
            if k == "numeric" and a[k]:
                for s in a[k]:  # moments merged in another order: equal to rounding
                    assert a[k][s] == pytest.approx(b[k][s], rel=1e-9), (a["name"], s)
            else:
                assert a[k] == b[k], (a["name"], k)


def test_large_columns_keep_a_bounded_uniform_sample():
    n = SAMPLE_ROWS * 5
    rng = np.random.default_rng(3)
    t = pa.table({"u": rng.uniform(0, 1, n), "k": rng.integers(0, 7, n)})
    profile, _ = profile_table(t)
    u = col(profile, "u")
    s = decode_sample(u)
    assert len(s) == SAMPLE_ROWS and np.all(s[1:] >= s[:-1])
    assert abs(s.mean() - 0.5) < 0.01 and abs(np.median(s) - 0.5) < 0.02
    assert u["numeric"]["count"] == n and u["numeric"]["min"] == t["u"].to_numpy().min()
    assert u["numeric"]["quantiles"][50] == pytest.approx(0.5, abs=0.02)
    k = col(profile, "k")                      # few values: exact counts, no sample
    assert k["sample"] is None and sum(k["values"]["count"]) == n
    assert k["values"]["value"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    # the sample is a set of rows: positions, not values, decide
    assert len(json.dumps(profile)) < 200_000


def write_versions(tmp_path, t):
    """The same table as csv, tsv.gz, csv.bz2, csv.xz, jsonl.gz and parquet."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq_
    out = {}
    buf = pa.BufferOutputStream()
    pcsv.write_csv(t, buf)
    text = buf.getvalue().to_pybytes()
    out["csv"] = write(tmp_path, "t.csv", text)
    out["tsv:gzip"] = write(tmp_path, "t.tsv.gz", gzip.compress(text.replace(b",", b"\t")))
    out["csv:bz2"] = write(tmp_path, "t.csv.bz2", bz2.compress(text))
    out["csv:xz"] = write(tmp_path, "t.csv.xz", lzma.compress(text))
    lines = "".join(json.dumps(r) + "\n" for r in t.to_pylist())
    out["jsonl:gzip"] = write(tmp_path, "t.jsonl.gz", gzip.compress(lines.encode()))
    out["parquet"] = str(tmp_path / "t.parquet")
    pq_.write_table(t, out["parquet"])
    return out


def test_compressed_and_streamed_files_profile_like_the_table(tmp_path):
    rng = np.random.default_rng(4)
    n = 3000
    t = pa.table({"id": np.arange(n), "x": np.round(rng.normal(0, 1, n), 3),
                  "c": rng.choice(["a", "b"], n)})
    for fmt, path in write_versions(tmp_path, t).items():
        with open(path, "rb") as f:
            assert detect_format(path, f.read(65536)) == fmt
        profile, hashes = profile_file(path, fmt)
        assert profile["rows"] == n, fmt
        assert np.array_equal(hashes, profile_table(t)[1]), fmt
        assert read_table(path, fmt).num_rows == n
        assert np.array_equal(row_hashes_file(path, fmt, ["x", "c"]), row_hashes(t, ["x", "c"]))


def test_streamed_csv_with_a_late_type_change(tmp_path, monkeypatch):
    import mlver.diff.profile as prof
    monkeypatch.setattr(prof, "BLOCK_SIZE", 1 << 12)
    monkeypatch.setattr(prof, "BATCH_ROWS", 1000)
    path = write(tmp_path, "a.csv", "a,b,c\n" + "1,2,x\n" * 5000 + "1.5,y,z\n")
    profile, hashes = profile_file(path, "csv")
    assert [c["type"] for c in profile["columns"]] == ["double", "string", "string"]
    assert profile["rows"] == 5001
    assert np.array_equal(hashes, profile_table(read_table(path, "csv"))[1])
    bad = write(tmp_path, "b.csv", "a\n" + "x\n" * 5000 + "caf\xe9\n")
    with open(bad, "wb") as f:
        f.write(b"a\n" + b"x\n" * 5000 + "caf\xe9\n".encode("latin-1"))
    with pytest.raises(TableError):
        profile_file(bad, "csv")


def test_streamed_key_check(tmp_path):
    path = write(tmp_path, "a.csv", "id,price\n1,2\n")
    with pytest.raises(TableError, match="'listing_id'.*'id', 'price'"):
        profile_file(path, "csv", key=["listing_id"])


def test_hashes_ignore_row_and_column_order():
    t = sample_table()
    perm = np.random.default_rng(1).permutation(t.num_rows)
    shuffled = t.take(perm).select(list(reversed(t.column_names)))
    assert np.array_equal(profile_table(t)[1], profile_table(shuffled)[1])


def test_hashes_see_values_swapped_between_columns():
    a = pa.table({"p": [1, 2], "q": [2, 1]})
    b = pa.table({"p": [2, 1], "q": [1, 2]})
    c = pa.table({"p": [1, 1], "q": [2, 2]})
    assert np.array_equal(row_hashes(a, ["p", "q"]), row_hashes(b, ["p", "q"]))
    assert not np.array_equal(row_hashes(a, ["p", "q"]), row_hashes(c, ["p", "q"]))


def test_row_hashes_over_some_columns_match_the_profile_of_those_columns():
    t = sample_table()
    cols = ["x", "cat", "when"]
    assert np.array_equal(row_hashes(t, cols), profile_table(t.select(cols))[1])


def test_value_hash_rules():
    # int 1 == float 1.0; -0.0 == 0.0; null == NaN; dictionary == plain string
    a = pa.table({"n": pa.array([1, 0, None], pa.int64()), "s": pa.array(["u", "v", None])})
    b = pa.table({"n": pa.array([1.0, -0.0, float("nan")]),
                  "s": pa.array(["u", "v", None]).dictionary_encode()})
    assert np.array_equal(row_hashes(a, ["n", "s"]), row_hashes(b, ["n", "s"]))
    c = pa.table({"n": pa.array(["1", "0", None]), "s": pa.array(["u", "v", None])})
    assert not np.array_equal(row_hashes(a, ["n", "s"]), row_hashes(c, ["n", "s"]))


def test_large_low_cardinality_string_hash_matches_small():
    values = [f"v{k % 7}" for k in range(70000)]
    big = row_hashes(pa.table({"s": values}), ["s"])
    small = row_hashes(pa.table({"s": values[:7]}), ["s"])
    assert set(big.tolist()) == set(small.tolist())


@pytest.mark.parametrize("first,second", [("profile", "tables"), ("tables", "profile")])
def test_modules_import_alone_and_without_heavy_dependencies(first, second):
    # only the diff modules (not the rest of mlver), in either order; both
    # share the TableError of mlver.diff.tableerrors, and profile never imports tables
    diff_dir = os.path.dirname(os.path.abspath(sys.modules["mlver.diff.tables"].__file__))
    code = (
        "import sys, types\n"
        f"pkg = types.ModuleType('mlver'); pkg.__path__ = [{os.path.dirname(diff_dir)!r}]\n"
        f"sub = types.ModuleType('mlver.diff'); sub.__path__ = [{diff_dir!r}]\n"
        "sys.modules.update({'mlver': pkg, 'mlver.diff': sub})\n"
        f"import mlver.diff.{first}\n"
        + ("assert 'mlver.diff.tables' not in sys.modules\n" if first == "profile" else "")
        + f"import mlver.diff.{second}\n"
        "from mlver.diff.tables import diff_tables\n"
        "from mlver.diff.profile import read_table, TableError\n"
        "from mlver.diff.tableerrors import TableError as T2\n"
        "assert TableError is T2\n"
        "heavy = {'pyarrow', 'numpy', 'pandas'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- column digests


def test_column_digest_depends_on_the_values_only():
    from mlver.diff.colhash import column_digest, column_hash

    def digest(values, type_=None):
        return column_digest(column_hash(pa.array(values, type_)))

    assert digest([1, 2, 3]) == digest([3, 1, 2])              # row order
    assert digest([1, 2, 3]) == digest([1.0, 2.0, 3.0])        # numbers by value
    assert digest([1, None]) == digest([1.0, float("nan")])    # null as NaN
    assert digest([1, 2, 3]) != digest([1, 2, 4])
    assert digest([1, 2, 3]) != digest([1, 2, 3, 3])           # a multiset
    assert digest(["a", "b"]) != digest(["a", "c"])
    assert len(digest(["a"])) == 16


def test_profile_has_a_content_digest_per_column():
    t = pa.table({"a": [1, 2, 3], "b": [3, 2, 1], "s": ["x", "y", "z"]})
    profile, _ = profile_table(t)
    content = {c["name"]: c["content"] for c in profile["columns"]}
    assert content["a"] == content["b"] != content["s"]
    json.dumps(profile, allow_nan=False)


def test_content_digests_without_row_hashes_are_the_same(tmp_path):
    """Profiler(with_hashes=False, with_content=True), what a keyed DuckDB diff uses: the
    same profile, content digests included, and no row hashes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pa.table({"id": [1, 2, 3, 4], "x": [0.5, None, 2.0, float("nan")],
                  "s": ["a", "b", None, "a"], "f": [True, False, None, True]})
    path = tmp_path / "t.parquet"
    pq.write_table(t, path)
    full, hashes = profile_file(str(path), "parquet")
    lean, none = profile_file(str(path), "parquet", with_hashes=False,
                              with_content=True)
    assert hashes is not None and len(hashes) == 4 and none is None
    assert lean == full and all("content" in c for c in lean["columns"])
    bare, _ = profile_file(str(path), "parquet", with_hashes=False)
    assert not any("content" in c for c in bare["columns"])  # the old lean mode: none
