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
import hashlib
import io
import itertools
import json
import math
import os
from typing import TYPE_CHECKING, Any

from .tableerrors import KeyColumnError, TableError, table_errors

if TYPE_CHECKING:  # pragma: no cover
    import numpy
    import pyarrow

PROFILE_FORMAT = 1
MAX_CATEGORIES = 1000          # above this many distinct values a column is not categorical
BLOCK_SIZE = 4 << 20           # pyarrow read block: the fastest on the 1M-row benchmark
MAX_BLOCK_SIZE = 32 << 20      # one retry for long rows; a longer line is not a table
SNIFF_BYTES = 1 << 20          # head read to check the text and sniff the delimiter
SNIFF_RECORDS = 50
DELIMITERS = (",", ";", "\t", "|")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet",
               ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# splitmix64 constants and tags: hashes are cached, so changing any of these
# needs a new PROFILE_FORMAT.
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_NULL_HASH = 0x5BD1E9955BD1E995


def detect_format(path: str, head: bytes) -> str | None:
    """"csv", "tsv", "parquet", "jsonl" or None (not a table), by extension and
    first bytes: ``PAR1`` means parquet whatever the name (a .parquet without
    it is None); text formats need UTF-8 without NUL, so a binary .csv is None."""
    if head[:4] == b"PAR1":
        return "parquet"
    fmt = _EXTENSIONS.get(os.path.splitext(path.lower())[1])
    return fmt if fmt not in (None, "parquet") and _is_text(head) else None


def _is_text(head: bytes) -> bool:
    try:  # final=False: the head may end inside a multi-byte character
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def read_table(path: str, fmt: str, key: list[str] | None = None) -> "pyarrow.Table":
    """Read ``path`` as ``fmt`` with pyarrow (a CSV's delimiter is sniffed).

    Every failure (malformed or binary content, non-UTF-8 text, a line longer
    than MAX_BLOCK_SIZE, an empty file, a missing ``key`` column, I/O errors)
    is a TableError, never another exception: the caller then diffs bytes.
    The table is :func:`normalize`-d."""
    try:
        if fmt in ("csv", "tsv", "jsonl"):
            table = _read_text(path, fmt)
        elif fmt == "parquet":
            import pyarrow.parquet as pq
            table = pq.read_table(path)
        else:
            raise TableError(f"unknown table format {fmt!r}")
        table = normalize(table)
    except TableError:
        raise
    except Exception as exc:  # pyarrow raises many types; the contract is TableError only
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise TableError(f"cannot read {os.path.basename(path)} as {fmt}: {text}") from exc
    for name in [key] if isinstance(key, str) else (key or []):
        if name not in table.column_names:
            raise KeyColumnError(f"key column {name!r} not found; columns are: "
                             + ", ".join(repr(c) for c in table.column_names))
    return table


def _read_text(path: str, fmt: str) -> "pyarrow.Table":
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.json as pj

    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES + 1)
    whole, head = len(head) <= SNIFF_BYTES, head[:SNIFF_BYTES]
    if not head.strip():
        raise TableError("empty file")
    if not _is_text(head):
        raise TableError("binary or non-UTF-8 content")
    if fmt == "jsonl":
        return _with_retries(lambda block, _: pj.read_json(
            path, read_options=pj.ReadOptions(block_size=block)))
    delimiter = sniff_delimiter(head, whole, "\t" if fmt == "tsv" else ",")
    table = _with_retries(lambda block, multiline: pcsv.read_csv(
        path, read_options=pcsv.ReadOptions(block_size=block),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=multiline)))
    # past the head, pyarrow silently reads invalid UTF-8 as binary columns
    if any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types):
        raise TableError("non-UTF-8 text")
    return table


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


def normalize(table: "pyarrow.Table") -> "pyarrow.Table":
    """Duplicate column names ``a, a`` become ``a, a.1`` (diffs match columns by
    name); string/binary views become large strings/binaries (kernels lack views)."""
    import pyarrow as pa
    views = {getattr(pa, v)(): getattr(pa, large)() for v, large in (
        ("string_view", "large_string"), ("binary_view", "large_binary")) if hasattr(pa, v)}
    if any(t in views for t in table.schema.types):
        table = table.cast(pa.schema([f.with_type(views.get(f.type, f.type))
                                      for f in table.schema]))
    names = table.column_names
    if len(set(names)) == len(names):
        return table
    taken, out = set(names), []
    for name in names:
        new, i = name, 0
        while new in out or (new != name and new in taken):  # never another column's name
            i, new = i + 1, f"{name}.{i + 1}"
        out.append(new)
    return table.rename_columns(out)


def _mix(x: "numpy.ndarray") -> "numpy.ndarray":
    """splitmix64 finalizer on a uint64 array (wrapping arithmetic is intended)."""
    import numpy as np
    x = x ^ (x >> np.uint64(30))
    x *= np.uint64(_M1)
    x ^= x >> np.uint64(27)
    x *= np.uint64(_M2)
    return x ^ (x >> np.uint64(31))


def _tag(s: str) -> "numpy.uint64":
    import numpy as np
    return np.uint64(int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little"))


def column_hash(col: "pyarrow.ChunkedArray | pyarrow.Array") -> "numpy.ndarray":
    """One uint64 per value, equal for equal values.  Numbers hash by float64
    value (int64 ``1`` matches double ``1.0`` when inferred types change), null
    and NaN alike (both are "missing"), dictionaries like their values, strings
    with pandas' fixed-key SipHash, nested values by their JSON text."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.Array):
        col = pa.chunked_array([col], type=col.type)
    t, n, types = col.type, len(col), pa.types
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    if types.is_dictionary(t):
        chunks = [c for c in col.unify_dictionaries().chunks if len(c)]
        dh = column_hash(chunks[0].dictionary)  # unified: one dictionary, hashed once
        idx = np.concatenate([c.indices.fill_null(0).to_numpy() for c in chunks])
        h = dh[idx.astype(np.int64)] if len(dh) else np.zeros(n, dtype=np.uint64)
    elif types.is_null(t):
        return np.full(n, _NULL_HASH, dtype=np.uint64)
    elif types.is_integer(t) or types.is_floating(t) or types.is_decimal(t):
        v = pc.cast(col, pa.float64(), safe=False).to_numpy() + 0.0  # -0.0 becomes 0.0
        h = _mix(v.view(np.uint64) ^ _tag("num"))
        h[np.isnan(v)] = _NULL_HASH
        return h
    elif types.is_boolean(t):
        h = _mix(pc.cast(col.fill_null(False), pa.uint64()).to_numpy() ^ _tag("bool"))
    elif types.is_temporal(t) and not getattr(types, "is_interval", lambda _: False)(t):
        # storage integers, tagged with the type so that units never mix up
        v = col.cast(pa.int64() if t.bit_width == 64 else pa.int32()).fill_null(0)
        h = _mix(v.cast(pa.int64()).to_numpy().view(np.uint64) ^ _tag(str(t)))
    elif (types.is_string(t) or types.is_large_string(t) or types.is_binary(t)
          or types.is_large_binary(t) or types.is_fixed_size_binary(t)):
        h = _hash_strings(col)
    else:  # nested and exotic types: slow path through Python objects, rare
        text = [None if v is None else json.dumps(v, sort_keys=True, default=str)
                for v in col.to_pylist()]
        h = _hash_strings(pa.chunked_array([pa.array(text, pa.large_string())]))
    if col.null_count:
        h[~col.is_valid().to_numpy(zero_copy_only=False)] = _NULL_HASH
    return h


def _hash_strings(col: "pyarrow.ChunkedArray") -> "numpy.ndarray":
    import numpy as np
    import pandas as pd
    import pyarrow.compute as pc

    # Few distinct values: hash each once after a C++ dictionary_encode; on
    # unique-ish columns that detour costs more than it saves.
    if len(col) > 50000 and _sample_distinct(col) < 10000:
        return column_hash(pc.dictionary_encode(col))
    values = col.to_numpy(zero_copy_only=False)  # nulls: None, overwritten by the caller
    return pd.util.hash_array(values, categorize=False).astype(np.uint64, copy=False)


def _sample_distinct(col) -> int:
    """Distinct values among ~20,000 evenly spaced ones (cheap cardinality guess)."""
    import numpy as np
    import pyarrow.compute as pc
    return pc.count_distinct(col.take(np.arange(0, len(col), max(1, len(col) // 20000)))).as_py()


def column_digest(h: "numpy.ndarray") -> str:
    """The ``content`` of a column's profile: 16 hex digits, equal for two columns
    holding the same values (as a multiset, whatever their names and the row order;
    numbers by value, null as NaN), from its :func:`column_hash`. A dropped and an
    added column with equal digests are reported as a rename."""
    import numpy as np
    with np.errstate(over="ignore"):
        total = np.sum(_mix(h ^ _tag("content")), dtype=np.uint64)  # wraps around
    return f"{int(total) ^ len(h):016x}"


def _column_term(name: str, h: "numpy.ndarray") -> "numpy.ndarray":
    """A column's share of the row hash.  Row hash = mix(wrapping sum of terms):
    column order does not matter, yet swapping values between columns does."""
    return _mix(h ^ _tag(name))


@table_errors
def row_hashes(table: "pyarrow.Table", columns: list[str]) -> "numpy.ndarray":
    """Sorted uint64 hashes of the rows of ``table`` over ``columns``; equal rows
    hash equal whatever the row or column order."""
    import numpy as np
    return np.sort(_row_hashes_unsorted(table, columns))


def _row_hashes_unsorted(table: "pyarrow.Table", columns: list[str]) -> "numpy.ndarray":
    import numpy as np
    table = normalize(table)
    acc = np.zeros(table.num_rows, dtype=np.uint64)
    for name in columns:
        acc += _column_term(name, column_hash(table[name]))
    return _mix(acc)



@table_errors
def profile_table(table: "pyarrow.Table") -> tuple[dict, "numpy.ndarray"]:
    """Return ``(profile, row_hashes)``; the hashes are over all columns.

    profile = {"format": 1, "rows": N, "row_hash_columns": [all names],
               "columns": [{"name", "type" (arrow type string), "nulls",
                            "numeric", "categories", "distinct", "content"}]}
    ``nulls`` counts null and NaN; ``numeric`` is {"mean", "std", "min",
    "max", "quantiles": 101 values at 0%, 1%, ..., 100%} over the finite
    values of a number column, else None; ``categories`` is {value: count}
    for string/bool/dictionary columns with at most MAX_CATEGORIES distinct
    values, else None; ``distinct`` counts non-null values (None for other
    types); ``content`` is the column's :func:`column_digest` (a profile cached
    by an older mlver lacks it).  No NaN or infinity anywhere:
    ``json.dumps(allow_nan=False)`` works.
    """
    return _profile(table, with_hashes=True)


@table_errors
def profile_only(table: "pyarrow.Table") -> dict:
    """The profile of :func:`profile_table`, without computing row hashes."""
    return _profile(table, with_hashes=False)[0]


def _profile(table: "pyarrow.Table", with_hashes: bool):
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor
    table = normalize(table)

    def one(name):
        # one hash pass per column serves the row hashes and the distinct
        # count of high-cardinality string columns
        h = column_hash(table[name]) if with_hashes else None
        entry = _column_profile(name, table[name], h)
        if with_hashes:
            entry["content"] = column_digest(h)
        return entry, (_column_term(name, h) if with_hashes else None)

    # numpy sorts and pyarrow kernels release the GIL: profile columns in parallel
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        results = list(pool.map(one, table.column_names))
    profile = {"format": PROFILE_FORMAT, "rows": table.num_rows,
               "row_hash_columns": list(table.column_names), "columns": [e for e, _ in results]}
    if not with_hashes:
        return profile, None
    acc = np.zeros(table.num_rows, dtype=np.uint64)
    for _, term in results:
        acc += term
    return profile, np.sort(_mix(acc))


def _column_profile(name: str, col: "pyarrow.ChunkedArray",
                    hashes: "numpy.ndarray | None" = None) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    t, types = col.type, pa.types
    entry: dict[str, Any] = {"name": name, "type": str(t), "nulls": col.null_count,
                             "numeric": None, "categories": None, "distinct": None}
    if types.is_integer(t) or types.is_floating(t) or types.is_decimal(t):
        v = pc.cast(col, pa.float64(), safe=False).to_numpy()
        entry["nulls"] = int(np.isnan(v).sum())  # nulls are NaN after to_numpy
        s = np.sort(v[np.isfinite(v)])  # sorting once gives quantiles and distinct
        entry["distinct"] = int(np.count_nonzero(s[1:] != s[:-1]) + (len(s) > 0))
        entry["numeric"] = _numeric_stats(s) if len(s) else None
    elif (types.is_string(t) or types.is_large_string(t) or types.is_boolean(t)
          or types.is_dictionary(t)):
        if types.is_dictionary(t):
            col = col.cast(t.value_type)
        if hashes is not None and len(col) > 20000 and _sample_distinct(col) > MAX_CATEGORIES:
            # value_counts of a million unique strings is the slowest step of
            # a profile; counting distinct sorted value hashes is much cheaper
            u = np.sort(hashes[col.is_valid().to_numpy(zero_copy_only=False)])
            entry["distinct"] = int(np.count_nonzero(u[1:] != u[:-1]) + (len(u) > 0))
            return entry
        counts = pc.value_counts(col)
        values, freq = counts.field("values"), counts.field("counts")
        entry["distinct"] = len(counts) - (1 if values.null_count else 0)
        if entry["distinct"] <= MAX_CATEGORIES:
            # sorted by value, as the canonical JSON of the cache will have it
            entry["categories"] = dict(sorted(
                (_category_key(v), int(c)) for v, c in zip(values.to_pylist(), freq.to_pylist())
                if v is not None))
    return entry


def _category_key(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else str(v)


def _numeric_stats(s: "numpy.ndarray") -> dict[str, Any]:
    """mean/std/min/max and 101 linear-interpolated quantiles of sorted finite ``s``."""
    import numpy as np
    with np.errstate(over="ignore", invalid="ignore"):
        pos = np.linspace(0.0, len(s) - 1, 101)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, len(s) - 1)
        q = s[lo] + (s[hi] - s[lo]) * (pos - lo)   # numpy's "linear" method
        q = np.where(np.isfinite(q), q, s[lo])     # overflow near +-1.8e308
        q = np.maximum.accumulate(q)               # rounding must not break monotony
        mean, std = float(s.mean()), float(s.std())
    return {"mean": _finite(mean), "std": _finite(std), "min": float(s[0]),
            "max": float(s[-1]), "quantiles": [float(x) for x in q]}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def rows_as_json(table: "pyarrow.Table", positions) -> list[dict]:
    """The rows at ``positions`` as JSON-able dicts (NaN/inf -> None, dates and
    times -> ISO text, bytes -> text with backslash escapes)."""
    import pyarrow as pa
    if len(positions) == 0:
        return []
    rows = table.take(pa.array(positions, type=pa.int64())).to_pylist()
    return [{k: _jsonable(v) for k, v in row.items()} for row in rows]


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return _finite(v)
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", errors="backslashreplace")
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v.isoformat() if hasattr(v, "isoformat") else str(v)
