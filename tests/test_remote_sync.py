"""Push and pull through a folder remote (mlver/sync/pushpull.py), driven through the CLI and the
Python API: round trips, divergence and replay, tags, --no-data and data on demand, an
interrupted push, and a fresh clone that reaches pull, diff and checkout."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mlver.api import Repo
from mlver.base.errors import RemoteError
from mlver.sync.pushpull import PushRefused

from _remotes import clone, files_of, git, ok, project, run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def two(tmp_path):
    """Clone A (with a store, a remote folder and a first version pushed) and clone B."""
    a = project(tmp_path / "a")
    remote = tmp_path / "remote"
    ok(a, "init")
    ok(a, "remote", "add", "origin", str(remote), "--default")
    git(a, "add", "mlver.toml")
    git(a, "commit", "-q", "-m", "remote")
    ok(a, "snapshot", "ds", "-o", "d=data", "--kind", "dataset")
    ok(a, "push")
    b = clone(a, tmp_path / "b")
    return a, b, remote


def test_fresh_clone_pulls_without_init_and_gets_identical_files(two):
    a, b, remote = two
    assert not (b / ".mlver").exists()
    out = ok(b, "pull")
    assert "ds: new" in out
    assert (b / ".mlver" / "config.json").exists()
    (b / "data" / "a.csv").write_text("changed\n")
    ok(b, "checkout", "ds", "--force")
    assert files_of(b) == files_of(a) | {"mlver.toml": (a / "mlver.toml").read_bytes()}
    assert "no problems" in ok(b, "verify")
    assert "no problems" in ok(b, "verify", "--remote", "origin")
    assert ok(b, "log", "ds").count("ds@") == 1


def test_status_of_git_is_clean_after_init_and_pull(two):
    a, b, _remote = two
    ok(b, "pull")
    assert ".mlver" not in git(a, "status", "--porcelain", "--ignored=no")
    assert git(b, "status", "--porcelain") == ""


def test_concurrent_pushes_one_refused_then_pull_replays_and_nothing_is_lost(two):
    a, b, remote = two
    ok(b, "pull")
    (a / "data" / "a.csv").write_text("id,x\n1,20\n")
    ok(a, "snapshot", "ds", "-o", "d=data", "-m", "from a")
    (b / "data" / "b.csv").write_text("id,y\n3,40\n")
    ok(b, "snapshot", "ds", "-o", "d=data", "-m", "from b")
    ok(a, "push")
    r = run(b, "push")
    assert r.exit_code == 1
    assert "ds: refused" in r.stdout
    assert "has versions of ds that this store does not have" in r.stderr
    assert "mlver pull origin" in r.stderr
    b_old = json.loads(ok(b, "show", "ds", "--json"))["oid"]
    out = ok(b, "pull")
    assert "ds: replayed" in out
    new = json.loads(ok(b, "show", "ds", "--json"))
    assert f"replayed ds@2 {b_old} -> ds@3 {new['oid']}" in out
    assert new["message"] == "from b" and new["version"] == 3
    ok(b, "push")
    ok(a, "pull")
    log = json.loads(ok(a, "log", "ds", "--json"))
    assert [(x["version"], x["message"]) for x in log] == [(3, "from b"), (2, "from a"), (1, "")]
    assert "no problems" in ok(a, "verify", "--remote", "origin")


def test_two_processes_push_the_same_name_at_once(two, tmp_path):
    """Real concurrency: two pushes of diverged histories race; exactly one wins."""
    a, b, remote = two
    ok(b, "pull")
    for repo, text in ((a, "A"), (b, "B")):
        (repo / "data" / "a.csv").write_text(text)
        ok(repo, "snapshot", "ds", "-o", "d=data")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-m", "mlver", "push"], cwd=repo, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for repo in (a, b)]
    codes = [p.wait(60) for p in procs]
    assert sorted(codes) == [0, 1], [p.stderr.read() for p in procs]
    loser = (a, b)[codes.index(1)]
    ok(loser, "pull")
    ok(loser, "push")
    winner = (a, b)[codes.index(0)]
    ok(winner, "pull")
    assert [x["version"] for x in json.loads(ok(winner, "log", "ds", "--json"))] == [3, 2, 1]


def test_tags_follow_replayed_records_and_travel(two):
    a, b, _remote = two
    ok(b, "pull")
    (a / "data" / "a.csv").write_text("a2")
    ok(a, "snapshot", "ds", "-o", "d=data")
    ok(a, "push")
    (b / "data" / "a.csv").write_text("b2")
    ok(b, "snapshot", "ds", "-o", "d=data")
    ok(b, "tag", "ds", "mine")
    ok(b, "pull")
    assert json.loads(ok(b, "show", "ds@mine", "--json"))["version"] == 3
    ok(b, "push")
    ok(a, "pull")
    assert json.loads(ok(a, "show", "ds@mine", "--json"))["version"] == 3


def test_no_data_then_diff_and_checkout_fetch_on_demand(two):
    a, b, remote = two
    (a / "data" / "a.csv").write_text("id,x\n1,2\n5,6\n")
    ok(a, "snapshot", "ds", "-o", "d=data")
    ok(a, "push")
    out = ok(b, "pull", "--no-data")
    assert "ds: new" in out
    repo = Repo(str(b))
    rec = repo.record(repo.resolve("ds@2"))
    tree = repo.tree(rec.outputs["d"].oid)
    blob = next(e.oid for e in tree.entries if e.name == "a.csv")
    assert not repo.store.objects.has(blob)  # history without the bytes
    assert "no problems" in ok(b, "verify")  # data on the remote is not "missing"
    out = ok(b, "diff", "ds@1", "ds@2")
    assert "a.csv" in out
    assert Repo(str(b)).store.objects.has(blob)  # fetched on demand
    ok(b, "checkout", "ds", "--force")
    assert (b / "data" / "a.csv").read_text() == "id,x\n1,2\n5,6\n"


def test_no_data_with_an_unreachable_remote_is_a_clear_error(two, tmp_path):
    a, b, remote = two
    ok(b, "pull", "--no-data")
    os.rename(remote, tmp_path / "gone")
    (b / "data" / "a.csv").write_text("other")
    r = run(b, "checkout", "ds", "--force")
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: ")
    assert "is not in this store" in r.stderr and "remote 'origin'" in r.stderr


def test_interrupted_push_completes_on_the_next_run(two, tmp_path):
    a, _b, remote = two
    big = a / "big"
    big.mkdir()
    for i in range(40):
        (big / f"f{i}.bin").write_bytes(os.urandom(200_000))  # loose objects: many uploads
    ok(a, "snapshot", "bigds", "-o", "d=big", "--kind", "dataset")
    killer = tmp_path / "kill.py"
    killer.write_text(
        "import os, signal, sys\n"
        "from mlver.store import remote\n"
        "n = [0]\n"
        "orig = remote.LocalBackend.put_file\n"
        "def put_file(self, rel, local):\n"
        "    n[0] += 1\n"
        "    if n[0] == 12: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return orig(self, rel, local)\n"
        "remote.LocalBackend.put_file = put_file\n"
        "from mlver.cli import main\n"
        "sys.argv = ['mlver', 'push']\n"
        "main()\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, str(killer)], cwd=a, env=env, capture_output=True)
    assert p.returncode == -signal.SIGKILL
    assert not (remote / "refs" / "names" / "bigds").exists()  # the ref moves last
    out = ok(a, "push")
    assert "bigds: new" in out
    assert "already there" in out and "; 0 already" not in out
    assert "no problems" in ok(a, "verify", "--remote", "origin")
    c = clone(a, tmp_path / "c")
    ok(c, "pull")
    ok(c, "checkout", "bigds")
    assert (c / "big" / "f7.bin").read_bytes() == (big / "f7.bin").read_bytes()


def test_python_api_push_and_pull(two, tmp_path):
    a, b, remote = two
    rb = Repo.for_pull(str(b))
    result = rb.pull()
    assert [u.status for u in result.names] == ["new"]
    (b / "data" / "b.csv").write_text("x")
    rb.snapshot("ds", outputs={"d": "data"})
    assert [u.status for u in rb.push().names] == ["fast-forward"]
    ra = Repo(str(a))
    (a / "data" / "a.csv").write_text("y")
    ra.snapshot("ds", outputs={"d": "data"})
    with pytest.raises(PushRefused) as e:
        ra.push()
    assert e.value.result.refused == ["ds"]
    pulled = ra.pull()
    assert [(x.old_label, x.new_label) for x in pulled.replayed] == [("ds@2", "ds@3")]
    assert pulled.to_dict()["replayed"][0]["new"] == ra.resolve("ds")


def test_push_names_only_the_given_name(two):
    a, b, remote = two
    ok(a, "snapshot", "other", "-o", "t=train.py")
    ok(a, "push", "origin", "other")
    assert (remote / "refs" / "names" / "other").exists()
    (a / "train.py").write_text("print(2)\n")
    ok(a, "snapshot", "other", "-o", "t=train.py")
    ok(a, "push", "ds")  # NAME without REMOTE: the default remote
    assert json.loads(ok(b, "pull", "--json"))["names"][1]["name"] == "other"


def test_pull_of_an_unknown_name_names_what_the_remote_has(two):
    _a, b, _remote = two
    r = run(b, "pull", "origin", "nope")
    assert r.exit_code == 1
    assert "has no versions of 'nope' (its names: ds)" in r.stderr


def test_pull_from_an_empty_remote_says_push_creates_it(tmp_path):
    a = project(tmp_path / "a")
    ok(a, "init")
    ok(a, "remote", "add", "origin", str(tmp_path / "empty"))
    r = run(a, "pull")
    assert r.exit_code == 1
    assert "holds no mlver store yet" in r.stderr


def test_a_corrupt_object_on_the_remote_is_refused_and_nothing_is_stored(two, tmp_path):
    a, b, remote = two
    packs = sorted((remote / "objects" / "pack").glob("*.pack"))
    for p in packs:  # flip one byte in the middle of every pack (inside object bytes)
        data = bytearray(p.read_bytes())
        os.chmod(p, 0o644)
        data[40] ^= 0xFF
        p.write_bytes(bytes(data))
    r = run(b, "pull")
    assert r.exit_code == 1
    assert "is corrupt" in r.stderr and "remote 'origin'" in r.stderr
    assert not (b / ".mlver" / "refs" / "names" / "ds").exists()


def test_push_and_pull_say_how_many_chunks_of_big_files_they_moved(two, monkeypatch):
    """A second version of a big file sends only its new chunks: the report shows them (it
    said "Sent 2 objects (130 KB)" with no word of the chunks that were or were not sent)."""
    import random

    from mlver.store import chunker
    monkeypatch.setattr(chunker, "CHUNK_THRESHOLD", 200_000)
    a, b, _remote = two
    data = bytearray(random.Random(3).randbytes(800_000))
    (a / "data" / "big.bin").write_bytes(data)
    ok(a, "snapshot", "ds", "-o", "d=data")
    first = json.loads(ok(a, "push", "--json"))
    assert first["chunks"] >= 5
    ok(b, "pull")
    data[400_000:400_010] = b"x" * 10
    (a / "data" / "big.bin").write_bytes(data)
    ok(a, "snapshot", "ds", "-o", "d=data")
    out = ok(a, "push")
    second = json.loads(ok(b, "pull", "--json"))
    assert 1 <= second["chunks"] < first["chunks"]
    assert re.search(r"; [1-9][0-9]* new chunks? of big files\)", out), out
