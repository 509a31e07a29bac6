"""Reading tables and cacheable summaries of them, for ``mlver diff``.

A *profile* is plain JSON-able data (see :func:`profile_table`), the *row
hashes* a sorted ``uint64`` array, one per row.  Both depend only on a file's
content, so the caller caches them by content hash and later diffs need not
read the data.  pyarrow, numpy and pandas are imported inside functions only,
as the CLI imports this module at start-up and must stay fast.
"""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import math
import os
from typing import TYPE_CHECKING, Any

from mlver.diff import uniqueness as _uniq
from mlver.diff.colhash import (
    _column_term,
    _content_sum,
    _digest_of,
    _mix,
    _number_hash,
    _row_hashes_unsorted,
    _tag,
    column_hash,
    normalize,
)
from mlver.diff.tableerrors import KeyColumnError, TableError, table_errors

if TYPE_CHECKING:  # pragma: no cover
    import numpy
    import pyarrow

PROFILE_FORMAT = 3             # 2: exact value counts, a row sample, streaming; 3: unique
MAX_CATEGORIES = 1000          # above this many distinct values a column is not categorical
SAMPLE_ROWS = 10000            # rows of the sample kept for number columns with more values
BLOCK_SIZE = 4 << 20           # pyarrow read block: the fastest on the 1M-row benchmark
MAX_BLOCK_SIZE = 32 << 20      # one retry for long rows; a longer line is not a table
SNIFF_BYTES = 1 << 20          # head read to check the text and sniff the delimiter
SNIFF_RECORDS = 50
DELIMITERS = (",", ";", "\t", "|")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet",
               ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


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
    codec = _COMPRESSION.get(ext)
    if codec is not None:
        fmt = _EXTENSIONS.get(os.path.splitext(base)[1])
        if fmt in (None, "parquet") or not head.startswith(_MAGIC[codec]):
            return None
        text = _decompress_head(head, codec)
        return f"{fmt}:{codec}" if text is None or _is_text(text) else None
    fmt = _EXTENSIONS.get(ext)
    return fmt if fmt not in (None, "parquet") and _is_text(head) else None


def extension_format(path: str) -> str | None:
    """The text format (``"csv"``, ``"csv:gzip"``, ...) that ``path``'s name says, or None;
    :func:`detect_format` also checks the content."""
    base, ext = os.path.splitext(path.lower())
    codec = _COMPRESSION.get(ext)
    fmt = _EXTENSIONS.get(os.path.splitext(base)[1] if codec else ext)
    if fmt in (None, "parquet"):
        return None
    return f"{fmt}:{codec}" if codec else fmt


_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".zstd": "zstd", ".xz": "xz",
                ".lz4": "lz4"}
_MAGIC = {"gzip": b"\x1f\x8b", "bz2": b"BZh", "zstd": b"\x28\xb5\x2f\xfd",
          "xz": b"\xfd7zXZ\x00", "lz4": b"\x04\x22\x4d\x18"}


def _decompress_head(head: bytes, codec: str) -> bytes | None:
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


def _split(fmt: str) -> tuple[str, str | None]:
    kind, _, codec = fmt.partition(":")
    return kind, codec or None


def _open(path: str, codec: str | None):
    """A readable source for pyarrow: the path, or a decompressing stream."""
    import pyarrow as pa
    if codec is None:
        return path
    if codec == "xz":  # not one of pyarrow's codecs
        import lzma
        return lzma.open(path, "rb")
    return pa.input_stream(path, compression=codec)


def _is_text(head: bytes) -> bool:
    try:  # final=False: the head may end inside a multi-byte character
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def _reading(path: str, fmt: str):
    """Context for reading: every failure becomes a TableError naming the file."""
    import contextlib

    @contextlib.contextmanager
    def guard():
        try:
            yield
        except TableError:
            raise
        except Exception as exc:  # pyarrow raises many types; the contract is TableError only
            text = (str(exc).strip().splitlines()[0][:200] if str(exc).strip()
                    else type(exc).__name__)
            raise TableError(f"cannot read {os.path.basename(path)} as {fmt}: {text}") from exc
    return guard()


def _check_key(names: list[str], key) -> None:
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
    kind, codec = _split(fmt)
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
    fh = open(src, "rb") if isinstance(src, str) else src
    with fh:
        head = fh.read(SNIFF_BYTES + 1)
    whole, head = len(head) <= SNIFF_BYTES, head[:SNIFF_BYTES]
    if not head.strip():
        raise TableError("empty file")
    if not _is_text(head):
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


def _no_binary(schema) -> None:
    # past the head, pyarrow silently reads invalid UTF-8 as binary columns
    import pyarrow as pa
    if any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in schema.types):
        raise TableError("non-UTF-8 text")


# --------------------------------------------------------------------------- streaming

BATCH_ROWS = 1 << 20           # rows handed to a profiler at once (bounded memory)
BATCH_BYTES = 256 << 20        # ... or fewer rows when they are this big


def _coalesce(batches, first_schema=None):
    """Tables of about BATCH_ROWS rows (or BATCH_BYTES) from small record batches."""
    import pyarrow as pa
    pending, rows, size = [], 0, 0
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


def scan(path: str, fmt: str, make, columns: list[str] | None = None):
    """Stream ``path`` through a consumer: ``make()`` returns an object with
    ``add(table)``; each batch (normalized) is added, the first one empty (so a
    table without rows still has its columns).  A retry (a CSV column whose type
    changes past the first block, a value spanning lines, a long row) starts a
    fresh consumer.  ``columns`` limits what a parquet file reads (other formats
    hand all columns).  Returns the consumer; every failure is a TableError."""
    kind, codec = _split(fmt)
    with _reading(path, fmt):
        if kind == "parquet" and codec is None:
            return _scan_parquet(path, make, columns)
        if kind in ("csv", "tsv"):
            return _scan_csv(path, kind, codec, make)
        if kind == "jsonl":
            return _scan_jsonl(path, codec, make)
        raise TableError(f"unknown table format {fmt!r}")


def _scan_parquet(path: str, make, columns):
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


def _scan_csv(path: str, kind: str, codec: str | None, make):
    import re

    import pyarrow as pa
    import pyarrow.csv as pcsv
    head, whole = _text_head(path, codec)
    delimiter = sniff_delimiter(head, whole, "\t" if kind == "tsv" else ",")
    block, multiline, types = BLOCK_SIZE, False, {}
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


def _scan_jsonl(path: str, codec: str | None, make):
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


def profile_file(path: str, fmt: str, key=None,
                 with_hashes: bool = True) -> tuple[dict, numpy.ndarray | None]:
    """:func:`profile_table` of a file, streamed batch by batch (memory bounded by
    a batch, not the table); KeyColumnError when ``key`` names a missing column."""
    profile, hashes = scan(path, fmt, lambda: Profiler(with_hashes=with_hashes)).finish()
    _check_key([c["name"] for c in profile["columns"]], key)
    return profile, hashes


class _RowHashes:
    def __init__(self, columns: list[str]) -> None:
        self.columns, self.parts = columns, []

    def add(self, table) -> None:
        self.parts.append(_row_hashes_unsorted(table, self.columns))


def row_hashes_file(path: str, fmt: str, columns: list[str]) -> numpy.ndarray:
    """:func:`row_hashes` of a file over ``columns``, streamed."""
    import numpy as np
    parts = scan(path, fmt, lambda: _RowHashes(columns), columns=columns).parts
    out = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
    out.sort()
    return out


def _with_retries(read):
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
        records, cut = [], not whole
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


@table_errors
def profile_table(table: pyarrow.Table) -> tuple[dict, numpy.ndarray]:
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
    ``content`` (when row hashes were computed): the column's :func:`column_digest`,
    equal for two columns holding the same values, which tells a rename.
    No NaN or infinity anywhere: ``json.dumps(allow_nan=False)`` works.
    """
    profiler = Profiler(with_hashes=True)
    profiler.add(normalize(table))
    return profiler.finish()


@table_errors
def profile_only(table: pyarrow.Table) -> dict:
    """The profile of :func:`profile_table`, without computing row hashes."""
    profiler = Profiler(with_hashes=False)
    profiler.add(normalize(table))
    return profiler.finish()[0]


def _numeric_type(t) -> bool:
    import pyarrow as pa
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _category_type(t) -> bool:
    import pyarrow as pa
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t)
            or pa.types.is_dictionary(t))


class _Column:
    """What a profile keeps of one column, accumulated batch by batch."""

    def __init__(self, name: str, type_: Any) -> None:
        self.name, self.type = name, type_
        self.numeric, self.category = _numeric_type(type_), _category_type(type_)
        self.nulls = 0
        self.n, self.mean, self.m2 = 0, 0.0, 0.0      # finite values; Chan's parallel moments
        self.min, self.max = math.inf, -math.inf
        # exact value counts while there are at most MAX_CATEGORIES distinct values
        self.counts: dict | None = {} if (self.numeric or self.category) else None
        self.content, self.hashed = 0, 0  # see column_digest
        self.unique = _uniq.UniqueCheck() if _uniq.candidate(type_) else None

    def add(self, col: pyarrow.ChunkedArray, with_hash: bool, sample_pos) -> tuple:
        """Account for one batch; return (row-hash term or None, sampled values or None)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        if self.unique is not None and self.numeric:  # integers: checked by value
            self.unique.add(col)
        if self.numeric:
            v = pc.cast(col, pa.float64(), safe=False).to_numpy()
            exact = pa.types.is_integer(col.type) and col.null_count == 0  # all finite
            fin = None if exact else np.isfinite(v)
            if exact or fin.all():
                finite = v
            else:
                self.nulls += int(np.isnan(v).sum())
                finite = v[fin]
            self._moments(finite)
            if self.counts is not None:
                self._count_numbers(finite)
            h = self._term(_number_hash(v, not exact)) if with_hash else None
            return h, (v[sample_pos] if sample_pos is not None else None)
        self.nulls += col.null_count
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if self.counts is not None and len(col) > 4 * MAX_CATEGORIES and pc.count_distinct(
                col.slice(0, 4 * MAX_CATEGORIES)).as_py() > MAX_CATEGORIES:
            self.counts = None  # many distinct values already: stop counting early
        if self.counts is not None and not pa.types.is_boolean(col.type):
            # few distinct values so far: one dictionary encoding gives both the
            # counts (a bincount of the indices) and the hashes (one per value)
            return self._add_encoded(col, with_hash), None
        if self.counts is not None:
            self._count(col)
        u = self.unique  # text, times: checked by the hashes the row hashes need anyway
        h = column_hash(col) if with_hash or (u is not None and u.wants()) else None
        if u is not None:
            u.add(col, h)
        return (self._term(h) if with_hash else None), None

    def _add_encoded(self, col, with_hash: bool):
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        enc = pc.dictionary_encode(col.combine_chunks() if isinstance(col, pa.ChunkedArray)
                                   else col)
        values = enc.dictionary
        if len(values) > MAX_CATEGORIES:
            self.counts = None
        else:
            idx = enc.indices.fill_null(len(values)).to_numpy(zero_copy_only=False)
            c = np.bincount(idx.astype(np.int64), minlength=len(values) + 1)[:len(values)]
            counts = self.counts
            for v, k in zip(values.to_pylist(), c.tolist(), strict=False):
                if k:
                    counts[v] = counts.get(v, 0) + k
            if len(counts) > MAX_CATEGORIES:
                self.counts = None
        u, repeats = self.unique, len(values) < len(enc) - enc.null_count
        h = column_hash(enc) if with_hash or (u is not None and u.wants() and not repeats) \
            else None
        if u is not None:
            u.add(col, None if repeats else h, repeats)
        return self._term(h) if with_hash else None

    def _term(self, h: numpy.ndarray) -> numpy.ndarray:
        """The column's share of the row hashes; its values also go into ``content``."""
        self.content = (self.content + _content_sum(h)) % (1 << 64)
        self.hashed += len(h)
        return _column_term(self.name, h)

    def _moments(self, x: numpy.ndarray) -> None:
        import numpy as np
        if not len(x):
            return
        with np.errstate(over="ignore", invalid="ignore"):
            n, mean = len(x), float(x.mean())
            d = x - mean
            m2 = float(np.dot(d, d))
            total = self.n + n
            delta = mean - self.mean
            self.mean += delta * n / total
            self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total
        self.min, self.max = min(self.min, float(x.min())), max(self.max, float(x.max()))

    def _count_numbers(self, x: numpy.ndarray) -> None:
        """Value counts of finite numbers; integers in a narrow range by bincount."""
        import numpy as np
        import pyarrow as pa
        if not len(x):
            return
        lo, hi = float(x.min()), float(x.max())
        if hi - lo < (1 << 20) and pa.types.is_integer(self.type):
            c = np.bincount((x - lo).astype(np.int64))
            nz = np.flatnonzero(c)
            if len(nz) + len(self.counts) > 2 * MAX_CATEGORIES and len(nz) > MAX_CATEGORIES:
                self.counts = None
                return
            counts = self.counts
            for v, k in zip((nz + lo).tolist(), c[nz].tolist(), strict=False):
                counts[v] = counts.get(v, 0) + k
            if len(counts) > MAX_CATEGORIES:
                self.counts = None
            return
        self._count(pa.array(x))

    def _count(self, arr) -> None:
        import pyarrow.compute as pc
        if len(arr) > 4 * MAX_CATEGORIES and pc.count_distinct(
                arr.slice(0, 4 * MAX_CATEGORIES) if hasattr(arr, "slice") else arr) \
                .as_py() > MAX_CATEGORIES:
            self.counts = None  # many distinct values already: stop counting early
            return
        vc = pc.value_counts(arr)
        values, freq = vc.field("values").to_pylist(), vc.field("counts").to_pylist()
        counts = self.counts
        for v, c in zip(values, freq, strict=False):
            if v is not None:
                counts[v] = counts.get(v, 0) + c
        if len(counts) > MAX_CATEGORIES:
            self.counts = None

    def finish(self, sample: numpy.ndarray | None, all_rows: bool) -> dict[str, Any]:
        import base64

        import numpy as np
        entry: dict[str, Any] = {"name": self.name, "type": str(self.type), "nulls": self.nulls,
                                 "distinct": len(self.counts) if self.counts is not None else None,
                                 "numeric": None, "values": None, "sample": None,
                                 "categories": None}
        if self.unique is not None:  # see mlver.diff.uniqueness
            entry["unique"] = self.unique.result()
        if self.hashed:  # profiles made with row hashes carry the column's content digest
            entry["content"] = _digest_of(self.content, self.hashed)
        if self.category and self.counts is not None:
            # sorted by value, as the canonical JSON of the cache will have it
            entry["categories"] = dict(sorted((_category_key(v), int(c))
                                              for v, c in self.counts.items()))
        if not (self.numeric and self.n):
            return entry
        if self.counts is not None:
            values = np.array(sorted(self.counts), dtype=float)
            counts = np.array([self.counts[v] for v in sorted(self.counts)], dtype=np.int64)
            entry["values"] = {"value": [float(x) for x in values],
                               "count": [int(c) for c in counts]}
            q = weighted_quantiles(values, counts)
        else:
            s = np.sort(sample[np.isfinite(sample)]) if sample is not None else np.zeros(0)
            if not len(s):  # cannot happen with n > 0, but never divide by nothing
                s = np.array([self.min, self.max])
            entry["sample"] = base64.b64encode(s.astype("<f8").tobytes()).decode("ascii")
            # exact when the sample is the whole column (all_rows)
            q = weighted_quantiles(s, np.ones(len(s), dtype=np.int64))
            q[0], q[-1] = self.min, self.max
            q = np.maximum.accumulate(q)
        std = math.sqrt(self.m2 / self.n) if self.n and math.isfinite(self.m2) else None
        entry["numeric"] = {"count": self.n, "mean": _finite(self.mean), "std": _finite(std)
                            if std is not None else None, "min": self.min, "max": self.max,
                            "quantiles": [float(x) for x in q]}
        return entry


def weighted_quantiles(values, counts, n: int = 101) -> numpy.ndarray:
    """``n`` evenly spaced quantiles (0% to 100%) of sorted ``values`` repeated
    ``counts`` times, with numpy's "linear" interpolation, without repeating them."""
    import numpy as np
    v = np.asarray(values, dtype=float)
    cum = np.cumsum(np.asarray(counts, dtype=np.int64))
    total = int(cum[-1])
    pos = np.linspace(0.0, total - 1, n)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, total - 1)
    a = v[np.searchsorted(cum, lo, side="right")]
    b = v[np.searchsorted(cum, hi, side="right")]
    with np.errstate(over="ignore", invalid="ignore"):
        q = a + (b - a) * (pos - lo)
    q = np.where(np.isfinite(q), q, a)       # overflow near +-1.8e308
    return np.maximum.accumulate(q)          # rounding must not break monotony


def decode_sample(column: dict) -> numpy.ndarray | None:
    """The sorted sample of a profile column (see :func:`profile_table`), or None."""
    import base64

    import numpy as np
    if not column.get("sample"):
        return None
    return np.frombuffer(base64.b64decode(column["sample"]), dtype="<f8").astype(float)


class Profiler:
    """Profile a table batch by batch, in memory bounded by the batch: ``add``
    each batch (a pyarrow Table or RecordBatch, all with the same columns, already
    :func:`normalize`-d), then ``finish()`` -> ``(profile, sorted row hashes or
    None)``.  The row sample keeps the SAMPLE_ROWS rows whose position in the file
    hashes lowest, so the result does not depend on the batch sizes."""

    def __init__(self, with_hashes: bool = True, sample_rows: int | None = None) -> None:
        self.with_hashes = with_hashes
        self.sample_rows = SAMPLE_ROWS if sample_rows is None else sample_rows
        self.columns: list[_Column] | None = None
        self.rows = 0
        self._hashes: list = []
        self._prio = None          # priorities of the sampled rows
        self._sample: dict = {}    # column name -> values of the sampled rows
        self._pool = None

    def add(self, batch) -> None:
        import numpy as np
        import pyarrow as pa
        if isinstance(batch, pa.RecordBatch):
            batch = pa.Table.from_batches([batch])
        if self.columns is None:
            self.columns = [_Column(f.name, f.type) for f in batch.schema]
            self._prio = np.zeros(0, dtype=np.uint64)
            self._sample = {c.name: np.zeros(0) for c in self.columns if c.numeric}
        elif batch.column_names != [c.name for c in self.columns]:
            raise TableError("the columns changed between batches")
        n = batch.num_rows
        if n == 0:
            return
        # the row sample: the rows whose position hashes lowest
        prio = _mix(np.arange(self.rows, self.rows + n, dtype=np.uint64) ^ _tag("sample"))
        full = len(self._prio) >= self.sample_rows
        pos = np.flatnonzero(prio < self._prio.max()) if full else np.arange(n)
        pick = pos if len(pos) else None

        def one(c: _Column):
            return c.add(batch.column(c.name), self.with_hashes, pick)

        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1))
        results = list(self._pool.map(one, self.columns))
        if self.with_hashes:
            acc = np.zeros(n, dtype=np.uint64)
            for term, _ in results:
                acc += term
            self._hashes.append(_mix(acc))
        if pick is not None:
            allp = np.concatenate([self._prio, prio[pick]])
            keep = None
            if len(allp) > self.sample_rows:
                keep = np.argpartition(allp, self.sample_rows - 1)[:self.sample_rows]
                allp = allp[keep]
            self._prio = allp
            for c, (_, vals) in zip(self.columns, results, strict=False):
                if c.numeric:
                    merged = np.concatenate([self._sample[c.name], vals])
                    self._sample[c.name] = merged[keep] if keep is not None else merged
        self.rows += n

    def finish(self) -> tuple[dict, numpy.ndarray | None]:
        import numpy as np
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        columns = self.columns or []
        all_rows = self.rows <= self.sample_rows
        profile = {"format": PROFILE_FORMAT, "rows": self.rows, "sample_rows": self.sample_rows,
                   "row_hash_columns": [c.name for c in columns],
                   "columns": [c.finish(self._sample.get(c.name), all_rows) for c in columns]}
        if not self.with_hashes:
            return profile, None
        hashes = np.concatenate(self._hashes) if self._hashes else np.zeros(0, dtype=np.uint64)
        self._hashes = []
        hashes.sort()
        return profile, hashes


def _category_key(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else str(v)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
