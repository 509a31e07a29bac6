"""Versions whose commit this git repository does not hold (pulled, but their commits never
fetched) are "not fetched", not "another branch": ``log`` marks them ``(commit not
fetched)``, ``diff A B`` says to ``git fetch``, and ``status`` / ``diff NAME`` say which
newer version they passed over and why."""

from __future__ import annotations

import json

import pytest

from _remotes import git, ok, project, pushed_and_cloned, run


@pytest.fixture
def unfetched(tmp_path):
    """Clone A records ``m@1`` at the first commit and pushes; clone B is made; A commits,
    records ``m@2`` and pushes; B runs ``mlver pull`` but not ``git fetch``."""
    a, b = pushed_and_cloned(tmp_path, "id,x\n1,2\n")
    (a / "train.py").write_text("print(2)\n")
    git(a, "commit", "-q", "-am", "two")
    ok(a, "snapshot", "m", "-i", "t=data/t.csv")
    ok(a, "push")
    ok(b, "pull")
    c2 = git(a, "rev-parse", "HEAD").strip()
    return a, b, c2


def test_log_marks_a_version_whose_commit_is_not_fetched(unfetched):
    _a, b, c2 = unfetched
    lines = ok(b, "log", "m").splitlines()
    assert f"  git {c2[:7]}  (commit not fetched)" in lines[0]
    assert "not on this branch" not in lines[0]
    assert "(commit not fetched)" not in lines[1] and "not on this branch" not in lines[1]
    got = json.loads(ok(b, "log", "m", "--json"))
    assert [(r["version"], r["on_branch"]) for r in got] == [(2, None), (1, True)]
    assert ok(b, "log", "m", "--branch").count("\n") == 1  # m@1 only


def test_diff_of_a_version_whose_commit_is_not_fetched_says_fetch(unfetched):
    _a, b, c2 = unfetched
    lines = ok(b, "diff", "m@1", "m@2").splitlines()
    assert lines[0] == "m@1 -> m@2"
    assert lines[1] == (f"  m@2's commit {c2[:7]} is not in this git repository; "
                        "fetch it (git fetch)")
    assert not any("different branches" in x for x in lines)
    assert "sibling" not in json.loads(ok(b, "diff", "m@1", "m@2", "--json"))["new"]


def test_status_and_diff_name_say_which_version_was_passed_over(unfetched):
    _a, b, c2 = unfetched
    note = (f"the latest on this branch's history that git knows; m@2's commit {c2[:7]} "
            "is not in this git repository; fetch it (git fetch)")
    assert ok(b, "status").splitlines()[0] == f"m@1: clean ({note})"
    st = json.loads(ok(b, "status", "--json"))[0]
    assert (st["version"], st["on_branch"], st["latest_version"], st["not_fetched"]) == \
        (1, True, 2, [2])
    assert ok(b, "diff", "m").splitlines()[1] == f"  compared with m@1, {note}"
    git(b, "fetch", "-q")  # once fetched, m@2 is simply on another line (origin/main)
    assert ok(b, "status").splitlines()[0] == \
        "m@1: clean (the latest on this branch's history; m@2 is not on it)"
    assert "not_fetched" not in json.loads(ok(b, "status", "--json"))[0]
    r = run(b, "log", "m")
    assert "(not on this branch's history)" in r.stdout.splitlines()[0]


def test_the_post_merge_hook_names_the_version_it_passed_over(unfetched):
    from mlver.integrations.hooks import run as run_hook

    _a, b, c2 = unfetched
    with open(b / "mlver.toml", "a") as f:
        f.write('\n[snapshot.m]\ninputs = { t = "data/t.csv" }\n\n[hooks]\nsnapshot = ["m"]\n')
    (b / "data" / "t.csv").write_text("id,x\n9,9\n")
    head = git(b, "rev-parse", "HEAD").strip()
    lines: list[str] = []
    assert run_hook("post-merge", ["0"], cwd=str(b), echo=lines.append) == 0
    assert lines == [f"mlver: m@1 (commit {head[:7]}, the latest on this branch's history that "
                     f"git knows; m@2's commit {c2[:7]} is not in this git repository; fetch it "
                     "(git fetch)) differs here: data/t.csv modified; mlver checkout m@1 "
                     "restores it"]


@pytest.mark.parametrize("batch", [True, False])
def test_ancestry_state_tells_not_fetched_from_another_branch(tmp_path, batch):
    from mlver.core.ancestry import Ancestry

    root = project(tmp_path / "r", {"a.txt": "a\n"})
    c1 = git(root, "rev-parse", "HEAD").strip()
    git(root, "checkout", "-q", "-b", "feat")
    git(root, "commit", "-q", "--allow-empty", "-m", "feat")
    c2 = git(root, "rev-parse", "HEAD").strip()
    git(root, "checkout", "-q", "main")
    missing = "d8a3e42" + "0" * 33
    a = Ancestry(str(root), c1)
    if batch:
        a.learn_held([c2, missing, "not-a-sha"])
    assert (a.state(c1), a.state(c2), a.state(missing)) == (True, False, None)
    assert Ancestry(str(root), c2).state(c1) is True
