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
    although every capture walked. (A stopped watchman's kept socket no longer answers:
    while it does, captures use it, and the monitor answers.)"""
    cfg = dict(watched.store.config, **{monmod.SOCK_KEY: str(git_repo / "gone.sock")})
    rewrite_store_config(str(git_repo / ".mlver"), cfg)
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


def _fake_watchman(path, answers: list) -> None:
    """Serve, at the unix socket ``path``, a program that speaks watchman's protocol and
    says nothing ever changed (it records each request in ``answers``)."""
    import socket
    import threading

    from pywatchman import pybser

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(path))
    srv.listen(4)

    def reply(cmd: list) -> dict:
        answers.append(cmd[0])
        if cmd[0] == "version":
            want = cmd[1] if len(cmd) > 1 and isinstance(cmd[1], dict) else {}
            names = list(want.get("required", [])) + list(want.get("optional", []))
            return {"version": "4.9.0", "capabilities": {n: True for n in names}}
        if cmd[0] == "watch-project":
            return {"version": "4.9.0", "watch": cmd[1]}
        if cmd[0] == "get-config":
            return {"version": "4.9.0", "config": {}}
        if cmd[0] == "clock":
            return {"version": "4.9.0", "clock": "c:1:1:1:1"}
        return {"version": "4.9.0", "clock": "c:1:1:1:2", "is_fresh_instance": False,
                "files": []}

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            buf = b""
            with conn:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    buf += data
                    while len(buf) >= 16:
                        n = pybser.pdu_len(buf)
                        if len(buf) < n:
                            break
                        version = pybser.pdu_info(buf[:n])[0]
                        cmd = pybser.loads(buf[:n], value_encoding="utf-8")
                        buf = buf[n:]
                        conn.sendall(pybser.dumps(reply(cmd), version=version))

    threading.Thread(target=serve, daemon=True).start()


def test_a_kept_socket_of_another_user_is_never_asked(watched, git_repo, tmp_path):
    """A stopped watchman's folder in /tmp can be cleaned away and made again by another
    user, whose program then answers at the kept path that nothing changed: status
    would lie. A kept socket is used only when this user owns it and its folder."""
    import os

    watched.snapshot("d", outputs={"data": "data"})
    assert _status(git_repo) == {"data": "unchanged"}
    folder = tmp_path / "other-state"
    folder.mkdir(mode=0o700)
    sock = folder / "sock"
    asked: list = []
    _fake_watchman(sock, asked)
    cfg = dict(watched.store.config, **{monmod.SOCK_KEY: str(sock)})
    rewrite_store_config(str(git_repo / ".mlver"), cfg)
    write(git_repo / "data" / "a" / "x.csv", "id\n1\n2\n")
    if os.getuid() == 0:  # root can make them another user's
        os.chown(sock, 54321, 54321)
        os.chown(folder, 54321, 54321)
        assert _status(git_repo) == {"data": "modified"}
        assert asked == []
    if os.getuid() == 0:
        os.chown(sock, 0, 0)
        os.chown(folder, 0, 0)
    folder.chmod(0o777)  # anyone can put a socket there: not trusted either
    write(git_repo / "data" / "b" / "y.csv", "id\n2\n3\n")
    assert _status(git_repo) == {"data": "modified"}
    assert asked == []
    folder.chmod(0o700)
    assert monmod._own_socket(str(sock))  # this user's own, in a private folder: used
    assert not monmod._own_socket(str(git_repo / "data" / "a" / "x.csv"))  # not a socket


def test_a_kept_socket_that_never_answers_falls_back_to_watchman(
        watched, git_repo, tmp_path, monkeypatch):
    """A socket of another program of this user that accepts and never answers: the
    command asks watchman where it is, and the monitor still answers (no walk)."""
    import socket

    watched.snapshot("d", outputs={"data": "data"})
    assert _status(git_repo) == {"data": "unchanged"}
    folder = tmp_path / "mine"
    folder.mkdir(mode=0o700)
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(folder / "sock"))
    mute.listen(4)
    try:
        cfg = dict(watched.store.config, **{monmod.SOCK_KEY: str(folder / "sock")})
        rewrite_store_config(str(git_repo / ".mlver"), cfg)
        monkeypatch.setattr(monmod, "TIMEOUT_S", 0.5)
        with monkeypatch.context() as m:
            _no_walk(m)
            assert _status(git_repo) == {"data": "unchanged"}
    finally:
        mute.close()


def test_the_kept_socket_is_the_one_shown_and_the_one_whose_watch_off_drops(
        watched, git_repo, tmp_path, monkeypatch):
    """New-user trial: with the monitor turned on through ``WATCHMAN_SOCK`` (another
    watchman than the default one), captures ask the kept socket first, but ``mlver
    monitor`` said 'not answering … walk every file' when only that one answered, and
    ``mlver monitor off`` dropped the watch on the default watchman only, leaving the
    kept one watching the repository."""
    folder = tmp_path / "mine"
    folder.mkdir(mode=0o700)
    asked: list = []
    _fake_watchman(folder / "sock", asked)
    cfg = dict(watched.store.config, **{monmod.SOCK_KEY: str(folder / "sock")})
    rewrite_store_config(str(git_repo / ".mlver"), cfg)
    with monkeypatch.context() as m:
        m.setenv("PATH", str(git_repo / "no-such-bin"))  # only the kept socket answers
        m.delenv("WATCHMAN_SOCK", raising=False)
        r = cli("monitor", "--json")
        assert r.exit_code == 0 and json.loads(r.stdout) == {"monitor": "watchman",
                                                              "answering": True}
        assert cli("monitor", "off").exit_code == 0
    assert "watch-del" in asked
    assert monmod.SOCK_KEY not in json.loads((git_repo / ".mlver" / "config.json").read_text())


def test_a_watchman_sock_where_nothing_answers_is_named_as_the_cause(git_repo, repo,
                                                                    monkeypatch):
    """New-user trial: with WATCHMAN_SOCK naming a socket where no watchman runs, the
    error said 'install it (e.g. apt install watchman)' although watchman was installed;
    the variable is the cause."""
    monkeypatch.setenv("WATCHMAN_SOCK", str(git_repo / "no-such.sock"))
    r = cli("monitor", "on")
    assert r.exit_code == 1
    assert "the WATCHMAN_SOCK environment variable names; start watchman there or unset " \
        "WATCHMAN_SOCK" in r.stderr
    assert "apt install" not in r.stderr
