"""Recognising a table file: its format from the name and first bytes, compression
codecs, UTF-8 text, and a CSV's delimiter.

A format is ``"csv"``, ``"tsv"``, ``"parquet"`` or ``"jsonl"``, or a compressed text
format such as ``"csv:gzip"`` (see :func:`split_format`).  Only the standard library is
used here: the CLI imports this module at start-up.
"""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import os

from mlver.diff.tableerrors import TableError

SNIFF_BYTES = 1 << 20          # head read to check the text and sniff the delimiter
SNIFF_RECORDS = 50
DELIMITERS = (",", ";", "\t", "|")
EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet",
              ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd", ".xz": "xz",
               ".lz4": "lz4"}
MAGIC = {"gzip": b"\x1f\x8b", "bz2": b"BZh", "zstd": b"\x28\xb5\x2f\xfd",
         "xz": b"\xfd7zXZ\x00", "lz4": b"\x04\x22\x4d\x18"}


def extension_format(path: str) -> str | None:
    """The text format (``"csv"``, ``"csv:gzip"``, ...) that ``path``'s name says, or None;
    :func:`mlver.diff.profile.detect_format` also checks the content."""
    base, ext = os.path.splitext(path.lower())
    codec = COMPRESSION.get(ext)
    fmt = EXTENSIONS.get(os.path.splitext(base)[1] if codec else ext)
    if fmt in (None, "parquet"):
        return None
    return f"{fmt}:{codec}" if codec else fmt


def split_format(fmt: str) -> tuple[str, str | None]:
    """``"csv:gzip"`` -> ``("csv", "gzip")``; ``"csv"`` -> ``("csv", None)``."""
    kind, _, codec = fmt.partition(":")
    return kind, codec or None


def decompress_head(head: bytes, codec: str) -> bytes | None:
    """The start of the decompressed text (what a partial head gives), b"\\0" when
    it does not decompress, None when this codec cannot be checked from a head."""
    import bz2
    import lzma
    import zlib
    try:
        if codec == "gzip":
            return zlib.decompressobj(wbits=47).decompress(head, SNIFF_BYTES)
        if codec == "bz2":
            return bz2.BZ2Decompressor().decompress(head, max_length=SNIFF_BYTES)
        if codec == "xz":
            return lzma.LZMADecompressor().decompress(head, max_length=SNIFF_BYTES)
    except (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError):
        return b"\x00"
    return None


def is_text(head: bytes) -> bool:
    """Whether ``head`` is UTF-8 text without NUL (it may end inside a character)."""
    try:  # final=False: the head may end inside a multi-byte character
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def sniff_delimiter(head: bytes, whole: bool, default: str = ",") -> str:
    """The one of DELIMITERS that splits the first records into equally many
    fields, the most fields winning (ties: ``default``; one column: ``default``;
    none: TableError).  Unless ``whole`` (all the file), the last record of
    ``head`` may be cut and is ignored."""
    text = head.decode("utf-8-sig", errors="ignore")
    if not whole and "\n" not in text and "\r" not in text:
        raise TableError(f"first line longer than {SNIFF_BYTES} bytes")
    best, best_width, single = None, 1, True
    for delim in sorted(DELIMITERS, key=lambda d: d != default):
        records: list[list[str]] = []
        cut = not whole
        try:
            for record in itertools.islice(csv.reader(io.StringIO(text), delimiter=delim),
                                           SNIFF_RECORDS + 1):
                records += [record] if record else []
        except csv.Error:  # a field over csv.field_size_limit: judge the records before it
            cut = False
        if cut and len(records) > 1:
            records.pop()  # may be cut mid-record
        widths = {len(r) for r in records[:SNIFF_RECORDS]}
        single = single and widths == {1}
        if len(widths) == 1 and (width := widths.pop()) > best_width:
            best, best_width = delim, width
    if best is None and not single:
        raise TableError("no delimiter among , ; tab | splits the first lines consistently")
    return best or default
