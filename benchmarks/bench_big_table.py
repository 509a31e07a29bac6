"""Benchmark `mlver diff` of big parquet tables: issue 23's targets, side by side.

    python benchmarks/bench_big_table.py [--quick] [--huge] [--pandas] [--case NAME ...]
        [--small-rows 1000000] [--unkeyed-rows 10000000] [--keyed-rows 20000000]
        [--huge-rows 100000000] [--seed 0] [--dir DIR] [--keep] [--results-json FILE]

Cases (each `mlver` run is a real CLI process in a fresh store, so a "first" run never
finds a cached profile):
- small:   1M rows x 20 columns, `mlver diff t@1 t@2` and `... --key id`, each <= 3.5 s;
- unkeyed: 10M x 20, `mlver diff t@1 t@2`: first run <= 25 s and <= 1.5 GB, cached <= 1 s;
- keyed:   20M x 6, `mlver diff t@1 t@2 --key id --json` <= 2 GB peak RSS (time printed);
- huge:    (`--huge` only) 100M x 10, the same keyed diff <= 4 min and <= 4 GB, with pandas'
           figure beside it: mlver's pandas path (read_table + diff_tables) under an
           address-space cap, or "cannot run" with the memory it would need, extrapolated
           from a 2M-row run.
`--quick`: unkeyed and keyed on 2M rows (small stays 1M). `--pandas`: also run the pandas
path beside every keyed case (capped at the machine's available memory).

Data: pyarrow, written row group by row group (1M rows; never a whole table in memory),
seeded. v2 = v1 with ~1% of rows removed, ~1% changed in 1-2 numeric columns, and 2% more
rows appended; the generator counts what it did, and every diff's counts are CHECKED
against it (keyed: added / removed / changed; unkeyed: added = appended + changed, removed =
removed + changed). A wrong count is a correctness problem: the script exits 1. Missed
targets are printed MISS (exit 0). Generated data is cached in --dir by its parameters
(rows, columns, seed) and reused by a later run with the same --dir; the folder is deleted
at the end unless --keep. Wall time and peak RSS of each `mlver` process come from a small
launcher process (its RUSAGE_CHILDREN), so nothing else counts.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
CHUNK = 1_000_000
STRINGS = ["city", "grade", "name", "flag"]

_LAUNCHER = """
import json, resource, subprocess, sys, time
cap = int(sys.argv[2])
if cap:  # inherited by the child: its whole address space, as pandas would need it
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
t = time.perf_counter()
p = subprocess.run(sys.argv[3:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
secs = time.perf_counter() - t
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    json.dump({"seconds": secs, "rss_mib": usage.ru_maxrss / 1024, "code": p.returncode,
               "cpu": usage.ru_utime + usage.ru_stime,
               "stdout": p.stdout.decode(errors="replace"),
               "stderr": p.stderr.decode(errors="replace")}, f)
"""


# ---------------------------------------------------------------- data

def _layout(cols: int) -> tuple[list[str], list[str]]:
    """(numeric, string) column names besides ``id`` for a table of ``cols`` columns."""
    nstr = 4 if cols >= 20 else (cols - 1) // 4
    return [f"n{i}" for i in range(cols - 1 - nstr)], STRINGS[:nstr]


def _chunk(rng, n: int, first_id: int, cols: int) -> dict:
    import numpy as np
    numeric, strings = _layout(cols)
    out = {"id": np.arange(first_id, first_id + n, dtype=np.int64)}
    for i, name in enumerate(numeric):
        out[name] = (rng.integers(0, 1000, n) if i % 3 == 0
                     else np.round(rng.normal(i, 1 + i, n), 4))
    makers = {
        "city": lambda: rng.choice(["paris", "lyon", "nice", "lille", "nantes", "brest"], n),
        "grade": lambda: rng.choice(list("ABCDEFG"), n, p=[.3, .2, .15, .15, .1, .05, .05]),
        "name": lambda: np.char.add("user_", rng.integers(0, 10**9, n).astype(str)),
        "flag": lambda: rng.choice(["yes", "no"], n)}
    for name in strings:
        out[name] = makers[name]()
    return out


def _edit(v1: dict, rng, n: int, numeric: list[str]) -> tuple[dict, int, int]:
    """v2's part of one row group: 1% rows removed, 1% changed in 1-2 numeric columns."""
    import numpy as np
    k = n // 100
    picked = rng.choice(n, 2 * k, replace=False)
    removed, changed = picked[:k], picked[k:]
    first = rng.integers(0, len(numeric), k)
    second = np.where(rng.random(k) < 0.5,  # half of them in a second, other column
                      (first + 1 + rng.integers(0, len(numeric) - 1, k)) % len(numeric), -1)
    v2 = dict(v1)
    for c, name in enumerate(numeric):
        rows = changed[(first == c) | (second == c)]
        if len(rows):
            v2[name] = v2[name].copy()
            v2[name][rows] += 1  # +1 on a value rounded to 4 decimals: always a change
    keep = np.ones(n, dtype=bool)
    keep[removed] = False
    return {c: a[keep] for c, a in v2.items()}, k, k


def generate(directory: str, rows: int, cols: int, seed: int) -> dict:
    """Write v1.parquet, v2.parquet and expected.json (last: the data is complete)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    numeric, _ = _layout(cols)
    writers: dict = {}
    removed = changed = 0

    def write(name: str, cols_: dict) -> None:
        table = pa.table(cols_)
        if name not in writers:
            writers[name] = pq.ParquetWriter(os.path.join(directory, f"{name}.tmp"),
                                             table.schema)
        writers[name].write_table(table, row_group_size=CHUNK)

    try:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            v1 = _chunk(np.random.default_rng([seed, start]), n, start, cols)
            v2, r, c = _edit(v1, np.random.default_rng([seed, start, 2]), n, numeric)
            removed, changed = removed + r, changed + c
            write("v1", v1)
            write("v2", v2)
        appended = rows // 50
        for start in range(rows, rows + appended, CHUNK):
            n = min(CHUNK, rows + appended - start)
            write("v2", _chunk(np.random.default_rng([seed, start]), n, start, cols))
    finally:
        for w in writers.values():
            w.close()
    for name in ("v1", "v2"):
        os.replace(os.path.join(directory, f"{name}.tmp"),
                   os.path.join(directory, f"{name}.parquet"))
    expected = {"rows": rows, "cols": cols, "seed": seed, "appended": appended,
                "removed": removed, "changed": changed}
    with open(os.path.join(directory, "expected.json"), "w") as f:
        json.dump(expected, f)
    return expected


def dataset(root: str, rows: int, cols: int, seed: int) -> tuple[str, dict]:
    """The cached data folder of these parameters, generated (in a child) when missing."""
    path = os.path.join(root, f"data-{rows}x{cols}-s{seed}")
    marker = os.path.join(path, "expected.json")
    if not os.path.exists(marker):
        os.makedirs(path, exist_ok=True)
        t = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--generate-only", path, "--rows", str(rows),
                        "--cols", str(cols), "--seed", str(seed)], check=True)
        mib = sum(os.path.getsize(os.path.join(path, f"v{i}.parquet")) for i in (1, 2)) >> 20
        print(f"generated {rows:,} rows x {cols} columns in {time.perf_counter() - t:.1f} s "
              f"({mib:,} MiB for both versions)", flush=True)
    else:
        print(f"reusing {path}", flush=True)
    with open(marker) as f:
        return path, json.load(f)


# ---------------------------------------------------------------- runs

def _env() -> dict:
    return dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
                GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
                GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")


def fresh_repo(root: str, data: str) -> str:
    """A new git repository + store holding t@1 (v1) and t@2 (v2) of ``data``."""
    env = _env()
    repo = tempfile.mkdtemp(prefix="repo-", dir=root)
    os.makedirs(os.path.join(repo, "data"))
    for argv in (["git", "init", "-q"], ["git", "commit", "-q", "--allow-empty", "-m", "init"],
                 [sys.executable, "-m", "mlver", "init"]):
        subprocess.run(argv, cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
    target = os.path.join(repo, "data", "t.parquet")
    for version in ("v1", "v2"):
        src = os.path.join(data, f"{version}.parquet")
        try:
            os.link(src, target)
        except OSError:
            shutil.copyfile(src, target)
        subprocess.run([sys.executable, "-m", "mlver", "snapshot", "t", "-o",
                        "t=data/t.parquet", "--kind", "dataset"], cwd=repo, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        os.unlink(target)
    return repo


def measure(cwd: str, argv: list[str], cap: int = 0) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".json") as report:
        subprocess.run([sys.executable, "-c", _LAUNCHER, report.name, str(cap), *argv],
                       cwd=cwd, env=_env(), check=True, stdin=subprocess.DEVNULL)
        with open(report.name) as f:
            return json.load(f)


class Bench:
    """Collects result rows (printed side by side at the end) and correctness problems."""

    def __init__(self, root: str) -> None:
        self.root, self.rows, self.problems = root, [], []

    def mlver(self, repo: str, label: str, cmd: list[str], cap: int = 0) -> dict:
        r = measure(repo, [sys.executable, "-m", "mlver", *cmd], cap=cap)
        print(f"{label:<34} {r['seconds']:8.2f} s  CPU {r['cpu']:7.2f} s  peak RSS "
              f"{r['rss_mib']:7.0f} MiB   (mlver {' '.join(cmd)})", flush=True)
        if r["code"] != 0:
            limit = f" under a {cap / 2**30:.0f} GiB address-space cap" if cap else ""
            self.problems.append(f"{label}: mlver exited {r['code']}{limit}: "
                                 f"{r['stderr'][-400:]}")
        return r

    def add(self, what: str, value: float, unit: str, target: float | None,
            engine: str = "", note: str = "") -> None:
        failed = engine == "?"  # the diff gave no counts: no figure of it passes
        self.rows.append({"bench": "big_table", "operation": what, "value": value,
                          "unit": unit, "target": target, "engine": engine,
                          "note": note or ("no diff: see the problems" if failed else ""),
                          "ok": None if target is None else value <= target and not failed})

    def check(self, label: str, r: dict, want: dict) -> str:
        """Compare the JSON diff's counts with the generator's; return the engine."""
        try:
            entry = json.loads(r["stdout"])["outputs"]["t"]
        except (ValueError, KeyError, TypeError) as e:
            self.problems.append(f"{label}: no output 't' in the JSON ({e!r})")
            return "?"
        d = entry.get("table")
        if not isinstance(d, dict):  # e.g. a note: "not diffed by key (...)"
            self.problems.append(f"{label}: no table diff in the JSON: "
                                 + json.dumps({k: v for k, v in entry.items()
                                               if k not in ("old", "new")})[:400])
            return "?"
        got = {k: d.get(k) for k in want}
        if got != want:
            self.problems.append(f"{label}: counts {got}, the generator made {want}")
        else:
            print(f"{'':<34} counts exact: {want}", flush=True)
        return str(d.get("engine", "pandas"))


def unkeyed_want(e: dict) -> dict:
    return {"rows_old": e["rows"], "rows_new": e["rows"] - e["removed"] + e["appended"],
            "rows_added": e["appended"] + e["changed"],
            "rows_removed": e["removed"] + e["changed"]}


def keyed_want(e: dict) -> dict:
    return {"rows_added": e["appended"], "rows_removed": e["removed"],
            "rows_changed": e["changed"]}


def case_small(b: Bench, rows: int, seed: int) -> None:
    data, e = dataset(b.root, rows, 20, seed)
    for keyed in (False, True):
        label = f"{rows / 1e6:g}M x 20 {'keyed' if keyed else 'unkeyed'}"
        repo = fresh_repo(b.root, data)
        cmd = ["diff", "t@1", "t@2", "--json"] + (["--key", "id"] if keyed else [])
        r = b.mlver(repo, label, cmd)
        engine = b.check(label, r, keyed_want(e) if keyed else unkeyed_want(e))
        b.add(f"{label}: time", r["seconds"], "s", 3.5, engine)
        shutil.rmtree(repo)


def case_unkeyed(b: Bench, rows: int, seed: int) -> None:
    data, e = dataset(b.root, rows, 20, seed)
    label = f"{rows / 1e6:g}M x 20 unkeyed"
    repo = fresh_repo(b.root, data)
    first = b.mlver(repo, f"{label}, first", ["diff", "t@1", "t@2"])
    cached = b.mlver(repo, f"{label}, cached", ["diff", "t@1", "t@2"])
    js = b.mlver(repo, f"{label}, cached --json", ["diff", "t@1", "t@2", "--json"])
    print(first["stdout"].strip())
    if cached["stdout"] != first["stdout"]:
        b.problems.append(f"{label}: the cached diff printed something else than the first")
    engine = b.check(label, js, unkeyed_want(e))
    b.add(f"{label}: first diff time", first["seconds"], "s", 25.0, engine)
    b.add(f"{label}: first diff peak RSS", first["rss_mib"], "MiB", 1536.0, engine)
    b.add(f"{label}: cached diff time", cached["seconds"], "s", 1.0, engine)
    shutil.rmtree(repo)


def _available_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def pandas_path(b: Bench, label: str, data: str, e: dict, cap: int) -> dict:
    """mlver's pandas path (read both tables whole + diff_tables) under an address-space cap."""
    v1, v2 = (os.path.join(data, f"v{i}.parquet") for i in (1, 2))
    r = measure(data, [sys.executable, __file__, "--pandas-keyed", v1, v2], cap=cap)
    ok = r["code"] == 0
    limit = f"cap {cap >> 30} GiB" if cap else "no cap"
    print(f"{label + ', pandas path':<34} {r['seconds']:8.2f} s  CPU {r['cpu']:7.2f} s  peak RSS "
          f"{r['rss_mib']:7.0f} MiB   (read_table + diff_tables, {limit}"
          f"{'' if ok else ': FAILED, ' + r['stderr'].strip().splitlines()[-1][:120]})",
          flush=True)
    if ok:
        got = json.loads(r["stdout"])
        if got != keyed_want(e):
            b.problems.append(f"{label}, pandas path: counts {got}, expected {keyed_want(e)}")
    return r


def case_keyed(b: Bench, rows: int, cols: int, seed: int, targets: tuple, pandas: str) -> None:
    """A keyed diff; ``pandas``: "" (not run), "run" (capped) or "estimate" (first a 2M run)."""
    secs_t, rss_t = targets
    data, e = dataset(b.root, rows, cols, seed)
    label = f"{rows / 1e6:g}M x {cols} keyed"
    repo = fresh_repo(b.root, data)
    # the huge case runs capped: a diff that reads both tables whole (pandas needs ~49 GB
    # at 100M x 10) must fail, not push the machine into swap or the OOM killer
    cap = int(min(3 * rss_t * 2**20, 0.8 * _available_bytes())) if pandas == "estimate" else 0
    r = b.mlver(repo, label, ["diff", "t@1", "t@2", "--key", "id", "--json"], cap=cap)
    shutil.rmtree(repo)
    engine = b.check(label, r, keyed_want(e))
    b.add(f"{label}: time", r["seconds"], "s", secs_t, engine)
    b.add(f"{label}: peak RSS", r["rss_mib"], "MiB", rss_t, engine)
    if not pandas:
        return
    avail = _available_bytes()
    if pandas == "estimate":
        small = 2_000_000
        sdata, se = dataset(b.root, small, cols, seed)
        s = pandas_path(b, f"{small / 1e6:g}M x {cols} keyed", sdata, se, 0)
        need = s["rss_mib"] * (1 << 20) * rows / small
        if need > 0.8 * avail:
            print(f"pandas: cannot run at this size (needs ~{need / 2**30:.0f} GB, from "
                  f"{s['rss_mib']:.0f} MiB at {small:,} rows; {avail / 2**30:.0f} GB available)")
            b.add(f"{label}: pandas path", need / 2**20, "MiB", None, "pandas",
                  f"cannot run: needs ~{need / 2**30:.0f} GB (estimated)")
            return
    p = pandas_path(b, label, data, e, int(0.9 * avail))
    if p["code"] == 0:
        b.add(f"{label}: pandas path", p["seconds"], "s", None, "pandas",
              f"{p['rss_mib']:,.0f} MiB peak RSS")
    else:
        b.add(f"{label}: pandas path", p["rss_mib"], "MiB", None, "pandas",
              f"failed under a {int(0.9 * avail) >> 30} GiB cap")


def _pandas_keyed(v1: str, v2: str) -> None:
    sys.path.insert(0, REPO_ROOT)
    from mlver.diff.profile import read_table
    from mlver.diff.tables import diff_tables
    d = diff_tables(read_table(v1, "parquet", ["id"]), read_table(v2, "parquet", ["id"]),
                    key=["id"])
    print(json.dumps({"rows_added": d.rows_added, "rows_removed": d.rows_removed,
                      "rows_changed": d.rows_changed}))


def report(b: Bench) -> None:
    print()
    print(f"{'target':<44} {'measured':>14}  {'target':>12}  {'engine':<8} verdict")
    print("-" * 92)
    for r in b.rows:
        unit = r["unit"]
        value = f"{r['value']:,.2f} s" if unit == "s" else f"{r['value']:,.0f} MiB"
        target = "" if r["target"] is None else f"<= {r['target']:,g} {unit}"
        verdict = "" if r["ok"] is None else ("PASS" if r["ok"] else "MISS")
        print(f"{r['operation']:<44} {value:>14}  {target:>12}  {r['engine']:<8} {verdict}"
              f"{'  ' + r['note'] if r['note'] else ''}")
    if b.problems:
        print("CORRECTNESS PROBLEMS:")
        for p in b.problems:
            print("  - " + p)
    else:
        print("correctness: every diff's counts are the ones the generator made")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="unkeyed and keyed cases on 2M rows")
    ap.add_argument("--huge", action="store_true", help="also the 100M x 10 keyed case")
    ap.add_argument("--pandas", action="store_true",
                    help="also run the pandas path beside the keyed cases")
    ap.add_argument("--case", action="append", choices=["small", "unkeyed", "keyed", "huge"],
                    help="run only this case (repeatable)")
    ap.add_argument("--small-rows", type=int, default=1_000_000)
    ap.add_argument("--unkeyed-rows", type=int)
    ap.add_argument("--keyed-rows", type=int)
    ap.add_argument("--huge-rows", type=int, default=100_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", help="folder for data and stores, outside the repository; data "
                                  "cached there by parameters (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep --dir (to re-run cheaply)")
    ap.add_argument("--results-json", help="append result rows here (run_all.py)")
    ap.add_argument("--generate-only", help=argparse.SUPPRESS)
    ap.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--cols", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--pandas-keyed", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        generate(args.generate_only, args.rows, args.cols, args.seed)
        return
    if args.pandas_keyed:
        _pandas_keyed(*args.pandas_keyed)
        return
    unkeyed_rows = args.unkeyed_rows or (2_000_000 if args.quick else 10_000_000)
    keyed_rows = args.keyed_rows or (2_000_000 if args.quick else 20_000_000)
    cases = args.case or (["small", "unkeyed", "keyed"] + (["huge"] if args.huge else []))
    root = os.path.abspath(args.dir or tempfile.mkdtemp(prefix="mlver-bench-big-table-"))
    if os.path.commonpath([root, REPO_ROOT]) == REPO_ROOT:
        sys.exit(f"--dir {root} is inside the repository; choose a folder outside it")
    os.makedirs(root, exist_ok=True)
    print(f"data and stores in {root}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores (others' load slows wall times, not CPU times)", flush=True)
    b = Bench(root)
    try:
        if "small" in cases:
            case_small(b, args.small_rows, args.seed)
        if "unkeyed" in cases:
            case_unkeyed(b, unkeyed_rows, args.seed)
        if "keyed" in cases:
            case_keyed(b, keyed_rows, 6, args.seed, (None, 2048.0),
                       "run" if args.pandas else "")
        if "huge" in cases:
            case_keyed(b, args.huge_rows, 10, args.seed, (240.0, 4096.0), "estimate")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    report(b)
    if args.results_json:
        with open(args.results_json, "a") as f:
            for r in b.rows:
                f.write(json.dumps(r) + "\n")
            f.write(json.dumps({"bench": "big_table", "operation": "correctness",
                                "ok": not b.problems, "problems": b.problems}) + "\n")
    if b.problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
