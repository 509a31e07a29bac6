"""Proof, as tests (issue 9), and attacks on verify/gc/checkout with damaged or crafted
stores, all through the real CLI in subprocesses.

One byte flipped in a blob, a tree, a record or a pack: ``verify`` names the object and the
versions it breaks (exit 1), ``checkout`` refuses and writes nothing (the target and the
workspace are unchanged, no temporary file is left, a target it would have created is not
there), ``diff`` names the object. Crafted stores (a garbage ``refs/pruned``, a tag at a
non-record, a record whose folder is a blob, a pack index lying about lengths, links
inside ``.mlver``, a read-only store) end in one ``Error:`` line, never a traceback, and
lose nothing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mlver.store import packs

from . import craft
from .craft import assert_clean_error, mlver, ok


def flip(root, oid: str, at: int = 5) -> str:
    """Flip one byte of the stored copy of ``oid`` in place (in its loose file, or inside
    its data in the .pack file); return the file changed."""
    path, offset = craft.object_path(root, oid), at
    if not path.exists():
        idx, i = craft._packed(root, oid)
        path, offset = Path(idx.pack_path), idx.offsets[i] + at
        idx.close()
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x01]))
    os.chmod(path, 0o444)
    return str(path)


def no_staged_files(path: Path) -> bool:
    return not [p for p in path.rglob(".mlver-*") if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- corruption

CASES = {  # what is damaged: (oid key, kind, versions it breaks)
    "blob": ("model1", "blob", ["m@1"]),  # a loose file
    "tree": ("tree1", "tree", ["m@1"]),
    "record": ("m1", "record", ["m@1"]),
    "pack": ("a1", "blob", ["m@1"]),  # a byte inside a packed object's data
    "pack-shared": ("shared", "blob", ["m@1", "m@2"]),  # ... that both versions hold
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_flipped_byte_is_named_by_verify_refused_by_checkout_named_by_diff(proj, two, case,
                                                                             tmp_path):
    key, kind, breaks = CASES[case]
    oid = two[key]
    where = flip(proj, oid)
    assert where.endswith(".pack") == (case != "blob")
    store_before = craft.store_state(proj)

    proc = mlver(proj, "verify")
    assert f"object {oid} ({kind}) is corrupt: breaks {', '.join(breaks)}" in \
        proc.stdout.splitlines(), proc.stdout
    assert_clean_error(proc, "verify found", "corrupt")
    if case != "blob":  # the pack's own checksum no longer matches either
        assert f"{where} is damaged: pack checksum mismatch" in proc.stdout

    # checkout into a folder that holds a file of the user's, into a folder that does not
    # exist yet, and in place over the workspace (which holds m@2, less the shared file,
    # so that every object of m@1 is needed): nothing changes.
    target = tmp_path / "target"
    craft.write(target / "mine.txt", "mine\n")
    before = craft.full_listing(target)
    (proj / "data" / "sub" / "b.txt").unlink()
    work_before = craft.full_listing(proj)
    for args in (("--to", target), ("--to", tmp_path / "new" / "deeper"), ()):
        proc = mlver(proj, "checkout", "m@1", *args)
        line = assert_clean_error(proc, oid, "corrupt")
        if case != "record":  # (a record that cannot be read names no files at all)
            assert "checkout wrote nothing" in line, line
    assert craft.full_listing(target) == before and no_staged_files(target)
    assert not (tmp_path / "new").exists()
    assert craft.full_listing(proj) == work_before and no_staged_files(proj)
    assert craft.store_state(proj) == store_before  # verify and checkout never write there

    proc = mlver(proj, "diff", "m@1", "m@2")  # (it may cache table profiles in the store)
    assert "Traceback" not in proc.stderr
    if case == "record":
        assert_clean_error(proc, oid)
    elif case == "pack-shared":  # the same in both: diff has no reason to read it
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 0 and oid in proc.stdout, (proc.stdout, proc.stderr)
    if case != "record":
        unbroken = mlver(proj, "checkout", "m@2", "--to", tmp_path / "m2")
        assert (unbroken.returncode == 0) == (breaks == ["m@1"]), unbroken.stderr


# --------------------------------------------------------------------------- crafted stores


def test_garbage_in_refs_pruned(proj, two, tmp_path):
    (proj / ".mlver" / "refs" / "pruned").write_text("garbage\n" + two["m1"] + "\n")
    before = craft.store_state(proj)
    proc = mlver(proj, "verify")
    assert proc.returncode == 1 and "refs/pruned holds a line that is not a record oid" \
        in proc.stdout, proc.stdout
    assert_clean_error(proc, "verify found 1 problem (1 invalid)")
    assert_clean_error(mlver(proj, "gc", "--grace", "0", "--keep-last", "1"), "refs/pruned")
    assert craft.store_state(proj) == before
    ok(mlver(proj, "checkout", "m@1", "--to", tmp_path / "t"))  # the data is all there
    assert (tmp_path / "t" / "model.csv").read_text() == craft.big_table(1)


def test_a_tag_at_an_object_that_is_not_a_record(proj, two, tmp_path):
    tags = proj / ".mlver" / "refs" / "tags" / "m"
    tags.mkdir(parents=True, exist_ok=True)
    (tags / "bad").write_text(two["model2"] + "\n")  # a blob m@2 holds
    before = craft.store_state(proj)
    proc = mlver(proj, "verify")
    assert f"object {two['model2']} (record) is invalid: breaks m@bad" in proc.stdout.splitlines()
    assert_clean_error(proc, "1 invalid")
    assert_clean_error(mlver(proj, "gc", "--grace", "0"), "gc removed nothing",
                       two["model2"])
    proc = mlver(proj, "checkout", "m@bad", "--to", tmp_path / "t")
    assert_clean_error(proc, two["model2"], "not a record")
    assert not (tmp_path / "t").exists()
    assert craft.store_state(proj) == before
    ok(mlver(proj, "tag", "-d", "m@bad"))
    ok(mlver(proj, "verify"))


def test_a_record_whose_folder_is_a_blob_breaks_that_record_only(proj, two, tmp_path):
    """The bytes are a fine file of m@1 and m@2, and no valid tree for the crafted m@3:
    verify must blame m@3 alone, not the versions that hold them as a file."""
    def folder_is_the_model(d):
        d["inputs"]["data"]["oid"] = two["model2"]
        d["version"], d["parents"] = 3, [two["m2"]]
    m3 = craft.craft_record(proj, two["m2"], folder_is_the_model)
    craft.set_ref(proj, "m", m3)
    before = craft.store_state(proj)
    proc = mlver(proj, "verify")
    problems = [ln for ln in proc.stdout.splitlines() if ln.startswith("object ")]
    assert problems == [f"object {two['model2']} (tree) is invalid: breaks m@3"], proc.stdout
    assert_clean_error(proc, "1 problem (1 invalid)")
    assert_clean_error(mlver(proj, "gc", "--grace", "0"),
                       f"gc removed nothing: tree {two['model2']} (reached by m@3) is invalid")
    proc = mlver(proj, "checkout", "m@3", "--to", tmp_path / "t")
    assert_clean_error(proc, two["model2"], "checkout wrote nothing")
    assert not (tmp_path / "t").exists()
    ok(mlver(proj, "checkout", "m@2", "--to", tmp_path / "t2"))
    assert craft.store_state(proj) == before


def test_a_pack_index_that_lies_about_a_length(proj, two, tmp_path):
    idx_path = next((proj / ".mlver" / "objects" / "pack").glob("*.idx"))
    idx = packs.PackIndex(str(idx_path))
    lengths = list(idx.lengths)
    i = lengths.index(min(lengths))
    lengths[i] += 20  # still inside the pack, over the next entry: a valid-looking index
    liar = idx.keys[i].hex()
    data = packs.index_bytes(list(idx.keys), list(idx.offsets), lengths, idx.pack_size,
                             idx.pack_trailer)
    idx.close()
    os.chmod(idx_path, 0o644)
    idx_path.write_bytes(data)
    os.chmod(idx_path, 0o444)
    before = craft.store_state(proj)
    proc = mlver(proj, "verify")
    assert any(ln.startswith(f"object {liar} (") and " is corrupt: breaks " in ln
               for ln in proc.stdout.splitlines()), proc.stdout
    assert_clean_error(proc, "corrupt")
    for rev in ("m@1", "m@2"):
        proc = mlver(proj, "checkout", rev, "--to", tmp_path / rev)
        if proc.returncode:
            assert_clean_error(proc, liar, "checkout wrote nothing")
            assert not (tmp_path / rev).exists()
    craft.assert_ok_or_clean_error(mlver(proj, "gc", "--grace", "0"))
    assert craft.store_state(proj) == before


@pytest.mark.parametrize("folder", ["tmp", "objects", "objects/pack"])
def test_a_linked_store_folder_is_refused_and_nothing_outside_is_deleted(proj, two, tmp_path,
                                                                        folder):
    """gc removes old leftovers in tmp/ and files in objects/: through a link they would
    be someone else's files."""
    outside = tmp_path / "elsewhere"
    inner = proj / ".mlver" / folder
    os.rename(inner, outside)
    os.symlink(outside, inner)
    victim = outside / "pack-0123456789abcdef0123456789abcdef.pack"  # looks like a leftover
    victim.write_text("precious\n")
    os.utime(victim, (1e9, 1e9))
    have = craft.tree_listing(outside)
    craft.write(proj / "data" / "a.csv", "id,x\n3,30\n")
    for args in (("gc", "--grace", "0"), ("snapshot", "m", "-i", "data=data"), ("verify",),
                 ("checkout", "m@1", "--to", tmp_path / "t"), ("log",)):
        assert_clean_error(mlver(proj, *args), f".mlver/{folder}", "symbolic link")
    assert craft.tree_listing(outside) == have
    assert not (tmp_path / "t").exists()


def test_a_linked_fan_out_folder_is_named_by_verify_and_left_by_gc(proj, two, tmp_path):
    oid = two["model1"]
    fan = craft.object_path(proj, oid).parent
    outside = tmp_path / "elsewhere"
    os.rename(fan, outside)
    os.symlink(outside, fan)
    have = craft.tree_listing(outside)
    proc = mlver(proj, "verify")
    assert f"{fan} is damaged: a symbolic link" in proc.stdout, proc.stdout
    assert_clean_error(proc)
    # (a read through it is still checked against the oid, so checkout may use it)
    craft.assert_ok_or_clean_error(mlver(proj, "checkout", "m@1", "--to", tmp_path / "t"))
    gc = mlver(proj, "gc", "--grace", "0", "--keep-last", "1")
    craft.assert_ok_or_clean_error(gc)
    assert craft.tree_listing(outside) == have


@pytest.fixture
def read_only(proj):
    """``proj``'s store mounted read-only (root), or its files made read-only (others)."""
    store = proj / ".mlver"
    if os.geteuid() == 0:
        for cmd in (["mount", "--bind", store, store],
                    ["mount", "-o", "remount,ro,bind", store]):
            r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
            if r.returncode:
                subprocess.run(["umount", str(store)], capture_output=True)
                pytest.skip(f"cannot make a read-only bind mount: {r.stderr.strip()}")
        try:
            yield proj
        finally:
            subprocess.run(["umount", str(store)], capture_output=True)
    else:
        modes = {}
        for p in [store, *store.rglob("*")]:
            modes[p] = p.stat().st_mode
            p.chmod(modes[p] & ~0o222)
        try:
            yield proj
        finally:
            for p, mode in sorted(modes.items(), key=lambda kv: len(str(kv[0]))):
                p.chmod(mode)


@pytest.fixture
def with_garbage(two, proj):
    """An old unreachable object, as a killed snapshot leaves (so gc has work)."""
    junk = craft.write_object(proj, b"J" * craft.BIG)
    os.utime(craft.object_path(proj, junk), (1e9, 1e9))
    return junk


def test_verify_a_read_only_store(with_garbage, read_only, tmp_path):
    proj = read_only
    before = craft.store_state(proj)
    proc = mlver(proj, "verify")
    assert proc.returncode == 0 and "no problems" in proc.stdout, proc.stderr
    craft.assert_ok_or_clean_error(mlver(proj, "verify", "m@1"))
    dry = mlver(proj, "gc", "--dry-run", "--grace", "0")
    craft.assert_ok_or_clean_error(dry)
    assert_clean_error(mlver(proj, "gc", "--grace", "0"))  # it would have to delete
    assert craft.store_state(proj) == before
