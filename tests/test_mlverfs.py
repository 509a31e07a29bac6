"""``mlver://`` (mlver.integrations.mlverfs): versions read in place through fsspec by
pandas, pyarrow, DuckDB and polars; loose, packed and chunked objects read by range; data
fetched on demand from a folder remote; writes and escapes refused."""

from __future__ import annotations

import io
import os

import duckdb
import fsspec
import numpy as np
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from mlver.base.errors import CorruptObjectError
from mlver.integrations.mlverfs import MlverFileSystem, ReadOnlyFsError

from _remotes import ok, pushed_and_cloned
from conftest import count_chunk_reads, write

CSV = "id,x\n" + "".join(f"{i},{i * 2}\n" for i in range(50))


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"id": np.arange(n), "a": rng.random(n), "b": rng.random(n)})


@pytest.fixture
def store2(repo, git_repo):
    """t@1: output ``train`` (a small CSV: packed) and input folder ``data`` of two parquet
    parts; t@2 changes the CSV."""
    write(git_repo / "train.csv", CSV)
    (git_repo / "data").mkdir()
    for i in range(2):
        frame(200, i).to_parquet(git_repo / "data" / f"part-{i}.parquet")
    repo.snapshot("t", inputs={"data": "data"}, outputs={"train": "train.csv"})
    write(git_repo / "train.csv", CSV + "50,100\n")
    repo.snapshot("t", inputs={"data": "data"}, outputs={"train": "train.csv"})
    return repo, MlverFileSystem(repo=str(git_repo))


def test_the_entry_point_finds_it_and_pandas_reads(store2):
    _repo, _fs = store2
    assert isinstance(fsspec.filesystem("mlver"), MlverFileSystem)  # from the current folder
    got = pd.read_csv("mlver://t@1/train")
    assert got.equals(pd.read_csv(io.StringIO(CSV)))
    assert len(pd.read_csv("mlver://t/train")) == 51  # NAME: the latest version
    part = pd.read_parquet("mlver://t@1/data/part-1.parquet")
    assert part.equals(frame(200, 1))


def test_ls_info_exists_and_ranges(store2):
    repo, fs = store2
    assert fs.ls("t@1", detail=False) == ["t@1/data", "t@1/train"]
    assert fs.ls("mlver://t@1/data", detail=False) == ["t@1/data/part-0.parquet",
                                                       "t@1/data/part-1.parquet"]
    assert fs.info("t@1/data")["type"] == "directory"
    info = fs.info("t@1/train")
    assert (info["type"], info["size"]) == ("file", len(CSV))
    assert fs.exists("t@2/train") and not fs.exists("t@3/train")
    assert fs.cat_file("t@1/train", 3, 9) == CSV.encode()[3:9]
    assert fs.cat_file("t@1/train", -4) == CSV.encode()[-4:]
    with fs.open("t@1/train") as f:
        f.seek(5)
        assert f.read(4) == CSV.encode()[5:9]
    # the CSV is small: packed, not a file of its own
    oid = info["oid"]
    assert repo.store.objects.local_file(oid) is None and repo.store.objects.find_packed(oid)
    assert fs.cat_file(f"mlver://{oid}") == CSV.encode()  # an object by its oid
    assert fs.ukey("t@1/train") == oid


def test_pyarrow_dataset_duckdb_and_polars(store2):
    _repo, fs = store2
    table = ds.dataset("t@1/data", filesystem=fs, format="parquet").to_table(columns=["id"])
    assert table.num_rows == 400
    assert pq.read_table("t@1/data/part-0.parquet", filesystem=fs,
                         columns=["a"]).column("a").to_pylist() == frame(200, 0)["a"].tolist()
    con = duckdb.connect()
    con.register_filesystem(fs)
    assert con.sql("select count(*), sum(id) from "
                   "read_parquet('mlver://t@1/data/*.parquet')").fetchall() == [(400, 2 * 19900)]
    assert con.sql("select sum(x) from read_csv('mlver://t@2/train')").fetchall() == [(2550,)]
    with fs.open("t@1/data/part-0.parquet") as f:
        assert pl.read_parquet(f).shape == (200, 3)
    with fs.open("t@2/train") as f:
        assert pl.read_csv(f)["x"].sum() == 2550


def test_writes_are_refused(store2):
    _repo, fs = store2
    for attempt in (lambda: fs.open("t@1/new", "wb"), lambda: fs.rm("t@1/train"),
                    lambda: fs.mkdir("t@1/x"), lambda: fs.pipe_file("t@1/x", b"1"),
                    lambda: fs.mv("t@1/train", "t@1/y"), lambda: fs.touch("t@1/z")):
        with pytest.raises(ReadOnlyFsError, match="mlver:// is read-only"):
            attempt()
    assert issubclass(ReadOnlyFsError, PermissionError)


def test_unknown_and_escaping_paths(store2):
    _repo, fs = store2
    for path, needle in (("t@9/train", "t has no version 9"), ("nope/train", "unknown revision"),
                         ("t@1/model", "no slot 'model'"),
                         ("t@1/data/part-9.parquet", "no 'part-9.parquet'"),
                         ("t@1/data/../train", "'..' is refused"),
                         ("mlver:///etc/passwd", "absolute path")):
        with pytest.raises(FileNotFoundError, match=needle):
            fs.open(path)
    with pytest.raises(FileNotFoundError):
        pd.read_csv("mlver://t@1/nothing")
    with pytest.raises(IsADirectoryError):
        fs.open("t@1/data")


def test_a_chunked_object_reads_only_the_chunks_of_a_range(repo, git_repo, monkeypatch):
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 64 << 10)
    rng = np.random.default_rng(1)
    df = pd.DataFrame({c: rng.random(12_000) for c in "abcdef"})  # ~580 KB: ~9 chunks
    df.to_parquet(git_repo / "big.parquet")
    repo.snapshot("big", outputs={"data": "big.parquet"})
    fs = MlverFileSystem(repo=str(git_repo))
    oid = fs.info("big@1/data")["oid"]
    manifest = repo.store.objects.manifest(oid)
    assert manifest is not None and len(manifest.chunks) >= 3
    read = count_chunk_reads(monkeypatch)
    meta = pq.read_metadata(fs.open("big@1/data", cache_type="none"))
    assert meta.num_rows == 12_000
    # the footer: the last chunk or two, not the file
    assert 0 < sum(read) <= 2 * max(n for _c, n in manifest.chunks) < manifest.size
    read.clear()
    with fs.open("big@1/data", cache_type="none") as f:
        assert pq.read_table(f, columns=["c"]).column("c").to_pylist() == df["c"].tolist()
    assert sum(read) < manifest.size * 0.5  # one column of six, and the footer
    assert pd.read_parquet("mlver://big@1/data").equals(df)


def test_a_corrupt_object_is_named(repo, git_repo):
    write(git_repo / "w.bin", np.random.default_rng(2).bytes(300_000))  # loose: not packed
    repo.snapshot("w", outputs={"weights": "w.bin"})
    fs = MlverFileSystem(repo=str(git_repo))
    oid = fs.info("w@1/weights")["oid"]
    path = repo.store.objects.local_file(oid)
    assert path is not None
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[-1] ^= 1
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(CorruptObjectError, match=f"object {oid} is corrupt"):
        fs.cat_file("w@1/weights", 0, 10)  # the range is intact, the object is not
    with pytest.raises(CorruptObjectError):
        fs.open("w@1/weights")


def test_a_lying_manifest_fails_a_whole_read(repo, git_repo, monkeypatch):
    # real chunks in a wrong order: each chunk verifies, the file does not
    from mlver.base import canonical
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 64 << 10)
    write(git_repo / "w.bin", np.random.default_rng(3).bytes(400_000))
    repo.snapshot("w", outputs={"weights": "w.bin"})
    fs = MlverFileSystem(repo=str(git_repo))
    oid = fs.info("w@1/weights")["oid"]
    path = repo.store.objects.manifest_path(oid)
    doc = canonical.loads(open(path, "rb").read())
    doc["chunks"][0], doc["chunks"][1] = doc["chunks"][1], doc["chunks"][0]
    os.chmod(path, 0o644)
    with open(path, "wb") as f:
        f.write(canonical.dumps(doc))
    fs = MlverFileSystem(repo=str(git_repo))
    for read in (lambda: fs.cat_file("w@1/weights"), lambda: fs.open("w@1/weights").read(),
                 lambda: fs.get("w@1/weights", str(git_repo / "out.bin"))):
        with pytest.raises(CorruptObjectError, match="manifest is damaged"):
            read()


def test_data_on_demand_from_a_folder_remote(tmp_path, monkeypatch):
    a, b = pushed_and_cloned(tmp_path, CSV)
    ok(b, "pull", "--no-data")
    fs = MlverFileSystem(repo=str(b))
    oid = fs.info("m@1/t")["oid"]
    assert not fs.store.objects.has(oid)
    monkeypatch.chdir(b)
    assert pd.read_csv("mlver://m@1/t").equals(pd.read_csv(io.StringIO(CSV)))
    assert fs.store.objects.has(oid)  # fetched into b's store


def test_a_folder_slot_is_decoded_once_not_once_per_file(repo, git_repo, monkeypatch):
    (git_repo / "many").mkdir()
    for i in range(40):
        write(git_repo / "many" / f"f{i:02}.txt", str(i))
    repo.snapshot("m", inputs={"many": "many"})
    fs = MlverFileSystem(repo=str(git_repo))
    decoded = []
    real = fs.store.tree
    monkeypatch.setattr(fs.store, "tree", lambda oid: decoded.append(oid) or real(oid))
    assert [fs.cat_file(f"m@1/many/f{i:02}.txt") for i in range(40)] == \
        [str(i).encode() for i in range(40)]
    assert fs.du("m@1/many") == sum(len(str(i)) for i in range(40))
    assert len(decoded) == 1
    with pytest.raises(FileNotFoundError):
        fs.info("m@1/many/f40.txt")  # a name after the last (a binary search)
    assert not fs.exists("m@1/many/a") and fs.exists("m@1/many/f00.txt")


def test_no_store_around_the_current_folder_names_the_repo_option(tmp_path, monkeypatch):
    """Review: pd.read_csv("mlver://…") outside a repository said only "run mlver init"."""
    from mlver.base.errors import NotAStoreError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotAStoreError, match=r"storage_options=\{'repo': PATH\}"):
        pd.read_csv("mlver://ds@1/csv")
    with pytest.raises(NotAStoreError, match="no mlver store in") as e:
        MlverFileSystem(repo=str(tmp_path))
    assert "storage option" not in str(e.value)
