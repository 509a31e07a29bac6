"""Code that someone else wrote never runs unasked (issue 20, §1).

Someone who can write to the remote pushes ``m@2`` with the victim's usual command and a
recorded patch that rewrites ``train.py``. After ``mlver pull``, ``mlver explain m@1 m@2``
must not run it; with ``--trust`` it runs, but in a scratch copy that has no link to the
victim's ``.git``: the patched code tries to plant ``.git/hooks/pre-commit`` through
``git rev-parse --git-common-dir`` (what a scratch ``git worktree`` used to give it) and
must find no repository at all.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlver import Repo
from mlver.base.errors import RecordFormatError

from _remotes import clone, git, ok, project, run

PY = sys.executable

TRAIN = """import json
nums = [float(t) for t in open("data/a.txt").read().split()]
json.dump({"m": sum(nums)}, open("metrics.json", "w"))
"""

EVIL = """import json, os, subprocess
common = subprocess.run(["git", "rev-parse", "--git-common-dir"], capture_output=True,
                        text=True).stdout.strip()
if common:  # a scratch git worktree links back to the victim's .git
    hooks = os.path.join(os.path.abspath(common), "hooks")
    os.makedirs(hooks, exist_ok=True)
    with open(os.path.join(hooks, "pre-commit"), "w") as f:
        f.write("#!/bin/sh\\necho owned\\n")
    subprocess.run(["git", "config", "core.owned", "yes"])
if os.environ.get("EVIL_MARK"):
    with open(os.environ["EVIL_MARK"], "a") as f:
        f.write("ran\\n")
nums = [float(t) for t in open("data/a.txt").read().split()]
json.dump({"m": sum(nums) * 2}, open("metrics.json", "w"))
"""

FIX = ("Error: m@2 was pulled from remote origin, so its command and patch were not recorded "
       "by this store, and explain would run them with your permissions; read them above, "
       "then run again with --trust to replay them")


def _repo_state(root: Path) -> tuple:
    """What the replayed code must never change: hooks, config and refs of ``.git``."""
    hooks = sorted(p.name for p in (root / ".git" / "hooks").iterdir()
                   if not p.name.endswith(".sample"))
    return (hooks, (root / ".git" / "config").read_bytes(), git(root, "for-each-ref"),
            git(root, "worktree", "list", "--porcelain"))


@pytest.fixture
def attacked(tmp_path):
    """The victim's m@1 (local) and the attacker's m@2 (pulled: a patch rewrites train.py)."""
    return _attack(tmp_path)


def _attack(tmp_path, own_first: bool = False) -> Path:
    remote = tmp_path / "remote"
    victim = project(tmp_path / "victim", {"train.py": TRAIN, "data/a.txt": "1 2\n",
                                           ".gitignore": ".mlver/\nmetrics.json\n"})
    ok(victim, "init")
    ok(victim, "remote", "add", "origin", str(remote), "--default")
    git(victim, "add", "-A")
    git(victim, "commit", "-q", "-m", "remote")
    ok(victim, "run", "m", "-i", "a=data/a.txt", "-M", "metrics.json", "--", PY, "train.py")
    ok(victim, "push")
    attacker = clone(victim, tmp_path / "attacker")
    ok(attacker, "pull")
    (attacker / "train.py").write_text(EVIL)               # uncommitted: a recorded patch
    (attacker / "data" / "a.txt").write_text("1 2 3\n")
    ok(attacker, "run", "m", "-i", "a=data/a.txt", "-M", "metrics.json", "--", PY, "train.py")
    ok(attacker, "push")
    if own_first:  # the victim's own m@2, not pushed yet: pull replays it after the attacker's
        (victim / "data" / "a.txt").write_text("5\n")
        ok(victim, "run", "m", "-i", "a=data/a.txt", "-M", "metrics.json", "--", PY, "train.py")
    ok(victim, "pull")
    return victim


def test_a_pulled_patch_never_runs_unasked(attacked, tmp_path, monkeypatch):
    victim = attacked
    mark = tmp_path / "evil-ran"
    monkeypatch.setenv("EVIL_MARK", str(mark))
    before = _repo_state(victim)
    res = run(victim, "explain", "m@1", "m@2")
    assert res.exit_code == 1
    err = res.stderr.splitlines()
    assert err[-1] == FIX
    # the command and the whole patch are shown before the refusal
    assert err[0] == "m@2 was pulled from remote origin; a replay runs what it recorded:"
    assert err[1] == f"  command: {PY} train.py"
    assert "  | +if common:  # a scratch git worktree links back to the victim's .git" in err
    assert not mark.exists()                       # nothing ran
    assert _repo_state(victim) == before
    # the same for diff --attribute, and for the Python API
    res = run(victim, "diff", "m@1", "m@2", "--attribute")
    assert res.exit_code == 1 and res.stderr.splitlines()[-1] == FIX
    from mlver.base.errors import ReplayError

    with pytest.raises(ReplayError, match="m@2 was pulled from remote origin"):
        Repo(str(victim)).explain("m@1", "m@2")
    assert not mark.exists()
    # the origin is store-local state that reindex keeps
    ok(victim, "reindex")
    assert run(victim, "explain", "m@1", "m@2").stderr.splitlines()[-1] == FIX
    assert not mark.exists()


def test_trusted_replay_cannot_reach_the_repository(attacked, tmp_path, monkeypatch):
    victim = attacked
    mark = tmp_path / "evil-ran"
    monkeypatch.setenv("EVIL_MARK", str(mark))
    monkeypatch.setenv("GIT_DIR", str(victim / ".git"))  # not even through the environment
    before = _repo_state(victim)
    res = run(victim, "explain", "m@1", "m@2", "--trust", "--json")
    assert res.exit_code == 0, res.stderr
    assert "  --trust given: replaying them" in res.stderr.splitlines()
    assert mark.read_text().count("ran") >= 1      # the patched code did run, as asked
    assert not (victim / ".git" / "hooks" / "pre-commit").exists()
    assert _repo_state(victim) == before
    import json

    j = json.loads(res.stdout)
    assert (j["old"]["origin"], j["new"]["origin"]) == ("local", "pulled")


def test_origins_file_is_validated_and_first_mark_wins(tmp_path):
    from mlver.store.origins import Origin, mark_origin, origins

    root = project(tmp_path / "p")
    repo = Repo.init(str(root))
    a, b = "a" * 32, "b" * 32
    mark_origin(repo.store, [a], "pulled", "origin")
    mark_origin(repo.store, [a, b], "imported", "dvc")
    assert origins(repo.store) == {a: Origin("pulled", "origin"), b: Origin("imported", "dvc")}
    with pytest.raises(ValueError):
        mark_origin(repo.store, [a], "local")
    path = root / ".mlver" / "refs" / "origins"
    path.write_text(f"{a} trusted -\n")
    with pytest.raises(RecordFormatError, match="restore it from a backup"):
        origins(repo.store)


def test_own_versions_that_pull_replays_stay_local(tmp_path):
    """The victim's own m@2, made before the pull brought the attacker's, is replayed on top
    of it as m@3: the victim's content, so explain runs it without asking."""
    victim = _attack(tmp_path, own_first=True)
    import json

    log = ok(victim, "log", "m")
    assert "m@3" in log
    assert run(victim, "explain", "m@1", "m@2").stderr.splitlines()[-1] == FIX
    j = json.loads(ok(victim, "explain", "m@1", "m@3", "--json"))
    assert (j["old"]["origin"], j["new"]["origin"]) == ("local", "local")
    assert j["metrics"]["m"]["replayed_change"] == pytest.approx(2.0)
