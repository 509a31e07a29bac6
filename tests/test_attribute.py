"""Shapley values (mlver.explain.attribute): exact and sampled, from literal value functions,
and the text of the result."""

from __future__ import annotations

import itertools
import math

import pytest

from mlver.explain import attribute as att


def additive(weights):
    return lambda s: 3.0 + sum(weights[i] for i in s)


def test_all_subsets():
    subs = att.all_subsets(3)
    assert len(subs) == 8 and len(set(subs)) == 8
    assert subs[0] == frozenset() and subs[-1] == frozenset({0, 1, 2})


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_exact_additive_gives_each_term(n):
    w = [1.5 * (i + 1) * (-1) ** i for i in range(n)]
    values = att.exact(n, additive(w))
    assert values == pytest.approx(w, abs=1e-12)


def test_exact_interaction_splits_as_shapley_says():
    # v = a * b with a: 2 -> 4 (group 0) and b: 1 -> 3 (group 1)
    def v(s):
        return (4 if 0 in s else 2) * (3 if 1 in s else 1)

    phi = att.exact(2, v)
    assert phi[0] == pytest.approx(0.5 * ((4 - 2) + (12 - 6)), abs=1e-12)  # 4
    assert phi[1] == pytest.approx(0.5 * ((6 - 2) + (12 - 4)), abs=1e-12)  # 6
    assert sum(phi) == pytest.approx(v({0, 1}) - v(set()), abs=1e-12)


def test_exact_three_way_interaction_and_efficiency():
    def v(s):
        x = 2 if 0 in s else 1
        y = 5 if 1 in s else 1
        z = 1 if 2 in s else 0
        return x * y + z * x

    phi = att.exact(3, v)
    # brute force over all orders
    orders = list(itertools.permutations(range(3)))
    brute = [0.0] * 3
    for o in orders:
        seen = frozenset()
        for i in o:
            brute[i] += (v(seen | {i}) - v(seen)) / len(orders)
            seen = seen | {i}
    assert phi == pytest.approx(brute, abs=1e-12)
    assert sum(phi) == pytest.approx(v({0, 1, 2}) - v(set()), abs=1e-12)


def test_orders_stay_within_budget_and_repeat():
    n, budget = 8, 40
    sample = att.orders(n, budget, seed=7)
    subsets = {s for o in sample for s in att.prefixes(o)}
    assert len(subsets) <= budget and len(sample) >= 2
    assert att.orders(n, budget, seed=7) == sample  # seeded: the same question, the same runs
    with pytest.raises(ValueError, match="one order of them takes 9 runs"):
        att.orders(n, 8, seed=1)


def test_sampled_additive_is_exact_with_zero_error():
    n = 7
    w = [float(i) - 2.5 for i in range(n)]
    sample = att.orders(n, 30, seed=3)
    values, errs = att.sampled(n, sample, additive(w))
    assert values == pytest.approx(w, abs=1e-12)
    assert all(e == pytest.approx(0.0, abs=1e-12) for e in errs)


def test_sampled_values_add_up_and_report_error():
    n = 6

    def v(s):
        return math.prod((i + 2) if i in s else 1 for i in range(n))

    sample = att.orders(n, 40, seed=11)
    values, errs = att.sampled(n, sample, v)
    assert sum(values) == pytest.approx(v(set(range(n))) - v(set()), abs=1e-9)
    assert all(e is not None and e > 0 for e in errs)
    exact = att.exact(n, v)
    # within a few standard errors of the exact values
    assert all(abs(a - b) <= 6 * e + 1e-9 for a, b, e in zip(values, exact, errs))


def _result(shares, floor=0.0, old=10.0, new=15.0, env=False, rold=None, rnew=None, sd=None,
            rhalf=0.0):
    m = att.MetricShares("mae", old, new, old if rold is None else rold,
                         new if rnew is None else rnew, floor, tuple(shares),
                         floor / 2.776 if sd is None else sd, 4, 3,
                         **({"residual_half_width": rhalf} if rhalf else {}))
    runs = tuple(att.ReplayRun((), r, False, 1.0, {"mae": old}) for r in range(3))
    runs += tuple(att.ReplayRun(("data train",), 0, False, 1.0, {"mae": new}) for _ in range(3))
    return att.Attribution(old={"oid": "a" * 32, "name": "m", "version": 1},
                           new={"oid": "b" * 32, "name": "m", "version": 2},
                           command=("python", "train.py"), groups=(), method="exact",
                           orders=0, budget=None, metrics=(m,), runs=runs, env_differs=env,
                           seconds=41.2)


def test_text_reads_like_the_issue():
    text = str(_result([att.Share("data train", "data", 4.5, 0.9, None, False, 0.12),
                        att.Share("code", "code", 0.5, 0.1, None, False, 0.06)], floor=0.05,
                       sd=0.02))
    assert text.splitlines() == [
        "m@1 -> m@2: mae 10 -> 15 (+5.000), by replay (4 runs + 2 for noise, 41 s)",
        "  data train   +4.500 ±0.120  (90%)",
        "  code         +0.500 ±0.060  (10%)",
        "  noise floor  ±0.050  (sd 0.02 over 3 replays of each version; ± is a 95% interval)",
    ]


def test_deterministic_replays_show_no_interval():
    text = str(_result([att.Share("data train", "data", 5.0, 1.0, None, False)], sd=0.0))
    assert text.splitlines()[1:] == [
        "  data train   +5      (100%)",
        "  noise floor  ±0  (the 3 replays of each version agree)",
    ]


def test_a_count_whose_shapley_mean_rounds_off_still_shows_whole():
    """rows 200 -> 300 with a share computed as 99.99999999999999: '+100', not '+100.0'."""
    text = str(_result([att.Share("data train", "data", 99.99999999999999, 1.0, None, False),
                        att.Share("code", "code", 0.0, 0.0, None, False)],
                       old=200.0, new=300.0, sd=0.0))
    assert text.splitlines()[:3] == [
        "m@1 -> m@2: mae 200 -> 300 (+100), by replay (4 runs + 2 for noise, 41 s)",
        "  data train   +100    (100%)", "  code         0       (0%)"]


def test_a_residual_inside_the_noise_is_marked_within_noise():
    """The trial's numbers: a residual of +0.07140 under a noise floor of ±0.07453 was
    described as unexplained; its own interval (two recorded runs and two means) holds 0."""
    share = att.Share("data train", "data", 0.0, None, None, True, 0.05)
    kw = dict(floor=0.07453, sd=0.07453 / 2.776, old=0.8, new=0.8714, rold=0.8, rnew=0.8)
    before = _result([share], **kw)  # no residual interval: the text of before the fix
    assert before.metrics[0].residual == pytest.approx(0.0714)
    assert not before.metrics[0].residual_within_noise
    assert str(before).splitlines()[-1] == (
        "  residual +0.07140: the recorded change that replay did not reproduce "
        "(nondeterminism, or something the record does not hold)")
    half = 0.07453 * math.sqrt(2 + 2 / 3)
    r = _result([share], rhalf=half, **kw)
    m = r.metrics[0]
    assert m.residual_within_noise and m.residual_interval == (
        pytest.approx(0.0714 - half), pytest.approx(0.0714 + half))
    assert str(r).splitlines()[-1] == (
        "  residual +0.07140 ±0.12171  within noise: the recorded change that replay did not "
        "reproduce is no larger than the replays' own noise")
    j = r.to_dict()["metrics"]["mae"]
    assert j["residual_within_noise"] is True
    assert j["residual_interval"] == [pytest.approx(0.0714 - half), pytest.approx(0.0714 + half)]
    env = _result([share], rhalf=half, env=True, **kw)
    assert str(env).splitlines()[-1] == ("  env differs (not replayable): its part, if any, is "
                                         "in the residual +0.07140 ±0.12171  within noise")


def test_no_group_means_one_configuration_replayed():
    """Two versions with nothing to swap replay one configuration, not one each."""
    r = _result([], floor=0.085, sd=0.031)
    assert str(r).splitlines()[2] == (
        "  noise floor  ±0.085  (sd 0.031 over 3 replays of the configuration both versions "
        "share; ± is a 95% interval)")
    det = _result([], sd=0.0)
    assert str(det).splitlines()[2] == (
        "  noise floor  ±0  (the 3 replays of the configuration both versions share agree)")


def test_t_quantiles_and_pooled_sd():
    assert att.t95(0) == math.inf
    assert (att.t95(1), att.t95(4), att.t95(11), att.t95(500)) == (12.706, 2.776, 2.228, 1.96)
    sd, df = att.pooled_sd([[1.0, 2.0, 3.0], [10.0, 12.0, 14.0], [7.0]])
    # squares about each mean: 2 and 8, over 2 + 2 degrees of freedom
    assert (sd, df) == (pytest.approx(math.sqrt(10 / 4)), 4)
    assert att.pooled_sd([[5.0, 5.0, 5.0]]) == (0.0, 2)


def test_coefficients_reproduce_the_values():
    """The linear form of each value gives the same numbers as the Shapley computation."""
    def v(s):
        return math.prod((i + 2) if i in s else 1 for i in range(4)) + 0.5 * len(s)

    for sample in (None, att.orders(4, 12, seed=3)):
        coefs = att.coefficients(4, sample)
        want = att.exact(4, v) if sample is None else att.sampled(4, sample, v)[0]
        got = [sum(c * v(t) for t, c in coef.items()) for coef in coefs]
        assert got == pytest.approx(want, abs=1e-9)


def test_noise_half_width_follows_the_coefficients():
    full2 = frozenset({0, 1})
    counts = {frozenset(): 3, full2: 3}
    h = att.noise_half_widths(att.coefficients(2), counts, 0.5, 4)
    # phi_0 = (v(0) - v() + v(01) - v(1)) / 2: variance sd^2 (1/4 + 1/12 + 1/12 + 1/4)
    assert h == pytest.approx([2.776 * 0.5 * math.sqrt(2 / 3)] * 2)
    one = att.noise_half_widths(att.coefficients(1), {frozenset(): 3, frozenset({0}): 3},
                                0.5, 4)
    assert one == pytest.approx([2.776 * 0.5 * math.sqrt(2 / 3)])
    assert att.noise_half_widths(att.coefficients(2), counts, 0.0, 4) == [0, 0]
    share = att.Share("code", "code", 0.2, 1.0, None, True, 0.5)
    assert share.interval == (pytest.approx(-0.3), pytest.approx(0.7))
    assert share.to_dict()["interval"] == [pytest.approx(-0.3), pytest.approx(0.7)]


def test_text_marks_noise_env_and_residual():
    text = str(_result([att.Share("data train", "data", 4.9, 0.98, None, False),
                        att.Share("code", "code", 0.01, 0.02, None, True)], floor=0.05,
                       env=True, rnew=14.91))
    assert "  code         +0.010  (2%)  within noise" in text
    assert "  replayed     10 -> 14.91 (+4.910)" in text
    assert "env differs (not replayable): its part, if any, is in the residual +0.090" in text


def test_to_frame():
    pytest.importorskip("pandas")
    df = _result([att.Share("data train", "data", 5.0, 1.0, None, False)]).to_frame()
    assert list(df.columns) == ["metric", "group", "kind", "value", "share", "stderr",
                                "within_noise", "interval", "noise_floor", "residual"]
    assert df.iloc[0]["group"] == "data train" and df.iloc[0]["value"] == 5.0


def test_nothing_changed_says_so():
    r = att.Attribution(old={"oid": "a" * 32, "name": "train", "version": 1},
                        new={"oid": "b" * 32, "name": "train", "version": 5},
                        command=("python", "train.py"), groups=(), method="exact", orders=0,
                        budget=None, metrics=(), runs=(), env_differs=False,
                        unchanged=("n",))
    assert str(r) == ("train@1 -> train@5: no numeric metric changed (n is the same in both), "
                      "so nothing was replayed; name one with --metric to replay it anyway")
    assert r.to_dict()["unchanged"] == ["n"] and r.to_dict()["runs_made"] == 0
