"""mlver.store.packs and the packed side of the object store (store format 2).

Golden bytes of a pack and its index; a hypothesis round trip across the pack threshold;
packs added by another process; merging (also under concurrent readers and writers);
damaged indexes and packs; a format-1 store read and upgraded; SIGKILL during real
snapshots.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlver.api import Repo
from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import oid_of
from mlver.store import batch as batchmod
from mlver.store import objects as objmod
from mlver.store import packs
from mlver.store.objects import LocalObjectStore
from mlver.store.trees import Tree

from conftest import assert_one_error, cli, write

T = objmod.PACK_THRESHOLD


def make_store(root) -> LocalObjectStore:
    d = Path(root) / ".mlver"
    (d / "objects").mkdir(parents=True, exist_ok=True)
    return LocalObjectStore(str(d))


@pytest.fixture
def store(tmp_path) -> LocalObjectStore:
    return make_store(tmp_path)


def blob(i: int, size: int = 100) -> bytes:
    seed = f"object {i}|".encode()
    return (seed * (size // len(seed) + 1))[:size]


def fill(store: LocalObjectStore, batches: int, per: int, start: int = 0) -> dict[str, bytes]:
    out = {}
    for b in range(batches):
        with store.batch() as batch:
            for i in range(per):
                data = blob(start + b * per + i, 50 + i)
                out[batch.add_bytes(data)] = data
    return out


def pack_files(store: LocalObjectStore, ext: str) -> list[Path]:
    return sorted(Path(store.pack_dir).glob(f"pack-*.{ext}"))


# -- golden format --------------------------------------------------------------------------------

GOLDEN_OBJECTS = [b"alpha", b"", b"x" * 300, "données\n".encode()]
GOLDEN_IDX_HEX = (
    # header: magic, version 1, count 4, pack size 422, pack trailer
    "4d4c565249445800" "01000000" "04000000" "a601000000000000" "f5509aa8b73d600a2ecb1d9ed6ac05ad"
)


def test_golden_pack_and_index_bytes(tmp_path):
    """Any change of these bytes is a format change: it must be deliberate (new version)."""
    pack, idx = str(tmp_path / "p.pack"), str(tmp_path / "p.idx")
    assert packs.write_pack(pack, idx, [(oid_of(o), o) for o in GOLDEN_OBJECTS]) == 4
    pb, ib = Path(pack).read_bytes(), Path(idx).read_bytes()
    # pack: header, then per object oid + u32 length + bytes in the order given, trailer
    assert pb[:12] == b"MLVRPACK\x01\x00\x00\x00"
    first = oid_of(b"alpha")
    assert pb[12:33] == bytes.fromhex(first) + struct.pack("<I", 5) + b"a"
    assert len(pb) == 12 + sum(20 + len(o) for o in GOLDEN_OBJECTS) + 16 == 422
    assert pb[-16:] == bytes.fromhex(oid_of(pb[:-16]))
    assert oid_of(pb) == "e1509c977b93e6aaa7eab08132c6a42b"
    # index: header, sorted oids, u64 offsets, u32 lengths, trailer
    assert ib[:40].hex() == GOLDEN_IDX_HEX
    assert len(ib) == 40 + 4 * 28 + 16 == 168
    oids = sorted(oid_of(o) for o in GOLDEN_OBJECTS)
    assert ib[40:40 + 64] == b"".join(bytes.fromhex(o) for o in oids)
    offsets = struct.unpack("<4Q", ib[104:136])
    lengths = struct.unpack("<4I", ib[136:152])
    for oid, off, n in zip(oids, offsets, lengths):
        data = next(o for o in GOLDEN_OBJECTS if oid_of(o) == oid)
        assert pb[off:off + n] == data and pb[off - 20:off - 4] == bytes.fromhex(oid)
    assert ib[-16:] == bytes.fromhex(oid_of(ib[:-16]))
    assert oid_of(ib) == "ad28db13b49f52a13709bfd3f6616246"
    # and the reader agrees
    index = packs.PackIndex(idx)
    assert list(index.iter_oids()) == oids
    for o in GOLDEN_OBJECTS:
        assert index.read_at(index.find(bytes.fromhex(oid_of(o)))) == o


# -- round trip -----------------------------------------------------------------------------------

sizes = st.one_of(st.integers(0, 64), st.integers(T - 2, T + 2), st.integers(0, 2 * T))
objects = st.lists(st.tuples(st.binary(min_size=1, max_size=8), sizes), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objects, st.integers(1, 3))
def test_round_trip_across_the_threshold(items, n_batches):
    datas = [(seed * (size // len(seed) + 1))[:size] for seed, size in items]
    with tempfile.TemporaryDirectory() as d:
        store = make_store(d)
        for b in range(n_batches):
            with store.batch() as batch:
                for data in datas[b::n_batches]:
                    assert batch.add_bytes(data) == oid_of(data)
        want = {oid_of(x): x for x in datas}
        for s in (store, LocalObjectStore(store.store_dir)):  # also a fresh reader
            assert list(s.iter_oids()) == sorted(want)
            for oid, data in want.items():
                assert s.has(oid)
                assert s.read(oid) == data
                assert s.open(oid).read() == data
                assert s.size(oid) == len(data)
                assert s.verify_file(oid)
                assert (s.local_file(oid) is None) == (len(data) <= T)
        assert os.listdir(store.tmp_dir) == []


def test_add_file_at_the_threshold(store, tmp_path):
    for size in (T - 1, T, T + 1):
        f = tmp_path / f"f{size}"
        f.write_bytes(blob(size, size))
        with store.batch() as b:
            oid, n = b.add_file(str(f))
        assert (oid, n) == (oid_of(f.read_bytes()), size)
        assert (store.local_file(oid) is None) == (size <= T)


def test_preload_and_has_see_packed_objects(store):
    want = fill(store, 2, 5)
    b = store.batch()
    b.preload()
    assert all(b.has(o) for o in want)
    assert b.add_bytes(next(iter(want.values()))) in want and len(b) == 0
    b.abort()


# -- another process -------------------------------------------------------------------------------

def test_a_reader_notices_packs_added_by_another_writer(store):
    reader = LocalObjectStore(store.store_dir)
    first = fill(store, 1, 3)
    assert all(reader.read(o) == d for o, d in first.items())  # packs listed now
    later = fill(LocalObjectStore(store.store_dir), 1, 3, start=100)
    for oid, data in later.items():
        assert reader.read(oid) == data  # a read miss re-lists the pack folder
        assert reader.has(oid)


# -- merging --------------------------------------------------------------------------------------

def test_pick_merge_is_geometric():
    assert packs.pick_merge([1] * 4, 4) == 0
    assert packs.pick_merge([1] * 5, 4) == 5  # equal sizes: all of them
    # a big pack is left alone while the small ones are merged
    assert packs.pick_merge([1, 1, 1, 1, 1, 1000], 4) == 5
    assert packs.pick_merge([1, 2, 4, 8, 16, 10_000, 40_000], 4) == 5


def test_many_small_batches_get_merged(store, monkeypatch):
    monkeypatch.setattr(objmod, "MAX_PACKS", 8)
    want = fill(store, 30, 4)
    assert 2 <= len(store.packs()) <= 8
    assert len(pack_files(store, "pack")) == len(pack_files(store, "idx"))  # old ones gone
    fresh = LocalObjectStore(store.store_dir)
    assert list(fresh.iter_oids()) == sorted(want)
    for oid, data in want.items():
        assert fresh.read(oid) == data
    assert os.listdir(store.tmp_dir) == ["pack-merge.lock"]


def test_merge_keeps_each_object_once_and_drops_the_sources(store):
    want = fill(store, 3, 4)
    fill(store, 1, 4)  # the same objects as the first batch: already there, nothing staged
    with store.batch() as b:  # a duplicate packed by a racing writer: same object twice
        b._present = set()
        b.add_bytes(next(iter(want.values())))
    assert len(store.packs()) == 4
    assert store.maybe_merge(limit=1) == 4
    (name,) = store.packs()
    index = packs.PackIndex(os.path.join(store.pack_dir, name + ".idx"))
    assert index.count == len(want)
    assert [p.name for p in pack_files(store, "pack")] == [name + ".pack"]


def test_readers_survive_a_merge(store):
    want = fill(store, 6, 20)
    oids = list(want)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        s = LocalObjectStore(store.store_dir)  # its own pack list, soon out of date
        try:
            while not stop.is_set():
                oid = rng.choice(oids)
                assert s.read(oid) == want[oid]
                assert s.has(oid)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        for round_ in range(15):
            more = fill(store, 2, 5, start=1000 + 10 * round_)
            want.update(more)
            store.maybe_merge(limit=1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    assert len(store.packs()) == 1


def _commit_batches(store_dir: str, start: int, out) -> None:  # runs in a child process
    objmod.MAX_PACKS = 3
    s = LocalObjectStore(store_dir)
    oids = []
    for b in range(25):
        with s.batch() as batch:
            for i in range(6):
                oids.append(batch.add_bytes(blob(start + b * 6 + i, 40 + i)))
    out.put(oids)


def test_two_processes_committing_and_merging_lose_nothing(store):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_commit_batches, args=(store.store_dir, s, q)) for s in (0, 90)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    fresh = LocalObjectStore(store.store_dir)
    everything = set(fresh.iter_oids())
    for oids in results:
        assert set(oids) <= everything
        for oid in oids:
            assert fresh.verify_file(oid)
    assert len(fresh.packs()) <= 4


# -- damage ---------------------------------------------------------------------------------------

def _damage(path: Path, how: str) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[:len(data) // 2]
    elif how == "flip":
        data[len(data) // 2] ^= 0xFF
    elif how == "magic":
        data[0:8] = b"NOTAPACK"
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how,needle", [
    ("truncate", "is truncated|bytes, its count"), ("flip", "checksum mismatch"),
    ("magic", "bad magic"),
])
def test_damaged_index_is_a_clear_error(store, how, needle):
    want = fill(store, 1, 5)
    (idx,) = pack_files(store, "idx")
    _damage(idx, how)
    fresh = LocalObjectStore(store.store_dir)
    oid = next(iter(want))
    with pytest.raises(CorruptObjectError, match=needle) as ei:
        fresh.read(oid)
    msg = str(ei.value)
    assert str(idx) in msg and "restore" in msg and "backup" in msg
    with pytest.raises(CorruptObjectError, match=str(idx.name)):
        list(fresh.iter_oids())
    assert fresh.verify_file(oid) is False


@pytest.mark.parametrize("how,needle", [("truncate", "bytes, its index says"),
                                        ("flip", "is corrupt"), ("magic", "bad magic")])
def test_damaged_pack_is_a_clear_error(store, how, needle):
    want = fill(store, 1, 5)
    (pack,) = pack_files(store, "pack")
    _damage(pack, how)
    fresh = LocalObjectStore(store.store_dir)
    results = []
    for oid, data in want.items():
        try:
            results.append(fresh.read(oid) == data)
        except CorruptObjectError as e:
            assert str(pack) in str(e) and "backup" in str(e) and needle in str(e) or \
                re_search(needle, str(e)), str(e)
            results.append(None)
    assert None in results  # reported, never a wrong answer
    assert False not in results


def re_search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_a_pack_missing_under_its_index_is_a_clear_error(store):
    want = fill(store, 1, 3)
    (pack,) = pack_files(store, "pack")
    pack.unlink()
    with pytest.raises(CorruptObjectError, match="its pack file is missing") as ei:
        LocalObjectStore(store.store_dir).read(next(iter(want)))
    assert str(pack) in str(ei.value)


def test_a_full_disk_while_a_pack_is_written_stays_a_full_disk(tmp_path, monkeypatch):
    """A write that fails (ENOSPC) mid-flush must not leave the buffer exported: another
    thread's next add() would fail with BufferError and hide the full disk."""
    import errno

    w = packs.PackWriter(str(tmp_path / "p.pack"), str(tmp_path / "p.idx"))
    real = os.write

    def full(fd, data):
        if fd == w._fd:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(os, "write", full)
    big = os.urandom(packs._FLUSH)
    with pytest.raises(OSError) as e:
        w.add(oid_of(big), big)  # fills the buffer: flushes, fails
    assert e.value.errno == errno.ENOSPC
    w.add(oid_of(b"more"), b"more")  # another thread, meanwhile: no BufferError
    with pytest.raises(OSError) as e:
        w.finish()  # a pack that lost bytes is never finished
    assert e.value.errno == errno.ENOSPC
    w.abort()
    assert os.listdir(tmp_path) == []


def test_has_of_something_that_is_not_an_oid(store):
    fill(store, 1, 2)
    assert not store.has("../../etc/passwd") and not store.has("zz" * 16)


def test_symlink_in_the_pack_folder_is_refused(store, tmp_path):
    want = fill(store, 1, 2)
    (idx,) = pack_files(store, "idx")
    real = tmp_path / "elsewhere.idx"
    os.rename(idx, real)
    os.symlink(real, idx)
    fresh = LocalObjectStore(store.store_dir)
    with pytest.raises(CorruptObjectError, match="plain file|symlink"):
        fresh.read(next(iter(want)))


def test_damaged_index_through_the_cli_is_one_error_line(proj_with_snapshot):
    proj, _oid = proj_with_snapshot
    (idx,) = sorted((proj / ".mlver" / "objects" / "pack").glob("*.idx"))
    _damage(idx, "flip")
    for s in ("", "-wal", "-shm"):  # a fresh index must read the record again
        p = proj / ".mlver" / f"index.sqlite{s}"
        if p.exists():
            p.unlink()
    assert_one_error(cli("show", "m"), idx.name, "damaged", "backup")


@pytest.fixture
def proj_with_snapshot(repo, git_repo):
    write(git_repo / "data" / "a.csv", "id\n1\n")
    write(git_repo / "data" / "sub" / "b.csv", "id\n2\n")
    r = cli("snapshot", "m", "-i", "d=data", "--json")
    assert r.exit_code == 0, r.output
    return git_repo, json.loads(r.stdout)["oid"]


# -- format 1 ------------------------------------------------------------------------------------

def test_a_format_1_store_is_read_and_upgraded_on_the_first_write(git_repo, monkeypatch):
    """Build the store exactly as format-1 code did: config format 1, every object a loose
    read-only file at objects/ab/<30 hex>, no pack folder."""
    monkeypatch.chdir(git_repo)
    write(git_repo / "data" / "a.csv", "id\n1\n")
    write(git_repo / "data" / "big.bin", blob(7, T + 10))
    with monkeypatch.context() as m:
        m.setattr(objmod, "PACK_THRESHOLD", -1)  # everything loose, as format 1 wrote it
        m.setattr(batchmod, "PACK_THRESHOLD", -1)  # (the local batch's copy of the threshold)
        m.setattr("mlver.store.writer.PACK_THRESHOLD", -1)  # (the layout writer's: placement)
        m.setattr("mlver.store.settings.STORE_FORMAT", 1)
        with Repo.init(str(git_repo)) as r:
            v1 = r.snapshot("ds", inputs={"d": "data"})
    store = git_repo / ".mlver"
    assert json.loads((store / "config.json").read_text())["format"] == 1
    assert not (store / "objects" / "pack").exists()
    loose = sorted(p.relative_to(store / "objects").as_posix()
                   for p in (store / "objects").rglob("*") if p.is_file())
    assert len(loose) >= 5 and all(len(p) == 33 and p[2] == "/" for p in loose)

    # The new code reads it as it is, and writes nothing while reading.
    with Repo(str(git_repo)) as r:
        assert r.config["format"] == 1
        assert r.record(v1.oid).version == 1
        tree = r.tree(v1.record.inputs["d"].oid)
        assert r.store.objects.read(tree.get("a.csv").oid) == b"id\n1\n"
        assert r.store.objects.local_file(tree.get("big.bin").oid) is not None
        assert r.status("ds")[0].clean
    assert json.loads((store / "config.json").read_text())["format"] == 1
    assert cli("log", "ds").exit_code == 0
    assert json.loads((store / "config.json").read_text())["format"] == 1

    # The first write upgrades it in place (config replaced whole), keeping the loose objects.
    write(git_repo / "data" / "a.csv", "id\n1\n2\n")
    with Repo(str(git_repo)) as r:
        v2 = r.snapshot("ds", inputs={"d": "data"})
        assert v2.created
        assert len(r.store.objects.packs()) == 1
        for rel in loose:
            assert r.store.objects.verify_file(rel.replace("/", ""))
        assert r.record(v1.oid).version == 1
    assert json.loads((store / "config.json").read_text()) == {
        "format": 3, "hash": "xxh3-128", "chunker": "fastcdc2020-nc1-16k-64k-256k"}
    assert [p for p in os.listdir(store / "tmp")] == []


def test_a_newer_format_than_3_is_refused(repo, git_repo):
    cfg = git_repo / ".mlver" / "config.json"
    cfg.write_text(json.dumps({"format": 4, "hash": "xxh3-128"}))
    assert_one_error(cli("log"), "format 4", "upgrade mlver")


# -- SIGKILL during real snapshots ---------------------------------------------------------------

CHILD = textwrap.dedent("""
    import os, random, sys
    import mlver.store.objects as objmod
    objmod.MAX_PACKS = 3          # merges happen often, so some kills land inside one
    import mlver.store.chunker as chunker
    chunker.CHUNK_THRESHOLD = 64 << 10  # some files are chunked: kills land in those too
    from mlver.cli import main
    print("ready", flush=True)  # the parent's clock starts here, not at interpreter start
    rng = random.Random(int(sys.argv[1]))
    n = 0
    while True:
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(300)
            with open(f"data/d{i % 7}/s{i % 3}/f{i}.bin", "wb") as f:
                f.write(rng.randbytes(rng.randint(1, 4096)))
        if rng.random() < 0.4:  # a big file that changes a little: chunks shared between versions
            base = random.Random(7).randbytes(300_000)
            at = rng.randrange(len(base))
            with open(f"data/d0/big{rng.randrange(2)}.bin", "wb") as f:
                f.write(base[:at] + rng.randbytes(100) + base[at:])
        name = f"ds{rng.randrange(3)}"
        try:
            main(["snapshot", name, "-i", "d=data", "-m", str(n)], standalone_mode=False)
        except SystemExit:
            pass
        n += 1
""")


def _check_everything(root: Path) -> int:
    """Every ref reads; every object a record names (through its trees) hashes to its oid."""
    checked = 0
    with Repo(str(root)) as r:
        for name in r.store.refs.names():
            oid = r.store.refs.get(name)
            while oid:
                rec = r.record(oid)
                for art in (*rec.inputs.values(), *rec.outputs.values()):
                    stack = [(art.type, art.oid)]
                    while stack:
                        typ, o = stack.pop()
                        r.store.objects.read(o)  # read() verifies the hash
                        checked += 1
                        if typ == "tree":
                            stack += [(e.type, e.oid) for e in Tree.decode(r.store.objects.read(o)).entries]
                for extra in (rec.env.packages, rec.code.patch):
                    if extra:
                        r.store.objects.read(extra)
                oid = rec.parents[0] if rec.parents else None
        list(r.store.objects.iter_oids())  # every index present loads and validates
    return checked


@pytest.mark.slow  # ~15 s: 12 child processes, each killed at a random moment
def test_sigkill_at_random_moments_leaves_a_store_that_reads(git_repo):
    root = git_repo
    rng = random.Random(1234)
    for i in range(300):
        write(root / "data" / f"d{i % 7}" / f"s{i % 3}" / f"f{i}.bin", rng.randbytes(rng.randint(1, 4096)))
    Repo.init(str(root)).close()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    kills = 0
    started = time.monotonic()
    delays = [rng.uniform(0.3, 1.6) for _ in range(12)]
    for k, delay in enumerate(delays):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(k)], cwd=root, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # imports take seconds on a loaded machine: kill at a moment of the snapshots
        assert child.stdout.readline() == b"ready\n", child.stderr.read().decode()[-2000:]
        time.sleep(delay)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        _out, err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, err.decode()[-2000:]
        _check_everything(root)
    assert kills >= 11
    checked = _check_everything(root)
    assert checked > 300
    with Repo(str(root)) as r:
        assert r.store.refs.names(), "no snapshot ever completed: the delays are too short"
        assert list(r.store.objects.iter_manifests()), "no file was chunked: no proof for chunks"
    assert time.monotonic() - started < 180


def test_an_index_whose_keys_are_out_of_order_is_named_when_listed(tmp_path):
    """Lookups bisect the index's raw bytes (status never builds a list of 100k keys), so
    order is checked when the keys are listed, as verify and gc do; a tampered index with a
    valid checksum but swapped keys is named there, and a lookup just misses."""
    w = packs.PackWriter(str(tmp_path / "p.pack"), str(tmp_path / "p.idx"))
    blobs = [f"object {i}".encode() for i in range(3)]
    for b in blobs:
        w.add(oid_of(b), b)
    w.finish()
    good = packs.PackIndex(str(tmp_path / "p.idx"))
    assert [good.find(bytes.fromhex(oid_of(b))) >= 0 for b in blobs] == [True] * 3
    assert len(good.keys) == 3  # in order: listing is fine
    data = bytearray((tmp_path / "p.idx").read_bytes())
    h = packs.IDX_HEADER.size
    data[h:h + 16], data[h + 16:h + 32] = data[h + 16:h + 32], data[h:h + 16]
    data[-packs.TRAILER:] = packs._digest(data[:-packs.TRAILER])
    (tmp_path / "p.idx").write_bytes(bytes(data))
    bad = packs.PackIndex(str(tmp_path / "p.idx"))  # opens: only the checksum is checked
    with pytest.raises(CorruptObjectError, match="not sorted and unique"):
        bad.keys
    first = min(bytes.fromhex(oid_of(b)) for b in blobs)
    # a miss, or the swapped slot (whose bytes a read then finds not to be that oid)
    assert bad.find(first) in (-1, 1)


def test_an_entry_pointing_outside_its_pack_is_named_when_read_or_listed(tmp_path):
    """Opening an index checks its checksum, not every entry's bounds (a pass over 100k
    entries that status, reading one record, does not need): a read checks its own entry,
    and the first use of the whole arrays (gc, verify, a merge) checks them all."""
    w = packs.PackWriter(str(tmp_path / "p.pack"), str(tmp_path / "p.idx"))
    blobs = [f"object {i}".encode() for i in range(3)]
    for b in blobs:
        w.add(oid_of(b), b)
    w.finish()
    data = bytearray((tmp_path / "p.idx").read_bytes())
    count = len(blobs)
    o = packs.IDX_HEADER.size + 16 * count
    struct.pack_into("<Q", data, o + 8 * 2, 1 << 40)  # entry 2's offset: far past the end
    data[-packs.TRAILER:] = packs._digest(data[:-packs.TRAILER])
    (tmp_path / "p.idx").write_bytes(bytes(data))
    bad = packs.PackIndex(str(tmp_path / "p.idx"))
    assert bad.read_at(0) in blobs and bad.read_at(1) in blobs  # the sound entries read
    with pytest.raises(CorruptObjectError, match="points outside its pack"):
        bad.read_at(2)
    with pytest.raises(CorruptObjectError, match="points outside its pack"):
        bad.offsets
    with pytest.raises(CorruptObjectError, match="points outside its pack"):
        list(packs.PackIndex(str(tmp_path / "p.idx")).iter_objects())


def _point_outside(idx: Path, entry: int) -> None:
    """Make entry ``entry`` of the index ``idx`` point far past its pack's end, with a
    valid checksum (only the bounds check can tell)."""
    data = bytearray(idx.read_bytes())
    count = struct.unpack_from("<I", data, 12)[0]
    o = packs.IDX_HEADER.size + 16 * count
    struct.pack_into("<Q", data, o + 8 * entry, 1 << 40)
    data[-packs.TRAILER:] = packs._digest(data[:-packs.TRAILER])
    idx.write_bytes(bytes(data))


def test_an_index_pointing_outside_its_pack_is_damaged_for_listing_and_merging(store):
    """The bounds are no longer checked when an index is opened, so such a pack is among
    the store's packs: verify and gc must still list it as damaged (not stop with an error
    halfway), and a merge (run by any snapshot) leaves it alone as before."""
    from mlver.store import scan

    want = fill(store, 3, 4)
    bad_idx = pack_files(store, "idx")[0]
    _point_outside(bad_idx, 1)
    fresh = LocalObjectStore(store.store_dir)
    listing = scan.list_store(fresh)
    assert [p for p, why in listing.damaged if "points outside its pack" in why] == [
        str(bad_idx)]
    assert bad_idx.name[:-4] not in {p.index.name for p in listing.packs}
    assert not listing.orphans  # its .pack is not an orphan to delete either
    assert fresh.maybe_merge(limit=1) == 2  # the two sound packs
    assert bad_idx.exists()
    sound = {oid: data for oid, data in want.items() if fresh.has(oid)}
    assert len(sound) >= 8
    for oid, data in sound.items():
        try:
            assert fresh.read(oid) == data
        except CorruptObjectError as e:
            assert "points outside its pack" in str(e)
