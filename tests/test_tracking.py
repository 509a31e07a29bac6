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


def test_a_fifo_as_the_kept_line_never_hangs_a_command(proj):
    """``open()`` of a FIFO blocks until a writer comes: the kept line is read without
    blocking, and only from a regular file."""
    import threading

    _age_index(proj)
    kept = proj / ".mlver" / tracking.STAT_FILE
    os.mkfifo(kept)
    got: list[str | None] = []
    t = threading.Thread(target=lambda: got.append(tracking.check_git_tracking(str(proj))),
                         daemon=True)
    t.start()
    t.join(10)
    if t.is_alive():  # unblock the reader so the test run can end
        fd = os.open(kept, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        pytest.fail("check_git_tracking hung on a FIFO at .mlver/git-index.stat")
    assert got == [None]
    assert kept.is_file() and not kept.is_symlink()  # replaced by a regular file


def test_a_symlinked_kept_line_is_not_followed(proj, tmp_path, monkeypatch):
    _age_index(proj)
    assert tracking.check_git_tracking(str(proj)) is None
    kept = proj / ".mlver" / tracking.STAT_FILE
    line = kept.read_text()
    elsewhere = tmp_path / "line"
    elsewhere.write_text(line)
    kept.unlink()
    kept.symlink_to(elsewhere)
    calls = []
    real = tracking.run_git
    monkeypatch.setattr(tracking, "run_git", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert tracking.check_git_tracking(str(proj)) is None
    assert calls  # git was asked: a link is no kept answer
    assert not kept.is_symlink() and kept.read_text() == line


def test_a_symlinked_git_index_is_never_vouched_for(proj):
    """git writes through a symlinked index (it replaces the file the link names): the
    link's own identity never changes, so it cannot key the answer."""
    index = proj / ".git" / "index"
    real = proj / ".git" / "index.real"
    index.rename(real)
    index.symlink_to("index.real")
    os.utime(real, (time.time() - 60,) * 2)
    os.utime(index, (time.time() - 60,) * 2, follow_symlinks=False)
    assert tracking.check_git_tracking(str(proj)) is None
    (proj / ".mlver" / "stray").write_text("x")
    git(proj, "add", "-f", ".mlver/stray")
    assert index.is_symlink()  # git left the link, and replaced index.real
    os.utime(real, (time.time() - 60,) * 2)
    warning = tracking.check_git_tracking(str(proj))
    assert warning is not None and "(.mlver/stray)" in warning


def test_a_dot_git_folder_git_passes_over_keys_nothing(proj):
    """A broken ``.git`` folder (no repository: git's discovery goes on to the parent)
    holds an index that never changes: it must not key the answer for the outer one."""
    sub = proj / "sub"
    (sub / ".git").mkdir(parents=True)
    (sub / ".git" / "index").write_text("not an index")
    os.utime(sub / ".git" / "index", (time.time() - 60,) * 2)
    (sub / ".mlver").mkdir()
    assert tracking.check_git_tracking(str(sub)) is None
    (sub / ".mlver" / "refs").write_text("x")
    git(proj, "add", "-f", "sub/.mlver/refs")
    warning = tracking.check_git_tracking(str(sub))
    assert warning is not None and "refs" in warning
