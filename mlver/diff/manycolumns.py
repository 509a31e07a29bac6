"""Drift calls that hold up when a table has many columns.

A p-value test run on 66 columns of two samples of the same data calls about three of them
"drifted" at p < 0.05 by chance alone.  So where p-values decide (KS, chi-square and the
z-test: the old version has at most 1,000 values), the p-values of one table's columns are
adjusted together with the Benjamini-Hochberg procedure, and drift is called where the
adjusted value ``q`` is below ALPHA: among the columns called drifted, the expected share of
false calls stays at most 5%, however many columns the table has.  Distance tests (bigger
tables) make no p-value and are left as they are.

Pure functions over :class:`~mlver.diff.drift.DriftStat` values (through
``dataclasses.replace``: this module does not import ``drift``, which imports it).
"""
from __future__ import annotations

import dataclasses
from typing import Any
from collections.abc import Sequence

P_TESTS = ("ks", "chi_square", "z_test")
FDR_METHOD = "benjamini-hochberg"
ALPHA = 0.05


def level(test: str, value: float | None, threshold: float) -> str:
    """"drift", "moderate" (past half-way to the threshold), "stable", or "too_few_rows"
    (no value).  For a p-value test ``value`` is the adjusted q when there is one."""
    if value is None:
        return "too_few_rows"
    if test in P_TESTS:
        return "drift" if value < threshold else ("moderate" if value < 2 * threshold
                                                  else "stable")
    return "drift" if value >= threshold else ("moderate" if value >= threshold / 2
                                               else "stable")


def control_fdr(stats: Sequence[Any]) -> tuple[list[Any], dict[str, Any]]:
    """The drift stats with ``q`` (Benjamini-Hochberg over this table's p-value tests)
    filled in, and ``level``/``drifted`` decided by q; and the table's ``fdr`` entry
    ``{"method", "alpha", "tests"}`` (``tests``: how many p-values were adjusted
    together)."""
    from mlver.diff.stats import benjamini_hochberg
    idx = [i for i, s in enumerate(stats) if s.test in P_TESTS and s.value is not None]
    qs = benjamini_hochberg([stats[i].value for i in idx])
    out = list(stats)
    for i, q in zip(idx, qs, strict=False):
        s = out[i]
        q = float(f"{q:.4g}")
        lv = level(s.test, q, s.threshold if s.threshold is not None else ALPHA)
        out[i] = dataclasses.replace(s, q=q, level=lv, drifted=lv == "drift")
    return out, {"method": FDR_METHOD, "alpha": ALPHA, "tests": len(idx)}


def folded(stats: Sequence[Any], identifiers: Sequence[str]) -> list[str]:
    """The summary's closing parts: ``'user_id', 'ts': identifiers (unique per row), not
    tested for drift`` and ``62 columns stable`` (stable columns are counted, not named)."""
    parts = []
    if identifiers:
        shown = ", ".join(repr(n) for n in identifiers[:3]) + (
            f" (+{len(identifiers) - 3} more)" if len(identifiers) > 3 else "")
        one = len(identifiers) == 1
        parts.append(f"{shown}: identifier{'' if one else 's'} (unique per row), not tested "
                     "for drift")
    stable = sum(1 for s in stats if s.level == "stable" and not s.target)
    if stable:
        parts.append(f"{stable} column{'s' if stable != 1 else ''} stable")
    return parts
