"""Repo.open and Repo.read_table (mlver.integrations.readversion): a slot of any version
read in place, as a file, a pandas DataFrame or a DuckDB relation."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from mlver.integrations.readversion import ReadTableError

from conftest import write

ROWS = pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5], "s": ["a", "b", "c"]})


@pytest.fixture
def tables(repo, git_repo):
    """v@1: parquet, tsv, gzipped csv, a folder of parquet parts, a text file; v@2 drops a
    row of the parquet."""
    (git_repo / "parts").mkdir()
    ROWS.to_parquet(git_repo / "t.parquet")
    ROWS.to_csv(git_repo / "t.tsv", sep="\t", index=False)
    write(git_repo / "t.csv.gz", gzip.compress(ROWS.to_csv(index=False).encode()))
    for i in range(2):
        ROWS.iloc[i:i + 2].to_parquet(git_repo / "parts" / f"p{i}.parquet")
    write(git_repo / "notes.txt", "not a table\n")
    slots = {"p": "t.parquet", "tsv": "t.tsv", "gz": "t.csv.gz", "parts": "parts",
             "notes": "notes.txt"}
    repo.snapshot("v", outputs=slots)
    ROWS.iloc[:2].to_parquet(git_repo / "t.parquet")
    repo.snapshot("v", outputs=slots)
    return repo


def test_read_table_with_pandas(tables):
    repo = tables
    assert repo.read_table("v@1", "p").equals(ROWS)
    assert len(repo.read_table("v", "p")) == 2  # latest
    assert repo.read_table("v@1", "tsv").equals(ROWS)
    assert repo.read_table("v@1", "gz", columns=["s"]).equals(ROWS[["s"]])
    assert repo.read_table("v@1", "p", columns=["x"]).equals(ROWS[["x"]])
    parts = repo.read_table("v@1", "parts")
    assert parts["id"].tolist() == [1, 2, 2, 3]
    assert repo.read_table("v@1", "parts/p1.parquet")["id"].tolist() == [2, 3]


def test_read_table_with_duckdb(tables):
    repo = tables
    rel = repo.read_table("v@1", "p", engine="duckdb")
    assert isinstance(rel, duckdb.DuckDBPyRelation)
    assert rel.aggregate("sum(x)").fetchall() == [(4.5,)]
    assert repo.read_table("v@1", "tsv", engine="duckdb", columns=["s"]).fetchall() == \
        [("a",), ("b",), ("c",)]
    assert repo.read_table("v@1", "gz", engine="duckdb").shape == (3, 3)
    assert repo.read_table("v@1", "parts", engine="duckdb").aggregate("count(*)").fetchall() \
        == [(4,)]


def test_open_is_a_seekable_binary_file(tables):
    repo = tables
    with repo.open("v@1", "tsv") as f:
        assert f.read() == ROWS.to_csv(sep="\t", index=False).encode()
        f.seek(2)
        assert f.read(2) == b"\tx"
    with repo.open("v@1", "parts/p0.parquet") as f:
        assert pd.read_parquet(f)["id"].tolist() == [1, 2]


def test_what_cannot_be_read_is_named(tables):
    repo = tables
    with pytest.raises(ReadTableError, match=r"notes.txt\) is not a table"):
        repo.read_table("v@1", "notes")
    with pytest.raises(ReadTableError, match="engine 'spark' is not one of pandas, duckdb"):
        repo.read_table("v@1", "p", engine="spark")
    with pytest.raises(FileNotFoundError, match="no slot 'q'"):
        repo.read_table("v@1", "q")
    with pytest.raises(FileNotFoundError, match="v has no version 5"):
        repo.open("v@5", "p")


def test_the_example_of_python_md_prints_what_the_doc_says(tmp_path):
    doc = (Path(__file__).resolve().parents[1] / "docs" / "python.md").read_text()
    section = doc.split("### Read any version without checkout", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.S)
    code = [body for lang, body in blocks if lang == "python"][1]  # [0]: the signatures
    expected = next(body for lang, body in blocks if lang == "")
    (tmp_path / "example.py").write_text(code)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="Doc", GIT_AUTHOR_EMAIL="doc@example.com",
               GIT_COMMITTER_NAME="Doc", GIT_COMMITTER_EMAIL="doc@example.com",
               GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    proc = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == expected.splitlines()
