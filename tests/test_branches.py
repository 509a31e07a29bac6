"""Versions and git branches (issue 19, item 2): a version's parent is the latest version
of its name on its own commit's history, so two branches that alternate snapshots make two
lines of parents; status, diff NAME and log --branch compare with (and show) the versions on
HEAD's history; pull's replay keeps each record's parent on its own line."""

from __future__ import annotations

import json

from _fixtures import assert_ok, cli, commit_all, git, head_sha, mrepo, proj, write
from _remotes import clone, ok, project

__all__ = ["mrepo", "proj"]

SNAP = ("snapshot", "train", "-i", "d=d.csv", "-p", "params.yaml")


def show(rev: str) -> dict:
    return json.loads(assert_ok(cli("show", rev, "--json")))


def alternate(proj) -> dict[int, dict]:
    """train@1 on main; the branch feat changes lr (train@2); then main changes its data
    (train@3) and feat its own (train@4). HEAD ends on feat."""
    write(proj / "params.yaml", "train:\n  lr: 0.1\n  depth: 3\n")
    write(proj / "d.csv", "id,x\n1,10\n2,20\n")
    commit_all(proj, "data and params")
    assert_ok(cli(*SNAP))
    git(proj, "checkout", "-q", "-b", "feat")
    write(proj / "params.yaml", "train:\n  lr: 0.5\n  depth: 3\n")
    commit_all(proj, "feat: lr 0.5")
    assert_ok(cli(*SNAP))
    git(proj, "checkout", "-q", "main")
    write(proj / "d.csv", "id,x\n1,10\n2,20\n3,30\n")
    commit_all(proj, "main: one more row")
    assert_ok(cli(*SNAP))
    git(proj, "checkout", "-q", "feat")
    write(proj / "d.csv", "id,x\n1,10\n2,21\n")
    commit_all(proj, "feat: fix a value")
    assert_ok(cli(*SNAP))
    return {n: show(f"train@{n}") for n in range(1, 5)}


def test_alternating_branches_make_two_lines_of_parents(mrepo, proj):
    v = alternate(proj)
    assert [v[n]["version"] for n in range(1, 5)] == [1, 2, 3, 4]  # numbers: creation order
    assert v[1]["parents"] == [] and "previous" not in v[1]
    assert v[2]["parents"] == [v[1]["oid"]] and "previous" not in v[2]
    assert v[3]["parents"] == [v[1]["oid"]] and v[3]["previous"] == v[2]["oid"]
    assert v[4]["parents"] == [v[2]["oid"]] and v[4]["previous"] == v[3]["oid"]
    # back on main: train@5 follows train@3, never feat's train@4
    git(proj, "checkout", "-q", "main")
    write(proj / "d.csv", "id,x\n1,10\n")
    commit_all(proj, "main: fewer rows")
    assert_ok(cli(*SNAP))
    v5 = show("train@5")
    assert v5["parents"] == [v[3]["oid"]] and v5["previous"] == v[4]["oid"]
    assert show("train~1")["version"] == 3  # ~ follows the parent
    # every version stays reachable from the ref: reindex and verify find all five
    assert assert_ok(cli("reindex")) == "Indexed 5 records\n"
    assert [r["version"] for r in json.loads(assert_ok(cli("log", "train", "--json")))] \
        == [5, 4, 3, 2, 1]
    assert "no problems" in assert_ok(cli("verify"))


def test_a_version_diffed_with_its_parent_shows_only_its_own_lines_changes(mrepo, proj):
    alternate(proj)
    # train@4 against its parent train@2: feat changed one value, not lr (main's train@3
    # has lr 0.1, which no commit on feat's line ever set back)
    d = json.loads(assert_ok(cli("diff", "train~1", "train", "--json")))
    assert (d["old"]["version"], d["new"]["version"]) == (2, 4)
    assert d["changed"] == ["data"]
    assert d["params"]["changed"] == {} and d["params"]["added"] == {} \
        and d["params"]["removed"] == {}


def test_diff_of_two_sibling_versions_says_they_are_on_different_branches(mrepo, proj):
    alternate(proj)
    lines = assert_ok(cli("diff", "train@3", "train@4")).splitlines()
    assert lines[:2] == [
        "train@3 -> train@4",
        "  train@3 and train@4 were recorded on different branches (neither commit is an "
        "ancestor of the other); train@4's parent is train@2"]
    d = json.loads(assert_ok(cli("diff", "train@3", "train@4", "--json")))
    assert d["new"]["sibling"] is True
    d = json.loads(assert_ok(cli("diff", "train@2", "train@4", "--json")))
    assert "sibling" not in d["new"]


def test_status_and_diff_name_compare_with_the_version_on_this_branch(mrepo, proj):
    alternate(proj)
    git(proj, "checkout", "-q", "main")  # the workspace holds train@3's data and params
    assert assert_ok(cli("status")) == (
        "train@3: clean (the latest on this branch's history; train@4 is not on it)\n")
    (st,) = json.loads(assert_ok(cli("status", "--json")))
    assert (st["version"], st["clean"], st["on_branch"], st["latest_version"]) \
        == (3, True, True, 4)
    lines = assert_ok(cli("diff", "train")).splitlines()
    assert lines[:3] == [
        "train@3 -> train (workspace)",
        "  compared with train@3, the latest on this branch's history; train@4 is not on it",
        "  outputs unchanged"]
    d = json.loads(assert_ok(cli("diff", "train", "--json")))
    assert (d["old"]["version"], d["old"]["on_branch"], d["old"]["latest_version"]) \
        == (3, True, 4)
    assert d["changed"] == []
    # on feat the latest is on the branch: nothing more to say
    git(proj, "checkout", "-q", "feat")
    assert assert_ok(cli("status")) == "train@4: clean\n"
    assert assert_ok(cli("diff", "train")).splitlines()[:2] == [
        "train@4 -> train (workspace)", "  outputs unchanged"]
    # a version named explicitly is compared as named
    assert assert_ok(cli("diff", "train@3")).splitlines()[0] == "train@3 -> train (workspace)"


def test_a_branch_with_no_version_compares_with_the_latest_and_says_so(mrepo, proj):
    first = head_sha(proj)
    write(proj / "params.yaml", "train:\n  lr: 0.1\n")
    write(proj / "d.csv", "id\n1\n")
    commit_all(proj, "data")
    assert_ok(cli(*SNAP))
    git(proj, "checkout", "-q", "-b", "old", first)  # before train@1's commit
    write(proj / "params.yaml", "train:\n  lr: 0.1\n")
    write(proj / "d.csv", "id\n1\n")
    # the commits between differ in data and params files only: no code change
    assert assert_ok(cli("status")).splitlines()[0] == (
        "train@1: clean (the latest version; no version of train is on this branch's "
        "history)")
    (st,) = json.loads(assert_ok(cli("status", "--json")))
    assert (st["on_branch"], st["latest_version"]) == (False, 1)
    commit_all(proj, "old: same data")
    assert_ok(cli(*SNAP))
    v2 = show("train@2")
    assert v2["parents"] == [] and v2["previous"] == show("train@1")["oid"]


def test_a_snapshot_equal_to_its_branch_parent_is_unchanged(mrepo, proj):
    alternate(proj)
    git(proj, "checkout", "-q", "main")
    out = assert_ok(cli(*SNAP))
    assert "train@3" in out and "train@5" not in out
    assert [r["version"] for r in json.loads(assert_ok(cli("log", "train", "--json")))] \
        == [4, 3, 2, 1]


def test_log_branch_lists_this_branchs_line_and_log_marks_the_others(mrepo, proj):
    alternate(proj)
    git(proj, "checkout", "-q", "main")
    lines = assert_ok(cli("log", "train")).splitlines()
    marked = [ln.split()[1] for ln in lines if ln.find("(not on this branch's history)") > 0]
    assert marked == ["train@4", "train@2"]
    only = assert_ok(cli("log", "train", "--branch")).splitlines()
    assert [ln.split()[1] for ln in only] == ["train@3", "train@1"]
    assert all("(not on this branch's history)" not in ln for ln in only)
    log = json.loads(assert_ok(cli("log", "train", "--json")))
    assert [(r["version"], r["on_branch"]) for r in log] \
        == [(4, False), (3, True), (2, False), (1, True)]
    assert [r["version"] for r in json.loads(assert_ok(cli("log", "--branch", "-n", "1",
                                                           "--json")))] == [3]


def test_records_without_git_keep_the_latest_version_as_parent(tmp_path, monkeypatch):
    root = tmp_path / "nogit"
    root.mkdir()
    monkeypatch.chdir(root)
    write(root / "d.csv", "id\n1\n")
    assert_ok(cli("init"))
    assert_ok(cli("snapshot", "t", "-i", "d=d.csv"))
    write(root / "d.csv", "id\n2\n")
    assert_ok(cli("snapshot", "t", "-i", "d=d.csv"))
    assert show("t@2")["parents"] == [show("t@1")["oid"]]
    assert assert_ok(cli("status")) == "t@2: clean\n"
    assert [r["on_branch"] for r in json.loads(assert_ok(cli("log", "--json")))] == [None, None]


def test_pull_replays_a_branch_record_onto_its_own_line(tmp_path):
    a = project(tmp_path / "a")
    ok(a, "init")
    ok(a, "remote", "add", "origin", str(tmp_path / "remote"), "--default")
    git(a, "add", "mlver.toml")
    git(a, "commit", "-q", "-m", "remote")
    ok(a, "snapshot", "ds", "-o", "d=data", "--kind", "dataset")
    ok(a, "push")
    b = clone(a, tmp_path / "b")
    ok(b, "pull")
    # A records ds@2 on a branch; B records its own ds@2 on main; both know both commits
    git(a, "checkout", "-q", "-b", "feat")
    (a / "data" / "a.csv").write_text("id,x\n1,20\n")
    git(a, "commit", "-q", "-am", "feat data")
    ok(a, "snapshot", "ds", "-o", "d=data")
    ok(a, "push")
    (b / "data" / "b.csv").write_text("id,y\n3,40\n")
    git(b, "commit", "-q", "-am", "main data")
    ok(b, "snapshot", "ds", "-o", "d=data")
    git(b, "fetch", "-q", "origin")
    out = ok(b, "pull")
    assert "ds: replayed" in out

    def rec(rev):
        return json.loads(ok(b, "show", rev, "--json"))

    v1, v2, v3 = rec("ds@1"), rec("ds@2"), rec("ds@3")
    assert v2["code"]["branch"] == "feat" and v3["code"]["branch"] == "main"
    assert v3["parents"] == [v1["oid"]] and v3["previous"] == v2["oid"]
    assert "no problems" in ok(b, "verify")


def test_ancestry_lists_a_long_history_once(proj):
    from mlver.core.ancestry import FEW, Ancestry

    base = head_sha(proj)
    shas = []
    for i in range(FEW + 4):
        write(proj / "n.txt", f"{i}\n")
        shas.append(commit_all(proj, f"c{i}"))
    git(proj, "checkout", "-q", "-b", "side", base)
    write(proj / "s.txt", "side\n")
    side = commit_all(proj, "side")
    anc = Ancestry(str(proj), shas[-1])
    assert all(anc.contains(s) for s in [*shas, base])  # past FEW: one rev-list
    assert anc._listed is not None and anc._complete
    assert not anc.contains(side)
    assert not anc.contains("0" * 40)  # a commit git does not hold
    assert not Ancestry(str(proj), side).contains(shas[0])


def test_a_record_names_previous_only_when_it_is_not_the_parent():
    import pytest

    from mlver.base.errors import RecordFormatError
    from mlver.core.record import Record

    p, q = "a" * 32, "b" * 32
    base = Record(name="t", version=1, kind="model", created="2026-01-01T00:00:00.000000Z")
    same = base.with_version(2, (p,), p)
    assert same.previous is None and same.prior == p and same.links == (p,)
    assert "previous" not in same.to_dict()  # older records' bytes, and oids, stay
    other = base.with_version(3, (p,), q)
    assert other.prior == q and other.links == (p, q)
    assert Record.decode(other.encode()) == other
    first_here = base.with_version(3, (), q)
    assert first_here.parents == () and first_here.prior == q
    assert other.content() == base.content()  # order is not content
    for bad in ("../x", 7, p):  # not an oid, not a string, the parent itself
        d = other.to_dict()
        d["previous"] = bad
        with pytest.raises(RecordFormatError, match="record previous is not an oid"):
            Record.from_dict(d)
