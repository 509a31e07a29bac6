"""Lineage (issue 4): records linked by the content they share, with no declaration;
links through sub-folders and single files of an output folder; inputs named by a
record; upstream/downstream with depth; used_by/produced_by; records(); the CLI
exports; a tampered index with a cycle; reindex."""

from __future__ import annotations

import json
import sys
import threading

import pytest

from mlver.base.errors import ConfigError

import mlver
from _fixtures import (assert_error, assert_ok, cli, commit_all, index_conn, make_git_repo, mrepo, proj,
                       run_mlver, write, write_csv, HEADER, table_rows)

__all__ = ["mrepo", "proj"]

# Data is usually kept out of git; test_subfolder_of_untracked_folder covers the other case.
GITIGNORED = {"README.md": "# p\n", ".gitignore": ".mlver/\nraw/\nfeatures/\n*.bin\nreport.txt\n"}
COLUMNS = {"oid", "name", "version", "kind", "relation", "depth", "slot", "path"}


def build_chain(root) -> dict:
    """raw -> prepare (dataset, folder output) -> train -> evaluate, plus trainings on a
    sub-folder, on one file, and on the record itself (``-i feats=prepare@1``)."""
    repo = mlver.Repo.init(str(root))
    write_csv(root / "raw/listings.csv", HEADER, table_rows(50, seed=1))
    write_csv(root / "features/train.csv", HEADER, table_rows(40, seed=2))
    write_csv(root / "features/test.csv", HEADER, table_rows(10, seed=3))
    write_csv(root / "features/sub/extra.csv", HEADER, table_rows(5, seed=4))
    oids = {}
    oids["prepare"] = repo.snapshot("prepare", inputs={"raw": "raw"},
                                    outputs={"features": "features"}, kind="dataset").oid
    write(root / "model.bin", b"model trained on all features")
    oids["train"] = repo.snapshot("train", inputs={"feats": "features"},
                                  outputs={"model": "model.bin"},
                                  params=["lr=0.1", "model.depth=3"], metrics=["rmse=2.5"]).oid
    write(root / "report.txt", "rmse 2.5\n")
    oids["evaluate"] = repo.snapshot("evaluate", inputs={"model": "model.bin"},
                                     outputs={"report": "report.txt"}).oid
    write(root / "model_sub.bin", b"model trained on a sub-folder")
    oids["train_sub"] = repo.snapshot("train_sub", inputs={"feats": "features/sub"},
                                      outputs={"model": "model_sub.bin"}).oid
    write(root / "model_file.bin", b"model trained on one file")
    oids["train_file"] = repo.snapshot("train_file", inputs={"t": "features/train.csv"},
                                       outputs={"model": "model_file.bin"}).oid
    write(root / "model_rev.bin", b"model trained on a record")
    res = cli("snapshot", "train_rev", "-i", "feats=prepare@1", "-o", "model=model_rev.bin",
              "--json")
    oids["train_rev"] = json.loads(assert_ok(res))["oid"]
    repo.close()
    return oids


@pytest.fixture(scope="module")
def chain_built(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIRTUAL_ENV", sys.prefix)
        for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            mp.delenv(var, raising=False)
        root = make_git_repo(tmp_path_factory.mktemp("lineage") / "proj", GITIGNORED)
        mp.chdir(root)
        oids = build_chain(root)
    return root, oids


@pytest.fixture
def chain(chain_built, monkeypatch):
    root, oids = chain_built
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    monkeypatch.chdir(root)
    repo = mlver.Repo(str(root))
    yield repo, oids
    repo.close()


def names(df) -> list[str]:
    return sorted(df["name"])


# --------------------------------------------------------------------------- automatic links


def test_output_of_a_is_input_of_b(chain):
    repo, oids = chain
    up = repo.lineage("train").upstream()
    assert COLUMNS <= set(up.columns)
    assert len(up) == 1
    row = up.iloc[0]
    assert (row["oid"], row["name"], row["version"], row["kind"]) == \
        (oids["prepare"], "prepare", 1, "dataset")
    assert (row["relation"], row["depth"], row["slot"], row["path"]) == \
        ("upstream", 1, "feats", "features")
    assert row["via"] == repo.show("prepare@1")[1].outputs["features"].oid
    assert row["linked_to"] == oids["train"]


def test_link_through_a_subfolder_of_an_output(chain):
    repo, oids = chain
    up = repo.lineage("train_sub").upstream()
    assert list(up["oid"]) == [oids["prepare"]]
    assert up.iloc[0]["path"] == "features/sub"


def test_link_through_one_file_of_an_output_folder(chain):
    repo, oids = chain
    up = repo.lineage("train_file").upstream()
    assert list(up["oid"]) == [oids["prepare"]]
    assert (up.iloc[0]["slot"], up.iloc[0]["path"]) == ("t", "features/train.csv")


def test_input_named_by_a_record(chain):
    repo, oids = chain
    rec = repo.show("train_rev")[1]
    feats = rec.inputs["feats"]
    prep = repo.show("prepare@1")[1].outputs["features"]
    assert feats.source == oids["prepare"]
    assert (feats.oid, feats.path, feats.type) == (prep.oid, prep.path, "tree")
    up = repo.lineage("train_rev").upstream()
    assert list(up["oid"]) == [oids["prepare"]]
    assert up.iloc[0]["slot"] == "feats"


def test_upstream_depth(chain):
    repo, oids = chain
    full = repo.lineage("evaluate").upstream()
    assert [(r.name, r.depth) for r in full.itertuples()] == [("train", 1), ("prepare", 2)]
    assert list(full["linked_to"]) == [oids["evaluate"], oids["train"]]
    one = repo.lineage("evaluate").upstream(depth=1)
    assert list(one["name"]) == ["train"]
    assert one.iloc[0]["slot"] == "model" and one.iloc[0]["path"] == "model.bin"
    assert repo.lineage("evaluate").upstream(depth=0).empty
    assert repo.lineage("prepare").upstream().empty


def test_downstream(chain):
    repo, oids = chain
    down = repo.lineage("prepare").downstream()
    got = {(r.name, r.depth) for r in down.itertuples()}
    assert got == {("train", 1), ("train_sub", 1), ("train_file", 1), ("train_rev", 1),
                   ("evaluate", 2)}
    assert set(down["relation"]) == {"downstream"}
    assert names(repo.lineage("prepare").downstream(depth=1)) == \
        ["train", "train_file", "train_rev", "train_sub"]
    assert repo.lineage("evaluate").downstream().empty
    with pytest.raises(mlver.MlverError):
        repo.lineage("prepare").downstream(depth=-1)


def test_used_by_and_produced_by_path(chain):
    repo, oids = chain
    used = repo.used_by("features/train.csv")
    assert COLUMNS <= set(used.columns)
    assert names(used) == ["train", "train_file", "train_rev"]
    assert set(used["relation"]) == {"input"}
    assert set(used["path"]) == {"features/train.csv"}
    assert names(repo.used_by("features")) == ["train", "train_rev"]
    assert names(repo.used_by("model.bin")) == ["evaluate"]
    assert names(repo.produced_by("model.bin")) == ["train"]
    made = repo.produced_by("features/sub/extra.csv")
    assert names(made) == ["prepare"]
    assert list(made["path"]) == ["features/sub/extra.csv"]
    assert repo.used_by("raw").iloc[0]["name"] == "prepare"
    assert repo.produced_by("raw").empty


def test_used_by_oid(chain):
    repo, oids = chain
    model_oid = repo.show("train")[1].outputs["model"].oid
    assert names(repo.used_by(model_oid)) == ["evaluate"]
    assert names(repo.produced_by(model_oid)) == ["train"]
    assert repo.used_by("0" * 32).empty


def test_used_by_content_not_path(chain, tmp_path):
    repo, oids = chain
    # the same bytes under another name are the same content
    root = repo.root
    copy = f"{root}/copy_of_model.bin"
    with open(copy, "wb") as f:
        f.write(b"model trained on all features")
    try:
        assert names(repo.used_by("copy_of_model.bin")) == ["evaluate"]
    finally:
        import os
        os.unlink(copy)


def test_used_by_missing_path_is_an_error(chain):
    repo, _ = chain
    with pytest.raises(mlver.MlverError):
        repo.used_by("no/such/file.csv")


def test_records_frame_has_params_and_metrics_columns(chain):
    repo, oids = chain
    df = repo.records()
    assert len(df) == 6
    for col in ("oid", "name", "version", "kind", "created", "commit", "message",
                "params.lr", "params.model.depth", "metrics.rmse"):
        assert col in df.columns, col
    row = df[df["name"] == "train"].iloc[0]
    assert (row["params.lr"], row["params.model.depth"], row["metrics.rmse"]) == (0.1, 3, 2.5)
    assert row["oid"] == oids["train"]
    assert list(repo.records("prepare")["name"]) == ["prepare"]
    assert list(repo.records("prepare")["kind"]) == ["dataset"]


# --------------------------------------------------------------------------- CLI


def test_cli_lineage_json(chain):
    repo, oids = chain
    j = json.loads(assert_ok(cli("lineage", "train", "--format", "json")))
    assert {"nodes", "edges"} <= set(j)
    nodes = {n["oid"]: n for n in j["nodes"]}
    assert set(nodes) == {oids["train"], oids["prepare"], oids["evaluate"]}
    for n in j["nodes"]:
        assert {"oid", "name", "version", "kind"} <= set(n)
    assert nodes[oids["prepare"]] == {"oid": oids["prepare"], "name": "prepare", "version": 1,
                                      "kind": "dataset"}
    feats = repo.show("train")[1].inputs["feats"].oid
    model = repo.show("train")[1].outputs["model"].oid
    assert sorted(j["edges"], key=lambda e: e["slot"]) == [
        {"from": oids["prepare"], "to": oids["train"], "slot": "feats", "oid": feats},
        {"from": oids["train"], "to": oids["evaluate"], "slot": "model", "oid": model}]


def test_cli_lineage_upstream_downstream_depth(chain):
    repo, oids = chain
    j = json.loads(assert_ok(cli("lineage", "evaluate", "--upstream", "--format", "json")))
    assert {n["name"] for n in j["nodes"]} == {"evaluate", "train", "prepare"}
    j = json.loads(assert_ok(cli("lineage", "evaluate", "--upstream", "--depth", "1",
                                 "--format", "json")))
    assert {n["name"] for n in j["nodes"]} == {"evaluate", "train"}
    assert len(j["edges"]) == 1
    j = json.loads(assert_ok(cli("lineage", "prepare", "--downstream", "--format", "json")))
    assert {n["name"] for n in j["nodes"]} == {"prepare", "train", "train_sub", "train_file",
                                               "train_rev", "evaluate"}
    j = json.loads(assert_ok(cli("lineage", "train", "--depth", "0", "--format", "json")))
    assert [n["name"] for n in j["nodes"]] == ["train"] and j["edges"] == []


def test_cli_lineage_text_dot_mermaid(chain):
    repo, oids = chain
    text = assert_ok(cli("lineage", "train"))
    lines = text.splitlines()
    assert lines[0].startswith(f"train@1 (model) {oids['train'][:10]}")
    assert any("<- prepare@1 (dataset) via feats" in x for x in lines)
    assert any("-> evaluate@1 (model) via model" in x for x in lines)
    dot = assert_ok(cli("lineage", "train", "--format", "dot"))
    assert dot.startswith("digraph")
    assert f'"{oids["prepare"]}" -> "{oids["train"]}"' in dot
    assert dot.rstrip().endswith("}")
    mermaid = assert_ok(cli("lineage", "train", "--format", "mermaid"))
    assert mermaid.startswith("flowchart")
    assert '"prepare@1"' in mermaid and "-->|feats|" in mermaid


def test_cli_lineage_errors(chain):
    r = cli("lineage", "train", "--depth", "-1")  # a usage error (issue 19), as diff's
    assert r.exit_code == 2 and "Invalid value for '--depth'" in r.output
    assert_error(cli("lineage", "nope"))
    assert cli("lineage", "train", "--format", "svg").exit_code == 2  # usage error


def test_subfolder_of_untracked_folder(mrepo, proj):
    """The common layout: data folders not in git at all (neither tracked nor ignored)."""
    write(proj / "features/sub/extra.txt", "e\n")
    write(proj / "features/train.txt", "t\n")
    write(proj / "raw.txt", "r\n")
    prep = mrepo.snapshot("prepare", inputs={"raw": "raw.txt"}, outputs={"f": "features"}).oid
    write(proj / "m.bin", "m\n")
    rec = mrepo.snapshot("train_sub", inputs={"feats": "features/sub"}, outputs={"m": "m.bin"})
    assert list(mrepo.lineage("train_sub").upstream()["oid"]) == [prep]
    assert "features/" not in rec.record.code.untracked  # captured as data, not code


# --------------------------------------------------------------------------- no false links


def test_identical_subfolder_of_unrelated_folders_is_no_link(mrepo, proj):
    write(proj / "out1/shared/s.txt", "same bytes\n")
    write(proj / "out1/a.txt", "a\n")
    write(proj / "in2/shared/s.txt", "same bytes\n")
    write(proj / "in2/b.txt", "b\n")
    write(proj / "src.txt", "src\n")
    write(proj / "m.bin", "m\n")
    mrepo.snapshot("p", inputs={"src": "src.txt"}, outputs={"o": "out1"})
    mrepo.snapshot("q", inputs={"i": "in2"}, outputs={"m": "m.bin"})
    assert mrepo.lineage("q").upstream().empty
    assert mrepo.lineage("p").downstream().empty


def test_record_is_never_its_own_ancestor(mrepo, proj):
    write(proj / "f.txt", "content\n")
    with pytest.raises(ConfigError, match="overlaps input 'a'"):
        mrepo.snapshot("loop", inputs={"a": "f.txt"}, outputs={"b": "f.txt"})
    write(proj / "g.txt", "content\n")  # the same content at another path
    mrepo.snapshot("loop", inputs={"a": "f.txt"}, outputs={"b": "g.txt"})
    oid = mrepo.resolve("loop")
    assert oid not in set(mrepo.lineage("loop").upstream()["oid"])
    assert oid not in set(mrepo.lineage("loop").downstream()["oid"])


def test_later_version_links_to_earlier_by_content(mrepo, proj):
    write(proj / "a.txt", "1\n")
    write(proj / "b.txt", "2\n")
    mrepo.snapshot("x", inputs={"i": "a.txt"}, outputs={"o": "b.txt"})
    write(proj / "c.txt", "3\n")
    mrepo.snapshot("x", inputs={"i": "b.txt"}, outputs={"o": "c.txt"})  # consumes x@1's output
    up = mrepo.lineage("x@2").upstream()
    assert [(r.name, r.version) for r in up.itertuples()] == [("x", 1)]


def test_a_later_record_with_the_same_content_is_not_upstream(mrepo, proj):
    # "early" consumes data.csv; "late", created after it, happens to output the same
    # bytes: it made nothing "early" read, so it is downstream at most, never upstream
    write(proj / "data.csv", "a,b\n1,2\n")
    write(proj / "early.txt", "e\n")
    mrepo.snapshot("early", inputs={"d": "data.csv"}, outputs={"o": "early.txt"})
    write(proj / "src.txt", "s\n")
    write(proj / "copy.csv", "a,b\n1,2\n")
    mrepo.snapshot("late", inputs={"s": "src.txt"}, outputs={"c": "copy.csv"})
    assert list(mrepo.lineage("early").upstream()["name"]) == []
    assert list(mrepo.lineage("late").downstream()["name"]) == []
    assert list(mrepo.lineage("late").upstream()["name"]) == []
    # a consumer created after it does link to it
    write(proj / "after.txt", "t\n")
    mrepo.snapshot("after", inputs={"d": "copy.csv"}, outputs={"o": "after.txt"})
    assert list(mrepo.lineage("after").upstream()["name"]) == ["late"]
    assert sorted(mrepo.lineage("late").downstream()["name"]) == ["after"]
    assert list(mrepo.lineage("early").downstream()["name"]) == []
    edges = {(e["from"], e["to"]) for e in mrepo.lineage("late").graph()["edges"]}
    assert edges == {(mrepo.resolve("late"), mrepo.resolve("after"))}


# --------------------------------------------------------------------------- cycles, reindex


def ignore(proj):
    write(proj / ".gitignore", GITIGNORED[".gitignore"])
    commit_all(proj, "ignore data")


def _in_thread(fn, timeout=20):
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as e:  # pragma: no cover - reported below
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "lineage traversal did not terminate"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_cycle_in_a_tampered_index_terminates(proj):
    ignore(proj)
    oids = build_chain(proj)
    loop = "f" * 32
    with index_conn(proj) as c:
        # make train upstream of prepare, while prepare is upstream of train: an input
        # naming a record links whatever the times (a link by content could not, as the
        # producer must be the older record)
        c.execute("INSERT INTO slots(record, relation, slot, path, oid, type, source) "
                  "VALUES(?, 'input', 'loop', 'x', ?, 'blob', ?)",
                  (oids["prepare"], loop, oids["train"]))
    repo = mlver.Repo(str(proj))
    up = _in_thread(lambda: repo.lineage("prepare").upstream())
    assert [(r.name, r.depth) for r in up.itertuples()][0] == ("train", 1)
    assert oids["prepare"] not in set(up["oid"])
    down = _in_thread(lambda: repo.lineage("train").downstream())
    assert oids["train"] not in set(down["oid"])
    assert "prepare" in set(down["name"])
    up_train = _in_thread(lambda: repo.lineage("train").upstream())
    assert list(up_train["name"]) == ["prepare"]
    repo.close()
    for fmt in ("text", "json", "dot", "mermaid"):
        p = run_mlver(proj, "lineage", "train", "--format", fmt, timeout=30)
        assert p.returncode == 0, p.stderr
        assert "Traceback" not in p.stderr
    p = run_mlver(proj, "lineage", "train", timeout=30)
    assert "(cycle)" in p.stdout


def test_reindex_rebuilds_the_same_lineage(proj):
    ignore(proj)
    oids = build_chain(proj)

    def snapshot_of_lineage():
        repo = mlver.Repo(str(proj))
        out = {
            "graph": json.loads(assert_ok(cli("lineage", "train", "--format", "json"))),
            "up": repo.lineage("evaluate").upstream().to_dict("records"),
            "down": repo.lineage("prepare").downstream().to_dict("records"),
            "used": repo.used_by("features/train.csv").to_dict("records"),
            "records": sorted(repo.records()["oid"]),
        }
        repo.close()
        return out

    before = snapshot_of_lineage()
    res = cli("reindex")
    assert assert_ok(res).strip() == "Indexed 6 records"
    assert snapshot_of_lineage() == before
    # a deleted index is rebuilt on the next open, the same again
    for suffix in ("", "-wal", "-shm"):
        p = proj / ".mlver" / f"index.sqlite{suffix}"
        if p.exists():
            p.unlink()
    assert snapshot_of_lineage() == before
    assert sorted(before["records"]) == sorted(oids.values())


# --------------------------------------------------------------------------- large folders

BIG_DIRS, BIG_PER_DIR = 125, 100  # 12,500 files: past the old cap of 10,000 rows per slot
LEAF = "big/d124/deep/x/leaf.csv"


def _write_big(root) -> None:
    for d in range(BIG_DIRS):
        folder = root / "big" / f"d{d:03d}"
        folder.mkdir(parents=True)
        for i in range(BIG_PER_DIR):
            (folder / f"f{i:02d}.csv").write_bytes(b"%d,%d\n" % (d, i))
    write(root / LEAF, "leaf,1\n")
    write(root / "big/d124/deep/x/other.csv", "other,1\n")


@pytest.fixture(scope="module")
def big_built(tmp_path_factory):
    """prep@1 makes a 12,500-file folder; one record takes one file deep in it, one a
    sub-folder, one the whole folder; prep@2 changes a sibling of the sub-folder's files,
    prep@3 a file next to the deep one."""
    from mlver.store.graph import Graph

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIRTUAL_ENV", sys.prefix)
        for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            mp.delenv(var, raising=False)
        root = make_git_repo(tmp_path_factory.mktemp("big") / "proj",
                             {"README.md": "# p\n", ".gitignore": ".mlver/\nbig/\n*.bin\nsrc.txt\n"})
        mp.chdir(root)
        _write_big(root)
        write(root / "src.txt", "source\n")
        repo = mlver.Repo.init(str(root))
        stats, oids = [], {}
        oids["prep1"] = repo.snapshot("prep", inputs={"src": "src.txt"},
                                      outputs={"big": "big"}).oid
        stats.append(repo.store.index.graph.stats())
        for name, inp in (("use_leaf", LEAF), ("use_sub", "big/d124"), ("use_all", "big")):
            write(root / f"{name}.bin", name)
            oids[name] = repo.snapshot(name, inputs={"i": inp},
                                       outputs={"m": f"{name}.bin"}).oid
        stats.append(repo.store.index.graph.stats())
        write(root / "big/d124/f00.csv", "changed\n")
        oids["prep2"] = repo.snapshot("prep", inputs={"src": "src.txt"},
                                      outputs={"big": "big"}).oid
        stats.append(repo.store.index.graph.stats())
        write(root / "big/d124/deep/x/other.csv", "other,2\n")
        oids["prep3"] = repo.snapshot("prep", inputs={"src": "src.txt"},
                                      outputs={"big": "big"}).oid
        stats.append(repo.store.index.graph.stats())
        repo.close()
    return root, oids, stats


@pytest.fixture
def big(big_built, monkeypatch):
    root, oids, stats = big_built
    monkeypatch.chdir(root)
    repo = mlver.Repo(str(root))
    yield repo, oids, stats
    repo.close()


def test_a_file_deep_in_a_large_folder_is_found(big):
    repo, oids, _ = big
    made = repo.produced_by(LEAF)
    assert sorted(zip(made["name"], made["version"])) == [("prep", 1), ("prep", 2), ("prep", 3)]
    assert set(made["path"]) == {LEAF} and set(made["slot"]) == {"big"}
    used = repo.used_by(LEAF)
    assert sorted(zip(used["name"], used["path"])) == [
        ("use_all", LEAF), ("use_leaf", LEAF), ("use_sub", LEAF)]
    # the last file of the last folder, and a sub-folder
    last = repo.produced_by("big/d123/f99.csv")
    assert list(last["path"].unique()) == ["big/d123/f99.csv"] and len(last) == 3
    # big/d124/deep as it is now (other.csv changed in prep@3): made by prep@3 only, and
    # taken by nobody (use_sub and use_all took it before the change)
    deep = repo.produced_by("big/d124/deep")
    assert list(zip(deep["version"], deep["path"])) == [(3, "big/d124/deep")]
    assert repo.used_by("big/d124/deep").empty
    assert list(repo.used_by("big/d123")["name"]) == ["use_all"]


def test_records_taking_part_of_a_large_folder_link_to_its_producer(big):
    repo, oids, _ = big
    up = repo.lineage("use_leaf").upstream()
    # the leaf is the same content in all three versions of prep, but only prep@1 was
    # there when use_leaf took it: prep@2 and @3 came later and made nothing it read
    assert sorted(up["version"]) == [1]
    assert set(up["path"]) == {LEAF} and set(up["slot"]) == {"i"}
    up = repo.lineage("use_sub").upstream()
    assert list(zip(up["name"], up["version"], up["path"])) == [("prep", 1, "big/d124")]
    up = repo.lineage("use_all").upstream()
    assert list(zip(up["name"], up["version"], up["path"])) == [("prep", 1, "big")]
    down = repo.lineage("prep@1").downstream()
    assert sorted(zip(down["name"], down["path"])) == [
        ("use_all", "big"), ("use_leaf", LEAF), ("use_sub", "big/d124")]
    assert list(repo.lineage("prep@3").downstream()["name"]) == []
    j = json.loads(assert_ok(cli("lineage", "prep@1", "--downstream", "--format", "json")))
    assert {n["name"] for n in j["nodes"]} == {"prep", "use_leaf", "use_sub", "use_all"}


def test_a_new_version_indexes_only_the_changed_folders(big):
    _, _, stats = big
    v1, consumers, v2, v3 = stats
    assert v1["tree_entries"] == BIG_DIRS * BIG_PER_DIR + BIG_DIRS + 2 + 2  # files + folders
    assert consumers["tree_entries"] == v1["tree_entries"]  # nothing new: same trees
    # prep@2: the root (125 folders) and d124 (100 files + deep/) are new trees
    assert v2["tree_entries"] - consumers["tree_entries"] == BIG_DIRS + BIG_PER_DIR + 1
    assert v2["trees"] - consumers["trees"] == 2
    # prep@3: root, d124, d124/deep, d124/deep/x
    assert v3["tree_entries"] - v2["tree_entries"] == BIG_DIRS + BIG_PER_DIR + 1 + 1 + 2
    assert v3["trees"] - v2["trees"] == 4


def test_reindex_rebuilds_the_same_large_index(big):
    from mlver.store.graph import Graph

    repo, oids, _ = big
    before = repo.store.index.graph.dump()
    used = repo.used_by(LEAF).to_dict("records")
    assert repo.reindex() == 6
    assert repo.store.index.graph.dump() == before
    assert repo.used_by(LEAF).to_dict("records") == used


def test_empty_files_and_symlinks_in_a_folder_are_no_evidence(mrepo, proj):
    import os

    write(proj / "out/real.txt", "r\n")
    write(proj / "out/empty.txt", "")
    (proj / "out/sub").mkdir()
    os.symlink("real.txt", proj / "out/link")
    write(proj / "src.txt", "s\n")
    p = mrepo.snapshot("p", inputs={"src": "src.txt"}, outputs={"o": "out"})
    assert p.record.outputs["o"].type == "tree"
    write(proj / "e.txt", "")
    write(proj / "target.txt", "real.txt")  # the bytes the symlink's blob holds
    write(proj / "m1.bin", "1")
    write(proj / "m2.bin", "2")
    mrepo.snapshot("e", inputs={"i": "e.txt"}, outputs={"m": "m1.bin"})
    mrepo.snapshot("l", inputs={"i": "target.txt"}, outputs={"m": "m2.bin"})
    assert mrepo.lineage("p").downstream().empty
    assert mrepo.lineage("e").upstream().empty and mrepo.lineage("l").upstream().empty
    assert mrepo.produced_by("e.txt").empty and mrepo.produced_by("target.txt").empty
    assert list(mrepo.produced_by("out/real.txt")["path"]) == ["out/real.txt"]


def test_an_index_of_schema_2_is_rebuilt_with_the_same_answers(proj):
    ignore(proj)
    build_chain(proj)
    repo = mlver.Repo(str(proj))
    before = (repo.lineage("prepare").downstream().to_dict("records"),
              repo.used_by("features/sub/extra.csv").to_dict("records"))
    repo.close()
    with index_conn(proj) as c:  # what an older mlver left: an edges table, schema 2
        c.execute("DROP TABLE slots")
        c.execute("CREATE TABLE edges(record TEXT, relation TEXT, slot TEXT, path TEXT, oid TEXT,"
                  " type TEXT, source TEXT, whole INTEGER)")
        c.execute("PRAGMA user_version = 2")
    c.close()
    repo = mlver.Repo(str(proj))
    after = (repo.lineage("prepare").downstream().to_dict("records"),
             repo.used_by("features/sub/extra.csv").to_dict("records"))
    tables = {r[0] for r in repo.store.index.conn.execute("SELECT name FROM sqlite_master")}
    repo.close()
    assert after == before
    assert "edges" not in tables and "slots" in tables


def test_an_unknown_direction_is_a_clear_error(mrepo, proj):
    write(proj / "a.txt", "1\n")
    mrepo.snapshot("x", inputs={"i": "a.txt"})
    with pytest.raises(ConfigError, match="direction 'sideways' is not both, upstream or downstream"):
        mrepo.lineage("x").graph(direction="sideways")
