"""mlver.core.monitor and ``mlver monitor``: with watchman on, status and an unchanged
snapshot ask what changed instead of walking, and get the same answers. Runs a real
watchman (skipped where it is not installed; .ci/run installs it)."""
from __future__ import annotations

import json
import shutil

import pytest

from mlver.api import Repo
from mlver.capture import files as capfiles
from mlver.core import monitor as monmod

from conftest import cli, write

pytestmark = pytest.mark.skipif(shutil.which("watchman") is None,
                                reason="watchman is not installed")


@pytest.fixture
def watched(repo, git_repo):
    write(git_repo / "data" / "a" / "x.csv", "id\n1\n")
    write(git_repo / "data" / "b" / "y.csv", "id\n2\n")
    write(git_repo / ".gitignore", "data/\n")
    assert repo.monitor(True) == "watchman"
    yield repo
    repo.monitor(False)


def _no_walk(monkeypatch):
    """Make any walk fail: what passes after this did not walk."""
    def refuse(*a, **k):
        raise AssertionError("walked although the monitor said nothing changed")
    monkeypatch.setattr(capfiles, "_scan", refuse)


def _status(path):
    with Repo(str(path)) as r:  # a new command: a new connection, the clock from the index
        (st,) = r.status("d")
        return {s.slot: s.status for s in st.slots}


def test_status_and_snapshot_do_not_walk_what_did_not_change(watched, git_repo, monkeypatch):
    watched.snapshot("d", outputs={"data": "data"})
    assert _status(git_repo) == {"data": "unchanged"}  # walks once, after the snapshot
    with monkeypatch.context() as m:
        _no_walk(m)
        assert _status(git_repo) == {"data": "unchanged"}
        with Repo(str(git_repo)) as r:
            assert not r.snapshot("d", outputs={"data": "data"}).created
    write(git_repo / "data" / "b" / "y.csv", "id\n3\n")  # a change: seen, and walked
    assert _status(git_repo) == {"data": "modified"}
    with Repo(str(git_repo)) as r:
        res = r.snapshot("d", outputs={"data": "data"})
        assert res.created and r.verify().ok


def test_changes_inside_a_nested_git_folder_are_no_change(watched, git_repo, monkeypatch):
    watched.snapshot("d", outputs={"data": "data"})
    _status(git_repo)
    write(git_repo / "data" / "a" / ".git" / "HEAD", "ref: x")  # never content
    with monkeypatch.context() as m:
        _no_walk(m)
        assert _status(git_repo) == {"data": "unchanged"}


def test_a_status_result_is_not_reused_by_a_snapshot(watched, git_repo):
    """status writes nothing: what it found names trees the store may lack, so a snapshot
    after it walks and stores them."""
    _status_before = watched.status()  # no version yet: nothing captured
    assert _status_before == []
    watched.snapshot("d", outputs={"data": "data"})
    write(git_repo / "data" / "c.csv", "id\n9\n")
    assert _status(git_repo) == {"data": "modified"}  # remembered, as not stored
    with Repo(str(git_repo)) as r:
        r.snapshot("d", outputs={"data": "data"})
        assert r.verify().ok
        rec = r.record(r.resolve("d"))
        assert r.store.objects.missing([rec.outputs["data"].oid]) == []


def test_a_broken_watchman_means_a_walk_with_the_same_answer(watched, git_repo, monkeypatch):
    watched.snapshot("d", outputs={"data": "data"})
    _status(git_repo)
    write(git_repo / "data" / "a" / "x.csv", "id\n100\n")
    import pywatchman

    def broken(*a, **k):
        raise pywatchman.SocketTimeout("no answer")
    monkeypatch.setattr(pywatchman, "client", broken)
    assert _status(git_repo) == {"data": "modified"}


def test_gc_forgets_what_the_monitor_vouched_for(watched, git_repo):
    watched.snapshot("d", outputs={"data": "data"})
    _status(git_repo)
    assert watched.store.index.get_meta("monitor/1:data") is not None
    watched.gc(grace=0)
    assert watched.store.index.get_meta("monitor/1:data") is None


def test_the_command(watched, git_repo):
    r = cli("monitor", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"monitor": "watchman"}
    r = cli("monitor", "off")
    assert r.exit_code == 0 and r.stdout == "monitor: off\n"
    cfg = json.loads((git_repo / ".mlver" / "config.json").read_text())
    assert monmod.MONITOR_KEY not in cfg
    assert cli("monitor", "sideways").exit_code == 2


def test_no_watchman_on_path_is_said_plainly(git_repo, repo, monkeypatch):
    """Review: without the binary the error quoted pywatchman's unformatted
    '"watchman" executable not in PATH (%s), while executing …'."""
    monkeypatch.delenv("WATCHMAN_SOCK", raising=False)
    monkeypatch.setenv("PATH", str(git_repo / "no-such-bin"))
    r = cli("monitor", "on")
    assert r.exit_code == 1
    assert "(no watchman executable on PATH); install it" in r.stderr and "%s" not in r.stderr
    assert json.loads(cli("monitor", "--json").stdout) == {"monitor": None}


# -- patching: the cost of what changed ------------------------------------------------------

def _tree_oid(path) -> str:
    """The folder's tree oid computed from scratch (an oracle independent of capture)."""
    import os

    from mlver.base.hashing import oid_of
    from mlver.store.trees import encode_rows

    rows = []
    for e in sorted(os.scandir(path), key=lambda e: e.name):
        if e.name in (".git", ".mlver"):
            continue
        if e.is_symlink():
            target = os.fsencode(os.readlink(e.path))
            rows.append((e.name, "link", oid_of(target), len(target), False))
        elif e.is_dir():
            rows.append((e.name, "tree", _tree_oid(e.path), _size(e.path), False))
        else:
            data = open(e.path, "rb").read()
            rows.append((e.name, "blob", oid_of(data), len(data),
                         bool(os.stat(e.path).st_mode & 0o111)))
    return oid_of(encode_rows(rows))


def _size(path) -> int:
    import os

    total = 0
    for dirpath, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d not in (".git", ".mlver")]
        for f in files:
            p = os.path.join(dirpath, f)
            total += len(os.fsencode(os.readlink(p))) if os.path.islink(p) else os.path.getsize(p)
        for d in dirs:
            p = os.path.join(dirpath, d)
            if os.path.islink(p):
                total += len(os.fsencode(os.readlink(p)))
    return total


def _count(path) -> int:
    import os

    n = 0
    for _dirpath, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d not in (".git", ".mlver")]
        n += len(files) + sum(1 for d in dirs if os.path.islink(os.path.join(_dirpath, d)))
    return n


def _walks(monkeypatch) -> list[str]:
    """Record every folder walked from its top (a patch walks only new folders)."""
    seen: list[str] = []
    real = capfiles._scan

    def spy(root, rel, *a, **k):
        seen.append(rel)
        return real(root, rel, *a, **k)
    monkeypatch.setattr(capfiles, "_scan", spy)
    return seen


def _snapshot_data(path):
    with Repo(str(path)) as r:
        res = r.snapshot("d", outputs={"data": "data"})
        art = r.record(r.resolve("d")).outputs["data"]
        return res, art


def test_a_snapshot_patches_the_last_tree_with_what_changed(watched, git_repo, monkeypatch):
    import os

    data = git_repo / "data"
    write(data / "a" / "deep" / "z.bin", b"z" * 10)
    write(data / "b" / "gone" / "old.csv", "id\n0\n")
    (data / "b" / "exe.sh").write_text("echo\n")
    os.symlink("x.csv", data / "a" / "link")
    _snapshot_data(git_repo)
    walked = _walks(monkeypatch)
    # every kind of change: edit, add, delete, new folder, removed folder, a file that
    # becomes a folder and back, a link retargeted, an exec bit
    write(data / "a" / "x.csv", "id\n1\n2\n")
    write(data / "a" / "deep" / "new.csv", "id\n7\n")
    write(data / "c" / "d" / "e.csv", "id\n8\n")
    (data / "b" / "gone" / "old.csv").unlink()
    (data / "b" / "gone").rmdir()
    (data / "b" / "y.csv").unlink()
    write(data / "b" / "y.csv" / "inner.csv", "id\n4\n")
    (data / "a" / "deep" / "z.bin").unlink()
    os.mkdir(data / "a" / "deep" / "z.bin")
    (data / "a" / "link").unlink()
    os.symlink("deep", data / "a" / "link")
    os.chmod(data / "b" / "exe.sh", 0o755)
    res, art = _snapshot_data(git_repo)
    assert res.created
    assert art.oid == _tree_oid(data) and art.size == _size(data)
    assert art.files == _count(data) == 6
    # only the new folders were walked, never data/ itself
    assert sorted(walked) == ["data/a/deep/z.bin", "data/b/y.csv", "data/c"]
    with Repo(str(git_repo)) as r:
        assert r.verify().ok


def test_status_patches_and_keeps_the_stored_base(watched, git_repo, monkeypatch):
    data = git_repo / "data"
    _res, art1 = _snapshot_data(git_repo)
    walked = _walks(monkeypatch)
    write(data / "a" / "x.csv", "id\n5\n")
    assert _status(git_repo) == {"data": "modified"}
    write(data / "b" / "y.csv", "id\n6\n")
    assert _status(git_repo) == {"data": "modified"}  # both changes, from the stored base
    assert walked == []
    write(data / "a" / "x.csv", "id\n1\n")
    write(data / "b" / "y.csv", "id\n2\n")  # back as they were
    assert _status(git_repo) == {"data": "unchanged"}
    _res, art = _snapshot_data(git_repo)
    assert art.oid == art1.oid == _tree_oid(data) and walked == []


def test_a_patch_it_cannot_make_is_a_walk(watched, git_repo, monkeypatch):
    data = git_repo / "data"
    _snapshot_data(git_repo)
    walked = _walks(monkeypatch)
    monkeypatch.setattr(monmod, "MAX_NAMES", 1)  # too many names: a walk
    write(data / "a" / "x.csv", "id\n11\n")
    write(data / "b" / "y.csv", "id\n12\n")
    _res, art = _snapshot_data(git_repo)
    assert walked == ["data"] and art.oid == _tree_oid(data)
    monkeypatch.setattr(monmod, "MAX_NAMES", 10_000)
    walked.clear()
    # the base tree is not in the store (lost): a walk, never a wrong tree
    import mlver.core.workspace as wsmod

    monkeypatch.setattr(wsmod.Workspace, "_tree_bytes", lambda self, oid: None)
    write(data / "a" / "x.csv", "id\n13\n")
    _res, art = _snapshot_data(git_repo)
    assert walked == ["data"] and art.oid == _tree_oid(data)


def test_a_folder_reached_through_a_symlink_is_walked(repo, git_repo, monkeypatch):
    """watchman watches names: a change in the folder a link leads to is not reported
    under the link's name, so such a folder is always walked."""
    import os

    write(git_repo / "real" / "x.csv", "id\n1\n")
    os.symlink("real", git_repo / "data")
    write(git_repo / ".gitignore", "real/\n")
    assert repo.monitor(True) == "watchman"
    try:
        _snapshot_data(git_repo)
        write(git_repo / "real" / "x.csv", "id\n2\n")
        _res, art = _snapshot_data(git_repo)
        assert art.oid == _tree_oid(git_repo / "real")
    finally:
        repo.monitor(False)
