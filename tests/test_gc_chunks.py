"""gc, gc --rechunk and the store lock with chunked files: reachability follows manifests
to chunks, a manifest never outlives its chunks, a snapshot that reuses chunks is safe
beside gc, and old whole files convert to chunks crash-safely."""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

from mlver.base.errors import LockError
from mlver.store import chunker, prune, scan

from conftest import cli, write
from test_gc import age

THRESHOLD = 200_000  # files at least this big are chunked in these tests (~64 KiB chunks)


@pytest.fixture
def chunked(monkeypatch):
    """Chunk files of 200 KB and more (the store reads the threshold at call time)."""
    monkeypatch.setattr(chunker, "CHUNK_THRESHOLD", THRESHOLD)


def rand(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


def manifest(repo, oid: str):
    return scan.load_manifest(repo.store.objects, oid)


def output(repo, rev: str, slot: str = "model") -> str:
    return repo.record(repo.resolve(rev)).outputs[slot].oid


def snap(repo, root, data: bytes, name: str = "m") -> str:
    write(root / "model.bin", data)
    repo.snapshot(name, outputs={"model": "model.bin"})
    return output(repo, name)


def present(repo, oids) -> set[str]:
    return {o for o in oids if repo.store.objects.has(o)}


def test_keep_last_keeps_the_kept_versions_chunks_and_drops_the_others(repo, git_repo,
                                                                      chunked):
    shared = rand(1, 100_000)
    f1 = snap(repo, git_repo, shared + rand(2, 500_000))
    f2 = snap(repo, git_repo, shared + rand(3, 500_000))
    m1, m2 = manifest(repo, f1), manifest(repo, f2)
    assert m1 is not None and m2 is not None
    both = set(m1.chunk_oids()) & set(m2.chunk_oids())
    only1 = set(m1.chunk_oids()) - both
    assert both and len(only1) >= 4
    age(git_repo)
    res = repo.gc(keep_last=1, grace=0)
    assert res.manifests == 1 and res.packs_repacked + res.packs_removed >= 1
    assert manifest(repo, f1) is None and manifest(repo, f2) is not None
    assert present(repo, m2.chunk_oids()) == set(m2.chunk_oids())  # shared ones too
    assert not present(repo, only1)
    assert repo.store.objects.read(f2) == shared + rand(3, 500_000)
    assert repo.verify().ok
    again = repo.gc(keep_last=1, grace=0)
    assert again.objects == 0 and again.manifests == 0


def test_an_unreachable_chunked_file_goes_manifest_first(repo, git_repo, chunked, monkeypatch):
    with repo.store.objects.batch() as b:
        junk = b.add_bytes(rand(4, 400_000))
    m = manifest(repo, junk)
    assert m is not None
    snap(repo, git_repo, b"small")
    age(git_repo)
    events: list[str] = []
    for name in ("remove_manifest", "repack", "remove_pack", "remove_loose"):
        real = getattr(prune, name)
        monkeypatch.setattr(prune, name, lambda *a, _r=real, _n=name: (events.append(_n),
                                                                        _r(*a))[1])
    dry = repo.gc(grace=0, dry_run=True)
    res = repo.gc(grace=0)
    assert (dry.objects, dry.bytes, dry.manifests) == (res.objects, res.bytes, res.manifests)
    assert res.manifests == 1 and "remove_manifest" in events
    first_chunk_step = min(i for i, e in enumerate(events) if e != "remove_manifest")
    assert all(e == "remove_manifest" for e in events[:first_chunk_step])
    assert "remove_manifest" not in events[first_chunk_step:]
    assert not repo.store.objects.has(junk) and not present(repo, m.chunk_oids())
    assert repo.verify().ok


def test_a_young_unreachable_manifest_keeps_chunks_it_shares_with_old_garbage(
        repo, git_repo, chunked):
    shared = rand(5, 300_000)
    snap(repo, git_repo, shared + rand(6, 300_000))  # m@1: its chunks in an old pack
    snap(repo, git_repo, b"v2")
    age(git_repo)
    with repo.store.objects.batch() as b:  # a snapshot in flight reusing m@1's chunks
        young = b.add_bytes(shared + rand(7, 100_000))
    res = repo.gc(keep_last=1)  # default grace: m@1's data is old, the new manifest young
    assert res.pruned and res.young_objects >= 1
    assert repo.store.objects.read(young) == shared + rand(7, 100_000)


def test_gc_waits_for_a_snapshot_that_reuses_chunks_of_garbage(repo, git_repo, chunked):
    """A batch that found chunk X present (and skipped writing it) holds the store lock
    shared until its ref has moved: gc, which would delete X with the unreachable old
    version, waits for it, then keeps X."""
    shared = rand(8, 300_000)
    f1 = snap(repo, git_repo, shared + rand(9, 300_000))
    snap(repo, git_repo, b"other", name="m")  # m@2: m@1's file is reached by m@1 only
    age(git_repo)
    data = shared + rand(10, 200_000)
    write(git_repo / "new.bin", data)
    b = repo.store.objects.batch()
    new, _n = b.add_file(str(git_repo / "new.bin"))  # chunks of f1 found present: skipped
    m_old = manifest(repo, f1)
    assert m_old is not None
    # gc from another thread (its own flock: the lock works between threads as between
    # processes) cannot take the lock while the batch is open.
    with pytest.raises(LockError):
        repo.gc(keep_last=1, grace=0, lock_timeout=0.3)
    result: dict = {}
    t = threading.Thread(target=lambda: result.setdefault(
        "gc", repo.gc(keep_last=1, grace=0, lock_timeout=30)))
    t.start()
    time.sleep(0.5)
    assert t.is_alive()  # waiting for the batch
    b.commit()
    repo.snapshot("n", outputs={"w": "new.bin"})  # its ref reaches the new file
    b.close()
    t.join(30)
    assert not t.is_alive() and result["gc"].pruned
    m_new = manifest(repo, new)
    assert m_new is not None
    assert set(m_new.chunk_oids()) & set(m_old.chunk_oids())  # the reused chunks
    assert present(repo, m_new.chunk_oids()) == set(m_new.chunk_oids())
    assert repo.store.objects.read(new) == data
    assert repo.verify().ok


# -- gc --rechunk ---------------------------------------------------------------------------

def whole_store(repo, root, monkeypatch) -> tuple[list[str], list[bytes]]:
    """A store as format 2 left it: two versions of a 600 KB file stored whole (loose),
    sharing most bytes. Then chunking is turned on."""
    monkeypatch.setattr(chunker, "CHUNK_THRESHOLD", 1 << 40)  # nothing chunked
    base = rand(11, 600_000)
    datas = [base, base[:300_000] + b"an edit" + base[300_000:]]
    oids = [snap(repo, root, d) for d in datas]
    for o in oids:
        assert repo.store.objects.local_file(o) is not None and manifest(repo, o) is None
    monkeypatch.setattr(chunker, "CHUNK_THRESHOLD", THRESHOLD)
    return oids, datas


def test_rechunk_converts_whole_files_and_shrinks_the_store(repo, git_repo, monkeypatch):
    oids, datas = whole_store(repo, git_repo, monkeypatch)
    dry = repo.gc(grace=0, rechunk=True, dry_run=True)
    assert dry.rechunked is not None and dry.rechunked.files == 2
    assert all(repo.store.objects.local_file(o) for o in oids)
    res = repo.gc(grace=0, rechunk=True)
    r = res.rechunked
    assert r is not None and (r.files, r.bytes) == (2, sum(map(len, datas)))
    assert r.size_after < 0.7 * r.size_before  # the two versions share their chunks now
    for o, d in zip(oids, datas, strict=True):
        assert repo.store.objects.local_file(o) is None and manifest(repo, o) is not None
        assert repo.store.objects.read(o) == d
    assert repo.verify().ok
    again = repo.gc(grace=0, rechunk=True).rechunked
    assert again is not None and again.files == 0 and again.size_after == r.size_after


def test_rechunk_cli_reports_files_bytes_and_sizes(repo, git_repo, monkeypatch):
    whole_store(repo, git_repo, monkeypatch)
    r = cli("gc", "--rechunk", "--grace", "0")
    assert r.exit_code == 0, r.output
    assert "Rechunked 2 whole files" in r.stdout and "the store went from" in r.stdout
    r = cli("gc", "--rechunk", "--dry-run")
    assert r.exit_code == 0 and "nothing to rechunk" in r.stdout, r.output
    r = cli("gc", "--rechunk")
    assert r.exit_code == 0 and "No big file is stored whole: nothing to rechunk" in r.stdout
    r = cli("gc", "--rechunk", "--json")
    assert r.exit_code == 0 and '"rechunk"' in r.stdout


def test_rechunk_killed_before_the_loose_copy_goes_leaves_both_and_a_rerun_finishes(
        repo, git_repo, monkeypatch):
    oids, datas = whole_store(repo, git_repo, monkeypatch)

    def killed(*a):
        raise KeyboardInterrupt  # like a kill: stops between two steps
    monkeypatch.setattr(prune, "remove_loose", killed)
    with pytest.raises(KeyboardInterrupt):
        repo.gc(grace=0, rechunk=True)
    for o, d in zip(oids, datas, strict=True):  # the manifest and the whole copy both
        assert manifest(repo, o) is not None and repo.store.objects.local_file(o)
        assert repo.store.objects.read(o) == d
    monkeypatch.undo()
    monkeypatch.setattr(chunker, "CHUNK_THRESHOLD", THRESHOLD)
    r = repo.gc(grace=0, rechunk=True).rechunked
    assert r is not None and r.files == 2
    assert all(repo.store.objects.local_file(o) is None for o in oids)
    assert repo.verify().ok


def test_rechunk_killed_before_the_manifest_leaves_the_whole_file(repo, git_repo, monkeypatch):
    oids, datas = whole_store(repo, git_repo, monkeypatch)

    def killed(*a):
        raise KeyboardInterrupt  # the chunks are written, the manifest is not
    monkeypatch.setattr(prune, "publish_manifest", killed)
    with pytest.raises(KeyboardInterrupt):
        repo.gc(grace=0, rechunk=True)
    for o, d in zip(oids, datas, strict=True):
        assert manifest(repo, o) is None and repo.store.objects.read(o) == d
    monkeypatch.undo()
    monkeypatch.setattr(chunker, "CHUNK_THRESHOLD", THRESHOLD)
    r = repo.gc(grace=0, rechunk=True).rechunked
    assert r is not None and r.files == 2 and repo.verify().ok


def test_rechunk_leaves_a_corrupt_whole_file_as_it_is(repo, git_repo, monkeypatch):
    oids, _datas = whole_store(repo, git_repo, monkeypatch)
    path = repo.store.objects.local_file(oids[0])
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(10)
        f.write(b"X")
    res = repo.gc(grace=0, rechunk=True)
    assert res.rechunked is not None and res.rechunked.files == 1
    assert any(oids[0] in w and "corrupt" in w for w in res.warnings)
    assert manifest(repo, oids[0]) is None and repo.store.objects.local_file(oids[0])


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
from mlver.store import chunker
chunker.CHUNK_THRESHOLD = %d
from mlver.api import Repo
with Repo(".") as r:
    r.gc(keep_last=2, grace=0, rechunk=True)
print(calls[0])
""" % THRESHOLD


@pytest.mark.slow  # ~10 s: a gc --rechunk child process killed before each step it makes
def test_kill_at_every_step_of_gc_rechunk_leaves_every_object_readable(
        repo, git_repo, tmp_path, monkeypatch):
    """m@1 and m@2 stored whole (format 2), m@3 chunked, an unreachable chunked file: gc
    --keep-last 2 --rechunk removes m@1's file and the garbage manifest and its chunks, and
    converts m@2's file. Killed before each unlink or rename: the store verifies, every kept
    version reads, and the next run finishes."""
    from mlver.api import Repo
    from conftest import kill_at_every_step

    oids, datas = whole_store(repo, git_repo, monkeypatch)
    d3 = datas[1][:400_000] + rand(12, 200_000)
    f3 = snap(repo, git_repo, d3)
    with repo.store.objects.batch() as b:
        b.add_bytes(rand(13, 300_000))
    age(git_repo)
    repo.close()

    def check(n: int) -> None:  # pruned list, manifest, loose, packs, batch, manifest, loose
        with Repo(str(git_repo)) as r:
            res = r.verify()
            assert res.ok, (n, [str(p) for p in res.problems])
            assert r.store.objects.read(oids[1]) == datas[1]
            assert r.store.objects.read(f3) == d3
            r.gc(keep_last=2, grace=0, rechunk=True)
            assert r.verify().ok and r.store.objects.local_file(oids[1]) is None

    kill_at_every_step(git_repo, CHILD, check)


def test_the_kept_young_count_includes_the_chunks_a_young_manifest_holds(repo, git_repo,
                                                                        chunked):
    """A young unreachable chunked file keeps all its chunks: the report says so (it said
    "Kept 1 unreachable object (2 KB)" while 600 KB of chunks stayed)."""
    with repo.store.objects.batch() as b:  # an unreachable chunked file, all of it young
        oid = b.add_bytes(rand(20, 600_000))
    m = manifest(repo, oid)
    assert m is not None
    res = repo.gc(dry_run=True)
    assert res.young_objects == 1 + len(set(m.chunk_oids()))
    assert res.young_bytes > 600_000
    res = repo.gc()
    assert res.objects == 0 and res.young_bytes > 600_000
    assert repo.store.objects.read(oid) == rand(20, 600_000)
