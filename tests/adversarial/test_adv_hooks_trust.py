"""Attacks on the git hooks through what a branch, a merge or a pull brings (issue 20 §1).

Each runs the real ``git`` binary, which runs the installed hook scripts:

* a branch that holds ``mlver/__init__.py`` or ``xxhash.py`` must never be imported by a
  hook (the scripts used to run ``python -m mlver`` from the top of the work tree, and
  ``-m`` puts that folder first on ``sys.path``);
* a merged ``mlver.toml`` that makes another remote the default, or points a remote at
  another URL, must not get the data on the next push;
* a merged ``[env] python`` must never run from a hook.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli, write
from mlver.api import Repo

TOML = """\
[snapshot.ds]
kind = "dataset"
outputs = { data = "data" }

[hooks]
snapshot = ["ds"]
"""

OFF = {"MLVER_HOOKS": "0"}


def g(cwd, *args: str, ok: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, check=False)
    if ok:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def mlver_lines(p: subprocess.CompletedProcess) -> list[str]:
    return [x for x in (p.stdout + p.stderr).splitlines() if x.startswith("mlver:")]


@pytest.fixture
def hooked(tmp_path, monkeypatch):
    """A git repo (main) with ignored data/, mlver.toml, a store and all four hooks."""
    monkeypatch.delenv("MLVER_HOOKS", raising=False)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    root = tmp_path / "proj"
    root.mkdir()
    g(root, "init", "-q", "-b", "main")
    g(root, "config", "user.name", "Test User")
    g(root, "config", "user.email", "test@example.com")
    g(root, "config", "commit.gpgsign", "false")
    write(root / ".gitignore", ".mlver/\ndata/\n")
    write(root / "mlver.toml", TOML)
    write(root / "data" / "x.csv", "v1\n")
    g(root, "add", "-A")
    g(root, "commit", "-q", "-m", "first")
    monkeypatch.chdir(root)
    with Repo.init(str(root)) as r:
        r.hooks.install()
    return root


# --------------------------------------------------------------- a branch's code never runs


PLANTS = {
    "mlver": "mlver/__init__.py",
    "xxhash": "xxhash.py",
}


def _plant(root: Path, which: str, marker: Path) -> None:
    """Commit, on branch ``evil``, a module that records being imported in ``marker``."""
    g(root, "checkout", "-q", "-b", "evil", env=OFF)
    write(root / PLANTS[which],
          f"import sys\nopen({str(marker)!r}, 'a').write(repr(sys.argv) + '\\n')\n")
    g(root, "add", "-A")
    g(root, "commit", "-q", "-m", "evil", env=OFF)
    g(root, "checkout", "-q", "main", env=OFF)


@pytest.mark.parametrize("which", sorted(PLANTS))
@pytest.mark.parametrize("hook", ["post-checkout", "post-commit", "post-merge", "pre-push"])
def test_a_hook_never_imports_a_module_of_the_work_tree(hooked, tmp_path, hook, which):
    marker = tmp_path / "IMPORTED"
    g(hooked, "commit", "-q", "--allow-empty", "-m", "ds@1")  # a version to compare with
    _plant(hooked, which, marker)
    if hook == "post-checkout":
        p = g(hooked, "checkout", "-q", "evil")
    elif hook == "post-commit":
        g(hooked, "checkout", "-q", "evil", env=OFF)
        write(hooked / "data" / "x.csv", "v2\n")
        p = g(hooked, "commit", "-q", "--allow-empty", "-m", "on evil")
        assert mlver_lines(p) == [mlver_lines(p)[0]] and \
            mlver_lines(p)[0].startswith("mlver: snapshot ds@2 ")  # the real mlver ran
    elif hook == "post-merge":
        p = g(hooked, "merge", "-q", "evil")
    else:
        g(tmp_path, "init", "-q", "--bare", "origin.git")
        g(hooked, "remote", "add", "origin", str(tmp_path / "origin.git"))
        g(hooked, "checkout", "-q", "evil", env=OFF)
        p = g(hooked, "push", "-q", "origin", "evil")
        assert mlver_lines(p) == ["mlver: no default remote is configured, so no data was "
                                  "pushed (mlver remote add NAME URL --default sets one)"]
    assert (hooked / PLANTS[which]).exists()  # the branch's file is in the work tree
    assert not marker.exists(), marker.read_text()
    assert not any("Traceback" in x for x in p.stderr.splitlines()), p.stderr


# --------------------------------------------------------------- a merged default remote


def _merge_toml(root: Path, text: str) -> None:
    """What a teammate's branch does: change mlver.toml there, then it is merged here."""
    g(root, "checkout", "-q", "-b", "theirs", env=OFF)
    write(root / "mlver.toml", text)
    g(root, "commit", "-q", "-am", "their mlver.toml", env=OFF)
    g(root, "checkout", "-q", "main", env=OFF)
    g(root, "merge", "-q", "theirs", env=OFF)


def test_a_merged_default_remote_gets_nothing_until_trusted(hooked, tmp_path):
    good, evil = tmp_path / "good-store", tmp_path / "evil-store"
    r = cli("remote", "add", "shared", str(good), "--default")
    assert r.exit_code == 0, r.output
    g(hooked, "commit", "-q", "-am", "remote")  # ds@1
    g(tmp_path, "init", "-q", "--bare", "origin.git")
    g(hooked, "remote", "add", "origin", str(tmp_path / "origin.git"))
    p = g(hooked, "push", "-q", "origin", "main")
    assert len(mlver_lines(p)) == 1 and "pushed data to remote 'shared'" in p.stderr
    # their branch: one line makes their remote the default
    text = (hooked / "mlver.toml").read_text().replace("default = true\n", "")
    _merge_toml(hooked, text + f'\n[remotes.evil]\nurl = "{evil}"\ndefault = true\n')
    fix = (f"the default remote is now 'evil' ({evil}), where this store has never pushed "
           "(it trusts shared); mlver.toml may have changed in a merge, a pull or a "
           "checkout: check it, then run mlver remote trust evil to push there, or name a "
           "remote you trust: mlver push shared")
    p = g(hooked, "push", "-q", "origin", "main", ok=False)
    assert p.returncode != 0
    assert mlver_lines(p) == [f"mlver: pushing data to remote 'evil' failed: {fix}; the git "
                              "push is stopped (fix it and push again, or git push "
                              "--no-verify to push without the data)"]
    assert not evil.exists()
    r = cli("push")
    assert r.exit_code == 1 and r.output == f"Error: {fix}\n"
    assert not evil.exists()
    # naming the trusted remote still works; trusting the new one is the user's call
    assert cli("push", "shared").exit_code == 0
    r = cli("remote", "trust", "evil")
    assert r.exit_code == 0 and r.output == (f"Trusted remote evil {evil}: mlver push and the "
                                             "pre-push hook may send data there\n")
    p = g(hooked, "push", "-q", "origin", "main")
    assert len(mlver_lines(p)) == 1 and "pushed data to remote 'evil'" in p.stderr
    assert (evil / "refs").is_dir()


def test_a_remote_moved_to_another_url_is_refused_until_trusted(hooked, tmp_path):
    good, evil = tmp_path / "good-store", tmp_path / "evil-store"
    assert cli("remote", "add", "origin", str(good)).exit_code == 0
    g(hooked, "commit", "-q", "-am", "remote")  # ds@1
    assert cli("push").exit_code == 0
    _merge_toml(hooked, (hooked / "mlver.toml").read_text().replace(str(good), str(evil)))
    fix = (f"remote 'origin' is now {evil}, but this store trusts {good} under that name; "
           "mlver.toml may have changed in a merge, a pull or a checkout: check it, then run "
           "mlver remote trust origin to push there")
    for args in (("push",), ("push", "origin")):
        r = cli(*args)
        assert r.exit_code == 1 and r.output == f"Error: {fix}\n", r.output
    assert not evil.exists()
    with Repo(str(hooked)) as repo:
        assert repo.remote_trust("origin").url == str(evil)
        assert repo.push().remote  # now it goes there
    assert (evil / "refs").is_dir()


def test_the_first_push_pins_the_url_in_the_store_not_in_git(hooked, tmp_path):
    # a remote that came with the clone's mlver.toml (never added here)
    write(hooked / "mlver.toml", TOML + f'\n[remotes.origin]\nurl = "{tmp_path / "s"}"\n')
    g(hooked, "commit", "-q", "-am", "remote")
    import json

    cfg = json.loads((hooked / ".mlver" / "config.json").read_text())
    assert "remotes" not in cfg["trusted"]  # (hooks install pinned what the hooks watch)
    assert cli("push").exit_code == 0
    pins = json.loads((hooked / ".mlver" / "config.json").read_text())["trusted"]
    assert pins["remotes"] == {"origin": {"url": str(tmp_path / "s"), "endpoint_url": None}}
    assert g(hooked, "status", "--porcelain").stdout == ""


# --------------------------------------------------------------- a merged [env] python


def _spy(path: Path, marker: Path) -> Path:
    """An interpreter that records being run, then is this venv's python."""
    write(path, f'#!/bin/sh\necho ran >> "{marker}"\nexec "{sys.executable}" "$@"\n')
    os.chmod(path, 0o755)
    return path


def test_a_merged_env_python_never_runs_from_a_commit(hooked, tmp_path):
    marker = tmp_path / "RAN"
    spy = _spy(tmp_path / "bin" / "python", marker)
    _merge_toml(hooked, TOML + f'\n[env]\npython = "{spy}"\n')
    p = g(hooked, "commit", "-q", "--allow-empty", "-m", "after the merge")
    assert mlver_lines(p) == [
        f"mlver: post-commit did not snapshot ds: [env] python in mlver.toml names {spy}, "
        "which mlver hooks install has not trusted (a merge or a checkout may have changed "
        "it); check it, then run mlver hooks install to trust it; or run mlver snapshot ds "
        "yourself"]
    assert not marker.exists()
    with Repo(str(hooked)) as r:
        assert r.store.refs.get("ds") is None
    # install shows it and pins it: then the hook runs it
    r = cli("hooks", "install")
    assert r.exit_code == 0
    assert r.output.splitlines()[-5] == (  # then "trusted: ds …" and three watched lines
        f"runs: {spy} (post-commit: [env] python of mlver.toml, to list the packages of a "
        "snapshot; trusted by mlver hooks install)")
    p = g(hooked, "commit", "-q", "--allow-empty", "-m", "trusted now")
    assert len(mlver_lines(p)) == 1 and mlver_lines(p)[0].startswith("mlver: snapshot ds@1 ")
    assert marker.exists()


def test_an_env_python_that_git_tracks_never_runs_from_a_hook(hooked, tmp_path):
    marker = tmp_path / "RAN"
    _spy(hooked / "tools" / "python", marker)
    write(hooked / "mlver.toml", TOML + '\n[env]\npython = "tools/python"\n')
    g(hooked, "add", "-A")
    g(hooked, "commit", "-q", "-m", "a tracked interpreter", env=OFF)
    r = cli("hooks", "install")
    assert r.exit_code == 0
    assert r.output.splitlines()[-5] == (  # then "trusted: ds …" and three watched lines
        f"never runs: {hooked / 'tools' / 'python'} (post-commit): [env] python in mlver.toml "
        "names tools/python, a file git tracks (a branch can change what it runs), so the "
        "hooks never run it; post-commit snapshots nothing")
    p = g(hooked, "commit", "-q", "--allow-empty", "-m", "x")
    assert len(mlver_lines(p)) == 1 and "a file git tracks" in p.stderr
    assert not marker.exists()
