"""Cacheable summaries of one version of a table, for ``mlver diff``.

A *profile* is plain JSON-able data (see :func:`profile_table`) and the *row
hashes* are a sorted ``uint64`` array with one hash per row.  Both depend only
on a file's content, so the caller caches them keyed by the content hash and a
later diff against another version never has to re-read the data.

pyarrow, numpy and pandas are imported inside functions only: the CLI imports
this module at start-up and must stay fast.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import json
import os
from typing import TYPE_CHECKING, Any

from .tables import TableError

if TYPE_CHECKING:  # pragma: no cover
    import numpy
    import pyarrow

PROFILE_FORMAT = 1
MAX_CATEGORIES = 1000          # above this many distinct values a column is not categorical
BLOCK_SIZE = 4 << 20           # pyarrow read block: fastest on the 1M-row benchmark
MAX_BLOCK_SIZE = 32 << 20      # retry size for long rows; a longer line is not a table
SNIFF_BYTES = 1 << 20          # head read to sniff the delimiter
SNIFF_RECORDS = 50
DELIMITERS = (",", ";", "\t", "|")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet",
               ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}

# splitmix64 constants; hashes are part of the cache format, so never change
# them without bumping PROFILE_FORMAT.
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_NULL_HASH = 0x5BD1E9955BD1E995


def detect_format(path: str, head: bytes) -> str | None:
    """Return "csv", "tsv", "parquet", "jsonl" or None (not a table we read).

    Decided by extension, then checked against the first bytes: ``PAR1`` means
    parquet whatever the name; text formats must look like UTF-8 text (no NUL
    byte, decodable), so a binary or latin-1 file named ``.csv`` is None.
    """
    if head[:4] == b"PAR1":
        return "parquet"
    fmt = _EXTENSIONS.get(os.path.splitext(path.lower())[1])
    if fmt is None or fmt == "parquet":
        return None  # a .parquet without the magic is not parquet
    return fmt if _looks_like_text(head) else None


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:  # final=False: the head may end in the middle of a multi-byte char
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def read_table(path: str, fmt: str, key: list[str] | None = None) -> "pyarrow.Table":
    """Read ``path`` as ``fmt`` with pyarrow; raise TableError if it is not a table.

    Any failure (malformed or binary content, non-UTF-8 text, a line longer
    than MAX_BLOCK_SIZE, an empty file, a missing ``key`` column) becomes a
    TableError, never another exception: the caller then falls back to a
    byte-level diff.  Duplicate column names get pandas-style ``.1`` suffixes.
    """
    try:
        if fmt in ("csv", "tsv"):
            table = _read_csv(path, fmt)
        elif fmt == "parquet":
            import pyarrow.parquet as pq
            table = pq.read_table(path)
        elif fmt == "jsonl":
            table = _read_jsonl(path)
        else:
            raise TableError(f"unknown table format {fmt!r}")
    except TableError:
        raise
    except Exception as exc:  # pyarrow raises many types; the contract is TableError only
        raise TableError(f"cannot read {os.path.basename(path)} as {fmt}: {_short(exc)}") from exc
    table = unique_names(table)
    for name in [key] if isinstance(key, str) else (key or []):
        if name not in table.column_names:
            raise TableError(f"key column {name!r} not found; columns are: "
                             + ", ".join(repr(c) for c in table.column_names))
    return table


def _short(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _read_head(path: str) -> tuple[bytes, bool]:
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES + 1)
    return head[:SNIFF_BYTES], len(head) <= SNIFF_BYTES


def _read_csv(path: str, fmt: str) -> "pyarrow.Table":
    import pyarrow as pa
    import pyarrow.csv as pcsv

    head, whole = _read_head(path)
    if not head.strip():
        raise TableError("empty file")
    if not _looks_like_text(head):
        raise TableError("binary or non-UTF-8 content")
    delimiter = sniff_delimiter(head, whole, "\t" if fmt == "tsv" else ",")
    table = _with_retries(lambda block, multiline: pcsv.read_csv(
        path, read_options=pcsv.ReadOptions(block_size=block),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=multiline)))
    # pyarrow silently falls back to binary for invalid UTF-8 beyond the head
    if any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types):
        raise TableError("non-UTF-8 text")
    return table


def sniff_delimiter(head: bytes, whole: bool, default: str = ",") -> str:
    """Pick the delimiter among DELIMITERS that splits the first records consistently.

    ``whole`` says ``head`` is the entire file; otherwise its last, possibly
    cut, record is ignored.  The candidate giving the most fields wins (ties
    go to ``default``); a single-column file gets ``default``; records that
    no candidate splits into the same number of fields raise TableError.
    """
    text = head.decode("utf-8-sig", errors="ignore")
    if not whole:
        if "\n" not in text and "\r" not in text:
            raise TableError(f"first line longer than {SNIFF_BYTES} bytes")
    best, best_fields, all_single = None, 1, True
    for delim in sorted(DELIMITERS, key=lambda d: d != default):
        try:
            records = [r for r in itertools.islice(
                csv.reader(io.StringIO(text), delimiter=delim), SNIFF_RECORDS + 1) if r]
        except csv.Error:
            all_single = False
            continue
        if not whole and len(records) > 1:
            records = records[:-1]  # may be cut mid-record
        records = records[:SNIFF_RECORDS]
        widths = {len(r) for r in records}
        if widths != {1}:
            all_single = False
        if len(widths) == 1 and (n := widths.pop()) > best_fields:
            best, best_fields = delim, n
    if best is not None:
        return best
    if all_single:
        return default
    raise TableError("no delimiter among , ; tab | splits the first lines consistently")


def _read_jsonl(path: str) -> "pyarrow.Table":
    import pyarrow.json as pj

    head, _ = _read_head(path)
    if not head.strip():
        raise TableError("empty file")
    if not _looks_like_text(head):
        raise TableError("binary or non-UTF-8 content")
    return _with_retries(lambda block, _: pj.read_json(
        path, read_options=pj.ReadOptions(block_size=block)))


def _with_retries(read):
    """Call ``read(block_size, newlines_in_values)`` with the fast settings first.

    newlines_in_values=True costs ~40% of CSV parse time, so it is only used
    after pyarrow reports a quoted value spanning lines (it does: "out of sync
    with chunker"); a row longer than a block gets one retry with a bigger one.
    """
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


def unique_names(table: "pyarrow.Table") -> "pyarrow.Table":
    """Rename duplicate column names ``a, a`` to ``a, a.1`` (diffs match columns by name)."""
    names = table.column_names
    if len(set(names)) == len(names):
        return table
    taken, out = set(names), []
    used: set[str] = set()
    for name in names:
        new, i = name, 0
        # the first occurrence keeps its name; never pick another real column's name
        while new in used or (new != name and new in taken):
            i += 1
            new = f"{name}.{i}"
        used.add(new)
        out.append(new)
    return table.rename_columns(out)


# --------------------------------------------------------------------------- hashing

def _mix(x: "numpy.ndarray") -> "numpy.ndarray":
    """splitmix64 finalizer on a uint64 array (wrapping arithmetic is intended)."""
    import numpy as np
    x = x ^ (x >> np.uint64(30))
    x *= np.uint64(_M1)
    x ^= x >> np.uint64(27)
    x *= np.uint64(_M2)
    x ^= x >> np.uint64(31)
    return x


def _str_hash(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")


def column_hash(col: "pyarrow.ChunkedArray | pyarrow.Array") -> "numpy.ndarray":
    """One uint64 per value, equal for equal values.

    Numbers hash by float64 value (so int64 ``1`` and double ``1.0`` match when a
    column's inferred type changes between versions), null and NaN hash alike
    (both mean "missing"), dictionary columns like their decoded values.
    Strings use pandas' seeded SipHash; nested values hash their JSON text.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(col, pa.Array):
        col = pa.chunked_array([col], type=col.type)
    t, n = col.type, len(col)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    if pa.types.is_dictionary(t):
        chunks = [c for c in col.unify_dictionaries().chunks if len(c)]
        if not chunks:
            return np.empty(0, dtype=np.uint64)
        dh = column_hash(chunks[0].dictionary)  # unified: one dictionary, hashed once
        idx = np.concatenate([c.indices.fill_null(0).to_numpy() for c in chunks])
        h = dh[idx.astype(np.int64)] if len(dh) else np.zeros(n, dtype=np.uint64)
        h[~col.is_valid().to_numpy(zero_copy_only=False)] = _NULL_HASH
        return h
    if pa.types.is_null(t):
        return np.full(n, _NULL_HASH, dtype=np.uint64)
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        v = pc.cast(col, pa.float64(), safe=False).to_numpy() + 0.0  # +0.0 turns -0.0 into 0.0
        h = _mix(v.view(np.uint64) ^ np.uint64(_str_hash("num")))
        h[np.isnan(v)] = _NULL_HASH
        return h
    if pa.types.is_boolean(t):
        v = pc.cast(pc.fill_null(col, False), pa.uint64()).to_numpy()
        h = _mix(v ^ np.uint64(_str_hash("bool")))
    elif pa.types.is_temporal(t) and not pa.types.is_interval(t):
        # raw storage integers, tagged with the type so units never mix up
        v = col.cast(pa.int64() if t.bit_width == 64 else pa.int32()).fill_null(0)
        v = v.cast(pa.int64()).to_numpy()
        h = _mix(v.view(np.uint64) ^ np.uint64(_str_hash(str(t))))
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) \
            or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        h = _hash_strings(col)
    elif pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        return column_hash(col.cast(pa.large_string() if pa.types.is_string_view(t)
                                    else pa.large_binary()))
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

    n = len(col)
    # Low-cardinality columns: hash each distinct value once (dictionary_encode
    # is C++); on unique-ish columns that detour costs more than it saves.
    step = max(1, n // 20000)
    sample = col.take(np.arange(0, n, step))
    if n > 50000 and pc.count_distinct(sample).as_py() < len(sample) // 2:
        return column_hash(pc.dictionary_encode(col))
    values = col.fill_null("").to_numpy(zero_copy_only=False)
    return pd.util.hash_array(values, categorize=False).astype(np.uint64, copy=False)


def _add_column(acc: "numpy.ndarray", name: str, h: "numpy.ndarray") -> None:
    """Fold one column's value hashes into the row accumulator, in place.

    A wrapping sum of per-(name, value) hashes: column order does not matter,
    yet swapping values between columns changes the row hash.
    """
    import numpy as np
    acc += _mix(h ^ np.uint64(_str_hash(name)))  # _profile inlines this; keep them equal


def _row_hashes_unsorted(table: "pyarrow.Table", columns: list[str]) -> "numpy.ndarray":
    import numpy as np
    acc = np.zeros(table.num_rows, dtype=np.uint64)
    for name in columns:
        _add_column(acc, name, column_hash(table[name]))
    return _mix(acc)


def row_hashes(table: "pyarrow.Table", columns: list[str]) -> "numpy.ndarray":
    """Sorted uint64 hashes of the rows of ``table`` over ``columns``.

    Equal rows give equal hashes whatever the row or column order, so the
    multiset difference of two such arrays counts added and removed rows.
    """
    import numpy as np
    return np.sort(_row_hashes_unsorted(table, list(columns)))


# --------------------------------------------------------------------------- profile

def profile_table(table: "pyarrow.Table") -> tuple[dict, "numpy.ndarray"]:
    """Return ``(profile, row_hashes)`` for ``table``; see the module docstring.

    profile = {"format": 1, "rows": N, "row_hash_columns": [names],
               "columns": [{"name", "type", "nulls", "numeric", "categories",
                            "distinct"}]}
    ``nulls`` counts null and NaN; ``numeric`` = {"mean", "std", "min", "max",
    "quantiles": 101 values at 0%..100%} over finite values, or None;
    ``categories`` = {value: count} for string/bool/dictionary columns with at
    most MAX_CATEGORIES distinct values, else None.  No NaN/inf anywhere.
    """
    return _profile(table, with_hashes=True)


def profile_only(table: "pyarrow.Table") -> dict:
    """The profile of :func:`profile_table` without computing row hashes."""
    return _profile(table, with_hashes=False)[0]


def _profile(table, with_hashes: bool):
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor
    table = unique_names(table)

    def one(name):
        # one value-hash pass per column serves both the row hashes and the
        # distinct count of high-cardinality string columns
        h = column_hash(table[name]) if with_hashes else None
        entry = _column_profile(name, table[name], h)
        return entry, (_mix(h ^ np.uint64(_str_hash(name))) if with_hashes else None)

    # numpy sorts and pyarrow kernels release the GIL: columns in parallel
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        results = list(pool.map(one, table.column_names))
    profile = {"format": PROFILE_FORMAT, "rows": table.num_rows,
               "row_hash_columns": list(table.column_names), "columns": [e for e, _ in results]}
    if not with_hashes:
        return profile, None
    acc = np.zeros(table.num_rows, dtype=np.uint64)
    for _, h in results:
        acc += h
    return profile, np.sort(_mix(acc))


def _finite(x: float) -> float | None:
    import math
    x = float(x)
    return x if math.isfinite(x) else None


def _column_profile(name: str, col: "pyarrow.ChunkedArray",
                    hashes: "numpy.ndarray | None" = None) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    entry: dict[str, Any] = {"name": name, "type": str(t), "nulls": col.null_count,
                             "numeric": None, "categories": None, "distinct": None}
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        v = pc.cast(col, pa.float64(), safe=False).to_numpy()
        entry["nulls"] = int(np.isnan(v).sum())  # null became NaN in to_numpy
        s = np.sort(v[np.isfinite(v)])
        if len(s):
            entry["distinct"] = int(np.count_nonzero(s[1:] != s[:-1]) + 1)
            entry["numeric"] = _numeric_stats(s)
        else:
            entry["distinct"] = 0
    elif (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
          or pa.types.is_boolean(t) or pa.types.is_dictionary(t)):
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
        if hashes is not None and _surely_many(col):
            # value_counts of a million unique strings is the slowest step of
            # a profile; the sorted value hashes give the same count for less
            u = np.sort(hashes[col.is_valid().to_numpy(zero_copy_only=False)])
            entry["distinct"] = int(np.count_nonzero(u[1:] != u[:-1]) + (len(u) > 0))
            return entry
        counts = pc.value_counts(col)
        values, freq = counts.field("values"), counts.field("counts")
        distinct = len(counts) - (1 if values.null_count else 0)
        entry["distinct"] = distinct
        if distinct <= MAX_CATEGORIES:
            pairs = [(_category_key(v), int(c)) for v, c in zip(values.to_pylist(),
                                                                freq.to_pylist()) if v is not None]
            pairs.sort()  # key order, as canonical JSON in the cache will have it anyway
            entry["categories"] = dict(pairs)
    return entry


def _surely_many(col) -> bool:
    """True when a strided sample already has more than MAX_CATEGORIES values."""
    import numpy as np
    import pyarrow.compute as pc
    if len(col) <= 20000:
        return False
    sample = col.take(np.arange(0, len(col), len(col) // 20000))
    return pc.count_distinct(sample).as_py() > MAX_CATEGORIES


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
        mean, std = s.mean(), s.std()
    return {"mean": _finite(mean), "std": _finite(std), "min": float(s[0]),
            "max": float(s[-1]), "quantiles": [float(x) for x in q]}
