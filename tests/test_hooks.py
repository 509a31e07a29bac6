"""Git hooks (mlver/integrations/): real repositories, the real ``git`` binary running the
installed scripts, which run this checkout's mlver through PYTHONPATH."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cli, write
from mlver.api import Repo
from mlver.core.config import load_project
from mlver.base.errors import ConfigError
from mlver.integrations.hookscript import MARKER, USER_SUFFIX, hooks_dir, script

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ("post-commit", "post-checkout", "post-merge", "pre-push")
WATCHES_NOTHING = (
    "watches nothing: [hooks] snapshot in mlver.toml lists no names, so post-commit snapshots "
    "nothing and post-checkout and post-merge compare nothing (mlver status still compares "
    "every name); add names to [hooks] snapshot in mlver.toml")

TOML = """\
[snapshot.ds]
kind = "dataset"
outputs = { data = "data" }

[hooks]
snapshot = ["ds"]
"""


def g(cwd, *args: str, ok: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run git; stdout and stderr (where hooks print) kept apart."""
    p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, check=False)
    if ok:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def mlver_lines(p: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (p.stdout + p.stderr).splitlines() if line.startswith("mlver:")]


@pytest.fixture(autouse=True)
def _this_mlver(monkeypatch):
    """The hook scripts run ``python -m mlver``: make it this checkout's."""
    old = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + (os.pathsep + old if old else ""))
    monkeypatch.delenv("MLVER_HOOKS", raising=False)


@pytest.fixture
def proj(git_repo, monkeypatch):
    """A git repo with ignored data/ (versioned by mlver), mlver.toml, a store, hooks."""
    root = git_repo
    write(root / ".gitignore", ".mlver/\ndata/\n")
    write(root / "mlver.toml", TOML)
    write(root / "data" / "x.csv", "v1\n")
    g(root, "add", "-A")
    g(root, "commit", "-q", "-m", "mlver.toml")
    monkeypatch.chdir(root)
    with Repo.init(str(root)) as r:
        r.hooks.install()
    return root


def versions(root) -> int:
    with Repo(str(root)) as r:
        return len(r.log("ds")) if r.store.refs.get("ds") else 0


def hook_dir(root) -> Path:
    return Path(root) / ".git" / "hooks"


# --------------------------------------------------------------------------- install


def test_install_twice_then_uninstall_restores_user_hooks_byte_for_byte(git_repo, monkeypatch):
    monkeypatch.chdir(git_repo)
    hd = hook_dir(git_repo)
    mine = {}
    for i, hook in enumerate(HOOKS):
        data = f"#!/bin/sh\n# my {hook}\necho mine-{hook}\n".encode() + bytes([0xff, 10])
        (hd / hook).write_bytes(data)
        os.chmod(hd / hook, 0o750 if i % 2 else 0o755)
        mine[hook] = (data, (hd / hook).stat().st_mode)
    with Repo.init(str(git_repo)) as r:
        done = r.hooks.install()
        assert [h for h, _ in done] == list(HOOKS)
        assert all("runs your" in what for _h, what in done)
        for hook in HOOKS:
            assert MARKER in (hd / hook).read_text()
            assert (hd / (hook + USER_SUFFIX)).read_bytes() == mine[hook][0]
        before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
                  for p in hd.iterdir()}
        assert all(w == "already installed" for _h, w in r.hooks.install())
        after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
                 for p in hd.iterdir()}
        assert after == before
        states = {s.hook: s for s in r.hooks.status()}
        assert all(s.installed and s.chained and s.python_ok and s.enabled
                   for s in states.values())
        # what the hooks run: your hooks first, then mlver, isolated
        assert [p.line() for p in r.hooks.programs()] == [
            *[f"runs: {hd / (h + USER_SUFFIX)} ({h}: your own hook, first)" for h in HOOKS],
            f"runs: {sys.executable} -I ({', '.join(HOOKS)}: mlver in isolated mode, nothing "
            "in the work tree is imported)"]
        r.hooks.uninstall()
    for hook in HOOKS:
        assert (hd / hook).read_bytes() == mine[hook][0]
        assert (hd / hook).stat().st_mode == mine[hook][1]
        assert not (hd / (hook + USER_SUFFIX)).exists()


def test_uninstall_without_user_hook_removes_ours_and_leaves_foreign_hooks(repo, git_repo):
    hd = hook_dir(git_repo)
    repo.hooks.install(["post-commit"])
    (hd / "pre-push").write_text("#!/bin/sh\nexit 0\n")
    done = dict(repo.hooks.uninstall())
    assert done["post-commit"] == "removed"
    assert "not mlver's" in done["pre-push"]
    assert not (hd / "post-commit").exists() and (hd / "pre-push").exists()


def test_install_refuses_to_clobber_a_leftover_user_hook(repo, git_repo):
    hd = hook_dir(git_repo)
    (hd / "post-commit").write_text("#!/bin/sh\necho new\n")
    (hd / ("post-commit" + USER_SUFFIX)).write_text("#!/bin/sh\necho old\n")
    with pytest.raises(ConfigError, match="already exists"):
        repo.hooks.install(["post-commit"])
    assert (hd / "post-commit").read_text() == "#!/bin/sh\necho new\n"


def test_user_hooks_run_exactly_once_and_their_status_is_kept(proj, tmp_path):
    hd = hook_dir(proj)
    log = proj / "calls.log"
    for hook in HOOKS:
        user = hd / (hook + USER_SUFFIX)
        user.write_text(f'#!/bin/sh\necho "{hook} $#" >> "{log}"\nexit ${{RC:-0}}\n')
        os.chmod(user, 0o755)
    g(proj, "commit", "-q", "--allow-empty", "-m", "x")
    g(proj, "checkout", "-q", "-b", "other")
    g(proj, "commit", "-q", "--allow-empty", "-m", "y")
    g(proj, "checkout", "-q", "main")
    g(proj, "merge", "-q", "other")
    g(tmp_path, "init", "-q", "--bare", "remote.git")
    g(proj, "remote", "add", "origin", str(tmp_path / "remote.git"))
    g(proj, "push", "-q", "origin", "main", env={"MLVER_HOOKS": "0"})
    calls = log.read_text().splitlines()
    assert calls == ["post-commit 0", "post-checkout 3", "post-commit 0", "post-checkout 3",
                     "post-merge 1", "pre-push 2"]
    # a failing user hook fails what git would fail for it, as before
    p = g(proj, "checkout", "-q", "other", ok=False, env={"RC": "7"})
    assert p.returncode != 0
    g(proj, "commit", "-q", "--allow-empty", "-m", "z", env={"MLVER_HOOKS": "0"})
    p = g(proj, "push", "-q", "origin", "other", ok=False, env={"RC": "7"})
    assert p.returncode != 0
    assert g(tmp_path / "remote.git", "branch", "--list", "other").stdout == ""
    # the script's exit status is the user hook's
    rc = subprocess.run(["sh", str(hd / "post-commit")], cwd=proj,
                        env={**os.environ, "RC": "7"}, capture_output=True).returncode
    assert rc == 7


def test_core_hooks_path_is_where_they_go(git_repo, monkeypatch):
    monkeypatch.chdir(git_repo)
    g(git_repo, "config", "core.hooksPath", "githooks")
    (git_repo / "githooks").mkdir()
    write(git_repo / "githooks" / "post-commit", "#!/bin/sh\necho mine >&2\n")
    os.chmod(git_repo / "githooks" / "post-commit", 0o755)
    write(git_repo / ".gitignore", ".mlver/\ndata/\n")
    write(git_repo / "mlver.toml", TOML)
    write(git_repo / "data" / "x.csv", "v1\n")
    Repo.init(str(git_repo)).close()
    r = cli("hooks", "install")
    assert r.exit_code == 0, r.output
    assert (git_repo / "githooks" / ("post-commit" + USER_SUFFIX)).exists()
    assert not (hook_dir(git_repo) / "post-commit").exists()
    g(git_repo, "add", "-A")
    p = g(git_repo, "commit", "-q", "-m", "two")
    assert "mine" in p.stderr
    assert mlver_lines(p) == [line for line in mlver_lines(p) if "snapshot ds@1" in line]
    assert len(mlver_lines(p)) == 1
    r = cli("hooks", "status", "--json")
    assert r.exit_code == 0 and '"installed": true' in r.output


def test_a_worktree_uses_the_common_hooks_folder(repo, git_repo, tmp_path):
    g(git_repo, "worktree", "add", "-q", str(tmp_path / "wt"))
    from mlver.integrations.hooks import Hooks

    Hooks(str(tmp_path / "wt")).install(["post-commit"])
    assert MARKER in (hook_dir(git_repo) / "post-commit").read_text()
    # the worktree has no store: its commits go through silently
    write(tmp_path / "wt" / "f.txt", "x")
    g(tmp_path / "wt", "add", "f.txt")
    assert mlver_lines(g(tmp_path / "wt", "commit", "-q", "-m", "wt")) == []


def test_the_script_quotes_the_interpreter_path():
    text = script("post-commit", "/opt/it's here/python", "sub dir")
    assert "python='/opt/it'\\''s here/python'" in text
    assert "cd -- 'sub dir' || exit" in text


def test_a_gone_interpreter_is_one_line_and_does_not_block_a_commit(proj):
    with Repo(str(proj)) as r:
        r.hooks.install(python="/nonexistent/python")
        assert not r.hooks.status()[0].python_ok
    p = g(proj, "commit", "-q", "--allow-empty", "-m", "x")
    assert len(p.stderr.splitlines()) == 1 and "is gone" in p.stderr


# --------------------------------------------------------------------------- post-commit


def test_post_commit_snapshots_changed_data_once_and_nothing_when_unchanged(proj):
    p = g(proj, "commit", "-q", "--allow-empty", "-m", "first with hooks")
    assert len(mlver_lines(p)) == 1 and "snapshot ds@1" in mlver_lines(p)[0]
    p = g(proj, "commit", "-q", "--allow-empty", "-m", "nothing tracked changed")
    assert mlver_lines(p) == [] and p.stderr == ""
    assert versions(proj) == 1
    write(proj / "data" / "x.csv", "v2\n")
    p = g(proj, "commit", "-q", "--allow-empty", "-m", "new data")
    assert len(mlver_lines(p)) == 1 and "snapshot ds@2" in mlver_lines(p)[0]
    with Repo(str(proj)) as r:
        assert r.show("ds")[1].code.commit == g(proj, "rev-parse", "HEAD").stdout.strip()


def test_post_commit_errors_are_one_line_and_the_commit_succeeds(proj):
    os.rename(proj / "data", proj / "elsewhere")
    p = g(proj, "commit", "-q", "--allow-empty", "-m", "x")
    assert p.returncode == 0
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlver: post-commit could not snapshot ds")
    assert g(proj, "log", "-1", "--format=%s").stdout.strip() == "x"


def test_post_commit_turned_off_by_config_and_by_the_environment(proj):
    p = g(proj, "commit", "-q", "--allow-empty", "-m", "x", env={"MLVER_HOOKS": "0"})
    assert mlver_lines(p) == [] and versions(proj) == 0
    write(proj / "mlver.toml", TOML + "post-commit = false\n")
    p = g(proj, "commit", "-q", "-am", "off")
    assert mlver_lines(p) == [] and versions(proj) == 0


def test_a_broken_mlver_toml_never_fails_a_commit(proj):
    write(proj / "mlver.toml", TOML + "on-chekout = 'restore'\n")
    p = g(proj, "commit", "-q", "-am", "typo")
    assert p.returncode == 0
    assert len(mlver_lines(p)) == 1 and "did you mean 'on-checkout'" in p.stderr


# --------------------------------------------------------------------------- post-checkout


def _two_branches(root) -> None:
    """ds@1 on main (v1), ds@2 on branch feat (v2); HEAD on feat with v2 on disk."""
    g(root, "commit", "-q", "--allow-empty", "-m", "snap v1")
    g(root, "checkout", "-q", "-b", "feat")
    write(root / "data" / "x.csv", "v2\n")
    g(root, "commit", "-q", "--allow-empty", "-m", "snap v2")
    assert versions(root) == 2


def test_branch_switch_names_a_deleted_folder_removed_as_status_does(proj):
    """One word for one fact (issue 19 §8): a slot whose file is gone is ``removed``."""
    import shutil

    _two_branches(proj)
    shutil.rmtree(proj / "data")
    p = g(proj, "checkout", "-q", "main")
    assert mlver_lines(p) == ["mlver: ds@1 (commit " + g(proj, "rev-parse", "--short=7",
                                                          "HEAD").stdout.strip()
                              + ", the latest on this branch's history; ds@2 is not on it) "
                              "differs here: data removed; mlver checkout ds@1 restores it"]


def test_branch_switch_in_warn_mode_lists_what_differs(proj):
    _two_branches(proj)
    p = g(proj, "checkout", "-q", "main")
    assert mlver_lines(p) == ["mlver: ds@1 (commit " + g(proj, "rev-parse", "--short=7",
                                                          "HEAD").stdout.strip()
                              + ", the latest on this branch's history; ds@2 is not on it) "
                              "differs here: data modified; mlver checkout ds@1 restores it"]
    assert (proj / "data" / "x.csv").read_text() == "v2\n"
    # a new commit without a record: its nearest ancestor with one counts
    g(proj, "commit", "-q", "--allow-empty", "-m", "code only", env={"MLVER_HOOKS": "0"})
    p = g(proj, "checkout", "-q", "feat")
    assert mlver_lines(p) == []  # v2 on disk is what ds@2 holds
    p = g(proj, "checkout", "-q", "main")
    assert len(mlver_lines(p)) == 1 and "mlver: ds@1 (commit" in p.stderr
    # a file checkout is not a branch switch
    p = g(proj, "checkout", "-q", "main", "--", "mlver.toml")
    assert mlver_lines(p) == []


def test_branch_switch_in_restore_mode_restores_but_never_a_local_edit(proj):
    write(proj / "mlver.toml", TOML + 'on-checkout = "restore"\n')
    assert cli("hooks", "trust").exit_code == 0  # the hooks restore only once trusted
    g(proj, "commit", "-q", "-am", "restore mode", env={"MLVER_HOOKS": "0"})
    _two_branches(proj)
    p = g(proj, "checkout", "-q", "main")
    assert mlver_lines(p) == ["mlver: restored data from ds@1 (commit "
                              + g(proj, "rev-parse", "--short=7", "HEAD").stdout.strip()
                              + ", the latest on this branch's history; ds@2 is not on it)"]
    assert (proj / "data" / "x.csv").read_text() == "v1\n"
    p = g(proj, "checkout", "-q", "feat")
    assert (proj / "data" / "x.csv").read_text() == "v2\n"
    # nothing to restore: silent
    p = g(proj, "checkout", "-q", "main")
    p = g(proj, "checkout", "-q", "main")
    assert mlver_lines(p) == []
    write(proj / "data" / "x.csv", "my local edit\n")
    p = g(proj, "checkout", "-q", "feat")
    lines = mlver_lines(p)
    # all or nothing per name: one line, nothing restored (issue 19 follow-up)
    assert lines == [
        "mlver: restored nothing of ds@2 (commit " + g(proj, "rev-parse", "--short=7",
                                                        "HEAD").stdout.strip()
        + ", the latest on this branch's history): checkout would overwrite data/x.csv, whose "
        "content matches no version mlver knows; snapshot it first, move it away, or use "
        "--force to overwrite; then mlver checkout ds@2 restores data together"]
    assert (proj / "data" / "x.csv").read_text() == "my local edit\n"


def test_post_merge_restores_the_merged_commits_data(proj):
    write(proj / "mlver.toml", TOML + 'on-checkout = "restore"\n')
    assert cli("hooks", "trust").exit_code == 0  # the hooks restore only once trusted
    g(proj, "commit", "-q", "-am", "restore mode", env={"MLVER_HOOKS": "0"})
    _two_branches(proj)
    g(proj, "checkout", "-q", "main")  # restores v1
    p = g(proj, "merge", "-q", "feat")  # a fast-forward to feat's commit
    assert "restored data from ds@2" in p.stderr
    assert (proj / "data" / "x.csv").read_text() == "v2\n"


def test_nothing_happens_mid_rebase(proj):
    write(proj / "mlver.toml", TOML + 'on-checkout = "restore"\n')
    assert cli("hooks", "trust").exit_code == 0  # the hooks restore only once trusted
    g(proj, "commit", "-q", "-am", "restore mode", env={"MLVER_HOOKS": "0"})
    _two_branches(proj)
    g(proj, "checkout", "-q", "main")
    write(proj / "README.md", "main changed\n")
    g(proj, "commit", "-q", "-am", "main moves", env={"MLVER_HOOKS": "0"})
    g(proj, "checkout", "-q", "feat")
    assert (proj / "data" / "x.csv").read_text() == "v2\n"
    # an interactive rebase that stops at its first commit: the hooks must stay out
    p = g(proj, "rebase", "-q", "-i", "main", env={"GIT_SEQUENCE_EDITOR": "sed -i s/^pick/edit/"})
    assert (proj / ".git" / "rebase-merge").exists()
    assert mlver_lines(p) == []
    p = g(proj, "checkout", "-q", "main")  # a branch switch while the rebase is stopped
    assert mlver_lines(p) == []
    assert (proj / "data" / "x.csv").read_text() == "v2\n"


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("extra,needle", [
    ('on-checkout = "restor"', "did you mean 'restore'"),
    ('post-comit = false', "did you mean 'post-commit'"),
    ('pre-push = "no"', "[hooks] pre-push"),
    ('snapshot = ["dss"]', "did you mean 'ds'"),
])
def test_hooks_config_is_checked_with_suggestions(tmp_path, extra, needle):
    write(tmp_path / "mlver.toml", TOML.replace('snapshot = ["ds"]', extra))
    with pytest.raises(ConfigError) as e:
        load_project(str(tmp_path))
    assert needle in str(e.value)


def test_hooks_config_defaults(tmp_path):
    h = load_project(str(tmp_path)).hooks
    assert h.snapshot == () and h.on_checkout == "warn"
    assert all(h.on(x) for x in HOOKS)


def test_cli_install_status_uninstall(repo, git_repo):
    r = cli("hooks", "install", "--hook", "post-commit", "--hook", "pre-push")
    # the last line says which program the hooks start (issue 20: what a commit runs)
    assert r.exit_code == 0 and r.stdout.splitlines() == [
        "post-commit: installed", "pre-push: installed",
        f"runs: {sys.executable} -I (post-commit, pre-push: mlver in isolated mode, nothing "
        "in the work tree is imported)", WATCHES_NOTHING + " (each needs a [snapshot.NAME] "
        "table with its inputs and outputs)"]
    r = cli("hooks", "status")
    assert r.stdout.splitlines()[0] == "post-commit: installed"
    assert r.stdout.splitlines()[1] == "post-checkout: not installed"
    r = cli("hooks", "uninstall")
    assert "post-commit: removed" in r.stdout
    r = cli("hooks", "install", "--hook", "pre-commit")
    assert r.exit_code == 2
    assert stat.S_IMODE(os.stat(hook_dir(git_repo)).st_mode)  # the folder is still there


# --------------------------------------------------------------------------- pre-push


def _pushable(proj, tmp_path, url: str | None):
    """A bare git remote ``origin``; the mlver remote ``shared`` at ``url`` (default)."""
    g(tmp_path, "init", "-q", "--bare", "origin.git")
    g(proj, "remote", "add", "origin", str(tmp_path / "origin.git"))
    if url is not None:
        r = cli("remote", "add", "shared", url, "--default")
        assert r.exit_code == 0, r.output
        g(proj, "commit", "-q", "-am", "remote", env={"MLVER_HOOKS": "0"})
    g(proj, "commit", "-q", "--allow-empty", "-m", "snap")  # ds@1
    assert versions(proj) == 1


def test_pre_push_pushes_the_data_to_a_folder_remote(proj, tmp_path):
    _pushable(proj, tmp_path, str(tmp_path / "store"))
    p = g(proj, "push", "-q", "origin", "main")
    assert mlver_lines(p) == [line for line in mlver_lines(p)
                              if line.startswith("mlver: pushed data to remote 'shared'")]
    assert len(mlver_lines(p)) == 1
    # a clone of the code finds the data on the remote
    other = tmp_path / "other"
    g(tmp_path, "clone", "-q", "-b", "main", str(tmp_path / "origin.git"), str(other))
    with Repo.init(str(other)) as r:
        r.pull()
        assert r.names() == ["ds"]
        assert r.checkout("ds").written == 1
    assert (other / "data" / "x.csv").read_text() == "v1\n"


def test_pre_push_to_an_unreachable_remote_stops_the_git_push(proj, tmp_path):
    write(tmp_path / "a-file", "not a folder\n")
    _pushable(proj, tmp_path, str(tmp_path / "a-file" / "store"))
    p = g(proj, "push", "-q", "origin", "main", ok=False)
    assert p.returncode != 0
    lines = mlver_lines(p)
    assert len(lines) == 1 and lines[0].startswith("mlver: pushing data to remote 'shared' failed")
    assert "--no-verify" in lines[0]
    assert g(tmp_path / "origin.git", "branch", "--list").stdout == ""
    p = g(proj, "push", "-q", "--no-verify", "origin", "main")
    assert mlver_lines(p) == []
    assert "main" in g(tmp_path / "origin.git", "branch", "--list").stdout


def test_pre_push_without_a_remote_says_so_and_lets_the_push_go(proj, tmp_path):
    _pushable(proj, tmp_path, None)
    p = g(proj, "push", "-q", "origin", "main")
    assert mlver_lines(p) == ["mlver: no default remote is configured, so no data was pushed "
                              "(mlver remote add NAME URL --default sets one)"]
    p = g(proj, "push", "-q", "origin", "main", env={"MLVER_HOOKS": "0"})
    assert mlver_lines(p) == []


# --------------------------------------------------------------------------- no false pair

MODEL_TOML = """\
[snapshot.price-model]
kind = "model"
inputs = { train = "data/train.csv" }
outputs = { model = "model.pkl" }

[hooks]
snapshot = ["price-model"]
"""


@pytest.fixture
def model_proj(git_repo, monkeypatch):
    """A model whose input (data/train.csv) and output (model.pkl) git ignores; no hooks
    installed: the hook logic runs in this process (``mlver.integrations.hooks.run``)."""
    write(git_repo / ".gitignore", ".mlver/\ndata/\nmodel.pkl\n")
    write(git_repo / "mlver.toml", MODEL_TOML)
    write(git_repo / "data" / "train.csv", "x,y\n1,2\n")
    write(git_repo / "model.pkl", b"model-1")
    g(git_repo, "add", "-A")
    g(git_repo, "commit", "-q", "-m", "model")
    monkeypatch.chdir(git_repo)
    Repo.init(str(git_repo)).close()
    return git_repo


def _post_commit(root) -> list[str]:
    from mlver.integrations.hooks import run

    lines: list[str] = []
    assert run("post-commit", [], cwd=str(root), echo=lines.append) == 0
    return lines


def _labels(root, name="price-model") -> list[str]:
    with Repo(str(root)) as r:
        return [rec.label for _oid, rec in r.log(name)]


def test_post_commit_never_pairs_new_inputs_with_an_old_model(model_proj):
    assert [x.split(" ")[:3] for x in _post_commit(model_proj)] == [
        ["mlver:", "snapshot", "price-model@1"]]
    # new data, the model not retrained: no version, one line that says what to do
    write(model_proj / "data" / "train.csv", "x,y\n1,2\n3,4\n")
    g(model_proj, "commit", "-q", "--allow-empty", "-m", "more data")
    assert _post_commit(model_proj) == [
        "mlver: price-model: inputs changed since @1 but model.pkl did not; retrain with "
        "mlver run price-model"]
    assert _labels(model_proj) == ["price-model@1"]
    # retrained: the pair is true again, and recorded
    write(model_proj / "model.pkl", b"model-2")
    g(model_proj, "commit", "-q", "--allow-empty", "-m", "retrained")
    lines = _post_commit(model_proj)
    assert len(lines) == 1 and lines[0].startswith("mlver: snapshot price-model@2 ")
    # only the model changed (a retrain on the same data): recorded as ever
    write(model_proj / "model.pkl", b"model-3")
    assert _post_commit(model_proj)[0].startswith("mlver: snapshot price-model@3 ")


def test_post_commit_says_it_through_git_too(model_proj):
    with Repo(str(model_proj)) as r:
        r.hooks.install(["post-commit"])
    g(model_proj, "commit", "-q", "--allow-empty", "-m", "first")
    write(model_proj / "data" / "train.csv", "x,y\n9,9\n")
    p = g(model_proj, "commit", "-q", "--allow-empty", "-m", "more data")
    assert mlver_lines(p) == ["mlver: price-model: inputs changed since @1 but model.pkl did "
                              "not; retrain with mlver run price-model"]
    assert _labels(model_proj) == ["price-model@1"]


def test_pre_commit_framework_shows_mlver_lines():
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == [f"mlver-{h}" for h in HOOKS]
    assert all(h["verbose"] is True for h in hooks)
    assert all(h["entry"].startswith("mlver hooks run ") for h in hooks)


# --------------------------------------------------------------------------- what runs


def test_the_script_starts_mlver_isolated():
    text = script("post-commit", "/venv/bin/python")
    # isolated, and every folder of the work tree (git runs hooks from its top) taken off
    # sys.path before mlver is imported (issue 20: an editable install adds src/)
    assert text.splitlines()[-5:-3] == [
        'top=$(pwd -P) || exit "$status"',
        '"$python" -I -c \'import os, sys; t = os.path.realpath(sys.argv.pop(1)); sys.path[:] '
        '= [p for p in sys.path if os.path.isabs(p) and os.path.commonpath([t, '
        'os.path.realpath(p)]) != t]; from mlver.integrations.hooks import main; '
        'sys.exit(main(sys.argv[1:]))\' "$top" "$hook" "$@"']
    assert " -m mlver" not in text
    unguarded = script("post-commit", "/venv/bin/python", guard=False)  # --force-interpreter
    assert '"$python" -I -m mlver hooks run "$hook" "$@"' in unguarded.splitlines()


def test_an_mlver_found_only_on_pythonpath_is_put_back_by_the_script(proj):
    # what install writes when isolated mode would lose the folder mlver came from
    text = script("post-commit", sys.executable, ".", (str(ROOT),))
    assert f'sys.path[:0] = ["{ROOT}"]' in text
    (hook_dir(proj) / "post-commit").write_text(text)
    p = g(proj, "commit", "-q", "--allow-empty", "-m", "x", env={"PYTHONPATH": ""})
    assert len(mlver_lines(p)) == 1 and mlver_lines(p)[0].startswith("mlver: snapshot ds@1 ")


def test_isolated_path_is_empty_when_the_venv_finds_mlver(tmp_path):
    from mlver.integrations.hookguard import isolated_path

    assert isolated_path(sys.executable) == ()
    assert isolated_path(str(tmp_path / "no-python")) == ()


def test_status_says_which_programs_a_commit_runs(proj, tmp_path):
    spy = tmp_path / "bin" / "python3"
    write(spy, f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    os.chmod(spy, 0o755)
    write(proj / "mlver.toml", TOML + f'\n[env]\npython = "{spy}"\n')
    mine = (f"runs: {sys.executable} -I (post-commit, post-checkout, post-merge, pre-push: "
            "mlver in isolated mode, nothing in the work tree is imported)")
    r = cli("hooks", "status")
    assert r.stdout.splitlines()[4:6] == [
        mine, f"never runs: {spy} (post-commit): [env] python in mlver.toml names {spy}, which "
        "mlver hooks install has not trusted (a merge or a checkout may have changed it); "
        "check it, then run mlver hooks install to trust it; post-commit snapshots nothing"]
    r = cli("hooks", "install")
    assert r.stdout.splitlines()[4:6] == [
        mine, f"runs: {spy} (post-commit: [env] python of mlver.toml, to list the packages of a "
        "snapshot; trusted by mlver hooks install)"]
    assert r.stdout.splitlines()[6] == "trusted: ds (inputs: none; outputs: data)"
    import json

    runs = {h["hook"]: h["runs"] for h in json.loads(cli("hooks", "status", "--json").stdout)}
    assert runs["pre-push"] == [{"program": sys.executable, "hooks": list(HOOKS),
                                 "why": "mlver", "runs": True, "note": ""}]
    assert runs["post-commit"][1] == {"program": str(spy), "hooks": ["post-commit"],
                                      "why": "[env] python", "runs": True, "note": ""}


def test_pre_push_in_process_refuses_a_default_remote_that_changed(proj, tmp_path):
    from mlver.integrations.hooks import run

    _pushable(proj, tmp_path, str(tmp_path / "store"))
    lines: list[str] = []
    assert run("pre-push", ["origin", "x"], cwd=str(proj), echo=lines.append) == 0
    assert lines[0].startswith("mlver: pushed data to remote 'shared'")
    write(proj / "mlver.toml", (proj / "mlver.toml").read_text().replace(
        str(tmp_path / "store"), str(tmp_path / "elsewhere")))
    lines.clear()
    assert run("pre-push", ["origin", "x"], cwd=str(proj), echo=lines.append) == 1
    assert lines == [
        f"mlver: pushing data to remote 'shared' failed: remote 'shared' is now "
        f"{tmp_path / 'elsewhere'}, but this store trusts {tmp_path / 'store'} under that "
        "name; mlver.toml may have changed in a merge, a pull or a checkout: check it, then "
        "run mlver remote trust shared to push there; the git push is stopped (fix it and "
        "push again, or git push --no-verify to push without the data)"]
    assert not (tmp_path / "elsewhere").exists()


def test_post_checkout_and_post_merge_in_process(proj):
    from mlver.integrations.hooks import run

    _two_branches(proj)
    feat = g(proj, "rev-parse", "HEAD").stdout.strip()
    g(proj, "checkout", "-q", "main", env={"MLVER_HOOKS": "0"})
    main = g(proj, "rev-parse", "HEAD").stdout.strip()
    lines: list[str] = []
    assert run("post-checkout", [feat, main, "1"], cwd=str(proj), echo=lines.append) == 0
    assert lines == [f"mlver: ds@1 (commit {main[:7]}, the latest on this branch's history; ds@2 is not on it) differs here: data modified; "
                     "mlver checkout ds@1 restores it"]
    lines.clear()
    assert run("post-checkout", [feat, main, "0"], cwd=str(proj), echo=lines.append) == 0
    assert lines == []  # a file checkout
    assert run("post-merge", ["0"], cwd=str(proj), echo=lines.append) == 0
    assert len(lines) == 1 and lines[0].startswith("mlver: ds@1 (commit ")


# ------------------------------------------------- no false pair after a branch switch

TRAIN_TOML = """\
[snapshot.m]
kind = "model"
inputs = { data = "data" }
outputs = { model = "model/model.txt" }
params = ["params.yaml"]
metrics = ["metrics.json"]

[hooks]
snapshot = ["m"]
"""


def _train(root, lr: float) -> None:
    """What ``mlver run m -- python train.py`` leaves: a model and metrics made from the
    data and the params on disk (ignored by git, so a branch switch keeps them)."""
    data = (root / "data" / "x.csv").read_text()
    write(root / "model" / "model.txt", f"model lr={lr} on {data}")
    write(root / "metrics.json", f'{{"acc": {0.5 + lr}}}\n')


def _trained(root, toml: str):
    """m@1 on main (lr 0.1); m@2 on feat (lr 0.1, new data); m@3 on main (lr 0.2, retrained
    on main). HEAD on main, holding m@3's files; hooks installed."""
    write(root / ".gitignore", ".mlver/\ndata/\nmodel/\nmetrics.json\n")
    write(root / "mlver.toml", toml)
    write(root / "params.yaml", "train:\n  lr: 0.1\n")
    write(root / "data" / "x.csv", "v1\n")
    _train(root, 0.1)
    g(root, "add", "-A")
    g(root, "commit", "-q", "-m", "m", env={"MLVER_HOOKS": "0"})
    with Repo.init(str(root)) as r:
        r.hooks.install()
    assert mlver_lines(g(root, "commit", "-q", "--allow-empty", "-m", "m@1"))[0].startswith(
        "mlver: snapshot m@1 ")
    g(root, "checkout", "-q", "-b", "feat")
    write(root / "data" / "x.csv", "v2\n")
    _train(root, 0.1)
    assert mlver_lines(g(root, "commit", "-q", "--allow-empty", "-m", "m@2"))[0].startswith(
        "mlver: snapshot m@2 ")
    g(root, "checkout", "-q", "main")
    write(root / "params.yaml", "train:\n  lr: 0.2\n")
    _train(root, 0.2)
    assert mlver_lines(g(root, "commit", "-q", "-am", "lr 0.2"))[0].startswith(
        "mlver: snapshot m@3 ")
    return root


@pytest.fixture
def trained(git_repo, monkeypatch):
    """:func:`_trained` in warn mode."""
    monkeypatch.chdir(git_repo)
    return _trained(git_repo, TRAIN_TOML)


@pytest.fixture
def trained_restore(git_repo, monkeypatch):
    """:func:`_trained` with ``on-checkout = "restore"``."""
    monkeypatch.chdir(git_repo)
    return _trained(git_repo, TRAIN_TOML + 'on-checkout = "restore"\n')


def _m_labels(root) -> list[str]:
    with Repo(str(root)) as r:
        return [rec.label for _oid, rec in r.log("m")]


def test_post_commit_after_a_branch_switch_never_pairs_this_branch_with_anothers_model(trained):
    root = trained
    p = g(root, "checkout", "-q", "feat")
    assert [x.split(" (")[0] for x in mlver_lines(p)] == ["mlver: m@2"]
    assert "differs here: model/model.txt modified" in mlver_lines(p)[0]
    # a commit on feat: its code and params (lr 0.1) with main's model (lr 0.2) is no pair
    write(root / "README.md", "feat notes\n")
    p = g(root, "commit", "-q", "-am", "notes")
    assert mlver_lines(p) == [
        "mlver: m: model/model.txt is m@3's (recorded on another branch), not made here; "
        "mlver checkout m@2 restores this branch's, or retrain with mlver run m"]
    p = g(root, "cherry-pick", "main")
    assert mlver_lines(p) == [
        "mlver: m: model/model.txt is m@3's (recorded on another branch), not made here; "
        "mlver checkout m@2 restores this branch's, or retrain with mlver run m"]
    assert _m_labels(root) == ["m@3", "m@2", "m@1"]
    # retrained here (lr 0.2 now on feat too, by the cherry-pick): a true pair, recorded
    _train(root, 0.25)
    p = g(root, "commit", "-q", "--allow-empty", "-m", "retrained")
    assert len(mlver_lines(p)) == 1 and mlver_lines(p)[0].startswith("mlver: snapshot m@4 ")
    with Repo(str(root)) as r:
        assert r.show("m")[1].params == {"train": {"lr": 0.2}}


def test_post_commit_in_process_on_a_branch_with_no_version_of_the_name(trained):
    """A branch made before any version: no version on its history, and the files on disk
    are main's m@3. Nothing is recorded; the line cannot offer this branch's version."""
    from mlver.integrations.hooks import run

    root = trained
    g(root, "checkout", "-q", "-b", "old", "main~2", env={"MLVER_HOOKS": "0"})  # before m@1
    write(root / "README.md", "old notes\n")
    g(root, "commit", "-q", "-am", "notes", env={"MLVER_HOOKS": "0"})
    lines: list[str] = []
    assert run("post-commit", [], cwd=str(root), echo=lines.append) == 0
    assert lines == ["mlver: m: model/model.txt is m@3's (recorded on another branch), not "
                     "made here; retrain with mlver run m"]
    assert _m_labels(root) == ["m@3", "m@2", "m@1"]
    # back on main, the same files are main's own: nothing changed, nothing said
    g(root, "checkout", "-q", "main", env={"MLVER_HOOKS": "0"})
    lines.clear()
    assert run("post-commit", [], cwd=str(root), echo=lines.append) == 0
    assert lines == []


def test_restore_is_all_or_nothing_per_name(trained_restore):
    """An untracked file in data/ stops data from being restored: then model/model.txt is
    not restored either (feat's data with main's model would be a false pair)."""
    root = trained_restore
    write(root / "data" / "mine.csv", "my own\n")
    p = g(root, "checkout", "-q", "feat")
    feat = g(root, "rev-parse", "--short=7", "HEAD").stdout.strip()
    assert mlver_lines(p) == [
        f"mlver: restored nothing of m@2 (commit {feat}, the latest on this branch's "
        "history; m@3 is not on it): checkout would overwrite data/mine.csv, whose content "
        "matches no version mlver knows; snapshot it first, move it away, or use --force to "
        "overwrite; then mlver checkout m@2 restores data, model/model.txt together"]
    assert (root / "model" / "model.txt").read_text() == "model lr=0.2 on v1\n"
    assert (root / "data" / "x.csv").read_text() == "v1\n"
    assert (root / "data" / "mine.csv").read_text() == "my own\n"
    # the file moved away: the next switch restores the name whole
    os.unlink(root / "data" / "mine.csv")
    g(root, "checkout", "-q", "main")
    p = g(root, "checkout", "-q", "feat")
    assert mlver_lines(p) == [
        f"mlver: restored data, model/model.txt from m@2 (commit {feat}, the latest on this "
        "branch's history; m@3 is not on it)"]
    assert (root / "data" / "x.csv").read_text() == "v2\n"
    assert (root / "model" / "model.txt").read_text() == "model lr=0.1 on v2\n"


# ------------------------------------------------------------------ what the hooks watch


def test_install_and_status_say_which_names_the_hooks_watch(proj):
    r = cli("hooks", "status")
    assert r.stdout.splitlines()[5:] == [
        "post-commit snapshots: ds (when their data changed)",
        'post-checkout compares: ds (on-checkout = "warn": lists what differs)',
        'post-merge compares: ds (on-checkout = "warn": lists what differs)']
    import json

    got = {h["hook"]: (h["watches"], h["watch_note"])
           for h in json.loads(cli("hooks", "status", "--json").stdout)}
    assert got == {"post-commit": (["ds"], ""), "post-checkout": (["ds"], ""),
                   "post-merge": (["ds"], ""), "pre-push": (None, "")}
    write(proj / "mlver.toml", TOML + 'on-checkout = "restore"\npost-merge = false\n')
    r = cli("hooks", "uninstall", "--hook", "post-checkout")
    r = cli("hooks", "status")
    assert r.stdout.splitlines()[5:] == [
        "post-commit snapshots: ds (when their data changed)",
        "post-checkout compares nothing: not installed (mlver hooks install installs it)",
        "post-merge compares nothing: turned off in mlver.toml (post-merge = false in [hooks])"]
    got = {h["hook"]: (h["watches"], h["watch_note"])
           for h in json.loads(cli("hooks", "status", "--json").stdout)}
    assert got["post-checkout"] == ([], "not installed (mlver hooks install installs it)")
    r = cli("hooks", "install", "--hook", "post-checkout")
    assert r.stdout.splitlines()[-2] == (
        'post-checkout compares: ds (on-checkout = "restore": restores what differs)')


def test_hooks_that_watch_nothing_say_so_with_the_fix(proj):
    """Names declared (as an import might leave them) but none in [hooks] snapshot: the
    hooks are installed and do nothing on a commit or a branch switch; install and status
    say it, naming the fix."""
    write(proj / "mlver.toml", TOML.replace('snapshot = ["ds"]', "") + """
[snapshot.model]
outputs = { model = "data/x.csv" }
""")
    g(proj, "commit", "-q", "-am", "no hook names")
    fix = WATCHES_NOTHING + " (declared there: ds, model)"
    r = cli("hooks", "install")
    assert r.stdout.splitlines()[-1] == fix
    r = cli("hooks", "status")
    assert r.stdout.splitlines()[-1] == fix
    import json

    for h in json.loads(cli("hooks", "status", "--json").stdout):
        if h["hook"] == "pre-push":
            assert (h["watches"], h["watch_note"]) == (None, "")
        else:
            assert (h["watches"], h["watch_note"]) == (
                [], "no names in [hooks] snapshot; add names to [hooks] snapshot in "
                "mlver.toml (declared there: ds, model)")
    # what the line promises: a branch switch compares nothing, though status sees a change
    with Repo(str(proj)) as rp:
        rp.snapshot("ds")  # ds@1 on main's history
    g(proj, "checkout", "-q", "-b", "feat")
    g(proj, "commit", "-q", "--allow-empty", "-m", "feat")
    write(proj / "data" / "x.csv", "v2\n")
    p = g(proj, "checkout", "-q", "main")
    assert mlver_lines(p) == [] and versions(proj) == 1


def test_a_broken_mlver_toml_is_named_by_status(proj):
    write(proj / "mlver.toml", TOML + "on-chekout = 'restore'\n")
    r = cli("hooks", "status")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[-1].startswith(
        "watches: cannot tell, mlver.toml cannot be read: unknown key 'on-chekout' in [hooks]")


def test_outputs_a_version_on_this_history_also_holds_are_not_called_another_branchs(trained):
    """main's model recorded on feat by hand (m@4, as mlver snapshot records whatever it is
    asked), then retrained (m@5), then rolled back with mlver checkout m@4: the files are
    m@3's (main) and m@4's (this history) alike, so post-commit does not blame a branch."""
    from mlver.integrations.hooks import run

    root = trained
    off = {"MLVER_HOOKS": "0"}
    g(root, "checkout", "-q", "feat", env=off)
    # in process, as after any commit on feat: main's model is not recorded with feat's code
    g(root, "commit", "-q", "--allow-empty", "-m", "unrelated", env=off)
    lines: list[str] = []
    assert run("post-commit", [], cwd=str(root), echo=lines.append) == 0
    assert lines == ["mlver: m: model/model.txt is m@3's (recorded on another branch), not "
                     "made here; mlver checkout m@2 restores this branch's, or retrain with "
                     "mlver run m"]
    with Repo(str(root)) as r:
        assert r.snapshot("m").record.label == "m@4"
    _train(root, 0.1)
    g(root, "commit", "-q", "--allow-empty", "-m", "retrain", env=off)
    lines.clear()
    assert run("post-commit", [], cwd=str(root), echo=lines.append) == 0
    assert [x.split(" ")[:3] for x in lines] == [["mlver:", "snapshot", "m@5"]]
    with Repo(str(root)) as r:
        r.checkout("m@4")
    g(root, "commit", "-q", "--allow-empty", "-m", "back to m@4's model", env=off)
    lines.clear()
    assert run("post-commit", [], cwd=str(root), echo=lines.append) == 0
    assert [x.split(" ")[:3] for x in lines] == [["mlver:", "snapshot", "m@6"]]


def test_a_hook_installed_by_an_older_mlver_still_runs(proj):
    """Scripts installed before the layout (issue 21) start ``from mlver.hooks import
    main``: an upgrade must not turn every commit into a traceback (and every push into a
    refusal) until the user thinks of running mlver hooks install again."""
    for hook in HOOKS:
        path = hook_dir(proj) / hook
        text = path.read_text()
        assert "from mlver.integrations.hooks import main" in text
        path.write_text(text.replace("from mlver.integrations.hooks import main",
                                     "from mlver.hooks import main"))
    p = g(proj, "commit", "-q", "--allow-empty", "-m", "first with old hooks")
    assert "Traceback" not in p.stderr and "ModuleNotFoundError" not in p.stderr
    assert len(mlver_lines(p)) == 1 and "snapshot ds@1" in mlver_lines(p)[0]


def test_outside_git_every_hooks_command_says_why_in_words_that_fit_it(tmp_path):
    """install, status and uninstall share the check: its sentence is not install's alone."""
    with pytest.raises(ConfigError) as e:
        hooks_dir(str(tmp_path))
    assert str(e.value) == (f"{tmp_path} is not inside a git work tree, so it has no git hooks "
                            "to install, inspect or remove; run git init first")
