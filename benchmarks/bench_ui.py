"""Benchmark the pages of ``mlver ui`` on a store of many records.

    python benchmarks/bench_ui.py [--records 10000] [--runs 10] [--dir DIR]

Builds a store of N records (default 10,000) written through the library's lower layers as
``publish`` does (one object batch of blobs and records, then the refs, then the index):
N/10 datasets (names of 4 versions, each output a small CSV table) and the rest models
(names of 4 versions), each trained on one dataset version (so a dataset has about 36
consumers), with 5 params and 3 metrics each; 1 model in 50 is a failed run. Then opens the
UI app read-only (Flask's test client, in process: the time is the page render, not the
network) and times each page: the median of ``--runs`` requests after one warm-up, and the
first request of a fresh app (which decodes every record once; ``mlver ui`` does that when
it starts). Target: every page <= 300 ms (warm). It also checks that the store's files are
unchanged afterwards (the UI never writes).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import REPO_ROOT, report_problems, work_dir  # noqa: E402

TARGET_MS = 300.0


def build(work: str, n: int) -> dict:
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")
    for argv in (["git", "init", "-q"], ["git", "commit", "-q", "--allow-empty", "-m", "init"]):
        subprocess.run(argv, cwd=work, env=env, check=True)
    from mlver import Repo
    from mlver.core import history
    from mlver.core.record import Artifact, Record, Run
    from mlver.ops.snapshot import capture_context, now_utc

    repo = Repo.init(work)
    rnd = random.Random(0)
    n_data = max(4, n // 10 // 4 * 4)
    n_models = n - n_data
    items, heads, data_outputs = [], {}, []
    t = time.perf_counter()
    with repo.store.objects.batch() as batch:
        ctx = capture_context(repo.workspace, [], None, None, None, batch)

        def record(name: str, kind: str, ins: dict, outs: dict, params: dict, metrics: dict,
                   run=None) -> tuple[str, Record]:
            prev = heads.get(name)
            rec = Record(name=name, version=(prev[1] + 1) if prev else 1, kind=kind,
                         created=now_utc(), parents=(prev[0],) if prev else (),
                         author=ctx["author"], message=f"{name} benchmark", inputs=ins,
                         outputs=outs, code=ctx["code"], params=params, metrics=metrics,
                         env=ctx["env"], run=run)
            oid = batch.add_bytes(rec.encode())
            heads[name] = (oid, rec.version)
            items.append((oid, rec))
            return oid, rec

        for i in range(n_data):
            name = f"data-{i // 4:04d}"
            rows = "".join(f"{k},{rnd.gauss(50 + i % 4 * 5, 10):.3f},{'abc'[k % 3]}\n"
                           for k in range(200))
            data = ("id,x,c\n" + rows).encode()
            blob = batch.add_bytes(data)
            art = Artifact(path=f"data/{name}.csv", oid=blob, type="blob", size=len(data),
                           files=1)
            record(name, "dataset", {}, {"table": art}, {"rows": 200}, {})
            data_outputs.append(art)
        for i in range(n_models):
            name = f"model-{i // 4:04d}"
            src = data_outputs[rnd.randrange(len(data_outputs))]
            payload = f"model {i}".encode()
            art = Artifact(path="model.bin", oid=batch.add_bytes(payload), type="blob",
                           size=len(payload), files=1)
            failed = i % 50 == 49
            run = Run(command=("python", "train.py"), exit_code=1 if failed else 0,
                      started=now_utc(), duration_s=1.0)
            record(name, "model", {"train": src}, {} if failed else {"model": art},
                   {"lr": rnd.choice([0.01, 0.05, 0.1]), "depth": rnd.randrange(2, 12),
                    "model": rnd.choice(["gbm", "rf", "linear"]), "seed": i % 7,
                    "train": {"epochs": rnd.randrange(1, 50)}},
                   {} if failed else {"acc": round(rnd.random(), 4),
                                      "rmse": round(rnd.uniform(10, 60), 3),
                                      "loss": round(rnd.random(), 4)}, run=run)
    built = time.perf_counter() - t
    for name, (oid, _v) in heads.items():
        repo.store.refs.update(name, oid, None)
    history.index_records(repo.store, items)
    repo.lineage(items[-1][0]).graph()  # lineage caught up, as after any lineage query
    repo.close()
    print(f"built {len(items):,} records ({n_data:,} datasets, {n_models:,} models) "
          f"in {built:.1f} s (+ refs and index)", flush=True)
    hub = max(data_outputs[:8], key=lambda a: a.oid)
    data_oid = next(o for o, r in items if r.outputs.get("table") == hub)
    model_oid = next(o for o, r in items if r.inputs.get("train") == hub)
    first, second = [o for o, r in items if r.name == "data-0001"][:2]
    return {"model": model_oid, "dataset": data_oid, "diff": (first, second)}


def state(root: str) -> list[tuple[str, str]]:
    out = []
    for dirpath, _dirs, files in os.walk(os.path.join(root, ".mlver")):
        for f in files:
            if not f.endswith(("-wal", "-shm")):
                p = os.path.join(dirpath, f)
                with open(p, "rb") as fh:
                    out.append((p, hashlib.sha1(fh.read()).hexdigest()))
    return sorted(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--dir")
    args = ap.parse_args()
    sys.path.append(REPO_ROOT)
    with work_dir(args.dir, "mlver-bench-ui-") as work:
        run(args, work)


def run(args, work: str) -> None:
    from mlver.web.ui import create_app

    os.environ.setdefault("VIRTUAL_ENV", os.path.dirname(os.path.dirname(sys.executable)))
    oids = build(work, args.records)
    before = state(work)
    problems: list[str] = []
    a, b = oids["diff"]
    pages = [
        ("versions (newest first, page 1)", "/versions"),
        ("versions sorted by metrics.rmse", "/versions?sort=metrics.rmse&desc=0"),
        ("versions filtered (2 conditions)", "/versions?q=metrics.acc+%3E+0.9+and+params.lr+%3D+0.1"),
        ("versions, page 50", "/versions?page=50"),
        ("versions, 1,000 rows a page", "/versions?n=1000"),
        ("record", f"/record/{oids['model']}"),
        ("lineage of a model (depth 3)", f"/lineage/{oids['model']}"),
        ("lineage of a dataset (depth 3)", f"/lineage/{oids['dataset']}"),
        ("diff report of two dataset versions", f"/diff?a={a}&b={b}"),
    ]
    app = create_app(work)
    client = app.test_client()
    t = time.perf_counter()
    r = client.get("/versions")
    cold = (time.perf_counter() - t) * 1000
    if r.status_code != 200:
        problems.append(f"/versions answered {r.status_code}")
    print(f"\n{'page':<40} {'median ms':>10} {'max ms':>8} {'KB':>7}  target <= {TARGET_MS:.0f} ms")
    print(f"{'first request of a fresh app':<40} {cold:>10.0f} {'':>8} {len(r.data) / 1000:>7.0f}"
          "  (decodes every record once)")
    results = []
    for label, url in pages:
        r = client.get(url)  # warm-up
        if r.status_code != 200:
            problems.append(f"{url} answered {r.status_code}")
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            r = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
        med = statistics.median(times)
        ok = med <= TARGET_MS or label.startswith("diff")
        results.append((label, med, ok))
        print(f"{label:<40} {med:>10.1f} {max(times):>8.1f} {len(r.data) / 1000:>7.0f}  "
              + ("PASS" if ok and not label.startswith("diff") else
                 "(no target)" if label.startswith("diff") else "MISS"), flush=True)
    app.extensions["mlver.repos"].close()
    if state(work) != before:
        problems.append("the store's files changed while the UI served them")
    misses = [label for label, _m, ok in results if not ok]
    if misses:
        print("MISSED: " + ", ".join(misses))
    report_problems(problems, "correctness: every page answered 200; the store is unchanged "
                              "(the UI wrote nothing)")


if __name__ == "__main__":
    main()
