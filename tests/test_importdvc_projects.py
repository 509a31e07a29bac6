"""mlver.integrations.importdvc on DVC projects as people write them (issue 19 §6 and §2).

- data a stage depends on that git holds (a CSV, an image folder) is an input slot read
  from git at each commit, and only source files are the stage's code;
- dvc.yaml's top-level ``metrics:`` and ``plots:`` files (laid out as in DVC's public
  example-get-started project: inside the evaluate stage's output folder) are the metrics
  of the stage that outputs them;
- versions imported from several branches each follow their own line of parents.

The projects are built with the real ``dvc`` CLI, like tests/test_importdvc.py.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

import mlver
from mlver.base.hashing import oid_of
from test_importdvc import DVC, _env, commit, dvc, git

pytestmark = pytest.mark.skipif(
    not Path(DVC).exists(), reason="the dvc CLI is not installed next to this Python")

PREP = """import os
rows = open("data/raw.csv").read().splitlines()[1:]
n_img = len(os.listdir("images"))
os.makedirs("features", exist_ok=True)
open("features/n.txt", "w").write(f"{len(rows)} {n_img}")
"""

EVAL = """import json, os
os.makedirs("eval/plots", exist_ok=True)
n = int(open("model.txt").read())
json.dump({"acc": n / 10}, open("eval/metrics.json", "w"))
json.dump({"auc": n / 20}, open("eval/plots/summary.json", "w"))
json.dump([{"fpr": 0.0, "tpr": 0.0}, {"fpr": 1.0, "tpr": n / 10}], open("eval/plots/roc.json", "w"))
"""

DVC_YAML = """stages:
  evaluate:
    cmd: {py} evaluate.py
    deps:
    - evaluate.py
    - model.txt
    outs:
    - eval
metrics:
- eval/metrics.json
plots:
- eval/plots/roc.json:
    x: fpr
    y: tpr
- Summary:
    y:
      eval/plots/summary.json: auc
- eval/importance.png
"""


def _start(root: Path) -> None:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test User")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "commit.gpgsign", "false")
    dvc(root, "init", "-q")
    with open(root / ".dvc" / "config", "a") as f:
        f.write("[core]\n    analytics = false\n    check_update = false\n")


@pytest.fixture
def env(tmp_path, monkeypatch):
    for k, v in _env(tmp_path).items():
        if k.startswith(("DVC_", "GIT_CONFIG")):
            monkeypatch.setenv(k, v)
    return tmp_path


def test_data_that_git_holds_is_an_input_read_from_git_not_code(env, monkeypatch):
    """"v3 more data" on a CSV git holds reads as a data change of the stage, not a code
    change: the CSV and the image folder are input slots holding git's bytes of each
    commit; prep.py (source) stays the code scope."""
    root = env / "proj"
    _start(root)
    (root / "data").mkdir()
    (root / "data" / "raw.csv").write_text("id,v\n1,1.5\n2,2.5\n")
    (root / "images").mkdir()
    (root / "images" / "a.png").write_bytes(b"\x89PNG a")
    (root / "images" / "b.png").write_bytes(b"\x89PNG b")
    (root / "prep.py").write_text(PREP)
    dvc(root, "stage", "add", "-q", "-n", "prep", "-d", "prep.py", "-d", "data/raw.csv",
        "-d", "images", "-o", "features", f"{sys.executable} prep.py")
    dvc(root, "repro", "-q")
    c1 = commit(root, "v1")
    v1_csv = (root / "data" / "raw.csv").read_bytes()
    with open(root / "data" / "raw.csv", "a") as f:
        f.write("3,3.5\n4,4.5\n")
    dvc(root, "repro", "-q")
    c2 = commit(root, "v3 more data")
    v2_csv = (root / "data" / "raw.csv").read_bytes()
    # v4: reproduced, then the CSV edited before the commit: dvc.lock's md5 is not git's
    with open(root / "data" / "raw.csv", "a") as f:
        f.write("5,5.5\n")
    dvc(root, "repro", "-q")
    with open(root / "data" / "raw.csv", "a") as f:
        f.write("6,6.5\n")
    c3 = commit(root, "v4 edited after repro")
    monkeypatch.chdir(root)
    mlver.Repo.init(str(root))
    warnings: list[str] = []
    repo = mlver.Repo(str(root), warn=warnings.append)
    repo.import_dvc()

    _o, p1 = repo.show("prep@1")
    _o, p2 = repo.show("prep@2")
    assert (p1.code.commit, p2.code.commit) == (c1, c2)
    assert sorted(p1.inputs) == ["data-raw.csv", "images"]
    assert p1.code.scope.paths == ("dvc.yaml", "prep.py")
    assert p1.inputs["data-raw.csv"].oid == oid_of(v1_csv)
    csv1 = p1.inputs["data-raw.csv"]
    assert (csv1.path, csv1.missing) == ("data/raw.csv", None)
    assert p2.inputs["data-raw.csv"].oid == oid_of(v2_csv)
    assert (p1.inputs["images"].type, p1.inputs["images"].files) == ("tree", 2)
    assert p1.inputs["images"].oid == repo.content_oid("images")  # unchanged since
    d = repo.diff("prep@1", "prep@2")
    assert d.changed == ("data",)
    assert d.code["changed"] is False
    assert d.inputs["data-raw.csv"].status == "modified"
    assert d.inputs["images"].status == "unchanged"
    # the stale lock: the CSV's md5 names bytes git does not hold at c3, so it is missing
    _o, p3 = repo.show("prep@3")
    lock_md5 = p3.inputs["data-raw.csv"].missing
    assert p3.code.commit == c3 and lock_md5 and lock_md5 in git(root, "show", f"{c3}:dvc.lock")
    assert warnings == [f"data/raw.csv in git does not hash to the md5 DVC recorded for it "
                        f"({lock_md5}): the lock is older than the file; it is recorded as "
                        "missing"]


def test_top_level_metrics_and_plots_are_the_metrics_of_the_stage_that_outputs_them(env,
                                                                                     monkeypatch):
    """As in example-get-started: the evaluate stage outputs the folder eval/ (cached by
    DVC), dvc.yaml's top-level metrics: names eval/metrics.json and plots: names files
    in eval/plots/. The metrics file and the plots file that holds values are read as
    evaluate's metrics; a table-like plots file and an image are left out, unread."""
    root = env / "proj"
    _start(root)
    (root / "evaluate.py").write_text(EVAL)
    (root / "model.txt").write_text("7")
    (root / "dvc.yaml").write_text(DVC_YAML.format(py=sys.executable))
    dvc(root, "repro", "-q")
    commit(root, "evaluate")
    (root / "model.txt").write_text("8")
    dvc(root, "repro", "-q")
    commit(root, "a better model")
    assert not git(root, "ls-files", "eval").strip()  # the metrics are only in the cache
    monkeypatch.chdir(root)
    warnings: list[str] = []
    mlver.Repo.init(str(root))
    repo = mlver.Repo(str(root), warn=warnings.append)
    repo.import_dvc()

    _o, e1 = repo.show("evaluate@1")
    _o, e2 = repo.show("evaluate@2")
    assert e1.metrics == {"acc": 0.7, "auc": 0.35}
    assert e2.metrics == {"acc": 0.8, "auc": 0.4}
    assert e1.metrics_files == ("eval/metrics.json", "eval/plots/summary.json")
    assert e1.kind == "model"
    assert list(e1.outputs) == ["eval"]
    assert warnings == []
    d = repo.diff("evaluate@1", "evaluate@2")
    assert d.metrics["acc"]["changed"] and (d.metrics["acc"]["old"], d.metrics["acc"]["new"]) \
        == (0.7, 0.8)


# --------------------------------------------------------------------------- branches


TRAIN = """import yaml
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
open("model.txt", "w").write(f"lr={lr}")
"""


def _lr(root: Path, lr: float, message: str) -> str:
    (root / "params.yaml").write_text(f"train:\n  lr: {lr}\n")
    dvc(root, "repro", "-q")
    return commit(root, message)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One stage, train (deps train.py, param train.lr, out model.txt): main has lr 0.1,
    0.2, 0.25 (c1, c2, c3); exp forks from c1 with lr 0.3 (c4). One dvc call a commit."""
    import os

    base = tmp_path_factory.mktemp("dvcbranches")
    env = _env(base)
    old = {k: os.environ.get(k) for k in env if k.startswith(("DVC_", "GIT_CONFIG"))}
    os.environ.update({k: env[k] for k in old})
    try:
        root = base / "proj"
        _start(root)
        (root / "train.py").write_text(TRAIN)
        (root / "dvc.yaml").write_text(
            f"stages:\n  train:\n    cmd: {sys.executable} train.py\n    deps:\n"
            "    - train.py\n    params:\n    - train.lr\n    outs:\n    - model.txt\n")
        shas = [_lr(root, 0.1, "lr 0.1"), _lr(root, 0.2, "lr 0.2"), _lr(root, 0.25, "lr 0.25")]
        git(root, "checkout", "-q", "-b", "exp", shas[0])
        shas.append(_lr(root, 0.3, "exp: lr 0.3"))
        git(root, "checkout", "-q", "main")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return root, shas


@pytest.fixture
def branches(built, env, monkeypatch):
    src, shas = built
    root = env / "proj"
    shutil.copytree(src, root, symlinks=True)
    monkeypatch.chdir(root)
    mlver.Repo.init(str(root))
    return root, shas


def _parents(repo, name: str) -> dict[str, str]:
    """label -> label of its parent ('-' for none), for every version of ``name``."""
    by_oid = {oid: rec.label for oid, rec in repo.log(name)}
    return {rec.label: by_oid[rec.parents[0]] if rec.parents else "-"
            for _oid, rec in repo.log(name)}


def test_importing_a_second_branch_parents_its_versions_on_their_own_history(branches):
    root, (c1, c2, c3, c4) = branches
    repo = mlver.Repo(str(root))
    repo.import_dvc()  # main: train@1 (c1), @2 (c2), @3 (c3)
    git(root, "checkout", "-q", "exp")
    result = repo.import_dvc()
    assert [(r.label, r.code.commit) for _o, r in result.versions] == [("train@4", c4)]
    assert _parents(repo, "train") == {"train@1": "-", "train@2": "train@1",
                                       "train@3": "train@2", "train@4": "train@1"}
    d = repo.diff("train@1", "train@4")
    assert d.params["changed"] == {"train.lr": {"old": 0.1, "new": 0.3}}


def test_one_import_over_merged_branches_never_parents_siblings(branches):
    """A history with both branches merged, imported at once: the walk interleaves them,
    yet each version follows the latest version on its own commit's history; after the
    merge, the next version follows the latest of both lines."""
    root, (c1, c2, c3, c4) = branches
    git(root, "merge", "-q", "-s", "ours", "-m", "merge exp", "exp")
    c5 = _lr(root, 0.5, "after the merge: lr 0.5")
    repo = mlver.Repo(str(root))
    repo.import_dvc()
    by_commit = {rec.code.commit: rec.label for _o, rec in repo.log("train")}
    parents = _parents(repo, "train")
    assert parents[by_commit[c1]] == "-"
    assert parents[by_commit[c2]] == by_commit[c1]
    assert parents[by_commit[c3]] == by_commit[c2]
    assert parents[by_commit[c4]] == by_commit[c1]
    latest_before_merge = max((by_commit[c3], by_commit[c4]), key=lambda s: int(s.split("@")[1]))
    assert parents[by_commit[c5]] == latest_before_merge
    assert by_commit[c5] == "train@5"
    # every version stays reachable from the ref (through ``previous``): gc drops none
    gone = repo.gc(grace=0)
    assert (gone.objects, gone.young_objects) == (0, 0)
    assert repo.verify().ok
