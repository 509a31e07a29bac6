"""Reading table files, whole or streamed, and the profiles of tables and files, for
``mlver diff``.

A *profile* is plain JSON-able data (see :func:`profile_table`), the *row
hashes* a sorted ``uint64`` array, one per row.  Both depend only on a file's
content, so the caller caches them by content hash and later diffs need not
read the data.  Formats are recognised by :func:`detect_format` (see
:mod:`mlver.diff.tableformat`); profiles are computed by
:class:`mlver.diff.profiler.Profiler`.  pyarrow, numpy and pandas are imported
inside functions only, as the CLI imports this module at start-up and must stay fast.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from mlver.diff.colhash import normalize, row_hashes_unsorted
# SAMPLE_ROWS is read here at call time and handed to each Profiler, so that the entry
# points below (files and tables alike) always sample the same number of rows
from mlver.diff.profiler import SAMPLE_ROWS, Profile, Profiler
from mlver.diff.tableerrors import KeyColumnError, TableError, table_errors
from mlver.diff.tableformat import (
    COMPRESSION,
    EXTENSIONS,
    MAGIC,
    SNIFF_BYTES,
    decompress_head,
    is_text,
    sniff_delimiter,
    split_format,
)

if TYPE_CHECKING:  # pragma: no cover
    import numpy
    import pyarrow

BLOCK_SIZE = 4 << 20           # pyarrow read block: the fastest on the 1M-row benchmark
MAX_BLOCK_SIZE = 32 << 20      # one retry for long rows; a longer line is not a table


class Consumer(Protocol):
    """What :func:`scan` streams a table into: ``add`` takes each normalized batch."""

    def add(self, table: Any) -> None:
        """Account for one batch (a pyarrow Table)."""


_C = TypeVar("_C", bound=Consumer)


def detect_format(path: str, head: bytes) -> str | None:
    """"csv", "tsv", "parquet", "jsonl" or None (not a table), by extension and
    first bytes: ``PAR1`` means parquet whatever the name (a .parquet without
    it is None); text formats need UTF-8 without NUL, so a binary .csv is None.
    A compressed text table (``.csv.gz``, ``.tsv.bz2``, ``.jsonl.zst``, ``.csv.xz``,
    ``.csv.lz4``) is ``"csv:gzip"`` and so on, when the head has the codec's magic
    bytes and (for gzip, bz2 and xz) decompresses to UTF-8 text."""
    if head[:4] == b"PAR1":
        return "parquet"
    base, ext = os.path.splitext(path.lower())
    codec = COMPRESSION.get(ext)
    if codec is not None:
        fmt = EXTENSIONS.get(os.path.splitext(base)[1])
        if fmt in (None, "parquet") or not head.startswith(MAGIC[codec]):
            return None
        text = decompress_head(head, codec)
        return f"{fmt}:{codec}" if text is None or is_text(text) else None
    fmt = EXTENSIONS.get(ext)
    return fmt if fmt not in (None, "parquet") and is_text(head) else None


def _open(path: str, codec: str | None) -> Any:
    """A readable source for pyarrow: the path, or a decompressing stream."""
    import pyarrow as pa
    if codec is None:
        return path
    if codec == "xz":  # not one of pyarrow's codecs
        import lzma
        return lzma.open(path, "rb")
    return pa.input_stream(path, compression=codec)


def _reading(path: str, fmt: str) -> AbstractContextManager[None]:
    """Context for reading: every failure becomes a TableError naming the file."""
    import contextlib

    @contextlib.contextmanager
    def guard() -> Iterator[None]:
        try:
            yield
        except TableError:
            raise
        except Exception as exc:  # pyarrow raises many types; the contract is TableError only
            text = (str(exc).strip().splitlines()[0][:200] if str(exc).strip()
                    else type(exc).__name__)
            raise TableError(f"cannot read {os.path.basename(path)} as {fmt}: {text}") from exc
    return guard()


def _check_key(names: list[str], key: str | list[str] | None) -> None:
    for name in [key] if isinstance(key, str) else (key or []):
        if name not in names:
            raise KeyColumnError(f"key column {name!r} not found; columns are: "
                                 + ", ".join(repr(c) for c in names))


def read_table(path: str, fmt: str, key: list[str] | None = None) -> pyarrow.Table:
    """Read ``path`` as ``fmt`` with pyarrow (a CSV's delimiter is sniffed).

    Every failure (malformed or binary content, non-UTF-8 text, a line longer
    than MAX_BLOCK_SIZE, an empty file, a missing ``key`` column, I/O errors)
    is a TableError, never another exception: the caller then diffs bytes.
    The table is :func:`normalize`-d.  This holds the whole table in memory:
    :func:`profile_file` streams instead."""
    kind, codec = split_format(fmt)
    with _reading(path, fmt):
        if kind in ("csv", "tsv", "jsonl"):
            table = _read_text(path, kind, codec)
        elif kind == "parquet" and codec is None:
            import pyarrow.parquet as pq
            table = pq.read_table(path)
        else:
            raise TableError(f"unknown table format {fmt!r}")
        table = normalize(table)
    _check_key(table.column_names, key)
    return table


def _text_head(path: str, codec: str | None) -> tuple[bytes, bool]:
    """The first SNIFF_BYTES of the (decompressed) text, and whether that is all of it."""
    src = _open(path, codec)
    fh = open(src, "rb") if isinstance(src, str) else src  # noqa: SIM115 (closed just below)
    with fh:
        head = fh.read(SNIFF_BYTES + 1)
    whole, head = len(head) <= SNIFF_BYTES, head[:SNIFF_BYTES]
    if not head.strip():
        raise TableError("empty file")
    if not is_text(head):
        raise TableError("binary or non-UTF-8 content")
    return head, whole


def _read_text(path: str, fmt: str, codec: str | None = None) -> pyarrow.Table:
    import pyarrow.csv as pcsv
    import pyarrow.json as pj

    head, whole = _text_head(path, codec)
    if fmt == "jsonl":
        return _with_retries(lambda block, _: pj.read_json(
            _open(path, codec), read_options=pj.ReadOptions(block_size=block)))
    delimiter = sniff_delimiter(head, whole, "\t" if fmt == "tsv" else ",")
    table = _with_retries(lambda block, multiline: pcsv.read_csv(
        _open(path, codec), read_options=pcsv.ReadOptions(block_size=block),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=multiline)))
    _no_binary(table.schema)
    return table


def _no_binary(schema: Any) -> None:
    # past the head, pyarrow silently reads invalid UTF-8 as binary columns
    import pyarrow as pa
    if any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in schema.types):
        raise TableError("non-UTF-8 text")


# --------------------------------------------------------------------------- streaming

BATCH_ROWS = 1 << 20           # rows handed to a profiler at once (bounded memory)
BATCH_BYTES = 256 << 20        # ... or fewer rows when they are this big


def _coalesce(batches: Iterable[Any]) -> Iterator[pyarrow.Table]:
    """Tables of about BATCH_ROWS rows (or BATCH_BYTES) from small record batches."""
    import pyarrow as pa
    pending: list[Any] = []
    rows, size = 0, 0
    for b in batches:
        if b.num_rows == 0:
            continue
        pending.append(b)
        rows, size = rows + b.num_rows, size + b.nbytes
        if rows >= BATCH_ROWS or size >= BATCH_BYTES:
            yield pa.Table.from_batches(pending)
            pending, rows, size = [], 0, 0
    if pending:
        yield pa.Table.from_batches(pending)


def scan(path: str, fmt: str, make: Callable[[], _C], columns: list[str] | None = None) -> _C:
    """Stream ``path`` through a consumer: ``make()`` returns an object with
    ``add(table)``; each batch (normalized) is added, the first one empty (so a
    table without rows still has its columns).  A retry (a CSV column whose type
    changes past the first block, a value spanning lines, a long row) starts a
    fresh consumer.  ``columns`` limits what a parquet file reads (other formats
    hand all columns).  Returns the consumer; every failure is a TableError."""
    kind, codec = split_format(fmt)
    with _reading(path, fmt):
        if kind == "parquet" and codec is None:
            return _scan_parquet(path, make, columns)
        if kind in ("csv", "tsv"):
            return _scan_csv(path, kind, codec, make)
        if kind == "jsonl":
            return _scan_jsonl(path, codec, make)
        raise TableError(f"unknown table format {fmt!r}")


def _scan_parquet(path: str, make: Callable[[], _C], columns: list[str] | None) -> _C:
    import pyarrow.parquet as pq
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    if columns is not None and (len(set(names)) != len(names) or not set(columns) <= set(names)):
        columns = None  # renamed duplicates: read all, the consumer picks
    consumer = make()
    schema = pf.schema_arrow if columns is None else \
        __import__("pyarrow").schema([pf.schema_arrow.field(c) for c in columns])
    consumer.add(normalize(schema.empty_table()))
    meta = pf.metadata
    if all(meta.row_group(i).num_rows <= 2 * BATCH_ROWS for i in range(meta.num_row_groups)):
        # row groups of moderate size: read whole (faster than batches, same memory bound)
        for i in range(meta.num_row_groups):
            consumer.add(normalize(pf.read_row_group(i, columns=columns, use_threads=True)))
        return consumer
    for batch in _coalesce(pf.iter_batches(batch_size=BATCH_ROWS, columns=columns,
                                           use_threads=True)):
        consumer.add(normalize(batch))
    return consumer


def _scan_csv(path: str, kind: str, codec: str | None, make: Callable[[], _C]) -> _C:
    import re

    import pyarrow as pa
    import pyarrow.csv as pcsv
    head, whole = _text_head(path, codec)
    delimiter = sniff_delimiter(head, whole, "\t" if kind == "tsv" else ",")
    block, multiline = BLOCK_SIZE, False
    types: dict[str, Any] = {}
    while True:
        reader = None
        try:
            parse = pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=multiline)
            reader = pcsv.open_csv(_open(path, codec),
                                   read_options=pcsv.ReadOptions(block_size=block),
                                   parse_options=parse,
                                   convert_options=pcsv.ConvertOptions(column_types=types))
            consumer = make()
            consumer.add(normalize(reader.schema.empty_table()))
            for table in _coalesce(reader):
                _no_binary(table.schema)
                consumer.add(normalize(table))
            return consumer
        except pa.ArrowInvalid as exc:
            msg = str(exc)
            retype = re.search(r"In CSV column #(\d+): .*conversion error", msg)
            if "newlines_in_values" in msg and not multiline:
                multiline = True
            elif "straddl" in msg and block < MAX_BLOCK_SIZE:
                block = MAX_BLOCK_SIZE
            elif retype and reader is not None and len(types) <= len(reader.schema.names):
                # the type inferred from the first block does not fit a later value:
                # take the type pyarrow infers from the whole column, then start over
                name = reader.schema.names[int(retype.group(1))]
                whole_col = pcsv.read_csv(
                    _open(path, codec), read_options=pcsv.ReadOptions(block_size=block),
                    parse_options=parse,
                    convert_options=pcsv.ConvertOptions(include_columns=[name]))
                if types.get(name) == whole_col.schema.field(name).type:
                    raise
                types[name] = whole_col.schema.field(name).type
                del whole_col
            else:
                raise


def _scan_jsonl(path: str, codec: str | None, make: Callable[[], _C]) -> _C:
    import pyarrow as pa
    import pyarrow.json as pj
    _text_head(path, codec)
    if hasattr(pj, "open_json"):
        try:
            reader = pj.open_json(_open(path, codec),
                                  read_options=pj.ReadOptions(block_size=BLOCK_SIZE))
            consumer = make()
            consumer.add(normalize(reader.schema.empty_table()))
            for table in _coalesce(reader):
                consumer.add(normalize(table))
            return consumer
        except pa.ArrowInvalid:
            pass  # a type that changes past the first block, a long line: read it whole
    table = normalize(_read_text(path, "jsonl", codec))
    consumer = make()
    consumer.add(table)
    return consumer


class _Watched:
    """A profiler that reports the rows read so far to ``on_rows`` after each batch."""

    def __init__(self, inner: Profiler, on_rows: Callable[[int], None]) -> None:
        self.inner, self.on_rows, self.rows = inner, on_rows, 0

    def add(self, table: Any) -> None:
        self.inner.add(table)
        self.rows += table.num_rows
        self.on_rows(self.rows)

    def finish(self) -> tuple[Profile, numpy.ndarray | None]:
        return self.inner.finish()


def profile_file(path: str, fmt: str, key: str | list[str] | None = None,
                 with_hashes: bool = True,
                 on_rows: Callable[[int], None] | None = None, with_content: bool = False
                 ) -> tuple[Profile, numpy.ndarray | None]:
    """:func:`profile_table` of a file, streamed batch by batch (memory bounded by
    a batch, not the table); KeyColumnError when ``key`` names a missing column.
    ``on_rows(n)``: called after each batch with the rows read so far (progress);
    ``with_content`` without ``with_hashes``: the profile is the same (content digests
    included), but no row hashes are made."""
    def make() -> Profiler | _Watched:
        p = Profiler(with_hashes=with_hashes, sample_rows=SAMPLE_ROWS,
                     with_content=with_content)
        return p if on_rows is None else _Watched(p, on_rows)
    profile, hashes = scan(path, fmt, make).finish()
    _check_key([c["name"] for c in profile["columns"]], key)
    return profile, hashes


class _RowHashes:
    """A :func:`scan` consumer that keeps the (unsorted) row hashes of each batch."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = columns
        self.parts: list[numpy.ndarray] = []

    def add(self, table: Any) -> None:
        self.parts.append(row_hashes_unsorted(table, self.columns))


def row_hashes_file(path: str, fmt: str, columns: list[str]) -> numpy.ndarray:
    """:func:`mlver.diff.colhash.row_hashes` of a file over ``columns``, streamed."""
    import numpy as np
    parts = scan(path, fmt, lambda: _RowHashes(columns), columns=columns).parts
    out = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
    out.sort()
    return out


def _with_retries(read: Callable[[int, bool], pyarrow.Table]) -> pyarrow.Table:
    """Call ``read(block_size, newlines_in_values)``, fast settings first:
    newlines_in_values costs ~40% of CSV parse time, so it waits until pyarrow
    reports a value spanning lines; a row longer than a block gets one retry."""
    import pyarrow as pa
    block, multiline = BLOCK_SIZE, False
    while True:
        try:
            return read(block, multiline)
        except pa.ArrowInvalid as exc:
            if "newlines_in_values" in str(exc) and not multiline:
                multiline = True
            elif "straddl" in str(exc) and block < MAX_BLOCK_SIZE:
                block = MAX_BLOCK_SIZE
            else:
                raise


@table_errors
def profile_table(table: pyarrow.Table) -> tuple[Profile, numpy.ndarray | None]:
    """Return ``(profile, row_hashes)`` of a table in memory; the hashes are over
    all columns, sorted.  The same as streaming the table's batches through a
    :class:`Profiler` (what :func:`profile_file` does for a file), so a profile
    does not depend on how the data was read.

    profile = {"format": 2, "rows": N, "row_hash_columns": [all names],
               "sample_rows": SAMPLE_ROWS, "columns": [column]}
    column = {"name", "type" (arrow type string), "nulls" (null and NaN),
              "distinct" (non-null distinct values; None above MAX_CATEGORIES),
              "numeric", "values", "sample", "categories"}
    ``numeric`` (number columns with a finite value, else None) is {"count"
    (finite values), "mean", "std" (population), "min", "max", "quantiles": 101
    values at 0%, 1%, ..., 100%}; mean/std/min/max are exact, the quantiles exact
    when ``values`` is there or the column has at most SAMPLE_ROWS rows, else
    read off the sample.  ``values`` = {"value": [sorted finite numbers],
    "count": [...]}: exact counts of a number column with at most MAX_CATEGORIES
    distinct finite values, else None.  ``sample``: for the other number columns,
    the finite values of a uniform row sample of at most SAMPLE_ROWS rows (the
    rows whose position hashes lowest), sorted, as base64 of little-endian
    float64; else None.  ``categories`` = {value: count} for string, bool and
    dictionary columns with at most MAX_CATEGORIES distinct values, else None.
    ``content`` (when row hashes were computed): the column's
    :func:`~mlver.diff.colhash.column_digest`, equal for two columns holding the same
    values, which tells a rename.
    No NaN or infinity anywhere: ``json.dumps(allow_nan=False)`` works.
    """
    profiler = Profiler(with_hashes=True, sample_rows=SAMPLE_ROWS)
    profiler.add(normalize(table))
    return profiler.finish()


@table_errors
def profile_only(table: pyarrow.Table) -> Profile:
    """The profile of :func:`profile_table`, without computing row hashes."""
    profiler = Profiler(with_hashes=False, sample_rows=SAMPLE_ROWS)
    profiler.add(normalize(table))
    return profiler.finish()[0]
