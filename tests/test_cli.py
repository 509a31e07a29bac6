"""The command line (click CliRunner): every command's happy path, and errors as one line."""

from __future__ import annotations

import json
import os
import re
import sys
from contextlib import contextmanager

import click
import pytest

from mlver.base import canonical
from mlver.cli import main
from mlver.base.hashing import oid_of

from _fixtures import assert_error
from conftest import assert_one_error, cli, git, store_listing, tmp_files, write

OID = r"[0-9a-f]{32}"


@contextmanager
def store_unchanged(root):
    """Objects and refs are byte-for-byte the same afterwards, and tmp/ is empty."""
    before = store_listing(root)
    yield
    assert store_listing(root) == before
    assert tmp_files(root) == []


def ok(result):
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture
def proj(git_repo, monkeypatch):
    """A git repo with an mlver store made by ``mlver init``; cwd is its root."""
    monkeypatch.chdir(git_repo)
    ok(cli("init"))
    return git_repo


@pytest.fixture
def m1(proj):
    """``m@1`` recorded from a.csv (input) and model.bin (output)."""
    write(proj / "a.csv", "id,v\n1,2\n")
    write(proj / "model.bin", b"\x00model")
    out = json.loads(ok(cli("snapshot", "m", "-i", "a=a.csv", "-o", "model=model.bin",
                            "--json")).stdout)
    return proj, out["oid"]


# -- happy paths -------------------------------------------------------------------------------

@pytest.mark.parametrize("command", main.list_commands(click.Context(main)))
def test_every_command_has_help(command):
    r = ok(cli(command, "--help"))
    assert r.stdout.startswith(f"Usage: main {command}") or f" {command}" in r.stdout.splitlines()[0]


def test_the_command_table_names_each_command_where_it_is_defined():
    """root.COMMANDS says which module to import for a command; once every module is
    loaded, each command's own module is the one the table names, and no command is
    missing from it (a new command left out would be unreachable)."""
    from mlver.cli.root import COMMANDS

    names = main.list_commands(click.Context(main))  # loads every module
    where = {n: main.commands[n].callback.__module__ for n in names}
    assert where == {n: f"mlver.cli.{m}" for n, m in COMMANDS.items()}


def test_version_and_group_help():
    assert re.search(r"version \d+\.\d+", ok(cli("--version")).stdout)
    text = ok(cli("--help")).stdout
    for command in ("init", "snapshot", "log", "show", "status", "tag", "reindex", "diff"):
        assert command in text


def test_init(git_repo, monkeypatch):
    monkeypatch.chdir(git_repo)
    r = ok(cli("init"))
    assert r.stdout == f"Initialized empty mlver store in {git_repo / '.mlver'}\n"
    r = ok(cli("init"))
    assert r.stdout == f"Store already exists in {git_repo / '.mlver'}\n"
    (git_repo / "other").mkdir()
    assert_one_error(cli("init", "other"),
                     f"{git_repo / 'other'} is inside the mlver store of {git_repo}; run mlver "
                     "commands there, or pass --force to create a separate store here")
    assert not (git_repo / "other" / ".mlver").exists()
    ok(cli("init", "--force", "other"))
    assert (git_repo / "other" / ".mlver" / "config.json").is_file()


def test_snapshot_text_output(proj):
    write(proj / "a.csv", "a")
    r = ok(cli("snapshot", "m", "-i", "a=a.csv", "-m", "first"))
    assert re.fullmatch(rf"m@1  ({OID})  \(1 inputs, 0 outputs\)\n", r.stdout)
    assert r.stderr == ""
    r = ok(cli("snapshot", "m", "-i", "a=a.csv"))
    assert r.stdout == "m@1 is unchanged (same content); no new version written\n"
    write(proj / "a.csv", "b")
    write(proj / "out.bin", "o")
    r = ok(cli("snapshot", "m", "-i", "a=a.csv", "-o", "out=out.bin"))
    assert re.fullmatch(rf"m@2  {OID}  \(1 inputs, 1 outputs\)\n", r.stdout)


def test_snapshot_json(m1):
    proj, oid = m1
    d = json.loads(ok(cli("snapshot", "m", "-i", "a=a.csv", "-o", "model=model.bin",
                          "--json")).stdout)
    assert d["oid"] == oid and d["unchanged"] is True and d["version"] == 1
    assert d["inputs"]["a"] == {"path": "a.csv", "oid": oid_of(b"id,v\n1,2\n"), "type": "blob",
                                "size": 9, "files": 1}


def test_snapshot_options(proj):
    write(proj / "data" / "x.csv", "x")
    write(proj / "params.yaml", "lr: 0.1\nmodel:\n  depth: 3\n")
    write(proj / "metrics.json", '{"rmse": 2.5}')
    d = json.loads(ok(cli("snapshot", "ds", "-i", "raw=data", "-p", "params.yaml",
                          "-p", "model.depth=5", "-p", "name=abc", "-M", "metrics.json",
                          "-M", "acc=0.9", "-m", "why", "--kind", "dataset", "--python",
                          sys.executable, "--json")).stdout)
    assert d["kind"] == "dataset" and d["message"] == "why"
    assert d["params"] == {"lr": 0.1, "model": {"depth": 5}, "name": "abc"}
    assert d["metrics"] == {"rmse": 2.5, "acc": 0.9}
    assert d["params_files"] == ["params.yaml"] and d["metrics_files"] == ["metrics.json"]
    assert d["inputs"]["raw"]["type"] == "tree" and d["inputs"]["raw"]["files"] == 1


def test_paths_are_relative_to_the_current_folder(proj, monkeypatch):
    write(proj / "sub" / "local.csv", "l")
    write(proj / "top.csv", "t")
    monkeypatch.chdir(proj / "sub")
    d = json.loads(ok(cli("snapshot", "m", "-i", "l=local.csv", "-i", "t=../top.csv",
                          "--json")).stdout)
    assert d["inputs"]["l"]["path"] == "sub/local.csv"
    assert d["inputs"]["t"]["path"] == "top.csv"


def test_snapshot_from_mlver_toml(proj):
    write(proj / "raw" / "r.csv", "r")
    write(proj / "features.csv", "f")
    write(proj / "mlver.toml", '[snapshot.features]\nkind = "dataset"\ninputs = { raw = "raw" }\n'
                               'outputs = { features = "features.csv" }\n')
    d = json.loads(ok(cli("snapshot", "features", "--json")).stdout)
    assert d["kind"] == "dataset"
    assert set(d["inputs"]) == {"raw"} and set(d["outputs"]) == {"features"}
    # An input given as the revision of another name's output.
    d2 = json.loads(ok(cli("snapshot", "model", "-i", "train=features", "--json")).stdout)
    assert d2["inputs"]["train"]["source"] == d["oid"]
    assert d2["inputs"]["train"]["oid"] == d["outputs"]["features"]["oid"]


def test_log(m1):
    proj, oid1 = m1
    assert ok(cli("log", "--json")).stdout.strip().startswith("[")
    write(proj / "a.csv", "id,v\n1,3\n")
    oid2 = json.loads(ok(cli("snapshot", "m", "-i", "a=a.csv", "-m", "second", "--json")).stdout)["oid"]
    items = json.loads(ok(cli("log", "m", "--json")).stdout)
    assert isinstance(items, list)
    assert [(i["oid"], i["version"]) for i in items] == [(oid2, 2), (oid1, 1)]
    assert items[0]["parents"] == [oid1]
    assert [i["oid"] for i in json.loads(ok(cli("log", "m", "-n", "1", "--json")).stdout)] == [oid2]
    lines = ok(cli("log", "m")).stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(oid2[:10]) and "m@2" in lines[0] and "second" in lines[0]
    assert lines[1].startswith(oid1[:10]) and "m@1" in lines[1]
    commit = git(proj, "rev-parse", "HEAD")[:7]
    assert f"git {commit}" in lines[0]
    assert len(ok(cli("log")).stdout.splitlines()) == 2
    assert ok(cli("log", "-n", "0")).stdout == ""  # asked for nothing: not "no versions yet"


def test_log_of_empty_store(proj):
    assert ok(cli("log")).stdout == "no versions yet\n"
    assert json.loads(ok(cli("log", "--json")).stdout) == []


@pytest.fixture
def m3(m1):
    """m@1..m@3, m@2 tagged prod."""
    proj, oid1 = m1
    oids = [oid1]
    for i in (2, 3):
        write(proj / "a.csv", f"id,v\n1,{i * 10}\n")
        oids.append(json.loads(ok(cli("snapshot", "m", "-i", "a=a.csv", "-o", "model=model.bin",
                                      "--json")).stdout)["oid"])
    ok(cli("tag", "m@2", "prod"))
    return proj, oids


def test_show_revisions(m3):
    _proj, oids = m3
    for rev, index in [("m", 2), ("m@1", 0), ("m@3", 2), ("m@prod", 1), ("m~1", 1), ("m~2", 0),
                       ("m@prod~1", 0)]:
        d = json.loads(ok(cli("show", rev, "--json")).stdout)
        assert (d["oid"], d["version"]) == (oids[index], index + 1), rev


def test_show_oid_prefix_and_json_shape(m3):
    proj, oids = m3
    for oid in oids:
        assert json.loads(ok(cli("show", oid[:10], "--json")).stdout)["oid"] == oid
        assert json.loads(ok(cli("show", oid, "--json")).stdout)["oid"] == oid
    d = json.loads(ok(cli("show", "m@1", "--json")).stdout)
    assert set(d["inputs"]["a"]) == {"path", "oid", "type", "size", "files"}
    assert d["inputs"]["a"] == {"path": "a.csv", "oid": oid_of(b"id,v\n1,2\n"), "type": "blob",
                                "size": 9, "files": 1}
    assert d["outputs"]["model"]["oid"] == oid_of(b"\x00model")
    for key in ("name", "version", "kind", "created", "code", "params", "metrics", "env", "parents"):
        assert key in d
    assert d["code"]["commit"] == git(proj, "rev-parse", "HEAD").strip()


def test_show_text(m3):
    _proj, oids = m3
    text = ok(cli("show", "m@2")).stdout
    assert text.splitlines()[0] == f"m@2  model  {oids[1]}"
    assert f"parent   {oids[0]}" in text
    assert "a.csv" in text and "model.bin" in text and "branch main" in text


def test_tag(m3):
    _proj, oids = m3
    r = ok(cli("tag", "m@1", "gold"))
    assert r.stdout == f"m@gold -> m@1 {oids[0][:10]} (created)\n"  # issue 19: not "moved"
    r = ok(cli("tag", "m@1", "gold"))
    assert r.stdout == f"m@gold -> m@1 {oids[0][:10]}\n"  # already there
    r = ok(cli("tag", "m", "gold"))
    assert r.stdout == f"m@gold -> m@3 {oids[2][:10]} (was {oids[0][:10]})\n"
    assert json.loads(ok(cli("show", "m@gold", "--json")).stdout)["oid"] == oids[2]


# -- tag --list, tag -d, tags in log, show --patch -----------------------------------------------

def test_tag_list(m3):
    proj, oids = m3
    ok(cli("tag", "m@1", "gold"))
    write(proj / "b.csv", "b\n")
    n1 = json.loads(ok(cli("snapshot", "n", "-i", "b=b.csv", "--json")).stdout)["oid"]
    ok(cli("tag", "n", "alpha"))
    every = (f"m@gold -> m@1 {oids[0][:10]}\n"
             f"m@prod -> m@2 {oids[1][:10]}\n"
             f"n@alpha -> n@1 {n1[:10]}\n")
    with store_unchanged(proj):
        assert ok(cli("tag", "--list")).stdout == every
        assert ok(cli("tag", "-l")).stdout == every
        assert ok(cli("tag", "--list", "n")).stdout == f"n@alpha -> n@1 {n1[:10]}\n"
        assert json.loads(ok(cli("tag", "--list", "m", "--json")).stdout) == [
            {"name": "m", "tag": "gold", "oid": oids[0], "version": 1},
            {"name": "m", "tag": "prod", "oid": oids[1], "version": 2},
        ]
        assert [(t["name"], t["tag"]) for t in json.loads(ok(cli("tag", "--list", "--json")).stdout)] \
            == [("m", "gold"), ("m", "prod"), ("n", "alpha")]
        assert_one_error(cli("tag", "--list", "nope"), "unknown revision 'nope'", "names here: m, n")


def test_tag_list_without_tags(m1):
    proj, _ = m1
    with store_unchanged(proj):
        assert ok(cli("tag", "--list")).stdout == "no tags yet\n"
        assert ok(cli("tag", "--list", "m")).stdout == "m has no tags\n"
        assert ok(cli("tag", "--list", "--json")).stdout == "[]\n"
        assert ok(cli("tag", "--list", "m", "--json")).stdout == "[]\n"


def test_tag_list_names_a_tag_whose_record_is_gone(m3):
    proj, oids = m3
    ghost = oid_of(b"no such record")
    write(proj / ".mlver" / "refs" / "tags" / "m" / "ghost", ghost + "\n")
    r = ok(cli("tag", "--list", "m"))
    assert r.stdout == f"m@ghost -> {ghost[:10]} (record unreadable)\nm@prod -> m@2 {oids[1][:10]}\n"
    assert r.stderr == (f"Warning: m@ghost: object {ghost} is missing from the store; restore "
                        ".mlver/objects from a backup or re-snapshot\n")
    assert json.loads(cli("tag", "--list", "--json").stdout)[0] == {
        "name": "m", "tag": "ghost", "oid": ghost, "version": None}
    r = ok(cli("tag", "-d", "m@ghost"))  # a dangling tag can still be deleted
    assert r.stdout == f"Deleted tag m@ghost (was {ghost[:10]} (record unreadable))\n"
    assert ok(cli("tag", "--list", "m")).stdout == f"m@prod -> m@2 {oids[1][:10]}\n"


def test_tag_delete(m3):
    proj, oids = m3
    ok(cli("tag", "m@1", "gold"))
    objects = [x for x in store_listing(proj) if x[0].startswith("objects/")]
    r = ok(cli("tag", "-d", "m@prod"))
    assert (r.stdout, r.stderr) == (f"Deleted tag m@prod (was m@2 {oids[1][:10]})\n", "")
    assert not (proj / ".mlver" / "refs" / "tags" / "m" / "prod").exists()
    assert [x for x in store_listing(proj) if x[0].startswith("objects/")] == objects
    assert tmp_files(proj) == []
    assert ok(cli("tag", "--list")).stdout == f"m@gold -> m@1 {oids[0][:10]}\n"
    # the record stays and resolves by number
    assert json.loads(ok(cli("show", "m@2", "--json")).stdout)["oid"] == oids[1]
    assert [i["oid"] for i in json.loads(ok(cli("log", "m", "--json")).stdout)] == oids[::-1]
    with store_unchanged(proj):
        assert_one_error(cli("show", "m@prod"), "m has no tag 'prod'")
        line = assert_one_error(cli("tag", "-d", "m@prod"))  # twice
        assert line == "Error: m has no tag 'prod' (its tags: gold); see mlver tag --list m"
    r = ok(cli("tag", "--delete", "m@gold"))
    assert r.stdout == f"Deleted tag m@gold (was m@1 {oids[0][:10]})\n"
    with store_unchanged(proj):
        line = assert_one_error(cli("tag", "-d", "m@gold"))
        assert line == "Error: m has no tag 'gold' (it has no tags); see mlver tag --list m"
        assert ok(cli("tag", "--list")).stdout == "no tags yet\n"
    assert json.loads(ok(cli("show", "m@1", "--json")).stdout)["oid"] == oids[0]


def test_tag_delete_errors(m3):
    proj, _ = m3
    with store_unchanged(proj):
        assert_one_error(cli("tag", "-d", "nope@prod"), "unknown revision 'nope'", "names here: m")
        # what cannot be a tag is a usage error (issue 19): exit 2, one line
        assert_error(cli("tag", "-d", "m@3"), "'m@3' names a version, not a tag", code=2)
        assert_error(cli("tag", "-d", "m"), "'m' is not NAME@TAG", code=2)
        assert_error(cli("tag", "-d", "m@prod~1"), "'m@prod~1' is not NAME@TAG", code=2)
        assert_error(cli("tag", "-d", "m@x.lock"), "tag 'x.lock' is not valid", code=2)
        assert_error(cli("tag", "-d", "a/b"), "'a/b' is not a revision", code=2)


@pytest.mark.parametrize("args,message", [
    (["tag", "--list", "--delete", "m@prod"], "--list and --delete cannot be combined; give one of them"),
    (["tag", "--list", "m", "n"], "tag --list takes at most one NAME"),
    (["tag", "-d"], "tag -d takes exactly one NAME@TAG, for example: mlver tag -d price-model@production"),
    (["tag", "-d", "m@prod", "x"], "tag -d takes exactly one NAME@TAG, for example: mlver tag -d price-model@production"),
    (["tag", "m@1", "x", "--json"], "--json works only with --list"),
    (["tag", "-d", "m@prod", "--json"], "--json works only with --list"),
    (["tag", "m"], "Missing argument 'TAG'."),
    (["tag"], "Missing argument 'REV'."),
    (["show", "m", "--patch", "--json"], "--patch and --json cannot be combined: the patch is raw "
                                         "bytes (show --json gives its blob oid as code.patch)"),
])
def test_tag_and_show_usage_errors(m3, args, message):
    proj, _ = m3
    with store_unchanged(proj):
        r = cli(*args)
    assert r.exit_code == 2, (args, r.output)
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0].startswith(f"Usage: mlver {args[0]} ") or lines[0].startswith(f"Usage: main {args[0]} ")
    assert lines[-1] == f"Error: {message}"
    assert ok(cli("tag", "--list")).stdout.count("\n") == 1  # nothing was deleted


def test_tag_usage_line_shows_the_three_forms(m1):
    r = ok(cli("tag", "--help"))
    assert r.stdout.splitlines()[0].endswith(" tag REV TAG | --list [NAME] [--json] | -d NAME@TAG")


def test_log_shows_tags(m3, monkeypatch):
    proj, oids = m3
    ok(cli("tag", "m@2", "gold"))
    write(proj / "b.csv", "b\n")
    ok(cli("snapshot", "n", "-i", "b=b.csv"))
    ok(cli("tag", "n", "prod"))  # same tag name on another name: not shown on m's lines
    from mlver.store.refs import Refs

    calls = []
    real = Refs.tags
    monkeypatch.setattr(Refs, "tags", lambda self, name: calls.append(name) or real(self, name))
    ok(cli("log", "m", "-n", "0"))  # what opening the store reads (the index catch-up)
    opening, calls[:] = list(calls), []
    lines = ok(cli("log", "m")).stdout.splitlines()
    assert calls == opening + ["m"]  # the log reads m's tags once for its three entries
    commit = git(proj, "rev-parse", "HEAD")[:7]
    line = r"  m@{v}                  \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d  git " + commit
    assert re.fullmatch(oids[2][:10] + line.format(v=3), lines[0]), lines[0]
    assert re.fullmatch(oids[1][:10] + line.format(v=2) + r"  \(tags: gold, prod\)", lines[1]), lines[1]
    assert re.fullmatch(oids[0][:10] + line.format(v=1), lines[2]), lines[2]
    items = json.loads(ok(cli("log", "m", "--json")).stdout)
    assert [(i["oid"], i["tags"]) for i in items] == [(oids[2], []), (oids[1], ["gold", "prod"]),
                                                      (oids[0], [])]
    calls.clear()
    items = json.loads(ok(cli("log", "--json")).stdout)
    assert sorted(calls) == sorted(opening + ["m", "n"])
    assert {(i["name"], i["version"]): i["tags"] for i in items} == {
        ("n", 1): ["prod"], ("m", 3): [], ("m", 2): ["gold", "prod"], ("m", 1): []}
    ok(cli("tag", "-d", "m@gold"))
    assert "  (tags: prod)" in ok(cli("log", "m")).stdout.splitlines()[1]


def test_log_with_an_unreadable_tag_warns_and_lists(m3):
    proj, oids = m3
    write(proj / ".mlver" / "refs" / "tags" / "m" / "bad", "garbage\n")
    r = ok(cli("log", "m"))
    assert len(r.stdout.splitlines()) == 3 and "(tags:" not in r.stdout
    warnings = r.stderr.splitlines()
    assert warnings[0].startswith("Warning: m is damaged: ref ")  # the index catch-up's
    assert warnings[-1].startswith("Warning: the tags of m cannot be read: ref ")
    assert warnings[-1].endswith("/refs/tags/m/bad does not hold an oid; restore it from a "
                                 "backup, or delete it to drop the name")
    assert_one_error(cli("tag", "--list"), "/refs/tags/m/bad does not hold an oid")


@pytest.fixture
def dirty(proj):
    """``m@1`` on a clean commit; ``m@2`` with uncommitted text (escape and latin-1 bytes)
    and binary changes in tracked files."""
    write(proj / "blob.bin", bytes(range(256)) * 4)
    git(proj, "add", "blob.bin")
    git(proj, "commit", "-q", "-m", "add blob")
    write(proj / "a.csv", "id,v\n1,2\n")
    ok(cli("snapshot", "m", "-i", "a=a.csv"))
    write(proj / "train.py", b"print('train')\n# \x1b[31mred\x1b[0m caf\xe9\r\n\x07\n")
    write(proj / "blob.bin", bytes(range(255, -1, -1)) * 4 + b"\x00tail")
    write(proj / "a.csv", "id,v\n1,3\n")
    rec = json.loads(ok(cli("snapshot", "m", "-i", "a=a.csv", "--json")).stdout)
    return proj, rec


def test_show_patch_is_git_diff_byte_for_byte(dirty):
    proj, rec = dirty
    expected = git(proj, "diff", "HEAD", "--binary", text=False)
    assert b"GIT binary patch" in expected and b"\x1b[31m" in expected and b"caf\xe9\r\n" in expected
    assert rec["code"]["dirty"] is True
    with store_unchanged(proj):
        r = ok(cli("show", "m", "--patch"))
    assert r.stdout_bytes == expected
    assert r.stderr_bytes == b""
    from mlver.api import Repo

    with Repo(str(proj)) as repo:
        assert repo.store.objects.read(rec["code"]["patch"]) == expected
    # the patch applies to the recorded commit and gives back the recorded files
    after = {p: (proj / p).read_bytes() for p in ("train.py", "blob.bin")}
    git(proj, "checkout", "-q", "--", "train.py", "blob.bin")
    (proj / "m.patch").write_bytes(r.stdout_bytes)
    git(proj, "apply", "--binary", "m.patch", text=False)
    assert {p: (proj / p).read_bytes() for p in after} == after


def test_show_patch_of_a_clean_commit(dirty):
    proj, _rec = dirty
    commit = git(proj, "rev-parse", "HEAD").strip()
    with store_unchanged(proj):
        r = ok(cli("show", "m@1", "--patch"))
    assert r.stdout_bytes == b""
    assert r.stderr == f"m@1 has no uncommitted patch (its code was committed: {commit})\n"


def test_show_patch_outside_git(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ok(cli("init"))
    write(tmp_path / "a.csv", "a\n")
    ok(cli("snapshot", "m", "-i", "a=a.csv"))
    r = ok(cli("show", "m", "--patch"))
    assert (r.stdout, r.stderr) == ("", "m@1 has no uncommitted patch (no git commit was "
                                        "recorded with it)\n")


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_show_patch_whose_blob_is_damaged(proj, damage):
    write(proj / "README.md", "# proj\n" + "a long line of documentation\n" * 6000)  # loose blob
    write(proj / "a.csv", "id,v\n1,2\n")
    rec = json.loads(ok(cli("snapshot", "m", "-i", "a=a.csv", "--json")).stdout)
    blob = rec["code"]["patch"]
    path = proj / ".mlver" / "objects" / blob[:2] / blob[2:]
    assert path.is_file()
    if damage == "missing":
        path.unlink()
    else:
        path.chmod(0o644)
        path.write_bytes(b"x" + path.read_bytes()[1:])
    with store_unchanged(proj):
        line = assert_one_error(cli("show", "m", "--patch"), blob)
    assert line == ({"missing": f"Error: object {blob} is missing from the store; restore "
                                ".mlver/objects from a backup or re-snapshot",
                     "corrupt": f"Error: object {blob} is corrupt (its bytes hash differently); "
                                "restore it from a backup, or delete it and re-snapshot"}[damage])


def test_status(m1):
    proj, oid = m1
    assert ok(cli("status")).stdout == "m@1: clean\n"
    d = json.loads(ok(cli("status", "--json")).stdout)
    assert d == [{"name": "m", "version": 1, "oid": oid, "clean": True, "params_changed": False,
                  "code_changed": False, "slots": d[0]["slots"], "on_branch": True,
                  "latest_version": 1}]
    write(proj / "a.csv", "id,v\n9,9\n")
    with store_unchanged(proj):
        d = json.loads(ok(cli("status", "m", "--json")).stdout)
        text = ok(cli("status")).stdout
    slots = {s["slot"]: s for s in d[0]["slots"]}
    assert d[0]["clean"] is False
    assert slots["a"] == {"side": "input", "slot": "a", "path": "a.csv", "status": "modified",
                          "old": oid_of(b"id,v\n1,2\n"), "new": oid_of(b"id,v\n9,9\n")}
    assert slots["model"]["status"] == "unchanged"
    assert text.splitlines() == ["m@1: changed", "  modified  input a (a.csv)"]


def test_status_of_empty_store(proj):
    assert ok(cli("status")).stdout == "no versions yet\n"


def test_reindex_gives_the_same_log(m3):
    proj, _oids = m3
    before = ok(cli("log", "--json")).stdout
    for suffix in ("", "-wal", "-shm"):
        p = proj / ".mlver" / f"index.sqlite{suffix}"
        if p.exists():
            p.unlink()
    r = ok(cli("reindex"))
    assert r.stdout == "Indexed 3 records\n"
    assert ok(cli("log", "--json")).stdout == before
    assert json.loads(ok(cli("show", "m@prod", "--json")).stdout)["version"] == 2


def test_diff(m3):
    proj, oids = m3
    d = json.loads(ok(cli("diff", "m@1", "m@2", "--json")).stdout)
    assert d["old"]["oid"] == oids[0] and d["new"]["oid"] == oids[1]
    assert "data" in d["changed"]
    assert d["inputs"]["a"]["status"] == "modified"
    assert d["outputs"]["model"]["status"] == "unchanged"
    assert ok(cli("diff", "m@1", "m@2")).stdout.strip()
    # Against the workspace (nothing changed since m@3), writing nothing.
    with store_unchanged(proj):
        d = json.loads(ok(cli("diff", "m", "--json")).stdout)
    assert d["new"].get("workspace") is True and d["inputs"]["a"]["status"] == "unchanged"
    assert cli("diff", "m@1", "m@2", "--exit-code").exit_code == 1
    assert cli("diff", "m", "m@3", "--exit-code").exit_code == 0


# -- errors: exit 1, one line "Error: ...", store unchanged -------------------------------------

def test_missing_input_path(m1):
    proj, _ = m1
    with store_unchanged(proj):
        assert_one_error(cli("snapshot", "m", "-i", "a=a.csv", "-i", "b=nope.csv"),
                         "'nope.csv'", "does not exist")
        assert_one_error(cli("snapshot", "m", "-i", "a=a.csv", "-o", "o=missing/out.bin"),
                         "'missing/out.bin'", "does not exist")


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_link_out_of_the_repository_is_refused(m1):
    proj, _ = m1
    os.symlink("/proc/self/mem", proj / "mem.bin")
    with store_unchanged(proj):
        assert_one_error(cli("snapshot", "m", "-i", "a=a.csv", "-i", "x=mem.bin"),
                         "input 'x' (mem.bin) leads outside the repository through a symbolic link")


def test_unreadable_file_inside_a_folder(m1):
    proj, _ = m1
    os.makedirs(proj / "d")
    os.symlink("/proc/self/mem", proj / "d" / "mem.bin")  # read fails with EIO, even as root
    with store_unchanged(proj):
        assert_one_error(cli("snapshot", "m", "-i", "a=a.csv", "-i", "x=d/mem.bin"),
                         "leads outside the repository")


def test_fifo_in_a_data_folder(m1):
    proj, _ = m1
    write(proj / "data" / "ok.csv", "ok")
    os.mkfifo(proj / "data" / "pipe")
    with store_unchanged(proj):
        assert_one_error(cli("snapshot", "m", "-i", "a=a.csv", "-i", "d=data"),
                         "'data/pipe' is a fifo")


def test_status_of_a_folder_that_now_holds_a_fifo(proj):
    """The folder is there: status must not call it missing (an Error line is fine too)."""
    write(proj / "data" / "ok.csv", "ok")
    ok(cli("snapshot", "m", "-i", "d=data"))
    os.mkfifo(proj / "data" / "pipe")
    r = cli("status", "--json")
    if r.exit_code == 0:
        (slot,) = json.loads(r.stdout)[0]["slots"]
        assert slot["status"] != "missing", slot
    else:
        assert_one_error(r, "'data/pipe' is a fifo")


def test_record_object_missing_from_the_store(m1):
    proj, oid = m1
    for p in (proj / ".mlver" / "objects" / "pack").iterdir():  # the record is packed
        p.unlink()
    for s in ("", "-wal", "-shm"):  # a fresh index must read the record again
        p = proj / ".mlver" / f"index.sqlite{s}"
        if p.exists():
            p.unlink()
    with store_unchanged(proj):
        assert_one_error(cli("show", "m"), oid, "missing")


def test_ref_that_does_not_hold_an_oid(m1):
    proj, _ = m1
    write(proj / ".mlver" / "refs" / "names" / "m", "garbage\n")
    with store_unchanged(proj):
        assert_one_error(cli("show", "m"), "does not hold an oid")


def test_unknown_revision_lists_names(m1):
    proj, _ = m1
    write(proj / "b.csv", "b")
    ok(cli("snapshot", "other", "-i", "b=b.csv"))
    with store_unchanged(proj):
        for args in (["show", "nope"], ["log", "nope"], ["status", "nope"], ["tag", "nope", "x"],
                     ["diff", "nope"], ["show", "m@7"], ["show", "m~5"], ["show", "m@gold"]):
            line = assert_one_error(cli(*args))
            if "nope" in args:
                assert line == "Error: unknown revision 'nope'; names here: m, other", args


def test_oid_prefix_matching_nothing(m1):
    proj, oid = m1
    prefix = next(p for p in ("000000", "ffffff", "123456", "abcdef") if not oid.startswith(p))
    with store_unchanged(proj):
        assert_one_error(cli("show", prefix), f"unknown revision '{prefix}'", "names here: m")


def test_not_a_revision(m1):
    proj, _ = m1
    with store_unchanged(proj):
        assert_error(cli("show", "m@@1"), "'m@@1' is not a revision", code=2)  # issue 19


def test_malformed_params_file(m1):
    proj, _ = m1
    write(proj / "params.yaml", "lr: [0.1\n  bad: : :\n")
    with store_unchanged(proj):
        assert_one_error(cli("snapshot", "m", "-i", "a=a.csv", "-p", "params.yaml"),
                         "cannot parse 'params.yaml'")
        assert_one_error(cli("snapshot", "m", "-i", "a=a.csv", "-M", "nokeyvalue"),
                         "'nokeyvalue'")


@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system that takes any bytes")
def test_non_utf8_file_name_in_a_folder(m1):
    """Stored, or refused with one Error line: never a traceback."""
    proj, _ = m1
    write(proj / "data" / os.fsdecode(b"bad\xff.csv"), "x")
    before = store_listing(proj)
    r = cli("snapshot", "m", "-i", "a=a.csv", "-i", "d=data")
    assert not isinstance(r.exception, UnicodeError), r.exception
    if r.exit_code != 0:
        assert_one_error(r, "bad")
        assert store_listing(proj) == before and tmp_files(proj) == []
    else:
        d = json.loads(ok(cli("show", "m", "--json")).stdout)
        assert d["inputs"]["d"]["files"] == 1


def test_input_without_slot(m1):
    proj, _ = m1
    with store_unchanged(proj):
        # usage errors (issue 19): exit 2, one line
        assert_error(cli("snapshot", "m", "-i", "a.csv"), "-i 'a.csv' is not SLOT=PATH", code=2)
        assert_error(cli("snapshot", "m", "-o", "=model.bin"), "-o '=model.bin' is not SLOT=PATH",
                     code=2)
        assert_error(cli("snapshot", "m", "-i", "a=a.csv", "-i", "a=model.bin"),
                     "slot 'a' is given twice", code=2)


def test_store_of_a_newer_format(m1):
    proj, _ = m1
    cfg = proj / ".mlver" / "config.json"
    cfg.write_text(json.dumps({"format": 99, "hash": "xxh3-128"}))
    with store_unchanged(proj):
        for args in (["log"], ["show", "m"], ["snapshot", "m", "-i", "a=a.csv"], ["status"],
                     ["init"]):
            assert_one_error(cli(*args), "format 99", "upgrade mlver")
    assert json.loads(cfg.read_text())["format"] == 99


def test_outside_any_store(tmp_path, monkeypatch):
    if any((p / ".mlver").is_dir() for p in tmp_path.parents):
        pytest.skip("a folder above the test folder holds a store")
    (tmp_path / "nowhere").mkdir()
    monkeypatch.chdir(tmp_path / "nowhere")
    write(tmp_path / "nowhere" / "a.csv", "a")
    for args in (["log"], ["show", "m"], ["status"], ["snapshot", "m", "-i", "a=a.csv"],
                 ["reindex"], ["tag", "m", "x"]):
        assert_one_error(cli(*args), "no mlver store in", "mlver init")
    assert not (tmp_path / "nowhere" / ".mlver").exists()


def _write_object(root, data: bytes) -> str:
    oid = oid_of(data)
    p = root / ".mlver" / "objects" / oid[:2] / oid[2:]
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    os.chmod(p, 0o444)
    return oid


def test_tampered_record_with_escaping_path(m1):
    proj, oid = m1
    d = json.loads(ok(cli("show", "m", "--json")).stdout)
    del d["oid"]
    d["name"] = "evil"
    d["inputs"]["a"]["path"] = "../../etc/passwd"
    bad = _write_object(proj, canonical.dumps(d))
    write(proj / ".mlver" / "refs" / "names" / "evil", bad + "\n")
    with store_unchanged(proj):
        line = assert_one_error(cli("show", "evil"), "../../etc/passwd", bad)
        assert "not a plain relative path" in line


def test_tampered_tree_with_escaping_entry(proj):
    write(proj / "data" / "x.csv", "x")
    good = json.loads(ok(cli("snapshot", "m", "-i", "d=data", "--json")).stdout)
    bad_tree = _write_object(proj, canonical.dumps({
        "entries": [{"exec": False, "name": "..", "oid": oid_of(b"x"), "size": 1, "type": "blob"}],
        "format": 1, "type": "tree"}))
    d = {k: v for k, v in good.items() if k not in ("oid", "unchanged")}
    d.update(name="evil", version=1, parents=[])
    d["inputs"]["d"]["oid"] = bad_tree
    bad = _write_object(proj, canonical.dumps(d))
    write(proj / ".mlver" / "refs" / "names" / "evil", bad + "\n")
    with store_unchanged(proj):
        assert_one_error(cli("diff", "m", "evil"), "'..'")


def test_missing_python_interpreter(m1):
    proj, _ = m1
    write(proj / "a.csv", "changed")
    with store_unchanged(proj):
        assert_one_error(cli("snapshot", "m", "-i", "a=a.csv", "--python", "/nonexistent/python3"),
                         "'/nonexistent/python3' was not found", "--python")


def test_bad_names_and_tags(m1):
    proj, _ = m1
    with store_unchanged(proj):
        # usage errors (issue 19): exit 2, one line
        assert_error(cli("snapshot", "bad/name", "-i", "a=a.csv"), "name 'bad/name' is not valid",
                     code=2)
        assert_error(cli("tag", "m", "123"), "tag '123' is all digits", code=2)
        assert_error(cli("tag", "m", "a@b"), "tag 'a@b' is not valid", code=2)


def test_snapshot_without_inputs_or_spec(m1):
    proj, _ = m1
    with store_unchanged(proj):
        assert_one_error(cli("snapshot", "newname"), "[snapshot.newname]", "-i SLOT=PATH")
    write(proj / "mlver.toml", "[snapshot.m\n")
    with store_unchanged(proj):
        assert_one_error(cli("snapshot", "m"), "mlver.toml", "not valid TOML")


def test_output_outside_the_repository(m1, tmp_path):
    proj, _ = m1
    write(tmp_path / "elsewhere.bin", "e")
    with store_unchanged(proj):
        assert_one_error(cli("snapshot", "m", "-i", "a=a.csv", "-o", f"o={tmp_path / 'elsewhere.bin'}"),
                         "outside the mlver repository")


def test_usage_errors_exit_2(m1):
    proj, _ = m1
    with store_unchanged(proj):
        for args in (["show"], ["snapshot", "m", "--kind", "robot"], ["log", "-n", "-1"],
                     ["nosuchcommand"], ["tag", "m"], ["diff", "m", "--rows", "x"]):
            r = cli(*args)
            assert r.exit_code == 2, (args, r.output)
            assert "Usage:" in r.output, args


# -- run and lineage ---------------------------------------------------------------------------

TRAIN = ("import json, pathlib; d = pathlib.Path('a.csv').read_text(); "
         "pathlib.Path('out.txt').write_text(d.upper()); "
         "pathlib.Path('metrics.json').write_text(json.dumps({'rows': d.count(chr(10))})); "
         "pathlib.Path('a.csv').write_text('edited during the run')")


def _refs(root):
    return [x for x in store_listing(root) if x[0].startswith("refs/")]


def test_run(proj):
    write(proj / "a.csv", "id,v\n1,2\n")
    r = ok(cli("run", "m", "-i", "a=a.csv", "-o", "out=out.txt", "-M", "metrics.json", "--json",
               "--", sys.executable, "-c", TRAIN))
    d = json.loads(r.stdout)
    assert d["version"] == 1
    assert d["run"]["command"] == [sys.executable, "-c", TRAIN] and d["run"]["exit_code"] == 0
    # Inputs are hashed before the command starts: its edit of a.csv is not credited.
    assert d["inputs"]["a"]["oid"] == oid_of(b"id,v\n1,2\n")
    assert d["outputs"]["out"]["oid"] == oid_of(b"ID,V\n1,2\n")
    assert d["metrics"] == {"rows": 2}
    assert json.loads(ok(cli("show", "m", "--json")).stdout)["run"] == d["run"]


def test_run_errors(proj):
    write(proj / "a.csv", "a")
    before = _refs(proj)
    r = cli("run", "m", "-i", "a=a.csv", "-o", "out=out.txt", "--", sys.executable, "-c",
            "import sys; sys.exit(3)")
    assert r.exit_code == 3
    lines = r.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: command exited with status 3")
    r = cli("run", "m", "-i", "a=a.csv", "-o", "out=out.txt", "--", sys.executable, "-c", "pass")
    assert_one_error(r, "output 'out' (out.txt) was not written")
    assert_one_error(cli("run", "m", "-i", "a=a.csv", "-o", "out=out.txt", "--", "no-such-command-x"),
                     "'no-such-command-x' was not found")
    assert_one_error(cli("run", "m", "-i", "a=a.csv", "-o", "out=out.txt"), "no command given")
    assert _refs(proj) == before == []
    assert tmp_files(proj) == []


def test_lineage(proj):
    write(proj / "raw.csv", "r")
    write(proj / "features.csv", "f")
    ds = json.loads(ok(cli("snapshot", "features", "-i", "raw=raw.csv", "-o",
                           "features=features.csv", "--kind", "dataset", "--json")).stdout)
    write(proj / "model.bin", "m")
    m = json.loads(ok(cli("snapshot", "model", "-i", "train=features.csv", "-o", "model=model.bin",
                          "--json")).stdout)
    g = json.loads(ok(cli("lineage", "model", "--format", "json")).stdout)
    assert g["root"] == m["oid"]
    assert {(n["name"], n["version"]) for n in g["nodes"]} == {("features", 1), ("model", 1)}
    assert g["edges"] == [{"from": ds["oid"], "to": m["oid"], "slot": "train",
                           "oid": oid_of(b"f")}]
    down = json.loads(ok(cli("lineage", "features", "--downstream", "--format", "json")).stdout)
    assert {n["name"] for n in down["nodes"]} == {"features", "model"}
    up = json.loads(ok(cli("lineage", "features", "--upstream", "--format", "json")).stdout)
    assert [n["name"] for n in up["nodes"]] == ["features"] and up["edges"] == []
    for fmt in ("text", "dot", "mermaid"):
        out = ok(cli("lineage", "model", "--format", fmt)).stdout
        assert "features" in out and "model" in out, fmt
    assert ok(cli("lineage", "model", "--format", "dot")).stdout.startswith("digraph")
    with store_unchanged(proj):
        assert_one_error(cli("lineage", "nope"), "unknown revision 'nope'", "features, model")
        r = cli("lineage", "model", "--depth", "-1")  # a usage error, as diff --depth -1
        assert r.exit_code == 2 and "Invalid value for '--depth'" in r.output


def test_reindex_names_a_damaged_name_and_keeps_the_others(m1):
    proj, _oid = m1
    write(proj / ".mlver" / "refs" / "names" / "evil", "not an oid\n")
    r = cli("reindex")
    assert r.exit_code == 0, r.output
    assert "Indexed 1 records" in r.stdout
    assert re.search(r"^Warning: evil is damaged: .*does not hold an oid", r.stderr, re.M)
    assert_one_error(cli("show", "evil"), "evil", "does not hold an oid")
    ok(cli("show", "m"))  # the healthy name still works


@pytest.mark.parametrize("damage", ["bytes", "folder"])
def test_unreadable_ref_is_an_error_not_a_traceback(m1, damage):
    proj, _oid = m1
    bad = proj / ".mlver" / "refs" / "names" / "bad"
    if damage == "bytes":
        bad.write_bytes(b"\xff\xfe")
        assert_one_error(cli("show", "bad"), "bad")
    else:
        bad.mkdir()
    ok(cli("log"))  # the other names still work
    ok(cli("show", "m"))


def test_a_path_missing_from_the_current_folder_is_not_taken_from_the_root(proj, monkeypatch):
    write(proj / "data" / "t.csv", "a\n1\n")
    (proj / "sub").mkdir()
    monkeypatch.chdir(proj / "sub")
    with store_unchanged(proj):
        assert_one_error(cli("snapshot", "m", "-i", "d=data/t.csv"), "sub/data/t.csv")


def test_unwritable_store_is_one_clear_line(m1, monkeypatch):
    """Root ignores file modes, so the refusal the kernel would give is simulated."""
    import errno

    proj, _ = m1
    real = os.rename

    def refuse(src, dst, *a, **k):
        if "/objects/" in str(dst):
            raise PermissionError(errno.EACCES, "Permission denied", dst)
        return real(src, dst, *a, **k)

    write(proj / "a.csv", "changed\n")
    monkeypatch.setattr(os, "rename", refuse)
    with store_unchanged(proj):
        assert_one_error(cli("snapshot", "m", "-i", "a=a.csv"), "(Permission denied); fix the "
                         "permissions of .mlver (or of the file named), then run again; "
                         "no version was recorded")
