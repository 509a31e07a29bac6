"""How a capture, ``status`` and ``diff`` judge a change (mlver.diff.identity):

- a ``snapshot`` right after ``run`` (same commit, same patch) is the run's version again,
  although the run's code scope is traced and the snapshot names none; a scope-less
  snapshot is judged with its parent's scope;
- a raw dataset (no command, no inputs) was made by no code of the repository: no commit
  changes it, in status, in diff's verdict and ``--exit-code``, nor in a snapshot;
- a params file absent in the workspace is said so by status, as by diff, and is no
  params change in either.
"""

from __future__ import annotations

import json
import shutil
import sys

from _fixtures import assert_ok, cli, commit_all, mrepo, proj, write

__all__ = ["mrepo", "proj"]

PY = sys.executable
PARAMS = "train:\n  lr: 0.1\nother:\n  unused: 1\n"


def trained(proj) -> str:
    """A traced run of ``m`` (scope: train.py) on a committed project; HEAD's sha."""
    write(proj / ".gitignore", ".mlver/\ndata.csv\nmodel.bin\n")
    write(proj / "train.py", 'open("model.bin", "w").write(open("data.csv").read() * 2)\n')
    write(proj / "other.py", "X = 1\n")
    write(proj / "params.yaml", PARAMS)
    write(proj / "data.csv", "a\n1\n")
    sha = commit_all(proj, "training code")
    assert_ok(cli("run", "m", "-i", "data=data.csv", "-o", "model=model.bin",
                  "-p", "params.yaml:train", "--", PY, "train.py"))
    return sha


def snapshot_m():
    return cli("snapshot", "m", "-i", "data=data.csv", "-o", "model=model.bin",
               "-p", "params.yaml:train")


# -- a snapshot after a run ------------------------------------------------------------------


def test_a_snapshot_right_after_a_run_is_the_same_version(mrepo, proj):
    trained(proj)
    assert mrepo.show("m@1")[1].code.scope.origin == "traced"
    assert assert_ok(cli("status")) == "m@1: clean\n"
    assert assert_ok(snapshot_m()) == "m@1 is unchanged (same content); no new version written\n"
    assert [r.version for _oid, r in mrepo.log("m")] == [1]


def test_a_scopeless_snapshot_is_judged_with_the_runs_scope(mrepo, proj):
    trained(proj)
    # a commit outside the traced scope (train.py): another module, a key outside -p's
    write(proj / "other.py", "X = 2\n")
    write(proj / "params.yaml", PARAMS.replace("unused: 1", "unused: 2"))
    commit_all(proj, "other module; other.unused")
    assert assert_ok(snapshot_m()) == "m@1 is unchanged (same content); no new version written\n"
    # a commit inside it is a new version, as before
    write(proj / "train.py", 'open("model.bin", "w").write(open("data.csv").read() * 2)\n#\n')
    commit_all(proj, "train: a comment")
    assert assert_ok(snapshot_m()).startswith("m@2 ")


# -- a raw dataset ---------------------------------------------------------------------------


def raw_dataset(proj) -> str:
    write(proj / ".gitignore", ".mlver/\nraw/\n")
    write(proj / "raw" / "a.csv", "id\n1\n")
    write(proj / "train.py", "print(1)\n")
    commit_all(proj, "code")
    assert_ok(cli("snapshot", "listings", "-o", "raw=raw", "--kind", "dataset"))
    write(proj / "train.py", "print(2)\n")
    return commit_all(proj, "train: print 2")


def test_a_commit_never_changes_a_raw_dataset(mrepo, proj):
    sha = raw_dataset(proj)
    rec = mrepo.show("listings@1")[1]
    assert rec.code.commit != sha and rec.code.scope is None  # the record holds its code
    assert assert_ok(cli("status")) == "listings@1: clean\n"
    status = json.loads(assert_ok(cli("status", "--json")))[0]
    assert (status["clean"], status["code_changed"]) == (True, False)
    r = cli("diff", "listings", "--exit-code")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "listings@1 -> listings (workspace)",
        "  outputs unchanged",
        "  no recorded input changed",
        f"  code not counted ({sha[:7]}): raw data (no command, no inputs), made by no code "
        "of the repository"]
    code = json.loads(assert_ok(cli("diff", "listings", "--json")))["code"]
    assert (code["changed"], code["counted"], code["scope"], code["files"]) == \
        (False, False, [], [])
    assert assert_ok(cli("snapshot", "listings", "-o", "raw=raw", "--kind", "dataset")) == \
        "listings@1 is unchanged (same content); no new version written\n"


def test_new_raw_data_diffs_without_a_code_line(mrepo, proj):
    sha = raw_dataset(proj)
    write(proj / "raw" / "b.csv", "id\n2\n")
    assert assert_ok(cli("snapshot", "listings", "-o", "raw=raw")).startswith("listings@2 ")
    d = json.loads(assert_ok(cli("diff", "listings@1", "listings@2", "--json")))
    assert d["changed"] == [] and d["code"]["counted"] is False
    assert d["code"]["new_commit"] == sha


def test_a_raw_dataset_with_a_declared_scope_still_counts_its_code(mrepo, proj):
    write(proj / ".gitignore", ".mlver/\nraw/\n")
    write(proj / "raw" / "a.csv", "id\n1\n")
    write(proj / "gen.py", "print(1)\n")
    commit_all(proj, "code")
    assert_ok(cli("snapshot", "listings", "-o", "raw=raw", "--code", "gen.py"))
    write(proj / "gen.py", "print(2)\n")
    commit_all(proj, "gen: print 2")
    assert assert_ok(cli("status")) == \
        "listings@1: changed\n  modified  code (1 commit touches the code scope)\n"
    assert cli("diff", "listings", "--exit-code").exit_code == 1


def test_a_run_without_inputs_still_counts_its_code(mrepo, proj):
    write(proj / ".gitignore", ".mlver/\nout.txt\n")
    write(proj / "gen.py", 'open("out.txt", "w").write("1")\n')
    commit_all(proj, "gen")
    assert_ok(cli("run", "gen", "-o", "out=out.txt", "--", PY, "gen.py"))
    write(proj / "gen.py", 'open("out.txt", "w").write("1")\n#\n')
    commit_all(proj, "gen: a comment")
    assert cli("diff", "gen", "--exit-code").exit_code == 1
    assert assert_ok(cli("status")).startswith("gen@1: changed\n")


# -- an absent params file -------------------------------------------------------------------


def test_status_and_diff_agree_on_an_absent_params_file(mrepo, proj, tmp_path):
    trained(proj)
    shutil.move(str(proj / "params.yaml"), str(tmp_path / "params.yaml"))
    assert assert_ok(cli("status")) == (
        "m@1: clean\n"
        "  absent    params file params.yaml is absent in the workspace; its values are "
        "taken as recorded, not compared\n")
    status = json.loads(assert_ok(cli("status", "--json")))[0]
    assert (status["params_changed"], status["params_absent"], status["clean"]) == \
        (False, ["params.yaml"], True)
    r = cli("diff", "m", "--exit-code")
    assert r.exit_code == 0, r.output
    assert r.stderr == ("Warning: params file params.yaml of m@1 is absent in the workspace; "
                        "its values are taken as recorded, not compared\n")
    # back in place: no params_absent key at all (the form before stays)
    shutil.move(str(tmp_path / "params.yaml"), str(proj / "params.yaml"))
    assert "params_absent" not in json.loads(assert_ok(cli("status", "--json")))[0]


def test_an_absent_file_beside_a_present_one_still_compares_the_present_one(mrepo, proj):
    write(proj / ".gitignore", ".mlver/\ndata.csv\n")
    write(proj / "data.csv", "a\n1\n")
    write(proj / "a.yaml", "lr: 0.1\n")
    write(proj / "b.yaml", "depth: 3\n")
    commit_all(proj, "params")
    assert_ok(cli("snapshot", "m", "-i", "data=data.csv", "-p", "a.yaml", "-p", "b.yaml"))
    (proj / "b.yaml").unlink()
    write(proj / "a.yaml", "lr: 0.2\n")
    status = json.loads(assert_ok(cli("status", "--json")))[0]
    assert (status["params_changed"], status["params_absent"]) == (True, ["b.yaml"])
