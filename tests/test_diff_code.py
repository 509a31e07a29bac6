"""The code section of a diff: commits between two records (sha, summary, author),
files changed with +/- lines, uncommitted patches, params/data files not counted as
code, and commits unknown to the local history."""

from __future__ import annotations

import dataclasses
import json

from mlver.core.record import Code, Scope
from _fixtures import (assert_ok, cli, commit_all, git, head_sha, mrepo, proj, publish_variant, write)

__all__ = ["mrepo", "proj"]


def setup_base(mrepo, proj):
    write(proj / "in.txt", "input\n")
    write(proj / "params.yaml", "lr: 0.1\n")
    commit_all(proj, "params file")
    return mrepo.snapshot("m", inputs={"a": "in.txt"}, params="params.yaml")


def commit_files(proj) -> list[str]:
    return git(proj, "ls-files").split()


def snap(mrepo):
    return mrepo.snapshot("m", inputs={"a": "in.txt"}, params="params.yaml")


def test_commits_between_with_sha_summary_author(mrepo, proj):
    r1 = setup_base(mrepo, proj)
    old = head_sha(proj)
    write(proj / "train.py", "import os\nprint('train')\nprint('a')\nprint('b')\n")
    c2 = commit_all(proj, "add features", author="Alice")
    write(proj / "utils.py", "def f():\n    return 1\n")
    c3 = commit_all(proj, "add utils", author="Bob")
    r2 = snap(mrepo)
    assert r1.record.code.commit == old and r2.record.code.commit == c3
    c = mrepo.diff("m@1", "m@2").code
    assert c["commits_known"] is True and c["changed"] is True
    assert c["commits"] == [{"sha": c3, "author": "Bob", "summary": "add utils"},
                            {"sha": c2, "author": "Alice", "summary": "add features"}]
    files = {f["path"]: (f["added"], f["removed"]) for f in c["files"]}
    # train.py was "print('train')\n": 3 lines added around it, none removed
    assert files == {"train.py": (3, 0), "utils.py": (2, 0)}
    assert (c["old_commit"], c["new_commit"]) == (old, c3)
    text = assert_ok(cli("diff", "m@1", "m@2"))
    assert f"2 commits ({old[:7]}..{c3[:7]})" in text
    assert '"add utils"' in text and "train.py +3 -0" in text


def test_lines_removed_are_counted(mrepo, proj):
    write(proj / "train.py", "a\nb\nc\nd\n")
    commit_all(proj, "four lines")
    setup_base(mrepo, proj)
    write(proj / "train.py", "a\nB\nd\n")
    commit_all(proj, "edit")
    snap(mrepo)
    c = mrepo.diff("m@1", "m@2").code
    assert c["files"] == [{"path": "train.py", "added": 1, "removed": 2}]


def test_params_file_commit_is_params_not_code(mrepo, proj):
    setup_base(mrepo, proj)
    write(proj / "params.yaml", "lr: 0.5\n")
    sha = commit_all(proj, "tune lr")
    snap(mrepo)
    d = mrepo.diff("m@1", "m@2")
    assert d.changed == ("params",)
    assert [x["sha"] for x in d.code["commits"]] == [sha]
    assert d.code["files"] == []
    assert d.code["changed"] is False
    assert "params.yaml" not in json.dumps(d.code["files"])


def test_tracked_data_file_commit_is_data_not_code(mrepo, proj):
    setup_base(mrepo, proj)  # in.txt, the input, is tracked by git too
    assert "in.txt" in commit_files(proj)
    write(proj / "in.txt", "input, edited\n")
    write(proj / "model.py", "x = 1\n")
    commit_all(proj, "edit input and code")
    snap(mrepo)
    d = mrepo.diff("m@1", "m@2")
    assert [f["path"] for f in d.code["files"]] == ["model.py"]
    assert d.changed == ("data", "code")


def test_uncommitted_patch_difference(mrepo, proj):
    setup_base(mrepo, proj)
    write(proj / "train.py", "print('train')\nprint('uncommitted')\n")
    r2 = snap(mrepo)
    assert r2.record.code.dirty and r2.record.code.patch
    d = mrepo.diff("m@1", "m@2")
    assert d.code["commits"] is None  # same commit
    assert d.code["patch_changed"] is True
    assert d.code["patch_files"] == ["train.py"]
    assert d.changed == ("code",)
    assert "uncommitted changes differ in train.py" in str(d)


def test_same_uncommitted_patch_is_no_code_change(mrepo, proj):
    write(proj / "in.txt", "input\n")
    write(proj / "train.py", "print('train')\nprint('dirty')\n")
    mrepo.snapshot("m", inputs={"a": "in.txt"}, params=["lr=1"])
    mrepo.snapshot("m", inputs={"a": "in.txt"}, params=["lr=2"])
    d = mrepo.diff("m@1", "m@2")
    assert d.code["patch_changed"] is False
    assert d.changed == ("params",)


def test_uncommitted_params_edit_is_not_code(mrepo, proj):
    setup_base(mrepo, proj)
    write(proj / "params.yaml", "lr: 0.9\n")  # tracked file, not committed
    snap(mrepo)
    d = mrepo.diff("m@1", "m@2")
    assert d.changed == ("params",)
    assert d.code["patch_files"] == []


def test_commit_unknown_locally(mrepo, proj):
    r1 = setup_base(mrepo, proj)
    fake = "0123456789abcdef0123456789abcdef01234567"
    rec = r1.record
    publish_variant(mrepo, "m@1", code=dataclasses.replace(rec.code, commit=fake),
                    params={"lr": 0.1})
    d = mrepo.diff("m@1", "m@2")
    assert d.code["commits_known"] is False
    assert d.code["commits"] is None
    assert d.code["new_commit"] == fake
    assert "code" in d.changed
    assert "history not known locally" in str(d)
    j = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--json")))
    assert j["code"]["commits_known"] is False


def test_same_commit_no_code_change(mrepo, proj):
    setup_base(mrepo, proj)
    write(proj / "in.txt", "other input\n")
    snap(mrepo)
    d = mrepo.diff("m@1", "m@2")
    assert d.code["changed"] is False and d.code["commits"] is None
    assert d.changed == ("data",)
    assert f"code ({head_sha(proj)[:7]})" in str(d)


def test_tracked_data_file_in_a_store_below_the_git_top_is_not_code(tmp_path, monkeypatch):
    # the store lives in a sub-folder of the git repository: git names files from its top
    # (proj/data/d.csv), the record from the store's root (data/d.csv); still the same file
    import mlver
    from _fixtures import make_git_repo

    top = make_git_repo(tmp_path / "top", {".gitignore": ".mlver/\n",
                                           "proj/data/d.csv": "a,b\n1,2\n",
                                           "proj/params.yaml": "lr: 0.1\n",
                                           "proj/train.py": "print(1)\n"})
    root = top / "proj"
    monkeypatch.chdir(root)
    repo = mlver.Repo.init(str(root))
    repo.snapshot("m", inputs={"train": "data/d.csv"}, params="params.yaml")
    write(root / "data/d.csv", "a,b\n1,2\n3,4\n")
    write(root / "params.yaml", "lr: 0.2\n")
    write(root / "train.py", "print(2)\n")
    commit_all(top, "more data, new lr, new code")
    write(root / "params.yaml", "lr: 0.3\n")  # uncommitted: in the patch, named from the top
    repo.snapshot("m", inputs={"train": "data/d.csv"}, params="params.yaml")
    d = repo.diff("m@1", "m@2")
    assert d.code["files"] == [{"path": "proj/train.py", "added": 1, "removed": 1}]
    assert d.code["patch_changed"] is False
    assert d.changed == ("data", "code", "params")
    assert [line for line in d.verdict if line.startswith("    code")] == [
        '    code   1 commit (' + d.code["old_commit"][:7] + '..' + d.code["new_commit"][:7]
        + '): "more data, new lr, new code"; proj/train.py +1 -1']
    repo.close()


def test_data_file_moved_with_git_mv_is_not_code(mrepo, proj):
    write(proj / "data/d.csv", "a,b\n1,2\n")
    commit_all(proj, "data in git")
    mrepo.snapshot("m", inputs={"train": "data/d.csv"})
    git(proj, "mv", "data/d.csv", "data/e.csv")
    commit_all(proj, "rename the data")
    mrepo.snapshot("m", inputs={"train": "data/e.csv"})
    d = mrepo.diff("m@1", "m@2")
    assert d.code["files"] == [] and d.code["changed"] is False
    assert len(d.code["commits"]) == 1
    assert d.changed == ("data",)


# -- code scope (issue 10): only commits touching the scope are code changes -----------------

def scoped(proj, code: str = '["train.py"]'):
    write(proj / "in.txt", "input\n")
    write(proj / "mlver.toml", f'[snapshot.m]\ninputs = {{a = "in.txt"}}\ncode = {code}\n')
    return commit_all(proj, "declare m")


def test_readme_only_commit_is_not_a_code_change(mrepo, proj):
    scoped(proj)
    r1 = mrepo.snapshot("m")
    assert r1.record.code.scope == Scope("declared", ("train.py",))
    write(proj / "README.md", "# project\n\nmore words\n")
    sha = commit_all(proj, "docs")
    res = cli("diff", "m", "--exit-code")
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == ["m@1 -> m (workspace)", "  outputs unchanged",
                                       "  no recorded input changed",
                                       f"  code unchanged ({sha[:7]}): 1 commit outside the code scope"]
    # issue 19: a commit outside the code scope is not new content; no version 2
    assert mrepo.snapshot("m").created is False
    r1 = r1.record
    publish_variant(mrepo, "m@1", code=dataclasses.replace(r1.code, commit=sha))
    d = mrepo.diff("m@1", "m@2")
    assert d.changed == () and not d.inputs_changed
    assert (d.code["changed"], d.code["commits"], d.code["files"]) == (False, [], [])
    assert (d.code["scope"], d.code["commits_outside_scope"]) == (["train.py"], 1)
    assert assert_ok(cli("diff", "m@1", "m@2", "--exit-code")).splitlines()[-1] == \
        f"  code unchanged ({sha[:7]}): 1 commit outside the code scope"


def test_commit_touching_the_scope_is_a_code_change(mrepo, proj):
    scoped(proj)
    mrepo.snapshot("m")
    old = head_sha(proj)
    write(proj / "README.md", "# project\n\nmore words\n")
    commit_all(proj, "docs")
    write(proj / "train.py", "print('train')\nprint('more')\n")
    sha = commit_all(proj, "train: more")
    res = cli("diff", "m", "--exit-code")
    assert res.exit_code == 1
    lines = res.stdout.splitlines()
    assert lines[2:4] == ["  because:", f'    code   1 commit ({old[:7]}..{sha[:7]}): "train: more"; '
                          "train.py +1 -0; 1 commit outside the code scope"]
    j = json.loads(assert_ok(cli("diff", "m", "--json")))
    assert j["code"]["commits"] == [{"sha": sha, "author": "Test User", "summary": "train: more"}]
    assert (j["code"]["commits_outside_scope"], j["changed"]) == (1, ["code"])


def test_declared_with_code_option_and_globs(mrepo, proj):
    write(proj / "in.txt", "input\n")
    write(proj / "src" / "model" / "net.py", "A = 1\n")
    write(proj / "src" / "notes.txt", "n\n")
    commit_all(proj, "src")
    assert_ok(cli("snapshot", "m", "-i", "a=in.txt", "--code", "src/**/*.py", "--code", "train.py"))
    assert mrepo.show("m")[1].code.scope == Scope("declared", ("src/**/*.py", "train.py"))
    write(proj / "src" / "notes.txt", "n2\n")
    commit_all(proj, "notes")
    assert cli("diff", "m", "--exit-code").exit_code == 0
    write(proj / "src" / "model" / "net.py", "A = 2\n")
    commit_all(proj, "net")
    d = mrepo.diff("m")
    assert d.changed == ("code",)
    assert d.code["files"] == [{"path": "src/model/net.py", "added": 1, "removed": 1}]
    assert d.code["commits_outside_scope"] == 1


def test_uncommitted_changes_count_only_inside_the_scope(mrepo, proj):
    scoped(proj)
    mrepo.snapshot("m")
    write(proj / "README.md", "# dirty readme\n")
    assert cli("diff", "m", "--exit-code").exit_code == 0
    write(proj / "train.py", "print('dirty')\n")
    d = mrepo.diff("m")
    assert (d.changed, d.code["patch_files"]) == (("code",), ["train.py"])


def test_a_side_without_scope_makes_the_whole_repository_count(mrepo, proj):
    write(proj / "in.txt", "input\n")
    mrepo.snapshot("m", inputs={"a": "in.txt"})  # no scope: the whole repository
    write(proj / "README.md", "# more\n")
    commit_all(proj, "docs")
    mrepo.snapshot("m", inputs={"a": "in.txt"}, code="train.py")
    d = mrepo.diff("m@1", "m@2")
    assert d.code["scope"] is None and d.changed == ("code",)
    assert [f["path"] for f in d.code["files"]] == ["README.md"]


def test_scopes_of_both_sides_are_united(mrepo, proj):
    write(proj / "in.txt", "input\n")
    write(proj / "a.py", "1\n")
    commit_all(proj, "a")
    mrepo.snapshot("m", inputs={"a": "in.txt"}, code="a.py")
    write(proj / "a.py", "2\n")
    commit_all(proj, "edit a")
    mrepo.snapshot("m", inputs={"a": "in.txt"}, code="train.py")  # a.py dropped from the scope
    d = mrepo.diff("m@1", "m@2")
    assert d.code["scope"] == ["a.py", "train.py"] and d.changed == ("code",)


def test_first_record_without_a_commit_reads_as_a_sentence(mrepo, proj):
    r1 = setup_base(mrepo, proj)
    publish_variant(mrepo, "m@1", code=Code(), params={"lr": 0.1})  # m@2: no commit
    snap(mrepo)  # m@3: a commit again
    sha = r1.record.code.commit[:7]
    lines = str(mrepo.diff("m@2", "m@3")).splitlines()
    assert lines[3] == (f"    code   commit {sha}; the old version was recorded without one "
                        "(outside git or before the first commit)")
    lines = str(mrepo.diff("m@1", "m@2")).splitlines()
    assert lines[3] == ("    code   no commit recorded (outside git or before the first commit); "
                        f"the old version was at {sha}")
