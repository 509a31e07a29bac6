"""Measure ``mlver verify`` against the disk's own sequential read speed.

    python benchmarks/bench_verify.py [--gib 1] [--small-share 0.25] [--repeat 3]
                                      [--no-drop-caches] [--dir DIR]

Builds a store of about ``--gib`` GiB with the real CLI: large files (64 MiB each, stored
loose) and, for ``--small-share`` of the volume, 4 KiB files in four datasets (one pack
each). Then, with the page cache dropped before each run (when run as root):

1. the raw read speed of the store's files: every file under ``.mlver/objects`` read
   sequentially in 8 MiB blocks (what ``cat`` would do), one after the other and with 4
   threads;
2. ``mlver verify`` as a real CLI process;
3. the hashing step alone with threads and with processes (1, 2, 4, 8 workers), to pick
   how verify spreads the work (python-xxhash releases the GIL for large buffers; reads
   always do).

It prints MB/s for each (median of ``--repeat`` runs) and the ratio verify / raw read.
Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from _common import REPO_ROOT, report_problems, work_dir

sys.path.insert(0, REPO_ROOT)
from mlver.store import packs, scan  # noqa: E402
from mlver.store.objects import LocalObjectStore  # noqa: E402

BIG = 64 << 20
SMALL = 4 << 10


def mlver(cwd: str, *args: str) -> subprocess.CompletedProcess:
    exe = os.path.join(os.path.dirname(sys.executable), "mlver")
    argv = [exe] if os.path.exists(exe) else [sys.executable, "-m", "mlver"]
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    return subprocess.run([*argv, *args], cwd=cwd, capture_output=True, text=True, env=env)


def build(work: str, gib: float, small_share: float) -> str:
    root = os.path.join(work, "proj")
    os.makedirs(root)
    subprocess.run(["git", "init", "-q", root], check=True)
    assert mlver(root, "init").returncode == 0
    total = int(gib * (1 << 30))
    n_big = max(1, int(total * (1 - small_share)) // BIG)
    n_small = int(total * small_share) // SMALL
    rnd = open("/dev/urandom", "rb")
    os.makedirs(os.path.join(root, "big"))
    for i in range(n_big):
        with open(os.path.join(root, "big", f"f{i:03}.bin"), "wb") as f:
            f.write(rnd.read(BIG))
    r = mlver(root, "snapshot", "big", "--kind", "dataset", "-o", "d=big")
    assert r.returncode == 0, r.stderr
    for part in range(4):
        d = os.path.join(root, f"small{part}")
        for j in range(n_small // 4):
            sub = os.path.join(d, f"s{j % 64:02}")
            os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, f"f{j}.bin"), "wb") as f:
                f.write(rnd.read(SMALL))
        r = mlver(root, "snapshot", f"small{part}", "--kind", "dataset", "-o", f"d=small{part}")
        assert r.returncode == 0, r.stderr
    return root


def drop_caches(enabled: bool) -> bool:
    if not enabled:
        return False
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def store_files(root: str) -> list[str]:
    out = []
    for d, _dirs, files in os.walk(os.path.join(root, ".mlver", "objects")):
        out += [os.path.join(d, f) for f in files]
    return sorted(out)


def read_all(paths: list[str]) -> int:
    n = 0
    buf = bytearray(8 << 20)
    for p in paths:
        with open(p, "rb", buffering=0) as f:
            while k := f.readinto(buf):
                n += k
    return n


def raw_read(paths: list[str], threads: int) -> int:
    if threads == 1:
        return read_all(paths)
    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(read_all, [paths[i::threads] for i in range(threads)]))


def _job(item: tuple[str, str, str]) -> int:
    """One file's check, from plain paths (what a process pool can be sent)."""
    kind, path, oid = item
    if kind == "pack":
        c = scan.check_pack(packs.PackIndex(path))
    else:
        c = scan.check_loose(scan.LooseObject(oid, path, 0, 0.0))
    assert not c.bad and c.damaged is None, c
    return c.nbytes


def hash_all(root: str, pool_kind: str, workers: int) -> int:
    listing = scan.list_store(LocalObjectStore(os.path.join(root, ".mlver")))
    items = [("pack", p.index.idx_path, "") for p in listing.packs]
    items += [("loose", o.path, o.oid) for o in listing.loose]
    items.sort(key=lambda it: -os.path.getsize(it[1][:-4] + ".pack" if it[0] == "pack" else it[1]))
    pool_cls = ThreadPoolExecutor if pool_kind == "threads" else ProcessPoolExecutor
    with pool_cls(workers) as pool:
        return sum(pool.map(_job, items))


def timed(fn, drop: bool, repeat: int) -> tuple[float, int]:
    times, n = [], 0
    for _ in range(repeat):
        drop_caches(drop)
        t = time.perf_counter()
        n = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=float, default=1.0, help="size of the store to build")
    ap.add_argument("--small-share", type=float, default=0.25,
                    help="share of the volume in 4 KiB files (packed)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-drop-caches", action="store_true")
    ap.add_argument("--dir", help="work here (must be empty or new)")
    args = ap.parse_args()
    problems: list[str] = []
    with work_dir(args.dir, "mlver-bench-verify-") as work:
        t = time.perf_counter()
        root = build(work, args.gib, args.small_share)
        paths = store_files(root)
        size = sum(os.path.getsize(p) for p in paths)
        n_pack = sum(p.endswith(".pack") for p in paths)
        print(f"store: {size / 1e6:,.0f} MB in {len(paths)} files ({n_pack} packs), built in "
              f"{time.perf_counter() - t:.0f} s")
        drop = drop_caches(not args.no_drop_caches)
        print("page cache dropped before each run" if drop else
              "page cache NOT dropped (not root, or --no-drop-caches): warm figures")
        rows = []

        def row(label: str, fn) -> float:
            secs, n = timed(fn, drop, args.repeat)
            mbs = n / secs / 1e6
            rows.append((label, secs, mbs))
            print(f"  {label:<34} {secs:7.2f} s  {mbs:8.0f} MB/s", flush=True)
            return mbs

        raw1 = row("raw read, 1 thread", lambda: raw_read(paths, 1))
        raw4 = row("raw read, 4 threads", lambda: raw_read(paths, 4))

        inside: list[float] = []

        def cli() -> int:
            r = mlver(root, "verify")
            if r.returncode != 0:
                problems.append(f"mlver verify failed: {r.stdout[-500:]} {r.stderr[-500:]}")
            m = re.search(r" in ([\d.]+) s ", r.stdout)
            if m:
                inside.append(float(m.group(1)))  # verify's own time, without start-up
            return size

        ver = row("mlver verify (CLI, whole store)", cli)
        ver_inside = size / statistics.median(inside) / 1e6 if inside else 0.0
        print(f"  {'  the same, as verify reports it':<34} {statistics.median(inside):7.2f} s  "
              f"{ver_inside:8.0f} MB/s")
        for kind in ("threads", "processes"):
            for w in (1, 2, 4, 8):
                row(f"hashing only, {w} {kind}", lambda k=kind, w=w: hash_all(root, k, w))
        raw = max(raw1, raw4)
        print(f"\nmlver verify: {ver:,.0f} MB/s ({ver_inside:,.0f} MB/s without process "
              f"start-up) = {ver / raw:.0%} ({ver_inside / raw:.0%}) of the best raw read "
              f"({raw:,.0f} MB/s), {os.cpu_count()} CPUs")
    report_problems(problems, "verify found the store clean every time")


if __name__ == "__main__":
    main()
