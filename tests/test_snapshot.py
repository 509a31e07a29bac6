"""The Repo Python API: init, snapshot, log, show, status, tag, reindex (mlver.api + mlver.ops.snapshot)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys

import pytest

from mlver.api import Repo
from mlver.base.errors import (
    CaptureError,
    ConfigError,
    MlverError,
    NotAStoreError,
    RevisionError,
    StoreFormatError,
)
from mlver.base.hashing import oid_of
from mlver.core.record import Record
from mlver.store.refs import Refs
from mlver.store.trees import walk

from conftest import git, store_listing, tmp_files, write

OBJ_RE = re.compile(r"^objects/[0-9a-f]{2}/[0-9a-f]{30}$")
PACK_RE = re.compile(r"^objects/pack/pack-[0-9a-f]{32}\.(pack|idx)$")


def all_record_oids(repo: Repo, rec: Record) -> set[str]:
    """Every object a record refers to (blobs, trees, links, patch, packages)."""
    oids = set()
    for art in (*rec.inputs.values(), *rec.outputs.values()):
        oids.add(art.oid)
        if art.type == "tree":
            oids.update(e.oid for _p, e in walk(repo.tree, art.oid))
    if rec.code.patch:
        oids.add(rec.code.patch)
    if rec.env.packages:
        oids.add(rec.env.packages)
    return oids


def all_oids(repo: Repo) -> list[str]:
    return [r[0] for r in repo.store.index.conn.execute("SELECT oid FROM records")]


# -- init and opening ---------------------------------------------------------------------------

def test_init_layout(git_repo):
    repo = Repo.init(str(git_repo))
    store = git_repo / ".mlver"
    for sub in ("objects", "tmp", "refs/names", "refs/tags"):
        assert (store / sub).is_dir(), sub
    assert json.loads((store / "config.json").read_text()) == {
        "format": 3, "hash": "xxh3-128", "chunker": "fastcdc2020-nc1-16k-64k-256k"}
    ignore = (store / ".gitignore").read_text()
    assert ignore.splitlines()[-1] == "*"  # git ignores the whole store (local state)
    assert repo.root == str(git_repo)
    # Harmless a second time, and found from a sub-folder.
    Repo.init(str(git_repo)).close()
    (git_repo / "sub" / "deeper").mkdir(parents=True)
    assert Repo(str(git_repo / "sub" / "deeper")).root == str(git_repo)


def test_init_in_missing_folder(tmp_path):
    with pytest.raises(MlverError, match="nope does not exist"):
        Repo.init(str(tmp_path / "nope"))
    assert not (tmp_path / "nope").exists()


def test_open_outside_any_store(tmp_path):
    with pytest.raises(NotAStoreError, match="no mlver store in"):
        Repo(str(tmp_path))


def test_newer_store_format_is_refused(repo, git_repo):
    cfg = git_repo / ".mlver" / "config.json"
    cfg.write_text(json.dumps({"format": 99, "hash": "xxh3-128"}))
    with pytest.raises(StoreFormatError, match="format 99"):
        Repo(str(git_repo))
    with pytest.raises(StoreFormatError, match="format 99"):
        Repo.init(str(git_repo))  # no "re-initialising" over a newer store
    assert json.loads(cfg.read_text())["format"] == 99


# -- snapshot -----------------------------------------------------------------------------------

def test_first_snapshot(repo, git_repo):
    write(git_repo / "data" / "train.csv", "id,price\n1,100\n")
    write(git_repo / "data" / "sub" / "x.txt", "x")
    write(git_repo / "model.pkl", b"\x80model")
    res = repo.snapshot("price-model", inputs={"train": "data"}, outputs={"model": "model.pkl"},
                        params=["lr=0.1", "name=abc"], metrics="rmse=12.5", message="first")
    assert res.created
    rec = res.record
    assert (rec.name, rec.version, rec.kind, rec.parents, rec.message) == (
        "price-model", 1, "model", (), "first")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", rec.created)
    assert res.oid == rec.oid == oid_of(repo.store.objects.read(res.oid))
    assert rec.inputs["train"].path == "data" and rec.inputs["train"].type == "tree"
    assert (rec.inputs["train"].files, rec.inputs["train"].size) == (2, 15 + 1)
    out = rec.outputs["model"]
    assert (out.path, out.oid, out.type, out.size, out.files) == (
        "model.pkl", oid_of(b"\x80model"), "blob", 6, 1)
    assert rec.params == {"lr": 0.1, "name": "abc"} and rec.metrics == {"rmse": 12.5}
    assert repo.store.refs.get("price-model") == res.oid
    assert repo.record(res.oid) == rec
    # Every object it names is in the store: small ones packed, all files read-only.
    for oid in all_record_oids(repo, rec) | {res.oid}:
        assert repo.store.objects.has(oid) and repo.store.objects.verify_file(oid), oid
        assert repo.store.objects.local_file(oid) is None  # all small: in a pack
    assert len(repo.store.objects.packs()) == 1
    for path, mode, _ in store_listing(git_repo):
        if path.startswith("objects/"):
            assert (OBJ_RE.match(path) or PACK_RE.match(path)) and mode == 0o444, path
    assert tmp_files(git_repo) == []
    assert not [p for p, _, _ in store_listing(git_repo) if p.endswith(".lock")]


def test_equal_content_writes_no_new_version(repo, git_repo):
    write(git_repo / "a.csv", "a\n")
    first = repo.snapshot("m", inputs={"a": "a.csv"})
    before = store_listing(git_repo)
    again = repo.snapshot("m", inputs={"a": "a.csv"}, message="another message")
    assert not again.created
    assert again.oid == first.oid and again.record.version == 1
    assert store_listing(git_repo) == before
    assert [o for o, _ in repo.log("m")] == [first.oid]


def test_changed_content_is_a_new_version_with_its_parent(repo, git_repo):
    write(git_repo / "a.csv", "a\n")
    v1 = repo.snapshot("m", inputs={"a": "a.csv"})
    write(git_repo / "a.csv", "b\n")
    v2 = repo.snapshot("m", inputs={"a": "a.csv"})
    assert v2.created and v2.record.version == 2 and v2.record.parents == (v1.oid,)
    v3 = repo.snapshot("m", inputs={"a": "a.csv"}, params="lr=0.2")  # params are content too
    assert v3.created and v3.record.version == 3
    assert repo.store.refs.get("m") == v3.oid
    assert repo.store.objects.read(v1.record.inputs["a"].oid) == b"a\n"  # old content kept


def test_unchanged_subfolder_keeps_its_oid_across_versions(repo, git_repo):
    write(git_repo / "data" / "images" / "1.png", b"png1")
    write(git_repo / "data" / "labels.csv", "1\n")
    v1 = repo.snapshot("ds", inputs={"d": "data"}, kind="dataset")
    write(git_repo / "data" / "labels.csv", "1\n2\n")
    v2 = repo.snapshot("ds", inputs={"d": "data"})
    t1, t2 = (repo.tree(v.record.inputs["d"].oid) for v in (v1, v2))
    assert t1.get("images").oid == t2.get("images").oid
    assert t1.get("labels.csv").oid != t2.get("labels.csv").oid
    assert v2.record.kind == "dataset"  # kind carries over


def test_kind_and_name_validation(repo, git_repo):
    write(git_repo / "a.csv", "a")
    assert repo.snapshot("m", inputs={"a": "a.csv"}).record.kind == "model"
    with pytest.raises(ConfigError, match="kind 'robot'"):
        repo.snapshot("m2", inputs={"a": "a.csv"}, kind="robot")
    for bad in ("bad/name", "a@b", "x~1", "-x", ""):
        with pytest.raises(ConfigError, match="is not valid"):
            repo.snapshot(bad, inputs={"a": "a.csv"})
    with pytest.raises(ConfigError, match="slot 'b@d'"):
        repo.snapshot("m", inputs={"b@d": "a.csv"})
    assert repo.store.refs.names() == ["m"]


def test_paths_outside_the_repository_are_refused(repo, git_repo, tmp_path):
    write(tmp_path / "outside.csv", "o")
    with pytest.raises(CaptureError, match="outside the mlver repository"):
        repo.snapshot("m", outputs={"o": str(tmp_path / "outside.csv")})
    with pytest.raises(CaptureError, match="outside the mlver repository"):
        repo.snapshot("m", inputs={"i": "../outside.csv"})


def test_missing_input_fails_and_publishes_nothing(repo, git_repo):
    write(git_repo / "a.csv", "a")
    with pytest.raises(CaptureError, match="'missing.csv' does not exist"):
        repo.snapshot("m", inputs={"a": "a.csv", "b": "missing.csv"})
    assert list(repo.store.objects.iter_oids()) == [] and tmp_files(git_repo) == []
    assert repo.store.refs.names() == []


def test_params_and_metrics_files(repo, git_repo):
    write(git_repo / "params.yaml", "lr: 0.1\nmodel:\n  depth: 3\n")
    write(git_repo / "metrics.json", '{"rmse": 1.5}')
    write(git_repo / "a.csv", "a")
    rec = repo.snapshot("m", inputs={"a": "a.csv"}, params=["params.yaml", "model.depth=4"],
                        metrics="metrics.json").record
    assert rec.params == {"lr": 0.1, "model": {"depth": 4}}
    assert rec.params_files == ("params.yaml",) and rec.metrics_files == ("metrics.json",)
    assert rec.metrics == {"rmse": 1.5}


def test_input_given_as_a_revision(repo, git_repo):
    write(git_repo / "features.csv", "f\n")
    ds = repo.snapshot("features", outputs={"features": "features.csv"}, kind="dataset")
    model = repo.snapshot("model", inputs={"train": "features@1"}).record
    art = model.inputs["train"]
    assert art.source == ds.oid and art.oid == ds.record.outputs["features"].oid
    assert art.path == "features.csv"
    with pytest.raises(RevisionError, match="has no output 'nope'"):
        repo.snapshot("model", inputs={"train": "features@1:nope"})


def test_snapshot_from_mlver_toml(repo, git_repo):
    write(git_repo / "raw" / "a.csv", "a")
    write(git_repo / "params.yaml", "lr: 0.3\n")
    write(git_repo / "features.csv", "f")
    write(git_repo / "mlver.toml", '[snapshot.features]\nkind = "dataset"\ninputs = { raw = "raw" }\n'
                                   'outputs = { features = "features.csv" }\nparams = ["params.yaml"]\n'
                                   'message = "from toml"\n')
    rec = repo.snapshot("features").record
    assert rec.kind == "dataset" and rec.message == "from toml"
    assert rec.inputs["raw"].path == "raw" and rec.outputs["features"].path == "features.csv"
    assert rec.params == {"lr": 0.3}
    with pytest.raises(ConfigError, match=r"\[snapshot.other\]"):
        repo.snapshot("other")


# -- log, show, revisions, tags -------------------------------------------------------------------

@pytest.fixture
def three(repo, git_repo):
    """``m`` at versions 1..3 and ``n`` at version 1."""
    oids = []
    for i in range(3):
        write(git_repo / "a.csv", f"v{i}\n")
        oids.append(repo.snapshot("m", inputs={"a": "a.csv"}, message=f"v{i + 1}").oid)
    write(git_repo / "b.csv", "b")
    n1 = repo.snapshot("n", inputs={"b": "b.csv"}).oid
    return repo, oids, n1


def test_log(three):
    repo, oids, n1 = three
    assert [o for o, _ in repo.log("m")] == oids[::-1]
    assert [r.version for _, r in repo.log("m")] == [3, 2, 1]
    assert [o for o, _ in repo.log("m", n=2)] == oids[:0:-1]
    assert [o for o, _ in repo.log()] == [n1] + oids[::-1]  # all names, newest first
    with pytest.raises(RevisionError, match="unknown revision 'zzz'; names here: m, n"):
        repo.log("zzz")


REVISIONS = [("m", 2), ("m@1", 0), ("m@2", 1), ("m~1", 1), ("m~", 1), ("m~2", 0), ("m@3~2", 0),
             ("m@prod", 1), ("m@prod~1", 0)]


def test_revisions(three):
    repo, oids, _ = three
    repo.tag("m@2", "prod")
    for rev, index in REVISIONS:
        oid, rec = repo.show(rev)
        assert (oid, rec.version) == (oids[index], index + 1), rev


def test_oid_prefix_revisions(three):
    repo, oids, _ = three
    for oid in oids:
        assert repo.resolve(oid) == oid
        assert repo.resolve(oid[:12].upper()) == oid
        if sum(o.startswith(oid[:6]) for o in all_oids(repo)) == 1:
            assert repo.resolve(oid[:6]) == oid


def test_revision_errors(three):
    repo, oids, _ = three
    with pytest.raises(RevisionError, match="m has no version 9"):
        repo.show("m@9")
    with pytest.raises(RevisionError, match="before the first version"):
        repo.show("m~3")
    with pytest.raises(RevisionError, match="m has no tag 'gold'"):
        repo.show("m@gold")
    unused = next(p for p in ("000000", "ffffff", "123456", "abcdef")
                  if not any(o.startswith(p) for o in oids))
    with pytest.raises(RevisionError, match=f"unknown revision '{unused}'; names here: m, n"):
        repo.show(unused)


def test_tag(three):
    repo, oids, _ = three
    oid, rec, old = repo.tag("m@1", "prod")
    assert (oid, rec.version, old) == (oids[0], 1, None)
    oid, rec, old = repo.tag("m", "prod")  # moving a tag returns where it was
    assert (oid, old) == (oids[2], oids[0])
    assert repo.store.refs.tags("m") == {"prod": oids[2]}
    with pytest.raises(RevisionError, match="all digits"):
        repo.tag("m", "123")
    with pytest.raises(ConfigError, match="tag 'a/b'"):
        repo.tag("m", "a/b")
    with pytest.raises(RevisionError, match="unknown revision"):
        repo.tag("nope", "prod")
    assert repo.store.refs.tags("m") == {"prod": oids[2]}


# -- status -------------------------------------------------------------------------------------

def test_status(repo, git_repo):
    write(git_repo / "a.csv", "a")
    write(git_repo / "d" / "x.txt", "x")
    write(git_repo / "params.yaml", "lr: 0.1\n")
    v1 = repo.snapshot("m", inputs={"a": "a.csv"}, outputs={"d": "d"}, params="params.yaml")
    (st,) = repo.status()
    assert st.clean and st.version == 1 and st.oid == v1.oid
    assert {s.status for s in st.slots} == {"unchanged"}

    write(git_repo / "a.csv", "changed")
    write(git_repo / "d" / "x.txt", "y")
    before, tmp_before = store_listing(git_repo), tmp_files(git_repo)
    (st,) = repo.status("m")
    assert store_listing(git_repo) == before and tmp_files(git_repo) == tmp_before == []
    slots = {s.slot: s for s in st.slots}
    assert not st.clean
    assert slots["a"].status == "modified" and slots["a"].new == oid_of(b"changed")
    assert slots["a"].old == v1.record.inputs["a"].oid
    assert slots["d"].status == "modified" and slots["d"].side == "output"
    assert st.to_dict()["slots"][0] == {"side": "input", "slot": "a", "path": "a.csv",
                                       "status": "modified", "old": slots["a"].old,
                                       "new": oid_of(b"changed")}
    assert not st.params_changed and not st.code_changed

    os.unlink(git_repo / "a.csv")
    write(git_repo / "params.yaml", "lr: 0.2\n")
    git(git_repo, "commit", "-q", "--allow-empty", "-m", "next")
    (st,) = repo.status("m")
    assert {s.slot: s.status for s in st.slots} == {"a": "removed", "d": "modified"}
    # issue 19: an empty commit changes no code (nor would it make a new version)
    assert st.params_changed and not st.code_changed
    write(git_repo / "train.py", "print('v2')\n")
    git(git_repo, "commit", "-q", "-am", "code")
    (st,) = repo.status("m")
    assert st.code_changed and st.code_why == "HEAD is another commit"
    with pytest.raises(RevisionError, match="unknown revision 'zzz'"):
        repo.status("zzz")


# -- reindex ------------------------------------------------------------------------------------

def test_reindex_after_deleting_the_index_gives_the_same_log(three):
    repo, oids, n1 = three
    repo.tag("m@2", "prod")
    log_before = [(o, r) for o, r in repo.log()]
    repo.close()
    root = repo.root
    for suffix in ("", "-wal", "-shm"):
        p = os.path.join(root, ".mlver", "index.sqlite" + suffix)
        if os.path.exists(p):
            os.unlink(p)
    with Repo(root) as fresh:
        assert fresh.reindex() == 4
        assert fresh.log() == log_before
        assert fresh.resolve("m@2") == fresh.resolve("m@prod") == oids[1]
    os.unlink(os.path.join(root, ".mlver", "index.sqlite"))  # rebuilt on its own, too
    with Repo(root) as again:
        assert again.log() == log_before


# -- crash rule and concurrency -----------------------------------------------------------------

def test_failure_before_the_ref_moves_leaves_no_ref_to_anything_missing(repo, git_repo, monkeypatch):
    write(git_repo / "a.csv", "a")
    v1 = repo.snapshot("m", inputs={"a": "a.csv"})

    def crash(self, name, new, old):
        raise KeyboardInterrupt  # the process dies between writing objects and the ref

    monkeypatch.setattr(Refs, "update", crash)
    write(git_repo / "a.csv", "b")
    with pytest.raises(KeyboardInterrupt):
        repo.snapshot("m", inputs={"a": "a.csv"})
    monkeypatch.undo()
    assert repo.store.refs.get("m") == v1.oid
    assert tmp_files(git_repo) == []
    with Repo(str(git_repo)) as fresh:
        assert [o for o, _ in fresh.log("m")] == [v1.oid]
        v2 = fresh.snapshot("m", inputs={"a": "a.csv"})
        assert v2.record.version == 2 and v2.record.parents == (v1.oid,)


def _spawn(root, name: str, path: str):
    return subprocess.Popen([sys.executable, "-m", "mlver", "snapshot", name, "-i", f"d={path}",
                             "--json"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.parametrize("procs", [2, 4])
def test_concurrent_snapshots_of_one_name_lose_no_version(repo, git_repo, procs):
    for i in range(procs):
        write(git_repo / f"in{i}.csv", f"content {i}\n")
    running = [_spawn(git_repo, "race", f"in{i}.csv") for i in range(procs)]
    results = []
    for p in running:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert sorted(r["version"] for r in results) == list(range(1, procs + 1))
    assert all(not r["unchanged"] for r in results)
    with Repo(str(git_repo)) as fresh:
        log = fresh.log("race")
        assert [r.version for _, r in log] == list(range(procs, 0, -1))
        assert {o for o, _ in log} == {r["oid"] for r in results}
        # The parents chain links every version: none was lost.
        for (o, r), (o_prev, _r_prev) in zip(log, log[1:]):
            assert r.parents == (o_prev,)
        assert {r.inputs["d"].path for _, r in log} == {f"in{i}.csv" for i in range(procs)}
    assert tmp_files(git_repo) == []


def test_concurrent_snapshots_of_equal_content_make_one_version(repo, git_repo):
    write(git_repo / "same.csv", "same\n")
    running = [_spawn(git_repo, "same", "same.csv") for _ in range(3)]
    results = []
    for p in running:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert {r["oid"] for r in results} == {results[0]["oid"]}
    assert sorted(r["unchanged"] for r in results) == [False, True, True]
    with Repo(str(git_repo)) as fresh:
        assert [r.version for _, r in fresh.log("same")] == [1]


# -- declared code scope (issue 10) -----------------------------------------------------------

def test_declared_code_scope_is_root_relative_and_sorted(git_repo, monkeypatch):
    warnings = []
    Repo.init(str(git_repo)).close()
    repo = Repo(str(git_repo), warn=warnings.append)
    write(git_repo / "src" / "a.py", "a\n")
    write(git_repo / "d.txt", "d\n")
    # relative to base, as every path of the call: here the folder src/
    res = repo.snapshot("m", inputs={"d": "../d.txt"}, code=["./a.py", "**/*.py", "a.py"],
                        base=str(git_repo / "src"))
    assert res.record.code.scope.to_dict() == {"from": "declared",
                                               "paths": ["src/**/*.py", "src/a.py"]}
    assert warnings == []
    repo.snapshot("m", inputs={"d": "d.txt"}, code="trian.py")
    assert warnings == ["code scope path 'trian.py' does not exist; check its spelling (only "
                        "commits touching the scope count as code changes)"]
    repo.close()


@pytest.mark.parametrize("entry,message", [
    ("../elsewhere.py", "path '../elsewhere.py' is outside the mlver repository"),
    (".mlver/refs", "code scope entry '.mlver/refs' is inside .mlver or .git; give paths of "
                    "your project's code"),
    (".git/**", "code scope entry '.git/**' is inside .mlver or .git"),
    ("a\0b", "code scope entry 'a\\x00b' is not a path or a glob"),
])
def test_bad_declared_code_scope_is_refused(repo, git_repo, entry, message):
    write(git_repo / "d.txt", "d\n")
    with pytest.raises(MlverError) as ei:
        repo.snapshot("m", inputs={"d": "d.txt"}, code=[entry])
    assert str(ei.value).startswith(message)
    assert repo.names() == []


def test_snapshot_without_commit_has_no_scope(tmp_path, monkeypatch):
    root = tmp_path / "nogit"
    root.mkdir()
    write(root / "d.txt", "d\n")
    repo = Repo.init(str(root))
    rec = repo.snapshot("m", inputs={"d": "d.txt"}, code="a.py").record
    assert rec.code.to_dict() == {} and rec.code.scope is None
    repo.close()
