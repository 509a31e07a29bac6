"""Tests of mlver.diff.tableformat: names, codecs and text checks of table files."""
from __future__ import annotations

import gzip

import pytest

from mlver.diff.tableerrors import TableError
from mlver.diff.tableformat import (
    decompress_head,
    extension_format,
    is_text,
    sniff_delimiter,
    split_format,
)


@pytest.mark.parametrize("path,fmt", [
    ("a.csv", "csv"), ("A.TSV", "tsv"), ("x.tab", "tsv"), ("l.jsonl", "jsonl"),
    ("l.ndjson", "jsonl"), ("d.csv.gz", "csv:gzip"), ("d.tsv.zst", "tsv:zstd"),
    ("d.parquet", None), ("d.parquet.gz", None), ("notes.txt", None), ("d.gz", None),
])
def test_extension_format(path, fmt):
    assert extension_format(path) == fmt


def test_split_format():
    assert split_format("csv:gzip") == ("csv", "gzip")
    assert split_format("parquet") == ("parquet", None)


def test_is_text_allows_a_cut_character_but_not_nul_or_latin1():
    assert is_text("café".encode()[:-1])
    assert not is_text(b"a,b\x00\n")
    assert not is_text("café au lait".encode("latin-1"))


def test_decompress_head():
    assert decompress_head(gzip.compress(b"x,y\n1,2\n"), "gzip") == b"x,y\n1,2\n"
    assert decompress_head(b"\x1f\x8bnot gzip at all", "gzip") == b"\x00"
    assert decompress_head(b"anything", "zstd") is None  # not checked from a head


def test_sniff_delimiter_defaults_and_failures():
    assert sniff_delimiter(b"a|b|c\n1|2|3\n", True) == "|"
    assert sniff_delimiter(b"one\ncolumn\n", True, "\t") == "\t"
    with pytest.raises(TableError, match="first line longer"):
        sniff_delimiter(b"x" * 100, False)
