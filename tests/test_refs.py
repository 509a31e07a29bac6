"""mlver.store.refs: the mutable layer, changed under a lock with compare-and-swap."""

from __future__ import annotations

import os
import threading

import pytest

from mlver.base.errors import LockError, RecordFormatError, RefConflictError, StoreFormatError
from mlver.base.hashing import oid_of
from mlver.store.refs import Refs, locked, valid_name

O1 = oid_of(b"1")
O2 = oid_of(b"2")
O3 = oid_of(b"3")


@pytest.fixture
def refs(tmp_path) -> Refs:
    return Refs(str(tmp_path / ".mlver"))


@pytest.mark.parametrize("name,ok", [
    ("price-model", True), ("listings", True), ("a", True), ("v1.2_x", True), ("9lives", True),
    ("", False), ("-x", False), (".hidden", False), ("a/b", False), ("a@b", False),
    ("a~1", False), ("a b", False), ("x.lock", False), ("a" * 128, True), ("a" * 129, False),
    ("..", False), ("naïve", False),
])
def test_valid_name(name, ok):
    assert valid_name(name) is ok


def test_create_then_move_with_compare_and_swap(refs):
    assert refs.get("m") is None
    refs.update("m", O1, None)
    assert refs.get("m") == O1
    refs.update("m", O2, O1)
    assert refs.get("m") == O2
    path = os.path.join(refs.names_dir, "m")
    assert open(path).read() == O2 + "\n"
    assert not os.path.exists(path + ".lock")


def test_stale_old_value_is_refused_and_ref_kept(refs):
    refs.update("m", O1, None)
    with pytest.raises(RefConflictError, match="m"):
        refs.update("m", O3, O2)
    with pytest.raises(RefConflictError):
        refs.update("m", O3, None)  # creating an existing ref is a conflict too
    assert refs.get("m") == O1
    assert not os.path.exists(os.path.join(refs.names_dir, "m.lock"))


def test_names_sorted_and_invalid_ignored(refs):
    for n in ("zeta", "alpha", "mid"):
        refs.update(n, O1, None)
    open(os.path.join(refs.names_dir, "mid.lock"), "w").close()  # a held lock is not a name
    assert refs.names() == ["alpha", "mid", "zeta"]
    assert refs.get("../names/alpha") is None  # an invalid name never reaches the disk


def test_names_of_empty_store(refs):
    assert refs.names() == []
    assert refs.tags("m") == {}


def test_tags(refs):
    assert refs.get_tag("m", "prod") is None
    assert refs.set_tag("m", "prod", O1) is None
    assert refs.set_tag("m", "prod", O2) == O1  # moving returns the old value
    refs.set_tag("m", "staging", O3)
    assert refs.get_tag("m", "prod") == O2
    assert refs.tags("m") == {"prod": O2, "staging": O3}
    assert refs.get_tag("m", "../x") is None


def test_ref_holding_garbage_is_reported(refs):
    os.makedirs(refs.names_dir)
    with open(os.path.join(refs.names_dir, "m"), "w") as f:
        f.write("not an oid\n")
    with pytest.raises(RecordFormatError, match="does not hold an oid"):
        refs.get("m")


def test_held_lock_times_out_with_clear_error(refs, tmp_path):
    refs.update("m", O1, None)
    path = os.path.join(refs.names_dir, "m")
    open(path + ".lock", "w").close()  # another process holds it
    with pytest.raises(LockError, match=r"m\.lock"):
        with locked(path, timeout=0.05):
            pass
    os.unlink(path + ".lock")
    assert refs.get("m") == O1


def test_lock_released_when_body_fails(tmp_path):
    path = str(tmp_path / "ref")
    with pytest.raises(ValueError):
        with locked(path):
            assert os.path.exists(path + ".lock")
            raise ValueError
    assert not os.path.exists(path + ".lock")
    assert not os.path.exists(path)
    with locked(path) as lock:  # can be taken again
        lock.publish(O1)
    assert open(path).read().strip() == O1


def test_concurrent_compare_and_swap_loses_no_update(refs):
    """Many writers each read-modify-write the ref; every success must be on the chain."""
    parent_of: dict[str, str | None] = {}
    guard = threading.Lock()
    per_thread = 15

    def writer(tid: int) -> None:
        for i in range(per_thread):
            while True:
                cur = refs.get("m")
                new = oid_of(f"{tid}-{i}-{cur}".encode())
                try:
                    refs.update("m", new, cur)
                except RefConflictError:
                    continue
                with guard:
                    parent_of[new] = cur
                break

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    chain = []
    cur = refs.get("m")
    while cur is not None:
        chain.append(cur)
        cur = parent_of[cur]
    assert len(parent_of) == 6 * per_thread
    assert len(chain) == len(parent_of)  # every successful update is reachable: none lost
    assert not [f for f in os.listdir(refs.names_dir) if f.endswith(".lock")]


def test_delete_tag(refs):
    assert refs.delete_tag("m", "prod") is None  # nothing to delete, no folder either
    refs.set_tag("m", "prod", O1)
    refs.set_tag("m", "staging", O2)
    assert refs.delete_tag("m", "prod") == O1
    assert refs.get_tag("m", "prod") is None
    assert refs.tags("m") == {"staging": O2}
    assert refs.delete_tag("m", "prod") is None  # twice: already gone
    d = os.path.join(refs.tags_dir, "m")
    assert sorted(os.listdir(d)) == ["staging"]  # no lock or temporary file left
    refs.set_tag("m", "prod", O3)  # a deleted tag can be set again
    assert refs.get_tag("m", "prod") == O3


def test_delete_tag_compare_and_swap(refs):
    refs.set_tag("m", "prod", O1)
    with pytest.raises(RefConflictError, match=r"tag m@prod moved from .* to .*; try again"):
        refs.delete_tag("m", "prod", old=O2)  # moved since it was read: kept
    assert refs.get_tag("m", "prod") == O1
    assert refs.delete_tag("m", "prod", old=O1) == O1
    with pytest.raises(RefConflictError, match=f"moved from {O1} to None"):
        refs.delete_tag("m", "prod", old=O1)  # deleted meanwhile
    with pytest.raises(RefConflictError):
        refs.delete_tag("other", "prod", old=O1)
    assert not [f for f in os.listdir(os.path.join(refs.tags_dir, "m")) if f.endswith(".lock")]


def test_delete_tag_takes_the_lock(refs, monkeypatch):
    import functools

    import mlver.store.refs as refsmod

    refs.set_tag("m", "prod", O1)
    path = os.path.join(refs.tags_dir, "m", "prod")
    open(path + ".lock", "w").close()  # another process is moving the tag
    monkeypatch.setattr(refsmod, "locked", functools.partial(locked, timeout=0.05))
    with pytest.raises(LockError, match=r"prod\.lock"):
        refs.delete_tag("m", "prod")
    assert refs.get_tag("m", "prod") == O1


@pytest.mark.parametrize("name,tag", [("m", "../../names/m"), ("../names", "m"), ("m", "x.lock"),
                                      ("m", ""), ("", "prod")])
def test_delete_tag_with_an_invalid_name_touches_nothing(refs, name, tag):
    refs.update("m", O1, None)
    refs.set_tag("m", "x", O2)
    assert refs.delete_tag(name, tag) is None
    with pytest.raises(RefConflictError):
        refs.delete_tag(name, tag, old=O1)
    assert refs.get("m") == O1 and refs.tags("m") == {"x": O2}


def test_delete_tag_refuses_a_link(refs, tmp_path):
    from mlver.base.errors import StoreFormatError

    refs.set_tag("m", "keep", O1)
    target = tmp_path / "outside"
    target.write_text(O2 + "\n")
    os.symlink(target, os.path.join(refs.tags_dir, "m", "prod"))
    with pytest.raises(StoreFormatError, match="symbolic link"):
        refs.delete_tag("m", "prod")
    assert target.read_text() == O2 + "\n"
    assert os.path.islink(os.path.join(refs.tags_dir, "m", "prod"))


def test_tag_names(refs):
    assert refs.tag_names() == []
    refs.set_tag("b", "x", O1)
    refs.set_tag("a", "x", O1)
    os.makedirs(os.path.join(refs.tags_dir, ".hidden"))
    open(os.path.join(refs.tags_dir, "file"), "w").close()  # not a folder of tags
    assert refs.tag_names() == ["a", "b"]
    refs.delete_tag("a", "x")
    assert refs.tag_names() == ["a", "b"]  # the folder stays (a concurrent tag may need it)
    assert refs.tags("a") == {}


# -- refs/pruned: the records whose data gc dropped ------------------------------------------

def test_pruned_is_empty_then_sorted_and_merged(refs):
    assert refs.pruned() == frozenset()
    refs.add_pruned([O3, O1])
    path = os.path.join(refs.store_dir, "refs", "pruned")
    assert open(path).read() == "".join(f"{o}\n" for o in sorted([O1, O3]))
    refs.add_pruned([O2, O1])
    assert refs.pruned() == {O1, O2, O3}
    assert open(path).read() == "".join(f"{o}\n" for o in sorted([O1, O2, O3]))
    assert not os.path.exists(path + ".lock")
    assert [n for n in os.listdir(os.path.dirname(path)) if "@new" in n] == []


def test_pruned_refuses_a_non_oid(refs, tmp_path):
    with pytest.raises(ValueError):
        refs.add_pruned(["../names/x"])
    assert refs.pruned() == frozenset()
    os.makedirs(os.path.join(refs.store_dir, "refs"), exist_ok=True)
    path = os.path.join(refs.store_dir, "refs", "pruned")
    with open(path, "w") as f:
        f.write(O1 + "\nnot an oid\n")
    with pytest.raises(RecordFormatError, match="refs/pruned holds a line that is not"):
        refs.pruned()
    os.unlink(path)
    target = tmp_path / "elsewhere"
    target.write_text(O1 + "\n")
    os.symlink(target, path)
    with pytest.raises(StoreFormatError, match="symbolic link"):
        refs.pruned()


def test_pruned_is_read_bounded(refs, monkeypatch):
    from mlver.store import refs as refsmod

    refs.add_pruned([O1, O2])
    monkeypatch.setattr(refsmod, "PRUNED_MAX", 40)
    with pytest.raises(StoreFormatError, match="more than the 40"):
        refs.pruned()


def test_concurrent_add_pruned_loses_nothing(refs):
    oids = [oid_of(str(i).encode()) for i in range(40)]

    def add(part):
        for o in part:
            refs.add_pruned([o])

    threads = [threading.Thread(target=add, args=(oids[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert refs.pruned() == set(oids)


def test_tag_names_include_names_without_a_ref(refs):
    refs.set_tag("gone", "prod", O1)
    refs.update("m", O2, None)
    refs.set_tag("m", "v", O2)
    assert refs.tag_names() == ["gone", "m"]


def test_a_tag_waits_while_gc_holds_the_store(refs):
    from mlver.store import storelock

    os.makedirs(refs.store_dir)
    done = threading.Event()
    with storelock.exclusive(refs.store_dir):
        t = threading.Thread(target=lambda: (refs.set_tag("m", "prod", O1), done.set()))
        t.start()
        assert not done.wait(0.3)  # blocked: gc is deleting
        assert refs.get_tag("m", "prod") is None
    assert done.wait(5)
    t.join()
    assert refs.get_tag("m", "prod") == O1
