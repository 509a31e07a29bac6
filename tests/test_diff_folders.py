"""Folder inputs in ``mlver diff``: files added, removed, modified and renamed, counts,
the first paths, sub-trees skipped when unchanged, and table diffs inside folders."""

from __future__ import annotations

import json
import shutil

from _fixtures import (HEADER, assert_ok, cli, mrepo, proj, table_rows, tree_bomb, write,
                       write_csv)

__all__ = ["mrepo", "proj"]


def build_v1(proj):
    write(proj / "data/a.txt", "alpha\n")
    write(proj / "data/b.txt", "bravo\n")
    write(proj / "data/sub/c.txt", "charlie\n")
    write(proj / "data/keep/k1.txt", "kilo one\n")
    write(proj / "data/keep/deeper/k2.txt", "kilo two\n")


def to_v2(proj):
    (proj / "data/a.txt").unlink()                           # removed
    write(proj / "data/new.txt", "november\n")                # added
    write(proj / "data/b.txt", "bravo, changed\n")            # modified
    shutil.move(proj / "data/sub/c.txt", proj / "data/sub/c_renamed.txt")  # renamed


def test_added_removed_modified_renamed_with_counts(mrepo, proj):
    build_v1(proj)
    mrepo.snapshot("ds", inputs={"data": "data"}, kind="dataset")
    to_v2(proj)
    mrepo.snapshot("ds", inputs={"data": "data"})
    s = mrepo.diff("ds@1", "ds@2").inputs["data"]
    assert s.status == "modified" and s.type == "tree"
    f = s.files
    assert f.added == ("new.txt",)
    assert f.removed == ("a.txt",)
    assert f.modified == ("b.txt",)
    assert f.renamed == (("sub/c.txt", "sub/c_renamed.txt"),)
    assert f.counts == {"added": 1, "removed": 1, "modified": 1, "renamed": 1}
    j = json.loads(assert_ok(cli("diff", "ds@1", "ds@2", "--json")))
    files = j["inputs"]["data"]["files"]
    assert files["renamed"] == [{"old": "sub/c.txt", "new": "sub/c_renamed.txt"}]
    assert files["counts"] == {"added": 1, "removed": 1, "modified": 1, "renamed": 1}
    assert j["inputs"]["data"]["path"] == "data"
    text = assert_ok(cli("diff", "ds@1", "ds@2"))
    assert ("    data   data (data/): 1 added: data/new.txt; 1 removed: data/a.txt; 1 modified: "
            "data/b.txt; 1 renamed: data/sub/c.txt -> data/sub/c_renamed.txt") in text.splitlines()
    assert files["more"] == {"added": 0, "removed": 0, "modified": 0, "renamed": 0}


def test_unchanged_subfolder_is_skipped(mrepo, proj):
    build_v1(proj)
    mrepo.snapshot("ds", inputs={"data": "data"})
    to_v2(proj)
    mrepo.snapshot("ds", inputs={"data": "data"})
    old_root = mrepo.show("ds@1")[1].inputs["data"].oid
    new_root = mrepo.show("ds@2")[1].inputs["data"].oid
    keep = {e.name: e for e in mrepo.tree(new_root).entries}["keep"]
    assert keep.oid == {e.name: e for e in mrepo.tree(old_root).entries}["keep"].oid
    deeper = {e.name: e for e in mrepo.tree(keep.oid).entries}["deeper"]
    read = []
    real = mrepo.store.tree

    def spy(oid):
        read.append(oid)
        return real(oid)

    mrepo.store.tree = spy
    try:
        f = mrepo.diff("ds@1", "ds@2").inputs["data"].files
    finally:
        del mrepo.store.tree
    assert old_root in read and new_root in read
    assert keep.oid not in read and deeper.oid not in read
    assert not any(p.startswith("keep/") for p in f.added + f.removed + f.modified)


def test_whole_subfolder_added_and_removed_lists_its_files(mrepo, proj):
    write(proj / "data/old/x.txt", "x\n")
    write(proj / "data/old/y/z.txt", "z\n")
    mrepo.snapshot("ds", inputs={"data": "data"})
    shutil.rmtree(proj / "data/old")
    write(proj / "data/fresh/p.txt", "p\n")
    write(proj / "data/fresh/q.txt", "q\n")
    mrepo.snapshot("ds", inputs={"data": "data"})
    f = mrepo.diff("ds@1", "ds@2").inputs["data"].files
    assert f.removed == ("old/x.txt", "old/y/z.txt")
    assert f.added == ("fresh/p.txt", "fresh/q.txt")
    assert f.counts["renamed"] == 0


def test_moved_folder_is_renames(mrepo, proj):
    write(proj / "data/one/x.txt", "x content\n")
    write(proj / "data/one/y.txt", "y content\n")
    mrepo.snapshot("ds", inputs={"data": "data"})
    shutil.move(proj / "data/one", proj / "data/two")
    mrepo.snapshot("ds", inputs={"data": "data"})
    f = mrepo.diff("ds@1", "ds@2").inputs["data"].files
    assert f.renamed == (("one/x.txt", "two/x.txt"), ("one/y.txt", "two/y.txt"))
    assert f.counts == {"added": 0, "removed": 0, "modified": 0, "renamed": 2}


def test_first_ten_of_each_then_more_in_text_json_and_report(mrepo, proj):
    write(proj / "data/seed.txt", "s\n")
    for i in range(3):
        write(proj / f"data/m{i}.txt", f"old {i}\n")
    mrepo.snapshot("ds", inputs={"data": "data"})
    for i in range(12):
        write(proj / f"data/f{i:02d}.txt", f"file {i}\n")
    for i in range(3):
        write(proj / f"data/m{i}.txt", f"new {i}\n")
    mrepo.snapshot("ds", inputs={"data": "data"})
    f = mrepo.diff("ds@1", "ds@2").inputs["data"].files
    assert f.added == tuple(f"f{i:02d}.txt" for i in range(10))
    j = json.loads(assert_ok(cli("diff", "ds@1", "ds@2", "--json")))["inputs"]["data"]["files"]
    assert j["added"] == [f"f{i:02d}.txt" for i in range(10)]
    assert j["counts"] == {"added": 12, "removed": 0, "modified": 3, "renamed": 0}
    assert j["more"] == {"added": 2, "removed": 0, "modified": 0, "renamed": 0}
    text = assert_ok(cli("diff", "ds@1", "ds@2")).splitlines()
    assert ("    data   data (data/): 12 added: "
            + ", ".join(f"data/f{i:02d}.txt" for i in range(10))
            + ", +2 more; 3 modified: data/m0.txt, data/m1.txt, data/m2.txt") in text
    page = mrepo.report("ds@1", "ds@2")
    assert "<summary>added (12)</summary>" in page
    assert page.count("<li><code>f") == 10 and "<li class=muted>+2 more</li>" in page


def test_root_cause_line_names_the_added_file(mrepo, proj):
    """``raw/: 1 added: raw/febuary_batch.csv`` on the root-cause line (issue 19 §3)."""
    write(proj / "raw/january.csv", "a\n1\n")
    for v in (1, 2):
        if v == 2:
            write(proj / "raw/febuary_batch.csv", "a\n2\n")
        mrepo.snapshot("raw", outputs={"raw": "raw"}, kind="dataset")
        write(proj / "feat.txt", f"f{v}\n")
        mrepo.snapshot("feat", inputs={"raw": "raw"}, outputs={"f": "feat.txt"})
        write(proj / "model.bin", f"m{v}\n")
        mrepo.snapshot("m", inputs={"f": "feat.txt"}, outputs={"model": "model.bin"})
    d = mrepo.diff("m@1", "m@2")
    assert d.verdict[2] == ("  root cause: feat@1 -> feat@2: raw (raw/): 1 added: "
                            "raw/febuary_batch.csv")
    d = mrepo.diff("raw@1", "raw@2")
    assert d.verdict[-1] == "  output raw (raw/): 1 added: raw/febuary_batch.csv"


def test_counts_exact_lists_cut(mrepo, proj):
    write(proj / "data/seed.txt", "s\n")
    mrepo.snapshot("ds", inputs={"data": "data"})
    for i in range(30):
        write(proj / f"data/f{i:02d}.txt", f"file {i}\n")
    mrepo.snapshot("ds", inputs={"data": "data"})
    f = mrepo.diff("ds@1", "ds@2").inputs["data"].files
    assert f.counts["added"] == 30
    assert 0 < len(f.added) < 30
    assert list(f.added) == [f"f{i:02d}.txt" for i in range(len(f.added))]  # the first N, sorted


def test_table_inside_a_folder_gets_a_table_diff(mrepo, proj):
    rows = table_rows(40, seed=31)
    write_csv(proj / "data/t.csv", HEADER, rows)
    write(proj / "data/readme.txt", "r\n")
    mrepo.snapshot("ds", inputs={"data": "data"})
    write_csv(proj / "data/t.csv", HEADER, rows[:33])
    mrepo.snapshot("ds", inputs={"data": "data"})
    s = mrepo.diff("ds@1", "ds@2").inputs["data"]
    assert s.files.modified == ("t.csv",)
    t = s.tables["t.csv"]
    assert (t.rows_removed, t.rows_added) == (7, 0)
    j = json.loads(assert_ok(cli("diff", "ds@1", "ds@2", "--json")))
    assert j["inputs"]["data"]["tables"]["t.csv"]["rows_removed"] == 7


def test_input_changing_from_file_to_folder(mrepo, proj):
    write(proj / "data", "a file first\n")
    mrepo.snapshot("ds", inputs={"data": "data"})
    (proj / "data").unlink()
    write(proj / "data/inside.txt", "now a folder\n")
    mrepo.snapshot("ds", inputs={"data": "data"})
    s = mrepo.diff("ds@1", "ds@2").inputs["data"]
    assert s.status == "modified"
    assert s.note and "blob" in s.note and "tree" in s.note
    assert_ok(cli("diff", "ds@1", "ds@2"))


def test_folder_diff_against_workspace(mrepo, proj):
    build_v1(proj)
    mrepo.snapshot("ds", inputs={"data": "data"})
    to_v2(proj)
    f = mrepo.diff("ds").inputs["data"].files
    assert f.counts == {"added": 1, "removed": 1, "modified": 1, "renamed": 1}


# -- crafted trees ----------------------------------------------------------------------------


def test_a_tree_bomb_against_a_small_tree_fails_fast_and_clearly():
    import time

    import pytest

    from mlver.diff.folders import diff_trees
    from mlver.base.errors import RecordFormatError
    from mlver.base.hashing import oid_of
    from mlver.store.trees import Tree, TreeEntry

    top, trees = tree_bomb(40)
    small = Tree.of([TreeEntry("a.txt", "blob", oid_of(b"a"), 1)])
    trees[small.oid] = small
    reads = []

    def read(oid):
        reads.append(oid)
        return trees[oid]

    for old, new, side in ((top, small.oid, "old"), (small.oid, top, "new")):
        t0 = time.perf_counter()
        with pytest.raises(RecordFormatError) as ei:
            diff_trees(read, old, new)
        assert time.perf_counter() - t0 < 1.0
        msg = str(ei.value)
        assert f"the {side} tree {top} holds more than 10,000,000 files" in msg
        assert "crafted" in msg
    assert len(reads) == 2 * len(trees)  # each unique tree read once per diff

    # two bombs that differ at the bottom: every path differs; bounded too
    other, more = tree_bomb(40, b"y")
    trees.update(more)
    t0 = time.perf_counter()
    with pytest.raises(RecordFormatError, match="holds more than 10,000,000 files"):
        diff_trees(read, top, other)  # counted per unique pair of sub-trees: no walk at all
    assert time.perf_counter() - t0 < 1.0
    with pytest.raises(RecordFormatError, match="holds more than 1,000 files"):
        diff_trees(read, top, other, max_entries=1_000)


def test_a_bomb_whose_changes_are_small_diffs_exactly():
    from mlver.diff.folders import diff_trees
    from mlver.base.hashing import oid_of
    from mlver.store.trees import Tree, TreeEntry

    top, trees = tree_bomb(40)
    old = Tree.of([TreeEntry("bomb", "tree", top, 1)])
    new = Tree.of([TreeEntry("bomb", "tree", top, 1),
                   TreeEntry("new.txt", "blob", oid_of(b"n"), 1)])
    trees.update({old.oid: old, new.oid: new})
    d = diff_trees(trees.__getitem__, old.oid, new.oid)  # the bomb is skipped: same oid
    assert d.added == ("new.txt",) and d.counts == {"added": 1, "removed": 0, "modified": 0,
                                                    "renamed": 0}
    # a small bomb within the bound: every file listed, counts exact
    small, more = tree_bomb(4)
    trees.update(more)
    tiny = Tree.of([TreeEntry("x.txt", "blob", oid_of(b"n"), 1)])
    trees[tiny.oid] = tiny
    d = diff_trees(trees.__getitem__, small, tiny.oid)
    assert d.counts == {"added": 1, "removed": 2 ** 4, "modified": 0, "renamed": 0}
    assert d.removed[:2] == ("a/a/a/a/leaf.bin", "a/a/a/b/leaf.bin")
