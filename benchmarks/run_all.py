"""Run every benchmark in sequence and print one summary table (what ``make bench`` runs).

    python benchmarks/run_all.py            full size: 100,000 files, 10,000 records, 1M rows,
                                            big parquet tables (1M x 20, 10M x 20 unkeyed,
                                            20M x 6 keyed), a 200-commit DVC history,
                                            a 120 MB CSV, a 64 MB checkpoint and a 1 GiB file
    python benchmarks/run_all.py --quick    10,000 files, 2,000 records, 100,000 rows, parquet
                                            tables of 1M and 2M rows, a 50-commit DVC history,
                                            30 MB, 16 MB and 0.25 GiB

Each benchmark runs as its own process (so one's memory does not count against another),
its output is shown as it comes, and its results are collected for the summary. The table
diff benchmark (bench_table_diff.py) is run too when it exists. Nothing is written into
the repository: every benchmark works in a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

FULL = {"files": 100_000, "records": 10_000, "rows": 1_000_000, "big_gib": 1,
        "big_table": [], "remote_files": 100_000, "dvc_commits": 200, "chunks": []}
QUICK = {"files": 10_000, "records": 2_000, "rows": 100_000, "big_gib": 0.25,
         "big_table": ["--quick"], "remote_files": 5_000, "dvc_commits": 50,
         "chunks": ["--quick"]}
TABLE_DIFF_TARGET_S = 5.0        # stated in bench_table_diff.py
TABLE_DIFF_TARGET_RSS_MIB = 1536


def run(argv: list[str]) -> tuple[int, float, list[str]]:
    """Run a benchmark, echoing its output; return (exit status, seconds, output lines)."""
    print(f"\n$ {' '.join(os.path.relpath(a) if a.startswith(HERE) else a for a in argv)}",
          flush=True)
    t = time.perf_counter()
    lines: list[str] = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          bufsize=1, stdin=subprocess.DEVNULL) as p:
        for line in p.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))
    return p.returncode, time.perf_counter() - t, lines


def table_diff_results(lines: list[str], rows: int) -> list[dict]:
    """The summary lines bench_table_diff.py prints, checked against its stated targets."""
    out = []
    for line in lines:
        m = re.match(r"^(total, [^ ].*?)\s+([\d.]+) s$", line)
        if m:
            v = float(m.group(2))
            out.append({"bench": "table_diff", "name": f"table diff {rows:,} rows: {m.group(1)}", "value": f"{v:.2f} s",
                        "target": f"<= {TABLE_DIFF_TARGET_S:g} s", "ok": v <= TABLE_DIFF_TARGET_S})
        m = re.match(r"^peak RSS\s+([\d.]+) MiB$", line)
        if m:
            v = float(m.group(1))
            out.append({"bench": "table_diff", "name": f"table diff {rows:,} rows: peak RSS", "value": f"{v:.0f} MiB",
                        "target": f"<= {TABLE_DIFF_TARGET_RSS_MIB} MiB",
                        "ok": v <= TABLE_DIFF_TARGET_RSS_MIB})
    return out


def ui_results(lines: list[str], records: int) -> list[dict]:
    """The page lines of bench_ui.py: 'label  median  max  KB  PASS|MISS'."""
    out = []
    for line in lines:
        m = re.match(r"^(.+?)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(PASS|MISS)$", line)
        if m:
            out.append({"bench": "ui", "name": f"ui {records:,} rec: {m.group(1).strip()}",
                        "value": f"{float(m.group(2)):.1f} ms", "target": "<= 300 ms",
                        "ok": m.group(5) == "PASS"})
        if line.startswith("CORRECTNESS PROBLEMS"):
            out.append({"bench": "ui", "name": "ui: correctness checks", "value": "problems",
                        "target": "OK", "ok": False})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes: 10,000 files, 2,000 records, 100,000 table rows")
    ap.add_argument("--only", action="append",
                    choices=["snapshot", "lineage", "table_diff", "big_table", "hooks", "ui",
                             "remote", "import_dvc", "checkout", "chunks"],
                    help="run only this benchmark (repeatable)")
    args = ap.parse_args()
    size = QUICK if args.quick else FULL
    only = set(args.only or ["snapshot", "lineage", "table_diff", "big_table", "hooks", "ui",
                             "remote", "import_dvc", "checkout", "chunks"])
    py = sys.executable
    started = time.perf_counter()
    summary: list[dict] = []
    failures: list[str] = []
    timings: list[tuple[str, float]] = []

    with tempfile.TemporaryDirectory(prefix="mlver-bench-results-") as tmp:
        results = os.path.join(tmp, "results.jsonl")
        plan = []
        if "snapshot" in only:
            plan.append(("snapshot", [py, os.path.join(HERE, "bench_snapshot.py"),
                                      "--files", str(size["files"]), "--results-json", results,
                                      "--big-gib", str(size["big_gib"])]))
            # the same targets on another shape: a deep tree of 1-8 KiB files (2 rounds)
            plan.append(("snapshot-deep", [py, os.path.join(HERE, "bench_snapshot.py"),
                                           "--files", str(size["files"]), "--shape", "deep",
                                           "--repeat", "2", "--warm", "1",
                                           "--results-json", results]))
        if "lineage" in only:
            plan.append(("lineage", [py, os.path.join(HERE, "bench_lineage.py"),
                                     "--records", str(size["records"]), "--results-json", results]))
        if "remote" in only:
            plan.append(("remote", [py, os.path.join(HERE, "bench_remote.py"),
                                    "--files", str(size["remote_files"]),
                                    "--results-json", results]))
        if "checkout" in only:
            plan.append(("checkout", [py, os.path.join(HERE, "bench_checkout.py"),
                                      "--files", str(size["files"])]))
        if "import_dvc" in only:
            # always 10,000 data files (the target's); quick runs walk fewer commits
            plan.append(("import_dvc", [py, os.path.join(HERE, "bench_import_dvc.py"),
                                        "--commits", str(size["dvc_commits"]),
                                        "--results-json", results]))
        if "chunks" in only:
            # a 120 MB CSV, a 64 MB checkpoint, a 1 GiB file (quick: 30 MB, 16 MB, 0.25 GiB)
            plan.append(("chunks", [py, os.path.join(HERE, "bench_chunks.py"), *size["chunks"],
                                    "--results-json", results]))
        table_diff = os.path.join(HERE, "bench_table_diff.py")
        if "table_diff" in only:
            if os.path.exists(table_diff):
                plan.append(("table_diff", [py, table_diff, "--rows", str(size["rows"])]))
            else:
                print("bench_table_diff.py is not there: skipped")
        if "big_table" in only:
            # issue 23's cases: 1M x 20 keyed and unkeyed, 10M x 20 unkeyed, 20M x 6 keyed
            # (quick: 2M rows); the 100M case (--huge) is run by hand
            plan.append(("big_table", [py, os.path.join(HERE, "bench_big_table.py"),
                                       *size["big_table"], "--results-json", results]))
        if "hooks" in only:
            plan.append(("hooks", [py, os.path.join(HERE, "bench_hooks.py"),
                                   "--results-json", results]))
        if "ui" in only:
            plan.append(("ui", [py, os.path.join(HERE, "bench_ui.py"),
                                "--records", str(size["records"])]))
        for name, argv in plan:
            code, secs, lines = run(argv)
            timings.append((name, secs))
            if code != 0:
                failures.append(f"{name} exited with status {code}")
            if name == "table_diff":
                found = table_diff_results(lines, size["rows"])
                if code == 0 and not found:
                    failures.append("table_diff printed no 'total ...' / 'peak RSS' lines")
                summary += found
            if name == "ui":
                found = ui_results(lines, size["records"])
                if code == 0 and not found:
                    failures.append("ui printed no page lines")
                summary += found
        if os.path.exists(results):
            with open(results, encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    if row.get("unit") != "info":  # figures without a target (zstd)
                        summary.append(_row(row))

    total = time.perf_counter() - started
    print()
    print("=" * 100)
    print(f"SUMMARY ({'quick' if args.quick else 'full size'}: {size['files']:,} files, "
          f"{size['records']:,} records, {size['rows']:,} table rows; snapshot rows: median "
          f"mlver/dvc seconds of 3 rounds)")
    width = max([len(r["name"]) for r in summary] + [40])
    print(f"{'benchmark':<{width}} {'result':>30} {'target':>12}")
    print("-" * (width + 52))
    # snapshot-deep rows say "snapshot"
    order = {"snapshot": 0, "lineage": 1, "table_diff": 2, "big_table": 3, "hooks": 4, "ui": 5,
             "remote": 6, "import_dvc": 7, "checkout": 8, "chunks": 9}
    summary.sort(key=lambda r: order.get(r["bench"], 8))  # stable: keeps each one's order
    for r in summary:
        print(f"{r['name']:<{width}} {r['value']:>30} {r['target']:>12}  "
              f"{'info' if r['ok'] is None else 'PASS' if r['ok'] else 'MISS'}")
    judged = [r for r in summary if r["ok"] is not None]  # figures without a target: info
    passed = sum(r["ok"] for r in judged)
    print("-" * (width + 52))
    print(f"{passed}/{len(judged)} met; "
          + ", ".join(f"{n} {s:.0f} s" for n, s in timings) + f"; total {total:.0f} s "
          f"({total / 60:.1f} min)")
    for fail in failures:
        print(f"FAILED: {fail}")
    sys.exit(1 if failures else 0)


def _row(r: dict) -> dict:
    if r["operation"] == "correctness":
        return {"bench": r["bench"], "name": f"{r['bench']}: correctness checks", "value": "OK" if r["ok"] else
                f"{len(r['problems'])} problem(s)", "target": "OK", "ok": r["ok"]}
    if r["bench"] == "chunks":
        return _chunks_row(r)
    if r["bench"] == "big_table":
        return _big_table_row(r)
    if r["bench"] == "remote" and r["operation"] == "push requests":
        return {"bench": "remote", "name": f"remote {r['files']:,} files: push requests",
                "value": f"{r['requests']:,} = {100 * r['share']:.3f}% of {r['objects']:,}",
                "target": f"<= {100 * r['target']:g}%", "ok": r["ok"]}
    if r["bench"] == "remote":
        return {"bench": "remote", "name": f"remote {r['files']:,} files: {r['operation']}",
                "value": f"{r['mlver_s']:.2f}/{r['dvc_s']:.2f} s = {r['ratio']:.3f}",
                "target": f"<= {r['target']:g}", "ok": r["ok"]}
    if r["bench"] == "snapshot" and r.get("kind") == "rss":
        return {"bench": "snapshot", "name": f"snapshot ({r.get('shape', 'flat')}): {r['operation']}",
                "value": f"{r['value_mib']:.0f} MiB", "target": f"<= {r['target_mib']:g} MiB",
                "ok": r["ok"]}
    if r["bench"] == "snapshot":
        return {"bench": "snapshot", "name": f"snapshot {r['files']:,} files "
                                             f"({r.get('shape', 'flat')}): {r['operation']}",
                "value": f"{r['mlver_s']:.2f}/{r['dvc_s']:.2f} s = {r['ratio']:.3f}"
                         + ("" if r.get("cold") else " (cache not dropped)"),
                "target": f"<= {r['target']:g}", "ok": r["ok"]}
    if r["bench"] == "hooks":
        return {"bench": "hooks", "name": f"git hooks: {r['operation']}",
                "value": f"{r['median_ms']:.0f} ms ({r['cpu_ms']:.0f} ms CPU)",
                "target": f"<= {r['target_ms']:g} ms", "ok": r["ok"]}
    if r["bench"] == "import_dvc":
        if r["operation"] == "first import":
            value = f"{r['value']:.1f} commits/s ({r['seconds']:.2f} s)"
            target = f">= {r['target']:g}/s"
        else:
            value = f"{r['value']:.1f}% ({r['seconds']:.3f} s)"
            target = f"<= {r['target']:g}%"
        return {"bench": "import_dvc", "name": f"import-dvc {r['commits']} commits, "
                f"{r['files']:,} files: {r['operation']}", "value": value, "target": target,
                "ok": r["ok"]}
    return {"bench": "lineage", "name": f"lineage {r['records']:,} rec: {r['operation']}",
            "value": f"{r['median_ms']:.1f} {r.get('unit', 'ms')}"
                     + ("" if r.get("unit") else f" ({r['rows']} rows)"),
            "target": f"<= {r['target_ms']:g} {r.get('unit', 'ms')}", "ok": r["ok"]}


def _big_table_row(r: dict) -> dict:
    """A row of bench_big_table.py: seconds or MiB, the engine that ran; no target: info."""
    unit, v, t = r["unit"], r["value"], r["target"]
    value = (f"{v:.2f} s" if unit == "s" else f"{v:,.0f} MiB") + f" ({r['engine']})"
    if r.get("note"):
        value = f"{r['note']} ({r['engine']})"
    return {"bench": "big_table", "name": f"big table {r['operation']}", "value": value,
            "target": "" if t is None else f"<= {t:g} {unit}", "ok": r["ok"]}


def _chunks_row(r: dict) -> dict:
    """A row of bench_chunks.py: a share of version 2's size, a ratio, GB/s or MiB."""
    unit, v, t = r["unit"], r["value"], r["target"]
    if unit == "share":
        value = f"{100 * v:.1f}%" + (f" (dvc {100 * r['dvc']:.0f}%)" if "dvc" in r else "")
        target = f"<= {100 * t:g}%"
    elif unit == "ratio":
        value = f"{v:.3f}" + (f" ({r['detail']})" if "detail" in r else "") \
            + (f" (dvc {r['dvc']:.2f})" if "dvc" in r else "")
        target = f"<= {t:g}"
    elif unit == "GB/s":
        value, target = f"{v:.2f} GB/s", f">= {t:g} GB/s"
    else:
        value, target = f"{v:.0f} {unit}", f"<= {t:g} {unit}"
    return {"bench": "chunks", "name": f"chunks: {r['operation']}", "value": value,
            "target": target, "ok": r["ok"]}


if __name__ == "__main__":
    main()
