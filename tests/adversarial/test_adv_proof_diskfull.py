"""Proof, as tests (issue 9): a full disk, on small tmpfs mounts (root only; skipped
otherwise). A snapshot to a full store, a checkout to a target too small, and a gc whose
repack finds no room each fail with one clear line (or, for gc, succeed), leave the store
and the target as they were (no partial or temporary files), and ``verify`` stays clean.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from . import craft
from .craft import assert_clean_error, mlver, ok


@contextmanager
def tmpfs(path: Path, size: str):
    """Mount a tmpfs of ``size`` at ``path`` (created empty); skip the test when that is
    not possible (not root, no mount)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (a full disk)")
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextmanager
def store_on_tmpfs(root: Path, size: str):
    """``root``'s store moved onto a tmpfs of ``size``."""
    store = root / ".mlver"
    saved = root.parent / "saved-store"
    shutil.move(str(store), str(saved))
    with tmpfs(store, size):
        for item in saved.iterdir():
            if item.is_dir():
                shutil.copytree(item, store / item.name, symlinks=True)
            else:
                shutil.copy2(item, store / item.name)
        yield store


def fill(path: Path, leave: int = 0) -> Path:
    """Fill the file system of ``path`` until about ``leave`` bytes are free."""
    filler = path / "filler"
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize - leave
    with open(filler, "wb") as f:
        try:
            while free > 0:
                n = min(free, 1 << 20)
                f.write(b"\0" * n)
                f.flush()
                free -= n
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return filler


def verify_clean(root: Path) -> None:
    proc = mlver(root, "verify", timeout=60)
    assert proc.returncode == 0 and "no problems" in proc.stdout, (proc.stdout, proc.stderr)


@pytest.mark.parametrize("what", ["many small files", "one large file", "not one byte free"])
def test_snapshot_to_a_full_store(adv, what):
    craft.write(adv / "data" / "keep.txt", "1\n")
    ok(mlver(adv, "snapshot", "m", "-i", "data=data"))
    if what == "many small files":  # they go to a pack, written by several threads
        for i in range(400):
            craft.write(adv / "data" / f"f{i:03}.txt", os.urandom(4000).hex())
    else:
        craft.write(adv / "data" / "big.bin", os.urandom(3 << 20))
    with store_on_tmpfs(adv, "2m") as store:
        # Room for the index to work, not for the new objects; or none at all.
        fill(store, leave=0 if what == "not one byte free" else 256 << 10)
        before = craft.store_state(adv)
        proc = mlver(adv, "snapshot", "m", "-i", "data=data", timeout=60)
        assert_clean_error(proc, "no space left")
        assert craft.store_state(adv) == before
        assert craft.tmp_listing(adv) == []
        verify_clean(adv)
        (store / "filler").unlink()
        assert [r["version"] for r in json.loads(ok(mlver(adv, "log", "m", "--json")))] == [1]


def test_checkout_to_a_target_too_small(adv, tmp_path):
    craft.write(adv / "model.bin", os.urandom(3 << 20))
    craft.write(adv / "data" / "a.csv", "id\n1\n")
    ok(mlver(adv, "snapshot", "m", "-i", "data=data", "-o", "model=model.bin"))
    store = craft.store_state(adv)
    with tmpfs(tmp_path / "small", "1m") as small:
        (small / "mine.txt").write_text("the user's own\n")
        for target in (small, small / "new" / "deeper"):
            proc = mlver(adv, "checkout", "m", "--to", target, timeout=60)
            assert_clean_error(proc, f"no space left on the device holding {target}",
                               "nothing was changed")
            assert sorted(os.listdir(small)) == ["mine.txt"]  # no partial or staged file
            assert (small / "mine.txt").read_text() == "the user's own\n"
    assert craft.store_state(adv) == store


def test_gc_on_a_full_disk(adv, tmp_path):
    """A pack that is two thirds garbage must be rewritten, and the disk has no room for
    the live third: gc fails with one line (or gets through), verify is clean either way,
    and with space back the next gc finishes."""
    for i in range(300):
        craft.write(adv / "data" / f"f{i:03}.txt", os.urandom(1500).hex())
    ok(mlver(adv, "snapshot", "m", "-i", "data=data"))
    for i in range(0, 300, 3):
        for j in (i, i + 1):
            craft.write(adv / "data" / f"f{j:03}.txt", os.urandom(1500).hex())
    ok(mlver(adv, "snapshot", "m", "-i", "data=data"))
    dry = mlver(adv, "gc", "--grace", "0", "--keep-last", "1", "--dry-run")
    assert "1 pack repacked" in ok(dry), dry.stdout
    with store_on_tmpfs(adv, "4m") as store:
        filler = fill(store, leave=64 << 10)  # room for refs/pruned, not for the repack
        proc = mlver(adv, "gc", "--grace", "0", "--keep-last", "1", timeout=60)
        if proc.returncode:
            assert_clean_error(proc, "no space left", str(store))
        assert all(n.endswith(".lock") for n in craft.tmp_listing(adv))
        verify_clean(adv)
        filler.unlink()
        ok(mlver(adv, "gc", "--grace", "0", "--keep-last", "1", timeout=60))
        verify_clean(adv)
        out = tmp_path / "out"
        ok(mlver(adv, "checkout", "m", "--to", out))
        assert craft.tree_listing(out / "data") == craft.tree_listing(adv / "data")
