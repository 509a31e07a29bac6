"""``mlver diff`` / ``repo.diff`` on real snapshots (issue 3): tables, params, metrics,
outputs, the JSON contract, ``--exit-code``, workspace diffs, bad input and the
profile cache. Every case is built so that its answer is known exactly."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlver
from mlver.diff.value import Diff
from _fixtures import (HEADER, assert_error, assert_ok, cli, commit_all, head_sha,
                       index_conn, mrepo, object_listing, proj, table_rows, tmp_listing, write,
                       write_csv)

__all__ = ["mrepo", "proj"]  # fixtures

TOP_KEYS = {"old", "new", "changed", "inputs", "code", "params", "env", "outputs", "metrics",
            "verdict", "unrecorded_reads"}
TABLE_KEYS = {"rows_old", "rows_new", "rows_added", "rows_removed", "rows_changed",
              "columns_added", "columns_removed", "columns_retyped", "drift"}


def two_versions(repo, proj, rows1, rows2, header=HEADER, path="data/d.csv", name="m", **kw):
    write_csv(proj / path, header, rows1)
    r1 = repo.snapshot(name, inputs={"train": path}, **kw)
    write_csv(proj / path, header, rows2)
    r2 = repo.snapshot(name, inputs={"train": path}, **kw)
    assert r1.created and r2.created
    return r1, r2


def diff_json(*args) -> dict:
    res = cli("diff", *args, "--json")
    return json.loads(assert_ok(res))


# --------------------------------------------------------------------------- tables


def test_drop_10_rows_counts_exactly_10_removed(mrepo, proj):
    rows = table_rows(200, seed=1)
    dropped = rows[:40:4]  # 10 rows spread over the head of the table
    two_versions(mrepo, proj, rows, [r for r in rows if r not in dropped])
    d = mrepo.diff("m@1", "m@2")
    t = d.inputs["train"].table
    assert (t.rows_old, t.rows_new, t.rows_added, t.rows_removed) == (200, 190, 0, 10)
    assert t.rows_changed is None
    assert d.inputs["train"].status == "modified"
    assert list(d.changed) == ["data"]
    j = diff_json("m@1", "m@2")
    assert j["inputs"]["train"]["table"]["rows_removed"] == 10
    assert j["inputs"]["train"]["table"]["rows_added"] == 0


def test_append_rows_counts_rows_added(mrepo, proj):
    rows = table_rows(150, seed=2)
    extra = table_rows(37, seed=3, start=1000)
    two_versions(mrepo, proj, rows, rows + extra)
    t = mrepo.diff("m@1", "m@2").inputs["train"].table
    assert (t.rows_old, t.rows_new, t.rows_added, t.rows_removed) == (150, 187, 37, 0)
    assert "+37 rows, -0" in str(mrepo.diff("m@1", "m@2"))


def test_duplicate_rows_count_as_a_multiset(mrepo, proj):
    rows = table_rows(50, seed=4)
    # the same row twice more: a set difference would see nothing new
    two_versions(mrepo, proj, rows, rows + [rows[7], rows[7]])
    t = mrepo.diff("m@1", "m@2").inputs["train"].table
    assert (t.rows_added, t.rows_removed) == (2, 0)


def test_shift_one_numeric_column_only_that_column_drifts(mrepo, proj):
    rows = table_rows(400, seed=5)
    shifted = [[i, x + 500.0, c] for i, x, c in rows]
    two_versions(mrepo, proj, rows, shifted)
    t = mrepo.diff("m@1", "m@2").inputs["train"].table
    drifted = {s.column for s in t.drift if s.drifted}
    assert drifted == {"x"}
    by = {s.column: s for s in t.drift}
    assert by["x"].drifted and by["x"].test == "ks" and by["x"].value < 0.05  # 400 rows: KS
    assert not by["cat"].drifted
    assert "id" not in by and t.identifiers == ("id",)  # unique per row: an identifier
    # every row changed in x, so without a key each row is one removed plus one added
    assert (t.rows_added, t.rows_removed) == (400, 400)
    assert t.columns_added == t.columns_removed == t.columns_retyped == ()
    j = diff_json("m@1", "m@2")
    entries = [e for e in j["inputs"]["train"]["table"]["drift"] if e["drifted"]]
    assert entries and {e["column"] for e in entries} == {"x"}


def test_schema_changes_columns_added_removed_retyped(mrepo, proj):
    rows = table_rows(30, seed=6)
    write_csv(proj / "d.csv", ["id", "x", "cat", "gone"], [r + ["z"] for r in rows])
    mrepo.snapshot("m", inputs={"train": "d.csv"})
    write_csv(proj / "d.csv", ["id", "x", "cat", "new"], [[i, f"v{x}", c, 1] for i, x, c in rows])
    mrepo.snapshot("m", inputs={"train": "d.csv"})
    t = mrepo.diff("m@1", "m@2").inputs["train"].table
    assert t.columns_added == ("new",)
    assert t.columns_removed == ("gone",)
    assert [c for c, _old, _new in t.columns_retyped] == ["x"]


def test_key_option_gives_rows_changed_and_cells(mrepo, proj):
    rows = table_rows(100, seed=7)
    new = [list(r) for r in rows if r[0] not in (10, 11)]  # 2 removed
    for r in new:
        if r[0] in (3, 4, 5):
            r[1] = r[1] + 1.0  # 3 changed in x
    new += table_rows(4, seed=8, start=500)  # 4 added
    two_versions(mrepo, proj, rows, new)
    j = diff_json("m@1", "m@2", "--key", "id")
    t = j["inputs"]["train"]["table"]
    assert (t["rows_added"], t["rows_removed"], t["rows_changed"]) == (4, 2, 3)
    assert t["cells_changed"] == {"x": 3}
    # without a key: a changed row is one removed plus one added
    t = diff_json("m@1", "m@2")["inputs"]["train"]["table"]
    assert (t["rows_added"], t["rows_removed"], t["rows_changed"]) == (7, 5, None)
    # through Python, the key given for the path
    t = mrepo.diff("m@1", "m@2", keys={"data/d.csv": ["id"]}).inputs["train"].table
    assert t.rows_changed == 3 and t.key == ("id",)


def test_key_from_mlver_toml_tables_section(mrepo, proj):
    rows = table_rows(60, seed=9)
    new = [list(r) for r in rows]
    new[20][2] = "zz"
    new[21][2] = "zz"
    write(proj / "mlver.toml", '[tables."data/d.csv"]\nkey = ["id"]\n')
    two_versions(mrepo, proj, rows, new)
    t = diff_json("m@1", "m@2")["inputs"]["train"]["table"]
    assert (t["rows_added"], t["rows_removed"], t["rows_changed"]) == (0, 0, 2)
    assert t["cells_changed"] == {"cat": 2}
    d = mlver.Repo(str(proj)).diff("m@1", "m@2")
    assert d.inputs["train"].table.rows_changed == 2


def test_unknown_key_column_is_a_note_not_a_traceback(mrepo, proj):
    rows = table_rows(20, seed=10)
    two_versions(mrepo, proj, rows, rows[:15])
    res = cli("diff", "m@1", "m@2", "--key", "nope")
    out = assert_ok(res)
    assert "Traceback" not in res.output
    assert "note:" in out and "nope" in out


def test_rows_option_shows_sample_rows(mrepo, proj):
    rows = table_rows(50, seed=11)
    new = [r for r in rows if r[0] not in (5, 6, 7)] + table_rows(2, seed=12, start=900)
    two_versions(mrepo, proj, rows, new)
    j = diff_json("m@1", "m@2", "--rows", "2")
    samples = j["inputs"]["train"]["table"]["samples"]
    assert [r["id"] for r in samples["removed"]] == [5, 6]  # the first 2 of 3, table order
    assert [r["id"] for r in samples["added"]] == [900, 901]
    assert samples["removed"][0] == {"id": 5, "x": rows[5][1], "cat": rows[5][2]}
    out = assert_ok(cli("diff", "m@1", "m@2", "--rows", "2"))
    assert "removed rows" in out and "added rows" in out
    assert '"id": 900' in out
    # without --rows no samples are printed
    assert "added rows" not in assert_ok(cli("diff", "m@1", "m@2"))


def test_rows_with_key_samples_changed_rows(mrepo, proj):
    rows = table_rows(40, seed=13)
    new = [list(r) for r in rows]
    new[9][1] = 12345.0
    two_versions(mrepo, proj, rows, new)
    d = mrepo.diff("m@1", "m@2", keys={"*": ["id"]}, rows=5)
    t = d.inputs["train"].table
    assert t.rows_changed == 1
    frame = t.sample_frame("changed")
    assert list(frame["id"]) == [9]
    assert list(frame["x.new"]) == [12345.0]
    assert list(frame["x.old"]) == [rows[9][1]]


# --------------------------------------------------------------------------- categories


def test_param_change_and_commit_name_params_and_code_not_data(mrepo, proj):
    rows = table_rows(50, seed=14)
    write_csv(proj / "d.csv", HEADER, rows)
    write(proj / "params.yaml", "lr: 0.1\nn_estimators: 100\n")
    commit_all(proj, "params")
    mrepo.snapshot("m", inputs={"train": "d.csv"}, params="params.yaml")
    write(proj / "params.yaml", "lr: 0.1\nn_estimators: 200\n")
    write(proj / "train.py", "print('train')\nprint('more')\n")
    sha = commit_all(proj, "train harder")
    mrepo.snapshot("m", inputs={"train": "d.csv"}, params="params.yaml")
    d = mrepo.diff("m@1", "m@2")
    assert set(d.changed) == {"params", "code"}
    assert "data" not in d.changed
    assert d.params["changed"] == {"n_estimators": {"old": 100, "new": 200}}
    assert [c["sha"] for c in d.code["commits"]] == [sha]
    assert [f["path"] for f in d.code["files"]] == ["train.py"]
    text = str(d)
    assert "n_estimators: 100 -> 200" in text
    assert '"train harder"' in text
    j = diff_json("m@1", "m@2")
    assert sorted(j["changed"]) == ["code", "params"]


def test_identical_inputs_changed_output_is_not_explained(mrepo, proj):
    write_csv(proj / "d.csv", HEADER, table_rows(30, seed=15))
    write(proj / "model.bin", b"\x01" * 1000)
    mrepo.snapshot("m", inputs={"train": "d.csv"}, outputs={"model": "model.bin"})
    write(proj / "model.bin", b"\x02" * 1200)
    mrepo.snapshot("m", inputs={"train": "d.csv"}, outputs={"model": "model.bin"})
    d = mrepo.diff("m@1", "m@2")
    assert d.changed == ()
    assert d.outputs["model"].status == "modified"
    assert d.inputs["train"].status == "unchanged"
    assert "not explained by any recorded input" in str(d)
    assert "model.bin changed (1.0 KB -> 1.2 KB)" in str(d)
    j = diff_json("m@1", "m@2")
    assert j["changed"] == []
    assert any("not explained by any recorded input" in line for line in j["verdict"])


def test_params_nested_keys_are_dotted(mrepo, proj):
    write(proj / "in.txt", "x\n")
    write(proj / "params.yaml", "model:\n  depth: 3\n  lr: 0.1\nseed: 1\n")
    mrepo.snapshot("m", inputs={"a": "in.txt"}, params="params.yaml")
    write(proj / "params.yaml", "model:\n  depth: 5\n  lr: 0.1\n  extra: a\n")
    mrepo.snapshot("m", inputs={"a": "in.txt"}, params="params.yaml")
    p = mrepo.diff("m@1", "m@2").params
    assert p == {"added": {"model.extra": "a"}, "removed": {"seed": 1},
                 "changed": {"model.depth": {"old": 3, "new": 5}}}


def test_metrics_old_new_delta(mrepo, proj):
    write(proj / "in.txt", "x\n")
    mrepo.snapshot("m", inputs={"a": "in.txt"}, metrics=["rmse=41.2", "acc=0.5", "gone=1"])
    mrepo.snapshot("m", inputs={"a": "in.txt"}, metrics=["rmse=37.9", "acc=0.5", "f1=0.7"])
    m = mrepo.diff("m@1", "m@2").metrics
    assert m["rmse"] == {"old": 41.2, "new": 37.9, "delta": -3.3, "changed": True}
    assert m["acc"] == {"old": 0.5, "new": 0.5, "delta": 0.0, "changed": False}
    assert m["f1"] == {"old": None, "new": 0.7, "delta": None, "changed": True}
    assert m["gone"] == {"old": 1, "new": None, "delta": None, "changed": True}
    assert "rmse 41.2 -> 37.9 (-3.3)" in str(mrepo.diff("m@1", "m@2"))


def test_output_tables_are_diffed_like_inputs(mrepo, proj):
    write(proj / "in.txt", "x\n")
    rows = table_rows(30, seed=29)
    write_csv(proj / "preds.csv", HEADER, rows)
    mrepo.snapshot("m", inputs={"a": "in.txt"}, outputs={"preds": "preds.csv"})
    write_csv(proj / "preds.csv", HEADER, rows + table_rows(6, seed=30, start=300))
    mrepo.snapshot("m", inputs={"a": "in.txt"}, outputs={"preds": "preds.csv"})
    j = diff_json("m@1", "m@2")
    assert j["outputs"]["preds"]["table"]["rows_added"] == 6
    assert j["changed"] == []


def test_added_and_removed_input_slots(mrepo, proj):
    write(proj / "a.txt", "a\n")
    write(proj / "b.txt", "b\n")
    mrepo.snapshot("m", inputs={"a": "a.txt", "b": "b.txt"})
    mrepo.snapshot("m", inputs={"a": "a.txt", "c": "b.txt"})
    d = mrepo.diff("m@1", "m@2")
    assert d.inputs["a"].status == "unchanged"
    old_b = mrepo.show("m@1")[1].inputs["b"].oid
    assert (d.inputs["b"].status, d.inputs["b"].old, d.inputs["b"].new) == ("removed", old_b, None)
    assert d.inputs["c"].status == "added" and d.inputs["c"].old is None
    assert d.changed == ("data",)


def test_diff_of_identical_records_changes_nothing(mrepo, proj):
    write_csv(proj / "d.csv", HEADER, table_rows(10, seed=16))
    r = mrepo.snapshot("m", inputs={"train": "d.csv"})
    d = mrepo.diff("m@1", r.oid[:8])
    assert d.changed == () and not d.inputs_changed
    assert all(s.status == "unchanged" for s in d.inputs.values())
    assert "no recorded input changed" in str(d)


# --------------------------------------------------------------------------- JSON contract


def test_json_contract_shape(mrepo, proj):
    rows = table_rows(80, seed=17)
    write_csv(proj / "data/d.csv", HEADER, rows)
    write(proj / "model.bin", b"m1")
    mrepo.snapshot("m", inputs={"train": "data/d.csv"}, outputs={"model": "model.bin"},
                   params=["lr=0.1"], metrics=["rmse=2"])
    write_csv(proj / "data/d.csv", HEADER, rows[:70])
    write(proj / "model.bin", b"m2")
    mrepo.snapshot("m", inputs={"train": "data/d.csv"}, outputs={"model": "model.bin"},
                   params=["lr=0.2"], metrics=["rmse=1"])
    j = diff_json("m@1", "m@2")
    assert set(j) == TOP_KEYS
    o1, o2 = mrepo.resolve("m@1"), mrepo.resolve("m@2")
    assert (j["old"]["oid"], j["old"]["name"], j["old"]["version"]) == (o1, "m", 1)
    assert (j["new"]["oid"], j["new"]["name"], j["new"]["version"]) == (o2, "m", 2)
    assert j["changed"] == ["data", "params"]  # most informative first
    for side in ("inputs", "outputs"):
        for slot, s in j[side].items():
            assert {"status", "path", "old", "new"} <= set(s), (side, slot)
            assert s["status"] in ("unchanged", "modified", "added", "removed")
    s = j["inputs"]["train"]
    assert s["path"] == "data/d.csv" and s["status"] == "modified"
    assert s["old"] == mrepo.show("m@1")[1].inputs["train"].oid
    assert s["new"] == mrepo.show("m@2")[1].inputs["train"].oid
    assert TABLE_KEYS <= set(s["table"])
    assert s["table"]["rows_changed"] is None
    assert s["table"]["drift"], "a table diff measures drift of the common columns"
    for e in s["table"]["drift"]:
        assert {"column", "test", "value", "threshold", "drifted", "level", "psi"} <= set(e)
        assert isinstance(e["drifted"], bool)
        assert isinstance(e["value"], (int, float)) or e["level"] == "too_few_rows"
    assert set(s["table"]["dataset_drift"]) == {"columns", "drifted_columns", "share",
                                                "threshold", "drifted"}
    assert j["outputs"]["model"]["status"] == "modified"
    assert isinstance(j["verdict"], list) and all(isinstance(x, str) for x in j["verdict"])
    assert j["verdict"][0] == "m@1 -> m@2"


def test_exit_code_flag(mrepo, proj):
    write(proj / "in.txt", "1\n")
    write(proj / "out.txt", "a\n")
    mrepo.snapshot("m", inputs={"a": "in.txt"}, outputs={"o": "out.txt"})
    write(proj / "out.txt", "b\n")
    mrepo.snapshot("m", inputs={"a": "in.txt"}, outputs={"o": "out.txt"})
    write(proj / "in.txt", "2\n")
    mrepo.snapshot("m", inputs={"a": "in.txt"}, outputs={"o": "out.txt"})
    assert cli("diff", "m@1", "m@2", "--exit-code").exit_code == 0  # only an output differs
    res = cli("diff", "m@2", "m@3", "--exit-code")
    assert res.exit_code == 1 and res.stdout.startswith("m@2 -> m@3")
    assert "Error" not in res.output
    assert cli("diff", "m@2", "m@3").exit_code == 0  # without the flag
    assert cli("diff", "m@2", "m@3", "--exit-code", "--json").exit_code == 1


# --------------------------------------------------------------------------- workspace


def test_diff_one_revision_compares_with_workspace_and_writes_nothing(mrepo, proj):
    rows = table_rows(120, seed=18)
    write_csv(proj / "d.csv", HEADER, rows)
    write(proj / "model.bin", b"v1")
    mrepo.snapshot("m", inputs={"train": "d.csv"}, outputs={"model": "model.bin"})
    write_csv(proj / "d.csv", HEADER, rows[:100])
    write(proj / "model.bin", b"v2")
    before = object_listing(proj)
    refs_before = sorted(p.name for p in (proj / ".mlver/refs/names").iterdir())
    res = cli("diff", "m", "--json")
    j = json.loads(assert_ok(res))
    assert j["new"]["oid"] is None
    assert j["inputs"]["train"]["table"]["rows_removed"] == 20
    assert j["outputs"]["model"]["status"] == "modified"
    assert j["changed"] == ["data"]
    out = assert_ok(cli("diff", "m"))
    assert out.splitlines()[0] == "m@1 -> m (workspace)"
    d = mrepo.diff("m")
    assert d.inputs["train"].table.rows_removed == 20
    assert object_listing(proj) == before, "a workspace diff wrote objects to the store"
    assert sorted(p.name for p in (proj / ".mlver/refs/names").iterdir()) == refs_before
    assert [r for r, _ in mrepo.log("m")] == [mrepo.resolve("m@1")]
    assert tmp_listing(proj) == []


def test_diff_one_revision_unchanged_workspace(mrepo, proj):
    write_csv(proj / "d.csv", HEADER, table_rows(10, seed=19))
    mrepo.snapshot("m", inputs={"train": "d.csv"}, params=["lr=0.1"])
    d = mrepo.diff("m")
    assert d.changed == ()  # KEY=VALUE params are carried over, not "removed"
    assert cli("diff", "m", "--exit-code").exit_code == 0


def test_diff_workspace_missing_input_reads_as_removed(mrepo, proj):
    write(proj / "a.txt", "a\n")
    write(proj / "b.txt", "b\n")
    mrepo.snapshot("m", inputs={"a": "a.txt", "b": "b.txt"})
    (proj / "b.txt").unlink()
    d = mrepo.diff("m")
    assert d.inputs["b"].status == "removed" and d.inputs["a"].status == "unchanged"


# --------------------------------------------------------------------------- errors and bad input


@pytest.mark.parametrize("args", [("m@9",), ("nope",), ("m@1", "m@7"), ("nope@1", "m@1"),
                                  ("ffffffffff",)])
def test_unknown_revision_is_one_error_line(mrepo, proj, args):
    write(proj / "a.txt", "a\n")
    mrepo.snapshot("m", inputs={"a": "a.txt"})
    assert_error(cli("diff", *args))
    with pytest.raises(mlver.RevisionError):
        mrepo.diff(*args)


BAD_INPUTS = {
    "malformed": (b"a,b\n1,2\n3,4\n", b'a,b\n1,2\n3\n4,5,6,7\n"x\n'),
    "binary": (b"\x00\x01\x02PK\x03\x04" * 40, b"\x00\x01\x02PK\x03\x05" * 50),
    "non_utf8": ("name,city\nJos\xe9,M\xe1laga\n".encode("latin-1"),
                 "name,city\nJos\xe9,M\xe1laga\nRen\xe9e,Par\xeds\n".encode("latin-1")),
    "huge_line": (b"a" * (1 << 20) + b"x", b"b" * (1 << 20) + b"y"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_table_falls_back_to_bytes_with_one_note(mrepo, proj, case):
    old, new = BAD_INPUTS[case]
    write(proj / "d.csv", old)
    mrepo.snapshot("m", inputs={"train": "d.csv"})
    write(proj / "d.csv", new)
    mrepo.snapshot("m", inputs={"train": "d.csv"})
    res = cli("diff", "m@1", "m@2")
    out = assert_ok(res)
    assert "Traceback" not in res.output and res.stderr == ""
    data_lines = [line for line in out.splitlines() if "train (d.csv)" in line]
    assert len(data_lines) == 1
    line = data_lines[0]
    assert f"({len(old)} B" in line or "KB" in line or "MB" in line  # byte-level sizes
    assert line.count("note:") == 1
    s = mrepo.diff("m@1", "m@2").inputs["train"]
    assert s.status == "modified" and s.table is None
    assert s.note and "\n" not in s.note
    j = diff_json("m@1", "m@2")["inputs"]["train"]
    assert j["table"] is None and j["note"] == s.note
    assert j["old_size"] == len(old) and j["new_size"] == len(new)


def test_semicolon_csv_is_never_a_traceback(mrepo, proj):
    old = "a;b;c\n1;2;x\n4;5;y\n"
    new = old + "7;8;z\n"
    write(proj / "d.csv", old)
    mrepo.snapshot("m", inputs={"train": "d.csv"})
    write(proj / "d.csv", new)
    mrepo.snapshot("m", inputs={"train": "d.csv"})
    res = cli("diff", "m@1", "m@2")
    assert_ok(res)
    assert "Traceback" not in res.output
    s = mrepo.diff("m@1", "m@2").inputs["train"]
    if s.table is None:  # fallback: a one-line note and the byte sizes
        assert s.note and "\n" not in s.note
    else:  # sniffed: then the table must be read right, three columns, one row added
        assert (s.table.rows_old, s.table.rows_new, s.table.rows_added, s.table.rows_removed) \
            == (2, 3, 1, 0)
        assert {d.column for d in s.table.drift} <= {"a", "b", "c"}


def test_table_becoming_binary_is_a_note(mrepo, proj):
    write_csv(proj / "d.csv", HEADER, table_rows(10, seed=20))
    mrepo.snapshot("m", inputs={"train": "d.csv"})
    write(proj / "d.csv", b"\x89PNG\r\n\x1a\n\x00\x00")
    mrepo.snapshot("m", inputs={"train": "d.csv"})
    s = mrepo.diff("m@1", "m@2").inputs["train"]
    assert s.table is None and s.note


# --------------------------------------------------------------------------- Diff value


def test_diff_value_round_trips_and_prints_its_verdict(mrepo, proj):
    rows = table_rows(60, seed=21)
    write(proj / "model.bin", b"1")
    write_csv(proj / "d.csv", HEADER, rows)
    mrepo.snapshot("m", inputs={"train": "d.csv"}, outputs={"model": "model.bin"},
                   params=["lr=0.1"], metrics=["rmse=3"])
    write(proj / "model.bin", b"22")
    write_csv(proj / "d.csv", HEADER, rows[5:] + table_rows(3, seed=22, start=99))
    mrepo.snapshot("m", inputs={"train": "d.csv"}, outputs={"model": "model.bin"},
                   params=["lr=0.3"], metrics=["rmse=2"])
    d = mrepo.diff("m@1", "m@2", rows=2)
    assert isinstance(d, Diff)
    back = Diff.from_dict(json.loads(json.dumps(d.to_dict())))
    assert back.to_dict() == d.to_dict()
    assert back == d
    assert str(d) == "\n".join(d.verdict)
    assert str(back) == str(d)
    with pytest.raises(Exception):
        d.changed = ()  # frozen


# --------------------------------------------------------------------------- profile cache


def test_profiles_are_cached_and_a_second_diff_reads_no_data(mrepo, proj, monkeypatch):
    import mlver.diff.profile as profile

    rows = table_rows(300, seed=23)
    two_versions(mrepo, proj, rows, rows[:250] + table_rows(10, seed=24, start=5000))
    o1 = mrepo.show("m@1")[1].inputs["train"].oid
    o2 = mrepo.show("m@2")[1].inputs["train"].oid
    reads = []
    real = profile.scan, profile.read_table

    def counting(path, fmt, *args, **kwargs):
        reads.append(path)
        return real[0](path, fmt, *args, **kwargs)

    def counting_whole(path, fmt, *args, **kwargs):
        reads.append(path)
        return real[1](path, fmt, *args, **kwargs)

    monkeypatch.setattr(profile, "scan", counting)
    monkeypatch.setattr(profile, "read_table", counting_whole)
    first = mrepo.diff("m@1", "m@2").to_dict()
    assert len(reads) == 2
    with index_conn(proj) as c:
        cached = {(k, s) for k, s in c.execute("SELECT kind, source FROM derived")}
    assert {s for _k, s in cached} >= {o1, o2}
    assert {k for k, _s in cached} >= {"table-profile/3", "table-rowhashes/3"}
    reads.clear()
    second = mlver.Repo(str(proj)).diff("m@1", "m@2").to_dict()
    assert reads == [], "the second diff re-read the tables"
    assert second == first
    assert first["inputs"]["train"]["table"]["rows_removed"] == 50
    assert first["inputs"]["train"]["table"]["rows_added"] == 10
    # the cache can be deleted at any time: same answer, recomputed
    with index_conn(proj) as c:
        c.execute("DELETE FROM derived")
    third = mlver.Repo(str(proj)).diff("m@1", "m@2").to_dict()
    assert len(reads) == 2 and third == first


def test_text_verdict_shape(mrepo, proj):
    rows = table_rows(100, seed=25)
    write(proj / "params.yaml", "n_estimators: 100\n")
    commit_all(proj, "params")
    write(proj / "model.bin", b"x" * 1000)
    two_versions(mrepo, proj, rows, rows + table_rows(4, seed=26, start=700),
                 outputs={"model": "model.bin"}, params="params.yaml")
    lines = assert_ok(cli("diff", "m@1", "m@2")).splitlines()
    assert lines[0] == "m@1 -> m@2"
    assert lines[1].strip() == "outputs unchanged"
    assert lines[2].strip() == "because:"
    assert lines[3].strip().startswith("data   train (data/d.csv): +4 rows, -0")
    sha = head_sha(proj)[:7]
    assert lines[-1].strip().startswith("unchanged: code (" + sha + "), params, env (python ")


def test_duplicate_key_is_a_note(mrepo, proj):
    rows = table_rows(20, seed=27)
    dup = rows + [[rows[0][0], 1.0, "a"]]  # id 0 twice
    two_versions(mrepo, proj, rows, dup)
    s = mrepo.diff("m@1", "m@2", keys={"*": ["id"]}).inputs["train"]
    assert s.table is None and "duplicate" in s.note
    assert_ok(cli("diff", "m@1", "m@2", "--key", "id"))


def test_diff_two_different_names(mrepo, proj):
    rows = table_rows(30, seed=28)
    write_csv(proj / "a.csv", HEADER, rows)
    write_csv(proj / "b.csv", HEADER, rows[:-3])
    mrepo.snapshot("listings-jan", inputs={"t": "a.csv"}, kind="dataset")
    mrepo.snapshot("listings-feb", inputs={"t": "b.csv"}, kind="dataset")
    d = mrepo.diff("listings-jan", "listings-feb")
    # issue 19: the first line says the two are different names (compared all the same)
    assert d.verdict[0] == ("listings-jan@1 -> listings-feb@1 (two different names, not two "
                            "versions of one)")
    s = d.inputs["t"]
    assert s.old_path == "a.csv" and s.path == "b.csv"
    assert s.table.rows_removed == 3


def test_workspace_diff_sees_params_file_and_uncommitted_code(mrepo, proj):
    write(proj / "in.txt", "x\n")
    write(proj / "params.yaml", "lr: 0.1\n")
    commit_all(proj, "params")
    mrepo.snapshot("m", inputs={"a": "in.txt"}, params="params.yaml", metrics=["rmse=1"])
    write(proj / "params.yaml", "lr: 0.3\n")
    write(proj / "train.py", "print('edited, not committed')\n")
    d = mrepo.diff("m")
    assert d.changed == ("code", "params")
    assert d.params["changed"] == {"lr": {"old": 0.1, "new": 0.3}}
    assert d.code["patch_files"] == ["train.py"]


def test_workspace_diff_carries_key_value_metrics_over(mrepo, proj):
    """KEY=VALUE params and metrics live in no file: an untouched workspace must not
    read as 'metric removed' any more than as 'param removed'."""
    write(proj / "in.txt", "x\n")
    mrepo.snapshot("m", inputs={"a": "in.txt"}, params=["lr=0.1"], metrics=["rmse=1.5"])
    d = mrepo.diff("m")
    assert d.params == {"added": {}, "removed": {}, "changed": {}}
    assert d.metrics["rmse"] == {"old": 1.5, "new": 1.5, "delta": 0.0, "changed": False}
    assert "rmse" not in str(d)


@settings(max_examples=25, deadline=None)
@given(base=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["a", "b", None])),
                     min_size=1, max_size=30),
       drop=st.sets(st.integers(0, 29)),
       extra=st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["a", "c"])), max_size=10))
def test_row_counts_are_the_exact_multiset_difference(base, drop, extra):
    """Property: rows_added/rows_removed equal the multiset difference of the rows."""
    import collections

    import pyarrow as pa

    from mlver.diff.tables import diff_tables

    new = [r for i, r in enumerate(base) if i not in drop] + extra

    def table(rows):
        return pa.table({"n": pa.array([r[0] for r in rows], pa.int64()),
                         "s": pa.array([r[1] for r in rows], pa.string())})

    t = diff_tables(table(base), table(new))
    a, b = collections.Counter(base), collections.Counter(new)
    assert t.rows_added == sum((b - a).values())
    assert t.rows_removed == sum((a - b).values())
    assert (t.rows_old, t.rows_new) == (len(base), len(new))


# --------------------------------------------------------------------------- issue 10, part 4


def _env_text(d) -> str:
    return f"env (python {d.env['python']['new']}, {d.env['packages_count']['new']} packages)"


def test_moved_input_is_reported_as_moved(mrepo, proj):
    write_csv(proj / "a.csv", HEADER, table_rows(10, seed=40))
    write(proj / "model.bin", "m1\n")
    mrepo.snapshot("m", inputs={"train": "a.csv"}, outputs={"model": "model.bin"})
    (proj / "a.csv").rename(proj / "b.csv")
    write(proj / "model.bin", "m2\n")
    mrepo.snapshot("m", inputs={"train": "b.csv"}, outputs={"model": "model.bin"})
    d = mrepo.diff("m@1", "m@2")
    size = d.inputs["train"].new_size
    assert d.verdict == (
        "m@1 -> m@2",
        "  model.bin changed (3 B -> 3 B)",
        "  because:",
        f"    data   train (a.csv -> b.csv): moved, same content ({size} B)",
        f"  unchanged: code ({head_sha(proj)[:7]}), params, {_env_text(d)}")
    j = diff_json("m@1", "m@2")["inputs"]["train"]
    assert (j["status"], j["old_path"], j["path"], j["old"] == j["new"]) == \
        ("moved", "a.csv", "b.csv", True)
    assert cli("diff", "m@1", "m@2", "--exit-code").exit_code == 1


def test_moved_output_is_not_a_changed_result(mrepo, proj):
    write(proj / "in.txt", "x\n")
    write(proj / "out/a.bin", "same\n")
    mrepo.snapshot("m", inputs={"i": "in.txt"}, outputs={"o": "out/a.bin"})
    write(proj / "out/b.bin", "same\n")
    mrepo.snapshot("m", inputs={"i": "in.txt"}, outputs={"o": "out/b.bin"})
    assert mrepo.diff("m@1", "m@2").verdict == (
        "m@1 -> m@2",
        "  b.bin moved from out/a.bin (same content)",
        "  no recorded input changed")


def test_metric_equal_within_1e_12_relative_is_not_a_change(mrepo, proj):
    write(proj / "in.txt", "x\n")
    mrepo.snapshot("m", inputs={"i": "in.txt"}, metrics=["rmse=0.3", "r2=1e-300", "n=3"])
    mrepo.snapshot("m", inputs={"i": "in.txt"},
                   metrics=["rmse=0.30000000000000004", "r2=1.0000000000001e-300", "n=4"])
    d = mrepo.diff("m@1", "m@2")
    assert d.metrics["rmse"]["changed"] is False
    assert d.metrics["r2"]["changed"] is False
    assert d.metrics["n"] == {"old": 3, "new": 4, "delta": 1, "changed": True}
    assert d.verdict[1] == "  metrics: n 3 -> 4 (+1)"
    mrepo.snapshot("m", inputs={"i": "in.txt"}, metrics=["rmse=0.3000001", "n=4",
                                                         "r2=1.0000000000001e-300"])
    d = mrepo.diff("m@2", "m@3")
    assert d.metrics["rmse"]["changed"] is True
    # 4 significant digits would print 0.3 -> 0.3: then every digit is shown
    assert d.verdict[1] == "  metrics: rmse 0.30000000000000004 -> 0.3000001 (+1e-07)"


def test_values_are_shown_as_users_write_them(mrepo, proj):
    write(proj / "in.txt", "x\n")
    mrepo.snapshot("m", inputs={"i": "in.txt"}, params=["log_target=false", "tag=null"],
                   metrics=["acc=0.9", "ok=true"])
    mrepo.snapshot("m", inputs={"i": "in.txt"},
                   params=["log_target=true", "tag=null", "layers=[64, 32]", "extra=true"],
                   metrics=["ok=false", "f1=0.5"])
    d = mrepo.diff("m@1", "m@2")
    assert d.verdict[1] == "  metrics: acc 0.9 -> (missing), f1 (missing) -> 0.5, ok true -> false"
    assert d.verdict[3] == "    params log_target: false -> true, +extra=true, +layers=[64, 32]"
    text = assert_ok(cli("diff", "m@1", "m@2"))
    assert "None" not in text and "True" not in text and "False" not in text


def test_renamed_column_is_reported_as_a_rename(mrepo, proj):
    rows = table_rows(40, seed=41)
    write_csv(proj / "t.csv", ["id", "mean_radius", "cat"], rows)
    mrepo.snapshot("m", inputs={"t": "t.csv"})
    write_csv(proj / "t.csv", ["id", "radius_mean", "cat"], rows)
    mrepo.snapshot("m", inputs={"t": "t.csv"})
    for _ in range(2):  # computed, then from the cached profiles
        d = mlver.Repo(str(proj)).diff("m@1", "m@2")
        assert d.verdict[2:4] == (
            "  because:",
            "    data   t (t.csv): +0 rows, -0; 'mean_radius' renamed to 'radius_mean'; 'id': "
            "identifier (unique per row), not tested for drift; 1 column stable")
    t = diff_json("m@1", "m@2")["inputs"]["t"]["table"]
    assert t["columns_renamed"] == [{"old": "mean_radius", "new": "radius_mean"}]
    assert t["columns_added"] == [] and t["columns_removed"] == []
    # with a key too
    t = diff_json("m@1", "m@2", "--key", "id")["inputs"]["t"]["table"]
    assert t["columns_renamed"] == [{"old": "mean_radius", "new": "radius_mean"}]
    assert t["rows_changed"] == 0


def test_changed_rows_name_the_most_changed_columns(mrepo, proj):
    rows = table_rows(50, seed=42)
    new = [list(r) for r in rows]
    for r in new[:7]:
        r[1] = r[1] + 1.0
    for r in new[10:12]:
        r[2] = "zz"
    two_versions(mrepo, proj, rows, new)
    lines = assert_ok(cli("diff", "m@1", "m@2", "--key", "id", "--rows", "2")).splitlines()
    assert lines[3].startswith("    data   train (data/d.csv): +0 rows, -0, 9 changed: x 7, cat 2;")
    at = lines.index("data/d.csv: changed rows (first 2)")
    assert lines[at + 1:at + 3] == [f"  id=0: x {rows[0][1]} -> {rows[0][1] + 1.0}",
                                    f"  id=1: x {rows[1][1]} -> {rows[1][1] + 1.0}"]


def test_upstream_tracked_data_file_is_not_a_code_change(mrepo, proj):
    # raw.csv is committed to git and is the input of "prep", whose output "use" reads: a
    # commit changing raw.csv is data of the pipeline in use's diff, never code
    write(proj / "raw.csv", "a\n1\n")
    commit_all(proj, "raw data in git")
    write(proj / "feat.txt", "f1\n")
    mrepo.snapshot("prep", inputs={"raw": "raw.csv"}, outputs={"f": "feat.txt"})
    mrepo.snapshot("use", inputs={"f": "feat.txt"})
    write(proj / "raw.csv", "a\n1\n2\n")
    write(proj / "train.py", "print('edited')\n")
    commit_all(proj, "more raw data, edit train")
    write(proj / "feat.txt", "f2\n")
    mrepo.snapshot("prep", inputs={"raw": "raw.csv"}, outputs={"f": "feat.txt"})
    mrepo.snapshot("use", inputs={"f": "feat.txt"})
    for depth in (0, 3):
        d = mrepo.diff("use@1", "use@2", depth=depth)
        assert [f["path"] for f in d.code["files"]] == ["train.py"]


def test_a_big_binary_output_says_how_much_of_it_is_unchanged(mrepo, proj, monkeypatch):
    """Two versions of a checkpoint stored as chunks: the diff says what share of the new
    one the old one holds, from the manifests alone."""
    import os

    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 256 << 10)
    weights = bytearray(os.urandom(1 << 20))
    (proj / "model.bin").write_bytes(weights)
    r1 = mrepo.snapshot("ckpt", outputs={"model": "model.bin"})
    weights[500_000:500_100] = os.urandom(100)  # a few weights change
    (proj / "model.bin").write_bytes(weights)
    r2 = mrepo.snapshot("ckpt", outputs={"model": "model.bin"})
    d = mrepo.diff(r1.oid, r2.oid)
    s = d.outputs["model"]
    assert s.status == "modified" and s.shared_bytes is not None
    assert 0.7 * len(weights) < s.shared_bytes < len(weights)  # all but the chunks around it
    got = diff_json(r1.oid, r2.oid)["outputs"]["model"]["shared_bytes"]
    assert got == s.shared_bytes
    pct = round(100 * s.shared_bytes / len(weights))
    text = assert_ok(cli("diff", r1.oid, r2.oid))
    assert f"model.bin changed (1.0 MB -> 1.0 MB, {pct}% of the bytes unchanged)" in text


def test_a_big_output_cut_at_a_chunk_boundary_is_not_100_percent_unchanged(mrepo, proj,
                                                                         monkeypatch):
    """Found: every chunk of a file cut short (or with chunks reordered) is in the old one,
    so the share was 1 and the text said '100% unchanged' for content that changed."""
    import os

    from mlver.base.hashing import oid_of
    from mlver.store import Store

    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 256 << 10)
    weights = os.urandom(1 << 20)
    (proj / "model.bin").write_bytes(weights)
    r1 = mrepo.snapshot("ckpt", outputs={"model": "model.bin"})
    m = Store(str(proj / ".mlver")).objects.manifest(oid_of(weights))
    assert m is not None
    cut = sum(n for _c, n in m.chunks[:-1])  # the file without its last chunk
    (proj / "model.bin").write_bytes(weights[:cut])
    r2 = mrepo.snapshot("ckpt", outputs={"model": "model.bin"})
    s = mrepo.diff(r1.oid, r2.oid).outputs["model"]
    assert s.status == "modified" and s.shared_bytes == cut
    text = assert_ok(cli("diff", r1.oid, r2.oid))
    assert "100% of the bytes" not in text and "99% of the bytes unchanged" in text
