"""mlver checkout: exact bytes, modes and links back; nothing lost, nothing outside."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

import mlver

from mlver.base import canonical
from mlver.base.errors import CheckoutError, CorruptObjectError, RecordFormatError
from mlver.core.record import Artifact
from mlver.store.statcache import StatKey

from _fixtures import (add_blob, assert_error, assert_ok, cli, mrepo, proj,  # noqa: F401
                       publish_variant, write)
from adversarial.craft import overwrite_object, read_object, remove_object


def fresh(root: Path) -> mlver.Repo:
    """The repository as another process would open it."""
    return mlver.Repo(str(root))


def listing(root: Path, skip=(".mlver", ".git")) -> dict[str, tuple]:
    """Every path below ``root``: (kind, bytes or link target, exec bit)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in skip]
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                if not p.is_symlink():
                    out[rel] = ("dir",)
            else:
                out[rel] = ("file", p.read_bytes(), bool(st.st_mode & 0o100))
    return out


@pytest.fixture
def two(mrepo, proj):
    """Version 1 and 2 of ``m``: a folder (nested, exec bit, a link), a script, a model."""
    write(proj / "data/a.csv", "id,x\n1,2\n")
    write(proj / "data/sub/b.txt", "b\n")
    os.chmod(proj / "data/sub/b.txt", 0o755)
    os.symlink("a.csv", proj / "data/link")
    write(proj / "run.sh", "#!/bin/sh\necho hi\n")
    os.chmod(proj / "run.sh", 0o755)
    write(proj / "model.bin", b"\x00model-1\xff")
    inputs = {"data": "data", "script": "run.sh"}
    mrepo.snapshot("m", inputs=inputs, outputs={"model": "model.bin"})
    v1 = listing(proj)
    write(proj / "data/a.csv", "id,x\n1,2\n3,4\n")
    write(proj / "data/new.txt", "new\n")
    write(proj / "model.bin", b"\x00model-2\xff")
    mrepo.snapshot("m", inputs=inputs, outputs={"model": "model.bin"})
    return v1, listing(proj)


def test_checkout_restores_bytes_modes_and_links_into_an_emptied_workspace(mrepo, proj, two):
    v1, _v2 = two
    for p in ("data", "run.sh", "model.bin"):
        os.system(f"rm -rf {proj / p}")
    r = mrepo.checkout("m@1")
    assert listing(proj) == v1
    assert v1["run.sh"][2] is True and v1["data/sub/b.txt"][2] is True
    assert v1["data/link"] == ("link", "a.csv")
    assert (r.label, r.written, r.unchanged, r.removed) == ("m@1", 5, 0, 0)
    assert not [n for n in os.listdir(proj / "data") if n.startswith(".mlver-")]


def test_checkout_moves_between_versions_and_removes_what_a_folder_did_not_have(mrepo, proj, two):
    v1, v2 = two
    r = mrepo.checkout("m@1")
    assert listing(proj) == v1
    assert not (proj / "data/new.txt").exists()
    assert (r.written, r.removed) == (2, 1)  # a.csv and model.bin; new.txt removed
    mrepo.checkout("m@2")
    assert listing(proj) == v2


def test_checkout_fills_the_stat_cache_so_status_hashes_nothing(mrepo, proj, two):
    mrepo.checkout("m@1")
    idx = mrepo.store.index
    for rel in ("data/a.csv", "model.bin", "run.sh"):
        row = idx.stat_row(rel)
        assert row is not None, rel
        assert tuple(row[1:6]) == tuple(StatKey.of(os.lstat(proj / rel)))
    rec = mrepo.record(mrepo.resolve("m@1"))
    assert idx.stat_row("model.bin")[6] == rec.outputs["model"].oid


def test_to_dir_paths_and_sides(mrepo, proj, tmp_path, two):
    v1, _ = two
    out = tmp_path / "out"
    mrepo.checkout("m@1", to=str(out))
    assert listing(out) == {k: v for k, v in v1.items()
                            if k.split("/")[0] in ("data", "run.sh", "model.bin")}
    only = tmp_path / "only"
    r = mrepo.checkout("m@1", paths=["data/sub"], to=str(only))
    assert listing(only) == {"data": ("dir",), "data/sub": ("dir",),
                             "data/sub/b.txt": ("file", b"b\n", True)}
    assert r.written == 1
    outs = tmp_path / "outs"
    mrepo.checkout("m@1", to=str(outs), side="outputs")
    assert listing(outs) == {"model.bin": ("file", b"\x00model-1\xff", False)}
    ins = tmp_path / "ins"
    mrepo.checkout("m@1", to=str(ins), side="inputs")
    assert "model.bin" not in listing(ins) and "run.sh" in listing(ins)


def test_a_path_outside_the_version_is_an_error_naming_what_it_holds(mrepo, proj, two):
    with pytest.raises(CheckoutError, match=r"'nope' is not part of this version; it holds: "
                                            r"data, run.sh, model.bin"):
        mrepo.checkout("m@1", paths=["nope"])


def test_unknown_content_is_never_overwritten_without_force(mrepo, proj, two):
    write(proj / "model.bin", b"precious, never snapshotted")
    before = listing(proj)
    res = cli("checkout", "m@1")
    assert_error(res, "model.bin", "matches no version mlver knows", "--force")
    assert listing(proj) == before
    r = mrepo.checkout("m@1", force=True)
    assert (proj / "model.bin").read_bytes() == b"\x00model-1\xff"
    assert r.written == 2


def test_an_unknown_extra_file_in_a_folder_is_kept_without_force(mrepo, proj, two):
    write(proj / "data/notes.txt", "mine")
    before = listing(proj)
    with pytest.raises(CheckoutError, match="data/notes.txt"):
        mrepo.checkout("m@1")
    assert listing(proj) == before
    mrepo.checkout("m@1", force=True)
    assert not (proj / "data/notes.txt").exists()


def test_a_folder_where_a_file_belongs_is_refused(mrepo, proj, two):
    os.remove(proj / "model.bin")
    (proj / "model.bin").mkdir()
    with pytest.raises(CheckoutError, match="'model.bin' .* is a folder where this version has a file"):
        mrepo.checkout("m@1", force=True)


def test_cli_text_and_json(mrepo, proj, two, tmp_path):
    out = assert_ok(cli("checkout", "m@1"))
    assert out == f"m@1: 2 written, 3 already up to date, 1 removed in {proj}\n"
    out = assert_ok(cli("checkout", "m@1", "--to", tmp_path / "j", "--json"))
    d = json.loads(out)
    assert d == {"record": mrepo.resolve("m@1"), "label": "m@1", "target": str(tmp_path / "j"),
                 "written": 5, "unchanged": 0, "removed": 0,
                 "bytes": len(b"id,x\n1,2\n") + 2 + len("a.csv") + 18 + 9}


def test_unknown_revision(mrepo, proj, two):
    assert_error(cli("checkout", "nope@1"), "nope")


# --------------------------------------------------------------------- corrupt objects


@pytest.mark.parametrize("victim", ["model", "a.csv"])
def test_a_corrupt_blob_is_named_and_nothing_is_written(mrepo, proj, two, tmp_path, victim):
    rec = mrepo.record(mrepo.resolve("m@1"))
    if victim == "model":
        oid = rec.outputs["model"].oid
    else:
        oid = mrepo.tree(rec.inputs["data"].oid).get("a.csv").oid
    data = read_object(proj, oid)
    overwrite_object(proj, oid, bytes([data[0] ^ 1]) + data[1:])
    before = listing(proj)
    with pytest.raises(CorruptObjectError, match=oid):
        fresh(proj).checkout("m@1")  # a new process: the old one may hold the old pack open
    assert listing(proj) == before
    out = tmp_path / "fresh"
    res = cli("checkout", "m@1", "--to", out)
    assert_error(res, oid, "corrupt", "checkout wrote nothing")
    assert not out.exists() or listing(out) == {}


# --------------------------------------------------------------------- hostile input


def _with_output(mrepo, **arts):
    return publish_variant(mrepo, "m@1", name="evil", outputs=arts).oid


def test_a_path_through_a_link_on_disk_is_refused(mrepo, proj, two, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.system(f"rm -rf {proj / 'data'}")
    os.symlink(outside, proj / "data")
    with pytest.raises(CheckoutError, match="'data' .* is a file or link where this version has a folder"):
        mrepo.checkout("m@1", force=True)
    assert os.listdir(outside) == []


def test_a_path_through_a_link_the_record_makes_is_refused(mrepo, proj, two, tmp_path):
    link_oid = add_blob(mrepo, str(tmp_path).encode())
    blob = add_blob(mrepo, b"pwned")
    oid = _with_output(mrepo, a=Artifact("esc", link_oid, "link", 5, 1),
                       b=Artifact("esc/x", blob, "blob", 5, 1))
    with pytest.raises(CheckoutError, match="goes through 'esc', which the record makes a symbolic link"):
        mrepo.checkout(oid, to=str(tmp_path / "t"))
    assert not (tmp_path / "x").exists() and not (tmp_path / "t").exists()


@pytest.mark.parametrize("path", [".git/hooks/pre-commit", "a/.mlver/refs/x", "a/.GIT/x"])
def test_paths_into_git_or_the_store_are_refused(mrepo, proj, two, path):
    blob = add_blob(mrepo, b"#!/bin/sh\necho owned\n")
    oid = _with_output(mrepo, a=Artifact(path, blob, "blob", 5, 1))
    with pytest.raises(CheckoutError, match="inside .git/ or .mlver/"):
        mrepo.checkout(oid)
    assert not (proj / ".git/hooks/pre-commit").exists()


@pytest.mark.parametrize("name", ["../x", "/etc/x", "a\0b", ".."])
def test_a_tree_entry_that_escapes_is_refused_before_writing(mrepo, proj, two, tmp_path, name):
    blob = add_blob(mrepo, b"x")
    good = {"exec": False, "name": "aaa", "oid": blob, "size": 1, "type": "blob"}
    bad = {"exec": False, "name": name, "oid": blob, "size": 1, "type": "blob"}
    tree = add_blob(mrepo, canonical.dumps({"entries": sorted([good, bad], key=lambda e: e["name"]),
                                            "format": 1, "type": "tree"}))
    oid = _with_output(mrepo, d=Artifact("d", tree, "tree", 2, 2))
    with pytest.raises(RecordFormatError, match="not a plain file name"):
        mrepo.checkout(oid, to=str(tmp_path / "t"))
    assert not (tmp_path / "t").exists()


def test_a_record_path_that_escapes_is_refused(mrepo, proj, two, tmp_path):
    blob = add_blob(mrepo, b"x")
    oid = _with_output(mrepo, a=Artifact("../escape", blob, "blob", 1, 1))
    with pytest.raises(RecordFormatError, match="not a plain relative path"):
        mrepo.checkout(oid, to=str(tmp_path / "t" / "in"))
    assert not (tmp_path / "t" / "escape").exists()


def test_a_missing_object_is_named(mrepo, proj, two):
    rec = mrepo.record(mrepo.resolve("m@1"))
    remove_object(proj, rec.outputs["model"].oid)
    before = listing(proj)
    with pytest.raises(CorruptObjectError, match=f"model.bin: object {rec.outputs['model'].oid} is missing"):
        fresh(proj).checkout("m@1")
    assert listing(proj) == before


def test_a_folder_on_the_way_that_is_a_link_is_refused(mrepo, proj, two, tmp_path):
    blob = add_blob(mrepo, b"payload")
    oid = _with_output(mrepo, a=Artifact("deep/er/model.bin", blob, "blob", 7, 1))
    outside = tmp_path / "outside"
    outside.mkdir()
    (proj / "deep").mkdir()
    os.symlink(outside, proj / "deep/er")
    res = cli("checkout", oid)
    assert_error(res, "'deep/er'", "is a symbolic link or a file, not a folder")
    assert os.listdir(outside) == []


def test_files_staged_by_a_killed_checkout_are_cleaned_up(mrepo, proj, two):
    write(proj / "data/.mlver-999999999-7.tmp", "half a file")  # no such pid
    write(proj / f"data/.mlver-{os.getpid()}-8.tmp", "a live checkout's")
    with pytest.raises(CheckoutError, match=rf"data/.mlver-{os.getpid()}-8.tmp"):
        mrepo.checkout("m@1")
    assert (proj / "data/.mlver-999999999-7.tmp").exists()  # the refusal changed nothing
    os.remove(proj / f"data/.mlver-{os.getpid()}-8.tmp")
    mrepo.checkout("m@1")
    assert not (proj / "data/.mlver-999999999-7.tmp").exists()


def test_checkout_of_a_version_whose_data_gc_removed_says_so(mrepo, proj, two, tmp_path):
    write(proj / "model.bin", b"x" * (200 << 10))  # loose: gone once unreachable
    mrepo.snapshot("m", inputs={"data": "data", "script": "run.sh"}, outputs={"model": "model.bin"})
    write(proj / "model.bin", b"y" * (200 << 10))
    mrepo.snapshot("m", inputs={"data": "data", "script": "run.sh"}, outputs={"model": "model.bin"})
    mrepo.gc(keep_last=1, grace=0)
    res = cli("checkout", "m@3", "--to", tmp_path / "t")
    assert_error(res, "m@3: data removed by gc for output model (model.bin); mlver pull from a "
                      "remote that has them can bring them back; nothing was written")
    assert not (tmp_path / "t").exists()
    mrepo.checkout("m@4", to=str(tmp_path / "t4"), side="outputs")
    assert (tmp_path / "t4/model.bin").read_bytes() == b"y" * (200 << 10)


# --------------------------------------------------------------------- chunked files


@pytest.fixture
def chunked(monkeypatch):
    """Files of 64 KiB and more are stored chunked (the store reads the threshold at call
    time): a 300 KB file is ~5 chunks, as a 1 GiB one is ~16k."""
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 64 << 10)


def _big(seed: int, n: int = 300_000) -> bytes:
    import random

    return random.Random(seed).randbytes(n)


def test_a_chunked_file_is_checked_out_exactly(mrepo, proj, chunked):
    v1 = _big(1)
    v2 = v1[:150_000] + b"an edit in the middle" + v1[150_000:]
    for data in (v1, v2):
        write(proj / "out/model.bin", data)
        mrepo.snapshot("c", outputs={"model": "out/model.bin"})
    oid1 = mrepo.record(mrepo.resolve("c@1")).outputs["model"].oid
    assert mrepo.store.objects.manifest(oid1) is not None      # really stored chunked
    assert mrepo.store.objects.local_file(oid1) is None
    fresh(proj).checkout("c@1")
    assert (proj / "out/model.bin").read_bytes() == v1
    fresh(proj).checkout("c@2")
    assert (proj / "out/model.bin").read_bytes() == v2
    os.system(f"rm -rf {proj / 'out'}")                          # a folder made anew
    fresh(proj).checkout("c@1")
    assert (proj / "out/model.bin").read_bytes() == v1


def test_a_flipped_byte_in_a_chunk_fails_the_checkout_and_changes_nothing(mrepo, proj,
                                                                        chunked, tmp_path):
    from adversarial.craft import _packed

    v1, v2 = _big(1), _big(2)
    for data in (v1, v2):
        write(proj / "model.bin", data)
        mrepo.snapshot("c", outputs={"model": "model.bin"})
    oid1 = mrepo.record(mrepo.resolve("c@1")).outputs["model"].oid
    m = mrepo.store.objects.manifest(oid1)
    chunk = m.chunks[len(m.chunks) // 2][0]                 # one in the middle of the file
    pack, i = _packed(proj, chunk)
    os.chmod(pack.pack_path, 0o644)
    with open(pack.pack_path, "r+b") as f:                  # one byte flipped in place
        f.seek(pack.offsets[i] + 100)
        b = f.read(1)
        f.seek(pack.offsets[i] + 100)
        f.write(bytes([b[0] ^ 1]))
    before = listing(proj)
    with pytest.raises(CorruptObjectError, match="model.bin") as e:
        fresh(proj).checkout("c@1")
    assert "corrupt" in str(e.value) and chunk in str(e.value)
    assert listing(proj) == before                          # v2 whole, no staged file left
    out = tmp_path / "fresh"
    res = cli("checkout", "c@1", "--to", out)
    assert_error(res, chunk, "checkout wrote nothing")
    assert not out.exists() or listing(out) == {}
