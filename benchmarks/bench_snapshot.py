"""Benchmark ``mlver snapshot`` / ``status`` against ``dvc add`` / ``status`` on many small files.

    python benchmarks/bench_snapshot.py [--files 100000] [--shape flat|deep] [--dir DIR]
                                        [--seed 0] [--warm R] [--big-gib 1]

Both tools run as real CLI subprocesses (``mlver`` and ``dvc`` from the virtualenv of the
Python running this script) on two identical copies of one generated folder, in a fresh git
repository: ``--shape flat`` (default) is N files of 1-4 KiB seeded random bytes (1% of them
duplicates of another file) spread over 100 sub-folders; ``--shape deep`` is N files of
1-8 KiB in a three-level tree (10 x 10 x 10 leaf folders below ``data/``). Steps, each timed
by wall clock with the page cache dropped first (when we are allowed to; otherwise the run
says so and stays warm):

  a. first capture      mlver init && mlver snapshot data -o data=data   vs  dvc add data
  a'. the same, warm    store / DVC cache removed, page cache kept
  b. unchanged check    mlver status data; mlver snapshot (unchanged)    vs  dvc status
  b''. with watchman    the same warm, after ``mlver monitor on``        vs  dvc status, and
                        vs ``git status`` of the same files with git's fsmonitor (watchman
                        hook); only when watchman is installed
  c. 1% files modified  mlver snapshot data -o data=data                 vs  dvc add data

Targets (ratio mlver/dvc): first snapshot <= 0.20 of ``dvc add`` (cold and warm); unchanged
status and re-snapshot <= 0.12 of ``dvc status`` (with watchman <= 0.05, and <= 2 x git status
with its fsmonitor); the 1% snapshot <= 0.10 of ``dvc add``;
peak RSS of the first snapshot <= 300 MiB. With ``--big-gib G`` (once, after the rounds):
the first snapshot of one G GiB file (store initialised beforehand) vs ``cp FILE DEST && sync``,
<= 1.5 x, <= 100 MiB RSS. The run also checks mlver's results: the tree oid
is the same for the first and the unchanged snapshot and equals a from-scratch recompute
on the other copy; blob oids equal XXH3-128 of the files; the store holds exactly one
object per unique file content, per tree, plus the record and its env/patch blobs.

Everything happens in a temporary folder (or --dir, which must not exist or be empty).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _common import report_problems, work_dir

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
TARGET_SNAPSHOT = 0.20   # first mlver snapshot / dvc add
TARGET_UNCHANGED = 0.12  # mlver status or unchanged snapshot / dvc status
TARGET_MODIFIED = 0.10   # snapshot after 1% modified / dvc add
TARGET_MONITOR = 0.05    # with mlver monitor on (watchman): status or snapshot / dvc status
TARGET_GIT = 2.0         # with it: mlver status / git status with git's fsmonitor (watchman)
GIT_ROUNDS = 15          # interleaved pairs of that comparison (each takes ~0.1 s)
TARGET_RSS_MIB = 300     # peak RSS of the first snapshot of N small files
TARGET_BIG = 1.5         # first snapshot of one big file / (cp + sync)
TARGET_BIG_RSS_MIB = 100
FIRST_OP = "first capture (init+snapshot vs dvc add)"
SHAPES = {"flat": (1024, 4096), "deep": (1024, 8192)}  # file sizes, bytes


# -- tools ------------------------------------------------------------------------------------

def bin_dir() -> str:
    """Where ``mlver`` and ``dvc`` live: beside this interpreter, else the repo's .venv."""
    for d in (os.path.dirname(sys.executable), os.path.join(REPO_ROOT, ".venv", "bin")):
        if os.path.exists(os.path.join(d, "mlver")):
            return d
    found = shutil.which("mlver")
    if not found:
        sys.exit("mlver is not installed; run make install (or pip install -e .)")
    return os.path.dirname(found)


def child_env(bindir: str) -> dict:
    env = dict(os.environ)
    env.pop("DVC_UPDATER_ENDPOINT", None)
    env["DVC_NO_ANALYTICS"] = "1"
    env["DVC_STUDIO_OFFLINE"] = "1"
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = os.path.dirname(bindir)  # the env mlver records: this venv
    env.setdefault("GIT_AUTHOR_NAME", "bench")
    env.setdefault("GIT_AUTHOR_EMAIL", "bench@example.com")
    env.setdefault("GIT_COMMITTER_NAME", "bench")
    env.setdefault("GIT_COMMITTER_EMAIL", "bench@example.com")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class Runner:
    """Runs CLI commands, timing each and reading its own peak RSS (``wait4``)."""

    def __init__(self, env: dict, drop: bool) -> None:
        self.env = env
        self.drop = drop

    def drop_caches(self) -> None:
        if not self.drop:
            return
        try:
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
        except OSError as e:
            print(f"note: cannot drop the page cache ({e.strerror}); measuring warm from here on",
                  flush=True)
            self.drop = False

    def run(self, argv: list[str], cwd: str, check: bool = True) -> tuple[float, int, str, int]:
        """``(seconds, peak RSS KiB, stdout, exit status)`` of one command.

        A small launcher process forks and times the command: a child forked straight from
        this (bigger) process would report this process's RSS as its own peak, since Linux
        carries the pre-exec memory's high-water mark into ``ru_maxrss``.
        """
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
                tempfile.NamedTemporaryFile("r", suffix=".txt") as report:
            p = subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCHER, report.name, *argv],
                               cwd=cwd, env=self.env, stdout=out, stderr=err,
                               stdin=subprocess.DEVNULL)
            out.seek(0)
            err.seek(0)
            stdout = out.read().decode("utf-8", "replace")
            stderr = err.read().decode("utf-8", "replace")
            secs, rss = report.read().split()
        if check and p.returncode != 0:
            raise SystemExit(f"command failed ({p.returncode}): {' '.join(argv)} in {cwd}\n"
                             f"{stdout}\n{stderr}")
        return float(secs), int(rss), stdout, p.returncode


# Runs argv[2:], writes "<wall seconds> <peak RSS KiB>" of it to argv[1], exits with its status.
_LAUNCHER = """
import os, sys, time
t = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
secs = time.perf_counter() - t
with open(sys.argv[1], "w") as f:
    f.write("%r %d" % (secs, usage.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


# -- data -------------------------------------------------------------------------------------

def folders(shape: str, n_dirs: int) -> list[str]:
    """The leaf folders files go into (``data/...``)."""
    if shape == "deep":
        return [f"data/l{a}/m{b}/n{c}" for a in range(10) for b in range(10) for c in range(10)]
    return [f"data/part{i:03d}" for i in range(n_dirs)]


def tree_count(shape: str, n_dirs: int) -> int:
    """How many trees one snapshot of ``data`` has: every folder, ``data`` included."""
    seen = {"data"}
    for leaf in folders(shape, n_dirs):
        parts = leaf.split("/")
        seen.update("/".join(parts[:i]) for i in range(2, len(parts) + 1))
    return len(seen)


def generate(roots: list[str], n_files: int, n_dirs: int, seed: int,
             shape: str = "flat") -> tuple[dict[str, str], int]:
    """Write the same ``data/`` into each root; return ({relative path: oid}, total bytes).

    Only oids are kept, not contents, so that this process stays small (see Runner).
    """
    rng = random.Random(seed)
    lo, hi = SHAPES[shape]
    leaves = folders(shape, n_dirs)
    oids: dict[str, str] = {}
    recent: list[bytes] = [b""] * 100
    made: set[str] = set()
    total = 0
    for i in range(n_files):
        sub = leaves[i % len(leaves)]
        rel = f"{sub}/f{i:07d}.bin"
        if i >= 100 and rng.random() < 0.01:  # a duplicate of the content 100 files back
            data = recent[i % 100]
        else:
            data = rng.randbytes(rng.randint(lo, hi))
        recent[i % 100] = data
        oids[rel] = oid_of(data)
        total += len(data)
        for root in roots:
            if sub not in made:
                os.makedirs(os.path.join(root, sub), exist_ok=True)
            with open(os.path.join(root, rel), "wb") as f:
                f.write(data)
        made.add(sub)
    return oids, total


def modify(roots: list[str], oids: dict[str, str], pct: float, seed: int,
           shape: str = "flat") -> list[str]:
    """Rewrite ``pct`` % of the files (same new bytes in every root); return their paths."""
    rng = random.Random(seed + 1)
    lo, hi = SHAPES[shape]
    chosen = rng.sample(sorted(oids), max(1, round(len(oids) * pct / 100)))
    for rel in chosen:
        data = rng.randbytes(rng.randint(lo, hi))
        oids[rel] = oid_of(data)
        for root in roots:
            with open(os.path.join(root, rel), "wb") as f:
                f.write(data)
    return chosen


def warm_up(*roots: str) -> None:
    """Read every file under each ``root/data`` (untimed), then sync: a "warm" run must find
    its own copy in the page cache; the previous cold run dropped it, not the other tool's."""
    for root in roots:
        for d, _dirs, files in os.walk(os.path.join(root, "data")):
            for f in files:
                with open(os.path.join(d, f), "rb") as fh:
                    while fh.read(1 << 20):
                        pass
    os.sync()


def git_repo(root: str, env: dict) -> None:
    with open(os.path.join(root, "README.md"), "w") as f:
        f.write("benchmark repository\n")
    for argv in (["git", "init", "-q"], ["git", "add", "README.md"],
                 ["git", "commit", "-q", "-m", "init"]):
        subprocess.run(argv, cwd=root, env=env, check=True)


# -- checks -----------------------------------------------------------------------------------

def count_objects(repo) -> int:
    """Objects in the store, packed or loose (through the store: nothing here builds paths)."""
    return sum(1 for _ in repo.store.objects.iter_oids())


def oid_of(data: bytes) -> str:
    import xxhash

    return xxhash.xxh3_128_hexdigest(data)


def recompute_tree(root: str) -> str:
    """The tree oid of ``root/data`` computed from scratch (no stat cache, no writes)."""
    sys.path.append(REPO_ROOT)  # an installed mlver wins; else the checkout beside us
    from mlver.capture.path import capture_path
    from mlver.store.index import Index
    from mlver.store.statcache import StatCache

    with tempfile.TemporaryDirectory() as tmp:
        index = Index(os.path.join(tmp, "index.sqlite"))
        try:
            return capture_path(root, "data", StatCache(index)).oid
        finally:
            index.close()


def check_store(root: str, history: list[dict[str, str]], rec_oids: list[str],
                n_trees: int) -> list[str]:
    """Compare the store with what the files say it must hold; return problems.

    Expected objects: one blob per unique file content (of every captured version), one
    tree per folder (``n_trees`` per version, ``data`` included, shared when equal),
    each record, and its env-packages / code-patch blobs.
    """
    sys.path.append(REPO_ROOT)  # an installed mlver wins; else the checkout beside us
    from mlver import Repo

    problems: list[str] = []
    repo = Repo(root)
    try:
        _check_store(repo, root, history, rec_oids, n_trees, problems)
    except Exception as e:  # a missing or corrupt object: report it, keep the timings
        problems.append(f"reading the store failed: {type(e).__name__}: {e}")
    finally:
        repo.close()
    return problems


def _check_store(repo, root, history, rec_oids, n_trees, problems) -> None:
    """The checks of :func:`check_store`, appending to ``problems``."""
    trees: set[str] = set()
    extras: set[str] = set()
    for rec_oid in rec_oids:
        rec = repo.record(rec_oid)
        extras.add(rec_oid)
        extras.update(x for x in (rec.env.packages, rec.code.patch) if x)
        stack, mine = [rec.outputs["data"].oid], set()
        while stack:  # every tree reachable from the record
            t = stack.pop()
            mine.add(t)
            stack.extend(e.oid for e in repo.tree(t).entries if e.type == "tree")
        if len(mine) != n_trees:
            problems.append(f"record {rec_oid[:10]} reaches {len(mine)} trees, "
                            f"expected {n_trees} (one per folder)")
        trees |= mine
    blobs = {o for oids in history for o in oids.values()}
    expected = len(blobs) + len(trees) + len(extras)
    n = count_objects(repo)
    if n != expected:
        problems.append(f"store holds {n} objects, expected {expected} = {len(blobs)} unique "
                        f"file contents + {len(trees)} trees + {len(extras)} records/env/patch")
    # blob oids are XXH3-128 of the file bytes (what xxhsum -H2 prints)
    head = repo.record(rec_oids[-1]).outputs["data"].oid
    latest = history[-1]  # the files the last record captured
    for rel in random.Random(7).sample(sorted(latest), min(20, len(latest))):
        tree = repo.tree(head)
        for part in rel.split("/")[1:-1]:
            tree = repo.tree(tree.get(part).oid)
        entry = tree.get(rel.rsplit("/", 1)[1])
        if entry is None or entry.oid != latest[rel]:
            problems.append(f"blob oid of {rel} is not XXH3-128 of its bytes")
            break
    if shutil.which("xxhsum"):  # the oid a user can check with the usual tool
        rel = sorted(latest)[0]
        out = subprocess.run(["xxhsum", "-H2", rel], cwd=root, capture_output=True, text=True)
        tree = repo.tree(head)
        for part in rel.split("/")[1:-1]:
            tree = repo.tree(tree.get(part).oid)
        if out.stdout.split()[:1] != [tree.get(rel.rsplit("/", 1)[1]).oid]:
            problems.append(f"xxhsum -H2 {rel} says {out.stdout.strip()!r}, the tree another oid")


# -- the benchmark ----------------------------------------------------------------------------

def fmt_ratio(m: float, d: float) -> float:
    return m / d if d > 0 else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000, help="number of files (default 100000)")
    ap.add_argument("--dirs", type=int, default=100,
                    help="number of sub-folders of the flat shape (default 100)")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="flat",
                    help="flat: 1-4 KiB files in 100 folders; deep: 1-8 KiB files, 3 levels")
    ap.add_argument("--big-gib", type=float, default=0, metavar="G",
                    help="also time the first snapshot of one G GiB file vs cp + sync")
    ap.add_argument("--modify-pct", type=float, default=1.0, help="%% of files changed in step c")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", help="work here instead of a temporary folder (kept afterwards)")
    ap.add_argument("--no-drop-caches", action="store_true", help="stay warm between runs")
    ap.add_argument("--repeat", type=int, default=3, metavar="N",
                    help="rounds on freshly generated data; the table shows medians (default 3)")
    ap.add_argument("--warm", type=int, default=2, metavar="R",
                    help="also time the unchanged checks R times a round, warm (0: skip)")
    ap.add_argument("--profile", action="store_true",
                    help="run the mlver commands under cProfile and print the top lines "
                         "(timings then include the profiler's overhead)")
    ap.add_argument("--results-json", help=argparse.SUPPRESS)  # run_all.py reads these
    args = ap.parse_args()

    with work_dir(args.dir, "mlver-bench-snapshot-") as work:
        run_bench(args, work)


def run_bench(args, work: str) -> None:
    bindir = bin_dir()
    dvc = os.path.join(bindir, "dvc")
    if not os.path.exists(dvc):
        sys.exit(f"dvc is not installed in {bindir}; run: {bindir}/python -m pip install dvc "
                 "(or make bench, which installs .[dvc])")
    env = child_env(bindir)
    env["DVC_SITE_CACHE_DIR"] = os.path.join(work, "dvc-site-cache")  # not /var/tmp/dvc
    runner = Runner(env, drop=not args.no_drop_caches)
    dvc_version = subprocess.run([dvc, "--version"], env=env, capture_output=True,
                                 text=True).stdout.strip()
    shape = (f"{args.dirs} folders" if args.shape == "flat" else
             f"{tree_count('deep', 0) - 1} folders on 3 levels (deep)")
    print(f"bench_snapshot: {args.files:,} files in {shape}, {args.repeat} round(s), "
          f"work dir {work}, dvc {dvc_version}, {os.cpu_count()} CPUs", flush=True)

    samples: dict[str, list[tuple]] = {}  # operation -> [(mlver s, dvc s, target, rss, drss)]
    problems: list[str] = []
    info: list[str] = []
    for r in range(args.repeat):
        rdir = os.path.join(work, f"round{r + 1}")
        os.makedirs(rdir)
        rows, probs, info = run_round(args, runner, bindir, env, rdir, r)
        for op, *vals in rows:
            samples.setdefault(op, []).append(tuple(vals))
        problems += [f"round {r + 1}: {p}" for p in probs]
        if not args.dir:
            shutil.rmtree(rdir, ignore_errors=True)  # ~1 GB a round: free it before the next

    peak = max(v[3] for v in samples[FIRST_OP])
    limits = [(f"first snapshot of {args.files:,} files: peak RSS", peak / 1024, TARGET_RSS_MIB)]
    if args.big_gib:
        brows, blimits, bprobs = run_big(args, runner, bindir, work)
        for op, *vals in brows:
            samples[op] = [tuple(vals)]
        limits += blimits
        problems += bprobs
    rows = []
    for op, vals in samples.items():
        m = statistics.median(v[0] for v in vals)
        d = statistics.median(v[1] for v in vals)
        rss = max((v[3] for v in vals if v[3]), default=None)
        drss = max((v[4] for v in vals if v[4]), default=None)
        rows.append((op, m, d, vals[0][2], rss, drss, [v[0] / v[1] for v in vals]))
    print_table(rows, runner.drop, args)
    for op, value, target in limits:
        print(f"{op:<48} {value:8.0f} MiB  target <= {target} MiB  "
              f"{'PASS' if value <= target else 'MISS'}")
    for line in info:
        print(line)
    report_problems(problems, "correctness: OK")
    if args.results_json:
        with open(args.results_json, "a", encoding="utf-8") as f:
            for op, m, d, target, rss, drss, _ in rows:
                ratio = fmt_ratio(m, d)
                f.write(json.dumps({"bench": "snapshot", "files": args.files, "operation": op,
                                    "shape": args.shape,
                                    "mlver_s": m, "dvc_s": d, "ratio": ratio, "target": target,
                                    "ok": ratio <= target, "rss_kib": rss, "dvc_rss_kib": drss,
                                    "rounds": args.repeat, "cold": runner.drop}) + "\n")
            for op, value, target in limits:
                f.write(json.dumps({"bench": "snapshot", "files": args.files, "operation": op,
                                    "shape": args.shape, "kind": "rss", "value_mib": value,
                                    "target_mib": target, "ok": value <= target}) + "\n")
            f.write(json.dumps({"bench": "snapshot", "operation": "correctness", "ok": not problems,
                                "problems": problems}) + "\n")


def run_round(args, runner: Runner, bindir: str, env: dict, work: str, r: int):
    """One round on freshly generated copies: ``(rows, problems, info lines)``."""
    mlver, dvc = os.path.join(bindir, "mlver"), os.path.join(bindir, "dvc")
    python = os.path.join(bindir, "python")
    tag = f"[{r + 1}/{args.repeat}]"
    m_root, d_root = os.path.join(work, "mlver"), os.path.join(work, "dvc")
    t = time.perf_counter()
    oids, size = generate([m_root, d_root], args.files, args.dirs, args.seed, args.shape)
    n_trees = tree_count(args.shape, args.dirs)
    for root in (m_root, d_root):
        git_repo(root, env)
    print(f"{tag} generated 2 x {len(oids):,} files ({size / 2**20:.0f} MiB each copy, "
          f"{len(set(oids.values())):,} unique contents) in {time.perf_counter() - t:.1f} s",
          flush=True)

    # dvc setup, untimed (mlver init is part of the timed first capture, as the brief says);
    # its site cache (state db, links db) lives in DVC_SITE_CACHE_DIR, inside the work dir
    for argv in ([dvc, "init", "-q"], [dvc, "config", "core.autostage", "false"],
                 [dvc, "config", "core.analytics", "false"],
                 [dvc, "config", "core.check_update", "false"]):
        runner.run(argv, d_root)

    def mlver_cmd(*a: str) -> list[str]:
        if args.profile:
            return [python, "-m", "cProfile", "-s", "cumtime", "-m", "mlver", *a]
        return [mlver, *a]

    def show_profile(label: str, out: str) -> None:
        if not args.profile:
            return
        lines = out.splitlines()
        start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), None)
        if start is not None:
            print(f"--- cProfile, {label} (top 15 by cumtime) ---")
            print("\n".join(lines[start:start + 16]), flush=True)

    def parse_json(out: str):
        if args.profile:  # the profile follows the JSON
            out = out[:out.find("function calls")]
            out = out[:max(out.rfind("}"), out.rfind("]")) + 1]
        return json.loads(out)

    rows: list[tuple] = []  # (operation, mlver s, dvc s, target, mlver RSS KiB, dvc RSS KiB)
    problems: list[str] = []
    drop = runner.drop_caches

    # wait out the stat cache's "racily clean" window so an unchanged check can trust stats
    time.sleep(2.1)

    # a. first capture
    drop()
    t_init, rss_init, _, _ = runner.run(mlver_cmd("init"), m_root)
    t_snap, rss_snap, out, _ = runner.run(mlver_cmd("snapshot", "data", "-o", "data=data", "--json"),
                                          m_root)
    show_profile("first snapshot", out)
    rec1 = parse_json(out)
    oid1, tree1 = rec1["oid"], rec1["outputs"]["data"]["oid"]
    drop()
    t_dadd, drss_add, _, _ = runner.run([dvc, "add", "-q", "data"], d_root)
    rows.append((FIRST_OP, t_init + t_snap, t_dadd,
                 TARGET_SNAPSHOT, max(rss_init, rss_snap), drss_add))
    print(f"{tag} a. first capture: mlver {t_init + t_snap:.2f} s (init {t_init:.2f}), "
          f"dvc add {t_dadd:.2f} s", flush=True)
    history = [dict(oids)]
    problems += check_store(m_root, history, [oid1], n_trees)

    # a'. the same first capture, warm: no store, no DVC cache, but the page cache kept
    if args.warm and not args.profile:
        shutil.rmtree(os.path.join(m_root, ".mlver"))
        for sub in (".dvc/cache", ".dvc/tmp"):
            shutil.rmtree(os.path.join(d_root, sub), ignore_errors=True)
        os.unlink(os.path.join(d_root, "data.dvc"))
        shutil.rmtree(env["DVC_SITE_CACHE_DIR"], ignore_errors=True)  # its hash cache too
        # Both copies read into the page cache, then a sync (untimed, as before every cold
        # run): syncfs is per file system, so without it mlver's batch sync would also flush
        # what dvc add just wrote.
        warm_up(m_root, d_root)
        w_init = runner.run([mlver, "init"], m_root)[0]
        w_snap, _, out, _ = runner.run([mlver, "snapshot", "data", "-o", "data=data", "--json"],
                                       m_root)
        rec1 = json.loads(out)
        if rec1["outputs"]["data"]["oid"] != tree1:
            problems.append("the warm first snapshot has another tree oid than the cold one")
        oid1 = rec1["oid"]
        warm_up(d_root)
        w_dadd = runner.run([dvc, "add", "-q", "data"], d_root)[0]
        rows.append(("first capture, warm", w_init + w_snap, w_dadd, TARGET_SNAPSHOT,
                     None, None))
        print(f"{tag} a'. first capture, warm: mlver {w_init + w_snap:.2f} s, "
              f"dvc add {w_dadd:.2f} s", flush=True)
        # the floor of a first capture: reading every file and writing it once, durably
        warm_up(m_root)
        dest = os.path.join(work, "cp-copy")
        t_cp = runner.run(["sh", "-c", 'cp -r "$1" "$2" && sync', "sh",
                           os.path.join(m_root, "data"), dest], work)[0]
        shutil.rmtree(dest, ignore_errors=True)
        print(f"{tag} a''. floor: cp -r data + sync, warm: {t_cp:.2f} s; mlver's warm first "
              f"capture is {(w_init + w_snap) / t_cp:.2f} x that", flush=True)
        time.sleep(2.1)  # the racily-clean window again, for the unchanged checks

    # b. unchanged re-check, cold
    # the floor of a walk: find stats every entry, in C (cold, then warm)
    drop()
    t_find = runner.run(["find", "data", "-printf", "%s %T@ %C@\\n"], m_root)[0]
    t_find_warm = runner.run(["find", "data", "-printf", "%s %T@ %C@\\n"], m_root)[0]
    print(f"{tag} b0. floor: find stats every entry: {t_find:.2f} s cold, "
          f"{t_find_warm:.2f} s warm", flush=True)
    drop()
    t_stat, rss_stat, out, _ = runner.run(mlver_cmd("status", "data", "--json"), m_root)
    show_profile("status (unchanged)", out)
    st = parse_json(out)[0]
    if not st["clean"] or st["slots"][0]["new"] != tree1:
        problems.append(f"mlver status of unchanged data is not clean/same oid: {st}")
    drop()
    t_same, rss_same, out, _ = runner.run(mlver_cmd("snapshot", "data", "-o", "data=data", "--json"),
                                          m_root)
    show_profile("unchanged snapshot", out)
    rec = parse_json(out)
    if not rec.get("unchanged") or rec["oid"] != oid1 or rec["outputs"]["data"]["oid"] != tree1:
        problems.append("unchanged mlver snapshot did not report unchanged with the same oids")
    drop()
    t_dstat, drss_stat, _, code = runner.run([dvc, "status", "-q"], d_root, check=False)
    if code != 0:
        problems.append(f"dvc status -q exit {code} on unchanged data")
    rows.append(("unchanged: mlver status vs dvc status", t_stat, t_dstat, TARGET_UNCHANGED,
                 rss_stat, drss_stat))
    rows.append(("unchanged: mlver snapshot vs dvc status", t_same, t_dstat, TARGET_UNCHANGED,
                 rss_same, drss_stat))
    print(f"{tag} b. unchanged: mlver status {t_stat:.2f} s, mlver snapshot {t_same:.2f} s, "
          f"dvc status {t_dstat:.2f} s", flush=True)

    # b'. the same, warm (page cache hot)
    if args.warm and not args.profile:
        warm_up(m_root, d_root)  # the cold runs above dropped the cache
        for _ in range(args.warm):
            ws = runner.run([mlver, "status", "data", "--json"], m_root)[0]
            wn = runner.run([mlver, "snapshot", "data", "-o", "data=data", "--json"], m_root)[0]
            wd = runner.run([dvc, "status", "-q"], d_root, check=False)[0]
            rows.append(("unchanged, warm: status", ws, wd, TARGET_UNCHANGED, None, None))
            rows.append(("unchanged, warm: snapshot", wn, wd, TARGET_UNCHANGED, None, None))
            print(f"{tag} b'. warm: mlver status {ws:.2f} s, mlver snapshot {wn:.2f} s, "
                  f"dvc status {wd:.2f} s", flush=True)

    # b''. the same with the file-system monitor on (mlver monitor on), and git status of
    # the same files with git's fsmonitor (its watchman hook), when watchman is installed
    if args.warm and not args.profile and shutil.which("watchman"):
        rows += monitor_rows(args, runner, mlver, dvc, m_root, d_root, work, env, tag)

    # c. 1% of the files modified
    changed = modify([m_root, d_root], oids, args.modify_pct, args.seed, args.shape)
    history.append(dict(oids))
    drop()
    t_snap2, rss_snap2, out, _ = runner.run(mlver_cmd("snapshot", "data", "-o", "data=data", "--json"),
                                            m_root)
    show_profile("snapshot after modifying 1%", out)
    rec2 = parse_json(out)
    tree2 = rec2["outputs"]["data"]["oid"]
    if rec2.get("unchanged") or rec2["version"] != 2 or tree2 == tree1:
        problems.append("snapshot after modification did not write version 2 with a new tree")
    drop()
    t_dadd2, drss_add2, _, _ = runner.run([dvc, "add", "-q", "data"], d_root)
    rows.append((f"{args.modify_pct:g}% modified ({len(changed):,} files): snapshot vs dvc add",
                 t_snap2, t_dadd2, TARGET_MODIFIED, rss_snap2, drss_add2))
    print(f"{tag} c. {len(changed):,} files modified: mlver snapshot {t_snap2:.2f} s, "
          f"dvc add {t_dadd2:.2f} s", flush=True)

    # correctness: objects of both versions; tree oid from scratch on the other copy
    fresh = recompute_tree(d_root)
    if fresh != tree2:
        problems.append(f"tree oid recomputed from scratch on the dvc copy ({fresh}) differs "
                        f"from mlver's snapshot ({tree2})")
    rec_oids = [oid1, rec2["oid"]]

    # d. 1% modified again, with the file-system monitor on: the snapshot patches the last
    # tree with the paths watchman names (cold too: watchman's answer is in its memory)
    if args.warm and not args.profile and shutil.which("watchman") and \
            runner.run([mlver, "monitor", "on"], m_root, check=False)[3] == 0:
        try:
            runner.run([mlver, "status", "data"], m_root)  # the clock of the stored base
            changed = modify([m_root, d_root], oids, args.modify_pct, args.seed + 7, args.shape)
            history.append(dict(oids))
            drop()
            t_snap3, rss_snap3, out, _ = runner.run(
                mlver_cmd("snapshot", "data", "-o", "data=data", "--json"), m_root)
            rec3 = parse_json(out)
            drop()
            t_dadd3, drss_add3, _, _ = runner.run([dvc, "add", "-q", "data"], d_root)
            rows.append((f"watchman: {args.modify_pct:g}% modified ({len(changed):,} files): "
                         "snapshot vs dvc add", t_snap3, t_dadd3, TARGET_MODIFIED, rss_snap3,
                         drss_add3))
            print(f"{tag} d. watchman on, {len(changed):,} files modified: mlver snapshot "
                  f"{t_snap3:.2f} s, dvc add {t_dadd3:.2f} s", flush=True)
            fresh3 = recompute_tree(d_root)
            tree3 = rec3["outputs"]["data"]["oid"]
            if rec3.get("unchanged") or rec3["version"] != 3 or fresh3 != tree3:
                problems.append(f"the patched snapshot (watchman) gave tree {tree3}, a "
                                f"from-scratch recompute {fresh3}")
            rec_oids.append(rec3["oid"])
        finally:
            runner.run([mlver, "monitor", "off"], m_root, check=False)
    problems += check_store(m_root, history, rec_oids, n_trees)
    with _open_repo(m_root) as repo:
        n_obj = count_objects(repo)
    info = [f"tree oid v1 {tree1} (same in the first and the unchanged snapshot and in status); "
            f"v2 {tree2} ({'=' if fresh == tree2 else 'DIFFERS from'} a from-scratch recompute "
            f"on the dvc copy)",
            f"objects in the store: {n_obj:,} (checked: unique contents + trees + records "
            f"+ env/patch blobs)"]
    return rows, problems, info


def monitor_rows(args, runner: Runner, mlver: str, dvc: str, m_root: str, d_root: str,
                 work: str, env: dict, tag: str) -> list:
    """Warm unchanged status and re-snapshot with ``mlver monitor on``, against ``dvc
    status`` and against ``git status`` of a git repository holding the same files with
    git's fsmonitor (the watchman hook git ships). The monitor is turned off afterwards."""
    out = []
    if runner.run([mlver, "monitor", "on"], m_root, check=False)[3] != 0:
        print(f"{tag} b''. skipped: mlver monitor on failed (pywatchman missing?)", flush=True)
        return out
    g_root = os.path.join(work, "git-fsmonitor")
    shutil.rmtree(g_root, ignore_errors=True)
    shutil.copytree(os.path.join(m_root, "data"), os.path.join(g_root, "data"))
    git_repo(g_root, env)
    for argv in (["git", "add", "-A"], ["git", "commit", "-q", "-m", "data"]):
        subprocess.run(argv, cwd=g_root, env=env, check=True, capture_output=True)
    hook = os.path.join(g_root, ".git", "hooks", "fsmonitor-watchman")
    if os.path.exists(hook + ".sample"):
        shutil.copy(hook + ".sample", hook)
        os.chmod(hook, 0o755)
        for k, v in (("core.fsmonitor", hook), ("core.untrackedcache", "true")):
            subprocess.run(["git", "config", k, v], cwd=g_root, env=env, check=True)
    try:
        for argv in ([mlver, "status", "data"], [mlver, "snapshot", "data", "-o", "data=data"]):
            runner.run(argv, m_root)  # the first ones walk and take the clock
        for _ in range(2):
            runner.run(["git", "status", "--porcelain"], g_root)  # git's first asks, too
        for _ in range(args.warm):
            ws = runner.run([mlver, "status", "data", "--json"], m_root)[0]
            wn = runner.run([mlver, "snapshot", "data", "-o", "data=data", "--json"], m_root)[0]
            wd = runner.run([dvc, "status", "-q"], d_root, check=False)[0]
            out += [("watchman, warm: status vs dvc status", ws, wd, TARGET_MONITOR, None, None),
                    ("watchman, warm: snapshot vs dvc status", wn, wd, TARGET_MONITOR, None,
                     None)]
            print(f"{tag} b''. watchman: mlver status {ws:.2f} s, mlver snapshot {wn:.2f} s, "
                  f"dvc status {wd:.2f} s", flush=True)
        # both take ~0.1 s, so one run is mostly noise: the median of GIT_ROUNDS interleaved
        # pairs (a tenth of a dvc status) is the figure
        pairs = [(runner.run([mlver, "status", "data", "--json"], m_root)[0],
                  runner.run(["git", "status", "--porcelain"], g_root)[0])
                 for _ in range(GIT_ROUNDS)]
        ws, wg = (statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs))
        out.append(("watchman, warm: status vs git status+fsmonitor", ws, wg, TARGET_GIT, None,
                    None))
        print(f"{tag} b''. watchman: mlver status {ws:.3f} s, git status (fsmonitor) {wg:.3f} s "
              f"(medians of {GIT_ROUNDS} interleaved pairs)", flush=True)
    finally:
        runner.run([mlver, "monitor", "off"], m_root, check=False)
        subprocess.run(["watchman", "watch-del", g_root], capture_output=True, check=False)
        shutil.rmtree(g_root, ignore_errors=True)
    return out


def _open_repo(root: str):
    sys.path.append(REPO_ROOT)
    from mlver import Repo

    return Repo(root)


def run_big(args, runner: Runner, bindir: str, work: str):
    """One big file: its first ``mlver snapshot`` vs ``cp FILE DEST && sync``, both cold.
    Returns (rows, limits, problems)."""
    mlver = os.path.join(bindir, "mlver")
    root = os.path.join(work, "big")
    os.makedirs(root)
    git_repo(root, runner.env)
    size = int(args.big_gib * (1 << 30))
    path = os.path.join(root, "big.bin")
    h = None
    t = time.perf_counter()
    with open(path, "wb") as f:
        import xxhash

        h = xxhash.xxh3_128()
        block = random.Random(args.seed).randbytes(64 << 20)
        left = size
        while left:
            chunk = block[:min(left, len(block))]
            chunk = os.urandom(4096) + chunk[4096:]  # no two blocks alike
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    print(f"[big] wrote {size / 2**30:g} GiB in {time.perf_counter() - t:.1f} s", flush=True)
    time.sleep(2.1)
    runner.drop_caches()
    dest = os.path.join(work, "big-copy.bin")
    t_cp, _, _, _ = runner.run(["sh", "-c", f'cp "{path}" "{dest}" && sync'], root)
    os.unlink(dest)
    runner.run([mlver, "init"], root)  # not timed: the first snapshot is
    runner.drop_caches()
    t_snap, rss_snap, out, _ = runner.run([mlver, "snapshot", "big", "-o", "f=big.bin",
                                           "--json"], root)
    rec = json.loads(out)
    problems = []
    if rec["outputs"]["f"]["oid"] != h.hexdigest():
        problems.append("the big file's oid is not XXH3-128 of its bytes")
    with _open_repo(root) as repo:
        objects, oid = repo.store.objects, h.hexdigest()
        # store format 3 keeps a file of CHUNK_THRESHOLD bytes or more as chunks + a manifest
        stored = objects.local_file(oid) is not None or (
            getattr(objects, "manifest", None) is not None and objects.manifest(oid) is not None)
        if not stored or not objects.verify_file(oid):
            problems.append("the big file is not a verified object (loose or chunked)")
    label = f"one {args.big_gib:g} GiB file: first snapshot vs cp+sync"
    print(f"[big] mlver snapshot {t_snap:.2f} s (peak RSS {rss_snap / 1024:.0f} MiB), "
          f"cp + sync {t_cp:.2f} s", flush=True)
    rows = [(label, t_snap, t_cp, TARGET_BIG, rss_snap, None)]
    limits = [(f"one {args.big_gib:g} GiB file: peak RSS", rss_snap / 1024, TARGET_BIG_RSS_MIB)]
    shutil.rmtree(root, ignore_errors=True)
    return rows, limits, problems


def print_table(rows, cold: bool, args) -> None:
    state = "page cache dropped before each cold run" if cold else "WARM page cache (could not drop)"
    print()
    print(f"mlver vs dvc, {args.files:,} files, {args.shape} ({state}; median of {args.repeat} round(s)"
          f"{', warm rows: ' + str(args.warm) + ' runs a round' if args.warm else ''}"
          f"{'; PROFILED, timings inflated' if args.profile else ''})")
    head = (f"{'operation':<48} {'mlver s':>8} {'dvc s':>8} {'ratio':>7} {'target':>7}  {'':4} "
            f"{'mlver RSS':>9} {'dvc RSS':>9}  ratio per run")
    print(head)
    print("-" * len(head))
    for op, m, d, target, rss, drss, ratios in rows:
        r = fmt_ratio(m, d)
        mark = "PASS" if r <= target else "MISS"
        rss_s = f"{rss / 1024:.0f} MiB" if rss else ""
        drss_s = f"{drss / 1024:.0f} MiB" if drss else ""
        per = " ".join(f"{x:.2f}" for x in ratios) if len(ratios) > 1 else ""
        print(f"{op:<48} {m:8.2f} {d:8.2f} {r:7.3f} {'<=' + format(target, 'g'):>7}  {mark:4} "
              f"{rss_s:>9} {drss_s:>9}  {per}")
    print("(seconds: median over runs; ratio: of the medians; RSS: the highest peak)")
    print()


if __name__ == "__main__":
    main()
