"""Whether git tracks files of the store (mlver/sync/tracking.py): the warning every
command prints, and the kept "nothing tracked" answer that spares a git process while
git's index file stays the same one."""

from __future__ import annotations

import os
import time

import pytest

from mlver.sync import tracking

from _remotes import git, ok, project, run


@pytest.fixture
def proj(tmp_path):
    p = project(tmp_path / "p")
    ok(p, "init")
    return p


def _age_index(root) -> None:
    """Make git's index look written long ago (past the racy window)."""
    index = root / ".git" / "index"
    past = time.time() - 60
    os.utime(index, (past, past))


def _no_git(*args, **kwargs):
    raise AssertionError("git was asked although its index did not change")


def test_nothing_tracked_is_kept_until_git_rewrites_its_index(proj, monkeypatch):
    _age_index(proj)
    assert tracking.check_git_tracking(str(proj)) is None
    kept = proj / ".mlver" / tracking.STAT_FILE
    assert kept.read_text().count(" ") == 4  # dev ino size mtime ctime
    with monkeypatch.context() as m:
        m.setattr(tracking, "run_git", _no_git)
        assert tracking.check_git_tracking(str(proj)) is None  # answered from the kept line
    # git starts tracking a file of the store: its index is a new file, so git is asked
    (proj / ".mlver" / "stray").write_text("x")
    git(proj, "add", "-f", ".mlver/stray")
    _age_index(proj)
    warning = tracking.check_git_tracking(str(proj))
    assert warning is not None and warning.startswith("git tracks 1 file under .mlver/ "
                                                      "(.mlver/stray)")
    # through the command line too, on every command while it lasts
    r = run(proj, "log")
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("Warning: git tracks")] == [
        "Warning: " + warning]


def test_a_fresh_index_is_never_vouched_for(proj):
    """git may rewrite an index within one mtime tick: a young one is not kept."""
    (proj / "x").write_text("x")
    git(proj, "add", "x")  # the index was written just now
    assert tracking.check_git_tracking(str(proj)) is None
    assert not (proj / ".mlver" / tracking.STAT_FILE).exists()


def test_read_only_writes_nothing(proj):
    _age_index(proj)
    assert tracking.check_git_tracking(str(proj), read_only=True) is None
    assert not (proj / ".mlver" / tracking.STAT_FILE).exists()


def test_an_index_named_by_the_environment_is_always_asked(proj, monkeypatch):
    _age_index(proj)
    assert tracking.check_git_tracking(str(proj)) is None
    monkeypatch.setenv("GIT_INDEX_FILE", str(proj / ".git" / "index"))
    monkeypatch.setattr(tracking, "run_git", _no_git)
    with pytest.raises(AssertionError, match="git was asked"):
        tracking.check_git_tracking(str(proj))


def test_a_damaged_kept_line_only_costs_a_git_call(proj):
    _age_index(proj)
    kept = proj / ".mlver" / tracking.STAT_FILE
    kept.write_bytes(b"\xff\xfe not ascii")
    assert tracking.check_git_tracking(str(proj)) is None
    assert kept.read_text().endswith("\n") and kept.read_text().count(" ") == 4


def test_push_refuses_even_with_a_kept_answer(proj, monkeypatch):
    """The refusals never use the kept answer: they always ask git."""
    _age_index(proj)
    assert tracking.check_git_tracking(str(proj)) is None
    monkeypatch.setattr(tracking, "run_git", _no_git)
    with pytest.raises(AssertionError, match="git was asked"):
        tracking.refuse_tracked_store(str(proj), "mlver push")
