"""Symbolic links and special files used to escape: links inside ``.mlver/`` that
would make a write land outside the store or read a foreign file (issue item 2),
and capture paths that are links out of the repository or point into ``.mlver`` /
``.git`` (item 4)."""

from __future__ import annotations

import os
import shutil
import sqlite3

import pytest

from . import craft
from .craft import assert_clean_error, mlver


def _foreign_tables(db):
    con = sqlite3.connect(str(db))
    try:
        return sorted(r[0] for r in con.execute("select name from sqlite_master"))
    finally:
        con.close()


# --------------------------------------------------------------------------- item 2


def test_02_symlinked_tags_folder(adv, tmp_path):
    outside = tmp_path / "outside_dir"
    outside.mkdir()
    craft.two_versions(adv, name="model")
    tags = adv / ".mlver" / "refs" / "tags" / "model"
    if tags.exists():
        shutil.rmtree(tags)
    tags.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, tags)
    before = craft.store_state(adv)
    proc = mlver(adv, "tag", "model@2", "x")
    assert not (outside / "x").exists(), "a tag was written through a symlinked folder"
    assert not (outside / "x.lock").exists()
    assert_clean_error(proc)
    assert craft.store_state(adv) == before


def test_02_symlinked_names_folder(adv, tmp_path):
    craft.two_versions(adv, name="model")
    names = adv / ".mlver" / "refs" / "names"
    outside = tmp_path / "outside_names"
    shutil.move(str(names), str(outside))
    os.symlink(outside, names)
    listing = craft.tree_listing(outside)
    craft.write(adv / "data.csv", "id,x\n7,7\n")
    proc = mlver(adv, "snapshot", "model", "-i", "data=data.csv")
    assert craft.tree_listing(outside) == listing, "a ref was written through a symlinked refs/names"
    assert_clean_error(proc)
    # log may refuse, or list from the index while warning about the link.
    log = mlver(adv, "log")
    if log.returncode == 0:
        assert "symbolic link" in log.stderr and log.stderr.startswith("Warning: "), log.stderr
    else:
        assert_clean_error(log)


def test_02_symlinked_ref_file(adv, tmp_path):
    a, b = craft.two_versions(adv, name="model")
    ref = craft.ref_path(adv, "model")
    outside = tmp_path / "outside_ref"
    outside.write_text(b + "\n")
    ref.unlink()
    os.symlink(outside, ref)
    craft.write(adv / "data.csv", "id,x\n7,7\n")
    proc = mlver(adv, "snapshot", "model", "-i", "data=data.csv")
    assert outside.read_text() == b + "\n", "the ref's link target was rewritten"
    assert os.path.islink(ref)
    assert_clean_error(proc)
    assert_clean_error(mlver(adv, "log", "model"))
    assert_clean_error(mlver(adv, "show", "model"))


@pytest.mark.parametrize("cmd", [("log",), ("reindex",), ("log", "model")])
def test_02_symlinked_index_to_foreign_db(adv, tmp_path, cmd):
    craft.two_versions(adv, name="model")
    foreign = tmp_path / "foreign.sqlite"
    con = sqlite3.connect(str(foreign))
    con.execute("create table precious(x)")
    con.execute("insert into precious values (42)")
    con.commit()
    con.close()
    before = foreign.read_bytes()
    store = adv / ".mlver"
    for p in store.glob("index.sqlite*"):
        p.unlink()
    os.symlink(foreign, store / "index.sqlite")
    proc = mlver(adv, *cmd)
    assert _foreign_tables(foreign) == ["precious"], "mlver wrote its tables into a foreign DB"
    assert foreign.read_bytes() == before
    assert_clean_error(proc)


def test_02_symlinked_config_json(adv, tmp_path):
    craft.two_versions(adv, name="model")
    cfg = adv / ".mlver" / "config.json"
    outside = tmp_path / "outside_config.json"
    outside.write_bytes(cfg.read_bytes())
    cfg.unlink()
    os.symlink(outside, cfg)
    assert_clean_error(mlver(adv, "log"), "config.json")


# --------------------------------------------------------------------------- item 4


def _refused(adv, *args):
    before = craft.store_state(adv)
    proc = mlver(adv, "snapshot", "m", *args)
    assert_clean_error(proc)
    assert craft.store_state(adv) == before, "something was stored by a refused snapshot"
    assert craft.tmp_listing(adv) == []
    return proc


def test_04_output_is_link_to_outside_file(adv, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the repository\n")
    os.symlink(secret, adv / "link.txt")
    _refused(adv, "-o", "x=link.txt")


def test_04_input_is_link_to_outside_file(adv, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the repository\n")
    os.symlink(secret, adv / "link.txt")
    _refused(adv, "-i", "x=link.txt")


@pytest.mark.parametrize("flag", ["-i", "-o"])
def test_04_symlinked_folder_pointing_outside(adv, tmp_path, flag):
    d = tmp_path / "outside_folder"
    craft.write(d / "a.csv", "id\n1\n")
    os.symlink(d, adv / "linked")
    _refused(adv, flag, "x=linked")


@pytest.mark.parametrize("flag", ["-i", "-o"])
def test_04_path_through_symlinked_parent(adv, tmp_path, flag):
    d = tmp_path / "outside_folder"
    craft.write(d / "a.csv", "id\n1\n")
    os.symlink(d, adv / "linked")
    _refused(adv, flag, "x=linked/a.csv")


@pytest.mark.parametrize("spec", ["-o x=.mlver", "-o x=.git", "-i x=.mlver/objects",
                                  "-i x=.mlver", "-i x=.git", "-o x=.mlver/refs/names",
                                  "-i x=./.mlver", "-i x=sub/../.mlver"])
def test_04_store_and_git_folders_refused(adv, spec):
    (adv / "sub").mkdir()
    flag, val = spec.split(" ")
    _refused(adv, flag, val)
