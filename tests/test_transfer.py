"""One transfer suite over every backend (mlver/store/transfer.py): a local store pushes to a
remote (a folder, moto S3, a folder through fsspec's generic backend) and a fresh local store
pulls from it. Whole objects, loose ones, chunked files (only the chunks the other side lacks
travel, manifest after its chunks), objects of 100 MiB and more (the pull path of a loose
object over 16 MiB included), a corrupt chunk refused on pull, a SIGKILL mid-push (on every
backend), and a remote made by an older mlver."""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mlver.base.errors import CorruptObjectError
from mlver.base.hashing import HASH_NAME, oid_of
from mlver.store import Store
from mlver.store.chunker import CHUNKER_ID
from mlver.store.manifest import Manifest
from mlver.store.objects import LocalObjectStore
from mlver.store.remote import RemoteStore, open_backend
from mlver.store.transfer import TransferResult, transfer

from _remotes import clone, git, moto_server, ok, project

ROOT = Path(__file__).resolve().parents[1]
THRESHOLD = 1 << 20  # files of 1 MiB and more are chunked here (4 MiB in real use)
# a folder (the local store's code), moto S3 (conditional writes) and fsspec's generic way (a
# folder reached through fsspec's file system, refs under a leased lock object)
BACKENDS = ["folder", "s3", "fsspec"]


@pytest.fixture(scope="module")
def server():
    pytest.importorskip("s3fs")
    pytest.importorskip("moto")
    srv, endpoint = moto_server()
    yield endpoint
    srv.stop()


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", THRESHOLD)


class Remote:
    """How a test reaches one remote: open it afresh (empty caches), and touch its files."""

    def __init__(self, tmp_path: Path, url: str, endpoint: str | None,
                 locking: str | None = None) -> None:
        self.tmp, self.url, self.endpoint, self.locking = tmp_path, url, endpoint, locking
        self.store = self.open()

    def open(self) -> RemoteStore:
        tag = uuid.uuid4().hex[:8]
        backend = open_backend("origin", self.url, self.endpoint, self.locking)
        return RemoteStore("origin", self.url, backend, str(self.tmp / f"cache-{tag}"),
                           str(self.tmp / f"scratch-{tag}"))

    def files(self) -> dict[str, int]:
        return self.open().backend.list("objects")

    def get(self, rel: str) -> bytes:
        b = self.store.backend
        return bytes(b.fs.cat_file(b.path(rel)))

    def put(self, rel: str, data: bytes) -> None:
        b = self.store.backend
        if self.endpoint is None and os.path.exists(b.path(rel)):
            os.chmod(b.path(rel), 0o644)
        b.fs.pipe_file(b.path(rel), data)


@pytest.fixture(params=BACKENDS)
def remote(request, tmp_path, monkeypatch) -> Remote:
    if request.param in ("folder", "fsspec"):
        locking = "lease" if request.param == "fsspec" else None
        return Remote(tmp_path, str(tmp_path / "remote"), None, locking)
    endpoint = request.getfixturevalue("server")
    import s3fs

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAMLVERTESTKEY0042")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "mlver-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True).mkdir(bucket)
    return Remote(tmp_path, f"s3://{bucket}/store", endpoint)


def local(tmp_path: Path, name: str) -> LocalObjectStore:
    Store.create(str(tmp_path / name))
    return LocalObjectStore(str(tmp_path / name))


def push(src: LocalObjectStore, r: Remote, oids: list[str]) -> TransferResult:
    rs = r.open()
    rs.check(create=True)
    return transfer(src, rs.objects, oids)


def pull(r: Remote, dst: LocalObjectStore, oids: list[str]) -> TransferResult:
    rs = r.open()
    rs.check()
    return transfer(rs.objects, dst, oids)


def big(mib: int, seed: int = 0) -> bytes:
    """``mib`` MiB fast: one random 8 MiB block repeated, each copy with its own header
    (so every copy is cut into some chunks of its own)."""
    block = os.urandom(8 << 20)
    return b"".join(struct.pack("<QQ", seed, i) + block[16:] for i in range(mib // 8)) \
        + block[: (mib % 8) << 20]


def store(dst: LocalObjectStore, *blobs: bytes) -> list[str]:
    with dst.batch() as b:
        return [b.add_bytes(x) for x in blobs]


def test_small_loose_and_chunked_objects_round_trip(remote, tmp_path):
    a = local(tmp_path, "a")
    small, loose, chunked = b"id,x\n1,2\n", os.urandom(600_000), os.urandom(3 << 20)
    oids = store(a, small, loose, chunked)
    assert a.manifest(oids[2]) is not None and a.manifest(oids[1]) is None
    res = push(a, remote, oids)
    assert res.objects == 3 and res.chunks >= 10
    assert res.bytes >= len(small) + len(loose) + len(chunked)
    files = remote.files()
    c = oids[2]
    assert f"objects/{c[:2]}/{c[2:]}.chunks" in files
    assert f"objects/{c[:2]}/{c[2:]}" not in files  # stored as chunks, never whole
    rs = remote.open()
    assert rs.objects.missing(oids) == [] and rs.objects.size(c) == len(chunked)
    m = rs.objects.manifest(c)
    assert m is not None and m == a.manifest(c)
    assert rs.objects.manifest(oids[1]) is None
    assert push(a, remote, oids).objects == 0  # nothing twice
    b = local(tmp_path, "b")
    back = pull(remote, b, oids)
    assert back.objects == 3 and back.chunks == res.chunks
    assert [b.read(o) for o in oids] == [small, loose, chunked]
    assert b.manifest(c) == m  # stored chunked here too


def test_second_version_sends_only_the_new_chunks(remote, tmp_path):
    a = local(tmp_path, "a")
    rnd = random.Random(22)  # seeded: where the chunks fall (and so the bytes sent) is fixed
    v1 = rnd.randbytes(4 << 20)
    mid = len(v1) // 2
    v2 = v1[:mid] + rnd.randbytes(20_000) + v1[mid + 20_000:] + rnd.randbytes(50_000)
    o1, o2 = store(a, v1, v2)
    first = push(a, remote, [o1])
    second = push(a, remote, [o1, o2])
    assert second.objects == 1 and second.present == 1
    assert second.bytes <= 0.15 * len(v2), (second.bytes, len(v2))
    assert second.chunks <= 0.15 * first.chunks + 3
    b = local(tmp_path, "b")
    pull(remote, b, [o1])
    again = pull(remote, b, [o2])
    assert again.bytes <= 0.15 * len(v2) and b.read(o2) == v2


def test_objects_of_100_mib_chunked_and_whole_from_an_old_remote(remote, tmp_path, monkeypatch):
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 4 << 20)
    data = big(104, seed=1)
    a = local(tmp_path, "a")
    (oid,) = store(a, data)
    assert a.manifest(oid) is not None
    res = push(a, remote, [oid])
    assert res.objects == 1 and res.chunks > 0
    b = local(tmp_path, "b")
    assert pull(remote, b, [oid]).objects == 1
    with b.open(oid) as f:  # streamed and verified whole
        assert oid_of(f.read()) == oid
    # A remote made by an older mlver holds a big file whole, as one loose object: the pull
    # path of a loose object over 16 MiB (fetched to a file, verified, adopted and chunked).
    whole = big(100, seed=2)
    wid = oid_of(whole)
    src = tmp_path / "whole.bin"
    src.write_bytes(whole)
    remote.store.backend.put_file(f"objects/{wid[:2]}/{wid[2:]}", str(src))
    c = local(tmp_path, "c")
    got = pull(remote, c, [wid])
    assert got.objects == 1 and got.bytes == len(whole)
    assert c.manifest(wid) is not None  # chunked on arrival
    with c.open(wid) as f:
        assert oid_of(f.read()) == wid


def test_a_corrupt_chunk_is_refused_on_pull_and_nothing_is_stored(remote, tmp_path):
    a = local(tmp_path, "a")
    (oid,) = store(a, os.urandom(2 << 20))
    push(a, remote, [oid])
    packs = [p for p in remote.files() if p.endswith(".pack")]
    assert len(packs) == 1
    data = bytearray(remote.get(packs[0]))
    data[len(data) // 2] ^= 0xFF
    remote.put(packs[0], bytes(data))
    b = local(tmp_path, "b")
    with pytest.raises(CorruptObjectError) as e:
        pull(remote, b, [oid])
    assert "is corrupt" in str(e.value) and f"a chunk of file {oid}" in str(e.value)
    assert b.missing([oid]) == [oid] and list(b.iter_oids()) == [] and b.packs() == []


KILLED_PUSH = """
import sys, time
import mlver.store.chunker as ch, mlver.store.remote_batch as rb
from mlver.store.manifest import Manifest
from mlver.store.objects import LocalObjectStore
from mlver.store.remote import RemoteStore, open_backend
from mlver.store.transfer import transfer

ch.CHUNK_THRESHOLD = 1 << 20
rb.PACK_TARGET = 1 << 20  # many packs: the kill lands between them
rb.WORKERS = 1
src, url, tmp, oid, endpoint, locking = sys.argv[1:]
r = RemoteStore("origin", url, open_backend("origin", url, endpoint or None, locking or None),
                tmp + "/c", tmp + "/s")
put_file = type(r.backend).put_file

def slow(self, rel, local):
    put_file(self, rel, local)
    if rel.endswith(".idx"):
        print("uploaded", rel, flush=True)
        time.sleep(0.3)

type(r.backend).put_file = slow
r.check(create=True)
transfer(LocalObjectStore(src), r.objects, [oid])
print("done", flush=True)
"""


def test_sigkill_mid_push_of_a_chunked_file_leaves_no_manifest_without_chunks(remote, tmp_path):
    r = remote
    a = local(tmp_path, "a")
    data = os.urandom(8 << 20)
    (oid,) = store(a, data)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-c", KILLED_PUSH, str(tmp_path / "a"), r.url,
                          str(tmp_path / "k"), oid, r.endpoint or "", r.locking or ""],
                         stdout=subprocess.PIPE,
                         text=True, env=env)
    assert p.stdout is not None
    line = p.stdout.readline()
    os.kill(p.pid, signal.SIGKILL)
    p.wait(30)
    assert line.startswith("uploaded objects/pack/"), line
    files = r.files()
    assert f"objects/{oid[:2]}/{oid[2:]}.chunks" not in files
    rs = r.open()
    assert not rs.objects.has(oid) and rs.objects.manifest(oid) is None
    assert sum(p.endswith(".idx") for p in files) > 0
    again = push(a, r, [oid])
    assert again.objects == 1
    rs = r.open()
    m = rs.objects.manifest(oid)
    assert m is not None and rs.objects.missing(m.chunk_oids()) == []
    b = local(tmp_path, "b")
    pull(r, b, [oid])
    assert b.read(oid) == data


def test_a_format_2_remote_accepts_a_push_and_is_upgraded(remote, tmp_path):
    old = {"format": 2, "hash": HASH_NAME}
    remote.store.backend.prepare()
    remote.store.backend.put("config.json", json.dumps(old).encode())
    small = b"made before chunks\n"
    sid = oid_of(small)
    remote.store.backend.put(f"objects/{sid[:2]}/{sid[2:]}", small)  # an old loose object
    a = local(tmp_path, "a")
    (oid,) = store(a, os.urandom(2 << 20))
    push(a, remote, [oid])
    cfg = json.loads(remote.get("config.json"))
    assert cfg["format"] == 3 and cfg["chunker"] == CHUNKER_ID and cfg["hash"] == HASH_NAME
    b = local(tmp_path, "b")
    assert pull(remote, b, [oid, sid]).objects == 2
    assert b.read(sid) == small and b.manifest(oid) is not None


def test_cli_push_and_pull_of_a_changed_big_file_send_only_new_chunks(tmp_path):
    v1 = os.urandom(3 << 20)
    a = project(tmp_path / "a", {"train.py": "print(1)\n", "data/w.bin": v1})
    remote = tmp_path / "remote"
    ok(a, "init")
    ok(a, "remote", "add", "origin", str(remote), "--default")
    git(a, "add", "mlver.toml")
    git(a, "commit", "-q", "-m", "remote")
    ok(a, "snapshot", "ds", "-o", "d=data", "--kind", "dataset")
    ok(a, "push")
    size = lambda: sum(f.stat().st_size for f in remote.rglob("*") if f.is_file())  # noqa: E731
    before = size()
    v2 = v1[:1 << 20] + os.urandom(30_000) + v1[(1 << 20) + 30_000:]
    (a / "data" / "w.bin").write_bytes(v2)
    ok(a, "snapshot", "ds", "-o", "d=data")
    ok(a, "push")
    assert size() - before <= 0.15 * len(v2)
    assert any(p.suffix == ".chunks" for p in (remote / "objects").rglob("*"))
    b = clone(a, tmp_path / "b")
    ok(b, "pull")
    # both versions arrived, stored chunked (checked in the store: checkout of a chunked
    # file is materialize's side)
    objs = LocalObjectStore(str(b / ".mlver"))
    for v in (v1, v2):
        assert objs.manifest(oid_of(v)) is not None and objs.read(oid_of(v)) == v
    assert "no problems" in ok(b, "verify", "--remote", "origin")



def test_remote_to_remote_and_a_crafted_manifest_is_refused(remote, tmp_path):
    """A remote is a source and a destination like a local store; a remote's big object
    arrives chunked, a manifest naming a chunk that is not there is never sent, and a
    damaged manifest on the remote is refused naming it."""
    rs = remote.open()
    rs.check(create=True)
    data = os.urandom(2 << 20)
    with rs.objects.batch() as b:
        oid = b.add_bytes(data)
    m = remote.open().objects.manifest(oid)
    assert m is not None and m.size == len(data) and len(m.chunks) > 10
    other = Remote(tmp_path, str(tmp_path / "other"), None)
    dst = other.open()
    dst.check(create=True)
    res = transfer(remote.open().objects, dst.objects, [oid])
    assert res.objects == 1 and res.chunks == len(m.chunk_oids())
    assert other.open().objects.manifest(oid) == m
    assert other.open().objects.read(oid) == data  # joined from its chunks, verified
    liar = Manifest(oid_of(b"not these bytes"), m.size, CHUNKER_ID, m.chunks)
    other.store.backend.put(f"objects/{liar.oid[:2]}/{liar.oid[2:]}.chunks", liar.encode())
    with pytest.raises(CorruptObjectError, match="do not hash to it"):
        other.open().objects.read(liar.oid)
    lying = Manifest(oid_of(b"x" * 10), 10, CHUNKER_ID, ((oid_of(b"y" * 10), 10),))
    with pytest.raises(CorruptObjectError, match="neither on"), other.open().objects.batch() as b:
        b.add_manifest(lying)
    assert f"objects/{lying.oid[:2]}/{lying.oid[2:]}.chunks" not in other.files()
    rel = f"objects/{oid[:2]}/{oid[2:]}.chunks"
    remote.put(rel, remote.get(rel).replace(b'"size":', b'"size": '))
    with pytest.raises(CorruptObjectError, match=f"{rel} is corrupt"):
        remote.open().objects.manifest(oid)


# -- read_many and read_range: the same answers from a remote as from the local store ------------

def flipped(data: bytes, needle: bytes) -> bytes:
    """``data`` with one byte flipped in the middle of ``needle`` (found there once)."""
    at = data.find(needle)
    assert at >= 0 and data.find(needle, at + 1) < 0
    out = bytearray(data)
    out[at + len(needle) // 2] ^= 0xFF
    return bytes(out)


def test_read_many_equals_the_local_stores_answer(remote, tmp_path):
    a = local(tmp_path, "a")
    small = [f"row {i}\n".encode() * 50 for i in range(5)]
    loose, chunked, damaged = os.urandom(600_000), os.urandom(3 << 20), os.urandom(5_000)
    oids = store(a, *small, loose, chunked, damaged)
    assert a.manifest(oids[-2]) is not None and a.local_file(oids[-3]) is not None
    push(a, remote, oids)
    for rel in [p for p in remote.files() if p.endswith(".pack")]:  # damaged on both sides
        data = remote.get(rel)
        if damaged in data:
            remote.put(rel, flipped(data, damaged))
    for name in a.packs():
        path = Path(a.pack_dir) / f"{name}.pack"
        data = path.read_bytes()
        if damaged in data:
            os.chmod(path, 0o644)
            path.write_bytes(flipped(data, damaged))
    asked = [oid_of(b"never stored"), *oids, oids[0]]
    want = LocalObjectStore(str(tmp_path / "a")).read_many(asked)
    assert set(want) == set(oids[:-1])
    assert remote.open().objects.read_many(asked) == want
    assert remote.open().objects.read_many([]) == {}


def three_kinds(remote, tmp_path):
    """A packed, a loose and a chunked object, pushed; and a check of ranges of them."""
    a = local(tmp_path, "a")
    blobs = (os.urandom(50_000), os.urandom(600_000), os.urandom(2 << 20))
    oids = store(a, *blobs)
    assert a.manifest(oids[2]) is not None
    push(a, remote, oids)
    loose = oids[1]
    assert f"objects/{loose[:2]}/{loose[2:]}" in remote.files()

    def check(objs, against_local=False):
        for oid, data in zip(oids, blobs, strict=True):
            n = len(data)
            cases = [(0, 100), (n // 2 - 7, 70_000), (n - 30, 100), (n, 10)]
            if against_local:
                cases += [(n - 30, 0), (n + 5, 10)]
            for off, ln in cases:
                assert objs.read_range(oid, off, ln) == data[off:off + ln], (oid, off, ln)
                if against_local:
                    assert a.read_range(oid, off, ln) == data[off:off + ln]

    return oids, blobs, check


def test_read_range_slices_loose_packed_and_chunked_objects(remote, tmp_path):
    oids, _blobs, check = three_kinds(remote, tmp_path)
    check(remote.open().objects, against_local=True)
    with pytest.raises(ValueError):
        remote.open().objects.read_range(oids[0], -1, 5)
    with pytest.raises(CorruptObjectError, match="is not in"):
        remote.open().objects.read_range(oid_of(b"absent"), 0, 5)


def test_read_range_reads_only_the_range(remote, tmp_path, monkeypatch):
    """No whole small pack, a big loose object read by its range alone (unverified, as
    documented), a chunked file by its covering chunks."""
    oids, blobs, check = three_kinds(remote, tmp_path)
    monkeypatch.setattr("mlver.store.remote_objects.SMALL_PACK", 0)
    monkeypatch.setattr("mlver.store.remote_objects.WHOLE_PACK", 0)
    monkeypatch.setattr("mlver.store.remote_objects.IN_MEMORY", 100_000)
    check(remote.open().objects)
    objs = remote.open().objects
    m = objs.manifest(oids[2])
    assert m is not None and len(m.chunks) > 10
    before = objs.backend.requests
    j = len(m.chunks) // 2
    at, n = m.offsets[j], m.chunks[j][1]
    assert objs.read_range(oids[2], at + 1, n) == blobs[2][at + 1:at + 1 + n]
    assert objs.backend.requests - before == 1  # two neighbouring chunks, one ranged read


def test_read_range_refuses_a_damaged_chunk_naming_it(remote, tmp_path):
    a = local(tmp_path, "a")
    data = os.urandom(2 << 20)
    (oid,) = store(a, data)
    push(a, remote, [oid])
    m = a.manifest(oid)
    assert m is not None
    j = len(m.chunks) // 2
    coid, n = m.chunks[j]
    start = m.offsets[j]
    (rel,) = [p for p in remote.files() if p.endswith(".pack")]
    remote.put(rel, flipped(remote.get(rel), data[start:start + n]))
    objs = remote.open().objects
    assert objs.read_range(oid, 0, 1000) == data[:1000]  # other chunks still read
    with pytest.raises(CorruptObjectError) as e:
        objs.read_range(oid, start + 5, 10)
    assert f"chunk {coid} of object {oid}" in str(e.value) and "is corrupt" in str(e.value)
    assert objs.read_many([oid]) == {}  # the file is left out, never sent wrong


def test_read_many_of_50_packed_neighbours_takes_few_requests(remote, tmp_path):
    a = local(tmp_path, "a")
    blobs = [os.urandom(30_000) for _ in range(200)]
    oids = store(a, *blobs)
    push(a, remote, oids)
    objs = remote.open().objects
    objs.refresh()
    before = objs.backend.requests
    got = objs.read_many(oids[75:125])
    assert got == dict(zip(oids[75:125], blobs[75:125], strict=True))
    assert objs.backend.requests - before <= 2, objs.backend.requests - before


def test_a_push_resends_the_chunks_a_remote_lost(remote, tmp_path):
    """A remote lists a chunked file by its manifest; the sender checks that file's chunks
    against the listing (no request a file) and sends again the ones a lost pack held."""
    a = local(tmp_path, "a")
    data = big(3, seed=5)
    (oid,) = store(a, data)
    push(a, remote, [oid])
    for rel in remote.files():
        if rel.startswith("objects/pack/"):
            remote.store.backend.delete(rel)
    again = push(a, remote, [oid])
    assert again.objects == 1 and again.chunks > 0, again
    b = local(tmp_path, "b")
    pull(remote, b, [oid])
    assert b.read(oid) == data
