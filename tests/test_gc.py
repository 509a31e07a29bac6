"""mlver.ops.gc and ``mlver gc``: what no ref or tag reaches goes, crash-safely; ``--keep-last``
drops the data of old versions and says so."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlver.api import Repo
from mlver.base.errors import ConfigError, CorruptObjectError, LockError, RevisionError
from mlver.ops.gc import format_duration, parse_duration
from mlver.store import scan
from mlver.store.packs import PACK_THRESHOLD

from adversarial import craft
from conftest import cli, store_listing, write

BIG = PACK_THRESHOLD + 100  # stored loose
OLD = time.time() - 7 * 86400  # an mtime well past any grace period


def objects_size(root) -> int:
    base = Path(root) / ".mlver" / "objects"
    return sum(p.stat().st_size for p in base.rglob("*") if p.is_file())


def age(root) -> None:
    """Make every object and pack look a week old (past the default grace period)."""
    for p in (Path(root) / ".mlver" / "objects").rglob("*"):
        if p.is_file():
            os.utime(p, (OLD, OLD))


def garbage(repo, n_small: int = 3, n_big: int = 2) -> tuple[list[str], list[str]]:
    """Objects no record reaches: small ones (one new pack) and big ones (loose)."""
    with repo.store.objects.batch() as b:
        small = [b.add_bytes(f"junk {i}".encode() * 20) for i in range(n_small)]
        big = [b.add_bytes(bytes([200 + i]) * BIG) for i in range(n_big)]
    return small, big


def versions(repo, root, n: int, name: str = "m") -> list[str]:
    """``n`` versions of ``name``: a big output and a small input that change each time,
    and a small config input that never does. Returns the record oids, oldest first."""
    write(root / "config.txt", "constant\n")
    out = []
    for v in range(1, n + 1):
        write(root / "in.csv", f"id\n{v}\n")
        write(root / "model.bin", bytes([v]) * BIG)
        repo.snapshot(name, inputs={"x": "in.csv", "c": "config.txt"},
                      outputs={"model": "model.bin"})
        out.append(repo.resolve(name))
    return out


def data_of(repo, oid: str) -> list[str]:
    rec = repo.record(oid)
    return [a.oid for a in (*rec.inputs.values(), *rec.outputs.values())]


def test_gc_on_an_empty_store(repo):
    res = repo.gc(grace=0)
    assert (res.objects, res.bytes, res.pruned) == (0, 0, ())
    r = cli("gc")
    assert r.exit_code == 0 and r.stdout == "Nothing to remove\n"


def test_removes_unreachable_loose_and_packed_objects_and_keeps_reachable(repo, git_repo):
    recs = versions(repo, git_repo, 2)
    small, big = garbage(repo)
    res = repo.gc(grace=0)
    assert (res.loose, res.packed, res.objects) == (2, 3, 5)
    assert res.packs_removed == 1 and res.bytes >= 2 * BIG
    with Repo(str(git_repo)) as fresh:
        assert not any(fresh.store.objects.has(o) for o in small + big)
        for rec in recs:
            assert all(fresh.store.objects.has(o) for o in data_of(fresh, rec))
        assert fresh.verify().ok
        assert len(fresh.log("m")) == 2
    assert repo.gc(grace=0).objects == 0  # nothing left to do


def test_dry_run_removes_nothing_and_reports_what_a_real_run_removes(repo, git_repo):
    versions(repo, git_repo, 3)
    garbage(repo)
    age(git_repo)
    before = store_listing(git_repo)
    dry = repo.gc(dry_run=True, keep_last=1)
    assert store_listing(git_repo) == before
    assert not (git_repo / ".mlver" / "refs" / "pruned").exists()
    real = repo.gc(keep_last=1)
    assert store_listing(git_repo) != before
    keys = lambda r: {k: v for k, v in r.to_dict().items() if k not in ("dry_run", "seconds")}
    assert keys(dry) == keys(real)
    assert dry.objects > 0 and dry.bytes > 0 and dry.dry_run and not real.dry_run
    r = cli("gc", "--dry-run")
    assert r.exit_code == 0 and r.stdout.splitlines()[0] == "Nothing to remove (dry run)"


def test_grace_period_keeps_young_objects(repo, git_repo):
    versions(repo, git_repo, 1)
    small, big = garbage(repo)
    res = repo.gc()  # default grace: one hour; everything here is seconds old
    assert res.objects == 0 and res.young_objects == 5
    assert all(repo.store.objects.has(o) for o in small + big)
    r = cli("gc")
    assert "Kept 5 unreachable objects" in r.stdout and "younger than the grace period (1h)" in r.stdout
    loose = craft.object_path(git_repo, big[0])
    os.utime(loose, (OLD, OLD))  # one loose object is old now; its pack is still young
    res = repo.gc(grace="1d")
    assert (res.loose, res.packed, res.young_objects) == (1, 0, 4)
    res = repo.gc(grace=0)
    assert (res.loose, res.packed) == (1, 3)


@pytest.mark.parametrize("text,seconds", [
    ("0", 0), ("30", 30), ("30s", 30), ("10m", 600), ("1h", 3600), ("2d", 172800),
    ("1.5h", 5400), (" 5 m ", 300), (45, 45)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1w", "-5", "1h30m", "soon", "5 s s"])
def test_bad_grace_values(text, repo):
    with pytest.raises(ConfigError, match="is not a duration"):
        parse_duration(text)
    r = cli("gc", "--grace", text)
    assert r.exit_code == 2
    assert "Invalid value for '--grace'" in r.stderr and "30s, 10m, 1h, 2d" in r.stderr


def test_format_duration():
    assert [format_duration(s) for s in (3600, 86400, 90, 600, 0, 1.5)] == \
        ["1h", "1d", "90s", "10m", "0s", "1.5s"]


def test_keep_last_drops_old_data_keeps_records_tagged_versions_and_shared_content(repo, git_repo):
    recs = versions(repo, git_repo, 4)
    repo.tag("m@1", "prod")
    res = repo.gc(keep_last=2, grace=0)
    assert [label for _, label in res.pruned] == ["m@2"]
    assert repo.store.refs.pruned() == {recs[1]}
    with Repo(str(git_repo)) as fresh:
        has = fresh.store.objects.has
        m2 = fresh.record(recs[1])
        assert not has(m2.outputs["model"].oid)  # loose: gone
        # m@2's small input shares a pack with its record and package list, which stay:
        # too little garbage in that pack to be worth a rewrite (the 50 % rule).
        assert has(m2.inputs["x"].oid)
        assert has(m2.inputs["c"].oid)  # shared with kept versions
        assert has(m2.env.packages)  # part of the record's meaning: kept
        for kept in (recs[0], recs[2], recs[3]):  # tagged, and the last two
            assert all(has(o) for o in data_of(fresh, kept))
        assert [r.version for _, r in fresh.log("m")] == [4, 3, 2, 1]  # history stays
        assert fresh.verify().ok
        assert fresh.removed_data(recs[1]) == ["output model"]
        assert fresh.removed_data(recs[2]) == []
    r = cli("show", "m@2")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[-1] == ("data removed by gc: output model; mlver pull "
                                         "from a remote that has them can bring them back")
    assert json.loads(cli("show", "m@2", "--json").stdout)["data_removed_by_gc"] == \
        ["output model"]
    assert "data_removed_by_gc" not in json.loads(cli("show", "m@3", "--json").stdout)
    assert "data removed by gc" not in cli("show", "m@3").stdout
    r = cli("diff", "m@2", "m@3")
    assert r.exit_code == 0, r.output
    assert "data removed by gc; mlver pull from a remote that has them can bring them back" in r.stdout
    d = json.loads(cli("diff", "m@2", "m@3", "--json").stdout)
    assert "data removed by gc" in d["outputs"]["model"]["note"]
    assert d["inputs"]["c"]["status"] == "unchanged"
    assert "data removed by gc" not in (d["inputs"]["x"]["note"] or "")
    # A second gc keeps what it kept and marks nothing new (it removes the table profiles
    # the diffs above cached: derived data, rebuilt when needed).
    again = repo.gc(keep_last=2, grace=0)
    assert again.loose == 0 and again.pruned == ()


def test_two_versions_of_a_large_file_shrink_to_one(repo, git_repo):
    size = 3 << 20
    write(git_repo / "big.bin", os.urandom(size))
    repo.snapshot("big", outputs={"f": "big.bin"})
    write(git_repo / "big.bin", os.urandom(size))
    repo.snapshot("big", outputs={"f": "big.bin"})
    assert objects_size(git_repo) > 2 * size
    r = cli("gc", "--keep-last", "1", "--grace", "0")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0].startswith("Removed 1 object (3.1 MB): 1 loose, 0 packed")
    assert "Dropped the data of 1 version (records and history stay): big@1" in r.stdout
    assert size < objects_size(git_repo) < size + (256 << 10)
    assert cli("verify").exit_code == 0


def test_snapshot_after_gc_writes_removed_content_again(repo, git_repo):
    write(git_repo / "a.bin", b"A" * BIG)
    repo.snapshot("first", inputs={"f": "a.bin"})
    write(git_repo / "b.bin", b"B" * BIG)
    repo.snapshot("first", inputs={"f": "b.bin"})
    old_blob = repo.record(repo.resolve("first@1")).inputs["f"].oid
    repo.gc(keep_last=1, grace=0)
    assert not repo.store.objects.has(old_blob)
    # a.bin is unchanged on disk: the stat cache knows its oid, the store no longer has it.
    r = cli("snapshot", "second", "-i", "f=a.bin")
    assert r.exit_code == 0, r.output
    with Repo(str(git_repo)) as fresh:
        assert fresh.store.objects.read(old_blob) == b"A" * BIG
        assert fresh.verify().ok


def test_an_input_taken_from_a_version_whose_data_is_gone(repo, git_repo):
    for content in (b"O", b"P"):
        write(git_repo / "out.bin", content * BIG)
        repo.snapshot("src", outputs={"o": "out.bin"})
    repo.gc(keep_last=1, grace=0)
    with pytest.raises(RevisionError, match="the data of src@1's output out.bin was removed "
                                            "by gc; mlver pull from a remote"):
        repo.snapshot("use", inputs={"f": "src@1"})
    r = cli("snapshot", "use", "-i", "f=src@1")
    assert r.exit_code == 1 and "removed by gc" in r.stderr
    assert repo.store.refs.get("use") is None
    repo.snapshot("use", inputs={"f": "src@2"})  # a version whose data is kept
    assert repo.verify().ok


def test_tags_and_input_sources_keep_what_they_reach(repo, git_repo):
    write(git_repo / "feat.bin", b"F" * BIG)
    repo.snapshot("features", outputs={"f": "feat.bin"}, kind="dataset")
    write(git_repo / "model.bin", b"M" * BIG)
    repo.snapshot("model", inputs={"train": "features@1"}, outputs={"m": "model.bin"})
    write(git_repo / "feat.bin", b"G" * BIG)
    repo.snapshot("features", outputs={"f": "feat.bin"})
    write(git_repo / "lonely.bin", b"L" * BIG)
    repo.snapshot("lonely", outputs={"f": "lonely.bin"})
    repo.tag("lonely@1", "keep")
    lonely = repo.record(repo.resolve("lonely")).outputs["f"].oid
    os.unlink(git_repo / ".mlver" / "refs" / "names" / "lonely")  # only the tag is left
    feat1 = repo.record(repo.resolve("features@1")).outputs["f"].oid
    res = repo.gc(keep_last=1, grace=0)
    assert [label for _, label in res.pruned] == ["features@1"]
    with Repo(str(git_repo)) as fresh:
        assert fresh.store.objects.has(feat1)  # model@1's input, taken from features@1
        assert fresh.store.objects.has(lonely)
        tagged = fresh.store.refs.get_tag("lonely", "keep")
        assert fresh.record(tagged).name == "lonely"  # the tagged record, and its data
        res = fresh.verify()
        assert res.ok and res.records == 4


def test_repack_of_a_mostly_garbage_pack(repo, git_repo):
    for i in range(20):
        write(git_repo / "data" / f"f{i:02}.bin", os.urandom(4000))
    repo.snapshot("d", outputs={"d": "data"}, kind="dataset")
    (first_pack,) = repo.store.objects.packs()
    for i in range(1, 20):  # f00 stays; the rest change
        write(git_repo / "data" / f"f{i:02}.bin", os.urandom(4000))
    repo.snapshot("d", outputs={"d": "data"})
    age(git_repo)
    res = repo.gc(keep_last=1)
    assert res.packs_repacked == 1 and res.packed == 20  # 19 files and the old tree
    with Repo(str(git_repo)) as fresh:
        packs = fresh.store.objects.packs()
        assert first_pack not in packs and len(packs) == 2
        assert fresh.verify().ok
        kept = fresh.record(fresh.resolve("d@2"))
        assert fresh.store.objects.has(kept.outputs["d"].oid)
    assert os.listdir(git_repo / ".mlver" / "tmp") == [] or \
        all(n.endswith(".lock") for n in os.listdir(git_repo / ".mlver" / "tmp"))


def test_a_full_disk_during_a_repack_is_one_line_and_loses_nothing(repo, git_repo, monkeypatch):
    import errno

    from mlver.store import packs

    for i in range(20):
        write(git_repo / "data" / f"f{i:02}.bin", os.urandom(4000))
    repo.snapshot("d", outputs={"d": "data"}, kind="dataset")
    for i in range(1, 20):
        write(git_repo / "data" / f"f{i:02}.bin", os.urandom(4000))
    repo.snapshot("d", outputs={"d": "data"})
    age(git_repo)
    real_add = packs.PackWriter.add

    def full(self, oid, data):
        raise OSError(errno.ENOSPC, "No space left on device", self.pack_path)

    monkeypatch.setattr(packs.PackWriter, "add", full)
    r = cli("gc", "--keep-last", "1")
    assert r.exit_code == 1 and r.stdout == "", r.output
    (line,) = r.stderr.splitlines()
    assert line.startswith("Error: gc stopped: no space left on the device holding ")
    assert line.endswith("nothing a version needs was removed; free some space and run gc again")
    monkeypatch.setattr(packs.PackWriter, "add", real_add)
    assert os.listdir(git_repo / ".mlver" / "tmp") == []  # the half-written pack is gone
    with Repo(str(git_repo)) as fresh:
        assert fresh.verify().ok
        assert fresh.gc(keep_last=1).packs_repacked == 1
        assert fresh.verify().ok


def test_a_mostly_live_pack_is_left_as_it_is(repo, git_repo):
    for i in range(20):
        write(git_repo / "data" / f"f{i:02}.bin", os.urandom(4000))
    repo.snapshot("d", outputs={"d": "data"}, kind="dataset")
    write(git_repo / "data" / "f00.bin", os.urandom(4000))  # 1 of 20 files changes
    repo.snapshot("d", outputs={"d": "data"})
    packs = repo.store.objects.packs()
    age(git_repo)
    res = repo.gc(keep_last=1)
    assert res.packs_repacked == 0 and res.left_in_packs == 2  # the old f00 and old tree
    assert repo.store.objects.packs() == packs
    assert "in packs that are mostly in use" in "\n".join(res.lines())
    assert repo.verify().ok


def test_profile_caches_are_removed_and_rebuilt(repo, git_repo):
    write(git_repo / "t.csv", "id,x\n" + "".join(f"{i},{i}\n" for i in range(50)))
    repo.snapshot("t", inputs={"t": "t.csv"})
    write(git_repo / "t.csv", "id,x\n" + "".join(f"{i},{i * 2}\n" for i in range(60)))
    repo.snapshot("t", inputs={"t": "t.csv"})
    first = cli("diff", "t@1", "t@2")
    assert first.exit_code == 0 and "+59 rows, -49" in first.stdout
    res = repo.gc(grace=0)
    assert res.packed == 4  # a profile and row hashes for each of the two tables
    again = cli("diff", "t@1", "t@2")
    assert again.exit_code == 0 and again.stdout == first.stdout
    assert cli("verify").exit_code == 0


def test_gc_refuses_to_delete_when_a_tree_cannot_be_read(repo, git_repo):
    write(git_repo / "data" / "a.txt", "a")
    repo.snapshot("d", outputs={"d": "data"}, kind="dataset")
    garbage(repo)
    age(git_repo)
    tree = repo.record(repo.resolve("d")).outputs["d"].oid
    craft.overwrite_object(git_repo, tree, b"not a tree any more")
    before = store_listing(git_repo)
    with Repo(str(git_repo)) as fresh:
        with pytest.raises(CorruptObjectError, match=f"gc removed nothing: tree {tree} "
                                                     r"\(reached by d@1\) is corrupt"):
            fresh.gc()
    assert store_listing(git_repo) == before
    r = cli("gc")
    assert r.exit_code == 1 and r.stderr.startswith("Error: gc removed nothing")


def test_gc_while_a_batch_is_open_in_another_process(repo, git_repo):
    garbage(repo)
    age(git_repo)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from mlver.api import Repo\n"
         "r = Repo('.'); b = r.store.objects.batch(); print('open', flush=True); time.sleep(60)"],
        cwd=git_repo, stdout=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    try:
        assert holder.stdout.readline().strip() == "open"
        before = store_listing(git_repo)
        t = time.monotonic()
        with pytest.raises(LockError, match="another mlver process .* is using the store; run "
                                            "gc again when it has finished"):
            repo.gc(grace=0, lock_timeout=0.5)
        assert 0.4 < time.monotonic() - t < 5
        assert store_listing(git_repo) == before
        assert repo.gc(grace=0, dry_run=True).objects == 5  # a dry run does not wait
    finally:
        holder.kill()
        holder.wait()
    assert repo.gc(grace=0).objects == 5  # the holder died: its flock went with it


def test_text_and_json_output(repo, git_repo):
    versions(repo, git_repo, 2)
    garbage(repo)
    age(git_repo)
    r = cli("gc", "--json", "--keep-last", "1", "--dry-run")
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert set(d) == {"dry_run", "objects", "bytes", "loose", "manifests", "packed", "packs_removed",
                      "packs_repacked", "leftover_files", "pruned", "kept_young",
                      "kept_in_packs", "grace_s", "keep_last", "seconds", "warnings"}
    assert d["dry_run"] is True and d["keep_last"] == 1 and d["grace_s"] == 3600
    assert d["pruned"] == [{"oid": repo.resolve("m@1"), "name": "m", "version": 1}]
    assert d["loose"] == 3 and d["objects"] == d["loose"] + d["packed"]
    r = cli("gc", "--keep-last", "1")
    lines = r.stdout.splitlines()
    assert lines[0] == (f"Removed {d['objects']} objects ({_size(d['bytes'])}): 3 loose, "
                        f"{d['packed']} packed (1 pack removed)")
    assert lines[1] == "Dropped the data of 1 version (records and history stay): m@1"


def _size(n):
    from mlver.base.fmt import human_size

    return human_size(n)


def test_leftovers_in_tmp_and_packs_without_an_index_go(repo, git_repo):
    versions(repo, git_repo, 1)
    tmp = git_repo / ".mlver" / "tmp"
    (tmp / "999-0-0").write_bytes(b"x" * 100)
    orphan = git_repo / ".mlver" / "objects" / "pack" / ("pack-" + "a" * 32 + ".pack")
    orphan.write_bytes(b"y" * 50)
    for p in (tmp / "999-0-0", orphan):
        os.utime(p, (OLD, OLD))
    res = repo.gc()
    assert res.leftovers == 2 and res.bytes == 150
    assert not orphan.exists() and not (tmp / "999-0-0").exists()
    assert (git_repo / ".mlver" / "gc.lock").exists()


CHILD = """
import os, signal, sys
n, calls = int(sys.argv[1]), [0]
def hook(real):
    def f(*a, **k):
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)  # a crash right before this step
        return real(*a, **k)
    return f
os.unlink, os.rename, os.replace = hook(os.unlink), hook(os.rename), hook(os.replace)
from mlver.api import Repo
with Repo(".") as r:
    r.gc(keep_last=1, grace=0)
print(calls[0])
"""


def _build_for_crash(repo, root) -> list[str]:
    recs = versions(repo, root, 3)
    for i in range(12):
        write(root / "data" / f"f{i:02}.bin", os.urandom(3000))
    repo.snapshot("d", outputs={"d": "data"}, kind="dataset")
    for i in range(1, 12):
        write(root / "data" / f"f{i:02}.bin", os.urandom(3000))
    repo.snapshot("d", outputs={"d": "data"})
    garbage(repo)
    return recs


@pytest.mark.slow  # ~6-10 s: a dozen gc child processes, each killed at its next step
def test_kill_at_every_step_of_gc_leaves_a_store_that_verifies(repo, git_repo, tmp_path):
    """A gc killed before each unlink or rename it makes: the store verifies clean, every
    version's kept data is there, and the next gc finishes the work."""
    from conftest import kill_at_every_step

    _build_for_crash(repo, git_repo)
    plan = repo.gc(keep_last=1, grace=0, dry_run=True)
    assert plan.packs_repacked == 1 and plan.packs_removed >= 1 and plan.loose >= 3
    repo.close()

    def check(n: int) -> None:  # pruned list, loose objects, a repack, whole packs
        with Repo(str(git_repo)) as r:
            res = r.verify()
            assert res.ok, (n, [str(p) for p in res.problems])
            assert len(r.log("m")) == 3 and len(r.log("d")) == 2
            r.gc(keep_last=1, grace=0)
            assert r.verify().ok

    kill_at_every_step(git_repo, CHILD, check)


@pytest.mark.slow  # ~5 s: gc killed at random moments of a large collection
def test_sigkill_at_random_moments_of_a_large_gc(repo, git_repo):
    rng = random.Random(7)
    with repo.store.objects.batch() as b:
        for i in range(700):
            b.add_bytes(rng.randbytes(PACK_THRESHOLD + 1 + i))
    for k in range(30):
        with repo.store.objects.batch() as b:
            for i in range(50):
                b.add_bytes(rng.randbytes(200))
    versions(repo, git_repo, 2)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    code = "from mlver.api import Repo\nRepo('.').gc(keep_last=1, grace=0)"
    for delay in [rng.uniform(0.1, 0.6) for _ in range(6)]:  # gc itself takes ~0.3-2 s
        child = subprocess.Popen([sys.executable, "-c", code], cwd=git_repo, env=env)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
        with Repo(str(git_repo)) as r:
            assert r.verify().ok
    with Repo(str(git_repo)) as r:
        r.gc(keep_last=1, grace=0)
        assert r.verify().ok
        listing = scan.list_store(r.store.objects)
        assert len(listing.loose) == 1 and listing.tmp == ()  # m@2's model.bin


def test_gc_forgets_the_folder_rows_before_it_deletes(repo, git_repo, monkeypatch):
    """A folder row names a tree whose files gc may delete (--keep-last): a later snapshot
    must not reuse it. gc forgets every row first; a dry run keeps them."""
    monkeypatch.setattr("mlver.store.statcache.RACY_NS", 0)
    for v in (1, 2):
        write(git_repo / "data" / "f.txt", f"v{v}\n")
        write(git_repo / "data" / "g.txt", "same\n")
        repo.snapshot("d", outputs={"data": "data"})
    assert [r[0] for r in repo.store.index.folder_rows("")] == ["data"]
    repo.gc(grace=0, dry_run=True, keep_last=1)
    assert len(list(repo.store.index.folder_rows(""))) == 1
    repo.gc(grace=0, keep_last=1)
    assert list(repo.store.index.folder_rows("")) == []
    write(git_repo / "data" / "f.txt", "v1\n")  # back to the version whose data went
    repo.snapshot("d", outputs={"data": "data"})
    assert repo.verify().ok  # every file of the new version is in the store
