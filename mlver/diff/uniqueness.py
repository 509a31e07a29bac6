"""Is a column unique per row?  An identifier (an id, a uuid, a timestamp at row grain)
says which row it is, not what the row is like: testing it for drift only ever reports
that new rows have new ids.  A table profile records, per column, whether every row has a
value of its own (``"unique"``, see :class:`UniqueCheck`); the diff names such columns as
identifiers and does not test them (see :func:`identifiers`).

Only integers, text, binary and dates/times can be identifiers.  Floating-point numbers
never are: a measured quantity (a price with cents, a distance) is unique per row too, and
it is exactly what drift is about.  Booleans and decimals never are either.

numpy and pyarrow are imported inside functions only (the CLI imports this module).
"""
from __future__ import annotations

from typing import Any
from collections.abc import Sequence

# Values checked exactly per column (8 bytes each): a column with no repeated value among
# its first UNIQUE_LIMIT values counts as unique.  A column that repeats is dropped at
# once, so only real identifiers hold memory.
UNIQUE_LIMIT = 1 << 21
MIN_IDENTIFIER_ROWS = 30  # smaller tables: too few rows to tell an id from chance


def candidate(type_: Any) -> bool:
    """Whether a column of this pyarrow type can be an identifier."""
    import pyarrow as pa
    t = pa.types
    if t.is_dictionary(type_):
        return candidate(type_.value_type)
    return bool(t.is_integer(type_) or t.is_string(type_) or t.is_large_string(type_)
                or t.is_binary(type_) or t.is_large_binary(type_)
                or t.is_fixed_size_binary(type_)
                or (t.is_timestamp(type_) or t.is_date(type_) or t.is_time(type_)))


class UniqueCheck:
    """Whether a column's values are all distinct and never missing, fed batch by batch.
    ``result()``: True (unique per row, checked exactly over the first UNIQUE_LIMIT
    values), False (a repeat or a missing value), None (no rows).

    Each batch is sorted and checked on its own (most columns repeat a value in their
    first batch and are dropped there); the sorted batches are kept and checked against
    each other once, at the end, unless each batch's values all lie above the previous
    batch's (increasing ids, timestamps in order), which needs no such check."""

    def __init__(self) -> None:
        self.runs: list[Any] = []        # sorted keys of each batch checked, while needed
        self.kept = 0
        self.unique: bool | None = None
        self.ordered = True         # every batch so far lies above the one before
        self.top = None             # the largest key so far (while ordered)

    def wants(self) -> bool:
        """Whether :meth:`add` still looks at the values (to skip hashing them)."""
        return self.unique is not False and self.kept < UNIQUE_LIMIT

    def add(self, col: Any, keys: Any = None, repeats: bool = False) -> None:
        """Account for one batch of the column (a pyarrow Array or ChunkedArray);
        ``keys``: its values' 64-bit hashes when the caller has them, ``repeats``: the
        caller knows that the batch repeats a value."""
        import numpy as np
        if self.unique is False or len(col) == 0:
            return
        if col.null_count or repeats:
            self.unique, self.runs = False, []
            return
        self.unique = True
        if self.kept >= UNIQUE_LIMIT:
            return
        keys = np.sort(_keys(col) if keys is None else keys)
        if len(keys) > 1 and bool(np.any(keys[1:] == keys[:-1])):
            self.unique, self.runs = False, []
            return
        if self.ordered and self.top is not None and keys[0] <= self.top:
            self.ordered = False
        self.top = keys[-1]
        self.runs.append(keys)
        self.kept += len(keys)

    def result(self) -> bool | None:
        """See the class docstring; frees the memory held."""
        import numpy as np
        runs, self.runs = self.runs, []
        if self.unique and not self.ordered and len(runs) > 1:
            merged = np.sort(np.concatenate(runs))
            if bool(np.any(merged[1:] == merged[:-1])):
                self.unique = False
        return self.unique


def _keys(col: Any) -> Any:
    """One uint64 per value, equal exactly for equal values (integers and times by their
    storage integer, text by a 64-bit hash)."""
    import numpy as np
    import pyarrow as pa
    from mlver.diff.colhash import column_hash
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_integer(t):
        if pa.types.is_unsigned_integer(t):
            return np.asarray(col.cast(pa.uint64()).to_numpy(zero_copy_only=False), np.uint64)
        return np.asarray(col.cast(pa.int64()).to_numpy(zero_copy_only=False)).view(np.uint64)
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
        storage = pa.int64() if t.bit_width == 64 else pa.int32()
        v = col.cast(storage).cast(pa.int64())
        return np.asarray(v.to_numpy(zero_copy_only=False)).view(np.uint64)
    return column_hash(col)


def identifiers(old_cols: dict[str, dict[str, Any]], new_cols: dict[str, dict[str, Any]],
                common: Sequence[str], rows: tuple[int, int],
                exclude: Sequence[str] = ()) -> tuple[str, ...]:
    """The common columns (not ``exclude``: the key) that are unique per row in both
    versions, of tables with at least MIN_IDENTIFIER_ROWS rows each (``rows``: old, new),
    in column order."""
    if min(rows) < MIN_IDENTIFIER_ROWS:
        return ()
    return tuple(name for name in common if name not in exclude
                 and old_cols[name].get("unique") is True
                 and new_cols[name].get("unique") is True)
