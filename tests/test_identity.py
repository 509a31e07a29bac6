"""What counts as a change (issue 19 §3): the untracked list is information, not identity;
mlver.toml counts only for the names whose own section changed; two different names are
said to be so in a diff's first line."""

from __future__ import annotations

import dataclasses
import json

from mlver.core.record import Code, Record
from _fixtures import assert_ok, cli, commit_all, head_sha, mrepo, proj, write

__all__ = ["mrepo", "proj"]

TOML = ('[snapshot.features]\ninputs = { raw = "raw.csv" }\n\n'
        '[snapshot.model]\ninputs = { train = "raw.csv" }\nparams = ["lr=0.1"]\n')


def project(proj) -> None:
    write(proj / "raw.csv", "id\n1\n2\n")
    write(proj / ".gitignore", ".mlver/\nraw.csv\n")
    write(proj / "mlver.toml", TOML)
    commit_all(proj, "config")
    assert_ok(cli("snapshot", "features"))
    assert_ok(cli("snapshot", "model"))


# -- untracked files -------------------------------------------------------------------------


def test_a_new_untracked_file_makes_no_new_version(mrepo, proj):
    project(proj)
    write(proj / "time.txt", "12.5 s\n")
    write(proj / "logs" / "run.log", "ok\n")
    assert assert_ok(cli("snapshot", "features")) == \
        "features@1 is unchanged (same content); no new version written\n"
    assert mrepo.show("features")[1].code.untracked == ()  # the record kept is version 1


def test_content_leaves_out_the_untracked_list_only():
    code = Code(commit="a" * 40, branch="main", untracked=("time.txt",))
    rec = Record(name="m", version=1, kind="model", created="2026-01-01T00:00:00Z", code=code)
    same = dataclasses.replace(rec, code=dataclasses.replace(code, untracked=()))
    assert rec.content() == same.content() and rec.oid != same.oid
    assert rec.to_dict()["code"]["untracked"] == ["time.txt"]  # still recorded
    other = dataclasses.replace(rec, code=dataclasses.replace(code, commit="b" * 40))
    assert other.content() != rec.content()


def test_a_code_commit_is_still_a_new_version(mrepo, proj):
    project(proj)
    write(proj / "train.py", "print('v2')\n")
    commit_all(proj, "train v2")
    assert assert_ok(cli("snapshot", "features")).startswith("features@2 ")


def test_a_commit_touching_only_params_and_untracked_files_is_no_new_version(mrepo, proj):
    write(proj / "raw.csv", "id\n1\n")
    write(proj / ".gitignore", ".mlver/\nraw.csv\n")
    write(proj / "params.yaml", "lr: 0.1\nunused: 1\n")
    commit_all(proj, "params")
    assert_ok(cli("snapshot", "m", "-i", "raw=raw.csv", "-p", "params.yaml:lr"))
    write(proj / "params.yaml", "lr: 0.1\nunused: 2\n")
    commit_all(proj, "another key")
    write(proj / "time.txt", "3 s\n")
    out = assert_ok(cli("snapshot", "m", "-i", "raw=raw.csv", "-p", "params.yaml:lr"))
    assert out == "m@1 is unchanged (same content); no new version written\n"


# -- mlver.toml ------------------------------------------------------------------------------


def test_another_names_section_of_mlver_toml_is_no_change(mrepo, proj):
    project(proj)
    write(proj / "mlver.toml", TOML.replace('params = ["lr=0.1"]', 'params = ["lr=0.2"]')
          + '\n[snapshot.other]\ninputs = { x = "raw.csv" }\n')
    sha = commit_all(proj, "model: lr 0.2; a new name")
    # features' own section is the same: no code change, no new version, status clean
    r = cli("diff", "features", "--exit-code")
    assert r.exit_code == 0, r.output
    d = json.loads(assert_ok(cli("diff", "features", "--json")))
    assert d["changed"] == [] and d["code"]["files"] == [] and d["code"]["changed"] is False
    assert assert_ok(cli("status", "features")) == "features@1: clean\n"
    assert assert_ok(cli("snapshot", "features")) == \
        "features@1 is unchanged (same content); no new version written\n"
    # model's own section changed: its mlver.toml change counts
    d = json.loads(assert_ok(cli("diff", "model", "--json")))
    assert "code" in d["changed"]
    assert [f["path"] for f in d["code"]["files"]] == ["mlver.toml"]
    assert d["code"]["new_commit"] == sha
    assert assert_ok(cli("status", "model")).splitlines()[-1] == \
        "  modified  code (HEAD is another commit)"


def test_an_uncommitted_edit_of_another_section_is_no_change(mrepo, proj):
    project(proj)
    write(proj / "mlver.toml", TOML + '\n[snapshot.other]\ninputs = { x = "raw.csv" }\n')
    assert assert_ok(cli("status")) == "features@1: clean\nmodel@1: clean\n"
    assert assert_ok(cli("snapshot", "features")) == \
        "features@1 is unchanged (same content); no new version written\n"
    write(proj / "mlver.toml", TOML.replace('"raw.csv" }\n\n', '"raw.csv" }\nkind = "dataset"\n\n', 1))
    assert assert_ok(cli("status")).splitlines() == [
        "features@1: changed", "  modified  code (uncommitted changes in mlver.toml)",
        "model@1: clean"]


# -- two names -------------------------------------------------------------------------------


def test_a_diff_of_two_names_says_so_first(mrepo, proj):
    project(proj)
    lines = assert_ok(cli("diff", "features", "model")).splitlines()
    assert lines[0] == "features@1 -> model@1 (two different names, not two versions of one)"
    d = json.loads(assert_ok(cli("diff", "features", "model", "--json")))
    assert d["verdict"][0] == lines[0]
    assert (d["old"]["name"], d["new"]["name"]) == ("features", "model")
    assert d["changed"] == ["data", "params"]  # compared all the same (slots raw, train)
    # one name: the first line is as it was
    assert assert_ok(cli("diff", "features")).splitlines()[0] == "features@1 -> features (workspace)"
