"""``mlver explain`` reports what it measured, and no more (issue 19 §7, a new user's trial):

- a residual inside the noise is marked ``within noise`` (text and JSON), like a group's value;
- when no group differs, the two versions share one configuration: the noise line says its
  replays are of that one configuration, not "of each version";
- by default only metrics whose recorded value changed are replayed; when none did,
  nothing runs at all.

The train script of ``test_replay`` (a known function of its inputs, seeded noise).
"""

from __future__ import annotations

import json
import math

import pytest

from mlver.explain.attribute import decimals
from _fixtures import assert_ok, cli, commit_all, mrepo, proj, write
from test_replay import params, record, setup, train

__all__ = ["mrepo", "proj"]


def _twice_with_noise(mrepo, proj, tmp_path, monkeypatch):
    """m@1 and m@2 recorded from the same data, code and params: only the script's seeded
    noise (sd 0.5, drawn from how many times it ran) moves ``m`` between them."""
    setup(proj)
    write(proj / "train.py", train(5.0))
    write(proj / "params.yaml", params(k=1, noise=0.5))
    commit_all(proj, "train")
    write(proj / "data/a.txt", "2\n")
    monkeypatch.setenv("EXPLAIN_COUNT", str(tmp_path / "count"))
    record(mrepo)
    record(mrepo)
    return tmp_path / "count"


def test_one_shared_configuration_is_named_and_its_residual_is_within_noise(
        mrepo, proj, tmp_path, monkeypatch):
    count = _twice_with_noise(mrepo, proj, tmp_path, monkeypatch)
    r = mrepo.explain("m@1", "m@2")
    assert [m.metric for m in r.metrics] == ["m"]  # files did not change: not replayed
    assert r.groups == () and len(r.runs) == 3 and count.read_text() == "x" * (2 + 3)
    (m,) = r.metrics
    assert m.replayed_change == 0.0 and m.residual == m.change != 0
    # the two recorded runs are one draw each; the replayed means cancel exactly; one
    # configuration replayed 3 times gives the sd 2 degrees of freedom
    assert m.noise_df == 2
    half = 4.303 * m.noise_sd * math.sqrt(2)
    assert m.residual_half_width == pytest.approx(half, abs=1e-12)
    assert abs(m.residual) < half and m.residual_within_noise
    d = decimals(m.change, m.replayed_change)  # the text's decimals
    lines = str(r).splitlines()
    assert lines[-2] == (f"  noise floor  ±{m.noise_floor:.{d}f}  (sd {m.noise_sd:.2g} over 3 "
                         "replays of the configuration both versions share; ± is a 95% "
                         "interval)")
    assert lines[-1] == (f"  residual {m.residual:+.{d}f} ±{half:.{d}f}  within noise: the "
                         "recorded change that replay did not reproduce is no larger than "
                         "the replays' own noise")
    j = json.loads(assert_ok(cli("explain", "m@1", "m@2", "--json")))["metrics"]["m"]
    assert j["residual_within_noise"] is True
    assert j["residual_interval"] == [pytest.approx(m.residual - half),
                                      pytest.approx(m.residual + half)]


def test_a_residual_outside_the_noise_is_not_within_noise(mrepo, proj, tmp_path, monkeypatch):
    """Records made without the noise, replays with it: the recorded change is the data's
    +8 exactly; with the replays' noise the residual is measured against sqrt(2 + 2/3) sd."""
    setup(proj)
    write(proj / "train.py", train(5.0))
    write(proj / "params.yaml", params(k=1, noise=0.5))
    commit_all(proj, "train")
    write(proj / "data/a.txt", "2\n")
    record(mrepo)
    write(proj / "data/a.txt", "10\n")
    write(proj / "data/extra.txt", "40\n")  # read, not recorded: +40 the replays never see
    record(mrepo)
    monkeypatch.setenv("EXPLAIN_COUNT", str(tmp_path / "count"))
    r = mrepo.explain("m@1", "m@2", metrics="m")
    (m,) = r.metrics
    half = 2.776 * m.noise_sd * math.sqrt(2 + 2 / 3)
    assert m.residual_half_width == pytest.approx(half, abs=1e-12)
    assert m.residual > half and not m.residual_within_noise
    line = next(x for x in str(r).splitlines() if x.startswith("  residual "))
    assert line == (f"  residual {m.residual:+.2f} ±{half:.2f}: the recorded change that "
                    "replay did not reproduce (nondeterminism, or something the record does "
                    "not hold)")
    assert r.to_dict()["metrics"]["m"]["residual_within_noise"] is False


def test_no_changed_metric_replays_nothing(mrepo, proj, tmp_path, monkeypatch):
    setup(proj)
    write(proj / "train.py", train(5.0))
    write(proj / "params.yaml", params(k=1))
    commit_all(proj, "train")
    write(proj / "data/a.txt", "1 3\n")
    record(mrepo)
    write(proj / "data/a.txt", "2 2\n")  # the same mean: m does not move, nor files
    record(mrepo)
    count = tmp_path / "count"
    monkeypatch.setenv("EXPLAIN_COUNT", str(count))
    res = cli("explain", "m@1", "m@2")
    assert assert_ok(res).splitlines() == [
        "m@1 -> m@2: no numeric metric changed (files, m are the same in both), so nothing "
        "was replayed; name one with --metric to replay it anyway"]
    assert res.stderr == "" and not count.exists()  # no plan, no replay
    j = json.loads(assert_ok(cli("explain", "m@1", "m@2", "--json")))
    assert (j["metrics"], j["runs"], j["runs_made"], j["unchanged"]) == ({}, [], 0,
                                                                          ["files", "m"])
    assert not count.exists()
    # named, an unchanged metric is replayed: its data group's part is 0
    r = mrepo.explain("m@1", "m@2", metrics="m")
    assert [m.metric for m in r.metrics] == ["m"] and r.unchanged == ()
    assert len(r.runs) == 2 + 4 and count.read_text() == "x" * 6
    assert r.metrics[0].shares[0].value == 0.0


def test_only_changed_metrics_are_replayed_by_default(mrepo, proj):
    setup(proj)
    write(proj / "train.py", train(5.0))
    write(proj / "params.yaml", params(k=1))
    commit_all(proj, "train")
    write(proj / "data/a.txt", "1\n")
    record(mrepo)
    write(proj / "data/a.txt", "3\n")  # m moves, files (1) does not
    record(mrepo)
    r = mrepo.explain("m@1", "m@2")
    assert [m.metric for m in r.metrics] == ["m"] and r.unchanged == ("files",)
    assert r.to_dict()["unchanged"] == ["files"]
