"""issue 19 §3 on an imported DVC project: each stage's params scope is the keys its
dvc.lock entry lists, so status and diff against the workspace count only those keys."""

from __future__ import annotations

import json

import mlver
from _fixtures import assert_ok, cli
from test_importdvc import built, proj, set_param  # the project the real dvc CLI builds

__all__ = ["built", "proj"]


def test_imported_stages_declare_the_keys_dvc_lock_lists(proj):
    root, _shas = proj
    repo = mlver.Repo(str(root))
    repo.import_dvc()
    _oid, train = repo.show("train@2")
    assert train.params_scope == ("train",) and train.params_files == ("params.yaml",)
    assert train.params == {"train": {"lr": 0.2, "depth": 3}}
    _oid, prep = repo.show("prep@1")
    assert prep.params_scope == ("prep.scale",) and prep.params == {"prep": {"scale": 2}}
    assert repo.show("data-raw.csv@1")[1].params_scope is None

    # a key another stage uses: train is clean, and no noise about keys it never held
    set_param(root, "scale: 2", "scale: 3")
    (st,) = json.loads(assert_ok(cli("status", "train", "--json")))
    assert st["params_changed"] is False and "params_outside_scope" not in st
    assert "params" not in repo.diff("train").changed
    assert repo.diff("prep").params["changed"] == {"prep.scale": {"old": 2, "new": 3}}
    # its own key: a change, seen in the workspace (params.yaml is now read for it)
    set_param(root, "lr: 0.2", "lr: 0.5")
    (st,) = json.loads(assert_ok(cli("status", "train", "--json")))
    assert st["params_changed"] is True
    d = repo.diff("train")
    assert d.changed == ("params",)
    assert d.params["changed"] == {"train.lr": {"old": 0.2, "new": 0.5}}
    assert d.params["outside_scope"] == {"added": {}, "removed": {}, "changed": {}}


def test_dvc_yaml_counts_only_when_the_stage_own_entry_changed(proj):
    from test_importdvc import commit

    root, _shas = proj
    repo = mlver.Repo(str(root))
    repo.import_dvc()
    text = (root / "dvc.yaml").read_text()
    (root / "dvc.yaml").write_text(text + "  evaluate:\n    cmd: echo evaluate\n")
    commit(root, "a new stage")
    # train's own entry is the same: the new stage is no code change of train
    (st,) = json.loads(assert_ok(cli("status", "train", "--json")))
    assert st["code_changed"] is False
    d = repo.diff("train")
    assert d.code["changed"] is False and d.code["files"] == [] and "code" not in d.changed
    # train's own entry changed (its command): a code change
    (root / "dvc.yaml").write_text((root / "dvc.yaml").read_text()
                                   .replace("train.py\n", "train.py --fast\n", 1))
    assert "--fast" in (root / "dvc.yaml").read_text()
    sha = commit(root, "train: fast")
    d = repo.diff("train")
    assert d.code["changed"] is True and [f["path"] for f in d.code["files"]] == ["dvc.yaml"]
    assert d.code["new_commit"] == sha
