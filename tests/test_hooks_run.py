"""What each git hook does (mlver/integrations/hookrun.py, hooks.run and hooksite), run in
this process on real temporary git repositories: no hook script is installed, so git
never starts mlver itself and every branch is measured by coverage."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import cli, write
from mlver.api import Repo
from mlver.integrations.hooks import main, run
from mlver.integrations.hookrun import checkout_args

TOML = """\
[snapshot.ds]
kind = "dataset"
outputs = { data = "data" }

[hooks]
snapshot = ["ds"]
"""


def g(cwd, *args: str) -> str:
    p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p.stdout.strip()


def hook(root: Path, name: str, *args: str) -> tuple[int, list[str]]:
    """Run the hook ``name`` in this process: ``(exit status, lines it printed)``."""
    lines: list[str] = []
    return run(name, list(args), cwd=str(root), echo=lines.append), lines


def versions(root: Path, name: str = "ds") -> int:
    with Repo(str(root)) as r:
        return len(r.log(name)) if r.store.refs.get(name) else 0


@pytest.fixture
def site(git_repo, monkeypatch):
    """A git repo with ignored data/ (versioned by mlver), mlver.toml, a store whose
    [hooks] is trusted; no hook installed (git runs nothing of mlver)."""
    monkeypatch.delenv("MLVER_HOOKS", raising=False)
    write(git_repo / ".gitignore", ".mlver/\ndata/\n")
    write(git_repo / "mlver.toml", TOML)
    write(git_repo / "data" / "x.csv", "v1\n")
    g(git_repo, "add", "-A")
    g(git_repo, "commit", "-q", "-m", "mlver.toml")
    monkeypatch.chdir(git_repo)
    with Repo.init(str(git_repo)) as r:
        assert [w.name for w in r.hooks.trust()] == ["ds"]
    return git_repo


def _toml(root: Path, extra: str) -> None:
    """Append to mlver.toml, commit it, and trust [hooks] as it is then."""
    write(root / "mlver.toml", TOML + extra)
    g(root, "commit", "-q", "-am", "toml")
    with Repo(str(root)) as r:
        r.hooks.trust()


def _two_branches(root: Path) -> tuple[str, str]:
    """ds@1 on main (v1), ds@2 on branch feat (v2); HEAD on main with v2 on disk:
    ``(feat's commit, main's commit)``."""
    assert hook(root, "post-commit")[0] == 0
    g(root, "checkout", "-q", "-b", "feat")
    write(root / "data" / "x.csv", "v2\n")
    g(root, "commit", "-q", "--allow-empty", "-m", "v2")
    assert hook(root, "post-commit")[1][0].startswith("mlver: snapshot ds@2 ")
    feat = g(root, "rev-parse", "HEAD")
    g(root, "checkout", "-q", "main")
    return feat, g(root, "rev-parse", "HEAD")


# --------------------------------------------------------------------------- run itself


def test_main_prints_usage_and_runs_a_hook(site, capsys):
    assert main([]) == 2
    assert main(["--help"]) == 0
    assert "Usage: mlver hooks run HOOK" in capsys.readouterr().err
    assert main(["pre-commit"]) == 0
    assert capsys.readouterr().err == (
        "mlver: 'pre-commit' is not a hook mlver runs (post-commit, post-checkout, "
        "post-merge, pre-push); nothing done\n")


def test_turned_off_by_the_environment_and_no_store_is_silent(site, tmp_path, monkeypatch):
    monkeypatch.setenv("MLVER_HOOKS", "0")
    assert hook(site, "post-commit") == (0, [])
    assert hook(site, "nope")[1][0].startswith("mlver: 'nope' is not a hook mlver runs")
    monkeypatch.delenv("MLVER_HOOKS")
    other = tmp_path / "other"
    other.mkdir()
    g(other, "init", "-q")
    assert hook(other, "post-commit") == (0, [])  # a work tree without a store
    assert versions(site) == 0


def test_checkout_args_from_git_or_the_pre_commit_framework(monkeypatch):
    assert checkout_args(["a", "b", "1"]) == ("a", "b", "1")
    monkeypatch.setenv("PRE_COMMIT_FROM_REF", "p")
    monkeypatch.setenv("PRE_COMMIT_TO_REF", "n")
    monkeypatch.setenv("PRE_COMMIT_CHECKOUT_TYPE", "1")
    assert checkout_args([]) == ("p", "n", "1")


# --------------------------------------------------------------------------- post-commit


def test_post_commit_snapshots_once_then_only_changed_data(site):
    rc, lines = hook(site, "post-commit")
    assert rc == 0 and len(lines) == 1 and lines[0].startswith("mlver: snapshot ds@1 ")
    assert hook(site, "post-commit") == (0, [])
    write(site / "data" / "x.csv", "v2\n")
    g(site, "commit", "-q", "--allow-empty", "-m", "new data")
    rc, lines = hook(site, "post-commit")
    assert len(lines) == 1 and lines[0].startswith("mlver: snapshot ds@2 ")
    with Repo(str(site)) as r:
        assert r.show("ds")[1].code.commit == g(site, "rev-parse", "HEAD")


def test_post_commit_failure_is_one_line(site):
    os.rename(site / "data", site / "elsewhere")
    rc, lines = hook(site, "post-commit")
    assert rc == 0 and len(lines) == 1
    assert lines[0].startswith("mlver: post-commit could not snapshot ds: ")
    assert lines[0].endswith("; run mlver snapshot ds")


def test_post_commit_off_in_mlver_toml(site):
    _toml(site, "post-commit = false\n")
    assert hook(site, "post-commit") == (0, [])
    assert versions(site) == 0


def test_a_broken_mlver_toml_is_one_line(site):
    write(site / "mlver.toml", TOML + "on-chekout = 'restore'\n")
    rc, lines = hook(site, "post-commit")
    assert rc == 0 and len(lines) == 1
    assert lines[0].startswith("mlver: post-commit hook failed: ")
    assert "did you mean 'on-checkout'" in lines[0]


def test_post_commit_refuses_an_env_python_it_cannot_trust(site):
    _toml(site, '[env]\npython = "no-such-python-here"\n')
    rc, lines = hook(site, "post-commit")
    assert (rc, lines) == (0, [
        "mlver: post-commit did not snapshot ds: [env] python in mlver.toml names "
        "no-such-python-here, which was not found; or run mlver snapshot ds yourself"])
    assert versions(site) == 0


def test_post_commit_leaves_out_a_name_changed_since_trusted(site):
    write(site / "mlver.toml", TOML.replace('outputs = { data = "data" }',
                                            'outputs = { data = "data", env = ".env" }'))
    rc, lines = hook(site, "post-commit")
    assert rc == 0 and lines == [
        "mlver: post-commit left out ds: [snapshot.ds] of [hooks] snapshot in mlver.toml is "
        "new or changed since mlver hooks install (a merge or a checkout may have changed "
        "it); check mlver.toml, then run mlver hooks trust"]
    assert versions(site) == 0


def test_post_commit_does_nothing_mid_rebase(site):
    os.makedirs(site / ".git" / "rebase-merge")
    assert hook(site, "post-commit") == (0, [])
    assert versions(site) == 0


# --------------------------------------------------------------------------- post-checkout


def test_post_checkout_warns_and_skips_file_checkouts(site):
    feat, main_ = _two_branches(site)
    assert hook(site, "post-checkout", feat, main_, "0") == (0, [])  # a file checkout
    assert hook(site, "post-checkout", main_, main_, "1") == (0, [])  # no commit change
    rc, lines = hook(site, "post-checkout", feat, main_, "1")
    assert (rc, lines) == (0, [
        f"mlver: ds@1 (commit {main_[:7]}, the latest on this branch's history; ds@2 is not "
        "on it) differs here: data modified; mlver checkout ds@1 restores it"])
    import shutil

    shutil.rmtree(site / "data")
    assert hook(site, "post-merge", "0")[1] == [
        f"mlver: ds@1 (commit {main_[:7]}, the latest on this branch's history; ds@2 is not "
        "on it) differs here: data removed; mlver checkout ds@1 restores it"]


def test_post_checkout_restores_all_or_nothing(site):
    _toml(site, 'on-checkout = "restore"\n')
    feat, main_ = _two_branches(site)
    rc, lines = hook(site, "post-checkout", feat, main_, "1")
    assert (rc, lines) == (0, [
        f"mlver: restored data from ds@1 (commit {main_[:7]}, the latest on this branch's "
        "history; ds@2 is not on it)"])
    assert (site / "data" / "x.csv").read_text() == "v1\n"
    assert hook(site, "post-checkout", feat, main_, "1") == (0, [])  # nothing differs
    write(site / "data" / "x.csv", "my local edit\n")
    g(site, "checkout", "-q", "feat")
    rc, lines = hook(site, "post-checkout", main_, feat, "1")
    assert rc == 0 and len(lines) == 1
    assert lines[0].startswith(f"mlver: restored nothing of ds@2 (commit {feat[:7]}, ")
    assert lines[0].endswith("then mlver checkout ds@2 restores data together")
    assert (site / "data" / "x.csv").read_text() == "my local edit\n"


def test_restore_not_trusted_only_warns(site):
    feat, main_ = _two_branches(site)
    write(site / "mlver.toml", TOML + 'on-checkout = "restore"\n')  # not trusted
    rc, lines = hook(site, "post-checkout", feat, main_, "1")
    assert rc == 0 and lines[0] == (
        "mlver: post-checkout only warns: [hooks] on-checkout is now \"restore\", which "
        "mlver hooks install did not trust (a merge or a checkout may have changed it); "
        "check mlver.toml, then run mlver hooks trust")
    assert lines[1].endswith("differs here: data modified; mlver checkout ds@1 restores it")
    assert (site / "data" / "x.csv").read_text() == "v2\n"


def test_post_checkout_does_nothing_mid_bisect_or_with_no_names(site):
    feat, main_ = _two_branches(site)
    (site / ".git" / "BISECT_LOG").write_text("")
    assert hook(site, "post-checkout", feat, main_, "1") == (0, [])
    os.unlink(site / ".git" / "BISECT_LOG")
    write(site / "mlver.toml", TOML.replace('snapshot = ["ds"]', "snapshot = []"))
    assert hook(site, "post-merge", "0") == (0, [])


# --------------------------------------------------------------------------- pre-push


def _remote(root: Path, url: str) -> None:
    r = cli("remote", "add", "shared", url, "--default")
    assert r.exit_code == 0, r.output
    g(root, "commit", "-q", "-am", "remote")


def test_pre_push_without_a_default_remote_lets_the_push_go(site):
    assert hook(site, "pre-push", "origin", "url") == (0, [
        "mlver: no default remote is configured, so no data was pushed (mlver remote add "
        "NAME URL --default sets one)"])


def test_pre_push_pushes_then_stops_on_failure(site, tmp_path):
    _remote(site, str(tmp_path / "store"))
    assert hook(site, "post-commit")[0] == 0
    rc, lines = hook(site, "pre-push", "origin", "url")
    assert rc == 0 and len(lines) == 1
    assert lines[0].startswith("mlver: pushed data to remote 'shared': ")
    assert lines[0].endswith(" already there")
    write(tmp_path / "a-file", "not a folder\n")
    write(site / "mlver.toml", (site / "mlver.toml").read_text().replace(
        str(tmp_path / "store"), str(tmp_path / "a-file" / "store")))
    cli("remote", "trust", "shared")
    rc, lines = hook(site, "pre-push", "origin", "url")
    assert rc == 1 and len(lines) == 1
    assert lines[0].startswith("mlver: pushing data to remote 'shared' failed: ")
    assert lines[0].endswith("git push --no-verify to push without the data)")


def test_pre_push_leaves_out_untrusted_names(site, tmp_path):
    _remote(site, str(tmp_path / "store"))
    assert hook(site, "post-commit")[0] == 0
    text = (site / "mlver.toml").read_text()
    write(site / "mlver.toml", text.replace('outputs = { data = "data" }',
                                            'outputs = { data = "data", env = ".env" }'))
    rc, lines = hook(site, "pre-push", "origin", "url")
    assert rc == 0 and len(lines) == 1  # the consent line only: no name is left to push
    assert lines[0].startswith("mlver: pre-push left out ds: ")
    assert not (tmp_path / "store").exists()


def test_pre_push_ignores_a_broken_hooks_table(site):
    write(site / "mlver.toml", TOML + "on-chekout = 'restore'\n")
    rc, lines = hook(site, "pre-push", "origin", "url")
    assert rc == 0 and lines[0].startswith("mlver: pre-push ignored [hooks] of mlver.toml: ")
    assert lines[1].startswith("mlver: no default remote is configured")


def test_pre_push_stops_on_an_unreadable_mlver_toml(site):
    write(site / "mlver.toml", "[snapshot.ds\n")
    rc, lines = hook(site, "pre-push", "origin", "url")
    assert rc == 1 and len(lines) == 1
    assert lines[0].startswith("mlver: pre-push failed: ")
    assert lines[0].endswith("; the git push is stopped (fix it, or git push --no-verify to "
                             "push without the data)")


# --------------------------------------------------------------------------- status --json


def test_hooks_without_a_store_trust_nothing(git_repo):
    from mlver.integrations.hooks import Hooks

    h = Hooks(str(git_repo))
    assert (h.trust(), h.untrusted(), h.programs()) == ([], [], [])
    assert h.watch().untrusted == () and all(s.enabled for s in h.status())


def test_status_json_names_the_untrusted_watched_names(site):
    def untrusted() -> list[list[str]]:
        r = cli("hooks", "status", "--json")
        assert r.exit_code == 0, r.output
        return [h["untrusted"] for h in json.loads(r.stdout)]

    assert untrusted() == [[], [], [], []]
    write(site / "mlver.toml", TOML.replace('outputs = { data = "data" }',
                                            'outputs = { data = "data", env = ".env" }'))
    assert untrusted() == [["ds"]] * 4
    r = cli("hooks", "status")
    assert r.stdout.splitlines()[-1].startswith("not trusted: ds ([snapshot.ds] is new or ")
    assert cli("hooks", "trust").exit_code == 0
    assert untrusted() == [[], [], [], []]
    write(site / "mlver.toml", "[hooks\n")  # unreadable: no names, the watch note says why
    assert untrusted() == [[], [], [], []]


def test_restore_fetches_the_data_from_the_default_remote(site, tmp_path):
    """A clone that pulled without the data: post-checkout's restore fetches it on demand
    from the default remote (hooksite wires the fetcher as the facade does)."""
    _toml(site, 'on-checkout = "restore"\n')
    _two_branches(site)
    _remote(site, str(tmp_path / "store"))
    with Repo(str(site)) as r:
        r.push()
    other = tmp_path / "other"
    g(tmp_path, "clone", "-q", "-b", "main", str(site), str(other))
    with Repo.init(str(other)) as r:
        r.pull(data=False)
        r.hooks.trust()
    assert not (other / "data").exists()
    head = g(other, "rev-parse", "HEAD")
    rc, lines = hook(other, "post-checkout", "0" * 40, head, "1")
    assert rc == 0 and len(lines) == 1, lines
    at = g(other, "rev-parse", "--short=7", "HEAD~1")  # ds@1's commit: before the remote
    assert lines == [f"mlver: restored data from ds@1 (commit {at}, the latest on this "
                     "branch's history; ds@2 is not on it)"]
    assert (other / "data" / "x.csv").read_text() == "v1\n"
