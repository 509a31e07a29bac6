"""mlver.store.trees: canonical tree objects, one per directory, nested like git."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlver.base import canonical
from mlver.base.errors import RecordFormatError
from mlver.base.hashing import oid_of
from mlver.store.trees import Tree, TreeEntry, walk
from _fixtures import tree_bomb

O_EMPTY = "99aa06d3014798d86001c324468d497f"
O_A = "a96faf705af16834e6c632b61e964e1f"
O_ABC = "06b05ab6733a618578af5f94892f3950"
O_HELLO = "eefac9d87100cd1336b2e733a5484425"
O_KB = "83885e853bb6640ca870f92984398d22"


def golden_tree() -> Tree:
    # Deliberately given out of order: Tree.of sorts.
    return Tree.of([
        TreeEntry("train.csv", "blob", O_HELLO, 12, False),
        TreeEntry("images", "tree", O_KB, 1024),
        TreeEntry("run.sh", "blob", O_ABC, 3, True),
        TreeEntry("latest", "link", O_A, 1),
        TreeEntry("données.txt", "blob", O_EMPTY, 0),
    ])


GOLDEN_BYTES = (
    b'{"entries":['
    b'{"exec":false,"name":"donn\xc3\xa9es.txt","oid":"99aa06d3014798d86001c324468d497f","size":0,"type":"blob"},'
    b'{"exec":false,"name":"images","oid":"83885e853bb6640ca870f92984398d22","size":1024,"type":"tree"},'
    b'{"exec":false,"name":"latest","oid":"a96faf705af16834e6c632b61e964e1f","size":1,"type":"link"},'
    b'{"exec":true,"name":"run.sh","oid":"06b05ab6733a618578af5f94892f3950","size":3,"type":"blob"},'
    b'{"exec":false,"name":"train.csv","oid":"eefac9d87100cd1336b2e733a5484425","size":12,"type":"blob"}'
    b'],"format":1,"type":"tree"}'
)
GOLDEN_OID = "610765491281ef65fe5ce4b354aa1630"


def test_golden_tree_bytes_and_oid():
    t = golden_tree()
    assert t.encode() == GOLDEN_BYTES
    assert t.oid == GOLDEN_OID
    assert oid_of(GOLDEN_BYTES) == GOLDEN_OID


def test_golden_tree_decodes_back():
    t = Tree.decode(GOLDEN_BYTES)
    assert t == golden_tree()
    assert [e.name for e in t.entries] == ["données.txt", "images", "latest", "run.sh", "train.csv"]
    assert t.get("run.sh").exec is True
    assert t.get("missing") is None
    assert t.size == 0 + 1024 + 1 + 3 + 12


def test_entry_order_does_not_change_the_oid():
    entries = list(golden_tree().entries)
    assert Tree.of(reversed(entries)).oid == GOLDEN_OID


def test_exec_bit_changes_the_oid():
    a = Tree.of([TreeEntry("x", "blob", O_A, 1, False)])
    b = Tree.of([TreeEntry("x", "blob", O_A, 1, True)])
    assert a.oid != b.oid


def test_decode_accepts_non_canonical_json():
    d = json.loads(GOLDEN_BYTES)
    assert Tree.decode(json.dumps(d, indent=2).encode()) == golden_tree()


def _tree_bytes(entries, **top) -> bytes:
    d = {"entries": entries, "format": 1, "type": "tree"}
    d.update(top)
    return canonical.dumps(d)


def _entry(name="a", type="blob", oid=O_A, size=1, exec=False) -> dict:
    return {"exec": exec, "name": name, "oid": oid, "size": size, "type": type}


@pytest.mark.parametrize("data,needle", [
    (b"not json", "not a tree"),
    (b"[1, 2]", "not a tree"),
    (_tree_bytes([], type="record"), "not a tree"),
    (_tree_bytes([], format=2), "format 2"),
    (_tree_bytes([_entry("b"), _entry("a")]), "sorted"),
    (_tree_bytes([_entry("a"), _entry("a")]), "unique"),
    (_tree_bytes([_entry("..")]), "'..'"),
    (_tree_bytes([_entry(".")]), "'.'"),
    (_tree_bytes([_entry("")]), "''"),
    (_tree_bytes([_entry("etc/passwd")]), "etc/passwd"),
    (_tree_bytes([_entry("a\\b")]), "a\\\\b"),
    (_tree_bytes([_entry(type="socket")]), "bad type"),
    (_tree_bytes([_entry(oid="XYZ")]), "bad type, oid"),
    (_tree_bytes([_entry(size=-1)]), "size"),
    (_tree_bytes([{"name": "a"}]), "malformed"),
])
def test_decode_rejects_malformed_trees(data, needle):
    with pytest.raises(RecordFormatError) as ei:
        Tree.decode(data)
    assert needle in str(ei.value)


def test_walk_yields_nested_paths_depth_first():
    leaf = Tree.of([TreeEntry("c.txt", "blob", O_ABC, 3)])
    mid = Tree.of([TreeEntry("b", "tree", leaf.oid, 3), TreeEntry("b.txt", "blob", O_A, 1)])
    top = Tree.of([TreeEntry("a", "tree", mid.oid, 4), TreeEntry("z", "link", O_EMPTY, 0)])
    trees = {t.oid: t for t in (leaf, mid, top)}
    paths = [(p, e.type) for p, e in walk(trees.__getitem__, top.oid)]
    assert paths == [("a", "tree"), ("a/b", "tree"), ("a/b/c.txt", "blob"), ("a/b.txt", "blob"),
                     ("z", "link")]
    assert [p for p, _ in walk(trees.__getitem__, mid.oid, "data/")][0] == "data/b"


# -- round trips ----------------------------------------------------------------------------

names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\0"),
                min_size=1, max_size=20).filter(lambda n: n not in (".", ".."))
oids = st.text("0123456789abcdef", min_size=32, max_size=32)
entries = st.builds(TreeEntry, name=names, type=st.sampled_from(["blob", "tree", "link"]),
                    oid=oids, size=st.integers(0, 2**62), exec=st.booleans())


@settings(max_examples=150, deadline=None)
@given(st.lists(entries, max_size=12, unique_by=lambda e: e.name))
def test_encode_decode_round_trip(items):
    t = Tree.of(items)
    data = t.encode()
    back = Tree.decode(data)
    assert back == t
    assert back.encode() == data
    assert back.oid == t.oid == oid_of(data)
    assert Tree.of(reversed(items)).oid == t.oid


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1).filter(lambda n: "/" not in n and n not in (".", "..")),
                          st.sampled_from(["blob", "tree", "link"]),
                          st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
                          st.integers(min_value=0, max_value=2**53), st.booleans()),
                unique_by=lambda r: r[0]))
def test_fast_encoding_equals_canonical_json(rows):
    """Capture writes tree bytes directly; they must be canonical.dumps of the tree dict."""
    from mlver.base import canonical
    from mlver.store.trees import encode_rows

    rows = sorted(rows, key=lambda r: r[0])
    expected = canonical.dumps({"entries": [{"exec": e, "name": n, "oid": o, "size": s, "type": t}
                                            for n, t, o, s, e in rows],
                                "format": 1, "type": "tree"})
    assert encode_rows(rows) == expected


# -- crafted trees --------------------------------------------------------------------------


def test_walk_of_a_tree_bomb_stops_with_a_clear_error():
    import time

    top, trees = tree_bomb(40)
    reads: list[str] = []

    def read(oid: str) -> Tree:
        reads.append(oid)
        return trees[oid]

    t0 = time.perf_counter()
    with pytest.raises(RecordFormatError) as ei:
        for _ in walk(read, top, max_entries=50_000):
            pass
    assert time.perf_counter() - t0 < 1.0
    assert f"tree {top} holds more than 50,000 entries" in str(ei.value)
    assert "crafted" in str(ei.value)
    assert sorted(reads) == sorted(trees)  # each unique tree read once


def test_walk_bounds_depth_and_reads_repeated_subtrees_once():
    top, trees = tree_bomb(5)
    reads: list[str] = []

    def read(oid: str) -> Tree:
        reads.append(oid)
        return trees[oid]

    paths = [p for p, e in walk(read, top) if e.type == "blob"]
    assert len(paths) == 2 ** 5 and paths[0] == "a/a/a/a/a/leaf.bin"
    assert len(reads) == 6
    with pytest.raises(RecordFormatError, match="nests deeper than 3 levels"):
        list(walk(trees.__getitem__, top, max_depth=3))
    assert len(list(walk(trees.__getitem__, top, max_depth=6))) == 2 ** 6 - 2 + 2 ** 5


def test_walk_default_bounds():
    from mlver.store.trees import MAX_WALK_DEPTH, MAX_WALK_ENTRIES

    assert MAX_WALK_ENTRIES == 10_000_000 and MAX_WALK_DEPTH == 2048
