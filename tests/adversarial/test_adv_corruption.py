"""Damaged stores: a corrupt blob read by diff and snapshot (issue item 7), a damaged
SQLite index (item 9), one damaged record among intact ones (item 10). mlver must
notice and name the damage, never answer silently from bad bytes, never show a raw
sqlite3 traceback, and keep serving what is intact."""

from __future__ import annotations

import os
import sqlite3

import pytest

from . import craft
from .craft import assert_clean_error, assert_ok_or_clean_error, mlver
from mlver.base.hashing import oid_of


def _input_oid(root, rec_oid, slot="data"):
    return craft.record_dict(root, rec_oid)["inputs"][slot]["oid"]


def _names_damage(proc, oid):
    out = proc.stdout + proc.stderr
    return oid[:8] in out and ("corrupt" in out.lower() or "damaged" in out.lower())


# --------------------------------------------------------------------------- item 7


def test_07_corrupt_csv_blob_is_named_not_silently_diffed(adv):
    a, b = craft.two_versions(adv)
    good = craft.ok(mlver(adv, "diff", "m@1", "m@2"))
    assert "+1 rows" in good
    blob = _input_oid(adv, b)
    original = craft.read_object(adv, blob)
    # Same length, one byte flipped: a row count the profile would happily compute.
    craft.overwrite_object(adv, blob, b"id,x\n1,10\n2,20\n3,30\n4\n40\n")
    assert len(craft.read_object(adv, blob)) == len(original)
    proc = mlver(adv, "diff", "m@1", "m@2")
    assert_ok_or_clean_error(proc)
    assert _names_damage(proc, blob), f"corrupt object not named: {proc.stdout}{proc.stderr}"
    assert "+2 rows" not in proc.stdout, "rows counted from corrupt bytes"
    # The profile must not have been cached from the corrupt bytes.
    craft.overwrite_object(adv, blob, original)
    assert craft.ok(mlver(adv, "diff", "m@1", "m@2")) == good


def test_07_corrupt_csv_blob_workspace_diff(adv):
    a, b = craft.two_versions(adv)
    blob = _input_oid(adv, b)
    craft.overwrite_object(adv, blob, b"garbage" * 3)
    (adv / "data.csv").write_text("id,x\n1,10\n")
    proc = mlver(adv, "diff", "m")
    assert_ok_or_clean_error(proc)
    assert _names_damage(proc, blob), proc.stdout + proc.stderr


def test_07_corrupt_packages_blob_is_not_no_packages(adv):
    a, b = craft.two_versions(adv)
    pk = craft.record_dict(adv, b)["env"]["packages"]
    assert pk
    original = craft.read_object(adv, pk)
    # v2 gets a different package list, so diff must read both blobs.
    pk2 = craft.write_object(adv, original + b"zzz-extra==1.0\n")

    def other_env(d):
        d["env"]["packages"] = pk2
        d["env"]["packages_count"] += 1
    craft.set_ref(adv, "m", craft.craft_record(adv, b, other_env))
    ctl = craft.ok(mlver(adv, "diff", "m@1", "m"))  # control: the lists differ
    assert "zzz-extra" in ctl or "1 package added" in ctl, ctl
    # now damage v1's package list (a loose file under its name, if it was packed)
    craft.overwrite_object(adv, pk, b"\xff" + original[1:])
    for args in (("diff", "m@1", "m"), ("diff", "m", "m@1"), ("show", "m@1")):
        proc = mlver(adv, *args)
        assert_ok_or_clean_error(proc)
        out = proc.stdout.lower()
        assert "no packages" not in out and " 0 packages" not in out, (args, proc.stdout)
        if args[0] == "diff":
            assert _names_damage(proc, pk), (args, proc.stdout, proc.stderr)


def test_07_snapshot_rewrites_corrupt_object(adv):
    a, b = craft.two_versions(adv)
    blob = _input_oid(adv, b)
    craft.overwrite_object(adv, blob, b"corrupted bytes\n")
    proc = mlver(adv, "snapshot", "m", "-i", "data=data.csv")
    assert proc.returncode == 0, proc.stderr
    assert oid_of(craft.read_object(adv, blob)) == blob, "the corrupt object was kept"
    assert craft.tmp_listing(adv) == []


def test_07_snapshot_restores_missing_object(adv):
    a, b = craft.two_versions(adv)
    blob = _input_oid(adv, b)
    craft.remove_object(adv, blob)
    craft.ok(mlver(adv, "snapshot", "m", "-i", "data=data.csv"))
    assert oid_of(craft.read_object(adv, blob)) == blob


# --------------------------------------------------------------------------- item 9


def _damage_index(root, how):
    idx = root / ".mlver" / "index.sqlite"
    for side in root.joinpath(".mlver").glob("index.sqlite-*"):
        side.unlink()
    if how == "truncated":
        data = idx.read_bytes()
        idx.write_bytes(data[: len(data) // 3])
    elif how == "short":
        idx.write_bytes(idx.read_bytes()[:50])
    elif how == "garbage":
        idx.write_bytes(os.urandom(8192))
    elif how == "empty":
        idx.write_bytes(b"")
    elif how == "wrong_schema":
        idx.unlink()
        con = sqlite3.connect(str(idx))
        con.execute("create table records(x)")
        con.commit()
        con.close()
    elif how == "folder":
        idx.unlink()
        idx.mkdir()


@pytest.fixture(scope="module")
def _indexed_pristine(tmp_path_factory):
    """m@1 and m@2 with the index built (by ``log``), made once for the 36 cases below."""
    root = craft.make_project(tmp_path_factory.mktemp("indexed") / "proj")
    craft.two_versions(root)
    craft.ok(mlver(root, "log"))
    return root


@pytest.mark.parametrize("how", ["truncated", "short", "garbage", "empty", "wrong_schema", "folder"])
@pytest.mark.parametrize("cmd", [("log",), ("log", "m"), ("lineage", "m"), ("show", "m@1"),
                                 ("reindex",), ("snapshot", "m", "-i", "data=data.csv")],
                         ids=lambda a: "_".join(a[:2]).replace("@", ""))
def test_09_damaged_index(_indexed_pristine, adv, how, cmd):
    import shutil

    shutil.copytree(_indexed_pristine, adv, symlinks=True, dirs_exist_ok=True)
    _damage_index(adv, how)
    proc = mlver(adv, *cmd)
    out = proc.stdout + proc.stderr
    assert "sqlite3." not in out and "Traceback" not in out, out[-2000:]
    assert_ok_or_clean_error(proc)
    if proc.returncode == 0 and cmd[0] == "log":
        assert "m@2" in proc.stdout and "m@1" in proc.stdout


def test_09_read_only_index(adv):
    if os.geteuid() == 0:
        pytest.skip("root ignores file modes")
    craft.two_versions(adv)
    store = adv / ".mlver"
    os.chmod(store / "index.sqlite", 0o444)
    os.chmod(store, 0o555)
    try:
        proc = mlver(adv, "log")
        assert "Traceback" not in proc.stderr
        assert_ok_or_clean_error(proc)
    finally:
        os.chmod(store, 0o755)


# --------------------------------------------------------------------------- item 10


def _three_and_other(root):
    oids = []
    for i in range(3):
        craft.write(root / "data.csv", "id\n" + "".join(f"{j}\n" for j in range(i + 1)))
        oids.append(craft.snapshot(root, "m", "-i", "data=data.csv"))
    craft.write(root / "o.csv", "id\n1\n")
    craft.snapshot(root, "other", "-i", "data=o.csv")
    craft.write(root / "o.csv", "id\n1\n2\n")
    craft.snapshot(root, "other", "-i", "data=o.csv")
    return oids


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing"])
def test_10_one_damaged_record(adv, damage):
    v1, v2, v3 = _three_and_other(adv)
    data = craft.read_object(adv, v2)
    if damage == "garbage":
        craft.overwrite_object(adv, v2, b"\x00garbage" + data[8:])
    elif damage == "truncated":
        craft.overwrite_object(adv, v2, data[: len(data) // 2])
    else:
        craft.remove_object(adv, v2)
    # log of all names: others and intact versions listed, damage named in a warning
    proc = mlver(adv, "log")
    assert proc.returncode == 0, proc.stderr
    for label in ("other@1", "other@2", "m@3"):
        assert label in proc.stdout, (label, proc.stdout)
    assert "Warning" in proc.stderr and v2[:8] in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    # after reindex, m@1 still reachable, log m shows intact versions
    r = mlver(adv, "reindex")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    show1 = mlver(adv, "show", "m@1")
    assert show1.returncode == 0, show1.stderr
    assert v1[:10] in show1.stdout
    craft.ok(mlver(adv, "show", "m@3"))
    logm = mlver(adv, "log", "m")
    assert logm.returncode == 0, logm.stderr
    assert "m@3" in logm.stdout and "m@1" in logm.stdout, logm.stdout
    assert_clean_error(mlver(adv, "show", "m@2"))
    lin = mlver(adv, "lineage", "other")
    assert lin.returncode == 0 and lin.stderr == "", lin.stderr
    craft.ok(mlver(adv, "log", "other"))


def test_10_ref_rewritten_outside_mlver_is_followed(adv):
    """A ref replaced behind mlver's back (restored from a backup, another tool): NAME@2
    must name the record the ref's chain holds, not what a stale index remembers."""
    a, b = craft.two_versions(adv)
    craft.ok(mlver(adv, "log"))  # the index knows m@2 == b

    def other(d):
        d["message"] = "replaced"
    c = craft.craft_record(adv, b, other)
    craft.set_ref(adv, "m", c)
    show = craft.ok(mlver(adv, "show", "m@2"))
    assert c[:10] in show, show
    log = craft.ok(mlver(adv, "log", "m"))
    assert log.count("m@2") == 1, log
