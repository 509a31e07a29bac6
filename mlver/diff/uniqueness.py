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

from typing import Any, Sequence

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
    return (t.is_integer(type_) or t.is_string(type_) or t.is_large_string(type_)
            or t.is_binary(type_) or t.is_large_binary(type_) or t.is_fixed_size_binary(type_)
            or ((t.is_timestamp(type_) or t.is_date(type_) or t.is_time(type_))))


class UniqueCheck:
    """Whether a column's values are all distinct and never missing, fed batch by batch.
    ``result()``: True (unique per row, checked exactly over the first UNIQUE_LIMIT
    values), False (a repeat or a missing value), None (no rows)."""

    def __init__(self) -> None:
        import numpy as np
        self.seen = np.zeros(0, dtype=np.uint64)  # sorted keys of the values checked so far
        self.unique: bool | None = None
        self.full = False

    def add(self, col: Any) -> None:
        """Account for one batch of the column (a pyarrow Array or ChunkedArray)."""
        import numpy as np
        if self.unique is False or len(col) == 0:
            return
        if col.null_count:
            self.unique = False
            return
        self.unique = True
        if self.full:
            return
        keys = np.sort(_keys(col))
        if len(keys) > 1 and bool(np.any(keys[1:] == keys[:-1])):
            self.unique = False
            return
        if len(self.seen):
            pos = np.minimum(np.searchsorted(self.seen, keys), len(self.seen) - 1)
            if bool(np.any(self.seen[pos] == keys)):
                self.unique = False
                return
        merged = np.concatenate([self.seen, keys])
        merged.sort(kind="stable")  # two sorted runs: a merge
        self.seen = merged
        if len(self.seen) >= UNIQUE_LIMIT:
            self.full = True
            self.seen = np.zeros(0, dtype=np.uint64)  # checked enough: free the memory

    def result(self) -> bool | None:
        """See the class docstring; frees the memory held."""
        import numpy as np
        self.seen = np.zeros(0, dtype=np.uint64)
        return self.unique


def _keys(col: Any) -> "Any":
    """One uint64 per value, equal exactly for equal values (integers and times by their
    storage integer, text by a 64-bit hash)."""
    import numpy as np
    import pyarrow as pa
    from .profile import column_hash
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


def identifiers(old_cols: dict, new_cols: dict, common: Sequence[str], rows: tuple[int, int],
                exclude: Sequence[str] = ()) -> tuple[str, ...]:
    """The common columns (not ``exclude``: the key) that are unique per row in both
    versions, of tables with at least MIN_IDENTIFIER_ROWS rows each (``rows``: old, new),
    in column order."""
    if min(rows) < MIN_IDENTIFIER_ROWS:
        return ()
    return tuple(name for name in common if name not in exclude
                 and old_cols[name].get("unique") is True
                 and new_cols[name].get("unique") is True)
