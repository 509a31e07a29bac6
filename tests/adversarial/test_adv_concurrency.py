"""Processes beside each other and processes that die: ``reindex`` racing snapshots
(issue item 8), stale ref locks and old temporary files left by killed processes
(item 11), a full disk while snapshotting (item 12)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from . import craft
from .craft import assert_clean_error, mlver

BAD_SQL = ("disk I/O error", "no such table", "malformed", "database is locked", "Traceback")


# --------------------------------------------------------------------------- item 8

REINDEX_LOOP = r"""
import sys, time, traceback
from mlver.api import Repo
deadline = time.monotonic() + 120
n = 0
while time.monotonic() < deadline:
    try:
        r = Repo(".")
        r.reindex()
        r.close()
        n += 1
    except Exception:
        sys.stderr.write("REINDEX FAILED\n" + traceback.format_exc())
    import os
    if os.path.exists("STOP_REINDEX"):
        break
print(n)
"""


def test_08_reindex_beside_snapshots(adv):
    craft.write(adv / ".git" / "info" / "exclude", "STOP_REINDEX\n")
    craft.write(adv / "data.csv", "id\n0\n")
    craft.snapshot(adv, "m", "-i", "data=data.csv")
    loop = subprocess.Popen([sys.executable, "-c", REINDEX_LOOP], cwd=str(adv),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    failures = []
    n = 20
    try:
        for i in range(1, n):
            craft.write(adv / "data.csv", "id\n" + "".join(f"{j}\n" for j in range(i + 1)))
            proc = mlver(adv, "snapshot", "m", "-i", "data=data.csv", timeout=30)
            if proc.returncode != 0 or any(b in proc.stderr for b in BAD_SQL):
                failures.append(proc.stderr)
            lg = mlver(adv, "log", "m", "-n", "1", timeout=30)
            if lg.returncode != 0 or any(b in lg.stderr for b in BAD_SQL):
                failures.append(lg.stderr)
    finally:
        (adv / "STOP_REINDEX").write_text("")
        out, err = loop.communicate(timeout=60)
    assert int(out.strip() or 0) > 0, err[-2000:]
    assert not failures, failures[:3]
    assert "REINDEX FAILED" not in err, err[-3000:]
    log = json.loads(craft.ok(mlver(adv, "log", "m", "--json")))
    assert sorted(r["version"] for r in log) == list(range(1, n + 1))


# --------------------------------------------------------------------------- item 11


def _dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def _dead_lock(path):
    pid = _dead_pid()
    path.write_text(f"{pid} {socket.gethostname()} 12345\n")


def test_11_stale_lock_of_dead_process_does_not_block(adv):
    craft.two_versions(adv)
    _dead_lock(craft.ref_path(adv, "m").with_name("m.lock"))
    craft.write(adv / "data.csv", "id,x\n9,9\n")
    t = time.monotonic()
    proc = mlver(adv, "snapshot", "m", "-i", "data=data.csv", timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - t < 5, "waited on a lock whose holder is dead"
    assert craft.record_dict(adv, craft.ref_oid(adv, "m"))["version"] == 3
    assert not craft.ref_path(adv, "m").with_name("m.lock").exists()


def test_11_stale_tag_lock_does_not_block(adv):
    craft.two_versions(adv)
    d = adv / ".mlver" / "refs" / "tags" / "m"
    d.mkdir(parents=True, exist_ok=True)
    _dead_lock(d / "prod.lock")
    t = time.monotonic()
    proc = mlver(adv, "tag", "m@1", "prod", timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - t < 5


KILLED_HOLDER = r"""
import os, signal, sys
from mlver.store.refs import Refs
refs = Refs(os.path.join(os.getcwd(), ".mlver"))
path = os.path.join(refs.names_dir, "m")
from mlver.store.refs import locked
with locked(path):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_11_lock_of_sigkilled_holder_does_not_block(adv):
    craft.two_versions(adv)
    p = subprocess.run([sys.executable, "-c", KILLED_HOLDER], cwd=str(adv), capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert craft.ref_path(adv, "m").with_name("m.lock").exists()
    craft.write(adv / "data.csv", "id,x\n9,9\n")
    t = time.monotonic()
    proc = mlver(adv, "snapshot", "m", "-i", "data=data.csv", timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - t < 5


def test_11_sigkill_real_snapshot_while_locked(adv):
    """Kill a real ``mlver snapshot`` at the moment it holds the ref lock."""
    craft.two_versions(adv)
    craft.write(adv / "data.csv", "id,x\n5,5\n")
    # os.replace is how the lock is published: die right before it (lock held, ref not moved).
    script = (
        "import os, signal, sys\n"
        "_real = os.replace\n"
        "def _replace(src, dst, *a, **k):\n"
        "    if '@new-' in str(src):  # the ref's new value, written while the lock is held\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return _real(src, dst, *a, **k)\n"
        "os.replace = _replace\n"
        "from mlver.cli import main\n"
        "sys.argv = ['mlver', 'snapshot', 'm', '-i', 'data=data.csv']\n"
        "main()\n")
    p = subprocess.run([sys.executable, "-c", script], cwd=str(adv), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr)
    assert craft.ref_path(adv, "m").with_name("m.lock").exists()
    assert craft.record_dict(adv, craft.ref_oid(adv, "m"))["version"] == 2
    t = time.monotonic()
    proc = mlver(adv, "snapshot", "m", "-i", "data=data.csv", timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - t < 5
    assert craft.record_dict(adv, craft.ref_oid(adv, "m"))["version"] == 3


def test_11_old_tmp_files_removed_by_next_write(adv):
    craft.two_versions(adv)
    tmp = adv / ".mlver" / "tmp"
    tmp.mkdir(exist_ok=True)
    old = [tmp / "99999-0-0", tmp / "99999-0-1.pack", tmp / "junk"]
    for p in old:
        p.write_bytes(b"x" * 100)
        os.chmod(p, 0o444)
        past = time.time() - 2 * 86400
        os.utime(p, (past, past))
    (tmp / "olddir").mkdir()
    past = time.time() - 2 * 86400
    os.utime(tmp / "olddir", (past, past))
    craft.write(adv / "data.csv", "id,x\n9,9\n")
    craft.ok(mlver(adv, "snapshot", "m", "-i", "data=data.csv"))
    left = [p.name for p in old if p.exists()]
    assert not left, f"old temporary files kept: {left}"


# --------------------------------------------------------------------------- item 12


@pytest.fixture
def small_store(adv, tmp_path):
    """``adv`` whose ``.mlver`` lives on a 2 MiB tmpfs (root only; skipped otherwise)."""
    store = adv / ".mlver"
    saved = tmp_path / "saved_store"
    shutil.copytree(store, saved, symlinks=True)
    shutil.rmtree(store)
    store.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(store)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(store)
        shutil.copytree(saved, store, symlinks=True)
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    try:
        for item in saved.iterdir():
            dst = store / item.name
            if item.is_dir():
                shutil.copytree(item, dst, symlinks=True)
            else:
                shutil.copy2(item, dst)
        yield adv
    finally:
        subprocess.run(["umount", "-l", str(store)], capture_output=True)


def test_12_disk_full(small_store):
    adv = small_store
    craft.write(adv / "small.csv", "id\n1\n")
    craft.ok(mlver(adv, "snapshot", "m", "-i", "data=small.csv"))
    craft.write(adv / "big.bin", os.urandom(5 << 20))
    before = craft.store_state(adv)
    proc = mlver(adv, "snapshot", "m", "-i", "data=small.csv", "-o", "big=big.bin", timeout=30)
    assert_clean_error(proc, "no space left")
    assert craft.tmp_listing(adv) == [], "partial files left in .mlver/tmp"
    assert craft.store_state(adv) == before
    craft.ok(mlver(adv, "log", "m"))
