"""Attacks on ``mlver import-dvc`` through a DVC project someone else wrote (issue 20).

- a stage's ``wdir`` holding ``$(…)``: it must reach the recorded command quoted for the
  shell, so running the command (as ``mlver explain`` does) never runs it;
- a ``.dvc`` file nested 5,000 levels deep: a clear ``Error:``, no RecursionError;
- a ``.dir`` manifest of 100,000 one-file folders: trees built in linear time.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import mlver
from mlver.cli import main
from test_importdvc import DVC, _env, commit, dvc, git

pytestmark = pytest.mark.skipif(
    not Path(DVC).exists(), reason="the dvc CLI is not installed next to this Python")

EVIL_WDIR = "w$(touch PWNED)"


@pytest.fixture
def dvcproj(tmp_path, monkeypatch):
    """An empty DVC project in a git repository with an mlver store; cwd at its root."""
    for k, v in _env(tmp_path).items():
        if k.startswith(("DVC_", "GIT_CONFIG")):
            monkeypatch.setenv(k, v)
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test User")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "commit.gpgsign", "false")
    dvc(root, "init", "-q")
    with open(root / ".dvc" / "config", "a") as f:
        f.write("[core]\n    analytics = false\n    check_update = false\n")
    monkeypatch.chdir(root)
    mlver.Repo.init(str(root))
    return root


def test_a_wdir_with_shell_code_is_quoted_and_never_runs(dvcproj, tmp_path):
    root = dvcproj
    wdir = root / EVIL_WDIR
    wdir.mkdir()
    (wdir / "in.txt").write_text("x\n")
    (root / "dvc.yaml").write_text(
        f"stages:\n  train:\n    wdir: '{EVIL_WDIR}'\n    cmd: cp in.txt out.txt\n"
        "    deps:\n    - in.txt\n    outs:\n    - out.txt\n")
    dvc(root, "repro", "-q")
    assert not list(root.rglob("PWNED"))  # dvc itself does not run the folder name
    commit(root, "a stage in a folder with a hostile name")
    r = CliRunner().invoke(main, ["import-dvc"])
    assert r.exit_code == 0, r.output
    rec = mlver.Repo(str(root)).show("train")[1]
    assert rec.run.command == ("/bin/sh", "-c", "cd 'w$(touch PWNED)' && cp in.txt out.txt")
    # run the recorded command as a replay would, from a copy of the repository's top
    play = tmp_path / "play"
    (play / EVIL_WDIR).mkdir(parents=True)
    (play / EVIL_WDIR / "in.txt").write_text("replayed\n")
    subprocess.run(list(rec.run.command), cwd=play, check=True, timeout=30)
    assert (play / EVIL_WDIR / "out.txt").read_text() == "replayed\n"
    assert not list(play.rglob("PWNED")) and not list(root.rglob("PWNED"))


@pytest.mark.parametrize("body", [
    "outs:\n- path: x\n  meta: " + "[" * 5000 + "]" * 5000 + "\n",
    "outs:\n- path: x\n  meta:\n" + "".join(" " * (2 + i) + "- \n" for i in range(1500)),
    "outs:\n" + "- " * 5000 + "x\n",
], ids=["flow", "block", "dashes"])
def test_a_dvc_file_nested_5000_deep_is_a_clear_error(dvcproj, body):
    root = dvcproj
    (root / "deep.dvc").write_text(body)
    sha = commit(root, "a deep .dvc file")
    r = CliRunner().invoke(main, ["import-dvc"])
    assert not isinstance(r.exception, RecursionError)
    assert r.exit_code == 1
    assert r.output == (
        f"Error: the DVC file deep.dvc at commit {sha[:7]} nests deeper than 64 levels, which "
        "no DVC file needs; fix or remove it, or import a range of commits without it "
        "(--rev-range)\n")


def test_a_manifest_of_100k_one_file_folders_is_imported_in_linear_time(dvcproj):
    """Each of 100,000 folders holds one file (all the same bytes, one cache file): the
    trees are built from a children map, not by scanning every folder for each folder."""
    root = dvcproj
    n = 100_000
    files = root / ".dvc" / "cache" / "files" / "md5"
    data = b"one\n"
    md5 = hashlib.md5(data).hexdigest()
    (files / md5[:2]).mkdir(parents=True)
    (files / md5[:2] / md5[2:]).write_bytes(data)
    rows = sorted(({"md5": md5, "relpath": f"d{i}/f.txt"} for i in range(n)),
                  key=lambda r: r["relpath"])
    manifest = json.dumps(rows, sort_keys=True).encode()
    dir_md5 = hashlib.md5(manifest).hexdigest() + ".dir"
    (files / dir_md5[:2]).mkdir(exist_ok=True)
    (files / dir_md5[:2] / dir_md5[2:]).write_bytes(manifest)
    (root / "many.dvc").write_text(
        f"outs:\n- md5: {dir_md5}\n  size: {4 * n}\n  nfiles: {n}\n  hash: md5\n  path: many\n")
    commit(root, "many folders")
    # A child process with a deadline: before the fix this took hours, not a failed assert.
    code = ("import mlver, time; t = time.perf_counter(); mlver.Repo('.').import_dvc(); "
            "print(time.perf_counter() - t)")
    try:
        p = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                           text=True, timeout=60, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        pytest.fail("importing 100,000 one-file folders took more than 60 s")
    assert p.returncode == 0, p.stderr
    assert float(p.stdout.strip().splitlines()[-1]) < 10
    rec = mlver.Repo(str(root)).show("many")[1]
    art = rec.outputs["many"]
    assert (art.type, art.files, art.size, art.missing) == ("tree", n, 4 * n, None)
