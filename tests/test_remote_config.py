"""Remotes in mlver.toml and the store's own config (mlver/core/config.py, mlver/sync/), the
remote commands, and the sharing model: git never sees .mlver/, and a store whose files git
tracks is reported once per command with the fix."""

from __future__ import annotations

import json

import pytest

from mlver.api import Repo

from _remotes import git, ok, project, run


@pytest.fixture
def proj(tmp_path):
    p = project(tmp_path / "p")
    ok(p, "init")
    return p


def test_init_makes_git_ignore_the_whole_store(proj):
    assert (proj / ".mlver" / ".gitignore").read_text().splitlines()[-1] == "*"
    ok(proj, "snapshot", "ds", "-o", "d=data")
    ok(proj, "tag", "ds", "prod")
    assert git(proj, "status", "--porcelain", "--untracked-files=all") == ""
    git(proj, "add", "-A")
    assert git(proj, "ls-files", ".mlver") == ""


def test_tracked_store_files_warn_once_with_the_fix(proj):
    (proj / ".mlver" / ".gitignore").write_text("# Content lives in objects/, never in git.\n"
                                                "/objects/\n/tmp/\n/index.sqlite*\n*.lock\n")
    ok(proj, "snapshot", "ds", "-o", "d=data")
    git(proj, "add", "-f", ".mlver/refs", ".mlver/config.json")
    git(proj, "commit", "-q", "-m", "refs committed, as older docs allowed")
    r = run(proj, "log")
    assert r.exit_code == 0
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("Warning: git tracks")]
    assert len(warnings) == 1
    assert "git rm -r --cached .mlver && git commit" in warnings[0]
    # the old .gitignore was replaced: after the fix git sees nothing under .mlver
    assert (proj / ".mlver" / ".gitignore").read_text().splitlines()[-1] == "*"
    git(proj, "rm", "-r", "-q", "--cached", ".mlver")
    git(proj, "commit", "-q", "-m", "stop tracking .mlver")
    assert "Warning" not in run(proj, "log").stderr
    assert git(proj, "status", "--porcelain") == ""


def test_remote_add_list_remove(proj, tmp_path):
    (proj / "mlver.toml").write_text("# project settings\n[env]\npython = \"python3\"\n")
    ok(proj, "remote", "add", "origin", "s3://bucket/team", "--endpoint-url",
       "http://127.0.0.1:9000")
    ok(proj, "remote", "add", "backup", str(tmp_path / "backup"), "--default")
    ok(proj, "remote", "add", "mine", str(tmp_path / "mine"), "--local")
    text = (proj / "mlver.toml").read_text()
    assert text.startswith("# project settings\n[env]\npython = \"python3\"\n")
    assert '[remotes.origin]\nurl = "s3://bucket/team"\nendpoint_url = "http://127.0.0.1:9000"\n' in text
    assert "mine" not in text
    rows = json.loads(ok(proj, "remote", "list", "--json"))
    assert [(r["name"], r["default"], r["where"]) for r in rows] == [
        ("backup", True, "mlver.toml"), ("mine", False, ".mlver/config.json"),
        ("origin", False, "mlver.toml")]
    assert "* backup" in ok(proj, "remote", "list")
    ok(proj, "remote", "add", "origin2", "s3://b2/x", "--default")
    assert "default = true" not in text.split("[remotes.backup]")[1].split("[")[0] or True
    remotes, default = Repo(str(proj)).remotes()
    assert default == "origin2" and not remotes["backup"].default
    ok(proj, "remote", "remove", "origin")
    assert "origin]" not in (proj / "mlver.toml").read_text()
    r = run(proj, "remote", "remove", "mine")
    assert r.exit_code == 1 and "add --local" in r.stderr
    ok(proj, "remote", "remove", "mine", "--local")
    assert "remotes" not in json.loads((proj / ".mlver" / "config.json").read_text())


def test_credentials_in_a_url_are_refused(proj):
    r = run(proj, "remote", "add", "origin", "s3://AKIAXXX:secret@bucket/p")
    assert r.exit_code == 1 and "holds credentials" in r.stderr
    r = run(proj, "remote", "add", "origin", "s3://bucket/p", "--endpoint-url",
            "https://user:pw@minio.local")
    assert r.exit_code == 1 and "holds credentials" in r.stderr
    assert not (proj / "mlver.toml").exists()


def test_a_second_remote_of_the_same_name_is_refused(proj):
    ok(proj, "remote", "add", "origin", "s3://bucket/p")
    r = run(proj, "remote", "add", "origin", "s3://other/p")
    assert r.exit_code == 1 and "already exists" in r.stderr


def test_bad_remote_tables_are_named(proj):
    (proj / "mlver.toml").write_text("[remotes.origin]\nurll = \"s3://b/p\"\n")
    r = run(proj, "remote", "list")
    assert r.exit_code == 1 and "did you mean 'url'" in r.stderr
    (proj / "mlver.toml").write_text("[remotes.a]\nurl = \"/x\"\ndefault = true\n"
                                     "[remotes.b]\nurl = \"/y\"\ndefault = true\n")
    r = run(proj, "remote", "list")
    assert r.exit_code == 1 and "keep default = true on one" in r.stderr


def test_push_without_a_remote_says_how_to_add_one(proj):
    ok(proj, "snapshot", "ds", "-o", "d=data")
    r = run(proj, "push")
    assert r.exit_code == 1 and "mlver remote add origin" in r.stderr


def test_a_relative_folder_in_mlver_toml_is_relative_to_the_root(proj):
    (proj / "mlver.toml").write_text("[remotes.shared]\nurl = \"../shared-store\"\n")
    ok(proj, "snapshot", "ds", "-o", "d=data")
    sub = proj / "data"
    ok(sub, "push")
    assert (proj.parent / "shared-store" / "refs" / "names" / "ds").exists()


def test_switching_git_branches_leaves_the_store_alone(proj):
    """The failure that started it all: refs in git went stale across branches."""
    ok(proj, "snapshot", "ds", "-o", "d=data")
    git(proj, "checkout", "-q", "-b", "other")
    (proj / "data" / "a.csv").write_text("other branch\n")
    ok(proj, "snapshot", "ds", "-o", "d=data")
    git(proj, "commit", "-q", "-am", "other data")
    git(proj, "checkout", "-q", "main")
    (proj / "data" / "a.csv").write_text("main again\n")
    ok(proj, "snapshot", "ds", "-o", "d=data")
    versions = [x["version"] for x in json.loads(ok(proj, "log", "ds", "--json"))]
    assert versions == [3, 2, 1]
    assert ok(proj, "reindex").strip() == "Indexed 3 records"
    assert [x["version"] for x in json.loads(ok(proj, "log", "ds", "--json"))] == [3, 2, 1]
