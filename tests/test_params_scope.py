"""The params scope (issue 19 §3): a version declares the params keys it uses
(``-p params.yaml:train``, ``params = ["params.yaml:train.lr,train.depth"]`` in
mlver.toml); diff, status, explain, ``--exit-code`` and a snapshot's identity compare only
those keys, and changes to other keys are listed as "outside the params scope"."""

from __future__ import annotations

import json

import pytest

from mlver.base.errors import UsageError
from mlver.core.record import Record
from _fixtures import assert_error, assert_ok, cli, commit_all, mrepo, proj, write

__all__ = ["mrepo", "proj"]

PARAMS = "prepare:\n  max_price: 2000\ntrain:\n  n_estimators: 100\n  max_depth: 6\n"


def features(proj, spec: str = "params.yaml:prepare") -> None:
    write(proj / "raw.csv", "id,price\n1,10\n2,20\n")
    write(proj / "params.yaml", PARAMS)
    write(proj / ".gitignore", ".mlver/\nraw.csv\n")
    commit_all(proj, "params")
    assert_ok(cli("snapshot", "features", "-i", "raw=raw.csv", "-p", spec))


def set_param(proj, old: str, new: str) -> None:
    text = (proj / "params.yaml").read_text()
    assert old in text
    write(proj / "params.yaml", text.replace(old, new))


# -- the pure part ---------------------------------------------------------------------------


def test_a_key_stands_for_itself_and_everything_below_it():
    from mlver.core.paramscope import in_scope, scoped

    assert in_scope("train.lr", ("train",)) and in_scope("train", ("train",))
    assert not in_scope("training.lr", ("train",)) and not in_scope("prepare.x", ("train",))
    assert in_scope("anything", None)
    values = {"prepare": {"a": 1}, "train": {"lr": 0.1, "depth": 3}, "seed": 1}
    assert scoped(values, ("train.lr", "seed")) == {"train": {"lr": 0.1}, "seed": 1}
    assert scoped(values, None) is values


def test_collect_params_reads_keys_and_keeps_the_whole_file(tmp_path):
    from mlver.core.params import collect_params

    write(tmp_path / "params.yaml", PARAMS)
    values, files, scope = collect_params(["params.yaml:train.n_estimators,train.max_depth"],
                                          str(tmp_path))
    assert values == {"prepare": {"max_price": 2000},
                      "train": {"n_estimators": 100, "max_depth": 6}}
    assert files == ["params.yaml"] and scope == ("train.max_depth", "train.n_estimators")
    # a pair whose key holds ":" stays a pair
    assert collect_params(["params.yaml:x=3"], str(tmp_path))[0]["params"] == {"yaml:x": 3}
    # a whole file stays the default; beside a keyed spec, a pair adds its own key
    assert collect_params(["params.yaml"], str(tmp_path))[2] is None
    assert collect_params(["params.yaml:train", "seed=3"], str(tmp_path))[2] == ("seed", "train")


def test_an_unknown_key_is_refused_naming_the_file_and_its_keys(proj, mrepo):
    # the caller's -p is a usage error (exit 2), on snapshot and run alike
    write(proj / "params.yaml", PARAMS)
    write(proj / "raw.csv", "id\n1\n")
    r = cli("snapshot", "features", "-i", "raw=raw.csv", "-p", "params.yaml:trian")
    assert assert_error(r, code=2) == ("Error: 'params.yaml' has no key 'trian'; check the "
                                       "spelling (its top-level keys: prepare, train)")
    r = cli("run", "features", "-i", "raw=raw.csv", "-p", "params.yaml:trian", "--", "true")
    assert assert_error(r, code=2) == ("Error: 'params.yaml' has no key 'trian'; check the "
                                       "spelling (its top-level keys: prepare, train)")
    r = cli("snapshot", "features", "-i", "raw=raw.csv", "-p", "params.yaml:train,,x")
    assert assert_error(r, code=2) == ("Error: 'params.yaml:train,,x' does not list params "
                                       "keys; give FILE:KEY[,KEY...] like params.yaml:train or "
                                       "params.yaml:train.lr,train.depth")
    with pytest.raises(UsageError):
        mrepo.snapshot("features", inputs={"raw": "raw.csv"}, params=["params.yaml:trian"])


def test_an_unknown_key_in_mlver_toml_is_not_a_usage_error(proj, mrepo):
    write(proj / "params.yaml", PARAMS)
    write(proj / "raw.csv", "id\n1\n")
    write(proj / "mlver.toml", '[snapshot.features]\ninputs = { raw = "raw.csv" }\n'
          'params = ["params.yaml:trian"]\n')
    r = cli("snapshot", "features")
    assert assert_error(r, code=1) == ("Error: 'params.yaml' has no key 'trian'; check the "
                                       "spelling (its top-level keys: prepare, train)")


# -- the record ------------------------------------------------------------------------------


def test_the_record_holds_the_whole_file_and_the_declared_keys(proj, mrepo):
    features(proj, "params.yaml:train.n_estimators,train.max_depth")
    rec = mrepo.show("features")[1]
    assert rec.params_scope == ("train.max_depth", "train.n_estimators")
    assert rec.params == {"prepare": {"max_price": 2000},
                          "train": {"n_estimators": 100, "max_depth": 6}}
    assert rec.to_dict()["params_scope"] == ["train.max_depth", "train.n_estimators"]
    assert Record.decode(rec.encode()) == rec
    shown = json.loads(assert_ok(cli("show", "features", "--json")))
    assert shown["params_scope"] == ["train.max_depth", "train.n_estimators"]
    text = assert_ok(cli("show", "features")).splitlines()
    at = text.index("params (scope: train.max_depth, train.n_estimators):")
    # the keys outside the scope are marked as such (the JSON keeps the whole file)
    assert text[at + 1:at + 5] == ["  train.max_depth = 6", "  train.n_estimators = 100",
                                   "  outside the scope:", "    prepare.max_price = 2000"]
    assert shown["params"]["prepare"] == {"max_price": 2000}


def test_a_record_without_a_scope_writes_no_field(proj, mrepo):
    features(proj, "params.yaml")
    rec = mrepo.show("features")[1]
    assert rec.params_scope is None and "params_scope" not in rec.to_dict()


def test_a_bad_scope_in_a_record_is_refused(proj, mrepo):
    features(proj)
    d = mrepo.show("features")[1].to_dict()
    d["params_scope"] = "train"
    with pytest.raises(Exception, match="params_scope is not a list"):
        Record.from_dict(d)


# -- identity: a change outside the scope makes no version ---------------------------------


def test_a_change_outside_the_scope_writes_no_version(proj, mrepo):
    features(proj)
    set_param(proj, "n_estimators: 100", "n_estimators: 200")
    commit_all(proj, "more trees")  # another commit: the scope is params, not code here
    out = assert_ok(cli("snapshot", "features", "-i", "raw=raw.csv", "-p", "params.yaml:prepare"))
    assert out == "features@1 is unchanged (same content); no new version written\n"
    assert [rec.version for _oid, rec in mrepo.log("features")] == [1]


def test_a_change_inside_the_scope_is_a_new_version(proj, mrepo):
    features(proj)
    set_param(proj, "max_price: 2000", "max_price: 1500")
    assert_ok(cli("snapshot", "features", "-i", "raw=raw.csv", "-p", "params.yaml:prepare"))
    d = mrepo.diff("features@1", "features@2")
    assert d.changed == ("params",)
    assert d.params["changed"] == {"prepare.max_price": {"old": 2000, "new": 1500}}
    assert d.params["scope"] == ["prepare"]


# -- diff, --exit-code, status ---------------------------------------------------------------


def test_diff_lists_a_change_outside_the_scope_apart(proj, mrepo):
    features(proj)
    write(proj / "raw.csv", "id,price\n1,10\n2,20\n3,30\n")
    set_param(proj, "n_estimators: 100", "n_estimators: 200")
    assert_ok(cli("snapshot", "features", "-i", "raw=raw.csv", "-p", "params.yaml:prepare"))
    d = json.loads(assert_ok(cli("diff", "features@1", "features@2", "--json")))
    assert d["changed"] == ["data"]
    assert d["params"] == {
        "added": {}, "removed": {}, "changed": {}, "scope": ["prepare"],
        "outside_scope": {"added": {}, "removed": {},
                          "changed": {"train.n_estimators": {"old": 100, "new": 200}}}}
    text = assert_ok(cli("diff", "features@1", "features@2")).splitlines()
    assert "  outside the params scope: train.n_estimators: 100 -> 200" in text
    assert not any(line.startswith("    params") for line in text)


def test_exit_code_and_status_ignore_keys_outside_the_scope(proj, mrepo):
    features(proj)
    set_param(proj, "n_estimators: 100", "n_estimators: 200")
    r = cli("diff", "features", "--exit-code")
    assert r.exit_code == 0, r.output
    assert "  outside the params scope: train.n_estimators: 100 -> 200" in r.output.splitlines()
    assert assert_ok(cli("status", "features")) == (
        "features@1: clean\n  outside the params scope: train.n_estimators\n")
    (st,) = json.loads(assert_ok(cli("status", "features", "--json")))
    assert st["clean"] is True and st["params_changed"] is False
    assert st["params_outside_scope"] == ["train.n_estimators"]
    set_param(proj, "max_price: 2000", "max_price: 900")
    assert cli("diff", "features", "--exit-code").exit_code == 1
    (st,) = json.loads(assert_ok(cli("status", "features", "--json")))
    assert st["clean"] is False and st["params_changed"] is True


def test_a_whole_file_stays_the_default(proj, mrepo):
    features(proj, "params.yaml")
    set_param(proj, "n_estimators: 100", "n_estimators: 200")
    assert cli("diff", "features", "--exit-code").exit_code == 1
    (st,) = json.loads(assert_ok(cli("status", "features", "--json")))
    assert st["params_changed"] is True and "params_outside_scope" not in st


def test_mlver_toml_declares_the_keys(proj, mrepo):
    write(proj / "raw.csv", "id\n1\n")
    write(proj / "params.yaml", PARAMS)
    write(proj / ".gitignore", ".mlver/\nraw.csv\n")
    write(proj / "mlver.toml", '[snapshot.features]\ninputs = { raw = "raw.csv" }\n'
                               'params = ["params.yaml:prepare.max_price"]\n')
    commit_all(proj, "config")
    assert_ok(cli("snapshot", "features"))
    assert mrepo.show("features")[1].params_scope == ("prepare.max_price",)


def test_a_keyed_spec_is_relative_to_the_caller_folder(proj, mrepo):
    write(proj / "sub" / "params.yaml", PARAMS)
    write(proj / "sub" / "raw.csv", "id\n1\n")
    rec = mrepo.snapshot("features", inputs={"raw": "raw.csv"},
                         params="params.yaml:train", base=str(proj / "sub")).record
    assert rec.params_files == ("sub/params.yaml",) and rec.params_scope == ("train",)


# -- explain ---------------------------------------------------------------------------------


def test_explain_makes_no_group_of_keys_outside_the_scope(mrepo, proj):
    from test_replay import PY, setup, train, values

    setup(proj)
    write(proj / "train.py", train(5.0))
    write(proj / "params.yaml", "k: 1\nunused: 0\n")
    commit_all(proj, "train")
    write(proj / "data/a.txt", "1\n")

    def record():
        return mrepo.execute("m", [PY, "train.py"], inputs={"a": "data/a.txt"},
                             params="params.yaml:k", metrics="metrics.json")

    record()
    write(proj / "params.yaml", "k: 2\nunused: 5\n")
    commit_all(proj, "k 2, unused 5")
    record()
    r = mrepo.explain("m@1", "m@2", split_params=True)
    assert [g["group"] for g in r.groups] == ["params k"]
    assert values(r) == pytest.approx({"params k": 10.0}, abs=1e-9)


# -- the sample project ----------------------------------------------------------------------


def test_the_sample_project_stages_declare_the_keys_they_use(mrepo, proj):
    """In the demo, month 2 raises train.n_estimators: the diff of features (which reads
    only prepare:) names no param, and price-model's names that one."""
    import shutil
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "sample_project"
    for f in ("mlver.toml", "params.yaml"):
        shutil.copy(sample / f, proj / f)
    write(proj / ".gitignore", ".mlver/\nraw/\nfeatures/\nmodel/\nmetrics.json\n")
    commit_all(proj, "sample config")
    write(proj / "raw" / "m1.csv", "listing_id,price\n1,10\n")
    write(proj / "features" / "listings.csv", "listing_id,price\n1,10\n")
    write(proj / "model" / "model.pkl", "m1")
    write(proj / "metrics.json", '{"mae": 1}')
    for name in ("features", "price-model"):
        assert_ok(cli("snapshot", name))
    assert mrepo.show("features")[1].params_scope == ("prepare",)
    assert mrepo.show("price-model")[1].params_scope == ("train",)
    write(proj / "raw" / "m2.csv", "listing_id,price\n2,20\n")
    write(proj / "features" / "listings.csv", "listing_id,price\n1,10\n2,20\n")
    write(proj / "model" / "model.pkl", "m2")
    set_param(proj, "n_estimators: 100 ", "n_estimators: 200 ")
    commit_all(proj, "200 trees")
    for name in ("features", "price-model"):
        assert_ok(cli("snapshot", name))
    f = mrepo.diff("features@1", "features@2")
    assert f.changed == ("data",) and f.params["changed"] == {}
    assert f.params["outside_scope"]["changed"] == {
        "train.n_estimators": {"old": 100, "new": 200}}
    m = mrepo.diff("price-model@1", "price-model@2", depth=1)
    assert m.params["changed"] == {"train.n_estimators": {"old": 100, "new": 200}}
    (cause,) = [line for line in m.verdict if line.startswith("  root cause:")]
    assert cause == "  root cause: features@1 -> features@2: raw (raw/): 1 added: raw/m2.csv"
