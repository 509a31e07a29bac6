"""Tests of mlver.diff.rowdiff: row multisets, surplus rows, rows matched by key."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mlver.diff.rowdiff import keyed_rows, multiset_diff, surplus
from mlver.diff.tableerrors import KeyColumnError


def u64(*values):
    return np.array(values, dtype=np.uint64)


def test_multiset_diff_counts_repeats():
    assert multiset_diff(u64(1, 2, 3), u64(2, 3, 4, 5)) == (2, 1)
    assert multiset_diff(u64(1, 1, 2), u64(1, 1, 1, 2)) == (1, 0)   # one more copy of 1
    assert multiset_diff(u64(), u64(7)) == (1, 0)


def test_surplus_names_the_extra_occurrences_in_row_order():
    hashes = u64(5, 1, 5, 9)            # row order
    assert surplus(hashes, u64(5), 10).tolist() == [1, 2, 3]
    assert surplus(hashes, u64(5), 1).tolist() == [1]


def test_keyed_rows():
    old = pa.table({"id": [1, 2, 3], "x": [1.0, 2.0, None]})
    new = pa.table({"id": [2, 3, 4], "x": [2.5, float("nan"), 0.0]})
    k = keyed_rows(old, new, ["id"], 5)
    assert (k.added, k.removed, k.changed, k.cells) == (1, 1, 1, (("x", 1),))  # null == NaN
    assert k.samples is not None
    assert k.samples["changed"] == [{"key": {"id": 2}, "old": {"id": 2, "x": 2.0},
                                     "new": {"id": 2, "x": 2.5}, "columns": ["x"]}]
    assert keyed_rows(old, new, ["id"], 0).samples is None


def test_keyed_rows_rejects_a_duplicate_key():
    old = pa.table({"id": ["a", "a"], "x": [1, 2]})
    with pytest.raises(KeyColumnError, match="duplicate key id = 'a' in the old version"):
        keyed_rows(old, pa.table({"id": ["a"], "x": [1]}), ["id"], 0)
