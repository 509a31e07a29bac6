"""Measure ``mlver import-dvc`` on a long DVC history: first import, then one new commit.

    python benchmarks/bench_import_dvc.py [--commits 200] [--files 10000] [--repeat 3]
                                          [--results-json FILE] [--dir DIR]

Builds a DVC project with the real ``dvc`` (its CLI for ``init``, ``add``, ``stage add``
and the first ``repro``; its Python API, ``Repo.reproduce("train")``, for the later
commits, which is the same code without 200 interpreter start-ups):

- ``data/``: ``--files`` small CSV files in 10 folders, tracked by ``data.dvc``;
- stage ``featurize`` (deps ``featurize.py``, ``data``; param ``featurize.k``; out
  ``features.csv``) and stage ``train`` (deps ``train.py``, ``features.csv``; params
  ``train``; out ``model.bin``; metrics ``metrics.json``);
- ``--commits`` commits in all: the first with everything, then one per change of
  ``train.lr`` in ``params.yaml`` (``dvc repro`` of ``train``, ``git commit``). Nothing
  but params changes between commits.

The project gets one commit more than ``--commits``. Then, each a real CLI process (wall
time, interpreter start included; bytecode compiled, as in an installed mlver), in a fresh
store:

1. ``mlver import-dvc --rev-range HEAD~1`` (in a store ``mlver init`` just made): the first
   ``--commits`` commits; target **>= 20 commits/s**;
2. ``mlver import-dvc``: the one commit after them (what a re-import after one new commit
   does); target **<= 5%** of the first import's time;
3. ``mlver import-dvc`` once more: nothing new, it must write nothing.

The sequence runs ``--repeat`` times (fresh store each time; the DVC project is built once)
and the medians are reported. The same two imports are also timed inside one Python process
(``repo.import_dvc()`` twice), which leaves out the start-up costs (Python, mlver and dvc
imports) a CLI process pays each time. Correctness checks (first round): ``train`` has one
version per commit, ``featurize`` and ``data`` one each; the re-import adds exactly
``train@N+1``; the third import nothing; no content is recorded missing; the imported
``data`` tree has the oid mlver computes for the ``data/`` folder itself; ``train`` links
to ``featurize`` in lineage; ``mlver verify`` finds no problem. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

from _common import REPO_ROOT, report_problems, work_dir

TARGET_RATE = 20.0     # commits per second, first import
TARGET_SHARE = 0.05    # re-import after one commit / first import


def _env(work: str) -> dict:
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, DVC_NO_ANALYTICS="1", DVC_STUDIO_OFFLINE="1",
               DVC_SITE_CACHE_DIR=os.path.join(work, "dvc-site"), GIT_CONFIG_GLOBAL=os.devnull)
    env.pop("DVC_UPDATER_ENDPOINT", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed mlver has its bytecode compiled
    return env


def sh(cwd: str, env: dict, *argv: str) -> str:
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed in {cwd}:\n{p.stdout}{p.stderr}")
    return p.stdout


def tool(name: str) -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(exe):
        return [exe]
    if name == "mlver":
        return [sys.executable, "-m", "mlver"]
    sys.exit(f"{name} is not installed next to {sys.executable}; pip install 'mlver[dvc]'")


TRAIN = """import json, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
open("model.bin", "w").write(repr(sorted(p.items())) * 50)
json.dump({"loss": round(1 - p["lr"], 6), "lr": p["lr"]}, open("metrics.json", "w"))
"""
FEATURIZE = """import os
rows = sum(len(f) for _r, _d, f in os.walk("data"))
open("features.csv", "w").write(f"files\\n{rows}\\n")
"""


def set_lr(proj: str, i: int) -> None:
    path = os.path.join(proj, "params.yaml")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(re.sub(r"lr: [0-9.e-]+", f"lr: {i / 10000}", text))


def build(work: str, commits: int, files: int) -> str:
    """The DVC project with ``commits`` commits; returns its folder."""
    proj = os.path.join(work, "proj")
    os.makedirs(os.path.join(proj, "data"))
    env = _env(work)
    dvc = tool("dvc")
    sh(proj, env, "git", "init", "-q", "-b", "main")
    sh(proj, env, "git", "config", "user.name", "Bench")
    sh(proj, env, "git", "config", "user.email", "bench@example.com")
    sh(proj, env, *dvc, "init", "-q")
    for key, value in (("core.analytics", "false"), ("core.check_update", "false"),
                       ("core.autostage", "false")):
        sh(proj, env, *dvc, "config", key, value)
    for i in range(files):
        d = os.path.join(proj, "data", f"part{i % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"rows-{i:06d}.csv"), "w") as f:
            f.write(f"id,value\n{i},{(i * 7919) % 10007}\n")
    with open(os.path.join(proj, "params.yaml"), "w") as f:
        f.write("featurize:\n  k: 3\ntrain:\n  lr: 0.0\n  epochs: 10\n")
    for name, text in (("train.py", TRAIN), ("featurize.py", FEATURIZE)):
        with open(os.path.join(proj, name), "w") as f:
            f.write(text)
    sh(proj, env, *dvc, "add", "-q", "data")
    sh(proj, env, *dvc, "stage", "add", "-q", "-n", "featurize", "-d", "featurize.py", "-d",
       "data", "-p", "featurize.k", "-o", "features.csv", sys.executable + " featurize.py")
    sh(proj, env, *dvc, "stage", "add", "-q", "-n", "train", "-d", "train.py", "-d",
       "features.csv", "-p", "train", "-o", "model.bin", "-M", "metrics.json",
       sys.executable + " train.py")
    sh(proj, env, *dvc, "repro", "-q")
    sh(proj, env, "git", "add", "-A")
    sh(proj, env, "git", "commit", "-q", "-m", "commit 1: data, featurize, train")
    if commits > 1:
        more(proj, work, 2, commits)
    return proj


def more(proj: str, work: str, first: int, last: int) -> None:
    """Commits ``first`` .. ``last``: each a change of train.lr, reproduced and committed
    (in a child process using DVC's Python API)."""
    code = f"""
import os, re, subprocess, sys
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from bench_import_dvc import set_lr
from dvc.repo import Repo
repo = Repo(".")
for i in range({first}, {last} + 1):
    set_lr(".", i)
    repo.reproduce("train", single_item=True)
    subprocess.run(["git", "commit", "-q", "-am", f"commit {{i}}: train.lr"], check=True)
"""
    sh(proj, _env(work), sys.executable, "-c", code)


def timed(cwd: str, env: dict, *args: str) -> tuple[float, str]:
    t = time.perf_counter()
    out = sh(cwd, env, *tool("mlver"), *args)
    return time.perf_counter() - t, out


def one_round(proj: str, work: str, commits: int) -> dict:
    """A fresh store imports the first ``commits`` commits (``--rev-range HEAD~1``), then
    the one commit after them, then nothing; each a CLI process."""
    env = _env(work)
    shutil.rmtree(os.path.join(proj, ".mlver"), ignore_errors=True)
    sh(proj, env, *tool("mlver"), "init")
    first, out1 = timed(proj, env, "import-dvc", "--rev-range", "HEAD~1", "--json")
    second, out2 = timed(proj, env, "import-dvc", "--json")
    third, out3 = timed(proj, env, "import-dvc", "--json")
    return {"first": first, "second": second, "third": third, "rate": commits / first,
            "share": second / first, "json": [json.loads(o) for o in (out1, out2, out3)]}


IN_PROCESS = """
import json, shutil, sys, time
import mlver
proj = sys.argv[1]
shutil.rmtree(proj + "/.mlver", ignore_errors=True)
repo = mlver.Repo.init(proj)
t = time.perf_counter(); repo.import_dvc(rev_range="HEAD~1"); first = time.perf_counter() - t
t = time.perf_counter(); repo.import_dvc(); second = time.perf_counter() - t
print(json.dumps({"first": first, "second": second}))
"""


def check(proj: str, env: dict, got1: dict, got2: dict, got3: dict, total: int,
          problems: list[str]) -> None:
    """The first import wrote ``total - 1`` commits' versions, the second exactly one."""
    names: dict[str, int] = {}
    for v in got1["versions"]:
        names[v["name"]] = names.get(v["name"], 0) + 1
    want = {"data": 1, "featurize": 1, "train": total - 1}
    if names != want:
        problems.append(f"first import wrote {names}, expected {want}")
    if [(v["name"], v["version"]) for v in got2["versions"]] != [("train", total)]:
        problems.append(f"re-import after one commit wrote {got2['versions']}, expected train@{total}")
    if got3["versions"]:
        problems.append(f"a third import wrote {len(got3['versions'])} versions, expected none")
    if got1["missing"] or got2["missing"]:
        problems.append("content was recorded missing although the DVC cache is whole")
    code = ("import mlver, json; r = mlver.Repo('.'); "
            "print(json.dumps([r.show('data@1')[1].outputs['data'].oid, r.content_oid('data')]))")
    a, b = json.loads(sh(proj, env, sys.executable, "-c", code))
    if a != b:
        problems.append(f"imported data tree {a} differs from mlver's own capture {b}")
    graph = json.loads(sh(proj, env, *tool("mlver"), "lineage", "train", "--upstream",
                          "--format", "json"))
    if not any(n["name"] == "featurize" for n in graph["nodes"]):
        problems.append("train is not linked to featurize in lineage")
    v = subprocess.run([*tool("mlver"), "verify"], cwd=proj, env=env, capture_output=True,
                       text=True)
    if v.returncode != 0:
        problems.append(f"mlver verify failed: {v.stdout[-500:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=200)
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--results-json", default=None)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    problems: list[str] = []
    with work_dir(args.dir, "mlver-bench-dvc-") as work:
        t = time.perf_counter()
        proj = build(work, args.commits + 1, args.files)  # + the commit the re-import reads
        print(f"built a DVC project of {args.commits + 1} commits and {args.files:,} data "
              f"files in {time.perf_counter() - t:.0f} s", flush=True)
        rounds = []
        for r in range(args.repeat):
            res = one_round(proj, work, args.commits)
            if r == 0:
                check(proj, _env(work), *res["json"], args.commits + 1, problems)
            rounds.append(res)
            print(f"round {r + 1}: first import {res['first']:.2f} s "
                  f"({res['rate']:.1f} commits/s), re-import after one commit "
                  f"{res['second']:.3f} s ({100 * res['share']:.1f}%), third import "
                  f"{res['third']:.3f} s", flush=True)
        inproc = json.loads(sh(proj, _env(work), sys.executable, "-c", IN_PROCESS, proj))
    rate = statistics.median(r["rate"] for r in rounds)
    first = statistics.median(r["first"] for r in rounds)
    second = statistics.median(r["second"] for r in rounds)
    share = statistics.median(r["share"] for r in rounds)
    third = statistics.median(r["third"] for r in rounds)
    print(f"\nfirst import of {args.commits} commits ({args.files:,} data files): "
          f"median {first:.2f} s = {rate:.1f} commits/s (target >= {TARGET_RATE:g})")
    print(f"re-import after one new commit: median {second:.3f} s = {100 * share:.1f}% of the "
          f"first (target <= {100 * TARGET_SHARE:g}%); with nothing new: {third:.3f} s")
    print(f"the same inside one Python process (repo.import_dvc() twice; interpreter, mlver "
          f"and dvc imported once): {inproc['first']:.2f} s, then {inproc['second']:.3f} s = "
          f"{100 * inproc['second'] / inproc['first']:.1f}%")
    report_problems(problems, "correctness: OK")
    if args.results_json:
        with open(args.results_json, "a", encoding="utf-8") as f:
            for row in ({"bench": "import_dvc", "operation": "first import", "value": rate,
                         "unit": "commits/s", "target": TARGET_RATE, "ok": rate >= TARGET_RATE,
                         "commits": args.commits, "files": args.files, "seconds": first},
                        {"bench": "import_dvc", "operation": "re-import after one commit",
                         "value": 100 * share, "unit": "% of first", "target": 100 * TARGET_SHARE,
                         "ok": share <= TARGET_SHARE, "commits": args.commits,
                         "files": args.files, "seconds": second},
                        {"bench": "import_dvc", "operation": "correctness", "ok": not problems,
                         "problems": problems}):
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
