"""Benchmark `mlver diff` of two versions of a 10,000,000-row, 20-column parquet file.

    python benchmarks/bench_big_table.py [--rows 10000000] [--dir DIR] [--seed 0] [--key]

v2 = v1 with 5% rows appended, 1% of rows changed in one column and one numeric column
shifted by half a standard deviation. Both versions are snapshotted into a fresh store (in
a temporary git repository outside this one); then `mlver diff t@1 t@2` runs as a real CLI
process twice: first run (reads, hashes and profiles both tables, caches the profiles) and
cached run (same pair again). Each run's wall time and peak RSS are measured through a
small launcher process (its RUSAGE_CHILDREN), so nothing else counts. ``--key`` also times
`mlver diff t@1 t@2 --key id` (which reads both tables whole).

Targets: first run <= 25 s and <= 1.5 GB (1536 MiB) peak RSS; cached run <= 1 s.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from _common import report_problems, work_dir

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
N_NUMERIC = 15  # plus id and 4 string columns = 20 columns
CHUNK = 1_000_000
TARGETS = {"first": (25.0, 1536.0), "cached": (1.0, None)}

_LAUNCHER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
secs = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
rss = usage.ru_maxrss / 1024
with open(sys.argv[1], "w") as f:
    json.dump({"seconds": secs, "rss_mib": rss, "code": p.returncode,
               "cpu": usage.ru_utime + usage.ru_stime,
               "stdout": p.stdout.decode(errors="replace"),
               "stderr": p.stderr.decode(errors="replace")}, f)
"""


def _chunk(rng, n: int, first_id: int) -> dict:
    import numpy as np
    cols = {"id": np.arange(first_id, first_id + n, dtype=np.int64)}
    for i in range(N_NUMERIC):
        if i % 3 == 0:
            cols[f"n{i}"] = rng.integers(0, 1000, n)
        else:
            cols[f"n{i}"] = np.round(rng.normal(i, 1 + i, n), 4)
    cols["city"] = rng.choice(["paris", "lyon", "nice", "lille", "nantes", "brest"], n)
    cols["grade"] = rng.choice(list("ABCDEFG"), n, p=[.3, .2, .15, .15, .1, .05, .05])
    cols["name"] = np.char.add("user_", rng.integers(0, 10**9, n).astype(str))
    cols["flag"] = rng.choice(["yes", "no"], n)
    return cols


def generate(directory: str, rows: int, seed: int) -> None:
    """Write v1.parquet and v2.parquet chunk by chunk (seeded; memory of one chunk)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    writers = {}
    try:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            v1 = _chunk(np.random.default_rng([seed, start]), n, start)
            rng = np.random.default_rng([seed, start, 2])
            v2 = dict(v1)
            v2["n4"] = v1["n4"].copy()
            v2["n4"][rng.choice(n, n // 100, replace=False)] += 1.0   # 1% of rows, one column
            v2["n2"] = v1["n2"] + 0.5 * 3.0                           # n2 ~ N(2, 3): +0.5 sd
            for name, cols in (("v1", v1), ("v2", v2)):
                table = pa.table(cols)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(os.path.join(directory, f"{name}.parquet"),
                                                     table.schema)
                writers[name].write_table(table)
        extra = _chunk(np.random.default_rng([seed, rows]), rows // 20, rows)  # +5% rows
        extra["n2"] = extra["n2"] + 1.5
        writers["v2"].write_table(pa.table(extra))
    finally:
        for w in writers.values():
            w.close()


def mlver(work: str, *args: str, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "mlver", *args], cwd=work, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def measure(work: str, argv: list[str], env: dict) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".json") as report:
        subprocess.run([sys.executable, "-c", _LAUNCHER, report.name, *argv], cwd=work, env=env,
                       check=True, stdin=subprocess.DEVNULL)
        return json.load(open(report.name))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--dir", help="an empty folder outside the repository (default: temporary)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--key", action="store_true", help="also time a diff with --key id")
    ap.add_argument("--generate-only", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        generate(args.generate_only, args.rows, args.seed)
        return
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")
    problems: list[str] = []
    with work_dir(args.dir, "mlver-bench-big-table-") as work:
        data = os.path.join(work, "gen")
        os.makedirs(data)
        t = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate-only", data, "--rows",
                        str(args.rows), "--seed", str(args.seed)], check=True)
        sizes = [os.path.getsize(os.path.join(data, f)) >> 20 for f in ("v1.parquet", "v2.parquet")]
        print(f"generated {args.rows:,} rows x 20 columns in {time.perf_counter() - t:.1f} s "
              f"(v1 {sizes[0]} MiB, v2 {sizes[1]} MiB)", flush=True)
        repo = os.path.join(work, "repo")
        os.makedirs(os.path.join(repo, "data"))
        for argv in (["git", "init", "-q"], ["git", "commit", "-q", "--allow-empty", "-m", "init"]):
            subprocess.run(argv, cwd=repo, env=env, check=True)
        mlver(repo, "init", env=env)
        target = os.path.join(repo, "data", "t.parquet")
        for version in ("v1", "v2"):
            os.replace(os.path.join(data, f"{version}.parquet"), target)
            mlver(repo, "snapshot", "t", "-o", "t=data/t.parquet", "--kind", "dataset", env=env)
        load = os.getloadavg()[0]
        print(f"load average before the runs: {load:.1f} on {os.cpu_count()} cores "
              "(other processes slow the wall times; CPU times are what mlver used)", flush=True)
        results = []
        runs = [("first", ["diff", "t@1", "t@2"]), ("cached", ["diff", "t@1", "t@2"]),
                ("json", ["diff", "t@1", "t@2", "--json"])]
        if args.key:
            runs.append(("key", ["diff", "t@1", "t@2", "--key", "id"]))
        for name, cmd in runs:
            r = measure(repo, [sys.executable, "-m", "mlver", *cmd], env)
            if r["code"] != 0:
                problems.append(f"{name}: mlver exited {r['code']}: {r['stderr'][-500:]}")
            print(f"{name + ' run':<12} {r['seconds']:7.2f} s  CPU {r['cpu']:6.2f} s  peak RSS "
                  f"{r['rss_mib']:6.0f} MiB   (mlver {' '.join(cmd)})", flush=True)
            results.append((name, r))
        text = results[0][1]["stdout"]
        print(text.strip())
        if results[1][1]["stdout"] != text:
            problems.append("the cached diff printed something else than the first one")
        d = json.loads(results[2][1]["stdout"])["outputs"]["t"]["table"]
        want = {"rows_added": args.rows + args.rows // 20, "rows_removed": args.rows,
                "rows_old": args.rows, "rows_new": args.rows + args.rows // 20}
        # every row changed in n2 (shifted): without a key all old rows are removed
        got = {k: d[k] for k in want}
        if got != want:
            problems.append(f"row counts {got}, expected {want}")
        drifted = {e["column"] for e in d["drift"] if e["drifted"]}
        if drifted != {"n2"}:
            problems.append(f"drifted columns {sorted(drifted)}, expected ['n2']")
        for name, r in results:
            if name in TARGETS:
                secs, rss = TARGETS[name]
                print(f"total, {name} diff{'':<8} {r['seconds']:7.2f} s   (target <= {secs:g} s)")
                if rss is not None:
                    print(f"peak RSS, {name} diff    {r['rss_mib']:7.0f} MiB (target <= {rss:g})")
        report_problems(problems, "correctness: row counts and drifted columns as generated")


if __name__ == "__main__":
    main()
