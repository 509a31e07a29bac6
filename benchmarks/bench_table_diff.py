"""Benchmark the table diff on two versions of a 1,000,000-row, 20-column CSV.

    python benchmarks/bench_table_diff.py [--rows 1000000] [--dir DIR] [--seed 0]

v2 = v1 with 5% rows appended, 1% of rows changed in one column and one
numeric column shifted.  Each table is read ONCE; the script prints the
seconds of every step and the peak RSS of the measuring process (the data is
generated in a child process so that generation does not count).
Target: the whole diff <= 5 s and <= 1.5 GB peak RSS on a 2-core machine.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

N_NUMERIC = 15  # plus id and 4 string columns = 20 columns


def generate(directory: str, rows: int, seed: int) -> None:
    """Write v1.csv and v2.csv into ``directory`` (seeded, reproducible)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(seed)

    def make(n: int, first_id: int) -> dict:
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

    v1 = make(rows, 0)
    pcsv.write_csv(pa.table(v1), os.path.join(directory, "v1.csv"))
    extra = make(rows // 20, rows)                            # +5% rows
    v2 = {k: np.concatenate([v1[k], extra[k]]) for k in v1}
    changed = rng.choice(rows, rows // 100, replace=False)    # 1% rows, one column
    v2["n4"] = v2["n4"].copy()
    v2["n4"][changed] += 1.0
    v2["n2"] = v2["n2"] + 0.5 * v2["n2"].std()                # shifted numeric column
    pcsv.write_csv(pa.table(v2), os.path.join(directory, "v2.csv"))


def measure(directory: str) -> None:
    """Time read + profile + diff (no key, then key='id') and print peak RSS."""
    # an installed or PYTHONPATH mlver wins; else the checkout this script is in
    sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from mlver.diff.profile import profile_table, read_table
    from mlver.diff.tables import diff_tables

    times: dict[str, float] = {}

    def step(name, fn):
        t = time.perf_counter()
        out = fn()
        times[name] = time.perf_counter() - t
        print(f"{name:<22} {times[name]:7.2f} s", flush=True)
        return out

    old = step("read v1", lambda: read_table(os.path.join(directory, "v1.csv"), "csv"))
    new = step("read v2", lambda: read_table(os.path.join(directory, "v2.csv"), "csv"))
    op, oh = step("profile v1", lambda: profile_table(old))
    np_, nh = step("profile v2", lambda: profile_table(new))
    d = step("diff (no key)", lambda: diff_tables(old, new, old_profile=op, new_profile=np_,
                                                   old_hashes=oh, new_hashes=nh))
    print("   ", d.summary())
    k = step("diff (key=id)", lambda: diff_tables(old, new, key="id", old_profile=op,
                                                   new_profile=np_))
    print("   ", k.summary())
    base = times["read v1"] + times["read v2"] + times["profile v1"] + times["profile v2"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"total, no key          {base + times['diff (no key)']:7.2f} s")
    print(f"total, key=id          {base + times['diff (key=id)']:7.2f} s")
    print(f"peak RSS               {rss:7.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dir", help="where the CSVs are (generated if missing)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate_only:
        generate(args.dir, args.rows, args.seed)
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.dir or tmp
        os.makedirs(directory, exist_ok=True)
        if not all(os.path.exists(os.path.join(directory, f)) for f in ("v1.csv", "v2.csv")):
            t = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--generate-only", "--dir", directory,
                            "--rows", str(args.rows), "--seed", str(args.seed)], check=True)
            print(f"generated {args.rows:,} rows in {time.perf_counter() - t:.1f} s "
                  f"({os.path.getsize(os.path.join(directory, 'v2.csv')) >> 20} MiB for v2)")
        measure(directory)


if __name__ == "__main__":
    main()
