"""Issue 20, §2-§4: one bad record, pack or index never bricks a store; bounded work on
crafted content; what a remote holds stays whole.

Each attack is written the way someone who can write a folder remote (or the store) would
write it: raw files under ``objects/`` and ``refs/``. Sizes that would be slow for real
(3 GiB objects, 256 MiB indexes) are sparse files: every refusal here happens before a
byte of them is read, which is what these tests prove.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlver.base import canonical
from mlver.base.hashing import oid_of
from mlver.store import packs

from . import craft
from .craft import assert_clean_error, mlver, ok

GiB = 1 << 30


# ----------------------------------------------------------------- helpers


def _project(root: Path, remote: Path) -> Path:
    craft.make_project(root)
    ok(mlver(root, "remote", "add", "origin", str(remote), "--local"))
    return root


@pytest.fixture(scope="module")
def _pair_pristine(tmp_path_factory):
    base = tmp_path_factory.mktemp("pair")
    remote = base / "remote"
    a = _project(base / "a", remote)
    craft.write(a / "data" / "x.csv", "id,x\n1,10\n")
    craft.snapshot(a, "m", "-i", "data=data")
    ok(mlver(a, "push", timeout=30))
    _project(base / "b", remote)
    return base


@pytest.fixture
def pair(_pair_pristine, tmp_path):
    """``a`` with m@1 pushed to a folder remote, and ``b``, a fresh project on it (a copy,
    for one test to attack, of a pair made once per module)."""
    base = tmp_path / "w"
    shutil.copytree(_pair_pristine, base, symlinks=True)
    for proj in ("a", "b"):  # the remote's URL names the folder it was made in
        for f in (base / proj / ".mlver" / "config.json",
                  base / proj / ".mlver" / "remotes" / "origin" / "url"):
            if f.exists():
                f.write_text(f.read_text().replace(str(_pair_pristine), str(base)))
    return base / "a", base / "b", base / "remote"


def put_object(remote: Path, data: bytes) -> str:
    """``data`` as a loose object of the folder remote; its oid."""
    oid = oid_of(data)
    p = remote / "objects" / oid[:2] / oid[2:]
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return oid


def sparse_object(remote: Path, oid: str, size: int) -> Path:
    """A loose object file of ``size`` bytes (sparse: no disk used) named ``oid``."""
    p = remote / "objects" / oid[:2] / oid[2:]
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "wb") as f:
        f.truncate(size)
    return p


def remote_record(remote: Path, name: str = "m") -> dict:
    oid = (remote / "refs" / "names" / name).read_text().strip()
    return canonical.loads((remote / "objects" / oid[:2] / oid[2:]).read_bytes()
                           if (remote / "objects" / oid[:2] / oid[2:]).exists()
                           else _packed(remote, oid))


def _packed(remote: Path, oid: str) -> bytes:
    for idx in (remote / "objects" / "pack").glob("*.idx"):
        pi = packs.PackIndex(str(idx))
        i = pi.find(bytes.fromhex(oid))
        if i >= 0:
            return pi.read_at(i)
    raise KeyError(oid)


def set_remote_ref(remote: Path, name: str, oid: str) -> None:
    (remote / "refs" / "names" / name).write_text(oid + "\n")


def no_crash(proc) -> None:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out and "OverflowError" not in out, out[-3000:]
    assert proc.returncode in (0, 1), (proc.returncode, out[-3000:])
    if proc.returncode == 1:
        assert_clean_error(proc)


# ----------------------------------------------------------------- §2 a record's integers


def _huge_version(d: dict, parent: str) -> dict:
    d["version"] = 2 ** 63
    d["parents"] = [parent]
    d["message"] = "huge"
    return d


def test_a_pulled_record_with_a_huge_version_is_refused_before_any_ref_moves(pair):
    a, b, remote = pair
    head = (remote / "refs" / "names" / "m").read_text().strip()
    bad = put_object(remote, canonical.dumps(_huge_version(remote_record(remote), head)))
    set_remote_ref(remote, "m", bad)
    proc = mlver(b, "pull", timeout=30)
    line = assert_clean_error(proc)
    assert line == (f"Error: record {bad} of remote 'origin' ({remote}): version "
                    "'9223372036854775808' is not an integer from 1 to 2147483647")
    assert not (b / ".mlver" / "refs" / "names" / "m").exists()  # nothing moved
    for args in (("log",), ("status",), ("reindex",)):
        ok(mlver(b, *args))
    ok(mlver(b, "verify"))


@pytest.mark.parametrize("field,value", [
    ("version", 2 ** 63), ("version", True), ("version", "3"),
    ("inputs.data.size", 2 ** 64), ("inputs.data.files", -1),
    ("env.packages_count", 2 ** 70), ("run.exit_code", 2 ** 40),
    ("run.duration_s", 1e400)])
def test_every_integer_of_a_record_is_bounded(field, value):
    from mlver.base.errors import RecordFormatError
    from mlver.core.record import Record

    d = {"format": 1, "type": "record", "name": "m", "version": 1, "kind": "dataset",
         "created": "2026-01-01T00:00:00Z", "parents": [], "author": None, "message": "",
         "inputs": {"data": {"path": "d", "oid": "0" * 32, "type": "tree", "size": 1,
                             "files": 1}},
         "outputs": {}, "code": {}, "params": {}, "params_files": [], "metrics": {},
         "metrics_files": [], "env": {"packages_count": 0},
         "run": {"command": ["x"], "exit_code": 0, "started": "t", "duration_s": 1.0}}
    Record.from_dict(d)  # the unchanged record is valid
    *path, last = field.split(".")
    cur = d
    for p in path:
        cur = cur[p]
    cur[last] = value
    with pytest.raises(RecordFormatError):
        Record.from_dict(d)


@pytest.mark.parametrize("field", ["message", "author", "inputs.data.path"])
def test_a_text_that_is_not_unicode_is_refused(field):
    from mlver.base.errors import RecordFormatError
    from mlver.core.record import Record

    d = {"format": 1, "type": "record", "name": "m", "version": 1, "kind": "dataset",
         "created": "2026-01-01T00:00:00Z", "parents": [], "author": None, "message": "",
         "inputs": {"data": {"path": "d", "oid": "0" * 32, "type": "tree", "size": 1,
                             "files": 1}}, "outputs": {}, "code": {}, "params": {},
         "params_files": [], "metrics": {}, "metrics_files": [], "env": {}, "run": None}
    *path, last = field.split(".")
    cur = d
    for p in path:
        cur = cur[p]
    cur[last] = "a\udc80"  # JSON can spell a lone surrogate; SQLite cannot store it
    with pytest.raises(RecordFormatError):
        Record.from_dict(d)


def test_a_record_the_index_cannot_take_is_skipped_and_named(adv):
    from dataclasses import replace

    from mlver.core import history
    from mlver.api import Repo

    craft.write(adv / "data" / "x.csv", "id,x\n1,10\n")
    m1 = craft.snapshot(adv, "m", "-i", "data=data")
    craft.write(adv / "o.csv", "id\n1\n")
    o1 = craft.snapshot(adv, "other", "-i", "data=o.csv")
    store = Repo(str(adv)).store
    good = history.load_record(store, o1)
    bad = replace(history.load_record(store, m1), version=2 ** 63)  # past every check
    skipped: dict[str, str] = {}
    history._add_isolated(store, store.index, [(o1, good), ("f" * 32, bad)], skipped,
                          replace_all=True)
    assert list(skipped) == ["m"]
    assert skipped["m"].startswith(f"record {'f' * 32} cannot be indexed (")
    assert store.index.log() == [o1]


def test_a_local_record_with_a_huge_version_bricks_nothing(adv, tmp_path):
    craft.write(adv / "data" / "x.csv", "id,x\n1,10\n")
    m1 = craft.snapshot(adv, "m", "-i", "data=data")
    craft.write(adv / "other.csv", "id\n1\n")
    craft.snapshot(adv, "other", "-i", "data=other.csv")
    bad = craft.craft_record(adv, m1, lambda d: _huge_version(d, m1))
    craft.set_ref(adv, "m", bad)
    for args in (("log",), ("status",), ("reindex",), ("lineage", "other"),
                 ("tag", "other", "good"), ("checkout", "other", "--to", str(tmp_path / "o")),
                 ("log", "m"), ("checkout", "m", "--to", str(tmp_path / "m"))):
        no_crash(mlver(adv, *args, timeout=30))
    craft.write(adv / "other.csv", "id\n2\n")
    ok(mlver(adv, "snapshot", "other", "-i", "data=other.csv"))
    proc = mlver(adv, "verify", timeout=30)
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.splitlines()[0] == f"object {bad} (record) is invalid: breaks m (latest)"


# ----------------------------------------------------------------- §2 names, links, copies


def test_a_pack_index_with_a_250_character_name_is_ignored(pair):
    a, b, remote = pair
    (remote / "objects" / "pack" / ("pack-" + "a" * 245 + ".idx")).write_bytes(b"x" * 64)
    out = ok(mlver(b, "pull", timeout=30))
    assert "m: new" in out
    assert "no problems" in ok(mlver(b, "verify", "--remote", "origin", timeout=30))


@pytest.mark.parametrize("level", ["objects", "refs", "objects/pack", "refs/names"])
def test_a_folder_of_the_remote_linked_to_the_root_is_refused(pair, level):
    a, b, remote = pair
    target = remote / level
    os.rename(target, target.with_name(target.name + ".real"))
    os.symlink("/", target)
    t = time.monotonic()
    proc = mlver(b, "pull", timeout=20)
    assert time.monotonic() - t < 10
    line = assert_clean_error(proc)
    assert line == (f"Error: remote 'origin' ({remote}): {level} is a symbolic link; mlver "
                    "never follows a link inside a remote (replace it with a real folder)")


def test_a_damaged_copy_in_the_first_pack_does_not_hide_a_good_one(pair):
    a, b, remote = pair
    rec = remote_record(remote)
    tree = rec["inputs"]["data"]["oid"]
    blob = canonical.loads(_packed(remote, tree))["entries"][0]["oid"]
    good = _packed(remote, blob)
    damaged = bytes([good[0] ^ 1]) + good[1:]
    base = remote / "objects" / "pack" / ("pack-" + "0" * 32)  # sorts (and is read) first
    packs.write_pack(str(base) + ".pack", str(base) + ".idx", [(blob, damaged)])
    ok(mlver(b, "pull", timeout=30))
    assert (b / ".mlver").exists()
    ok(mlver(b, "checkout", "m", "--force", timeout=30))
    assert (b / "data" / "x.csv").read_text() == "id,x\n1,10\n"


# ----------------------------------------------------------------- §3 bounded work


def test_pack_indexes_are_bounded_in_total_before_any_is_read(pair):
    from mlver.store.remote_bounds import IDX_TOTAL_MAX

    assert IDX_TOTAL_MAX == 256 << 20  # the bound docs/security.md states
    a, b, remote = pair
    for i in range(2):  # each under the per-file bound, together over the total
        with open(remote / "objects" / "pack" / f"pack-{i:032x}.idx", "wb") as f:
            f.truncate(130 << 20)
    t = time.monotonic()
    proc = mlver(b, "pull", timeout=20)
    assert time.monotonic() - t < 10
    line = assert_clean_error(proc)
    assert line.startswith(f"Error: remote 'origin' ({remote}): its ")
    assert line.endswith(" bytes in all, more than the 268435456 one listing may load; they "
                         "may have been crafted to exhaust memory (remove the packs that were "
                         "not written by mlver, or split the remote)")


def test_verify_remote_refuses_a_3_gib_record_unread(pair):
    a, b, remote = pair
    oid = "ab" * 16
    sparse_object(remote, oid, 3 * GiB)
    set_remote_ref(remote, "big", oid)
    t = time.monotonic()
    proc = mlver(b, "verify", "--remote", "origin", "--json", timeout=20)
    assert time.monotonic() - t < 10
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    [problem] = json.loads(proc.stdout)["problems"]
    assert (problem["oid"], problem["problem"]) == (oid, "invalid")
    assert problem["detail"].startswith(
        f"record {oid}: object {oid} on remote 'origin' ({remote}) is 3221225472 bytes, larger "
        "than any mlver writes"), problem


def test_a_blob_larger_than_its_tree_entry_says_is_refused_before_it_is_copied(pair):
    a, b, remote = pair
    big = "cd" * 16
    sparse_object(remote, big, 64 << 20)
    tree = put_object(remote, craft.tree_bytes(
        [{"exec": False, "name": "big.bin", "oid": big, "size": 1, "type": "blob"}]))
    head = (remote / "refs" / "names" / "m").read_text().strip()
    d = remote_record(remote)
    d["inputs"]["data"].update(oid=tree, size=1, files=1)
    d.update(version=2, parents=[head])
    set_remote_ref(remote, "m", put_object(remote, canonical.dumps(d)))
    proc = mlver(b, "pull", timeout=20)
    line = assert_clean_error(proc)
    assert line == (f"Error: object {big} on remote 'origin' ({remote}) is 67108864 bytes, but "
                    f"the entry 'big.bin' of tree {tree} says it holds 1; nothing was fetched: "
                    "the remote's copy is damaged or crafted (push it again from a store that "
                    "has it intact)")
    assert craft.tmp_listing(b) == []
    assert not (b / ".mlver" / "refs" / "names" / "m").exists()


def test_a_copy_stops_as_soon_as_the_bytes_exceed_the_listed_size(tmp_path):
    import io

    from mlver.base.errors import CorruptObjectError
    from mlver.store.remote_bounds import copy_bounded

    out = io.BytesIO()
    with pytest.raises(CorruptObjectError):
        copy_bounded(io.BytesIO(b"x" * 100), out, 10, "remote 'o'", "objects/ab/cd")
    assert len(out.getvalue()) <= 10


def test_checkout_of_a_tree_bomb_stops_at_once(adv, tmp_path):
    from mlver.core import reach
    from mlver.store import trees

    from .test_adv_bombs import _tree_bomb

    assert reach.MAX_REACH_ENTRIES == trees.MAX_WALK_ENTRIES == 10_000_000
    assert "stops at 10 million entries" in Path(
        __file__).parents[2].joinpath("docs", "security.md").read_text()
    craft.write(adv / "d" / "leaf.csv", "id\n1\n")
    a = craft.snapshot(adv, "m", "-i", "data=d")
    top, size = _tree_bomb(adv)

    def bomb(d):
        d["inputs"]["data"].update(oid=top, size=size, files=2 ** 40)
        d["version"] = 2
        d["parents"] = [a]

    craft.set_ref(adv, "m", craft.craft_record(adv, a, bomb))
    for args in (("checkout", "m", "--force"), ("checkout", "m", "--to", str(tmp_path / "t"))):
        t = time.monotonic()
        proc = mlver(adv, *args, timeout=20)
        assert time.monotonic() - t < 5, args
        assert_clean_error(proc, "tree bomb", "10,000,000")


# ----------------------------------------------------------------- §4 a remote stays whole


def test_a_pruned_store_pushes_its_pruned_state_and_a_clone_pulls_it(tmp_path):
    remote = tmp_path / "remote"
    a = _project(tmp_path / "a", remote)
    craft.write(a / "data" / "x.csv", craft.big_table(1))  # loose objects: gc removes them
    m1 = craft.snapshot(a, "m", "-i", "data=data")
    craft.write(a / "data" / "x.csv", craft.big_table(2))
    m2 = craft.snapshot(a, "m", "-i", "data=data")
    ok(mlver(a, "gc", "--keep-last", "1", "--grace", "0s", timeout=30))
    proc = mlver(a, "push", timeout=30)
    ok(proc)
    assert proc.stderr == "", proc.stderr
    assert (remote / "refs" / "pruned").read_text() == m1 + "\n"
    assert "no problems" in ok(mlver(a, "verify", "--remote", "origin", timeout=30))
    b = _project(tmp_path / "b", remote)
    assert "m: new" in ok(mlver(b, "pull", timeout=30))
    assert (b / ".mlver" / "refs" / "pruned").read_text() == m1 + "\n"
    assert "data removed by gc" in ok(mlver(b, "show", "m@1"))
    ok(mlver(b, "checkout", "m", "--force", timeout=30))
    assert (b / "data" / "x.csv").read_text() == craft.big_table(2)
    assert "no problems" in ok(mlver(b, "verify", timeout=30))
    assert craft.ref_oid(b, "m") == m2


def test_a_pruned_version_is_whole_again_once_a_store_with_its_data_pushes_it(tmp_path):
    remote, fresh = tmp_path / "remote", tmp_path / "fresh"
    a = _project(tmp_path / "a", remote)
    ok(mlver(a, "remote", "add", "fresh", str(fresh), "--local"))
    craft.write(a / "data" / "x.csv", craft.big_table(1))
    m1 = craft.snapshot(a, "m", "-i", "data=data")
    craft.write(a / "data" / "x.csv", craft.big_table(2))
    craft.snapshot(a, "m", "-i", "data=data")
    ok(mlver(a, "push", "origin", timeout=30))
    b = _project(tmp_path / "b", remote)  # a full copy of both versions
    ok(mlver(b, "pull", "origin", timeout=30))
    ok(mlver(b, "remote", "add", "fresh", str(fresh), "--local"))
    ok(mlver(a, "gc", "--keep-last", "1", "--grace", "0s", timeout=30))
    ok(mlver(a, "push", "fresh", timeout=30))
    assert (fresh / "refs" / "pruned").read_text() == m1 + "\n"
    ok(mlver(b, "push", "fresh", timeout=30))  # brings m@1's data
    c = _project(tmp_path / "c", fresh)
    ok(mlver(c, "pull", timeout=30))
    assert not (c / ".mlver" / "refs" / "pruned").exists()
    ok(mlver(c, "checkout", "m@1", "--force", timeout=30))
    assert (c / "data" / "x.csv").read_text() == craft.big_table(1)


def test_pushing_versions_pulled_without_data_to_another_remote_is_refused(pair, tmp_path):
    a, b, remote = pair
    ok(mlver(b, "pull", "--no-data", timeout=30))
    other = tmp_path / "other"
    ok(mlver(b, "remote", "add", "other", str(other), "--local"))
    proc = mlver(b, "push", "other", timeout=30)
    line = assert_clean_error(proc)
    assert line == (f"Error: the data of m@1 is not in this store (it was pulled with "
                    f"--no-data), so remote 'other' ({other}) could not pull it back; nothing "
                    "was pushed: run mlver pull without --no-data from the remote that has it, "
                    "then push again")
    assert not (other / "refs" / "names" / "m").exists()


# ----------------------------------------------------------------- §4 tmp leftovers


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_the_next_writer_removes_a_dead_writers_fresh_leftovers(pair):
    a, b, remote = pair
    tmp = b / ".mlver" / "tmp"
    tmp.mkdir(exist_ok=True)
    dead = _dead_pid()
    for name in (f"{dead}-0-0", f"{dead}-0-1.dl", f"{dead}-0-pack-{'1' * 32}.pack"):
        (tmp / name).write_bytes(b"partial")
    (tmp / f"{os.getpid()}-0-0").write_bytes(b"a live writer's")  # this pytest is alive
    ok(mlver(b, "pull", timeout=30))
    assert craft.tmp_listing(b) == [f"{os.getpid()}-0-0"]


def test_a_pull_that_runs_out_of_space_leaves_nothing_in_tmp(tmp_path):
    from .test_adv_proof_diskfull import fill, store_on_tmpfs

    remote = tmp_path / "remote"
    a = _project(tmp_path / "a", remote)
    craft.write(a / "big.bin", os.urandom(3 << 20))
    craft.write(a / "small" / "s.txt", "s\n")
    craft.snapshot(a, "m", "-i", "data=big.bin", "-i", "s=small")
    ok(mlver(a, "push", timeout=30))
    b = _project(tmp_path / "b", remote)
    with store_on_tmpfs(b, "8m") as store:
        filler = fill(store, leave=1 << 20)
        proc = mlver(b, "pull", timeout=30)
        assert_clean_error(proc, "no space left")
        assert os.listdir(store / "tmp") == []
        filler.unlink()
        ok(mlver(b, "pull", timeout=30))
        assert os.listdir(store / "tmp") == []
