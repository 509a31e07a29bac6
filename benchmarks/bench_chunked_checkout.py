"""Benchmark checkout of one big chunked file against ``cp`` of the same file.

    python benchmarks/bench_chunked_checkout.py [--mib 1024] [--repeat 3] [--dir DIR]

A git repository holds ``big.bin`` (``--mib`` MiB of seeded random bytes, stored chunked:
it is above the chunk threshold). ``mlver snapshot big -o model=big.bin`` captures it,
untimed. Then ``--repeat`` rounds, each after ``sync`` (neither pays for the other's dirty
pages) with the page cache warm (everything was just written or read):

    rm big.bin; mlver checkout big     (timed: a real CLI process, startup included)
    cp src.bin copy.bin; rm copy.bin   (timed: the same bytes, file to file)

Checked after every checkout: big.bin hashes to the snapshot's oid. Prints the median
seconds of each and their ratio. Target (issue 22): checkout <= 1.5 x cp. Everything happens
in a temporary folder (or --dir), removed at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
TARGET = 1.5


def mlver_bin() -> str:
    """The mlver console script of the interpreter running this (the worktree's venv)."""
    return os.path.join(os.path.dirname(sys.executable), "mlver")


def run(*cmd: str, cwd: str) -> float:
    """Seconds ``cmd`` took (it must succeed)."""
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def generate(path: str, mib: int, seed: int = 0) -> None:
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(rnd.randbytes(1 << 20))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir")
    args = ap.parse_args()
    sys.path.insert(0, REPO_ROOT)
    from mlver.base.hashing import hash_file

    base = args.dir or tempfile.mkdtemp(prefix="mlver-bench-ck-")
    os.makedirs(base, exist_ok=True)
    try:
        root = os.path.join(base, "proj")
        os.makedirs(root)
        subprocess.run(["git", "init", "-q", root], check=True)
        src = os.path.join(base, "src.bin")
        generate(src, args.mib)
        shutil.copyfile(src, os.path.join(root, "big.bin"))
        oid = hash_file(src)[0]
        mlver = mlver_bin()
        run(mlver, "init", cwd=root)
        run(mlver, "snapshot", "big", "-o", "model=big.bin", cwd=root)
        ck, cp = [], []
        for _ in range(args.repeat):
            os.unlink(os.path.join(root, "big.bin"))
            os.sync()
            ck.append(run(mlver, "checkout", "big", cwd=root))
            assert hash_file(os.path.join(root, "big.bin"))[0] == oid, "wrong bytes"
            os.sync()
            cp.append(run("cp", src, os.path.join(base, "copy.bin"), cwd=base))
            os.unlink(os.path.join(base, "copy.bin"))
        a, b = statistics.median(ck), statistics.median(cp)
        print(f"{args.mib} MiB chunked file: mlver checkout {a:.2f} s, cp {b:.2f} s, "
              f"ratio {a / b:.2f} (target <= {TARGET}); rounds: "
              + ", ".join(f"{x:.2f}/{y:.2f}" for x, y in zip(ck, cp, strict=True)))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
