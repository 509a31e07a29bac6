"""Proof, as tests (issue 9): hostile trees and records through the real ``mlver checkout``
in a subprocess, and bad input to ``checkout``, ``gc`` and ``verify``.

A tree entry or record path with ``..``, an absolute path, a NUL byte or a ``.git`` part, a
path through a link the record makes or one already on disk: ``checkout`` refuses before it
writes anything, in place or with ``--to DIR``, and nothing appears outside the target. Odd
arguments end in one ``Error:`` line (exit 1) or a usage error (exit 2), never a traceback,
and change nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import craft
from .craft import assert_clean_error, mlver, ok


def evil(root: Path, base: str, **outputs: dict) -> str:
    """Publish (as the ref ``evil``) a record that is ``base`` with these outputs."""
    oid = craft.craft_record(root, base, lambda d: d.update(
        outputs=outputs, name="evil", version=1, parents=[]))
    craft.set_ref(root, "evil", oid)
    return oid


def art(path: str, oid: str, type_: str = "blob", size: int = 1) -> dict:
    return {"files": 1, "oid": oid, "path": path, "size": size, "type": type_}


def entry(name: str, oid: str, type_: str = "blob", size: int = 1) -> dict:
    return {"exec": False, "name": name, "oid": oid, "size": size, "type": type_}


def refused(root: Path, rev: str, target: Path | None, *needles: str,
            force: bool = False) -> None:
    """``checkout rev`` (in place, or ``--to target``; also with ``--force``) fails with
    one line and changes nothing: the workspace, the target (not even created) and the
    store stay as they were."""
    work, store = craft.full_listing(root), craft.store_state(root)
    existed = target is not None and target.exists()
    args = ("--to", target) if target is not None else ()
    for extra in ((), ("--force",)) if force else ((),):
        assert_clean_error(mlver(root, "checkout", rev, *args, *extra), *needles)
    assert craft.full_listing(root) == work and craft.store_state(root) == store
    if target is not None and not existed:
        assert not target.exists(), sorted(os.listdir(target))


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder outside the repository and the target; nothing may appear in it."""
    p = tmp_path / "outside"
    p.mkdir()
    return p


# --------------------------------------------------------------------------- hostile trees


@pytest.mark.parametrize("name", ["../x", "/ABS", "a\0b", ".."])
def test_a_tree_entry_that_escapes(proj, two, tmp_path, outside, name):
    name = name.replace("/ABS", str(outside / "abs"))
    blob = craft.write_object(proj, b"pwned\n")
    tree = craft.write_object(proj, craft.tree_bytes([entry("aaa", blob), entry(name, blob)]))
    evil(proj, two["m1"], d=art("d", tree, "tree", 2))
    refused(proj, "evil", None, "not a plain file name")
    refused(proj, "evil", tmp_path / "t", "not a plain file name")
    assert list(outside.iterdir()) == [] and not (tmp_path / "x").exists()


@pytest.mark.parametrize("path", ["../escape", "/ABS", "a\0b", ".git/hooks/pre-commit",
                                  "x/.mlver/refs/names/m"])
def test_a_record_path_that_escapes(proj, two, tmp_path, outside, path):
    path = path.replace("/ABS", str(outside / "abs"))
    blob = craft.write_object(proj, b"#!/bin/sh\necho pwned\n")
    evil(proj, two["m1"], a=art(path, blob))
    target = tmp_path / "t" / "in"
    refused(proj, "evil", None)
    refused(proj, "evil", target)
    assert list(outside.iterdir()) == [] and not (tmp_path / "escape").exists()
    assert not (tmp_path / "t" / "escape").exists()
    assert not (proj / ".git" / "hooks" / "pre-commit").exists()


def test_a_path_through_a_link_the_record_makes(proj, two, tmp_path, outside):
    link = craft.write_object(proj, str(outside).encode())
    blob = craft.write_object(proj, b"pwned\n")
    evil(proj, two["m1"], a=art("esc", link, "link", len(str(outside))),
         b=art("esc/pwned", blob))
    refused(proj, "evil", None, "goes through 'esc', which the record makes a symbolic link")
    refused(proj, "evil", tmp_path / "t", "goes through 'esc'")
    # The same through a tree: the folder holds the link, a second output writes below it.
    tree = craft.write_object(proj, craft.tree_bytes([entry("l", link, "link", 5)]))
    evil(proj, two["m1"], a=art("d", tree, "tree", 5), b=art("d/l/pwned", blob))
    refused(proj, "evil", tmp_path / "t", "goes through 'd/l'")
    assert list(outside.iterdir()) == []


def test_a_path_through_a_link_on_disk(proj, two, tmp_path, outside):
    # In place: the recorded folder ``data`` is now a link out of the repository.
    os.rename(proj / "data", tmp_path / "data-moved")
    os.symlink(outside, proj / "data")
    refused(proj, "m@1", None, "'data'", force=True)
    # With --to: a folder on the way to a recorded file is a link.
    blob = craft.write_object(proj, b"pwned\n")
    evil(proj, two["m1"], a=art("deep/er/x", blob))
    target = tmp_path / "t"
    (target / "deep").mkdir(parents=True)
    os.symlink(outside, target / "deep" / "er")
    before = craft.full_listing(target)
    assert_clean_error(mlver(proj, "checkout", "evil", "--to", target, "--force"),
                       "'deep/er'", "symbolic link")
    assert craft.full_listing(target) == before
    assert list(outside.iterdir()) == []


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("path", ["..", "/etc", "data/../../x"])
def test_checkout_path_outside_the_repository(proj, two, path):
    work = craft.full_listing(proj)
    assert_clean_error(mlver(proj, "checkout", "m@1", path), "outside the mlver repository")
    assert craft.full_listing(proj) == work


def test_checkout_a_file_inside_a_folder_artifact(proj, two, tmp_path):
    ok(mlver(proj, "checkout", "m@1", "data/a.csv", "--to", tmp_path / "t"))
    assert craft.full_listing(tmp_path / "t") == {"data": ("dir",),
                                       "data/a.csv": ("file", b"id,x\n1,10\n")}
    assert_clean_error(mlver(proj, "checkout", "m@1", "data/a.csv/x", "--to", tmp_path / "u"),
                       "not part of this version")
    assert not (tmp_path / "u").exists()


@pytest.mark.parametrize("to", [".mlver", ".mlver/refs/names", ".git/hooks", "sub/.GIT/x"])
def test_checkout_to_inside_the_store_or_git(proj, two, to):
    git_before = sorted(str(p) for p in (proj / ".git").rglob("*"))
    store = craft.store_state(proj)
    assert_clean_error(mlver(proj, "checkout", "m@1", "--to", to),
                       "inside a .git or .mlver folder")
    assert craft.store_state(proj) == store
    assert sorted(str(p) for p in (proj / ".git").rglob("*")) == git_before
    assert not (proj / "sub").exists()


def test_checkout_to_a_file_or_an_unwritable_place(proj, two, tmp_path):
    f = tmp_path / "a-file"
    f.write_text("mine\n")
    assert_clean_error(mlver(proj, "checkout", "m@1", "--to", f), "is a file")
    assert_clean_error(mlver(proj, "checkout", "m@1", "--to", f / "below"), "is a file")
    assert f.read_text() == "mine\n"
    if os.path.isdir("/proc/1"):  # a folder nobody can create files in
        assert_clean_error(mlver(proj, "checkout", "m@1", "--to", "/proc/1"),
                           "cannot check out into /proc/1")


def test_checkout_inputs_and_outputs_together_is_a_usage_error(proj, two):
    proc = mlver(proj, "checkout", "m@1", "--inputs", "--outputs")
    assert proc.returncode == 2 and "cannot be combined" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_files_staged_by_a_killed_checkout_outside_whole_folders_are_removed(proj, two,
                                                                          tmp_path):
    target = tmp_path / "t"
    ok(mlver(proj, "checkout", "m@1", "--to", target))
    dead = ".mlver-999999999-1.tmp"  # no such process
    live = f".mlver-{os.getpid()}-1.tmp"  # this one runs: its files are its own
    for name in (dead, live):
        (target / name).write_text("half a file")
    ok(mlver(proj, "checkout", "m@2", "--to", target))
    assert not (target / dead).exists() and (target / live).exists()
    assert (target / "model.csv").read_text() == craft.big_table(2)


@pytest.mark.parametrize("args", [
    ("gc", "--grace", "-1"), ("gc", "--grace", "5x"), ("gc", "--grace", "9" * 400),
    ("gc", "--grace", "nan"), ("gc", "--keep-last", "0"), ("gc", "--keep-last", "x"),
    ("verify", "--keep-last", "1")])
def test_bad_gc_options_are_usage_errors(proj, two, args):
    before = craft.store_state(proj)
    proc = mlver(proj, *args)
    assert proc.returncode == 2 and "Usage: " in proc.stderr, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert craft.store_state(proj) == before


@pytest.mark.parametrize("revs", [("m@9",), ("m@nosuchtag",), ("m~5",), ("bad rev!",),
                                  ("m@1", "nope")])
def test_verify_unknown_revisions(proj, two, revs):
    before = craft.store_state(proj)
    # a revision that cannot be one is a usage error (issue 19): exit 2, one line
    assert_clean_error(mlver(proj, "verify", *revs), code=2 if revs == ("bad rev!",) else 1)
    assert craft.store_state(proj) == before
