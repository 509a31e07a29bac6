"""Benchmark ``mlver checkout`` against ``dvc checkout``: restore a deleted folder of small files.

    python benchmarks/bench_checkout.py [--files 100000] [--dirs 100] [--shape flat|deep]
                                        [--repeat 3] [--seed 0] [--profile] [--dir DIR]

One git repository holds a generated ``data/`` folder (the generator of bench_snapshot.py:
N files of 1-4 KiB seeded random bytes, 1% duplicates, in 100 sub-folders; ``--shape deep``:
1-8 KiB in 1,110 folders on three levels). Both tools capture it, untimed:
``dvc add data`` and ``mlver snapshot ds -i data=data``. Then, ``--repeat`` rounds (default 3):

    rm -rf data; dvc checkout            (timed; DVC copies: cache.type reflink,copy on ext4)
    rm -rf data; mlver checkout ds       (timed)
                 mlver status ds         (timed, right after: the checkout filled the stat cache)

Both tools run as real CLI processes, a fresh process each. Same state for both: before each
timed command the workspace folder is removed, that tool's store is read once (so both start
from a warm page cache; dropping it needs root) and the file system is synced, so that neither
pays for the other's dirty pages. The tools alternate which goes first in each round. The table
shows the median seconds, the ratio of the medians and each round's ratio.

Target: mlver checkout <= 0.33 x dvc checkout. Checked after every checkout (both tools): the
folder holds exactly the generated files (no more, no leftover temporary file), each a regular
file whose XXH3-128 equals the original's (the digest of the whole folder is printed); after
mlver's, ``status`` says clean with the same tree oid and the stat cache has a row matching
every file's stat (so ``status`` hashed nothing).

Everything happens in a temporary folder (or --dir, which must not exist or be empty).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from _common import report_problems, work_dir
from bench_snapshot import SHAPES, Runner, bin_dir, child_env, generate, git_repo, oid_of

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
TARGET_CHECKOUT = 0.33  # mlver checkout / dvc checkout, into an emptied workspace
OP_CHECKOUT = "checkout into an emptied workspace"
OP_STATUS = "mlver status right after checkout"


# -- state between runs -----------------------------------------------------------------------

def read_tree(path: str) -> int:
    """Read every file under ``path`` (untimed warm-up); return the bytes read."""
    n = 0
    for d, _dirs, files in os.walk(path):
        for f in files:
            p = os.path.join(d, f)
            if os.path.islink(p):
                continue
            with open(p, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    n += len(chunk)
    return n


def prepare(root: str, store: str, trash: str | None) -> None:
    """The state before a timed checkout: no ``data/`` (moved into ``trash``, else removed),
    the tool's store read, all synced."""
    data = os.path.join(root, "data")
    if trash is None:
        shutil.rmtree(data, ignore_errors=True)
    elif os.path.exists(data):
        os.makedirs(trash, exist_ok=True)
        os.rename(data, os.path.join(trash, str(len(os.listdir(trash)))))
    read_tree(os.path.join(root, store))
    os.sync()


# -- checks -----------------------------------------------------------------------------------

def folder_digest(oids: dict[str, str]) -> str:
    """One oid for a whole folder: XXH3-128 over the sorted ``path oid`` lines."""
    return oid_of("".join(f"{p} {o}\n" for p, o in sorted(oids.items())).encode())


def check_folder(root: str, expected: dict[str, str], who: str) -> tuple[list[str], str]:
    """Compare ``root/data`` with the generated files; return (problems, digest of the disk)."""
    problems: list[str] = []
    found: dict[str, str] = {}
    odd: list[str] = []
    for d, _dirs, files in os.walk(os.path.join(root, "data")):
        for f in files:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            if os.path.islink(p) or not os.path.isfile(p):
                odd.append(rel)
                continue
            with open(p, "rb") as fh:
                found[rel] = oid_of(fh.read())
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    wrong = sorted(p for p in set(found) & set(expected) if found[p] != expected[p])
    for what, paths in (("missing", missing), ("unexpected", extra), ("with other bytes", wrong),
                        ("not regular files", odd)):
        if paths:
            problems.append(f"after {who}: {len(paths)} file(s) {what}, e.g. {paths[:3]}")
    return problems, folder_digest(found)


def check_stat_cache(root: str, expected: dict[str, str]) -> tuple[list[str], int]:
    """Rows of mlver's stat cache that match a file's current stat and content oid."""
    sys.path.insert(0, REPO_ROOT)  # the mlver beside this script (as PYTHONPATH does for the CLI)
    from mlver import Repo
    from mlver.store.statcache import StatKey

    repo = Repo(root)
    try:
        rows = {r[0]: r for r in repo.store.index.stat_rows("data")}
    finally:
        repo.close()
    good = 0
    for rel, oid in expected.items():
        row = rows.get(rel)
        if row is not None and row[1:6] == tuple(StatKey.of(os.lstat(os.path.join(root, rel)))) \
                and row[6] == oid:
            good += 1
    problems = []
    if good != len(expected):
        problems.append(f"after mlver checkout: the stat cache matches {good:,} of "
                        f"{len(expected):,} files (status would hash the rest)")
    return problems, good


# -- the benchmark ----------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000, help="number of files (default 100000)")
    ap.add_argument("--dirs", type=int, default=100,
                    help="number of sub-folders of the flat shape (default 100)")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="flat",
                    help="flat: 1-4 KiB files in 100 folders; deep: 1-8 KiB files, 3 levels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--empty", choices=["move", "rm"], default="move",
                    help="how data/ is emptied before each checkout: moved aside (default; "
                         "removed at the end) or rm -rf right before (see the module doc)")
    ap.add_argument("--repeat", type=int, default=3, metavar="N",
                    help="timed rounds; the table shows medians (default 3)")
    ap.add_argument("--profile", action="store_true",
                    help="run mlver checkout under cProfile and print the top lines "
                         "(its timings then include the profiler's overhead)")
    ap.add_argument("--dir", help="work here instead of a temporary folder (kept afterwards)")
    ap.add_argument("--results-json", help=argparse.SUPPRESS)  # run_all.py reads these
    args = ap.parse_args()
    with work_dir(args.dir, "mlver-bench-checkout-") as work:
        run_bench(args, work)


def run_bench(args, work: str) -> None:
    bindir = bin_dir()
    mlver, dvc, python = (os.path.join(bindir, n) for n in ("mlver", "dvc", "python"))
    if not os.path.exists(dvc):
        sys.exit(f"dvc is not installed in {bindir}; run: {bindir}/python -m pip install dvc "
                 "(or make bench, which installs .[dvc])")
    env = child_env(bindir)
    env["DVC_SITE_CACHE_DIR"] = os.path.join(work, "dvc-site-cache")  # not /var/tmp/dvc
    runner = Runner(env, drop=False)
    dvc_version = subprocess.run([dvc, "--version"], env=env, capture_output=True,
                                 text=True).stdout.strip()
    mlver_from = subprocess.run([python, "-c", "import mlver; print(mlver.__file__)"], env=env,
                                capture_output=True, text=True).stdout.strip()
    print(f"bench_checkout: {args.files:,} files ({args.shape}), {args.repeat} round(s), "
          f"data/ emptied by {'moving it aside' if args.empty == 'move' else 'rm -rf'}, "
          f"work dir {work}, dvc {dvc_version}, mlver from {os.path.dirname(mlver_from)}, "
          f"{os.cpu_count()} CPUs", flush=True)

    root = os.path.join(work, "repo")
    trash = os.path.join(work, "trash") if args.empty == "move" else None
    t = time.perf_counter()
    oids, size = generate([root], args.files, args.dirs, args.seed, args.shape)
    git_repo(root, env)
    digest = folder_digest(oids)
    print(f"generated {len(oids):,} files ({size / 2**20:.0f} MiB, "
          f"{len(set(oids.values())):,} unique contents) in {time.perf_counter() - t:.1f} s; "
          f"folder digest {digest}", flush=True)

    # capture with both tools (untimed)
    t = time.perf_counter()
    for argv in ([dvc, "init", "-q"], [dvc, "config", "core.autostage", "false"],
                 [dvc, "config", "core.analytics", "false"],
                 [dvc, "config", "core.check_update", "false"], [dvc, "add", "-q", "data"],
                 [mlver, "init"]):
        runner.run(argv, root)
    out = runner.run([mlver, "snapshot", "ds", "-i", "data=data", "--json"], root)[2]
    tree = json.loads(out)["inputs"]["data"]["oid"]
    print(f"captured: dvc add + mlver snapshot ds -i data=data in {time.perf_counter() - t:.1f} s"
          f" (tree {tree})", flush=True)

    def mlver_checkout() -> list[str]:
        argv = ["checkout", "ds", "--json"]
        if args.profile:
            return [python, "-m", "cProfile", "-s", "cumtime", "-m", "mlver", *argv]
        return [mlver, *argv]

    samples: dict[str, list[tuple[float, float | None]]] = {OP_CHECKOUT: [], OP_STATUS: []}
    dvc_status: list[float] = []
    problems: list[str] = []
    rss: dict[str, int] = {"mlver": 0, "dvc": 0}
    matched = 0
    for r in range(args.repeat):
        tag = f"[{r + 1}/{args.repeat}]"
        times: dict[str, float] = {}
        for tool in (("dvc", "mlver") if r % 2 == 0 else ("mlver", "dvc")):
            if tool == "dvc":
                prepare(root, ".dvc/cache", trash)
                secs, kib, _out, _ = runner.run([dvc, "checkout", "-q"], root)
                probs, got = check_folder(root, oids, "dvc checkout")
                # DVC's own "nothing changed" check, for reference (not a target)
                st, _, _, code = runner.run([dvc, "status", "-q"], root, check=False)
                if code != 0:
                    probs.append(f"dvc status -q exited {code} right after dvc checkout")
                dvc_status.append(st)
            else:
                prepare(root, ".mlver", trash)
                secs, kib, out, _ = runner.run(mlver_checkout(), root)
                if args.profile:
                    show_profile(out)
                    out = out[:out.find("function calls")]
                    out = out[:out.rfind("}") + 1]
                res = json.loads(out)
                probs = []
                if res["written"] != len(oids) or res["unchanged"] or res["removed"]:
                    probs.append(f"mlver checkout reported {res}, expected {len(oids):,} written")
                st, _, out, _ = runner.run([mlver, "status", "ds", "--json"], root)
                s = json.loads(out)[0]
                if not s["clean"] or s["slots"][0]["new"] != tree:
                    probs.append(f"mlver status right after checkout is not clean with tree "
                                 f"{tree}: {s}")
                samples[OP_STATUS].append((st, None))
                p2, got = check_folder(root, oids, "mlver checkout")
                p3, matched = check_stat_cache(root, oids)
                probs += p2 + p3
            times[tool] = secs
            rss[tool] = max(rss[tool], kib)
            if got != digest:
                probs.append(f"after {tool} checkout the folder digest is {got}, not {digest}")
            problems += [f"round {r + 1}: {p}" for p in probs]
        samples[OP_CHECKOUT].append((times["mlver"], times["dvc"]))
        print(f"{tag} mlver checkout {times['mlver']:.2f} s, dvc checkout {times['dvc']:.2f} s "
              f"(ratio {times['mlver'] / times['dvc']:.3f}); mlver status after it "
              f"{samples[OP_STATUS][-1][0]:.2f} s, dvc status after dvc checkout "
              f"{dvc_status[-1]:.2f} s", flush=True)

    m = statistics.median(v[0] for v in samples[OP_CHECKOUT])
    d = statistics.median(v[1] for v in samples[OP_CHECKOUT])
    ratio = m / d
    s = statistics.median(v[0] for v in samples[OP_STATUS])
    ds = statistics.median(dvc_status)
    per = " ".join(f"{a / b:.2f}" for a, b in samples[OP_CHECKOUT])
    print()
    print(f"mlver vs dvc checkout, {args.files:,} files ({args.shape}), data/ emptied by "
          f"{'moving it aside' if args.empty == 'move' else 'rm -rf'}, warm page cache, median "
          f"of {args.repeat} round(s){'; PROFILED, mlver timings inflated' if args.profile else ''}")
    head = (f"{'operation':<40} {'mlver s':>8} {'dvc s':>8} {'ratio':>7} {'target':>7}  {'':4} "
            f"{'mlver RSS':>9} {'dvc RSS':>9}  ratio per round")
    print(head)
    print("-" * len(head))
    print(f"{OP_CHECKOUT:<40} {m:8.2f} {d:8.2f} {ratio:7.3f} {'<=' + format(TARGET_CHECKOUT, 'g'):>7}"
          f"  {'PASS' if ratio <= TARGET_CHECKOUT else 'MISS':4} {rss['mlver'] / 1024:5.0f} MiB "
          f"{rss['dvc'] / 1024:5.0f} MiB  {per}")
    print(f"{'status right after it (no target)':<40} {s:8.2f} {ds:8.2f} {s / ds:7.3f}")
    print(f"folder digest after every checkout: {digest} expected; stat cache rows matching the "
          f"files after mlver checkout: {matched:,} of {len(oids):,}")
    report_problems(problems, "correctness: OK")
    if args.results_json:
        with open(args.results_json, "a", encoding="utf-8") as f:
            f.write(json.dumps({"bench": "checkout", "files": args.files, "shape": args.shape,
                                "operation": OP_CHECKOUT, "empty": args.empty, "mlver_s": m, "dvc_s": d,
                                "ratio": ratio, "target": TARGET_CHECKOUT,
                                "ok": ratio <= TARGET_CHECKOUT, "rounds": args.repeat}) + "\n")
            f.write(json.dumps({"bench": "checkout", "files": args.files, "shape": args.shape,
                                "operation": OP_STATUS, "mlver_s": s, "dvc_s": ds}) + "\n")
            f.write(json.dumps({"bench": "checkout", "operation": "correctness",
                                "ok": not problems, "problems": problems}) + "\n")


def show_profile(out: str) -> None:
    lines = out.splitlines()
    start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), None)
    if start is not None:
        print("--- cProfile, mlver checkout (top 25 by cumtime) ---")
        print("\n".join(lines[start:start + 26]), flush=True)


if __name__ == "__main__":
    main()
