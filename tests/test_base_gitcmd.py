"""mlver.base.gitcmd: git runs where it is asked, whatever GIT_DIR the caller inherited."""

import os
import subprocess

from mlver.base.gitcmd import GIT_LOCATION_VARS, git_env, run_git, show_toplevel


def _init(path):
    subprocess.run(["git", "init", "-q", str(path)], check=True)


def test_env_drops_location_vars(monkeypatch):
    for v in GIT_LOCATION_VARS:
        monkeypatch.setenv(v, "/elsewhere")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "kept")
    env = git_env({"GIT_INDEX_FILE": "/scratch/index"})
    assert not {"GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR"} & set(env)
    assert env["GIT_INDEX_FILE"] == "/scratch/index" and env["GIT_AUTHOR_NAME"] == "kept"


def test_cwd_wins_over_inherited_git_dir(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    _init(a)
    _init(b)
    monkeypatch.setenv("GIT_DIR", str(b / ".git"))
    top = show_toplevel(str(a))
    assert top is not None and os.path.realpath(top) == os.path.realpath(a)


def test_outside_git(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert show_toplevel(str(tmp_path)) is None


def test_run_git_returns_bytes(tmp_path):
    _init(tmp_path)
    proc = run_git(str(tmp_path), "rev-parse", "--is-inside-work-tree")
    assert proc.returncode == 0 and proc.stdout.strip() == b"true"
