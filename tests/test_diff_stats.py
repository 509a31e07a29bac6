"""Tests of mlver.diff.stats against reference figures.

The expected values were computed once with scipy 1.17 (kstwobign.sf, chi2.sf,
chi2_contingency(correction=False), ks_2samp, wasserstein_distance,
spatial.distance.jensenshannon) or by hand, and are hard-coded here: mlver does
not depend on scipy.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from mlver.diff import stats


def counts(x):
    v, c = np.unique(np.asarray(x, float), return_counts=True)
    return v, c


@pytest.mark.parametrize("x,expected", [
    (0.5, 0.9639452436648751), (0.8, 0.5441424115741981), (1.0, 0.26999967167735456),
    (1.2238478702170825, 0.1), (1.3580986393225507, 0.05), (1.6276236115189, 0.01),
    (2.0, 0.0006709252557796953), (0.0, 1.0), (10.0, 0.0)])
def test_kolmogorov_sf(x, expected):
    assert stats.kolmogorov_sf(x) == pytest.approx(expected, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("x,dof,expected", [
    (3.841458820694124, 1, 0.05), (5.991464547107979, 2, 0.05),       # textbook 5% points
    (18.307038053275146, 10, 0.05), (0.5, 3, 0.9188914116546758),
    (40.0, 20, 0.0049954123083075785), (0.001, 1, 0.9747728793699604),
    (200.0, 150, 0.003973185970821635), (3.0, 0.5, 0.03341644415897894),
    (0.0, 4, 1.0)])
def test_chi2_sf(x, dof, expected):
    assert stats.chi2_sf(x, dof) == pytest.approx(expected, rel=1e-9)


def test_chi2_homogeneity():
    stat, p = stats.chi2_homogeneity([10, 20, 30], [20, 20, 20])
    assert stat == pytest.approx(5.333333333333334) and p == pytest.approx(0.0694834512228015)
    stat, p = stats.chi2_homogeneity([50, 0], [30, 20])            # a category only one side has
    assert stat == pytest.approx(25.0) and p == pytest.approx(5.733031437583875e-07)
    assert stats.chi2_homogeneity([5, 0], [7, 0]) == (0.0, 1.0)  # one category: nothing to test
    assert stats.chi2_homogeneity([1, 2, 3], [2, 4, 6])[1] == pytest.approx(1.0)


def test_two_proportion_z():
    # 45/100 against 60/100: pooled 0.525, z = -0.15 / sqrt(0.525 * 0.475 * 0.02)
    z, p = stats.two_proportion_z(45, 100, 60, 100)
    assert z == pytest.approx(-2.1239769762143657) and p == pytest.approx(0.033672068856345855)
    assert stats.two_proportion_z(10, 10, 20, 20) == (0.0, 1.0)   # all ones: no variation
    assert stats.two_proportion_z(5, 10, 5, 10)[1] == pytest.approx(1.0)


def test_ks_2samp_small_textbook_case():
    d, p = stats.ks_2samp(*counts([1, 2, 3, 4, 5]), *counts([3, 4, 5, 6, 7, 8]))
    assert d == pytest.approx(0.5)
    # scipy: exact 0.357, asymptotic (kstwo) 0.333; Stephens' correction lands between
    assert 0.30 < p < 0.40


def test_ks_2samp_normal_samples_match_scipy():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, 400), rng.normal(0.3, 1, 600)
    d, p = stats.ks_2samp(*counts(x), *counts(y))
    assert d == pytest.approx(0.15083333333333332)
    assert p == pytest.approx(3.266384789456982e-05, rel=0.1)      # scipy's exact p-value
    same = stats.ks_2samp(*counts(x), *counts(x))
    assert same == (0.0, 1.0)
    # a larger n given for a side (the sample stands for a bigger column) lowers p
    assert stats.ks_2samp(*counts(x), *counts(y), n_b=60000)[1] < p


def test_wasserstein_1():
    assert stats.wasserstein_1(*counts([0, 1, 3]), *counts([5, 6, 8])) == pytest.approx(5.0)
    assert stats.wasserstein_1([0, 1], [3, 1], [0, 1], [2, 2]) == pytest.approx(0.25)
    assert stats.wasserstein_1([3.4, 3.9, 7.5, 7.8], [1.4, 0.9, 3.1, 7.2],
                               [1.4, 4.5], [3.5, 3.2]) == pytest.approx(4.078133143804785)
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, 400), rng.normal(0.3, 1, 600)
    assert stats.wasserstein_1(*counts(x), *counts(y)) == pytest.approx(0.2826197637169496)
    assert stats.wasserstein_1(*counts(x), *counts(x)) == 0.0


def test_jensen_shannon():
    assert stats.jensen_shannon([1, 0], [0, 1]) == pytest.approx(math.sqrt(math.log(2)))
    assert stats.jensen_shannon([1.0, 0.0], [0.5, 0.5]) == pytest.approx(0.464501404022459)
    assert stats.jensen_shannon([0.2, 0.3, 0.5], [0.5, 0.3, 0.2]) == \
        pytest.approx(0.25770974832606103)
    assert stats.jensen_shannon([2, 3, 5], [20, 30, 50]) == pytest.approx(0.0, abs=1e-7)
