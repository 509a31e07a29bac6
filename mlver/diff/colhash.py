"""Hashes of table columns and rows: one ``uint64`` per value or row, equal for equal
values, for row-level diffs, renamed-column detection and uniqueness checks.

The hashes are cached inside table profiles, so changing any constant or rule here needs a
new ``PROFILE_FORMAT`` (:mod:`mlver.diff.profile`). numpy and pyarrow are imported inside
the functions: the command line imports this module at start-up.
"""
from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from mlver.diff.tableerrors import table_errors

if TYPE_CHECKING:  # pragma: no cover
    import numpy
    import pyarrow

# splitmix64 constants and tags: hashes are cached, so changing any of these
# needs a new PROFILE_FORMAT.
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_NULL_HASH = 0x5BD1E9955BD1E995


def normalize(table: pyarrow.Table) -> pyarrow.Table:
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


def mix(x: numpy.ndarray) -> numpy.ndarray:
    """splitmix64 finalizer on a uint64 array (wrapping arithmetic is intended)."""
    import numpy as np
    t = x >> np.uint64(30)
    x = x ^ t               # a new array: the caller's is left alone
    x *= np.uint64(_M1)
    np.right_shift(x, np.uint64(27), out=t)
    x ^= t
    x *= np.uint64(_M2)
    np.right_shift(x, np.uint64(31), out=t)
    x ^= t
    return x


def tag(s: str) -> numpy.uint64:
    """A 64-bit constant named by ``s`` (blake2b), xor-ed into hashes to keep their kinds apart."""
    import numpy as np
    return np.uint64(int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little"))


def column_hash(col: pyarrow.ChunkedArray | pyarrow.Array) -> numpy.ndarray:
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
        return number_hash(pc.cast(col, pa.float64(), safe=False).to_numpy())
    elif types.is_boolean(t):
        h = mix(pc.cast(col.fill_null(False), pa.uint64()).to_numpy() ^ tag("bool"))
    elif types.is_temporal(t) and not getattr(types, "is_interval", lambda _: False)(t):
        # storage integers, tagged with the type so that units never mix up
        v = col.cast(pa.int64() if t.bit_width == 64 else pa.int32()).fill_null(0)
        h = mix(v.cast(pa.int64()).to_numpy().view(np.uint64) ^ tag(str(t)))
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


def number_hash(v: numpy.ndarray, may_be_nan: bool = True) -> numpy.ndarray:
    """Hashes of float64 values: their bits, tagged (-0.0 as 0.0, NaN as missing);
    not mixed, as :func:`column_term` mixes every value hash anyway."""
    import numpy as np
    v = v + 0.0  # -0.0 becomes 0.0 (and a copy: to_numpy() may be read-only)
    h = v.view(np.uint64)
    h ^= tag("num")
    if may_be_nan:
        nan = np.isnan(v)
        if nan.any():
            h[nan] = _NULL_HASH
    return h


def _hash_strings(col: pyarrow.ChunkedArray) -> numpy.ndarray:
    import numpy as np
    import pandas as pd
    import pyarrow.compute as pc

    # Few distinct values: hash each once after a C++ dictionary_encode; on
    # unique-ish columns that detour costs more than it saves.
    if len(col) > 50000 and _sample_distinct(col) < 10000:
        return column_hash(pc.dictionary_encode(col))
    values = col.to_numpy(zero_copy_only=False)  # nulls: None, overwritten by the caller
    hashed: numpy.ndarray = pd.util.hash_array(values, categorize=False)
    return hashed.astype(np.uint64, copy=False)


def _sample_distinct(col: pyarrow.ChunkedArray) -> int:
    """Distinct values among ~20,000 evenly spaced ones (cheap cardinality guess)."""
    import numpy as np
    import pyarrow.compute as pc
    step = max(1, len(col) // 20000)
    return int(pc.count_distinct(col.take(np.arange(0, len(col), step))).as_py())


def column_digest(h: numpy.ndarray) -> str:
    """The ``content`` of a column's profile: 16 hex digits, equal for two columns
    holding the same values (as a multiset, whatever their names and the row order;
    numbers by value, null as NaN), from its :func:`column_hash`. A dropped and an
    added column with equal digests are reported as a rename."""
    return digest_of(content_sum(h), len(h))


def content_sum(h: numpy.ndarray) -> int:
    """The order-free part of :func:`column_digest`: it adds up over batches."""
    import numpy as np
    with np.errstate(over="ignore"):
        return int(np.sum(mix(h ^ tag("content")), dtype=np.uint64))  # wraps around


def digest_of(total: int, rows: int) -> str:
    """The ``content`` digest text from a :func:`content_sum` total over ``rows`` values."""
    return f"{(total % (1 << 64)) ^ rows:016x}"


def column_term(name: str, h: numpy.ndarray) -> numpy.ndarray:
    """A column's share of the row hash.  Row hash = mix(wrapping sum of terms):
    column order does not matter, yet swapping values between columns does."""
    return mix(h ^ tag(name))


@table_errors
def row_hashes(table: pyarrow.Table, columns: list[str]) -> numpy.ndarray:
    """Sorted uint64 hashes of the rows of ``table`` over ``columns``; equal rows
    hash equal whatever the row or column order."""
    import numpy as np
    return np.sort(row_hashes_unsorted(table, columns))


def row_hashes_unsorted(table: pyarrow.Table, columns: list[str]) -> numpy.ndarray:
    """The row hashes of :func:`row_hashes`, in row order (what a row sample needs)."""
    import numpy as np
    table = normalize(table)
    acc = np.zeros(table.num_rows, dtype=np.uint64)
    for name in columns:
        acc += column_term(name, column_hash(table[name]))
    return mix(acc)
