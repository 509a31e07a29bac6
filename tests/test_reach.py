"""mlver.core.reach: what refs, tags and records reach, and which versions an object breaks."""

from __future__ import annotations

import os

import pytest

from mlver.core import reach
from mlver.api import Repo
from mlver.base.errors import RecordFormatError
from mlver.store.trees import walk

from adversarial import craft
from conftest import write


def _project(repo, root):
    """ds@1, ds@2 (a folder with a sub-folder and a link), m@1 taking ds@1 as an input (a
    revision: ``source``), with an uncommitted edit (a code patch); tag ds@1 as prod."""
    write(root / "data" / "sub" / "a.csv", "x\n1\n")
    write(root / "data" / "b.txt", "b\n")
    os.symlink("b.txt", root / "data" / "link")
    repo.snapshot("ds", outputs={"d": "data"}, kind="dataset")
    write(root / "data" / "b.txt", "b2\n")
    repo.snapshot("ds", outputs={"d": "data"}, kind="dataset")
    write(root / "train.py", "print('edited')\n")  # tracked and changed: a patch
    write(root / "model.bin", "weights")
    repo.snapshot("m", inputs={"train": "ds@1"}, outputs={"model": "model.bin"})
    repo.tag("ds@1", "prod")


def test_walk_reaches_every_kind_of_edge(repo, git_repo):
    _project(repo, git_repo)
    starts = reach.ref_starts(repo.store)
    assert set(starts.heads) == {"ds", "m"} and list(starts.tags) == [("ds", "prod")]
    r = reach.walk(repo.store, starts.labelled())
    ds1, ds2 = repo.resolve("ds@1"), repo.resolve("ds@2")
    m1 = repo.record(repo.resolve("m"))
    assert {oid for oid, k in r.kinds.items() if k == "record"} == {ds1, ds2, repo.resolve("m")}
    assert r.kinds[m1.code.patch] == "code patch"
    assert r.kinds[m1.env.packages] == "package list"
    tree = repo.record(ds1).outputs["d"].oid
    assert r.kinds[tree] == "tree"
    below = {path: e for path, e in walk(repo.tree, tree)}
    assert r.kinds[below["link"].oid] == "link"
    assert r.kinds[below["sub"].oid] == "tree"
    assert r.kinds[below["sub/a.csv"].oid] == "blob"
    assert r.unreadable == {}
    # Every object in the store is reached: nothing here is garbage.
    assert set(repo.store.objects.iter_oids()) == set(r.kinds)


def test_breaks_names_the_versions_that_reach_an_object(repo, git_repo):
    _project(repo, git_repo)
    r = reach.walk(repo.store, reach.ref_starts(repo.store).labelled())
    ds1 = repo.record(repo.resolve("ds@1"))
    below = {path: e for path, e in walk(repo.tree, ds1.outputs["d"].oid)}
    # a.csv is in both versions of ds, and m@1 took ds@1's folder as its input
    assert r.breaks(below["sub/a.csv"].oid) == ("ds@1", "ds@2", "m@1")
    assert r.breaks(below["b.txt"].oid) == ("ds@1", "m@1")
    assert r.breaks(below["b.txt"].oid, skip=[repo.resolve("ds@1")]) == ("m@1",)
    assert r.breaks(repo.resolve("ds@2")) == ("ds@2",)  # a record breaks itself


def test_data_of_limits_the_data_walked_not_the_records(repo, git_repo):
    _project(repo, git_repo)
    m = repo.resolve("m")
    r = reach.walk(repo.store, [(m, "m")], lambda oid: oid == m)
    assert r.data_walked == {m}
    assert repo.resolve("ds@1") in r.records  # reached as the source of m's input
    ds2_tree = repo.record(repo.resolve("ds@2")).outputs["d"].oid
    assert ds2_tree not in r.kinds


def test_an_unreadable_record_or_tree_is_a_finding_not_a_crash(repo, git_repo):
    _project(repo, git_repo)
    ds1 = repo.resolve("ds@1")
    tree = repo.record(repo.resolve("ds@2")).outputs["d"].oid
    craft.remove_object(git_repo, ds1)
    craft.overwrite_object(git_repo, tree, b'{"entries":[],"format":1,"type":"treX"}')
    with Repo(str(git_repo)) as fresh:  # a new process's view of the damaged store
        r = reach.walk(fresh.store, reach.ref_starts(fresh.store).labelled())
        assert r.unreadable[ds1].kind == "record" and r.unreadable[ds1].problem == "missing"
        assert r.labels[ds1] == "ds@1"  # known from its child, ds@2
        assert r.unreadable[tree].kind == "tree" and r.unreadable[tree].problem == "corrupt"
        assert r.breaks(tree) == ("ds@2",)


def test_a_tree_bomb_costs_its_real_size_and_the_walk_is_bounded(repo):
    from _fixtures import tree_bomb

    from mlver.core.record import Artifact, Record

    top, trees = tree_bomb(60)  # 2^60 paths in 121 entries
    with repo.store.objects.batch() as b:
        for t in trees.values():
            b.add_bytes(t.encode())
        b.add_bytes(b"x")
    rec = Record(name="bomb", version=1, kind="dataset", created="2026-01-01T00:00:00Z",
                 inputs={"d": Artifact("d", top, "tree", 0, 0)})

    def fresh():
        return reach.Reach(records={"0" * 32: rec}, labels={"0" * 32: "bomb@1"})

    r = reach.walk_data(repo.store, fresh())
    assert r.entries == 121 and r.unreadable == {}
    assert len(r.kinds) == 62  # 61 trees and the one leaf blob
    with pytest.raises(RecordFormatError, match="more than 50 distinct entries"):
        reach.walk_data(repo.store, fresh(), max_entries=50)


def test_gone_slots_only_for_pruned_records_missing_data(repo, git_repo):
    _project(repo, git_repo)
    oid = repo.resolve("m")
    rec = repo.record(oid)
    assert reach.gone_slots(repo.store, oid, rec) == []
    craft.remove_object(git_repo, rec.outputs["model"].oid)
    with Repo(str(git_repo)) as fresh:
        assert reach.gone_slots(fresh.store, oid, rec) == []  # damage, not gc
        fresh.store.refs.add_pruned([oid])
        assert reach.gone_slots(fresh.store, oid, rec) == ["output model"]
