"""Tests of mlver.diff.drift helpers: category keys of numbers, CDFs from quantiles,
one column's drift test from its profile entries."""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from mlver.diff.drift import DriftStat, cdf, column_drift, value_key
from mlver.diff.profile import profile_table


def test_value_key():
    assert value_key(3.0) == "3"
    assert value_key(2.5) == "2.5"
    assert value_key(1e16) == "1e+16"


def test_cdf_from_quantiles():
    q = np.linspace(0.0, 100.0, 101)
    x = np.array([-1.0, 0.0, 25.5, 50.0, 100.0, 200.0])
    assert cdf(q, x).tolist() == [0.0, 0.0, 0.255, 0.5, 1.0, 1.0]
    tied = np.array([0.0] * 50 + [1.0] * 51)  # discrete data: flat across tied quantiles
    assert cdf(tied, np.array([0.0, 0.5, 1.0])).tolist() == [0.49, 0.495, 1.0]


def columns(table):
    return {c["name"]: c for c in profile_table(table)[0]["columns"]}


def test_column_drift_of_a_shifted_number_column():
    rng = np.random.default_rng(0)
    old = columns(pa.table({"x": rng.normal(0, 1, 500)}))["x"]
    new = columns(pa.table({"x": rng.normal(2, 1, 500)}))["x"]
    stat, info = column_drift("x", old, new, is_target=True)
    assert isinstance(stat, DriftStat) and stat.test == "ks" and stat.drifted
    assert info is not None and info["kind"] == "numeric"
    same, _ = column_drift("x", old, old)
    assert same is not None and not same.drifted and same.level == "stable"


def test_column_drift_has_nothing_to_test_without_numbers_or_categories():
    text = columns(pa.table({"s": [f"v{i}" for i in range(2000)]}))["s"]
    assert column_drift("s", text, text) == (None, None)


def test_drift_says_whether_its_figures_are_exact_or_from_the_sample():
    from mlver.diff.tables import diff_tables
    rng = np.random.default_rng(1)
    n = 12000  # more rows than the profile's sample keeps
    old = pa.table({"x": rng.normal(0, 1, n), "k": rng.integers(0, 3, n),
                    "c": rng.choice(["a", "b"], n)})
    new = pa.table({"x": rng.normal(0, 1, n), "k": rng.integers(0, 3, n),
                    "c": rng.choice(["a", "b"], n)})
    basis = {s.column: s.to_dict()["basis"] for s in diff_tables(old, new).drift}
    assert basis == {"x": "sample", "k": "exact", "c": "exact"}
    small = {s.column: s.basis for s in diff_tables(old.slice(0, 500), new.slice(0, 500)).drift}
    assert small == {"x": "exact", "k": "exact", "c": "exact"}
