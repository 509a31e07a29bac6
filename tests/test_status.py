"""mlver.ops.status and the code scope (issue 10): a raw dataset with a declared scope is not
"modified code" after an unrelated commit; commits and uncommitted changes inside the
scope are; a record without a scope keeps the rule it always had (another HEAD)."""

from __future__ import annotations

import json

from _fixtures import assert_ok, cli, commit_all, mrepo, proj, write

__all__ = ["mrepo", "proj"]


def raw_dataset(proj):
    write(proj / "fetch.py", "print('fetch')\n")
    write(proj / "raw" / "m1.csv", "id\n1\n")
    write(proj / ".gitignore", ".mlver/\nraw/\n")
    write(proj / "mlver.toml", '[snapshot.listings]\nkind = "dataset"\n'
                               'outputs = {raw = "raw"}\ncode = ["fetch.py"]\n')
    commit_all(proj, "fetch script")
    assert_ok(cli("snapshot", "listings"))


def status_json(name: str) -> dict:
    (d,) = json.loads(assert_ok(cli("status", name, "--json")))
    return d


def test_unrelated_commit_leaves_a_scoped_dataset_clean(mrepo, proj):
    raw_dataset(proj)
    write(proj / "README.md", "# words\n")
    write(proj / "train.py", "print('other code')\n")
    commit_all(proj, "docs and training")
    assert assert_ok(cli("status")) == "listings@1: clean\n"
    assert status_json("listings")["code_changed"] is False


def test_commit_touching_the_scope_is_modified_code(mrepo, proj):
    raw_dataset(proj)
    write(proj / "fetch.py", "print('fetch v2')\n")
    commit_all(proj, "fetch v2")
    assert assert_ok(cli("status")).splitlines() == [
        "listings@1: changed", "  modified  code (1 commit touches the code scope)"]
    d = status_json("listings")
    assert (d["clean"], d["code_changed"]) == (False, True)


def test_uncommitted_changes_count_inside_the_scope_only(mrepo, proj):
    raw_dataset(proj)
    write(proj / "train.py", "print('uncommitted, outside the scope')\n")
    assert assert_ok(cli("status")) == "listings@1: clean\n"
    write(proj / "fetch.py", "print('uncommitted, inside')\n")
    assert assert_ok(cli("status")).splitlines() == [
        "listings@1: changed", "  modified  code (uncommitted changes in fetch.py)"]


def test_without_a_scope_another_head_is_modified_code(mrepo, proj):
    write(proj / "in.txt", "x\n")
    mrepo.snapshot("m", inputs={"a": "in.txt"})
    write(proj / "README.md", "# words\n")
    commit_all(proj, "docs")
    assert assert_ok(cli("status")).splitlines() == [
        "m@1: changed", "  modified  code (HEAD is another commit)"]


def test_recorded_uncommitted_changes_are_not_reported_again(mrepo, proj):
    write(proj / "in.txt", "x\n")
    write(proj / "train.py", "print('dirty when recorded')\n")
    rec = mrepo.snapshot("m", inputs={"a": "in.txt"}).record
    assert rec.code.dirty
    assert assert_ok(cli("status")) == "m@1: clean\n"
    write(proj / "train.py", "print('dirtier')\n")
    assert assert_ok(cli("status")).splitlines() == [
        "m@1: changed", "  modified  code (uncommitted changes in train.py)"]


def test_a_slot_whose_file_is_gone_is_removed_in_status_and_in_diff(mrepo, proj):
    """One word for one fact (issue 19 §8): ``removed``, as ``mlver diff`` says it."""
    raw_dataset(proj)
    import shutil
    shutil.rmtree(proj / "raw")
    assert assert_ok(cli("status", "listings")) == (
        "listings@1: changed\n  removed   output raw (raw)\n")
    assert [s["status"] for s in status_json("listings")["slots"]] == ["removed"]
    d = json.loads(assert_ok(cli("diff", "listings", "--json")))
    assert d["outputs"]["raw"]["status"] == "removed"
