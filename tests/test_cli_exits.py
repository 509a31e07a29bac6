"""Small defects of issue 19 (item 8): usage errors exit 2 everywhere, the index error
handler works where ``sqlite3.SQLITE_FULL`` is absent, requires-python claims only what the
suite runs on, and a new tag is reported as created, not moved."""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import tomllib
from pathlib import Path

import pytest

from mlver.api import Repo

from _fixtures import assert_error
from _remotes import clone, git, ok, project, run
from conftest import cli, store_listing, write

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def m1(repo):
    write(Path(repo.root) / "a.csv", "id\n1\n")
    ok(repo.root, "snapshot", "m", "-i", "a=a.csv")
    return Path(repo.root)


@pytest.mark.parametrize("args,message", [
    (["snapshot", "m", "-i", "a.csv"], "-i 'a.csv' is not SLOT=PATH; write it as -i "
                                       "train=data/train.csv"),
    (["run", "m", "-o", "model.bin", "--", "true"], "-o 'model.bin' is not SLOT=PATH"),
    (["snapshot", "m", "-i", "a=a.csv", "-i", "a=b.csv"], "slot 'a' is given twice to -i; "
                                                          "give each slot once"),
    (["snapshot", "bad@name", "-i", "a=a.csv"], "name 'bad@name' is not valid; use letters"),
    (["snapshot", "m", "-i", "x/y=a.csv"], "slot 'x/y' is not valid"),
    (["tag", "m", "123"], "tag '123' is all digits and would read as a version"),
    (["tag", "m", "a~b"], "tag 'a~b' is not valid"),
    (["tag", "-d", "m"], "'m' is not NAME@TAG"),
    (["show", "a/b"], "'a/b' is not a revision"),
    (["diff", "m@@1"], "'m@@1' is not a revision"),
    (["remote", "add", "a@b", "/tmp/x"], "remote name 'a@b' is not valid"),
])
def test_malformed_names_and_values_exit_2_with_one_line(m1, args, message):
    before = store_listing(m1)
    r = cli(*args)
    assert_error(r, message, code=2)
    assert store_listing(m1) == before


@pytest.mark.parametrize("args", [["lineage", "m", "--depth", "-1"],
                                  ["diff", "m", "--depth", "-1"]])
def test_a_negative_depth_is_a_usage_error(m1, args):
    r = cli(*args)
    assert r.exit_code == 2
    assert r.stderr.splitlines()[-1] == ("Error: Invalid value for '--depth': -1 is not in the "
                                         "range x>=0.")


def test_what_the_store_decides_still_exits_1(m1):
    assert_error(cli("show", "nope"), "unknown revision 'nope'", code=1)
    assert_error(cli("show", "m@7"), "m has no version 7", code=1)
    # a bad slot written in mlver.toml is the file's error, not the command line's
    write(m1 / "mlver.toml", '[snapshot.m]\ninputs = {"x/y" = "a.csv"}\n')
    assert_error(cli("snapshot", "m"), "slot 'x/y' is not valid", code=1)


def test_an_index_error_is_reported_where_sqlite3_lacks_SQLITE_FULL(m1, monkeypatch):
    # Python 3.10's sqlite3 has no SQLITE_FULL: the handler must not crash on it
    monkeypatch.delattr(sqlite3, "SQLITE_FULL", raising=False)

    def full(self):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Repo, "reindex", full)
    r = cli("reindex")
    assert r.exit_code == 1, r.exception
    assert r.output == ("Error: no space left on the device holding .mlver/index.sqlite (database "
                        "or disk is full); free some space and run again\n")


def test_requires_python_claims_only_what_the_suite_runs_on():
    """This machine runs the suite on 3.11 (3.10 is not run): requires-python says >=3.11,
    and mypy checks for the same version."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    low = re.fullmatch(r">=\s*(\d+)\.(\d+)", meta["project"]["requires-python"])
    assert low is not None
    oldest = (int(low[1]), int(low[2]))
    assert oldest == (3, 11)
    assert sys.version_info[:2] >= oldest
    assert meta["tool"]["mypy"]["python_version"] == "%d.%d" % oldest
    assert not any("tomli" in d for d in meta["project"]["dependencies"])


def test_a_new_tag_is_reported_as_created_by_tag_push_and_pull(tmp_path):
    a = project(tmp_path / "a")
    ok(a, "init")
    ok(a, "remote", "add", "origin", str(tmp_path / "remote"), "--default")
    git(a, "add", "mlver.toml")
    git(a, "commit", "-q", "-m", "remote")
    ok(a, "snapshot", "ds", "-o", "d=data")
    (a / "data" / "a.csv").write_text("id\n9\n")
    ok(a, "snapshot", "ds", "-o", "d=data")
    assert ok(a, "tag", "ds@1", "prod").endswith(" (created)\n")
    out = ok(a, "push")
    assert "tag ds@prod created" in out.splitlines() and "moved" not in out
    b = clone(a, tmp_path / "b")
    r = run(b, "pull", "--json")
    assert json.loads(r.stdout)["tags_created"] == ["ds@prod"]
    moved = ok(a, "tag", "ds@2", "prod")
    assert re.fullmatch(r"ds@prod -> ds@2 [0-9a-f]{10} \(was [0-9a-f]{10}\)\n", moved)
    assert "tag ds@prod moved" in ok(a, "push").splitlines()
    out = ok(b, "pull")
    assert "tag ds@prod moved" in out.splitlines() and "created" not in out
