"""mlver.diff.tablecache through real snapshots: the label (``--target``, ``[tables]
target``), compressed tables, streamed profiles, and cached diffs that read no data."""

from __future__ import annotations

import gzip
import json
import random

import pytest

import mlver
import mlver.diff.profile as profile
from _fixtures import HEADER, assert_ok, cli, csv_text, index_conn, mrepo, proj, write

__all__ = ["mrepo", "proj"]  # fixtures


def rows(n, seed=0, dog=0.5, shift=0.0, start=0):
    rnd = random.Random(seed)
    return [[start + i, round(rnd.gauss(50 + shift, 10), 3),
             "dog" if rnd.random() < dog else "cat"] for i in range(n)]


def snapshot_two(repo, proj, first, second, path="data/d.csv", compress=False, name="m"):
    for table in (first, second):
        text = csv_text(HEADER, table)
        write(proj / path, gzip.compress(text.encode(), mtime=0) if compress else text)
        assert repo.snapshot(name, inputs={"train": path}).created


def test_target_option_reports_the_label_first(mrepo, proj):
    snapshot_two(mrepo, proj, rows(4000, seed=1), rows(4000, seed=2, dog=0.65, shift=3))
    out = assert_ok(cli("diff", "m@1", "m@2", "--target", "cat"))
    line = next(x for x in out.splitlines() if x.startswith("    data   train"))
    assert line.startswith("    data   train (data/d.csv): label 'cat' drifted (Jensen-Shannon 0.")
    assert "classes 'dog' 5" in line and "% -> 6" in line
    assert "'x' drifted (Wasserstein 0.3" in line and "σ ≥ 0.1; mean 49.9" in line
    j = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--target", "cat", "--json")))
    t = j["inputs"]["train"]["table"]
    assert t["target"]["column"] == "cat" and t["target"]["kind"] == "categorical"
    assert [c["value"] for c in t["target"]["classes"]] == ["cat", "dog"]
    assert t["drift"][0]["column"] == "cat" and t["drift"][0]["target"] is True
    assert t["dataset_drift"]["drifted_columns"] == 2     # x and cat; id grew too little
    # without --target: no label, the same drift entries
    plain = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--json")))["inputs"]["train"]["table"]
    assert plain["target"] is None and not any(e["target"] for e in plain["drift"])


def test_target_in_mlver_toml_even_when_stable(mrepo, proj):
    write(proj / "mlver.toml", '[tables."data/d.csv"]\ntarget = "x"\n')
    snapshot_two(mrepo, proj, rows(3000, seed=1), rows(3000, seed=2))
    d = mrepo.diff("m@1", "m@2")
    t = d.inputs["train"].table
    assert t.target["kind"] == "numeric" and set(t.target["quantiles"]) >= {"median", "p5"}
    assert t.drift[0].column == "x" and not t.drift[0].drifted
    assert t.summary().startswith("label 'x': median 49.")
    # --target (Python: targets=) wins over mlver.toml
    other = mrepo.diff("m@1", "m@2", targets={"*": "cat"}).inputs["train"].table
    assert other.target["column"] == "cat"


def test_compressed_csv_is_diffed_as_a_table_and_cached(mrepo, proj, monkeypatch):
    snapshot_two(mrepo, proj, rows(2000, seed=1), rows(2000, seed=1)[:1900] + rows(50, seed=3,
                 start=9000), path="data/d.csv.gz", compress=True)
    first = mrepo.diff("m@1", "m@2").to_dict()
    t = first["inputs"]["train"]["table"]
    assert (t["rows_added"], t["rows_removed"]) == (50, 100)
    assert first["inputs"]["train"]["note"] is None
    with index_conn(proj) as c:
        kinds = {k for (k,) in c.execute("SELECT kind FROM derived")}
    assert kinds == {"table-profile/3", "table-rowhashes/3"}
    reads = []
    monkeypatch.setattr(profile, "scan", lambda *a, **k: reads.append(a) or 1 / 0)
    monkeypatch.setattr(profile, "read_table", lambda *a, **k: reads.append(a) or 1 / 0)
    again = mlver.Repo(str(proj)).diff("m@1", "m@2").to_dict()
    assert reads == [] and again == first


def test_a_cached_diff_of_loose_blobs_reads_nothing_until_they_change(mrepo, proj,
                                                                    monkeypatch):
    import os
    from mlver.store.packs import PACK_THRESHOLD
    n = PACK_THRESHOLD // 15                     # ~20 bytes a row: more than the threshold
    snapshot_two(mrepo, proj, rows(n, seed=1), rows(n, seed=2))   # loose objects
    first = mrepo.diff("m@1", "m@2").to_dict()
    oid = mrepo.show("m@2")[1].inputs["train"].oid
    loose = mrepo.store.objects.local_file(oid)
    assert loose is not None
    heads = []
    real = profile.detect_format
    monkeypatch.setattr(profile, "detect_format", lambda *a: heads.append(a) or real(*a))
    assert mlver.Repo(str(proj)).diff("m@1", "m@2").to_dict() == first
    assert heads == []                     # not even the head: format and stat are cached
    # the same length, one byte changed: the stat differs, the blob is verified, and named
    data = bytearray(open(loose, "rb").read())
    data[-3] = ord("7") if data[-3] != ord("7") else ord("8")
    os.chmod(loose, 0o644)
    with open(loose, "wb") as f:
        f.write(bytes(data))
    out = mlver.Repo(str(proj)).diff("m@1", "m@2")
    assert oid in (out.inputs["train"].note or "") and out.inputs["train"].table is None


def test_a_gz_file_that_is_not_gzip_is_compared_by_bytes(mrepo, proj):
    write(proj / "data/d.csv.gz", "id\n1\n")
    mrepo.snapshot("m", inputs={"train": "data/d.csv.gz"})
    write(proj / "data/d.csv.gz", "id\n2\n")
    mrepo.snapshot("m", inputs={"train": "data/d.csv.gz"})
    s = mrepo.diff("m@1", "m@2").inputs["train"]
    assert s.table is None and s.note == "not readable as a table; compared by bytes only"


def test_streamed_profiles_equal_in_memory_ones(mrepo, proj, monkeypatch):
    monkeypatch.setattr(profile, "BATCH_ROWS", 700)    # many batches
    monkeypatch.setattr(profile, "BLOCK_SIZE", 1 << 13)
    monkeypatch.setattr(profile, "SAMPLE_ROWS", 500)   # and a real sample
    snapshot_two(mrepo, proj, rows(5000, seed=1), rows(5000, seed=2, shift=4))
    x = next(s for s in mrepo.diff("m@1", "m@2").inputs["train"].table.drift if s.column == "x")
    assert x.drifted and x.test == "wasserstein" and x.value == pytest.approx(0.4, abs=0.15)
    oid = mrepo.show("m@2")[1].inputs["train"].oid
    pid = mrepo.store.index.get_derived("table-profile/3", oid)
    cached = json.loads(mrepo.store.objects.read(pid))
    whole = profile.profile_table(profile.read_table(str(proj / "data/d.csv"), "csv"))[0]
    assert cached.pop("file_format") == "csv" and cached.pop("blob_stat") is None  # packed
    assert cached.keys() == whole.keys()
    for a, b in zip(cached["columns"], whole["columns"]):
        for k in a:
            if k == "numeric" and a[k]:
                for s in a[k]:  # moments merged in another order: equal to rounding
                    assert a[k][s] == pytest.approx(b[k][s], rel=1e-9)
            else:
                assert a[k] == b[k], (a["name"], k)


def test_workspace_diff_of_a_small_change_says_too_few_rows(mrepo, proj):
    write(proj / "data/d.csv", "id,price\n1,100\n2,150\n3,90\n")
    mrepo.snapshot("m", inputs={"train": "data/d.csv"})
    write(proj / "data/d.csv", "id,price\n1,100\n2,155\n3,90\n4,300\n")
    out = assert_ok(cli("diff", "m", "--key", "id"))
    assert "'price': too few rows to judge drift (3 -> 4 rows)" in out
    assert "PSI" not in out and "drifted" not in out


def test_a_chunked_table_diffs_as_a_whole_one_and_is_cached(mrepo, proj, tmp_path,
                                                            monkeypatch):
    from _fixtures import make_git_repo

    first = rows(9000, seed=1)                  # ~140 KB: above the pack threshold
    second = first[:8800] + rows(300, seed=4, start=90000)
    snapshot_two(mrepo, proj, first, second)                      # stored whole (packed)
    whole = mrepo.diff("m@1", "m@2", keys={"*": ["id"]}, rows=3).to_dict()["inputs"]
    plain = mrepo.diff("m@1", "m@2").to_dict()["inputs"]
    assert whole["train"]["table"]["rows_added"] == 300 and whole["train"]["note"] is None
    other = make_git_repo(tmp_path / "other")
    monkeypatch.chdir(other)
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 64 << 10)
    repo = mlver.Repo.init(str(other))
    snapshot_two(repo, other, first, second)                      # stored chunked
    oid = repo.show("m@2")[1].inputs["train"].oid
    assert repo.store.objects.manifest(oid) is not None
    chunked = repo.diff("m@1", "m@2", keys={"*": ["id"]}, rows=3).to_dict()["inputs"]
    # the one difference: stored as chunks, the diff also says what the versions share
    assert 0 < chunked["train"].pop("shared_bytes") < len(first) * 16
    assert whole["train"].pop("shared_bytes") is None
    assert chunked == whole
    chunked = repo.diff("m@1", "m@2").to_dict()["inputs"]
    chunked["train"]["shared_bytes"] = plain["train"]["shared_bytes"]
    assert chunked == plain
    # cached by oid (a chunked blob has no file whose stat could say it changed): a later
    # diff reads no data, not even the head
    heads = []
    real = profile.detect_format
    monkeypatch.setattr(profile, "detect_format", lambda *a: heads.append(a) or real(*a))
    again = mlver.Repo(str(other)).diff("m@1", "m@2").to_dict()["inputs"]
    again["train"]["shared_bytes"] = plain["train"]["shared_bytes"]
    assert again == plain
    assert heads == []
    repo.close()


def test_open_blob_of_a_chunked_file_streams_it(mrepo, proj, monkeypatch):
    import io

    from mlver.core.workspace import Objects

    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 64 << 10)
    data = csv_text(HEADER, rows(20000, seed=3)).encode()
    write(proj / "data/d.csv", data)
    mrepo.snapshot("m", inputs={"train": "data/d.csv"})
    oid = mrepo.show("m@1")[1].inputs["train"].oid
    objs = Objects(mrepo.store, mrepo.workspace)
    reads = []
    real = type(mrepo.store.objects).read
    monkeypatch.setattr(type(mrepo.store.objects), "read",
                        lambda self, o, *a, **k: reads.append(o) or real(self, o, *a, **k))
    with objs.open_blob(oid, "data/d.csv") as f:
        assert not isinstance(f, io.BytesIO)
        assert f.read(100) == data[:100]
        assert f.read() == data[100:]
    assert oid not in reads                   # never read whole
    with objs.local_path(oid, "data/d.csv") as p:
        assert p is not None and open(p, "rb").read() == data
    assert oid not in reads


def test_a_flipped_byte_in_a_chunk_of_a_table_is_named_not_diffed(mrepo, proj, monkeypatch):
    import os

    from adversarial.craft import _packed

    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 64 << 10)
    snapshot_two(mrepo, proj, rows(9000, seed=1), rows(9000, seed=2))
    oid = mrepo.show("m@2")[1].inputs["train"].oid
    chunk = mrepo.store.objects.manifest(oid).chunks[-1][0]    # the last: not in the head
    pack, i = _packed(proj, chunk)
    os.chmod(pack.pack_path, 0o644)
    with open(pack.pack_path, "r+b") as f:
        f.seek(pack.offsets[i] + 10)
        b = f.read(1)
        f.seek(pack.offsets[i] + 10)
        f.write(bytes([b[0] ^ 1]))
    s = mlver.Repo(str(proj)).diff("m@1", "m@2").inputs["train"]
    assert s.table is None and chunk in s.note and "corrupt" in s.note



def test_a_profile_reports_the_rows_it_has_read(tmp_path):
    """Progress of a long diff says how far the read has come, not only the phase."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"id": list(range(3000))}), path, row_group_size=1000)
    seen = []
    profile.profile_file(str(path), "parquet", on_rows=seen.append)
    assert seen == [0, 1000, 2000, 3000]  # the empty first batch (the columns), then each
