"""mlver.capture.files: files and folders -> blobs and nested trees, through the stat cache."""

from __future__ import annotations

import os
import socket
import sys

import pytest

from mlver.capture import files as capfiles
from mlver.capture.files import Captured
from mlver.capture.path import capture_path
from mlver.base.errors import CaptureError
from mlver.base.hashing import oid_of
from mlver.store import index as idx
from mlver.store.objects import LocalObjectStore
from mlver.store.statcache import StatCache
from mlver.store.trees import Tree, TreeEntry

from conftest import write


@pytest.fixture
def ws(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def store(tmp_path):
    d = tmp_path / "store"
    (d / "objects").mkdir(parents=True)
    return LocalObjectStore(str(d))


@pytest.fixture
def cache(tmp_path):
    conn = idx.Index(str(tmp_path / "index.sqlite"))
    yield StatCache(conn)
    conn.close()


def _blob(content: bytes, name: str, exe: bool = False) -> TreeEntry:
    return TreeEntry(name, "blob", oid_of(content), len(content), exe)


def make_folder(ws):
    write(ws / "data" / "a.csv", "id\n1\n")
    write(ws / "data" / "run.sh", "#!/bin/sh\n")
    os.chmod(ws / "data" / "run.sh", 0o755)
    write(ws / "data" / "sub" / "c.txt", "c")
    write(ws / "data" / "sub" / "deeper" / "d.txt", "dd")
    (ws / "data" / "empty").mkdir()
    os.symlink("a.csv", ws / "data" / "link")
    os.symlink("nowhere/at/all", ws / "data" / "dangling")
    write(ws / "data" / ".git" / "HEAD", "ref: x")  # never content
    write(ws / "data" / ".mlver" / "config.json", "{}")


def expected_data_tree() -> Tree:
    deeper = Tree.of([_blob(b"dd", "d.txt")])
    sub = Tree.of([_blob(b"c", "c.txt"), TreeEntry("deeper", "tree", deeper.oid, 2)])
    empty = Tree.of([])
    return Tree.of([
        _blob(b"id\n1\n", "a.csv"),
        _blob(b"#!/bin/sh\n", "run.sh", exe=True),
        TreeEntry("sub", "tree", sub.oid, 3),
        TreeEntry("empty", "tree", empty.oid, 0),
        TreeEntry("link", "link", oid_of(b"a.csv"), 5),
        TreeEntry("dangling", "link", oid_of(b"nowhere/at/all"), 14),
    ])


def test_single_file(ws, store, cache):
    write(ws / "model.pkl", b"\x00\x01binary")
    with store.batch() as b:
        cap = capture_path(str(ws), "model.pkl", cache, b)
    assert cap == Captured("blob", oid_of(b"\x00\x01binary"), 8, 1)
    assert store.read(cap.oid) == b"\x00\x01binary"


def test_folder_becomes_nested_trees(ws, store, cache):
    make_folder(ws)
    with store.batch() as b:
        cap = capture_path(str(ws), "data", cache, b)
    expected = expected_data_tree()
    assert cap == Captured("tree", expected.oid, expected.size, 6)
    assert cap.size == 5 + 10 + 3 + 0 + 5 + 14
    # Every tree and blob it names is in the store, and the trees are exactly as expected.
    top = Tree.decode(store.read(cap.oid))
    assert top == expected
    assert {e.name for e in top.entries}.isdisjoint({".git", ".mlver"})
    sub = Tree.decode(store.read(top.get("sub").oid))
    assert Tree.decode(store.read(sub.get("deeper").oid)).get("d.txt").oid == oid_of(b"dd")
    assert store.read(top.get("link").oid) == b"a.csv"  # a link stores its target text
    assert store.read(top.get("run.sh").oid) == b"#!/bin/sh\n"
    assert Tree.decode(store.read(top.get("empty").oid)).entries == ()


def test_capture_without_batch_writes_nothing(ws, store, cache):
    make_folder(ws)
    cap = capture_path(str(ws), "data", cache)
    assert cap.oid == expected_data_tree().oid
    assert list(store.iter_oids()) == []


def test_unchanged_subfolder_keeps_its_oid(ws, cache):
    make_folder(ws)
    before = Tree.decode(expected_data_tree().encode())
    c1 = capture_path(str(ws), "data", cache)
    write(ws / "data" / "a.csv", "id\n1\n2\n")
    c2 = capture_path(str(ws), "data", cache)
    assert c1.oid != c2.oid
    # Recompute what the second tree must be: only a.csv changed, "sub" keeps its oid.
    after = Tree.of([e for e in before.entries if e.name != "a.csv"] + [_blob(b"id\n1\n2\n", "a.csv")])
    assert c2.oid == after.oid
    assert after.get("sub").oid == before.get("sub").oid


def test_top_level_symlinks_are_followed(ws, cache):
    make_folder(ws)
    os.symlink("data/a.csv", ws / "file-link")
    os.symlink("data", ws / "dir-link")
    assert capture_path(str(ws), "file-link", cache) == Captured("blob", oid_of(b"id\n1\n"), 5, 1)
    assert capture_path(str(ws), "dir-link", cache).oid == expected_data_tree().oid


def test_a_sub_folder_swapped_for_a_link_during_the_walk_is_refused_not_followed(ws, cache,
                                                                               monkeypatch):
    """Sub-folders are opened without following a link (each entry is then stat'ed through
    the folder's descriptor): a folder replaced by a link to elsewhere after its parent was
    read is a clear error, never a walk of the link's target."""
    make_folder(ws)
    write(ws / "outside" / "secret.txt", "not data\n")
    real_scan_dir = capfiles._scan_dir

    def swap_then_scan(root, node, top=False):
        if node.rel == "data/sub":  # the parent listed it as a folder: swap it now
            os.rename(ws / "data" / "sub", ws / "sub-moved")
            os.symlink(ws / "outside", ws / "data" / "sub")
        return real_scan_dir(root, node, top)

    monkeypatch.setattr(capfiles, "_scan_dir", swap_then_scan)
    with pytest.raises(CaptureError, match="'data/sub' stopped being a folder"):
        capture_path(str(ws), "data", cache)


def test_many_files_use_the_pool_and_match(ws, store, cache):
    n = capfiles.CHUNK_FILES * 2 + 7
    for i in range(n):
        write(ws / "many" / f"f{i:04d}.txt", f"file {i}\n")
    with store.batch() as b:
        cap = capture_path(str(ws), "many", cache, b)
    expected = Tree.of([_blob(f"file {i}\n".encode(), f"f{i:04d}.txt") for i in range(n)])
    assert cap == Captured("tree", expected.oid, expected.size, n)
    assert len(list(store.iter_oids())) == n + 1


def test_missing_path(ws, cache):
    with pytest.raises(CaptureError) as ei:
        capture_path(str(ws), "data/nope.csv", cache)
    assert str(ei.value).startswith("path 'data/nope.csv' does not exist")


def test_dangling_top_level_symlink(ws, cache):
    os.symlink("gone.csv", ws / "link.csv")
    with pytest.raises(CaptureError, match="'link.csv' does not exist"):
        capture_path(str(ws), "link.csv", cache)


def test_fifo_in_a_folder_is_refused_by_name(ws, store, cache):
    make_folder(ws)
    os.mkfifo(ws / "data" / "sub" / "pipe")
    with pytest.raises(CaptureError) as ei:
        with store.batch() as b:
            capture_path(str(ws), "data", cache, b)
    assert "'data/sub/pipe' is a fifo" in str(ei.value)
    assert list(store.iter_oids()) == []
    assert os.listdir(store.tmp_dir) == []


def test_fifo_at_top_level_is_refused(ws, cache):
    os.mkfifo(ws / "pipe")
    with pytest.raises(CaptureError, match="'pipe' is a fifo"):
        capture_path(str(ws), "pipe", cache)


def test_socket_in_a_folder_is_refused(ws, cache):
    (ws / "d").mkdir()
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(ws / "d" / "s"))
    except OSError:
        pytest.skip("cannot bind a unix socket here")
    try:
        with pytest.raises(CaptureError, match="'d/s' is a socket"):
            capture_path(str(ws), "d", cache)
    finally:
        s.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/mem"), reason="needs Linux /proc")
def test_unreadable_file_is_reported(ws, cache):
    # Reading /proc/self/mem at offset 0 fails with EIO even for root: a real unreadable file.
    os.symlink("/proc/self/mem", ws / "mem")
    with pytest.raises(CaptureError) as ei:
        capture_path(str(ws), "mem", cache)
    assert str(ei.value).startswith("cannot read 'mem'")


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root reads anything")
def test_permission_denied_file(ws, cache):
    write(ws / "d" / "secret.csv", "x")
    os.chmod(ws / "d" / "secret.csv", 0)
    try:
        with pytest.raises(CaptureError, match="cannot read 'd/secret.csv' \\(permission denied\\)"):
            capture_path(str(ws), "d", cache)
    finally:
        os.chmod(ws / "d" / "secret.csv", 0o644)



@pytest.mark.skipif(sys.platform != "linux", reason="needs a file system that takes any bytes")
def test_non_utf8_file_name_is_stored_or_refused_by_name(ws, store, cache):
    """A file name that is not UTF-8 (legal on Linux): never a crash of the JSON encoder."""
    name = os.fsdecode(b"bad\xff.csv")
    write(ws / "d" / name, "x")
    try:
        with store.batch() as b:
            cap = capture_path(str(ws), "d", cache, b)
    except CaptureError as e:
        assert "bad" in str(e) and "\n" not in str(e)
        return
    tree = Tree.decode(store.read(cap.oid))
    assert len(tree.entries) == 1 and tree.entries[0].oid == oid_of(b"x")


# -- folders reused by signature ---------------------------------------------------------------

@pytest.fixture
def no_racy(monkeypatch):
    """Files written a moment ago count as settled (the racy window is tested on its own)."""
    monkeypatch.setattr("mlver.store.statcache.RACY_NS", 0)


def _capture(ws, cache_path, batch=None, monkeypatch=None):
    """Capture ``data`` with a fresh StatCache over the index at ``cache_path``; return the
    result and how many per-file lookups it made."""
    conn = idx.Index(str(cache_path))
    cache = StatCache(conn)
    calls = []
    real = cache.lookup
    cache.lookup = lambda path, key: calls.append(path) or real(path, key)
    try:
        got = capture_path(str(ws), "data", cache, batch)
        cache.save()
        return got, len(calls), conn.folder_rows("")
    finally:
        rows = list(conn.folder_rows(""))
        conn.close()
        _capture.rows = rows


def test_an_unchanged_folder_reuses_its_tree_without_a_lookup(ws, tmp_path, no_racy):
    make_folder(ws)
    first, looked, _ = _capture(ws, tmp_path / "i.sqlite")
    assert looked == 4  # every file was looked up (and hashed) once
    assert {r[0] for r in _capture.rows} == {"data", "data/sub", "data/sub/deeper", "data/empty"}
    again, looked, _ = _capture(ws, tmp_path / "i.sqlite")
    assert again == first and looked == 0


@pytest.mark.parametrize("change", ["edit", "add", "remove", "rename", "chmod", "relink"])
def test_any_change_below_a_folder_is_seen(ws, tmp_path, no_racy, change):
    make_folder(ws)
    _capture(ws, tmp_path / "i.sqlite")
    deep = ws / "data" / "sub" / "deeper" / "d.txt"
    if change == "edit":
        deep.write_text("changed, longer")
    elif change == "add":
        write(ws / "data" / "sub" / "deeper" / "new.txt", "n")
    elif change == "remove":
        deep.unlink()
    elif change == "rename":
        deep.rename(deep.with_name("e.txt"))
    elif change == "chmod":
        os.chmod(deep, 0o755)
    else:
        (ws / "data" / "link").unlink()
        os.symlink("run.sh", ws / "data" / "link")
    got, looked, _ = _capture(ws, tmp_path / "i.sqlite")
    truth, _, _ = _capture(ws, tmp_path / "fresh.sqlite")  # no rows: everything hashed
    assert got == truth
    # only the files of the changed folder and of its parents (held, then released) were
    # looked up: deeper/ (d.txt and what changed), sub/ (c.txt), data/ (a.csv, run.sh)
    assert looked == dict(edit=4, add=5, remove=3, rename=4, chmod=4, relink=2)[change]


def test_fresh_files_make_no_folder_row(ws, tmp_path):
    make_folder(ws)  # written just now: within the racy window of every file system
    _capture(ws, tmp_path / "i.sqlite")
    # only the folder with no file in it: its signature holds no stat to be racy about
    assert [r[0] for r in _capture.rows] == ["data/empty"]


def test_a_status_row_is_not_trusted_by_a_write(ws, tmp_path, store, no_racy):
    """Rows of a capture that wrote nothing (status) name trees the store may lack: a
    capture that writes redoes them, and then the store holds every object."""
    make_folder(ws)
    first, _, _ = _capture(ws, tmp_path / "i.sqlite")  # batch None: stored = 0
    assert {r[5] for r in _capture.rows} == {0}
    with store.batch() as b:
        wrote, looked, _ = _capture(ws, tmp_path / "i.sqlite", b)
    assert wrote == first and looked == 4
    assert store.missing([wrote.oid]) == []
    assert Tree.decode(store.read(wrote.oid)).entries  # the tree itself is stored
    assert {r[5] for r in _capture.rows} == {1}
    with store.batch() as b:
        again, looked, _ = _capture(ws, tmp_path / "i.sqlite", b)
    assert again == first and looked == 0


def test_a_sub_folder_captured_alone_does_not_leave_its_parents_rows_stale(
        ws, tmp_path, monkeypatch):
    """Review (issue 24): a folder row was reused when its own signature (its files and
    the *names* of its sub-folders) matched and every sub-folder was reused. Capturing a
    sub-folder alone (a second name's output, or a new folder a monitored patch walks)
    rewrote that sub-folder's row but not its parents': the next capture of the parent
    reused the stale parent row, a wrong tree recorded silently."""
    from mlver.store import statcache

    monkeypatch.setattr(statcache, "RACY_NS", 0)  # files written just now count as settled

    def fresh():
        conn = idx.Index(str(tmp_path / "index.sqlite"))
        c = StatCache(conn)
        c.started_ns += 1  # a later command: the files' ctimes are behind its start
        return conn, c

    def capture(rel):
        conn, c = fresh()
        try:
            return capture_path(str(ws), rel, c)
        finally:
            c.save()
            conn.close()

    write(ws / "data" / "y" / "b" / "f1", "one")
    first = capture("data")
    (ws / "data" / "y" / "b" / "f1").unlink()
    write(ws / "data" / "y" / "b" / "f2", "two")
    capture("data/y/b")  # rewrites only data/y/b's row
    again = capture("data")
    expected = Tree.of([TreeEntry("y", "tree", Tree.of([TreeEntry(
        "b", "tree", Tree.of([_blob(b"two", "f2")]).oid, 3)]).oid, 3)])
    assert again.oid == expected.oid != first.oid
