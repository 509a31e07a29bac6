"""The statistics behind drift, written out so that mlver needs no scipy.

Pure functions over plain numbers or numpy arrays (numpy is imported inside
functions: the CLI must start fast).  Distributions are given as sorted
distinct ``values`` with their ``counts`` (weights), which is what a profile
keeps, so exact data and samples go through the same code.

- :func:`kolmogorov_sf`: survival function of the Kolmogorov distribution.
- :func:`ks_2samp`: two-sample Kolmogorov-Smirnov statistic and asymptotic
  p-value (Stephens' small-sample correction, as in Numerical Recipes §14.3).
- :func:`chi2_sf`: chi-square survival function, from the regularized upper
  incomplete gamma function (series or continued fraction, Numerical Recipes §6.2).
- :func:`chi2_homogeneity`: chi-square test that two samples of categories
  come from one distribution (a 2 x k contingency table).
- :func:`two_proportion_z`: two-sided z-test of two proportions (pooled).
- :func:`wasserstein_1`: earth mover's distance between two weighted samples.
- :func:`jensen_shannon`: Jensen-Shannon distance (natural log) of two shares.
- :func:`benjamini_hochberg`: p-values adjusted for testing many columns at once.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from numpy.typing import ArrayLike

_EPS = 1e-15
_MAX_ITER = 10000


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution K = sup|B(t)| of a Brownian bridge:
    2 sum_k (-1)^(k-1) exp(-2 k^2 x^2); for small x the dual theta series
    1 - sqrt(2 pi)/x sum_k exp(-(2k-1)^2 pi^2 / (8 x^2)), which converges there."""
    if x <= 0:
        return 1.0
    if x < 1.0:
        s = sum(math.exp(-((2 * k - 1) ** 2) * math.pi ** 2 / (8 * x * x)) for k in range(1, 8))
        return min(1.0, max(0.0, 1.0 - math.sqrt(2 * math.pi) / x * s))
    total = 0.0
    for k in range(1, 101):
        term = math.exp(-2.0 * k * k * x * x)
        total += term if k % 2 else -term
        if term < 1e-17:
            break
    return min(1.0, max(0.0, 2.0 * total))


def _cdf_at(values: ArrayLike, counts: ArrayLike, points: ArrayLike) -> Any:
    """Share of the weighted sample (sorted ``values``, ``counts``) that is <= each point."""
    import numpy as np
    v, c = np.asarray(values, float), np.asarray(counts, float)
    cum = np.concatenate(([0.0], np.cumsum(c)))
    return cum[np.searchsorted(v, points, side="right")] / cum[-1]


def ks_2samp(values_a: ArrayLike, counts_a: ArrayLike, values_b: ArrayLike,
             counts_b: ArrayLike,
             n_a: float | None = None, n_b: float | None = None) -> tuple[float, float]:
    """``(D, p)``: D = sup |F_a - F_b| of the two empirical CDFs, and the asymptotic
    two-sided p-value Q_KS((sqrt(en) + 0.12 + 0.11/sqrt(en)) D), en = n m / (n + m).
    ``n_a``/``n_b`` override the sizes used for the p-value (a side given by a
    sample of a larger column uses the column's size)."""
    import numpy as np
    points = np.union1d(np.asarray(values_a, float), np.asarray(values_b, float))
    if len(points) == 0:
        return 0.0, 1.0
    d = float(np.max(np.abs(_cdf_at(values_a, counts_a, points)
                            - _cdf_at(values_b, counts_b, points))))
    n = float(n_a if n_a is not None else np.sum(counts_a))
    m = float(n_b if n_b is not None else np.sum(counts_b))
    if n <= 0 or m <= 0:
        return d, 1.0
    en = math.sqrt(n * m / (n + m))
    return d, kolmogorov_sf((en + 0.12 + 0.11 / en) * d)


def _gamma_series(a: float, x: float) -> float:
    """Regularized lower incomplete gamma P(a, x) by its series (x < a + 1)."""
    term = total = 1.0 / a
    ap = a
    for _ in range(_MAX_ITER):
        ap += 1
        term *= x / ap
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_fraction(a: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(a, x) by its continued fraction
    (modified Lentz; x >= a + 1)."""
    tiny = 1e-300
    b = x + 1.0 - a
    c, d = 1.0 / tiny, 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def gammaincc(a: float, x: float) -> float:
    """Regularized upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a)."""
    if a <= 0:
        raise ValueError("a must be positive")
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if x < a + 1.0:
        return max(0.0, 1.0 - _gamma_series(a, x))
    return min(1.0, _gamma_fraction(a, x))


def chi2_sf(x: float, dof: float) -> float:
    """P(X > x) for a chi-square variable with ``dof`` degrees of freedom."""
    return gammaincc(dof / 2.0, x / 2.0)


def chi2_homogeneity(counts_a: ArrayLike, counts_b: ArrayLike) -> tuple[float, float]:
    """``(statistic, p)`` of Pearson's chi-square test of homogeneity on the 2 x k
    table of category counts (categories empty on both sides are dropped; no
    continuity correction).  Fewer than two categories: ``(0.0, 1.0)``."""
    import numpy as np
    a, b = np.asarray(counts_a, float), np.asarray(counts_b, float)
    keep = (a + b) > 0
    a, b = a[keep], b[keep]
    na, nb = a.sum(), b.sum()
    if len(a) < 2 or na <= 0 or nb <= 0:
        return 0.0, 1.0
    total = na + nb
    col = a + b
    ea, eb = col * na / total, col * nb / total
    stat = float(np.sum((a - ea) ** 2 / ea) + np.sum((b - eb) ** 2 / eb))
    return stat, chi2_sf(stat, len(a) - 1)


def two_proportion_z(x_a: float, n_a: float, x_b: float, n_b: float) -> tuple[float, float]:
    """``(z, p)``: pooled two-proportion z-test that ``x_a/n_a`` and ``x_b/n_b`` are
    one proportion; two-sided p = erfc(|z| / sqrt 2).  A pooled share of 0 or 1
    (no variation at all): ``(0.0, 1.0)``."""
    if n_a <= 0 or n_b <= 0:
        return 0.0, 1.0
    pooled = (x_a + x_b) / (n_a + n_b)
    var = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if var <= 0:
        return 0.0, 1.0
    z = (x_a / n_a - x_b / n_b) / math.sqrt(var)
    return z, math.erfc(abs(z) / math.sqrt(2))


def wasserstein_1(values_a: ArrayLike, counts_a: ArrayLike, values_b: ArrayLike,
                  counts_b: ArrayLike) -> float:
    """First Wasserstein (earth mover's) distance between two weighted samples:
    the integral of |F_a - F_b| over x."""
    import numpy as np
    points = np.union1d(np.asarray(values_a, float), np.asarray(values_b, float))
    if len(points) < 2:
        return 0.0
    fa = _cdf_at(values_a, counts_a, points[:-1])
    fb = _cdf_at(values_b, counts_b, points[:-1])
    with np.errstate(over="ignore", invalid="ignore"):
        w = float(np.sum(np.abs(fa - fb) * np.diff(points)))
    return w if math.isfinite(w) else float("inf")


def jensen_shannon(p: ArrayLike, q: ArrayLike) -> float:
    """Jensen-Shannon distance sqrt(JSD), natural log (0 to sqrt(ln 2) = 0.8326),
    of two vectors of counts or shares over the same categories (normalised here)."""
    import numpy as np
    pa, qa = np.asarray(p, float), np.asarray(q, float)
    if pa.sum() <= 0 or qa.sum() <= 0:
        return 0.0
    pa, qa = pa / pa.sum(), qa / qa.sum()
    m = (pa + qa) / 2

    def kl(x: Any) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log(x[nz] / m[nz])))
    return math.sqrt(max(0.0, (kl(pa) + kl(qa)) / 2))


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the order given: the
    smallest false discovery rate at which each test would be called a discovery,
    q_(i) = min over j >= i of p_(j) m / j (sorted ascending), capped at 1.  Calling
    drift where q < alpha keeps the expected share of false calls among all calls at
    or below alpha, however many columns are tested (independent or positively
    dependent tests)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    q = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):  # from the largest p down, keeping the running minimum
        i = order[rank - 1]
        running = min(running, pvalues[i] * m / rank)
        q[i] = min(1.0, running)
    return q
