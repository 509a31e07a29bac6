"""mlver.ops.verify and ``mlver verify``: every object re-hashed, every version's objects there,
each problem named with the versions it breaks."""

from __future__ import annotations

import json
import os

import pytest

from mlver.api import Repo
from mlver.base.hashing import oid_of
from mlver.store import packs
from mlver.store.packs import PACK_THRESHOLD
from mlver.store.trees import walk

from adversarial import craft
from conftest import cli, write

BIG = PACK_THRESHOLD + 100  # stored loose


def two_versions(repo, root) -> dict:
    """m@1 and m@2: a folder input with a big file both share and a small table that
    changes, and a big output that changes. Returns the oids the tests damage."""
    write(root / "data" / "shared.bin", b"S" * BIG)
    write(root / "data" / "t.csv", "id,x\n1,10\n")
    write(root / "model.bin", b"1" * BIG)
    repo.snapshot("m", inputs={"d": "data"}, outputs={"model": "model.bin"})
    write(root / "data" / "t.csv", "id,x\n1,10\n2,20\n")
    write(root / "model.bin", b"2" * BIG)
    repo.snapshot("m", inputs={"d": "data"}, outputs={"model": "model.bin"})
    m1, m2 = (repo.record(repo.resolve(f"m@{v}")) for v in (1, 2))
    files1 = {p: e.oid for p, e in walk(repo.tree, m1.inputs["d"].oid)}
    return {"m1": repo.resolve("m@1"), "m2": repo.resolve("m@2"),
            "shared": files1["shared.bin"], "t1": files1["t.csv"],
            "tree2": m2.inputs["d"].oid, "model1": m1.outputs["model"].oid}


def flip(root, oid: str, at: int = 3) -> None:
    """Flip one byte of the stored copy of ``oid``, loose or packed, in place."""
    path = craft.object_path(root, oid)
    offset = at
    if not path.exists():
        idx, i = craft._packed(root, oid)
        path, offset = idx.pack_path, idx.offsets[i] + at
        idx.close()
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x20]))


def verify_json(*args):
    r = cli("verify", "--json", *args)
    return r, json.loads(r.stdout)


def assert_failed(r, *lines: str) -> None:
    """Exit 1, the report on stdout holds ``lines``, one ``Error:`` line on stderr."""
    assert r.exit_code == 1, (r.exit_code, r.output, r.exception)
    for line in lines:
        assert line in r.stdout.splitlines(), (line, r.stdout)
    errors = r.stderr.splitlines()
    assert len(errors) == 1 and errors[0].startswith("Error: verify found "), r.stderr
    assert "restore the objects named above from a backup" in errors[0]


def test_a_clean_store_verifies(repo, git_repo):
    two_versions(repo, git_repo)
    r = cli("verify")
    assert r.exit_code == 0, r.output
    (line,) = r.stdout.splitlines()
    assert line.startswith("Checked ") and line.endswith("2 records reached: no problems")
    assert r.stderr == ""
    res = repo.verify()
    assert res.ok and res.records == 2
    assert res.objects == len(list(repo.store.objects.iter_oids()))
    assert res.bytes > 3 * BIG


def test_an_empty_store_verifies(repo):
    r = cli("verify")
    assert r.exit_code == 0 and "Checked 0 objects" in r.stdout


def test_a_flipped_byte_in_a_loose_blob_names_every_version_it_breaks(repo, git_repo):
    o = two_versions(repo, git_repo)
    flip(git_repo, o["shared"], at=BIG // 2)
    r = cli("verify")
    assert_failed(r, f"object {o['shared']} (blob) is corrupt: breaks m@1, m@2")
    assert "1 problem (1 corrupt)" in r.stderr


def test_a_flipped_byte_in_a_packed_blob(repo, git_repo):
    o = two_versions(repo, git_repo)
    flip(git_repo, o["t1"])
    r = cli("verify")
    assert_failed(r, f"object {o['t1']} (blob) is corrupt: breaks m@1")
    assert any(line.startswith(str(git_repo / ".mlver" / "objects" / "pack")) and
               "checksum mismatch" in line for line in r.stdout.splitlines())


def test_a_corrupt_tree_and_a_corrupt_record(repo, git_repo):
    o = two_versions(repo, git_repo)
    flip(git_repo, o["tree2"], at=12)
    flip(git_repo, o["m1"], at=20)
    r = cli("verify")
    assert_failed(r, f"object {o['tree2']} (tree) is corrupt: breaks m@2",
                  f"object {o['m1']} (record) is corrupt: breaks m@1")
    _r, data = verify_json()
    kinds = {(p["oid"], p["kind"], p["problem"]) for p in data["problems"] if p["oid"]}
    assert kinds == {(o["tree2"], "tree", "corrupt"), (o["m1"], "record", "corrupt")}


def test_a_missing_object(repo, git_repo):
    o = two_versions(repo, git_repo)
    craft.remove_object(git_repo, o["model1"])
    craft.remove_object(git_repo, o["t1"])
    r = cli("verify")
    assert_failed(r, f"object {o['model1']} (blob) is missing: breaks m@1",
                  f"object {o['t1']} (blob) is missing: breaks m@1")
    assert "2 problems (2 missing)" in r.stderr


def test_data_dropped_by_gc_is_not_missing_but_the_same_gap_otherwise_is(repo, git_repo):
    o = two_versions(repo, git_repo)
    result = repo.gc(keep_last=1, grace=0)
    assert [label for _, label in result.pruned] == ["m@1"]
    assert not repo.store.objects.has(o["model1"])
    r = cli("verify")
    assert r.exit_code == 0, r.output
    os.unlink(git_repo / ".mlver" / "refs" / "pruned")  # forget that gc did it on purpose
    r = cli("verify")
    assert_failed(r, f"object {o['model1']} (blob) is missing: breaks m@1")


def test_revisions_verify_only_what_they_reach(repo, git_repo):
    o = two_versions(repo, git_repo)
    flip(git_repo, o["model1"], at=10)
    r = cli("verify", "m@2")
    assert r.exit_code == 0, r.output
    assert "reached by m@2" in r.stdout
    r = cli("verify", "m@1")
    assert_failed(r, f"object {o['model1']} (blob) is corrupt: breaks m@1")
    whole = repo.verify()
    only = repo.verify(["m@2"])
    assert only.objects < whole.objects and only.ok and not whole.ok
    r = cli("verify", "m@9")
    assert r.exit_code == 1 and "m has no version 9" in r.stderr


def test_a_corrupt_unreachable_object_is_reported(repo, git_repo):
    two_versions(repo, git_repo)
    with repo.store.objects.batch() as b:
        junk = b.add_bytes(b"J" * BIG)
    flip(git_repo, junk)
    r = cli("verify")
    assert_failed(r, f"object {junk} (unreachable) is corrupt: no version reaches it "
                     "(mlver gc removes it)")


def test_a_damaged_copy_beside_a_good_one_is_a_warning(repo, git_repo):
    o = two_versions(repo, git_repo)
    good = craft.read_object(git_repo, o["t1"])
    pack_dir = git_repo / ".mlver" / "objects" / "pack"
    name = "pack-" + "e" * 32
    packs.write_pack(str(pack_dir / f"{name}.pack"), str(pack_dir / f"{name}.idx"),
                     [(o["t1"], b"X" + good[1:])])  # a second, damaged, copy
    r = cli("verify")
    assert r.exit_code == 0, r.output
    assert f"holds a damaged copy of object {o['t1']}" in r.stderr
    assert r.stderr.startswith("Warning: ")


def test_a_ref_that_holds_no_oid(repo, git_repo):
    two_versions(repo, git_repo)
    craft.ref_path(git_repo, "broken").write_text("nonsense\n")
    r = cli("verify")
    assert r.exit_code == 1
    assert any("refs/names/broken does not hold an oid" in ln for ln in r.stdout.splitlines())
    assert "1 problem (1 invalid)" in r.stderr


def test_json_report(repo, git_repo):
    o = two_versions(repo, git_repo)
    r, data = verify_json()
    assert r.exit_code == 0
    assert set(data) == {"ok", "objects", "bytes", "seconds", "records", "revisions",
                         "problems", "warnings"}
    assert data["ok"] is True and data["problems"] == [] and data["records"] == 2
    craft.remove_object(git_repo, o["shared"])
    r, data = verify_json("m@1")
    assert r.exit_code == 1 and "in the JSON above" in r.stderr
    assert data["ok"] is False and data["revisions"] == ["m@1"]
    assert data["problems"] == [{
        "what": "object", "problem": "missing", "oid": o["shared"], "kind": "blob",
        "breaks": ["m@1"], "path": None, "where": "input d: shared.bin", "chunk_of": None,
        "detail": "no pack index lists it and no loose file holds it"}]


def test_python_api_returns_problems_without_raising(repo, git_repo):
    o = two_versions(repo, git_repo)
    craft.remove_object(git_repo, o["shared"])
    with Repo(str(git_repo)) as fresh:
        res = fresh.verify()
    assert not res.ok
    (p,) = res.problems
    assert (p.oid, p.kind, p.problem, p.breaks) == (o["shared"], "blob", "missing", ("m@1", "m@2"))
    assert str(p) == f"object {o['shared']} (blob) is missing: breaks m@1, m@2"
    assert res.to_dict()["problems"][0]["breaks"] == ["m@1", "m@2"]


@pytest.mark.parametrize("n", [3, 12])
def test_long_lists_of_versions_are_cut_on_text_lines(n):
    from mlver.ops.verify import Problem

    p = Problem("object", "corrupt", "x", oid_of(b"x"), "blob",
                tuple(f"m@{v}" for v in range(1, n + 1)))
    text = str(p)
    assert ("and 2 more" in text) == (n == 12)
    assert text.count("m@") == min(n, 10)


# -- chunked files ------------------------------------------------------------------------------

CHUNKED = 200_000  # files at least this big are chunked in these tests


def chunked_versions(repo, root, monkeypatch) -> dict:
    """m@1 and m@2 whose output model.bin (600 KB, chunked) shares its first chunks."""
    import random

    from mlver.store import chunker, scan

    monkeypatch.setattr(chunker, "CHUNK_THRESHOLD", CHUNKED)
    rnd = random.Random(7)
    head = rnd.randbytes(300_000)
    files = []
    for v in (1, 2):
        write(root / "model.bin", head + rnd.randbytes(300_000))
        repo.snapshot("m", outputs={"model": "model.bin"})
        files.append(repo.record(repo.resolve(f"m@{v}")).outputs["model"].oid)
    m1, m2 = (scan.load_manifest(repo.store.objects, f) for f in files)
    assert m1 is not None and m2 is not None
    return {"f1": files[0], "f2": files[1], "shared": m1.chunks[0][0],
            "only2": next(c for c in m2.chunk_oids() if c not in m1.chunk_oids())}


def test_a_flipped_byte_in_a_chunk_names_the_chunk_its_file_and_the_versions(
        repo, git_repo, monkeypatch):
    o = chunked_versions(repo, git_repo, monkeypatch)
    assert cli("verify").exit_code == 0
    flip(git_repo, o["shared"], at=1000)
    r = cli("verify")
    assert_failed(r, f"object {o['shared']} (chunk of {o['f1']}, output model) is corrupt: "
                     "breaks m@1, m@2")
    # that one object (the file is not reported apart), and its pack's checksum
    assert sum("is corrupt" in line for line in r.stdout.splitlines()) == 1
    assert "pack checksum mismatch" in r.stdout


def test_a_missing_chunk_is_named_with_what_it_breaks(repo, git_repo, monkeypatch):
    o = chunked_versions(repo, git_repo, monkeypatch)
    craft.remove_object(git_repo, o["only2"])
    r, data = verify_json()
    assert r.exit_code == 1
    assert data["problems"] == [{
        "what": "object", "problem": "missing", "oid": o["only2"], "kind": "chunk",
        "breaks": ["m@2"], "path": None, "where": "output model", "chunk_of": o["f2"],
        "detail": "no pack index lists it and no loose file holds it"}]
    r, data = verify_json("m@1")  # m@1 does not need it
    assert r.exit_code == 0 and data["ok"]


def test_a_corrupt_manifest_is_named_and_gc_refuses(repo, git_repo, monkeypatch):
    from mlver.store import scan

    o = chunked_versions(repo, git_repo, monkeypatch)
    path = scan.manifest_path(repo.store.objects, o["f2"])
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(b"[")  # was "{": no longer JSON
    r, data = verify_json()
    assert r.exit_code == 1
    (p,) = data["problems"]
    assert (p["oid"], p["kind"], p["problem"], p["breaks"], p["path"]) == (
        o["f2"], "manifest", "corrupt", ["m@2"], path)
    assert "chunk manifest" in p["detail"]
    assert "is corrupt" in str(Repo(str(git_repo)).verify().problems[0])
    g = cli("gc", "--grace", "0")
    assert g.exit_code == 1 and "gc removed nothing" in g.stderr


def test_a_manifest_whose_chunks_do_not_make_its_file_is_named(repo, git_repo, monkeypatch):
    from mlver.store import manifest as manifestmod
    from mlver.store import scan

    o = chunked_versions(repo, git_repo, monkeypatch)
    m = scan.load_manifest(repo.store.objects, o["f2"])
    assert m is not None
    lying = manifestmod.Manifest(m.oid, m.size, m.chunker, tuple(reversed(m.chunks)))
    path = scan.manifest_path(repo.store.objects, o["f2"])
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(lying.encode())
    r, data = verify_json()
    (p,) = data["problems"]
    assert (p["oid"], p["problem"], p["breaks"]) == (o["f2"], "corrupt", ["m@2"])
    assert "hash to" in p["detail"]
