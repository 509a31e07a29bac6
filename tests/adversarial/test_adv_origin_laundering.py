"""A record someone else wrote never passes for local (issue 20, §1, second review).

* **Replay launders an origin.** When the remote's head of a name does not contain the local
  head, pull rewrites every local-only record of that name with a new version number (a new
  oid). Those records may have been pulled or imported; the rewritten ones used to get no
  mark, so ``explain`` ran them without ``--trust``. (A) an attacker who controls the remote
  replaces its history of ``m`` after the victim pulled the attacker's ``m@2``; (B) a
  teammate pushes its own ``train`` after the user imported a DVC project.
* **Bytes already here.** Pull marked only the records whose bytes it fetched; a record
  whose bytes were already in the store (pushed earlier as a data file, or fetched on
  demand) was adopted unmarked.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

import mlver
from mlver.store.origins import Origin, origins

from _remotes import clone, git, ok, project, run
from .test_adv_replay_trust import EVIL, FIX, TRAIN

PY = sys.executable
PULLED = Origin("pulled", "origin")


def _oid(root: Path, label: str) -> str:
    return json.loads(ok(root, "show", label, "--json"))["oid"]


def _origin(root: Path, label: str) -> Origin:
    return origins(mlver.Repo(str(root)).store).get(_oid(root, label), Origin("local"))


def _victim(tmp_path: Path) -> tuple[Path, Path]:
    remote = tmp_path / "remote"
    victim = project(tmp_path / "victim", {"train.py": TRAIN, "data/a.txt": "1 2\n",
                                           ".gitignore": ".mlver/\nmetrics.json\n"})
    ok(victim, "init")
    ok(victim, "remote", "add", "origin", str(remote), "--default")
    git(victim, "add", "-A")
    git(victim, "commit", "-q", "-m", "remote")
    ok(victim, "run", "m", "-i", "a=data/a.txt", "-M", "metrics.json", "--", PY, "train.py")
    ok(victim, "push")
    return victim, remote


def _evil_version(attacker: Path) -> str:
    """The attacker's m@2: the victim's command, an uncommitted patch to train.py."""
    ok(attacker, "pull")
    (attacker / "train.py").write_text(EVIL)
    (attacker / "data" / "a.txt").write_text("1 2 3\n")
    ok(attacker, "run", "m", "-i", "a=data/a.txt", "-M", "metrics.json", "--", PY, "train.py")
    git(attacker, "checkout", "-q", "--", "train.py")
    return (attacker / ".mlver" / "refs" / "names" / "m").read_text().strip()


def test_a_replay_keeps_the_origin_of_a_pulled_record(tmp_path, monkeypatch):
    """(A) The remote's history of m is replaced by an unrelated one: pull replays the
    victim's m@1 (local) and the attacker's m@2 (pulled) on top of it as m@2 and m@3."""
    victim, remote = _victim(tmp_path)
    own = _oid(victim, "m@1")
    attacker = clone(victim, tmp_path / "attacker")
    evil = _evil_version(attacker)
    ok(attacker, "push")
    ok(victim, "pull")
    assert _origin(victim, "m@2") == PULLED
    # a fresh store pushes an unrelated m@1 elsewhere; its history is grafted onto the remote
    other = clone(victim, tmp_path / "other")
    ok(other, "init")
    (other / "data" / "a.txt").write_text("9\n")
    ok(other, "run", "m", "-i", "a=data/a.txt", "-M", "metrics.json", "--", PY, "train.py")
    ok(other, "remote", "add", "r2", str(tmp_path / "r2"), "--local")
    ok(other, "push", "r2")
    shutil.copytree(tmp_path / "r2" / "objects", remote / "objects", dirs_exist_ok=True)
    shutil.copy(tmp_path / "r2" / "refs" / "names" / "m", remote / "refs" / "names" / "m")
    res = json.loads(ok(victim, "pull", "--json"))
    assert [(u["name"], u["status"]) for u in res["names"]] == [("m", "replayed")]
    rewritten = {r["old"]: r["new"] for r in res["replayed"]}
    assert set(rewritten) == {own, evil}
    assert (_oid(victim, "m@2"), _oid(victim, "m@3")) == (rewritten[own], rewritten[evil])
    assert _origin(victim, "m@1") == PULLED       # the unrelated m@1 of the remote
    assert _origin(victim, "m@2") == Origin("local")  # the victim's own m@1, replayed
    assert _origin(victim, "m@3") == PULLED       # the attacker's m@2, replayed
    mark = tmp_path / "evil-ran"
    monkeypatch.setenv("EVIL_MARK", str(mark))
    out = run(victim, "explain", "m@2", "m@3")
    assert out.exit_code == 1
    assert out.stderr.splitlines()[-1] == FIX.replace("m@2", "m@3")
    assert not mark.exists()
    ok(victim, "reindex")  # store-local state: kept
    assert _origin(victim, "m@3") == PULLED


def test_a_record_whose_bytes_were_already_here_is_marked(tmp_path, monkeypatch):
    """The attacker first pushes the bytes of its m@2 as a data file of another name; the
    victim pulls them as a blob; then the attacker pushes m@2 itself. The second pull
    fetches nothing for it, and must still mark it."""
    victim, remote = _victim(tmp_path)
    attacker = clone(victim, tmp_path / "attacker")
    evil = _evil_version(attacker)
    raw = mlver.Repo(str(attacker)).store.objects.read(evil)
    (attacker / "blobs").mkdir()
    (attacker / "blobs" / "x.json").write_bytes(raw)
    ok(attacker, "snapshot", "d", "-i", "x=blobs/x.json")
    ok(attacker, "push", "origin", "d")
    assert not (remote / "refs" / "names" / "m").read_text().strip() == evil
    ok(victim, "pull")
    assert mlver.Repo(str(victim)).store.objects.has(evil)  # the record's bytes, as a blob
    ok(attacker, "push")
    ok(victim, "pull")
    assert _oid(victim, "m@2") == evil
    assert _origin(victim, "m@2") == PULLED
    assert _origin(victim, "m@1") == Origin("local")  # made here, pushed, still local
    mark = tmp_path / "evil-ran"
    monkeypatch.setenv("EVIL_MARK", str(mark))
    out = run(victim, "explain", "m@1", "m@2")
    assert out.exit_code == 1 and out.stderr.splitlines()[-1] == FIX
    assert not mark.exists()


def test_a_record_fetched_on_demand_before_its_pull_is_marked(tmp_path):
    """The same with the record's bytes put straight into the store (as an on-demand fetch
    of a blob with these bytes would): only the refs decide what this store adopted."""
    victim, remote = _victim(tmp_path)
    attacker = clone(victim, tmp_path / "attacker")
    evil = _evil_version(attacker)
    ok(attacker, "push")
    raw = mlver.Repo(str(attacker)).store.objects.read(evil)
    with mlver.Repo(str(victim)).store.objects.batch() as b:
        b.add_bytes(raw, expect=evil)
        b.commit()
    ok(victim, "pull")
    assert _origin(victim, "m@2") == PULLED
    assert _origin(victim, "m@1") == Origin("local")


# --------------------------------------------------------------------------- (B) import-dvc

from test_importdvc import DVC, built, proj  # noqa: E402,F401  (fixtures: a DVC project)


@pytest.mark.skipif(not Path(DVC).exists(), reason="the dvc CLI is not installed")
def test_a_replay_keeps_the_origin_of_an_imported_record(proj, tmp_path, monkeypatch):
    """The user imports a DVC project (twice: the second changes nothing); a teammate
    pushes its own ``train``; the user's pull replays the imported train@1..3 on top of it
    as train@2..4, which must stay imported: explain never runs the DVC cmd unasked."""
    root, _shas = proj
    ok(root, "import-dvc")
    ok(root, "import-dvc")
    imported = {_oid(root, f"train@{v}") for v in (1, 2, 3)}
    remote = tmp_path / "remote"
    mate = clone(root, tmp_path / "mate")
    ok(mate, "init")
    ok(mate, "remote", "add", "origin", str(remote), "--local")
    ok(mate, "snapshot", "train", "-i", "code=train.py")
    ok(mate, "push")
    ok(root, "remote", "add", "origin", str(remote), "--local")
    res = json.loads(ok(root, "pull", "--json"))
    assert [(u["name"], u["status"]) for u in res["names"]] == [("train", "replayed")]
    assert {r["old"] for r in res["replayed"]} == imported
    marks = origins(mlver.Repo(str(root)).store)
    assert _origin(root, "train@1") == PULLED
    assert [marks.get(_oid(root, f"train@{v}")) for v in (2, 3, 4)] == \
        [Origin("imported", "dvc")] * 3
    out = run(root, "explain", "train@2", "train@3")
    assert out.exit_code == 1
    assert out.stderr.splitlines()[-1] == (
        "Error: train@2 and train@3 were imported by mlver import-dvc, so their commands and "
        "patches were not recorded by this store, and explain would run them with your "
        "permissions; read them above, then run again with --trust to replay them")


def _pulled_evil(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The victim has pulled the attacker's m@2 (marked pulled)."""
    victim, remote = _victim(tmp_path)
    attacker = clone(victim, tmp_path / "attacker")
    _evil_version(attacker)
    ok(attacker, "push")
    ok(victim, "pull")
    assert _origin(victim, "m@2") == PULLED
    return victim, remote, attacker


def test_a_commit_that_empties_the_origins_list_launders_nothing(tmp_path, monkeypatch):
    """Second review: git treats ignored files as disposable, so a commit that force-adds an
    empty ``.mlver/refs/origins`` overwrites the victim's list on ``git pull``, and leaving
    a branch that tracks it deletes it. While git tracks it, replays (and push, pull) are
    refused; once git deleted it, the copy in the git folder still holds the marks."""
    victim, _remote, _attacker = _pulled_evil(tmp_path)
    mark = tmp_path / "evil-ran"
    monkeypatch.setenv("EVIL_MARK", str(mark))
    git(victim, "checkout", "-q", "-b", "review")
    (victim / ".mlver" / "refs" / "origins").write_text("")
    git(victim, "add", "-f", ".mlver/refs/origins")
    git(victim, "commit", "-q", "-m", "chore")
    for args in (("explain", "m@1", "m@2"), ("push",), ("pull",)):
        out = run(victim, *args)
        assert out.exit_code == 1, (args, out.stderr)
        assert out.stderr.splitlines()[-1].startswith(
            "Error: git tracks 1 file under .mlver/ (.mlver/refs/origins), so a commit can "
            "rewrite this store's trust state"), out.stderr
    assert not mark.exists()
    git(victim, "checkout", "-q", "main")  # git deletes the file it tracked on review
    assert not (victim / ".mlver" / "refs" / "origins").exists()
    assert _origin(victim, "m@2") == PULLED  # the copy in .git/mlver
    out = run(victim, "explain", "m@1", "m@2")
    assert out.exit_code == 1 and out.stderr.splitlines()[-1] == FIX
    assert not mark.exists()


def test_a_committed_store_config_never_sends_data_to_its_remote(tmp_path):
    """A commit that force-adds ``.mlver/config.json`` with a local default remote (always
    trusted) and its own pins: push and pull refuse while git tracks it."""
    victim, _remote, _attacker = _pulled_evil(tmp_path)
    evil = tmp_path / "evil"
    cfg = json.loads((victim / ".mlver" / "config.json").read_text())
    cfg["remotes"] = {"evil": {"url": str(evil), "default": True}}
    (victim / ".mlver" / "config.json").write_text(json.dumps(cfg))
    git(victim, "add", "-f", ".mlver/config.json")
    git(victim, "commit", "-q", "-m", "chore")
    out = run(victim, "push")
    assert out.exit_code == 1 and "git tracks 1 file under .mlver/ (.mlver/config.json)" \
        in out.stderr.splitlines()[-1]
    assert not evil.exists()
