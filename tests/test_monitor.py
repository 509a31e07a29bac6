"""mlver.core.monitor and ``mlver monitor``: with watchman on, status and an unchanged
snapshot ask what changed instead of walking, and get the same answers. Runs a real
watchman (skipped where it is not installed; .ci/run installs it)."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from mlver.api import Repo
from mlver.capture import files as capfiles
from mlver.core import monitor as monmod
from mlver.store.settings import rewrite_store_config

from conftest import cli, write

pytestmark = pytest.mark.skipif(shutil.which("watchman") is None,
                                reason="watchman is not installed")


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
    with monkeypatch.context() as m:  # undone before the fixture drops the watch
        m.setattr(pywatchman, "client", broken)
        assert _status(git_repo) == {"data": "modified"}


def test_gc_forgets_what_the_monitor_vouched_for(watched, git_repo):
    watched.snapshot("d", outputs={"data": "data"})
    _status(git_repo)
    assert watched.store.index.get_meta("monitor/1:data") is not None
    watched.gc(grace=0)
    assert watched.store.index.get_meta("monitor/1:data") is None


def test_the_command(watched, git_repo):
    r = cli("monitor", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"monitor": "watchman",
                                                          "answering": True}
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


def test_a_monitor_that_does_not_answer_is_shown_so(watched, git_repo, monkeypatch):
    """New-user trial: with watchman stopped, ``mlver monitor`` said ``monitor: watchman``
    although every capture walked."""
    with monkeypatch.context() as m:  # undone before the fixture drops the watch
        m.setenv("PATH", str(git_repo / "no-such-bin"))
        m.delenv("WATCHMAN_SOCK", raising=False)
        r = cli("monitor")
        assert r.exit_code == 0
        assert r.stdout.startswith("monitor: watchman (not answering: watchman does not answer")
        assert r.stdout.rstrip().endswith("until it does, status and snapshots walk every file)")
        assert json.loads(cli("monitor", "--json").stdout) == {"monitor": "watchman",
                                                               "answering": False}


def test_monitor_on_keeps_watchmans_socket_and_a_stale_one_is_found_again(
        watched, git_repo, monkeypatch):
    """``monitor on`` keeps watchman's socket in the store's config (it spares a
    ``watchman get-sockname`` process a command); when that socket no longer answers,
    watchman is asked where it is, and the monitor still answers."""
    got = json.loads(subprocess.run(["watchman", "get-sockname"], capture_output=True,
                                    text=True, check=True).stdout)
    assert watched.store.config[monmod.SOCK_KEY] == got["sockname"]
    watched.snapshot("d", outputs={"data": "data"})
    assert _status(git_repo) == {"data": "unchanged"}
    cfg = dict(watched.store.config, **{monmod.SOCK_KEY: str(git_repo / "gone.sock")})
    rewrite_store_config(str(git_repo / ".mlver"), cfg)
    with monkeypatch.context() as m:
        _no_walk(m)  # the monitor answered through the socket watchman named
        assert _status(git_repo) == {"data": "unchanged"}
    for bad in ("relative.sock", 7, "/x" * 600, "/a\0b"):
        assert monmod.configured_sock({monmod.SOCK_KEY: bad}) is None
    watched.monitor(False)
    assert monmod.SOCK_KEY not in json.loads((git_repo / ".mlver" / "config.json").read_text())
