"""The lineage tables of the index (mlver.store.graph): trees indexed once per oid,
slot contents related by what contains what, one BFS step per query, records found
for content at any depth; missing trees, empty files, symlinks and tampered cycles."""

from __future__ import annotations

import sqlite3

import pytest

from mlver.base.errors import MlverError
from mlver.base.hashing import oid_of
from mlver.store import index as idx
from mlver.store.graph import DDL, MAX_TREE_DEPTH, Found, Graph, LinkRow
from mlver.store.trees import Tree, TreeEntry


class Store:
    """Trees built from nested dicts (``{name: bytes | dict}``), read back by oid."""

    def __init__(self) -> None:
        self.trees: dict[str, Tree] = {}
        self.reads = 0

    def blob(self, data: bytes) -> tuple[str, int]:
        return oid_of(data), len(data)

    def tree(self, spec: dict) -> str:
        entries = []
        for name, value in spec.items():
            if isinstance(value, dict):
                oid = self.tree(value)
                entries.append(TreeEntry(name, "tree", oid, self.trees[oid].size))
            elif isinstance(value, tuple):  # ("link", target)
                entries.append(TreeEntry(name, "link", oid_of(value[1]), len(value[1])))
            else:
                entries.append(TreeEntry(name, "blob", oid_of(value), len(value)))
        tree = Tree.of(entries)
        self.trees[tree.oid] = tree
        return tree.oid

    def read(self, oid: str) -> Tree:
        self.reads += 1
        try:
            return self.trees[oid]
        except KeyError:
            raise MlverError(f"tree {oid} is missing") from None

    def entry(self, top: str, path: str) -> str:
        oid = top
        for name in path.split("/"):
            e = self.trees[oid].get(name)
            assert e is not None, path
            oid = e.oid
        return oid


@pytest.fixture
def graph(tmp_path):
    conn = idx.connect(str(tmp_path / "index.sqlite"))
    yield Graph(conn)
    conn.close()


def rec(name: str) -> str:
    return oid_of(name.encode())


def add(graph: Graph, store: Store, name: str, inputs=(), outputs=()) -> str:
    """Index record ``name``; inputs/outputs are (slot, path, oid, type[, source])."""
    slots = []
    for relation, items in (("input", inputs), ("output", outputs)):
        for item in items:
            slot, path, oid, typ, *source = item
            slots.append((relation, slot, path, oid, typ, source[0] if source else None))
    oid = rec(name)
    graph.conn.execute("INSERT OR REPLACE INTO records(oid, name, version, kind) VALUES(?,?,?,?)",
                       (oid, name, 1, "dataset"))
    graph.add_record(oid, slots, store.read)
    return oid


def big_folder(n_dirs: int, per_dir: int, tag: str = "") -> dict:
    return {f"d{d:03d}": {f"f{i:03d}.csv": f"{d},{i}{tag}\n".encode() for i in range(per_dir)}
            for d in range(n_dirs)}


# --------------------------------------------------------------------------- schema


def test_ddl_is_the_index_schema(tmp_path):
    conn = sqlite3.connect(":memory:")
    conn.executescript(DDL)
    conn.executescript(DDL)  # idempotent
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"slots", "trees", "tree_entries", "contains"} <= names
    c = idx.connect(str(tmp_path / "i.sqlite"))
    assert c.execute("PRAGMA user_version").fetchone()[0] == idx.SCHEMA_VERSION == 5
    assert not c.execute("SELECT 1 FROM sqlite_master WHERE name='edges'").fetchone()
    c.close()


def test_an_index_of_schema_2_is_replaced(tmp_path):
    path = str(tmp_path / "index.sqlite")
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE edges(record TEXT, relation TEXT, slot TEXT, path TEXT,"
                      " oid TEXT, type TEXT, source TEXT, whole INTEGER);"
                      "INSERT INTO edges VALUES('r','input','s','p','o','blob',NULL,1);"
                      "PRAGMA user_version = 2;")
    old.close()
    conn = idx.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "edges" not in tables and {"slots", "tree_entries", "records"} <= tables
    assert Graph(conn).stats() == {"slots": 0, "trees": 0, "tree_entries": 0, "contains": 0}
    conn.close()


def test_an_index_of_schema_4_gains_the_folders_table_and_keeps_its_rows(tmp_path):
    """Version 5 only adds the folders table: the stat cache of a version-4 index stays
    (an upgrade must not make the next status hash 100k files again)."""
    path = str(tmp_path / "index.sqlite")
    c = idx.connect(path)
    c.execute("DROP TABLE folders")
    c.execute("INSERT INTO stat VALUES('data/a', 1, 2, 3, 4, 5, ?)", ("a" * 32,))
    c.execute("PRAGMA user_version = 4")
    c.commit()
    c.close()
    conn = idx.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
    assert conn.execute("SELECT count(*) FROM stat").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM folders").fetchone()[0] == 0
    conn.close()


# --------------------------------------------------------------------------- links


def test_links_at_any_depth_of_a_large_folder(graph):
    store = Store()
    top = store.tree(big_folder(60, 200))  # 12,000 files: past the old 10,000-row cap
    deep_dir, deep_file = "data/d059", "data/d059/f199.csv"
    leaf = store.entry(top, "d059/f199.csv")
    sub = store.entry(top, "d059")
    p = add(graph, store, "prep", outputs=[("out", "data", top, "tree")])
    c_file = add(graph, store, "file", inputs=[("t", deep_file, leaf, "blob")])
    c_sub = add(graph, store, "sub", inputs=[("t", deep_dir, sub, "tree")])
    c_all = add(graph, store, "all", inputs=[("t", "data", top, "tree")])
    assert graph.neighbours([c_file], "upstream") == [LinkRow(p, c_file, "t", deep_file, leaf)]
    assert graph.neighbours([c_sub], "upstream") == [LinkRow(p, c_sub, "t", deep_dir, sub)]
    down = graph.neighbours([p], "downstream")
    assert sorted((r.consumer, r.path) for r in down) == sorted(
        [(c_file, deep_file), (c_sub, deep_dir), (c_all, "data")])
    assert graph.records_with(leaf, "output") == [Found(p, "out", deep_file)]
    assert sorted(graph.records_with(leaf, "input")) == sorted(
        [Found(c_file, "t", deep_file), Found(c_sub, "t", deep_file), Found(c_all, "t", deep_file)])
    assert graph.stats()["tree_entries"] == 60 + 12_000


def test_an_input_folder_holding_a_whole_output_links(graph):
    store = Store()
    model = b"model bytes"
    m_oid, _ = store.blob(model)
    bundle = store.tree({"models": {"m.bin": model}, "notes.txt": b"n"})
    p = add(graph, store, "train", outputs=[("m", "m.bin", m_oid, "blob")])
    c = add(graph, store, "pack", inputs=[("b", "bundle", bundle, "tree")])
    assert graph.neighbours([c], "upstream") == [LinkRow(p, c, "b", "bundle/models/m.bin", m_oid)]
    assert graph.neighbours([p], "downstream") == [LinkRow(p, c, "b", "bundle/models/m.bin", m_oid)]


def test_order_of_indexing_does_not_matter(tmp_path):
    store = Store()
    top = store.tree(big_folder(3, 5))
    leaf = store.entry(top, "d002/f004.csv")
    results = []
    for order in (0, 1):
        conn = idx.connect(str(tmp_path / f"{order}.sqlite"))
        g = Graph(conn)
        steps = [lambda: add(g, store, "prep", outputs=[("o", "data", top, "tree")]),
                 lambda: add(g, store, "use", inputs=[("i", "data/d002/f004.csv", leaf, "blob")])]
        for step in (steps if order == 0 else steps[::-1]):
            step()
        results.append((g.neighbours([rec("use")], "upstream"), g.dump()))
        conn.close()
    assert results[0] == results[1]
    assert results[0][0] == [LinkRow(rec("prep"), rec("use"), "i", "data/d002/f004.csv", leaf)]


def test_unrelated_folders_sharing_a_subfolder_are_not_linked(graph):
    store = Store()
    shared = {"s.txt": b"same bytes\n"}
    out1 = store.tree({"shared": shared, "a.txt": b"a\n"})
    in2 = store.tree({"shared": shared, "b.txt": b"b\n"})
    p = add(graph, store, "p", outputs=[("o", "out1", out1, "tree")])
    q = add(graph, store, "q", inputs=[("i", "in2", in2, "tree")])
    assert graph.neighbours([q], "upstream") == []
    assert graph.neighbours([p], "downstream") == []
    # the shared sub-folder is found in both, as content
    sub = store.entry(out1, "shared")
    assert graph.records_with(sub, "output") == [Found(p, "o", "out1/shared")]
    assert graph.records_with(sub, "input") == [Found(q, "i", "in2/shared")]


def test_empty_files_folders_and_symlinks_are_no_evidence(graph):
    store = Store()
    out = store.tree({"empty.txt": b"", "nothing": {}, "link": ("link", b"target"),
                      "real.txt": b"real\n"})
    e_oid, _ = store.blob(b"")
    l_oid, _ = store.blob(b"target")
    empty_dir = store.tree({})
    p = add(graph, store, "p", outputs=[("o", "out", out, "tree")])
    for name, oid, typ in (("e", e_oid, "blob"), ("l", l_oid, "blob"), ("d", empty_dir, "tree")):
        c = add(graph, store, name, inputs=[("i", "x", oid, typ)])
        assert graph.neighbours([c], "upstream") == [], name
    assert graph.neighbours([p], "downstream") == []
    assert graph.records_with(e_oid, "output") == []
    assert {r[0] for r in graph.conn.execute("SELECT name FROM tree_entries")} == {"real.txt"}


def test_source_inputs_link_directly(graph):
    store = Store()
    a, _ = store.blob(b"a")
    b, _ = store.blob(b"b")
    p = add(graph, store, "p", outputs=[("o", "o.bin", a, "blob")])
    c = add(graph, store, "c", inputs=[("i", "other.bin", b, "blob", p)])
    assert graph.neighbours([c], "upstream") == [LinkRow(p, c, "i", "other.bin", b)]
    assert graph.neighbours([p], "downstream") == [LinkRow(p, c, "i", "other.bin", b)]


def test_no_self_links_and_describe(graph):
    store = Store()
    a, _ = store.blob(b"a")
    r = add(graph, store, "loop", inputs=[("i", "f", a, "blob")], outputs=[("o", "f", a, "blob")])
    assert graph.neighbours([r], "upstream") == []
    assert graph.neighbours([r], "downstream") == []
    assert graph.describe([r, "0" * 32]) == {r: ("loop", 1, "dataset")}
    many = [f"{i:032x}" for i in range(1000)] + [r]  # more than one IN (...) chunk
    assert graph.describe(many) == {r: ("loop", 1, "dataset")}
    assert graph.neighbours(many, "upstream") == []


def test_remove_and_readd_a_record(graph):
    store = Store()
    top = store.tree(big_folder(2, 3))
    leaf = store.entry(top, "d001/f002.csv")
    p = add(graph, store, "p", outputs=[("o", "data", top, "tree")])
    c = add(graph, store, "c", inputs=[("i", "data/d001/f002.csv", leaf, "blob")])
    before = graph.dump()
    graph.remove_record(c)
    assert graph.neighbours([p], "downstream") == []
    add(graph, store, "c", inputs=[("i", "data/d001/f002.csv", leaf, "blob")])
    add(graph, store, "c", inputs=[("i", "data/d001/f002.csv", leaf, "blob")])  # replaces
    assert graph.dump() == before


# --------------------------------------------------------------------------- growth


def test_a_new_version_adds_only_its_changed_trees(graph):
    store = Store()
    spec = {"a": {"b": {f"f{i}.txt": f"{i}\n".encode() for i in range(50)},
                  **{f"g{i}": {f"x{j}": f"{i}.{j}".encode() for j in range(40)}
                     for i in range(30)}},
            **{f"top{i}": {f"y{j}": f"t{i}.{j}".encode() for j in range(40)} for i in range(20)}}
    files = 50 + 30 * 40 + 20 * 40
    add(graph, store, "v1", outputs=[("o", "data", store.tree(spec), "tree")])
    first = graph.stats()
    assert first["tree_entries"] == files + 1 + 30 + 20 + 1  # files + folders
    reads = store.reads
    for v in range(2, 12):
        spec["a"]["b"]["f7.txt"] = f"version {v}\n".encode()
        before = graph.stats()
        add(graph, store, f"v{v}", outputs=[("o", "data", store.tree(spec), "tree")])
        after = graph.stats()
        # the three changed trees (root, a, a/b), whole listings: 21 + 31 + 50 rows
        assert after["tree_entries"] - before["tree_entries"] == 21 + 31 + 50
        assert after["trees"] - before["trees"] == 3
    assert store.reads - reads == 10 * 3  # unchanged sub-folders are never read again


def test_the_same_folder_in_many_records_is_indexed_once(graph):
    store = Store()
    top = store.tree(big_folder(10, 10))
    add(graph, store, "p", outputs=[("o", "data", top, "tree")])
    once = graph.stats()
    for i in range(20):
        add(graph, store, f"c{i}", inputs=[("i", "data", top, "tree")])
    again = graph.stats()
    assert again["tree_entries"] == once["tree_entries"] == 110
    assert again["slots"] == once["slots"] + 20


# --------------------------------------------------------------------------- damage


def test_a_missing_tree_is_indexed_when_it_comes_back(graph):
    store = Store()
    top = store.tree(big_folder(3, 4))
    sub = store.entry(top, "d001")
    leaf = store.entry(top, "d001/f003.csv")
    hidden = store.trees.pop(sub)
    p = add(graph, store, "p", outputs=[("o", "data", top, "tree")])
    c = add(graph, store, "c", inputs=[("i", "data/d001/f003.csv", leaf, "blob")])
    assert graph.records_with(leaf, "output") == []  # what could be read is indexed
    assert graph.records_with(store.entry(top, "d000/f000.csv"), "output") == \
        [Found(p, "o", "data/d000/f000.csv")]
    assert graph.stats()["trees"] == 2  # d000 and d002 only: the root is incomplete
    store.trees[sub] = hidden  # e.g. after a pull
    add(graph, store, "p", outputs=[("o", "data", top, "tree")])
    assert graph.records_with(leaf, "output") == [Found(p, "o", "data/d001/f003.csv")]
    assert graph.neighbours([c], "upstream") == [LinkRow(p, c, "i", "data/d001/f003.csv", leaf)]


def test_a_cycle_of_tree_entries_in_a_tampered_index_ends(graph):
    store = Store()
    top = store.tree({"a": {"f": b"x"}})
    sub = store.entry(top, "a")
    leaf = store.entry(top, "a/f")
    p = add(graph, store, "p", outputs=[("o", "data", top, "tree")])
    # tampering: the sub-folder now also lists the root below itself
    graph.conn.execute("INSERT INTO tree_entries VALUES(?, 'loop', ?, 'tree', 1)", (sub, top))
    found = graph.records_with(leaf, "output")
    assert Found(p, "o", "data/a/f") in found
    assert len(found) <= MAX_TREE_DEPTH
    c = add(graph, store, "c", inputs=[("i", "data", top, "tree")])
    assert [r.producer for r in graph.neighbours([c], "upstream")] == [p]


# --------------------------------------------------------------------------- tree bombs


def tree_bomb(store: Store, levels: int = 40) -> tuple[str, str, str]:
    """``levels`` trees, each listing the next twice (as ``a`` and ``b``): ``levels`` + 1
    unique trees but 2^levels paths to the file at the bottom. Returns (top, bottom tree,
    bottom file)."""
    data = b"the payload at the bottom\n"
    leaf, size = store.blob(data)
    bottom = Tree.of([TreeEntry("leaf.bin", "blob", leaf, size)])
    store.trees[bottom.oid] = bottom
    oid = bottom.oid
    for _ in range(levels):
        t = Tree.of([TreeEntry("a", "tree", oid, size), TreeEntry("b", "tree", oid, size)])
        size *= 2
        store.trees[t.oid] = t
        oid = t.oid
    return oid, bottom.oid, leaf


@pytest.mark.parametrize("producer_first", [True, False])
def test_a_tree_bomb_is_walked_once_per_unique_tree(tmp_path, producer_first):
    import time

    store = Store()
    top, bottom, leaf = tree_bomb(store)
    deep = "bomb/" + "a/" * 40
    conn = idx.connect(str(tmp_path / "index.sqlite"))
    graph = Graph(conn)
    t0 = time.perf_counter()
    steps = [lambda: add(graph, store, "p", outputs=[("o", "bomb", top, "tree")]),
             lambda: add(graph, store, "c", inputs=[("i", "in/leaf.bin", leaf, "blob")]),
             lambda: add(graph, store, "d", inputs=[("i", "dir", bottom, "tree")])]
    for step in (steps if producer_first else steps[::-1]):
        step()
    p, c, d = rec("p"), rec("c"), rec("d")
    assert graph.neighbours([c], "upstream") == [LinkRow(p, c, "i", "in/leaf.bin", leaf)]
    assert graph.neighbours([d], "upstream") == [LinkRow(p, d, "i", "dir", bottom)]
    assert sorted(graph.neighbours([p], "downstream")) == sorted(
        [LinkRow(p, c, "i", "in/leaf.bin", leaf), LinkRow(p, d, "i", "dir", bottom)])
    # one row per slot, with the smallest of the 2^40 paths
    assert graph.records_with(leaf, "output") == [Found(p, "o", deep + "leaf.bin")]
    assert graph.records_with(leaf, "input") == [Found(c, "i", "in/leaf.bin"),
                                                 Found(d, "i", "dir/leaf.bin")]
    assert graph.records_with(bottom, "output") == [Found(p, "o", deep[:-1])]
    assert graph.records_with(store.entry(top, "b/b"), "output") == [Found(p, "o", "bomb/a/a")]
    assert time.perf_counter() - t0 < 1.0
    # one contains row per (outer, inner) pair, not per path
    assert sorted(graph.conn.execute("SELECT outer_oid, inner_oid, path FROM contains")) == \
        sorted([(top, leaf, deep[5:] + "leaf.bin"), (top, bottom, deep[5:-1]),
                (bottom, leaf, "leaf.bin")])
    assert graph.stats()["tree_entries"] == 2 * 40 + 1
    assert store.reads == 41  # each unique tree read once
    conn.close()


def test_contains_keeps_one_path_per_pair_when_a_smaller_one_appears(graph):
    store = Store()
    top = store.tree({"z": {"f": b"same\n"}, "m": {"x": {"f": b"same\n"}}})
    leaf = store.entry(top, "z/f")
    hidden_oid = store.entry(top, "m")
    hidden = store.trees.pop(hidden_oid)
    p = add(graph, store, "p", outputs=[("o", "data", top, "tree")])
    c = add(graph, store, "c", inputs=[("i", "f", leaf, "blob")])
    assert graph.records_with(leaf, "output") == [Found(p, "o", "data/z/f")]
    store.trees[hidden_oid] = hidden  # e.g. after a pull
    add(graph, store, "p", outputs=[("o", "data", top, "tree")])
    assert graph.records_with(leaf, "output") == [Found(p, "o", "data/m/x/f")]
    assert list(graph.conn.execute("SELECT path FROM contains WHERE inner_oid=?", (leaf,))) == \
        [("m/x/f",)]
    assert graph.neighbours([c], "upstream") == [LinkRow(p, c, "i", "f", leaf)]
