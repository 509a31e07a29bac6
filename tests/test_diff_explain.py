"""The explanation text of a Diff, built from literal values (no store, no I/O):
a Diff made of plain data renders, round-trips, and says what changed, most
informative first."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlver.diff import text as explain
from mlver.base.fmt import human_size
from mlver.diff.folders import FolderDiff
from mlver.diff.drift import DriftStat
from mlver.diff.tables import TableDiff
from mlver.diff.value import Diff, SlotDiff

ENV_SAME = {"python": {"old": "3.11.7", "new": "3.11.7"},
            "implementation": {"old": "CPython", "new": "CPython"},
            "platform": {"old": "Linux", "new": "Linux"},
            "packages_count": {"old": 142, "new": 142},
            "packages": {"added": [], "removed": [], "upgraded": [], "downgraded": []},
            "changed": False}
CODE_SAME = {"old_commit": "a" * 40, "new_commit": "a" * 40, "old_branch": "main",
             "new_branch": "main", "commits": None, "commits_known": True, "files": [],
             "patch_changed": False, "patch_files": [], "changed": False}
NO_PARAMS = {"added": {}, "removed": {}, "changed": {}}


def literal(**over) -> dict:
    """The JSON form of a diff where the listings table grew and n_estimators doubled."""
    d = {
        "old": {"oid": "1" * 32, "name": "price-model", "version": 1},
        "new": {"oid": "2" * 32, "name": "price-model", "version": 2},
        "changed": ["data", "code", "params"],
        "inputs": {"listings": {
            "slot": "listings", "status": "modified", "path": "data/listings.csv",
            "old": "3" * 32, "new": "4" * 32, "type": "blob", "old_size": 1000,
            "new_size": 1100,
            "table": {"rows_old": 100, "rows_new": 1304, "rows_added": 1204, "rows_removed": 0,
                      "rows_changed": None, "columns_added": ["neighbourhood_group"],
                      "columns_removed": [], "columns_retyped": [],
                      "drift": [{"column": "price", "metric": "psi", "value": 0.31,
                                 "drifted": True},
                                {"column": "rooms", "metric": "psi", "value": 0.01,
                                 "drifted": False}]}}},
        "outputs": {"model": {"slot": "model", "status": "modified", "path": "model.pkl",
                              "old": "5" * 32, "new": "6" * 32, "type": "blob",
                              "old_size": 1_200_000, "new_size": 1_300_000}},
        "code": {**CODE_SAME, "new_commit": "b" * 40, "changed": True,
                 "commits": [{"sha": "b" * 40, "author": "Ann", "summary": "add distance feature"},
                             {"sha": "c" * 40, "author": "Ann", "summary": "fix bug"}],
                 "files": [{"path": "train.py", "added": 12, "removed": 3}]},
        "params": {"added": {}, "removed": {},
                   "changed": {"n_estimators": {"old": 100, "new": 200}}},
        "env": ENV_SAME,
        "metrics": {"rmse": {"old": 41.2, "new": 37.9, "delta": -3.3, "changed": True}},
    }
    d.update(over)
    return d


def render(d: dict) -> list[str]:
    return explain.verdict(Diff.from_dict(d))


def test_literal_diff_renders_the_explanation():
    lines = render(literal())
    assert lines[0] == "price-model@1 -> price-model@2"
    assert lines[1] == "  model.pkl changed (1.2 MB -> 1.3 MB); metrics: rmse 41.2 -> 37.9 (-3.3)"
    assert lines[2] == "  because:"
    data = lines[3]
    assert data.startswith("    data   listings (data/listings.csv): +1,204 rows, -0")
    assert "new column 'neighbourhood_group'" in data
    assert "'price' drifted (PSI 0.31)" in data
    assert "rooms" not in data  # a stable column is not news
    # the causes follow the order of ``changed`` (most informative first, as in the JSON)
    assert lines[4].startswith("    code   2 commits (aaaaaaa..bbbbbbb): ")
    assert '"add distance feature", "fix bug"' in lines[4] and "train.py +12 -3" in lines[4]
    assert lines[5] == "    params n_estimators: 100 -> 200"
    assert lines[6] == "  unchanged: env (python 3.11.7, 142 packages)"


def test_causes_follow_the_order_of_changed():
    env = {**ENV_SAME, "changed": True,
           "packages": {"added": [], "removed": [], "downgraded": [],
                        "upgraded": [{"name": "numpy", "old": "1.0", "new": "2.0"}]}}
    lines = render(literal(changed=["data", "code", "params", "env"], env=env))
    kinds = [line.split()[0] for line in lines if line.startswith("    ")]
    assert kinds == ["data", "code", "params", "env"]  # the order of ``changed``
    two = render(literal(changed=["data", "params"], code=CODE_SAME))
    assert [line.split()[0] for line in two if line.startswith("    ")] == ["data", "params"]
    assert two[-1] == "  unchanged: code (aaaaaaa), env (python 3.11.7, 142 packages)"
    assert any("numpy 1.0 -> 2.0" in line for line in lines)
    assert not any(line.strip().startswith("unchanged:") for line in lines)


def test_outputs_changed_without_inputs_is_not_explained():
    d = literal(changed=[], code=CODE_SAME, params=NO_PARAMS)
    d["inputs"]["listings"].update(status="unchanged", new="3" * 32, table=None)
    text = "\n".join(render(d))
    assert "not explained by any recorded input" in text
    assert "because:" not in text


def test_nothing_changed():
    d = literal(changed=[], code=CODE_SAME, params=NO_PARAMS, metrics={})
    d["inputs"]["listings"].update(status="unchanged", new="3" * 32, table=None)
    d["outputs"]["model"].update(status="unchanged", new="5" * 32, new_size=1_200_000)
    lines = render(d)
    assert lines[1] == "  outputs unchanged"
    assert lines[2] == "  no recorded input changed"
    assert "not explained" not in "\n".join(lines)


def test_workspace_side_is_labelled():
    lines = render(literal(new={"oid": None, "name": "price-model", "version": None,
                                "workspace": True}))
    assert lines[0] == "price-model@1 -> price-model (workspace)"


def test_metric_delta_signs():
    metrics = {"acc": {"old": 0.8, "new": 0.85, "delta": 0.05, "changed": True},
               "loss": {"old": 2, "new": 2, "delta": 0, "changed": False},
               "label": {"old": "a", "new": "b", "delta": None, "changed": True}}
    line = render(literal(metrics=metrics))[1]
    assert "acc 0.8 -> 0.85 (+0.05)" in line
    assert "label a -> b" in line
    assert "loss" not in line


def test_folder_and_note_lines():
    d = literal(changed=["data"], code=CODE_SAME, params=NO_PARAMS)
    d["inputs"] = {
        "imgs": {"slot": "imgs", "status": "modified", "path": "imgs", "old": "7" * 32,
                 "new": "8" * 32, "type": "tree", "old_size": 10, "new_size": 20,
                 "files": {"added": ["a.png"], "removed": [], "modified": [],
                           "renamed": [{"old": "b.png", "new": "c.png"}],
                           "counts": {"added": 3, "removed": 0, "modified": 0, "renamed": 1}}},
        "raw": {"slot": "raw", "status": "modified", "path": "raw.csv", "old": "9" * 32,
                "new": "a" * 32, "type": "blob", "old_size": 2000, "new_size": 3000,
                "note": "not readable as a table; compared by bytes only"},
        "extra": {"slot": "extra", "status": "added", "path": "extra.txt", "old": None,
                  "new": "b" * 32, "new_size": 5},
    }
    lines = render(d)
    text = "\n".join(lines)
    # the list holds one of the three added paths: the other two are "+2 more"
    assert "imgs (imgs/): 3 added: imgs/a.png, +2 more; 1 renamed: imgs/b.png -> imgs/c.png" in text
    assert ("raw (raw.csv): content changed (2.0 KB -> 3.0 KB); note: not readable as a table; "
            "compared by bytes only") in text
    assert "extra (extra.txt): added (5 B)" in text


def test_unknown_history_line():
    code = {**CODE_SAME, "new_commit": "f" * 40, "commits_known": False, "changed": True}
    lines = render(literal(changed=["code"], code=code, params=NO_PARAMS))
    assert any("commit aaaaaaa -> fffffff (history not known locally)" in x for x in lines)


def test_diff_value_round_trip_from_literals():
    d = Diff.from_dict(literal(verdict=["a line", "another"]))
    assert str(d) == "a line\nanother"
    back = Diff.from_dict(json.loads(json.dumps(d.to_dict())))
    assert back == d
    assert back.to_dict() == d.to_dict()
    assert isinstance(d.inputs["listings"].table, TableDiff)
    assert d.inputs["listings"].table.drift[0] == DriftStat("price", "psi", 0.31, True)
    assert d.inputs_changed is True
    assert Diff.from_dict(literal(changed=[])).inputs_changed is False


def test_diff_built_from_dataclasses_renders():
    t = TableDiff(rows_old=10, rows_new=12, rows_added=2, rows_removed=0,
                  drift=(DriftStat("x", "psi", 0.5, True),))
    s = SlotDiff("train", "modified", "d.csv", "1" * 32, "2" * 32, "blob", 10, 12, table=t)
    f = SlotDiff("dir", "modified", "dir", "3" * 32, "4" * 32, "tree", 1, 2,
                 files=FolderDiff(added=("n.txt",), counts={"added": 1}))
    d = Diff(old={"oid": "a" * 32, "name": "m", "version": 1},
             new={"oid": "b" * 32, "name": "m", "version": 2}, changed=("data",),
             inputs={"train": s, "dir": f}, outputs={}, code=CODE_SAME, params=NO_PARAMS,
             env=ENV_SAME, metrics={})
    lines = explain.verdict(d)
    assert lines[0] == "m@1 -> m@2"
    assert "    data   train (d.csv): +2 rows, -0; 'x' drifted (PSI 0.50)" in lines
    assert "    data   dir (dir/): 1 added: dir/n.txt" in lines
    assert str(d) == ""  # no verdict stored in this value: str() is the stored verdict
    assert d.to_dict()["inputs"]["train"]["table"]["rows_added"] == 2


def test_table_summary_without_changes():
    t = TableDiff(rows_old=5, rows_new=5, rows_added=0, rows_removed=0)
    assert t.summary() == "no changes (5 rows)"
    keyed = TableDiff(rows_old=5, rows_new=5, rows_added=0, rows_removed=0, rows_changed=2,
                      key=("id",), cells_changed=(("x", 2),))
    assert keyed.summary() == "+0 rows, -0, 2 changed: x 2"


def test_sample_frame_requires_samples():
    t = TableDiff(rows_old=1, rows_new=1, rows_added=0, rows_removed=0)
    with pytest.raises(ValueError):
        t.sample_frame("added")


@pytest.mark.parametrize("n,text", [(None, "?"), (0, "0 B"), (999, "999 B"), (1000, "1.0 KB"),
                                    (1234, "1.2 KB"), (1_300_000, "1.3 MB"),
                                    (5 * 10**9, "5.0 GB"), (7 * 10**15, "7000.0 TB")])
def test_human_size(n, text):
    assert human_size(n) == text


# --------------------------------------------------------------------------- property

_names = st.text("abcxyz_", min_size=1, max_size=6)
_counts = st.integers(0, 10**6)
_tables = st.builds(
    lambda ro, rn, ra, rr, rc, ca, drift: {
        "rows_old": ro, "rows_new": rn, "rows_added": ra, "rows_removed": rr,
        "rows_changed": rc, "key": ["id"] if rc is not None else None,
        "columns_added": ca, "columns_removed": [], "columns_retyped": [],
        "null_rates": [], "cells_changed": {}, "samples": None,
        "drift": [{"column": c, "metric": "psi", "value": v, "drifted": v >= 0.2}
                  for c, v in drift]},
    _counts, _counts, _counts, _counts, st.none() | _counts, st.lists(_names, max_size=3),
    st.lists(st.tuples(_names, st.floats(0, 5, allow_nan=False)), max_size=4))
_folders = st.builds(
    lambda a, r: {"added": a, "removed": r, "modified": [], "renamed": [],
                  "counts": {"added": len(a), "removed": len(r), "modified": 0, "renamed": 0}},
    st.lists(_names, max_size=3, unique=True), st.lists(_names, max_size=3, unique=True))


@st.composite
def _slots(draw):
    status = draw(st.sampled_from(["unchanged", "modified", "moved", "added", "removed"]))
    s = {"slot": "s", "status": status, "path": "p", "old": "1" * 32, "new": "2" * 32,
         "type": "blob", "old_size": draw(_counts), "new_size": draw(_counts), "old_path": None,
         "files": None, "table": None, "note": None}
    if status == "moved":
        s.update(old_path="q", new=s["old"])
    if status == "modified":
        kind = draw(st.sampled_from(["table", "files", "note"]))
        if kind == "table":
            s["table"] = draw(_tables)
        elif kind == "files":
            s.update(type="tree", files=draw(_folders))
        else:
            s["note"] = "not readable as a table; compared by bytes only"
    return s


@settings(max_examples=60, deadline=None)
@given(inputs=st.dictionaries(_names, _slots(), max_size=3),
       outputs=st.dictionaries(_names, _slots(), max_size=2),
       rmse=st.tuples(st.floats(0, 100, allow_nan=False), st.floats(0, 100, allow_nan=False)))
def test_any_literal_diff_round_trips_and_renders(inputs, outputs, rmse):
    for name, s in {**inputs, **outputs}.items():
        s["slot"] = name
    changed = ["data"] if any(s["status"] != "unchanged" for s in inputs.values()) else []
    delta = round(rmse[1] - rmse[0], 10)
    d = Diff.from_dict(literal(
        changed=changed, inputs=inputs, outputs=outputs, code=CODE_SAME, params=NO_PARAMS,
        metrics={"rmse": {"old": rmse[0], "new": rmse[1], "delta": delta,
                          "changed": rmse[0] != rmse[1]}}))
    back = Diff.from_dict(json.loads(json.dumps(d.to_dict())))
    assert back == d
    lines = explain.verdict(d)
    assert lines[0] == "price-model@1 -> price-model@2"
    data_lines = [x for x in lines if x.startswith("    data   ")]
    assert len(data_lines) == sum(s["status"] != "unchanged" for s in inputs.values())
    assert ("because:" in "\n".join(lines)) == bool(changed)
    outputs_changed = any(s["status"] not in ("unchanged", "moved") for s in outputs.values())
    only_missing = all(s["status"] in ("unchanged", "moved", "removed") for s in outputs.values())
    assert ("not explained by any recorded input" in "\n".join(lines)) == \
        (not changed and outputs_changed and bool(inputs) and not only_missing)
    if not changed and outputs_changed and not inputs:  # nothing upstream to blame
        assert "the record has no inputs" in "\n".join(lines)
    causes = [x.split()[0] for x in lines if x.startswith("    ")]
    assert causes == ["data"] * len(data_lines)
    words = set(" ".join(lines).replace("(", " ").replace(")", " ").split())
    assert not words & {"None", "True", "False"}  # never a Python repr


def test_missing_outputs_are_not_blamed_on_nondeterminism():
    d = literal(changed=[], code=CODE_SAME, params=NO_PARAMS, metrics={})
    d["inputs"]["listings"].update(status="unchanged", new="3" * 32, table=None)
    d["outputs"]["model"].update(status="removed", new=None, new_size=None)
    text = "\n".join(render(d))
    assert "missing outputs were deleted or not produced yet" in text
    assert "nondeterministic" not in text


def test_record_without_inputs_says_its_outputs_are_the_data():
    d = literal(changed=[], code=CODE_SAME, params=NO_PARAMS, metrics={}, inputs={})
    text = "\n".join(render(d))
    assert "the record has no inputs" in text
    assert "nondeterministic" not in text


# --------------------------------------------------------------------------- issue 10


def _level(name: str, v: int, inputs: dict, changed: list, **over) -> dict:
    """A small upstream diff of ``name@v`` -> ``name@v+1``."""
    d = literal(old={"oid": f"{v}" * 32, "name": name, "version": v},
                new={"oid": f"{v + 1}" * 32, "name": name, "version": v + 1},
                changed=changed, inputs=inputs, outputs={}, code=CODE_SAME, params=NO_PARAMS,
                metrics={})
    d.update(over)
    return d


def _slot(name: str, path: str, rows_added: int, upstream=None) -> dict:
    return {"slot": name, "status": "modified", "path": path, "old": "a" * 32, "new": "b" * 32,
            "type": "blob", "old_size": 10, "new_size": 20, "upstream": upstream,
            "table": {"rows_old": 5, "rows_new": 5 + rows_added, "rows_added": rows_added,
                      "rows_removed": 0, "rows_changed": None}}


def chain() -> dict:
    """model changed <- model@1 -> @2 (train grew) <- features@4 -> @5 (raw grew, prepare.py
    changed) <- raw@7 -> @8 (no inputs)."""
    raw = _level("raw", 7, {}, [])
    features = _level("features", 4, {"raw": _slot("raw", "raw/x.csv", 3, raw)},
                      ["data", "code"],
                      code={**CODE_SAME, "new_commit": "b" * 40, "changed": True, "commits": [],
                            "files": [{"path": "prepare.py", "added": 1, "removed": 1}]})
    model = _level("model", 1, {"train": _slot("train", "features/f.csv", 3, features)}, ["data"])
    return literal(changed=["data"], code=CODE_SAME, params=NO_PARAMS,
                   inputs={"model": {**_slot("model", "model.bin", 0, model), "table": None}})


def test_upstream_renders_as_indented_arrows_and_a_root_cause_line():
    assert render(chain()) == [
        "price-model@1 -> price-model@2",
        "  model.pkl changed (1.2 MB -> 1.3 MB); metrics: rmse 41.2 -> 37.9 (-3.3)",
        "  root cause: features@4 -> features@5: raw (raw/x.csv): +3 rows, -0; code prepare.py +1 -1",
        "  because:",
        "    data   model (model.bin): content changed (10 B -> 20 B)",
        "           ← model@1 -> model@2: train (features/f.csv): +3 rows, -0",
        "             ← features@4 -> features@5: raw (raw/x.csv): +3 rows, -0; code prepare.py +1 -1",
        "               ← raw@7 -> raw@8: no inputs: its outputs are the data itself",
        "  unchanged: code (aaaaaaa), params, env (python 3.11.7, 142 packages)",
    ]


def test_upstream_round_trips_through_json():
    d = Diff.from_dict(chain())
    back = Diff.from_dict(json.loads(json.dumps(d.to_dict())))
    assert back == d
    up = d.to_dict()["inputs"]["model"]["upstream"]
    assert up["old"]["name"] == "model"
    assert up["inputs"]["train"]["upstream"]["inputs"]["raw"]["upstream"]["inputs"] == {}
    assert d.to_dict()["outputs"]["model"]["upstream"] is None
    assert explain.root_causes(d)[0].old["name"] == "features"


def test_no_root_cause_line_when_nothing_upstream_changed():
    # the producer's inputs did not change (nondeterministic): the top input is the deepest
    nothing = _level("model", 1, {"train": {**_slot("train", "f.csv", 0), "status": "unchanged",
                                            "table": None}}, [])
    d = literal(changed=["data"], code=CODE_SAME, params=NO_PARAMS,
                inputs={"model": {**_slot("model", "model.bin", 0, nothing), "table": None}})
    lines = render(d)
    assert lines[2:5] == ["  because:",
                          "    data   model (model.bin): content changed (10 B -> 20 B)",
                          "           ← model@1 -> model@2: no recorded input changed"]
    assert explain.root_causes(Diff.from_dict(d)) == []


def test_values_as_users_write_them():
    d = literal(changed=["params"], code=CODE_SAME, inputs={},
                params={"added": {"log_target": True, "tag": None, "layers": [64, 32]},
                        "removed": {"old": 1},
                        "changed": {"lr": {"old": 0.1, "new": 1e-05},
                                    "early_stop": {"old": False, "new": True},
                                    "name": {"old": "", "new": "gbm"}}},
                metrics={"acc": {"old": 0.9, "new": None, "delta": None, "changed": True},
                         "f1": {"old": None, "new": 0.5, "delta": None, "changed": True},
                         "ok": {"old": True, "new": False, "delta": None, "changed": True},
                         "rmse": {"old": 1.23456789, "new": 1.23456788, "delta": -1e-08,
                                  "changed": True}})
    lines = render(d)
    assert lines[1] == ("  model.pkl changed (1.2 MB -> 1.3 MB); metrics: acc 0.9 -> (missing), "
                        "f1 (missing) -> 0.5, ok true -> false, "
                        "rmse 1.23456789 -> 1.23456788 (-1e-08)")
    assert lines[3] == ('    params lr: 0.1 -> 1e-05, early_stop: false -> true, name: "" -> gbm, '
                        "+log_target=true, +tag=null, +layers=[64, 32], -old")


@pytest.mark.parametrize("value,text", [
    (None, "null"), (True, "true"), (False, "false"), (0.1, "0.1"), (3, "3"), ("", '""'),
    ("a b", "a b"), ([1, "x"], '[1, "x"]'), ({"k": None}, '{"k": null}'),
    (float("nan"), "nan"), (float("-inf"), "-inf")])
def test_fmt_value(value, text):
    assert explain.fmt_value(value) == text


def test_moved_slot_lines():
    d = literal(changed=["data"], code=CODE_SAME, params=NO_PARAMS, metrics={})
    d["inputs"]["listings"].update(status="moved", old_path="old/listings.csv", new="3" * 32,
                                   table=None, old_size=1100)
    d["outputs"]["model"].update(status="moved", old_path="m/model.pkl", new="5" * 32)
    assert render(d)[1:4] == [
        "  model.pkl moved from m/model.pkl (same content)",
        "  because:",
        "    data   listings (old/listings.csv -> data/listings.csv): moved, same content (1.1 KB)"]


def test_changed_rows_sample_old_to_new_cells():
    t = TableDiff(rows_old=3, rows_new=3, rows_added=0, rows_removed=0, rows_changed=1,
                  key=("id",), cells_changed=(("price", 1), ("ok", 1)),
                  samples={"added": [], "removed": [], "changed": [
                      {"key": {"id": 2}, "old": {"id": 2, "price": 20, "ok": None},
                       "new": {"id": 2, "price": 25.5, "ok": True}, "columns": ["price", "ok"]}]})
    d = Diff.from_dict(literal())
    d.inputs["listings"] = SlotDiff("listings", "modified", "t.csv", "a" * 32, "b" * 32,
                                    table=t)
    assert explain.samples_text(d) == ("t.csv: changed rows (first 1)\n"
                                       "  id=2: price 20 -> 25.5, ok null -> true")


# -- code scope and unrecorded reads (issue 10) -----------------------------------------------

def test_commits_outside_the_scope_are_said_once():
    code = {**CODE_SAME, "new_commit": "b" * 40, "commits": [], "scope": ["train.py"],
            "commits_outside_scope": 2}
    lines = render(literal(changed=["data", "params"], code=code))
    assert lines[-1] == ("  unchanged: code (bbbbbbb; 2 commits outside the code scope), "
                         "env (python 3.11.7, 142 packages)")
    assert not any("code unchanged" in x for x in lines)
    quiet = render(literal(changed=[], code=code, params=NO_PARAMS, metrics={},
                           outputs={}, inputs={}))
    assert quiet == ["price-model@1 -> price-model@2", "  outputs unchanged",
                     "  no recorded input changed",
                     "  code unchanged (bbbbbbb): 2 commits outside the code scope"]


def test_first_commit_lines():
    none_old = {**CODE_SAME, "old_commit": None, "commits_known": False, "changed": True}
    assert render(literal(changed=["code"], code=none_old, params=NO_PARAMS))[3] == (
        "    code   commit aaaaaaa; the old version was recorded without one (outside git or "
        "before the first commit)")
    none_new = {**CODE_SAME, "new_commit": None, "commits_known": False, "changed": True}
    assert render(literal(changed=["code"], code=none_new, params=NO_PARAMS))[3] == (
        "    code   no commit recorded (outside git or before the first commit); the old "
        "version was at aaaaaaa")


@pytest.mark.parametrize("reads,tail", [
    (["a.csv"], "a.csv, which is not recorded"),
    (["a.csv", "b.csv"], "a.csv and b.csv, which are not recorded"),
    (["a", "b", "c"], "a, b and c, which are not recorded"),
    (["a", "b", "c", "d", "e"], "a, b, c and 2 more files, which are not recorded"),
])
def test_unrecorded_reads_explain_an_unexplained_change(reads, tail):
    d = literal(changed=[], code=CODE_SAME, params=NO_PARAMS, unrecorded_reads=reads)
    d["inputs"]["listings"].update(status="unchanged", new="3" * 32, table=None)
    assert render(d)[2] == ("  no recorded input changed: the result is not explained by "
                            f"recorded inputs; the run also read {tail}")
    # named only when nothing recorded explains the change
    assert not any("not recorded" in x for x in render(literal(unrecorded_reads=reads)))
