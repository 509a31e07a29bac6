"""Text and JSON renderings: ``mlver show``, ``log`` and ``status`` name records as
``NAME@N`` and give human sizes; the lineage renderers work from literal graphs."""

from __future__ import annotations

import json
import sys

from mlver.views import text as render
from _fixtures import (assert_error, assert_ok, cli, head_sha, mrepo, proj, write)

__all__ = ["mrepo", "proj"]

PY = sys.executable


def two_versions(mrepo, proj):
    write(proj / "data/listings.csv", "a,b\n" + "1,2\n" * 600)  # 2,404 bytes
    write(proj / "imgs/a.bin", b"a" * 1500)
    write(proj / "imgs/b/c.bin", b"c" * 1500)
    write(proj / "model.pkl", b"m" * 1_250_000)
    r1 = mrepo.snapshot("price-model", inputs={"train": "data/listings.csv", "imgs": "imgs"},
                        outputs={"model": "model.pkl"}, params=["lr=0.1", "tree.depth=3"],
                        metrics=["rmse=41.2"], message="first try")
    write(proj / "model.pkl", b"n" * 1_250_000)
    r2 = mrepo.snapshot("price-model", inputs={"train": "data/listings.csv", "imgs": "imgs"},
                        outputs={"model": "model.pkl"}, params=["lr=0.2", "tree.depth=3"],
                        metrics=["rmse=37.9"])
    return r1, r2


def test_show_text(mrepo, proj):
    r1, r2 = two_versions(mrepo, proj)
    out = assert_ok(cli("show", "price-model@1"))
    lines = out.splitlines()
    assert lines[0] == f"price-model@1  model  {r1.oid}"
    assert "message  first try" in lines
    train = next(x for x in lines if x.strip().startswith("train"))
    assert "data/listings.csv" in train and "(2.4 KB)" in train
    imgs = next(x for x in lines if x.strip().startswith("imgs"))
    assert "(2 files, 3.0 KB)" in imgs
    model = next(x for x in lines if x.strip().startswith("model "))
    assert "(1.2 MB)" in model  # 1,250,000 bytes
    assert "  lr = 0.1" in lines and "  tree.depth = 3" in lines and "  rmse = 41.2" in lines
    assert f"  commit {head_sha(proj)}  branch main" in lines
    out2 = assert_ok(cli("show", "price-model"))
    assert out2.splitlines()[0] == f"price-model@2  model  {r2.oid}"
    assert f"parent   {r1.oid}" in out2.splitlines()


def test_show_json(mrepo, proj):
    r1, _ = two_versions(mrepo, proj)
    j = json.loads(assert_ok(cli("show", "price-model@1", "--json")))
    assert j["oid"] == r1.oid
    assert (j["name"], j["version"], j["kind"]) == ("price-model", 1, "model")
    assert j["inputs"]["train"]["size"] == 2404
    assert j["params"] == {"lr": 0.1, "tree": {"depth": 3}}


def test_show_run_section(mrepo, proj):
    write(proj / "in.txt", "x\n")
    write(proj / "w.py", "open('o.txt', 'w').write('o')\n")
    assert_ok(cli("run", "r", "-i", "a=in.txt", "-o", "o=o.txt", "--", PY, "w.py"))
    lines = assert_ok(cli("show", "r@1")).splitlines()
    i = lines.index("run:")
    assert lines[i + 1].startswith(f"  {PY} w.py  exit 0  ")
    assert lines[i + 1].endswith("s")


def test_show_quotes_the_command_as_explain_does(mrepo, proj):
    write(proj / "in.txt", "x\n")
    assert_ok(cli("run", "r", "-i", "a=in.txt", "-o", "o=o.txt", "--", "/bin/sh", "-c",
                  "echo o > o.txt"))
    lines = assert_ok(cli("show", "r@1")).splitlines()
    i = lines.index("run:")
    assert lines[i + 1].startswith("  /bin/sh -c 'echo o > o.txt'  exit 0  ")


def test_log_text(mrepo, proj):
    r1, r2 = two_versions(mrepo, proj)
    write(proj / "other.txt", "o\n")
    mrepo.snapshot("other", inputs={"a": "other.txt"}, kind="dataset")
    lines = assert_ok(cli("log", "price-model")).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(r2.oid[:10]) and "price-model@2" in lines[0]
    assert lines[1].startswith(r1.oid[:10]) and "price-model@1" in lines[1]
    assert f"git {head_sha(proj)[:7]}" in lines[0]
    assert "[rmse=37.9]" in lines[0] and "[rmse=41.2]" in lines[1]
    assert "first try" in lines[1]
    all_lines = assert_ok(cli("log")).splitlines()
    assert len(all_lines) == 3 and "other@1" in all_lines[0]
    assert len(assert_ok(cli("log", "-n", "1")).splitlines()) == 1
    j = json.loads(assert_ok(cli("log", "price-model", "--json")))
    assert [(x["version"], x["oid"]) for x in j] == [(2, r2.oid), (1, r1.oid)]


def test_log_shows_metric_values_as_users_write_them(mrepo, proj):
    write(proj / "in.txt", "x\n")
    r = mrepo.snapshot("m", inputs={"a": "in.txt"}, metrics=["ok=true", "best=null", "acc=0.9"])
    line = assert_ok(cli("log", "m")).splitlines()[0]
    assert line.startswith(r.oid[:10])
    assert line.endswith("  [acc=0.9, best=null, ok=true]")  # keys sorted, as recorded


def test_log_empty_and_unknown(mrepo, proj):
    assert assert_ok(cli("log")).strip() == "no versions yet"
    assert_error(cli("log", "nope"))


def test_status_text(mrepo, proj):
    two_versions(mrepo, proj)
    assert assert_ok(cli("status")).splitlines() == ["price-model@2: clean"]
    write(proj / "data/listings.csv", "a,b\n1,2\n")
    lines = assert_ok(cli("status")).splitlines()
    assert lines[0] == "price-model@2: changed"
    assert any("modified" in x and "train" in x and "data/listings.csv" in x for x in lines[1:])
    assert not any("imgs" in x for x in lines[1:])
    j = json.loads(assert_ok(cli("status", "--json")))
    assert len(j) == 1
    assert_error(cli("status", "nope"))


def test_status_without_versions(mrepo, proj):
    assert assert_ok(cli("status")).strip() == "no versions yet"


# --------------------------------------------------------------------------- literal graphs

GRAPH = {
    "root": "b" * 32,
    "nodes": [{"oid": "a" * 32, "name": "features", "version": 3, "kind": "dataset"},
              {"oid": "b" * 32, "name": "model", "version": 1, "kind": "model"},
              {"oid": "c" * 32, "name": "report", "version": 2, "kind": "model"}],
    "edges": [{"from": "a" * 32, "to": "b" * 32, "slot": "feats", "oid": "1" * 32},
              {"from": "b" * 32, "to": "c" * 32, "slot": "model", "oid": "2" * 32}],
}


def test_lineage_text_from_literal():
    lines = render.lineage_text(GRAPH, "both").splitlines()
    assert lines[0] == f"model@1 (model) {'b' * 10}"
    assert lines[1] == f"└─ <- features@3 (dataset) via feats {'1' * 10}"
    assert lines[2] == f"└─ -> report@2 (model) via model {'2' * 10}"
    up = render.lineage_text(GRAPH, "upstream").splitlines()
    assert len(up) == 2 and "features@3" in up[1]


def test_lineage_dot_and_mermaid_from_literal():
    dot = render.lineage_dot(GRAPH)
    assert dot.startswith("digraph lineage {") and dot.endswith("}")
    assert f'"{"a" * 32}" -> "{"b" * 32}" [label="feats"];' in dot
    assert "features@3" in dot and "style=rounded" in dot  # datasets are rounded
    mm = render.lineage_mermaid(GRAPH).splitlines()
    assert mm[0] == "flowchart LR"
    assert '  n0(["features@3"])' in mm
    assert '  n1["model@1"]' in mm
    assert "  n0 -->|feats| n1" in mm and "  n1 -->|model| n2" in mm


def test_lineage_text_marks_a_cycle():
    g = dict(GRAPH, edges=GRAPH["edges"] + [{"from": "b" * 32, "to": "a" * 32, "slot": "back",
                                              "oid": "3" * 32}])
    text = render.lineage_text(g, "upstream")
    assert "(cycle)" in text
    assert len(text.splitlines()) < 10


def test_dumps_is_stable():
    assert render.dumps({"b": 1, "a": [1, "é"]}) == '{\n  "a": [\n    1,\n    "é"\n  ],\n  "b": 1\n}'
