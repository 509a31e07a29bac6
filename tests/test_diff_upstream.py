"""Root cause through lineage (issue 10, part 5): a changed input made by two versions of
another name is followed upstream, ``--depth`` levels, in the text (indented ``←`` lines, a
``root cause:`` line naming the deepest change) and in the JSON (``upstream`` nested under
the input). A real four-stage pipeline, raw -> features -> model -> eval, in a real git
repository; every line is asserted whole."""

from __future__ import annotations

import itertools
import json
import sys

import pytest

import mlver
from _fixtures import (HEADER, assert_ok, cli, make_git_repo, mrepo, proj, table_rows, write,
                       write_csv)

__all__ = ["mrepo", "proj"]

FILES = {"README.md": "# p\n", "prepare.py": "print('prepare')\n",
         "train.py": "print('train')\n",
         ".gitignore": ".mlver/\nraw/\nfeatures/\nmodel.bin\nreport.json\n"}


def stage_raw(repo, root, rows):
    write_csv(root / "raw/data.csv", HEADER, rows)
    return repo.snapshot("raw", outputs={"raw": "raw/data.csv"}, kind="dataset")


def stage_features(repo, root, rows, scale=1):
    write_csv(root / "features/f.csv", ["id", "x2"], [[i, x * 2 * scale] for i, x, _c in rows])
    return repo.snapshot("features", inputs={"raw": "raw/data.csv"},
                         outputs={"f": "features/f.csv"}, params=[f"scale={scale}"],
                         kind="dataset")


def stage_model(repo, root, tag):
    write(root / "model.bin", f"model {tag}\n")
    return repo.snapshot("model", inputs={"train": "features/f.csv"},
                         outputs={"model": "model.bin"})


def stage_eval(repo, root, acc):
    write(root / "report.json", json.dumps({"acc": acc}))
    return repo.snapshot("eval", inputs={"model": "model.bin"},
                         outputs={"report": "report.json"}, metrics="report.json")


def build(root) -> dict:
    """v1; v2 where only raw changed (3 rows added); v3 where only a param of features
    changed (raw unchanged); then model@4, created last, with model@1's exact bytes."""
    repo = mlver.Repo.init(str(root))
    rows1 = table_rows(30, seed=1)
    rows2 = rows1 + table_rows(3, seed=2, start=100)
    for rows, tag, acc in ((rows1, "v1", 0.9), (rows2, "v2", 0.8)):
        stage_raw(repo, root, rows)
        stage_features(repo, root, rows)
        stage_model(repo, root, tag)
        stage_eval(repo, root, acc)
    stage_features(repo, root, rows2, scale=3)          # features@3: params only
    stage_model(repo, root, "v3")
    stage_eval(repo, root, 0.7)
    stage_model(repo, root, "v1")                        # model@4 = model@1's bytes, later
    oids = {f"{n}@{v}": repo.resolve(f"{n}@{v}") for n, last in
            (("raw", 2), ("features", 3), ("model", 4), ("eval", 3)) for v in range(1, last + 1)}
    repo.close()
    return oids


@pytest.fixture(scope="module")
def pipeline_built(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIRTUAL_ENV", sys.prefix)
        for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            mp.delenv(var, raising=False)
        root = make_git_repo(tmp_path_factory.mktemp("pipeline") / "proj", FILES)
        mp.chdir(root)
        oids = build(root)
    return root, oids


@pytest.fixture
def pipeline(pipeline_built, monkeypatch):
    root, oids = pipeline_built
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    monkeypatch.chdir(root)
    repo = mlver.Repo(str(root))
    yield repo, oids
    repo.close()


# the id columns are unique per row: identifiers, named and not tested (issue 19)
RAW3 = ("raw (raw/data.csv): +3 rows, -0; 'id': identifier (unique per row), not tested for "
        "drift; 2 columns stable")
TRAIN3 = ("train (features/f.csv): +3 rows, -0; 'id': identifier (unique per row), not "
          "tested for drift; 1 column stable")


def test_eval_diff_names_the_raw_change_through_the_chain(pipeline):
    repo, _ = pipeline
    d = repo.diff("eval@1", "eval@2")
    env = f"env (python {d.env['python']['new']}, {d.env['packages_count']['new']} packages)"
    assert d.verdict == (
        "eval@1 -> eval@2",
        "  report.json changed (12 B -> 12 B); metrics: acc 0.9 -> 0.8 (-0.1)",
        "  root cause: features@1 -> features@2: " + RAW3,
        "  because:",
        "    data   model (model.bin): content changed (9 B -> 9 B)",
        "           ← model@1 -> model@2: " + TRAIN3,
        "             ← features@1 -> features@2: " + RAW3,
        "               ← raw@1 -> raw@2: no inputs: its outputs are the data itself",
        f"  unchanged: code ({d.code['new_commit'][:7]}), params, {env}",
    )
    # the same through the command line
    out = assert_ok(cli("diff", "eval@1", "eval@2"))
    assert out.splitlines() == list(d.verdict)


def test_json_nests_the_upstream_diff_under_the_input(pipeline):
    repo, oids = pipeline
    j = json.loads(assert_ok(cli("diff", "eval@1", "eval@2", "--json")))
    model = j["inputs"]["model"]
    assert model["status"] == "modified"
    up = model["upstream"]
    assert up["old"] == {"oid": oids["model@1"], "name": "model", "version": 1}
    assert up["new"] == {"oid": oids["model@2"], "name": "model", "version": 2}
    assert up["changed"] == ["data"]
    assert up["inputs"]["train"]["table"]["rows_added"] == 3
    feat = up["inputs"]["train"]["upstream"]
    assert (feat["old"]["name"], feat["old"]["version"], feat["new"]["version"]) == \
        ("features", 1, 2)
    assert feat["changed"] == ["data"]
    assert feat["inputs"]["raw"]["table"]["rows_added"] == 3
    raw = feat["inputs"]["raw"]["upstream"]
    assert (raw["old"]["oid"], raw["new"]["oid"]) == (oids["raw@1"], oids["raw@2"])
    assert raw["changed"] == [] and raw["inputs"] == {}
    assert raw["outputs"]["raw"]["status"] == "modified"
    # every slot carries the field; outputs and unchanged inputs have null
    assert j["outputs"]["report"]["upstream"] is None
    assert up["outputs"]["model"]["upstream"] is None
    # each nested diff has its own verdict, as printed for that pair
    assert feat["verdict"] == list(repo.diff("features@1", "features@2", depth=1).verdict)
    # and the value round-trips
    from mlver.diff.value import Diff

    d = repo.diff("eval@1", "eval@2")
    assert Diff.from_dict(json.loads(json.dumps(d.to_dict()))).to_dict() == d.to_dict()
    assert str(Diff.from_dict(d.to_dict())) == str(d)


def test_depth_limits_the_levels(pipeline):
    repo, _ = pipeline
    one = assert_ok(cli("diff", "eval@1", "eval@2", "--depth", "1")).splitlines()
    assert one[2:6] == [
        "  root cause: model@1 -> model@2: " + TRAIN3,
        "  because:",
        "    data   model (model.bin): content changed (9 B -> 9 B)",
        "           ← model@1 -> model@2: " + TRAIN3]
    assert one[6].startswith("  unchanged: ") and len(one) == 7
    j = json.loads(assert_ok(cli("diff", "eval@1", "eval@2", "--depth", "1", "--json")))
    assert j["inputs"]["model"]["upstream"]["inputs"]["train"]["upstream"] is None
    zero = assert_ok(cli("diff", "eval@1", "eval@2", "--depth", "0")).splitlines()
    assert zero[1:4] == ["  report.json changed (12 B -> 12 B); metrics: acc 0.9 -> 0.8 (-0.1)",
                         "  because:",
                         "    data   model (model.bin): content changed (9 B -> 9 B)"]
    assert zero[4].startswith("  unchanged: ") and len(zero) == 5
    assert repo.diff("eval@1", "eval@2", depth=0).inputs["model"].upstream is None
    two = repo.diff("eval@1", "eval@2", depth=2)
    assert [line for line in two.verdict if "←" in line] == [
        "           ← model@1 -> model@2: " + TRAIN3,
        "             ← features@1 -> features@2: " + RAW3]


def test_negative_depth_is_a_usage_error(pipeline):
    res = cli("diff", "eval@1", "eval@2", "--depth", "-1")
    assert res.exit_code == 2
    assert "Invalid value for '--depth'" in res.output
    with pytest.raises(mlver.ConfigError, match="--depth -1 is negative"):
        pipeline[0].diff("eval@1", "eval@2", depth=-1)


def test_following_stops_at_a_record_whose_inputs_did_not_change(pipeline):
    # features@3 read the same raw as features@2; only its param changed: the chain stops
    # there, and the root cause is that param, not raw
    repo, _ = pipeline
    d = repo.diff("eval@2", "eval@3")
    assert d.verdict[2:7] == (
        "  root cause: features@2 -> features@3: params scale: 1 -> 3",
        "  because:",
        "    data   model (model.bin): content changed (9 B -> 9 B)",
        ("           ← model@2 -> model@3: train (features/f.csv): +33 rows, -33; "
         "dataset drifted (1 of 1 columns); 'x2' drifted (KS p=<0.0001, q=<0.0001 < 0.05; "
         "mean 109.5 -> 328.4); 'id': identifier (unique per row), not tested for drift"),
        "             ← features@2 -> features@3: params scale: 1 -> 3")
    assert d.verdict[7].startswith("  unchanged: ") and len(d.verdict) == 8
    feat = d.inputs["model"].upstream.inputs["train"].upstream
    assert feat.changed == ("params",)
    assert feat.inputs["raw"].status == "unchanged" and feat.inputs["raw"].upstream is None


def test_a_later_version_with_the_same_content_is_not_the_producer(pipeline):
    # model@4 was made after eval@1 with model@1's bytes: eval@1's model came from model@1
    repo, oids = pipeline
    d = repo.diff("eval@1", "eval@3", depth=1)
    up = d.inputs["model"].upstream
    assert (up.old["oid"], up.new["oid"]) == (oids["model@1"], oids["model@3"])
    assert next(line.strip() for line in d.verdict if "←" in line).startswith(
        "← model@1 -> model@3: ")


def test_inputs_made_by_different_names_are_not_followed(mrepo, proj):
    write(proj / "a.txt", "a1\n")
    mrepo.snapshot("maker-a", outputs={"o": "a.txt"})
    write(proj / "b.txt", "b1\n")
    mrepo.snapshot("maker-b", outputs={"o": "b.txt"})
    mrepo.snapshot("use", inputs={"i": "a.txt"})
    mrepo.snapshot("use", inputs={"i": "b.txt"})
    d = mrepo.diff("use@1", "use@2")
    assert d.inputs["i"].upstream is None
    assert d.verdict[2:4] == ("  because:", "    data   i (a.txt -> b.txt): content changed (3 B -> 3 B)")


def test_workspace_diff_follows_the_new_content_to_its_producer(mrepo, proj):
    write_csv(proj / "raw.csv", HEADER, table_rows(10, seed=3))
    write(proj / "out.txt", "one\n")
    mrepo.snapshot("prep", inputs={"src": "raw.csv"}, outputs={"o": "out.txt"})
    mrepo.snapshot("use", inputs={"i": "out.txt"})
    write_csv(proj / "raw.csv", HEADER, table_rows(12, seed=3))
    write(proj / "out.txt", "two\n")
    mrepo.snapshot("prep", inputs={"src": "raw.csv"}, outputs={"o": "out.txt"})
    before = sorted(p.name for p in (proj / ".mlver/objects").rglob("*"))
    d = mrepo.diff("use")  # use@1 against the workspace, whose out.txt prep@2 made
    assert d.verdict[:6] == (
        "use@1 -> use (workspace)",
        "  outputs unchanged",
        "  root cause: prep@1 -> prep@2: src (raw.csv): +2 rows, -0; "
        "'id', 'x', 'cat': too few rows to judge drift (10 -> 12 rows)",
        "  because:",
        "    data   i (out.txt): content changed (4 B -> 4 B)",
        "           ← prep@1 -> prep@2: src (raw.csv): +2 rows, -0; "
        "'id', 'x', 'cat': too few rows to judge drift (10 -> 12 rows)")
    assert d.inputs["i"].upstream.inputs["src"].table.rows_added == 2
    # a workspace diff writes nothing, upstream diffs included
    assert sorted(p.name for p in (proj / ".mlver/objects").rglob("*")) == before


def test_an_input_named_by_a_record_is_followed_to_it(mrepo, proj):
    write(proj / "o.txt", "one\n")
    mrepo.snapshot("prep", inputs={"p": "README.md"}, outputs={"o": "o.txt"})
    assert_ok(cli("snapshot", "use", "-i", "x=prep@1"))
    write(proj / "README.md", "# changed\n")
    write(proj / "o.txt", "two\n")
    mrepo.snapshot("prep", inputs={"p": "README.md"}, outputs={"o": "o.txt"})
    assert_ok(cli("snapshot", "use", "-i", "x=prep@2"))
    d = mrepo.diff("use@1", "use@2")
    up = d.inputs["x"].upstream
    assert (up.old["version"], up.new["version"]) == (1, 2)
    assert up.changed == ("data",)


def test_upstream_diffs_are_bounded(mrepo, proj, monkeypatch):
    # a long chain of one name feeding the next: depth and the budget both bound the work
    from mlver.diff import upstream

    names = [f"s{i}" for i in range(6)]
    for v in (1, 2):
        write(proj / "s0.txt", f"v{v}\n")
        mrepo.snapshot("s0", outputs={"o": "s0.txt"})
        for a, b in itertools.pairwise(names):
            write(proj / f"{b}.txt", f"{b} v{v}\n")
            mrepo.snapshot(b, inputs={"i": f"{a}.txt"}, outputs={"o": f"{b}.txt"})
    deep = mrepo.diff("s5@1", "s5@2", depth=10)
    chain = [line.strip().split(":")[0] for line in deep.verdict if "←" in line]
    assert chain == [f"← s{i}@1 -> s{i}@2" for i in (4, 3, 2, 1, 0)]
    monkeypatch.setattr(upstream, "MAX_DIFFS", 2)
    short = mrepo.diff("s5@1", "s5@2", depth=10)
    assert [line.strip().split(":")[0] for line in short.verdict if "←" in line] == [
        "← s4@1 -> s4@2", "← s3@1 -> s3@2"]
