"""``mlver explain`` (issue 15): replay a recorded run with inputs swapped and attribute each
metric's change to the changed groups by Shapley values.

The pipeline's metric is a known function of its inputs (the mean of each data file, a
param ``k``, a constant ``C`` in the code), so the true contributions are known exactly.
Everything is real: git worktrees, the store, the recorded command run by a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlver.base.errors import ReplayError
from _fixtures import (assert_error, assert_ok, cli, commit_all, git, mrepo, proj,
                       publish_variant, write)

__all__ = ["mrepo", "proj"]

PY = sys.executable

TRAIN = '''
import glob, json, os, random, sys, time
import yaml

C = {c}

if "mlver-replay-" in os.getcwd() and os.environ.get("EXPLAIN_HANG"):
    open(os.environ["EXPLAIN_HANG"], "w").write(str(os.getpid()))
    time.sleep(120)
if os.environ.get("EXPLAIN_COUNT"):  # how many times the command ran, outside the repo
    with open(os.environ["EXPLAIN_COUNT"], "a") as f:
        f.write("x")
p = yaml.safe_load(open("params.yaml")) or {{}}
means = {{}}
for path in sorted(glob.glob("data/*.txt")):
    nums = [float(t) for t in open(path).read().split() if not t.startswith("#")]{parse}
    means[os.path.basename(path)[:-4]] = sum(nums) / len(nums)
mode = p.get("mode", "add")
if mode == "add":
    m = sum(means.values()) + 10 * p["k"] + p.get("j", 0) + C
else:
    m = means["a"] * p["k"] + C
if os.environ.get("EXPLAIN_COUNT") and p.get("noise"):  # seeded noise of a known sd
    m += random.Random(len(open(os.environ["EXPLAIN_COUNT"]).read())).gauss(0, p["noise"])
json.dump({{"m": m, "files": len(means), "label": "x"}}, open("metrics.json", "w"))
'''


def train(c: float, strict_parse: bool = False) -> str:
    # strict_parse: a line starting with "#" is an error (the old code cannot read new data)
    parse = ("\n    if any(t.startswith('#') for t in open(path).read().split()): "
             "raise SystemExit('cannot parse ' + path)") if strict_parse else ""
    return TRAIN.format(c=c, parse=parse)


def setup(proj, ignore_params: bool = False) -> None:
    write(proj / ".gitignore", ".mlver/\ndata/\nmetrics.json\n"
          + ("params.yaml\n" if ignore_params else ""))
    commit_all(proj, "ignore data")


def record(repo, slots=("a",)):
    return repo.execute("m", [PY, "train.py"], inputs={s: f"data/{s}.txt" for s in slots},
                        params="params.yaml", metrics="metrics.json")


def params(**kw) -> str:
    return "".join(f"{k}: {json.dumps(v)}\n" for k, v in kw.items())


def worktrees(root) -> list[str]:
    return [l for l in git(root, "worktree", "list", "--porcelain").splitlines()
            if l.startswith("worktree ")]


def snapshot_of(root: Path) -> dict:
    """Every file of the workspace (outside .git and .mlver) with its bytes."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", ".mlver")]
        for f in files:
            p = Path(dirpath) / f
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def values(result, metric="m") -> dict:
    m = next(x for x in result.metrics if x.metric == metric)
    return {s.group: s.value for s in m.shares}


@pytest.fixture
def additive(mrepo, proj, request):
    """m@1: mean 2, k 1, C 5 (m = 17); m@2: mean 4.5, k 1.5, C 7 (m = 26.5). The code and
    params change by commit, or (``dirty``) uncommitted with params.yaml ignored by git."""
    dirty = getattr(request, "param", False)
    setup(proj, ignore_params=dirty)
    write(proj / "train.py", train(5.0))
    write(proj / "params.yaml", params(k=1))
    commit_all(proj, "train")
    write(proj / "data/a.txt", "1 2 3\n")
    record(mrepo)
    write(proj / "data/a.txt", "4 5\n")
    write(proj / "params.yaml", params(k=1.5))
    write(proj / "train.py", train(7.0))
    if not dirty:
        commit_all(proj, "C 7, k 1.5")
    record(mrepo)
    return mrepo


# -- exactness -------------------------------------------------------------------------------


@pytest.mark.parametrize("additive", [False, True], indirect=True, ids=["committed", "dirty"])
def test_additive_metric_splits_exactly(additive, proj):
    repo = additive
    before = snapshot_of(proj)
    r = repo.explain("m@1", "m@2", metrics="m")
    v = values(r)
    assert set(v) == {"data a", "params", "code"}
    assert v["data a"] == pytest.approx(2.5, abs=1e-9)
    assert v["params"] == pytest.approx(5.0, abs=1e-9)
    assert v["code"] == pytest.approx(2.0, abs=1e-9)
    (m,) = r.metrics
    assert (m.old, m.new) == (17.0, 26.5)
    assert m.replayed_old == pytest.approx(17.0, abs=1e-9)
    assert m.replayed_new == pytest.approx(26.5, abs=1e-9)
    assert sum(v.values()) == pytest.approx(m.change, abs=1e-9)
    assert m.residual == pytest.approx(0.0, abs=1e-9) and m.noise_floor == 0.0
    assert r.method == "exact" and len(r.runs) == 8 + 4 and r.runs_made == 12
    # the user's workspace is never touched, and no worktree is left
    assert snapshot_of(proj) == before
    assert len(worktrees(proj)) == 1
    text = str(r)
    assert text.splitlines()[0].startswith("m@1 -> m@2: m 17 -> 26.5 (+9.500), by replay "
                                           "(8 runs + 4 for noise, ")
    assert "  params       +5.000  (53%)" in text
    if repo.show("m@2")[1].code.patch is not None:
        assert any("params.yaml" in n and "recorded values" in n for n in r.notes)


def test_interaction_splits_as_shapley_says(mrepo, proj):
    setup(proj)
    write(proj / "train.py", train(5.0))
    write(proj / "params.yaml", params(mode="mul", k=1))
    commit_all(proj, "train")
    write(proj / "data/a.txt", "2\n")
    record(mrepo)
    write(proj / "data/a.txt", "3 5\n")     # mean 2 -> 4
    write(proj / "params.yaml", params(mode="mul", k=3))  # k 1 -> 3
    commit_all(proj, "k 3")
    record(mrepo)
    r = mrepo.explain("m@1", "m@2", metrics=["m"])
    v = values(r)
    assert set(v) == {"data a", "params"}  # the commit changed params.yaml only: no code
    # v(none) = 2*1+5, v(data) = 4*1+5, v(params) = 2*3+5, v(both) = 4*3+5
    assert v["data a"] == pytest.approx(0.5 * ((4 - 2) + (12 - 6)), abs=1e-9)
    assert v["params"] == pytest.approx(0.5 * ((6 - 2) + (12 - 4)), abs=1e-9)
    assert len(r.runs) == 4 + 4


def test_split_params_gives_one_group_per_key(mrepo, proj):
    setup(proj)
    write(proj / "train.py", train(5.0))
    write(proj / "params.yaml", "# settings\nk: 1\nj: 0\n")
    commit_all(proj, "train")
    write(proj / "data/a.txt", "1\n")
    record(mrepo)
    write(proj / "params.yaml", "# settings\nk: 2\nj: 3\n")
    commit_all(proj, "k 2, j 3")
    record(mrepo)
    r = mrepo.explain("m@1", "m@2", split_params=True)
    assert values(r) == pytest.approx({"params k": 10.0, "params j": 3.0}, abs=1e-9)
    assert [g["group"] for g in r.groups] == ["params j", "params k"]
    one = mrepo.explain("m@1", "m@2")
    assert values(one) == pytest.approx({"params": 13.0}, abs=1e-9)
    assert one.runs_made == 0  # all of A and all of B: the same bytes as the split run's


def test_more_than_five_groups_are_sampled_within_the_budget(mrepo, proj):
    slots = [f"d{i}" for i in range(6)]
    setup(proj)
    write(proj / "train.py", train(5.0))
    write(proj / "params.yaml", params(k=1))
    commit_all(proj, "train")
    for s in slots:
        write(proj / f"data/{s}.txt", "1\n")
    record(mrepo, slots)
    for i, s in enumerate(slots):
        write(proj / f"data/{s}.txt", f"{1 + i}\n")  # d_i: +i
    write(proj / "params.yaml", params(k=2))       # +10
    record(mrepo, slots)
    r = mrepo.explain("m@1", "m@2", metrics="m", budget=24)
    assert r.method == "sampled" and r.budget == 24 and r.orders >= 2
    assert len([x for x in r.runs if x.repeat == 0]) <= 24
    (m,) = r.metrics
    v = {s.group: s for s in m.shares}
    assert len(v) == 6  # d0 did not change
    for i in range(1, 6):
        assert v[f"data d{i}"].value == pytest.approx(float(i), abs=1e-9)
        assert v[f"data d{i}"].stderr == pytest.approx(0.0, abs=1e-9)  # additive: no spread
    assert v["params"].value == pytest.approx(10.0, abs=1e-9)
    assert sum(s.value for s in m.shares) == pytest.approx(m.change, abs=1e-9)
    assert "sampled: " in str(r) and " +10 ±0 " in str(r)
    with pytest.raises(ReplayError, match="raise --budget to at least 7"):
        mrepo.explain("m@1", "m@2", budget=5)


# -- noise, failures, cache, interruption ----------------------------------------------------


def _noisy(mrepo, proj, tmp_path, monkeypatch):
    """m@1 -> m@2: data +8, code +0.02, and every run adds Gaussian noise of sd 0.5 (seeded
    by the run's number, so the test is deterministic): the code's part is inside it."""
    setup(proj)
    write(proj / "train.py", train(5.0))
    write(proj / "params.yaml", params(k=1, noise=0.5))
    commit_all(proj, "train")
    write(proj / "data/a.txt", "2\n")
    record(mrepo)
    write(proj / "data/a.txt", "10\n")            # +8
    write(proj / "train.py", train(5.02))          # +0.02: far inside the noise
    commit_all(proj, "C 5.02")
    record(mrepo)
    monkeypatch.setenv("EXPLAIN_COUNT", str(tmp_path / "count"))


def _pooled(runs, n_groups, repeats):
    import statistics

    ends = {(): [], "all": []}
    for run in runs:
        key = () if not run.groups else "all" if len(run.groups) == n_groups else None
        if key is not None:
            ends[key].append(run.metrics["m"])
    assert [len(v) for v in ends.values()] == [repeats, repeats]
    ss = sum(statistics.variance(v) * (len(v) - 1) for v in ends.values())
    return (ss / (2 * repeats - 2)) ** 0.5, ends


def test_noise_comes_from_repeated_replays_of_both_versions(mrepo, proj, tmp_path, monkeypatch):
    import math

    _noisy(mrepo, proj, tmp_path, monkeypatch)
    r = mrepo.explain("m@1", "m@2", metrics="m")
    assert r.repeats == 3 and len(r.runs) == 4 + 2 * 2  # 3 replays each of m@1 and m@2
    (m,) = r.metrics
    sd, ends = _pooled(r.runs, 2, 3)
    assert m.noise_sd == pytest.approx(sd, abs=1e-12) and m.noise_df == 4
    assert 0.2 < sd < 1.0  # the script's noise has sd 0.5
    assert m.noise_floor == pytest.approx(2.776 * sd, abs=1e-12)
    # the two ends are the means of their replays; the values add up to their difference
    assert m.replayed_old == pytest.approx(sum(ends[()]) / 3, abs=1e-12)
    assert m.replayed_new == pytest.approx(sum(ends["all"]) / 3, abs=1e-12)
    v = {s.group: s for s in m.shares}
    assert v["data a"].value + v["code"].value == pytest.approx(m.replayed_change, abs=1e-9)
    # two groups, both ends measured 3 times: each value's variance is sd^2 * 2/3
    half = 2.776 * sd * math.sqrt(2 / 3)
    for g in v.values():
        assert g.half_width == pytest.approx(half, abs=1e-12)
        assert g.interval == (pytest.approx(g.value - half), pytest.approx(g.value + half))
    assert v["code"].within_noise and not v["data a"].within_noise
    lo, hi = v["data a"].interval
    assert lo < 8 < hi and lo > 0.02  # the true effect, clear of zero
    text = str(r).splitlines()
    code = next(l for l in text if l.startswith("  code"))
    assert code.endswith("within noise") and f" ±{half:.3f} " in code
    assert f"  noise floor  ±{2.776 * sd:.3f}  (sd {sd:.2g} over 3 replays of each version; " \
        "± is a 95% interval)" in text


def test_repeats_option_and_json(mrepo, proj, tmp_path, monkeypatch):
    _noisy(mrepo, proj, tmp_path, monkeypatch)
    j = json.loads(assert_ok(cli("explain", "m@1", "m@2", "--metric", "m", "--repeats", "5",
                                 "--json")))
    assert j["repeats"] == 5 and j["runs_made"] == 4 + 2 * 4
    assert sorted({(tuple(x["groups"]), x["repeat"]) for x in j["runs"] if x["repeat"]}) == \
        sorted({(g, r) for g in ((), ("data a", "code")) for r in range(1, 5)})
    m = j["metrics"]["m"]
    assert (m["repeats"], m["noise_df"]) == (5, 8)
    groups = {g["group"]: g for g in m["groups"]}
    assert groups["data a"]["within_noise"] is False
    for g in groups.values():  # "within noise" is exactly "the interval holds 0"
        lo, hi = g["interval"]
        assert hi - g["value"] == pytest.approx(g["value"] - lo) and hi > lo
        assert g["within_noise"] is (lo <= 0 <= hi)
    # both ends measured 5 times, the two mixed subsets once: variance sd^2 * (1/2 + 1/10)
    half = 2.306 * m["noise_sd"] * 0.6 ** 0.5
    assert hi - g["value"] == pytest.approx(half)
    res = cli("explain", "m@1", "m@2", "--repeats", "1")
    assert res.exit_code == 2 and "--repeats" in res.output
    with pytest.raises(ReplayError, match="repeats must be a whole number of at least 2, not 1"):
        mrepo.explain("m@1", "m@2", repeats=1)


def test_a_failing_replay_is_reported_with_its_status_and_log(mrepo, proj):
    setup(proj)
    write(proj / "train.py", train(5.0, strict_parse=True))
    write(proj / "params.yaml", params(k=1))
    commit_all(proj, "train")
    write(proj / "data/a.txt", "1\n")
    record(mrepo)
    write(proj / "data/a.txt", "#header\n2\n")  # the old code cannot read this
    write(proj / "train.py", train(5.0))
    commit_all(proj, "skip comments")
    record(mrepo)
    res = cli("explain", "m@1", "m@2")
    assert res.exit_code == 1
    err = res.stderr.splitlines()
    assert "  | cannot parse data/a.txt" in err
    assert err[-1].startswith("Error: the replay with data a from m@2, the rest from m@1 "
                              "failed: it exited with status 1; its log ends with: cannot "
                              "parse data/a.txt")
    assert res.stdout == ""
    assert len(worktrees(proj)) == 1
    with pytest.raises(ReplayError) as e:
        mrepo.explain("m@1", "m@2")
    assert e.value.command_exit_code == 1 and "cannot parse data/a.txt" in e.value.tail


def test_the_cache_reruns_nothing(additive, proj, tmp_path, monkeypatch):
    count = tmp_path / "count"
    monkeypatch.setenv("EXPLAIN_COUNT", str(count))
    first = additive.explain("m@1", "m@2")
    assert count.read_text() == "x" * 12 and first.runs_made == 12
    count.unlink()
    res = cli("explain", "m@1", "m@2", "--metric", "files", "--json")
    j = json.loads(assert_ok(res))
    assert not count.exists()  # the command did not run at all
    assert j["runs_made"] == 0 and j["runs_cached"] == 12
    assert all(run["cached"] for run in j["runs"])
    assert "12 cached" in res.stderr
    again = additive.explain("m@1", "m@2", cache=False)
    assert count.read_text() == "x" * 12 and again.runs_made == 12
    count.unlink()
    additive.gc(grace=0)  # the cache is derived data: gc drops it, and replays run again
    assert additive.explain("m@1", "m@2").runs_made == 12 and count.read_text() == "x" * 12


def test_unrecorded_reads_and_residual(mrepo, proj):
    setup(proj)
    write(proj / "train.py", train(5.0))
    write(proj / "params.yaml", params(k=1))
    commit_all(proj, "train")
    write(proj / "data/a.txt", "1\n")
    write(proj / "data/extra.txt", "5\n")   # read by the command, not recorded
    record(mrepo)
    write(proj / "data/a.txt", "3\n")
    write(proj / "data/extra.txt", "9\n")
    record(mrepo)
    assert mrepo.show("m@2")[1].run.trace.unrecorded == ("data/extra.txt",)
    r = mrepo.explain("m@1", "m@2", metrics="m")
    (m,) = r.metrics
    assert (m.old, m.new) == (21.0, 27.0)
    assert (m.replayed_old, m.replayed_new) == (16.0, 18.0)  # the scratch has no extra.txt
    assert values(r) == pytest.approx({"data a": 2.0}, abs=1e-9)
    assert m.residual == pytest.approx(4.0, abs=1e-9)
    text = str(r)
    assert "  replayed     16 -> 18 (+2)" in text
    assert "  residual +4: the recorded change that replay did not reproduce" in text
    assert "note: the runs read data/extra.txt, which the records do not hold" in text


def test_env_that_differs_is_named_and_left_in_the_residual(additive):
    import dataclasses

    _oid, rec = additive.show("m@2")
    publish_variant(additive, "m@2", env=dataclasses.replace(rec.env, python="3.99.0"))
    r = additive.explain("m@1", "m@3", metrics="m")
    assert r.env_differs and r.to_dict()["env_differs"] is True
    assert "  env differs (not replayable): its part, if any, is in the residual 0" in str(r)
    assert values(r) == pytest.approx({"data a": 2.5, "params": 5.0, "code": 2.0}, abs=1e-9)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_explain_leaves_no_worktree(additive, proj, tmp_path, sig):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    hang = tmp_path / "pid"
    env = dict(os.environ, TMPDIR=str(scratch), EXPLAIN_HANG=str(hang))
    exe = os.path.join(os.path.dirname(PY), "mlver")
    argv = [exe] if os.path.exists(exe) else [PY, "-m", "mlver"]
    p = subprocess.Popen([*argv, "explain", "m@1", "m@2"], cwd=proj, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not hang.exists() or not hang.read_text():
        assert p.poll() is None, p.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = int(hang.read_text())
    # the scratch is a plain copy in TMPDIR: no git worktree of the repository, no .git
    assert len(worktrees(proj)) == 1 and os.listdir(scratch)
    (one,) = os.listdir(scratch)
    assert not (scratch / one / "work" / ".git").exists()
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Error: interrupted" in err
    assert len(worktrees(proj)) == 1
    assert os.listdir(scratch) == []
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


# -- refusals --------------------------------------------------------------------------------


def test_refuses_a_record_without_a_command(mrepo, proj):
    setup(proj)
    write(proj / "data/a.txt", "1\n")
    write(proj / "metrics.json", '{"m": 1}')
    mrepo.snapshot("m", inputs={"a": "data/a.txt"}, metrics="metrics.json")
    write(proj / "data/a.txt", "2\n")
    write(proj / "metrics.json", '{"m": 2}')
    mrepo.snapshot("m", inputs={"a": "data/a.txt"}, metrics="metrics.json")
    assert_error(cli("explain", "m@1", "m@2"), "m@1 has no recorded command",
                 "made by mlver snapshot")


def test_refuses_two_names(additive, proj):
    additive.execute("other", [PY, "train.py"], inputs={"a": "data/a.txt"},
                     params="params.yaml", metrics="metrics.json")
    assert_error(cli("explain", "m@1", "other@1"),
                 "m@1 and other@1 are versions of different names")


def test_refuses_inputs_whose_bytes_are_not_in_the_store(mrepo, proj):
    setup(proj)
    write(proj / "train.py", train(5.0))
    write(proj / "params.yaml", params(k=1))
    commit_all(proj, "train")
    big = " ".join(["1"] * 100_000) + "\n"  # > 128 KiB: a loose object
    write(proj / "data/a.txt", big)
    record(mrepo)
    write(proj / "data/a.txt", "2\n")
    record(mrepo)
    oid = mrepo.show("m@1")[1].inputs["a"].oid
    path = proj / ".mlver" / "objects" / oid[:2] / oid[2:]
    assert path.exists()
    os.chmod(path, 0o644)
    path.unlink()
    assert_error(cli("explain", "m@1", "m@2"), "input a (data/a.txt) of m@1 is not in the store",
                 "mlver pull")


def test_refuses_an_unknown_metric(additive):
    assert_error(cli("explain", "m@1", "m@2", "--metric", "nope"),
                 "'nope' is not a numeric metric of both m@1 and m@2 (they have: files, m)")


# -- the command line and the diff -------------------------------------------------------------


def test_cli_text_json_and_plan(additive, proj):
    res = cli("explain", "m@1", "m@2")
    out = assert_ok(res)
    assert out.splitlines()[0].startswith("m@1 -> m@2: m 17 -> 26.5 (+9.500), by replay")
    assert "files" not in out  # unchanged metrics are left out by default
    plan = res.stderr.splitlines()
    assert plan[0] == f"Replaying the command recorded with m@2: {PY} train.py"
    assert plan[1] == "  3 input groups differ: data a, code, params"
    assert plan[2].startswith("  8 runs + 4 for noise, 0 cached; about ")
    j = json.loads(assert_ok(cli("explain", "m@1", "m@2", "--json", "--jobs", "2")))
    assert j["method"] == "exact" and j["runs_cached"] == 12
    groups = {g["group"]: g for g in j["metrics"]["m"]["groups"]}
    assert groups["params"]["value"] == pytest.approx(5.0)
    assert groups["params"]["share"] == pytest.approx(5.0 / 9.5)
    assert [g["group"] for g in j["groups"]] == ["data a", "code", "params"]


def test_jobs_run_in_parallel_with_the_same_result(additive):
    r = additive.explain("m@1", "m@2", jobs=2, cache=False)
    assert values(r) == pytest.approx({"data a": 2.5, "params": 5.0, "code": 2.0}, abs=1e-9)


def test_diff_attribute_appends_the_section(additive):
    out = assert_ok(cli("diff", "m@1", "m@2", "--attribute"))
    lines = out.splitlines()
    at = next(i for i, l in enumerate(lines) if l.startswith("m@1 -> m@2: m 17 -> 26.5"))
    assert at > 1 and lines[0] == "m@1 -> m@2"
    j = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--attribute", "--json")))
    assert j["attribution"]["metrics"]["m"]["replayed_change"] == pytest.approx(9.5)
    res = cli("diff", "m@1", "--attribute")
    assert res.exit_code == 2 and "--attribute needs two revisions" in res.output


def test_python_frame(additive):
    pytest.importorskip("pandas")
    df = additive.explain("m@1", "m@2", metrics="m").to_frame()
    assert sorted(df["group"]) == ["code", "data a", "params"]
    assert df["value"].sum() == pytest.approx(9.5, abs=1e-9)


def test_refuses_a_command_that_names_the_workspace(mrepo, proj):
    from mlver.explain.replay import _runs_tracked_file

    setup(proj)
    write(proj / "train.py", train(5.0))
    write(proj / "params.yaml", params(k=1))
    commit_all(proj, "train")
    write(proj / "data/a.txt", "1\n")
    for v in ("1\n", "2\n"):
        write(proj / "data/a.txt", v)
        mrepo.execute("m", [PY, str(proj / "train.py")], inputs={"a": "data/a.txt"},
                      params="params.yaml", metrics="metrics.json")
    assert_error(cli("explain", "m@1", "m@2"), "the command recorded with m@1 names the "
                 "repository's own folder", "record the run with paths relative")
    # an interpreter in an ignored virtualenv inside the repository is the environment
    write(proj / ".venv/bin/python", "#!/bin/sh\n")
    write(proj / ".gitignore", ".mlver/\ndata/\nmetrics.json\n.venv/\n")
    assert not _runs_tracked_file(str(proj / ".venv/bin/python"), mrepo.workspace)
    assert _runs_tracked_file(str(proj / "train.py"), mrepo.workspace)


def test_same_version_twice_measures_only_the_noise(additive):
    r = additive.explain("m@2", "m@2", metrics="m")
    assert r.groups == () and len(r.runs) == 3
    text = str(r)
    assert "  no replayable input differs" in text and "noise floor" in text


def test_scratch_worktrees_run_no_git_hook(additive, proj, tmp_path):
    hook = proj / ".git" / "hooks" / "post-checkout"
    mark = tmp_path / "hook-ran"
    write(hook, f"#!/bin/sh\ntouch {mark}\n")
    os.chmod(hook, 0o755)
    r = additive.explain("m@1", "m@2", metrics="m")
    assert r.runs_made == 12 and not mark.exists()
