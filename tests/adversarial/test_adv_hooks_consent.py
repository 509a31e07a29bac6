"""Attacks on what the git hooks run, read and send, through files a branch or a merge
brings (issue 20 §1, second review):

* an interpreter whose virtualenv is inside the work tree runs a ``.pth`` file a branch
  force-adds there;
* a folder of the work tree written into the scripts' ``sys.path`` lets a branch's
  ``src/mlver/`` replace mlver;
* a merged ``[hooks] snapshot`` naming a ``[snapshot.NAME]`` that reads an ignored ``.env``
  snapshots it on the next commit and sends it on the next push;
* a merged ``[hooks]`` naming a missing table blocks every ``git push``;
* a clone that only pulled sends its data wherever a merged ``[remotes.origin] url`` says.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli, write
from mlver.api import Repo
from mlver.integrations.hooktrust import UntrustedInterpreterError

from .test_adv_hooks_trust import OFF, TOML, _merge_toml, g, hooked, mlver_lines  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
SITE = [p for p in site.getsitepackages() if p.startswith(sys.prefix)]


def _mark_import(path: Path, marker: Path) -> None:
    write(path, f"import sys\nopen({str(marker)!r}, 'a').write(repr(sys.argv) + '\\n')\n")


# --------------------------------------------------------------- the interpreter


def _inner_venv(root: Path) -> Path:
    """A virtualenv at ``root/.venv`` (git ignores it) that imports this checkout's mlver."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")],
                   check=True, capture_output=True)
    py = root / ".venv" / "bin" / "python"
    site_dir = subprocess.run([str(py), "-c", "import site; print(site.getsitepackages()[0])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    write(Path(site_dir) / "outer.pth", "\n".join([str(ROOT), *SITE]) + "\n")
    return py


def test_an_interpreter_in_a_virtualenv_inside_the_work_tree_is_refused(hooked, tmp_path):
    write(hooked / ".gitignore", ".mlver/\ndata/\n.venv/\n")
    g(hooked, "commit", "-q", "-am", "ignore .venv", env=OFF)
    py = _inner_venv(hooked)
    before = (hooked / ".git" / "hooks" / "post-checkout").read_text()
    with Repo(str(hooked)) as r:
        with pytest.raises(UntrustedInterpreterError) as e:
            r.hooks.install(python=str(py))
    env = hooked / ".venv"
    assert str(e.value) == (
        f"the hooks would run {py}, but {py} is inside the work tree {hooked}: a branch can add files there (a .pth file, a module) that every "
        "commit, checkout, merge and push would run; create the virtualenv outside the "
        "repository and run mlver hooks install from it, or pass --force-interpreter")
    # nothing was installed: the scripts still run the interpreter outside the work tree
    assert (hooked / ".git" / "hooks" / "post-checkout").read_text() == before
    # a branch force-adding a .pth there: the hooks never run it
    marker = tmp_path / "RAN"
    g(hooked, "checkout", "-q", "-b", "evil", env=OFF)
    site_dir = next((env / "lib").glob("python3*/site-packages"))
    write(site_dir / "aaa_evil.pth", f"import os; open({str(marker)!r}, 'a').write('x')\n")
    g(hooked, "add", "-f", str(site_dir / "aaa_evil.pth"))
    g(hooked, "commit", "-q", "-m", "evil", env=OFF)
    g(hooked, "checkout", "-q", "main", env=OFF)
    p = g(hooked, "checkout", "-q", "evil")
    assert not marker.exists() and "Traceback" not in p.stderr
    # forced: installed, and status says what it risks
    with Repo(str(hooked)) as r:
        r.hooks.install(python=str(py), force_interpreter=True)
    r = cli("hooks", "status")
    assert r.stdout.splitlines()[4] == (
        f"runs: {py} -I (post-commit, post-checkout, post-merge, pre-push), UNSAFE: {py} is "
        "inside the work tree, where a branch can add files that every hook would run; create the virtualenv outside the repository, then run mlver hooks "
        "install again")


def test_the_cli_refusal_is_one_error_line(hooked, monkeypatch):
    # the CLI installs with its own interpreter; one inside the work tree is refused
    monkeypatch.setattr(sys, "executable", str(hooked / "bin" / "python"))
    write(hooked / "bin" / "python", f'#!/bin/sh\nexec "{sys.base_prefix}/bin/python3" "$@"\n')
    os.chmod(hooked / "bin" / "python", 0o755)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *SITE]))
    r = cli("hooks", "install")
    py = hooked / "bin" / "python"
    assert r.exit_code == 1 and r.output == (
        f"Error: the hooks would run {py}, but {py} is inside the work tree {hooked}: a "
        "branch can add files there (a .pth file, a module) that every commit, checkout, "
        "merge and push would run; create the virtualenv outside the repository and run "
        "mlver hooks install from it, or pass --force-interpreter\n")
    r = cli("hooks", "install", "--force-interpreter")
    assert r.exit_code == 0, r.output


def test_a_work_tree_folder_is_never_on_the_scripts_path(hooked, tmp_path, monkeypatch):
    # mlver found through PYTHONPATH, which also names the project's src/ (common practice)
    base = os.path.join(sys.base_prefix, "bin", "python3")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hooked / "src"), str(ROOT), *SITE]))
    with Repo(str(hooked)) as r:
        r.hooks.install(python=base)
    text = (hooked / ".git" / "hooks" / "post-checkout").read_text()
    assert f'sys.path[:0] = {json.dumps([str(ROOT), *SITE])}' in text
    monkeypatch.delenv("PYTHONPATH")
    marker = tmp_path / "IMPORTED"
    g(hooked, "commit", "-q", "--allow-empty", "-m", "ds@1")
    g(hooked, "checkout", "-q", "-b", "evil", env=OFF)
    _mark_import(hooked / "src" / "mlver" / "__init__.py", marker)
    g(hooked, "add", "-A")
    g(hooked, "commit", "-q", "-m", "evil", env=OFF)
    g(hooked, "checkout", "-q", "main", env=OFF)
    p = g(hooked, "checkout", "-q", "evil")
    assert not marker.exists(), marker.read_text()
    assert "Traceback" not in p.stderr


def test_an_mlver_only_in_the_work_tree_is_refused(hooked, monkeypatch):
    base = os.path.join(sys.base_prefix, "bin", "python3")
    write(hooked / "vendor" / "mlver" / "hooks.py", "")
    write(hooked / "vendor" / "mlver" / "__init__.py", "")
    monkeypatch.setenv("PYTHONPATH", str(hooked / "vendor"))
    with Repo(str(hooked)) as r:
        with pytest.raises(UntrustedInterpreterError) as e:
            r.hooks.install(python=base, force_interpreter=True)
    assert str(e.value) == (
        f"{base} cannot import mlver in isolated mode without the folders inside the work "
        f"tree {hooked}; install mlver outside the work tree (pip install mlver in a "
        "virtualenv outside the repository), then run mlver hooks install again")


# --------------------------------------------------------------- what the hooks watch

SECRET_TOML = TOML.replace('snapshot = ["ds"]', 'snapshot = ["ds", "cfg"]') + """
[snapshot.cfg]
kind = "dataset"
outputs = { e = ".env" }
"""

LEFT_OUT = ("left out cfg: [snapshot.cfg] of [hooks] snapshot in mlver.toml is new or changed "
            "since mlver hooks install (a merge or a checkout may have changed it); check "
            "mlver.toml, then run mlver hooks trust")


def _pinned_remote(root: Path, tmp_path: Path) -> Path:
    good = tmp_path / "good-store"
    write(root / ".gitignore", ".mlver/\ndata/\n.env\n")
    write(root / ".env", "API_KEY=s3cr3t\n")
    assert cli("remote", "add", "shared", str(good), "--default").exit_code == 0
    g(root, "commit", "-q", "-am", "remote")  # ds@1
    g(tmp_path, "init", "-q", "--bare", "origin.git")
    g(root, "remote", "add", "origin", str(tmp_path / "origin.git"))
    return good


def test_a_merged_snapshot_table_never_snapshots_nor_pushes_an_ignored_secret(hooked, tmp_path):
    good = _pinned_remote(hooked, tmp_path)
    _merge_toml(hooked, SECRET_TOML + f'\n[remotes.shared]\nurl = "{good}"\ndefault = true\n')
    p = g(hooked, "commit", "-q", "--allow-empty", "-m", "after the merge")
    assert mlver_lines(p) == [f"mlver: post-commit {LEFT_OUT}"]
    with Repo(str(hooked)) as r:
        assert r.store.refs.get("cfg") is None
    assert cli("hooks", "status").output.splitlines()[-1] == (
        "not trusted: cfg ([snapshot.cfg] is new or changed since mlver hooks install; the "
        "hooks leave it out until mlver hooks trust)")
    # even a version made by hand is not sent by the hook until trusted
    assert cli("snapshot", "cfg").exit_code == 0
    p = g(hooked, "push", "-q", "origin", "main")
    assert mlver_lines(p)[0] == f"mlver: pre-push {LEFT_OUT}"
    assert mlver_lines(p)[1].startswith("mlver: pushed data to remote 'shared': ")
    assert sorted(os.listdir(good / "refs" / "names")) == ["ds"]
    # consent: shown the names and paths, then the hooks act on them
    r = cli("hooks", "trust")
    assert r.exit_code == 0 and r.output.splitlines() == [
        "trusted: ds (inputs: none; outputs: data)",
        "trusted: cfg (inputs: none; outputs: .env)",
        f"trusted: remote shared {good} (pre-push sends the data there)"]
    p = g(hooked, "push", "-q", "origin", "main")
    assert len(mlver_lines(p)) == 1 and "pushed data to remote 'shared'" in p.stderr
    assert sorted(os.listdir(good / "refs" / "names")) == ["cfg", "ds"]


def test_a_changed_watched_table_is_left_out_until_trusted(hooked, tmp_path):
    g(hooked, "commit", "-q", "--allow-empty", "-m", "ds@1")
    write(hooked / ".env", "API_KEY=s3cr3t\n")
    _merge_toml(hooked, TOML.replace('outputs = { data = "data" }',
                                     'outputs = { data = "data", e = ".env" }'))
    p = g(hooked, "commit", "-q", "--allow-empty", "-m", "after the merge")
    assert mlver_lines(p) == [
        "mlver: post-commit left out ds: [snapshot.ds] of [hooks] snapshot in mlver.toml is "
        "new or changed since mlver hooks install (a merge or a checkout may have changed "
        "it); check mlver.toml, then run mlver hooks trust"]
    with Repo(str(hooked)) as r:
        assert [rec.label for _o, rec in r.log("ds")] == ["ds@1"]
    r = cli("hooks", "install")  # re-installing shows the names and paths, and trusts them
    assert "trusted: ds (inputs: none; outputs: data, .env)" in r.output.splitlines()
    p = g(hooked, "commit", "-q", "--allow-empty", "-m", "trusted")
    assert len(mlver_lines(p)) == 1 and mlver_lines(p)[0].startswith("mlver: snapshot ds@2 ")


def test_a_merged_hooks_table_naming_a_missing_table_never_blocks_a_push(hooked, tmp_path):
    good = _pinned_remote(hooked, tmp_path)
    text = (hooked / "mlver.toml").read_text().replace('snapshot = ["ds"]',
                                                       'snapshot = ["ds", "nope"]')
    _merge_toml(hooked, text)
    p = g(hooked, "push", "-q", "origin", "main", ok=False)
    assert p.returncode == 0, p.stderr
    assert mlver_lines(p)[0] == (
        f"mlver: pre-push ignored [hooks] of mlver.toml: [hooks] snapshot in "
        f"{hooked / 'mlver.toml'} names 'nope', which has no [snapshot.nope] table; declare "
        "[snapshot.nope] with its inputs and outputs")
    assert mlver_lines(p)[1].startswith("mlver: pushed data to remote 'shared': ")
    assert (good / "refs" / "names" / "ds").exists()


# --------------------------------------------------------------- a clone that only pulled


def test_a_clone_that_only_pulled_never_pushes_to_a_merged_url(hooked, tmp_path, monkeypatch):
    good, evil = tmp_path / "good-store", tmp_path / "evil-store"
    assert cli("remote", "add", "origin", str(good), "--default").exit_code == 0
    g(hooked, "commit", "-q", "-am", "remote")  # ds@1
    assert cli("push").exit_code == 0
    g(tmp_path, "init", "-q", "--bare", "-b", "main", "code.git")
    g(hooked, "push", "-q", str(tmp_path / "code.git"), "main", env=OFF)
    g(tmp_path, "clone", "-q", str(tmp_path / "code.git"), "clone")
    clone = tmp_path / "clone"
    for k, v in (("user.name", "T"), ("user.email", "t@example.com")):
        g(clone, "config", k, v)
    monkeypatch.chdir(clone)
    assert cli("pull").exit_code == 0  # the clone reads from origin: pinned
    pins = json.loads((clone / ".mlver" / "config.json").read_text())["trusted"]["remotes"]
    assert pins == {"origin": {"url": str(good), "endpoint_url": None}}
    assert cli("hooks", "install").exit_code == 0
    _merge_toml(clone, (clone / "mlver.toml").read_text().replace(str(good), str(evil)))
    write(clone / "data" / "x.csv", "v2\n")
    g(clone, "commit", "-q", "--allow-empty", "-m", "ds@2")
    fix = (f"remote 'origin' is now {evil}, but this store trusts {good} under that name; "
           "mlver.toml may have changed in a merge, a pull or a checkout: check it, then run "
           "mlver remote trust origin to push there")
    p = g(clone, "push", "-q", "origin", "main", ok=False)
    assert p.returncode != 0
    assert mlver_lines(p) == [f"mlver: pushing data to remote 'origin' failed: {fix}; the git "
                              "push is stopped (fix it and push again, or git push "
                              "--no-verify to push without the data)"]
    r = cli("push")
    assert r.exit_code == 1 and r.output == f"Error: {fix}\n"
    assert not evil.exists()


def test_the_pre_push_hook_never_trusts_a_first_push(hooked, tmp_path):
    # hooks installed, nothing pinned: a merge adds a default remote
    evil = tmp_path / "evil-store"
    g(tmp_path, "init", "-q", "--bare", "origin.git")
    g(hooked, "remote", "add", "origin", str(tmp_path / "origin.git"))
    _merge_toml(hooked, TOML + f'\n[remotes.evil]\nurl = "{evil}"\ndefault = true\n')
    g(hooked, "commit", "-q", "--allow-empty", "-m", "ds@1")
    p = g(hooked, "push", "-q", "origin", "main", ok=False)
    assert p.returncode != 0
    assert mlver_lines(p) == [
        f"mlver: pushing data to remote 'evil' failed: remote 'evil' ({evil}) is not trusted "
        "by this store yet: it never pushed there nor pulled from it, and the pre-push hook "
        "never trusts a first push; mlver.toml may have changed in a merge, a pull or a "
        "checkout: check it, then run mlver remote trust evil to push there; the git push is "
        "stopped (fix it and push again, or git push --no-verify to push without the data)"]
    assert not evil.exists()
    # installing shows the default remote and trusts it: then the hook pushes there
    r = cli("hooks", "install")
    assert f"trusted: remote evil {evil} (pre-push sends the data there)" in r.output.splitlines()
    p = g(hooked, "push", "-q", "origin", "main")
    assert len(mlver_lines(p)) == 1 and "pushed data to remote 'evil'" in p.stderr


def test_an_editable_install_of_the_project_never_lets_a_branch_shadow_a_module(
        hooked, tmp_path):
    # a virtualenv outside the repository, with the project installed editable: its site
    # puts <repo>/src on sys.path (before mlver's own packages here: .pth files run in order)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")],
                   check=True, capture_output=True)
    py = tmp_path / "venv" / "bin" / "python"
    site_dir = next((tmp_path / "venv" / "lib").glob("python3*/site-packages"))
    write(site_dir / "__editable__.proj.pth", str(hooked / "src") + "\n")
    write(site_dir / "outer.pth", "\n".join([str(ROOT), *SITE]) + "\n")
    with Repo(str(hooked)) as r:
        r.hooks.install(python=str(py))
    assert not (hooked / "src").exists()  # so not on sys.path at install: only at run
    marker = tmp_path / "IMPORTED"
    g(hooked, "checkout", "-q", "-b", "evil", env=OFF)
    _mark_import(hooked / "src" / "xxhash.py", marker)
    g(hooked, "add", "-A")
    g(hooked, "commit", "-q", "-m", "evil", env=OFF)
    write(hooked / "data" / "x.csv", "v2\n")
    p = g(hooked, "commit", "-q", "--allow-empty", "-m", "on evil")
    assert not marker.exists(), marker.read_text()
    assert mlver_lines(p)[0].startswith("mlver: snapshot ds@1 "), p.stderr
