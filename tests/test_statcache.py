"""mlver.store.statcache: unchanged files skip hashing; racily clean files are never trusted."""

from __future__ import annotations

import json
import os
import time

import pytest

from mlver.api import Repo
from mlver.capture import files as capfiles
from mlver.base.hashing import oid_of
from mlver.store import index as idx
from mlver.store.batch import Batch
from mlver.store.statcache import RACY_NS, StatCache, StatKey

from conftest import init_git, write

OLD = 1_000_000_000_000_000_000  # 2001-09-09 in ns: far from "now"


@pytest.fixture
def conn(tmp_path):
    c = idx.Index(str(tmp_path / "index.sqlite"))
    yield c
    c.close()


def key(mtime=OLD, ctime=OLD, size=4, ino=7, dev=1) -> StatKey:
    return StatKey(dev=dev, ino=ino, size=size, mtime_ns=mtime, ctime_ns=ctime)


def test_remember_save_and_lookup(conn):
    c = StatCache(conn)
    c.remember("data/a.csv", key(), "a" * 32)
    assert StatCache(conn).lookup("data/a.csv", key()) is None  # not saved yet
    c.save()
    fresh = StatCache(conn)
    assert fresh.lookup("data/a.csv", key()) == "a" * 32
    assert fresh.lookup("data/b.csv", key()) is None


@pytest.mark.parametrize("changed", [
    dict(size=5), dict(mtime=OLD + 1), dict(ctime=OLD + 1), dict(ino=8), dict(dev=2),
])
def test_any_stat_change_misses(conn, changed):
    c = StatCache(conn)
    c.remember("f", key(), "a" * 32)
    c.save()
    assert StatCache(conn).lookup("f", key(**changed)) is None


def test_racily_clean_entries_are_not_stored(conn):
    c = StatCache(conn)
    now = c.started_ns
    c.remember("fresh-mtime", key(mtime=now - 1000), "a" * 32)
    c.remember("fresh-ctime", key(ctime=now - RACY_NS // 2), "b" * 32)
    c.remember("future", key(mtime=now + 10**9), "c" * 32)
    c.remember("old", key(mtime=now - RACY_NS - 10**6, ctime=now - RACY_NS - 10**6), "d" * 32)
    c.save()
    rows = dict(conn.conn.execute("SELECT path, oid FROM stat").fetchall())
    assert rows == {"old": "d" * 32}


def test_prefix_loads_only_that_path_and_below(conn):
    c = StatCache(conn)
    for p in ("data", "data/a", "data/sub/b", "data2/c", "dat", "data-x/d", "zzz"):
        c.remember(p, key(), oid_of(p.encode()))
    c.save()
    scoped = StatCache(conn)
    scoped.load("data")
    assert sorted(scoped._rows) == ["data", "data/a", "data/sub/b"]  # one query, that subtree
    for p in ("data", "data/a", "data/sub/b"):
        assert scoped.lookup(p, key()) == oid_of(p.encode())
    # Outside the loaded prefix a lookup reads its own row: still correct, just not bulk.
    for p in ("data2/c", "dat", "data-x/d", "zzz"):
        assert scoped.lookup(p, key()) == oid_of(p.encode())
    assert scoped.lookup("nowhere", key()) is None


# -- through real snapshots -------------------------------------------------------------------

@pytest.fixture(scope="module")
def aged(tmp_path_factory):
    """A repo whose data files were written more than 2 s ago (so they may be cached)."""
    root = init_git(tmp_path_factory.mktemp("aged") / "proj")
    Repo.init(str(root)).close()
    for d in ("d1", "d2", "d3"):
        for i in range(5):
            write(root / d / f"f{i}.csv", f"id,v\n{i},{d}\n")
        write(root / d / "sub" / "deep.txt", f"deep {d}\n")
    write(root / "big" / "b.bin", bytes(range(256)) * 1024)  # 256 KiB: stored loose
    time.sleep(RACY_NS / 1e9 + 0.2)
    return root


class Counter:
    """Counts calls of hash_file / Batch.add_file (instrumentation; the real ones run)."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[str] = []
        orig_add, orig_hash = Batch.add_file, capfiles.hash_file

        def add_file(batch, path):
            self.calls.append(path)
            return orig_add(batch, path)

        def hash_file(path):
            self.calls.append(path)
            return orig_hash(path)

        monkeypatch.setattr(Batch, "add_file", add_file)
        monkeypatch.setattr(capfiles, "hash_file", hash_file)


def _stat_paths(repo: Repo) -> set[str]:
    return {r[0] for r in repo.store.index.conn.execute("SELECT path FROM stat")}


def test_second_snapshot_of_unchanged_files_does_not_rehash(aged, monkeypatch):
    monkeypatch.chdir(aged)
    with Repo(str(aged)) as repo:
        first = repo.snapshot("s1", inputs={"data": "d1"})
        assert first.created
        assert {f"d1/f{i}.csv" for i in range(5)} | {"d1/sub/deep.txt"} <= _stat_paths(repo)
    counter = Counter(monkeypatch)
    with Repo(str(aged)) as repo:
        second = repo.snapshot("s1", inputs={"data": "d1"})
        assert not second.created and second.oid == first.oid
        assert [c for c in counter.calls if "/d1/" in c] == []
        # status reads through the same cache: still no hashing
        (st,) = repo.status("s1")
        assert st.clean
    assert [c for c in counter.calls if "/d1/" in c] == []


def test_modified_file_with_same_size_and_mtime_is_detected(aged, monkeypatch):
    monkeypatch.chdir(aged)
    f = aged / "d2" / "f0.csv"
    with Repo(str(aged)) as repo:
        first = repo.snapshot("s2", inputs={"data": "d2"})
    st = os.stat(f)
    f.write_text(f.read_text().replace("d2", "XX"))  # same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(f).st_size == st.st_size and os.stat(f).st_mtime_ns == st.st_mtime_ns
    with Repo(str(aged)) as repo:
        second = repo.snapshot("s2", inputs={"data": "d2"})
        assert second.created and second.record.version == 2
        assert second.record.inputs["data"].oid != first.record.inputs["data"].oid
        tree = repo.tree(second.record.inputs["data"].oid)
        assert tree.get("f0.csv").oid == oid_of(f.read_bytes())


def test_cached_oid_of_a_deleted_object_is_rehashed_and_restored(aged, monkeypatch):
    monkeypatch.chdir(aged)
    with Repo(str(aged)) as repo:
        first = repo.snapshot("s3", inputs={"data": "big/b.bin"})
        blob = first.record.inputs["data"].oid
        os.unlink(repo.store.objects.local_file(blob))  # a loose object can go missing
    counter = Counter(monkeypatch)
    with Repo(str(aged)) as repo:
        again = repo.snapshot("s3", inputs={"data": "big/b.bin"})
        assert not again.created
        assert repo.store.objects.has(blob)
        assert repo.store.objects.read(blob) == (aged / "big" / "b.bin").read_bytes()
    assert any(c.endswith("big/b.bin") for c in counter.calls)


def test_racily_clean_file_is_not_cached_and_change_is_detected(repo, git_repo):
    """Written within 2 s of the capture: same size and forced-back mtime is still a change."""
    f = write(git_repo / "data.csv", "id,v\n1,aaaa\n")
    first = repo.snapshot("m", inputs={"d": "data.csv"})
    assert "data.csv" not in _stat_paths(repo)  # racily clean: not trusted, not stored
    st = os.stat(f)
    f.write_text("id,v\n1,bbbb\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    second = repo.snapshot("m", inputs={"d": "data.csv"})
    assert second.created and second.record.version == 2
    assert second.record.inputs["d"].oid == oid_of(b"id,v\n1,bbbb\n") != first.record.inputs["d"].oid


@pytest.mark.parametrize("bad", [
    ["c:1:2:3:4", "z" * 32, 10, 2, 1],  # not an oid
    ["c:1:2:3:4", "0" * 32, -1, 2, 1],  # a negative size
    ["c:1:2:3:4", "0" * 32, 10, -3, 1],  # a negative count
    ["c:1:2:3:4", "0" * 32, 10, 2, 7],  # a stored flag that is neither 0 nor 1
    ["c:1:2:3:4", "0" * 32, 10.5, 2, 1],  # not an integer
    ["", "0" * 32, 10, 2, 1],  # no clock
])
def test_a_malformed_monitor_row_is_no_base(git_repo, repo, bad):
    """Review (issue 24): a monitor/1: row with a negative size was taken as is, and the
    snapshot wrote a record that no command could read afterwards."""
    from mlver.store.statcache import StatCache

    repo.store.index.set_meta("monitor/1:data", json.dumps(bad))
    assert StatCache(repo.store.index).monitored("data") is None
    good = ["c:1:2:3:4", "0" * 32, 10, 2, 1]
    repo.store.index.set_meta("monitor/1:data", json.dumps(good))
    assert StatCache(repo.store.index).monitored("data") == tuple(good)
