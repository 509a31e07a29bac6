"""Measure where packing small objects stops paying: loose files vs one pack, by object size.

    python benchmarks/bench_pack_threshold.py [--mib 128] [--dir DIR]

For each object size it writes the same total volume (``--mib``) of random objects two
ways, with the store's write discipline (stage in tmp/, one ``syncfs``, publish, one more
``syncfs``): as loose files (create + write + hard link + unlink per object) and appended
to one pack file (one write per object, one rename for the pack). It prints the time per
object and the throughput of each; ``docs/format.md`` states the threshold chosen from it.
Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from _common import work_dir

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mlver.store.safefs import sync_filesystem  # noqa: E402

SIZES = [1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20]


def loose(base: str, blobs: list[bytes]) -> float:
    tmp, obj = os.path.join(base, "tmp"), os.path.join(base, "objects")
    os.makedirs(tmp)
    os.makedirs(obj)
    t = time.perf_counter()
    names = []
    for i, b in enumerate(blobs):
        p = f"{tmp}/{i}"
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        os.write(fd, b)
        os.close(fd)
        names.append(p)
    sync_filesystem(tmp)
    for i, p in enumerate(names):
        fan = f"{obj}/{i % 256:02x}"
        if i < 256:
            os.makedirs(fan, exist_ok=True)
        os.link(p, f"{fan}/{i:030x}")
        os.unlink(p)
    sync_filesystem(obj)
    return time.perf_counter() - t


def packed(base: str, blobs: list[bytes]) -> float:
    tmp, obj = os.path.join(base, "tmp"), os.path.join(base, "objects", "pack")
    os.makedirs(tmp)
    os.makedirs(obj)
    t = time.perf_counter()
    p = f"{tmp}/pack"
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    for b in blobs:
        os.write(fd, len(b).to_bytes(20, "little"))  # the entry header
        os.write(fd, b)
    os.close(fd)
    sync_filesystem(tmp)
    os.rename(p, f"{obj}/pack-1.pack")
    sync_filesystem(obj)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=128, help="volume written per size and way")
    ap.add_argument("--dir", help="work here (must be empty or new)")
    args = ap.parse_args()
    print(f"{'size':>8} {'objects':>8} {'loose us/obj':>13} {'pack us/obj':>12} "
          f"{'loose MiB/s':>12} {'pack MiB/s':>11} {'loose/pack':>10}")
    with work_dir(args.dir, "mlver-bench-threshold-") as work:
        for size in SIZES:
            n = max(32, min(50_000, (args.mib << 20) // size))
            blobs = [os.urandom(size) for _ in range(min(n, 64))]
            blobs = [blobs[i % len(blobs)] for i in range(n)]
            times = {}
            for way, fn in (("loose", loose), ("pack", packed)):
                best = float("inf")
                for r in range(2):
                    d = os.path.join(work, f"{way}-{size}-{r}")
                    best = min(best, fn(d, blobs))
                    shutil.rmtree(d)
                times[way] = best
            mib = n * size / 2**20
            print(f"{size >> 10:>6}Ki {n:>8} {times['loose'] / n * 1e6:>13.1f} "
                  f"{times['pack'] / n * 1e6:>12.1f} {mib / times['loose']:>12.0f} "
                  f"{mib / times['pack']:>11.0f} {times['loose'] / times['pack']:>10.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
