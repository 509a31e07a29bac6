"""Benchmark lineage queries on an index of many records.

    python benchmarks/bench_lineage.py [--records 10000] [--via auto|api|lowlevel]
        [--big-files 100000] [--big-versions 10] [--big-consumers 40] [--dir DIR]

Builds a store whose records form a DAG through the content they share (no declared
links): for N records, N/10 datasets (a folder of 4 small files each), N/100 chains of
depth 10 (9 feature stages, each a folder made from the previous one, then a model that
also reads the chain's dataset), and the remaining ~0.8 N models in names of 4 versions,
each trained on one dataset (a third of them on one file of it) and 1 in 20 also reading
the "hub" dataset ds-0000, which ends up with hundreds of consumers.

A sample of 30 records of every kind (10 datasets, one chain, 10 models) is made with the
real ``Repo.snapshot`` (writing real files), timed; when that rate would take more than
60 s for N (``--via auto``, the default) the rest are written through the library's lower
layers exactly as ``publish`` does: one object batch (blobs, trees, records), then
``refs.update`` per name, then ``history.index_records``. The
store is then checked: ``mlver reindex`` (the real CLI) must rebuild the same records and
lineage rows, and each query must return exactly the records the generated DAG says.

The large-folder case (``--big-files``, default 100,000; 0 leaves it out) adds ten versions
of one folder of that many files (each changing 3 files) and 40 records that took one file,
one sub-folder or all of one version (each followed by an ``eval`` record), written through
the lower layers (trees and records; the index never reads blobs); the expected answers
come from the plan (which files each version changed), not from the index.

Timed (median of 20 runs each, on an open Repo; target <= 100 ms each):
``repo.lineage(rev).upstream()`` / ``.downstream()`` of a record in the middle of a chain,
``.downstream()`` of the hub dataset, ``.upstream()`` of a chain's final model, and
``repo.used_by(oid)`` of the hub's and of a mid-chain output; with the large folder, upstream
of a record that took one deep file and of one that took a sub-folder, downstream of its first
and last versions, ``used_by``/``produced_by`` of its deepest file, and the index file's size
(target <= 50 MB). Also reported: opening the
repo plus the first query (the index catches up with the refs on open), ``mlver lineage``
as a command, and ``mlver reindex``.
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
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
TARGET_MS = 100.0
SIZE_TARGET_MB = 50.0  # the index of a store holding a 100k-file folder in 10 versions
RUNS = 20
CHAIN_LEN = 10
MODEL_VERSIONS = 4
API_BUDGET_S = 60.0    # --via auto: Repo.snapshot for all only if estimated to take this at most


# -- the plan: records and the content they share ---------------------------------------------

@dataclass
class Art:
    """Content one record outputs: a folder of files or one file."""

    key: str
    path: str
    files: dict[str, bytes] | None = None  # a tree
    data: bytes | None = None              # a blob


@dataclass
class Spec:
    name: str
    kind: str
    inputs: dict[str, tuple[Art, str | None]] = field(default_factory=dict)  # slot -> (art, file)
    outputs: dict[str, Art] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


def make_plan(n: int) -> tuple[list[Spec], dict]:
    """Specs in creation order, and the names of the records the queries start from."""
    n_ds = max(10, n // 10)
    n_chains = max(1, n // 100)
    n_models = max(0, n - n_ds - n_chains * CHAIN_LEN)
    specs: list[Spec] = []

    def csv(key: str, i: int) -> bytes:
        return f"id,value,key\n{i},{i * 0.5},{key}-{i}\n".encode()

    datasets = []
    for d in range(n_ds):
        key = f"ds-{d:04d}"
        art = Art(key, f"data/{key}", files={f"part-{k}.csv": csv(key, k) for k in range(4)})
        datasets.append(art)
        specs.append(Spec(key, "dataset", outputs={"data": art}))
    hub = datasets[0]

    for c in range(n_chains):
        ds = hub if c % 10 == 0 else datasets[(c * 7) % n_ds]
        prev = ds
        for s in range(CHAIN_LEN - 1):
            key = f"f{c:04d}-s{s}"
            art = Art(key, f"features/{key}", files={f"feat-{k}.bin": csv(key, k) for k in range(2)})
            specs.append(Spec(key, "dataset", inputs={"source": (prev, None)},
                              outputs={"features": art}, params={"stage": s}))
            prev = art
        key = f"m-chain{c:04d}"
        specs.append(Spec(key, "model", inputs={"features": (prev, None), "raw": (ds, None)},
                          outputs={"model": Art(key, f"models/{key}.bin", data=csv(key, 0))},
                          params={"chain": c}, metrics={"auc": 0.5 + (c % 50) / 100}))

    for j in range(n_models):
        name = f"model-{j // MODEL_VERSIONS:04d}"
        ds = datasets[j % n_ds]
        ins = {"train": (ds, "part-0.csv" if j % 3 == 0 else None)}
        if j % 20 == 0:
            ins["ref"] = (hub, None)
        key = f"{name}-v{j % MODEL_VERSIONS + 1}"
        specs.append(Spec(name, "model", inputs=ins,
                          outputs={"model": Art(key, f"models/{name}.bin", data=csv(key, j))},
                          params={"lr": round(0.001 * (1 + j % 10), 4), "depth": j % 7},
                          metrics={"rmse": round(1 + (j % 97) / 100, 3)}))
    # chain 0 starts at the hub; its stage 4 (of features 0..8, then the model) is the middle
    starts = {"mid": f"f0000-s{CHAIN_LEN // 2 - 1}", "hub": hub.key, "chain_end": "m-chain0000"}
    return specs, starts


def sample_indices(specs: list[Spec]) -> list[int]:
    """Specs made through ``Repo.snapshot`` first, in order and closed under their inputs:
    datasets 0-9, chain 0 (from the hub) and models 0-9 (whose datasets are 0-9)."""
    first_models = {f"model-{j // MODEL_VERSIONS:04d}" for j in range(10)}
    out, seen = [], {}
    for i, sp in enumerate(specs):
        if sp.name in first_models:
            seen[sp.name] = seen.get(sp.name, 0) + 1
        if (sp.kind == "dataset" and sp.name.startswith("ds-") and int(sp.name[3:]) < 10) \
                or sp.name.startswith(("f0000-", "m-chain0000")) \
                or (sp.name in first_models and sum(seen.values()) <= 10):
            out.append(i)
    return out


def expected_graph(specs: list[Spec]):
    """From the plan alone: upstream and downstream links by ``name@version`` label, and
    for each output the records that read it whole (what ``used_by(its oid)`` must list)."""
    producer: dict[str, str] = {}
    version: dict[str, int] = {}
    down: dict[str, set[str]] = {}
    up: dict[str, set[str]] = {}
    whole: dict[str, set[str]] = {}
    for sp in specs:
        version[sp.name] = version.get(sp.name, 0) + 1
        label = f"{sp.name}@{version[sp.name]}"
        up[label] = set()
        down.setdefault(label, set())
        for art, sub in sp.inputs.values():
            p = producer[art.key]
            up[label].add(p)
            down.setdefault(p, set()).add(label)
            if sub is None:
                whole.setdefault(art.key, set()).add(label)
        for art in sp.outputs.values():
            producer[art.key] = label
    return up, down, whole


def closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for nxt in graph.get(stack.pop(), ()):
            if nxt not in seen and nxt != start:
                seen.add(nxt)
                stack.append(nxt)
    return seen


# -- building the store -----------------------------------------------------------------------

def setup_repo(work: str):
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")
    with open(os.path.join(work, ".gitignore"), "w") as f:
        f.write("/data/\n/features/\n/models/\n")
    for argv in (["git", "init", "-q"], ["git", "add", ".gitignore"],
                 ["git", "commit", "-q", "-m", "init"]):
        subprocess.run(argv, cwd=work, env=env, check=True)
    from mlver import Repo

    return Repo.init(work)


def write_art(root: str, art: Art) -> None:
    full = os.path.join(root, art.path)
    if art.files is not None:
        os.makedirs(full, exist_ok=True)
        for name, data in art.files.items():
            with open(os.path.join(full, name), "wb") as f:
                f.write(data)
    else:
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(art.data)


def build_api(repo, specs: list[Spec]) -> list[float]:
    """Make each record with ``Repo.snapshot`` (files written first); seconds per record."""
    times = []
    for sp in specs:
        for art in sp.outputs.values():
            write_art(repo.root, art)
        ins = {slot: art.path + ("/" + f if f else "") for slot, (art, f) in sp.inputs.items()}
        outs = {slot: art.path for slot, art in sp.outputs.items()}
        params = [f"{k}={json.dumps(v)}" for k, v in sp.params.items()]
        metrics = [f"{k}={json.dumps(v)}" for k, v in sp.metrics.items()]
        t = time.perf_counter()
        res = repo.snapshot(sp.name, inputs=ins, outputs=outs, params=params or None,
                            metrics=metrics or None, kind=sp.kind)
        times.append(time.perf_counter() - t)
        if not res.created:
            raise SystemExit(f"snapshot of {sp.name} wrote no version")
    return times


def build_lowlevel(repo, specs: list[Spec]) -> dict[str, float]:
    """Write records as ``publish`` does, in bulk: objects, then refs, then the index."""
    from mlver.core import history
    from mlver.core.record import Artifact, Record
    from mlver.ops.snapshot import capture_context, now_utc
    from mlver.store.trees import Tree, TreeEntry
    from mlver.base.hashing import oid_of

    phases = {}
    art_cache: dict[str, tuple[str, int, int, dict[str, tuple[str, int]]]] = {}

    def materialize(batch, art: Art):
        hit = art_cache.get(art.key)
        if hit is None:
            if art.files is not None:
                subs = {name: (batch.add_bytes(data), len(data)) for name, data in art.files.items()}
                tree = Tree.of(TreeEntry(name, "blob", o, size) for name, (o, size) in subs.items())
                hit = (batch.add_bytes(tree.encode()), tree.size, len(subs), subs)
                hit = ("tree",) + hit
            else:
                hit = ("blob", batch.add_bytes(art.data), len(art.data), 1, {})
            art_cache[art.key] = hit
        return hit

    def artifact(art: Art, sub: str | None, batch) -> Artifact:
        typ, oid, size, files, subs = materialize(batch, art)
        if sub:
            o, s = subs[sub]
            return Artifact(path=f"{art.path}/{sub}", oid=o, type="blob", size=s, files=1)
        return Artifact(path=art.path, oid=oid, type=typ, size=size, files=files)

    heads: dict[str, tuple[str | None, str, int]] = {}  # name -> (old ref, new oid, version)
    items = []
    t = time.perf_counter()
    with repo.store.objects.batch() as batch:
        ctx = capture_context(repo.workspace, [], None, None, None, batch)
        for sp in specs:
            outs = {slot: artifact(art, None, batch) for slot, art in sp.outputs.items()}
            ins = {slot: artifact(art, sub, batch) for slot, (art, sub) in sp.inputs.items()}
            prev = heads.get(sp.name)
            if prev is None:
                old = repo.store.refs.get(sp.name)
                old_version = repo.record(old).version if old else 0
                prev = (old, old, old_version)
            rec = Record(name=sp.name, version=prev[2] + 1, kind=sp.kind, created=now_utc(),
                         parents=(prev[1],) if prev[1] else (), author=ctx["author"],
                         message="benchmark", inputs=ins, outputs=outs, code=ctx["code"],
                         params=sp.params, metrics=sp.metrics, env=ctx["env"])
            data = rec.encode()
            oid = batch.add_bytes(data)
            assert oid == oid_of(data)
            heads[sp.name] = (prev[0], oid, rec.version)
            items.append((oid, rec))
    phases["objects (one batch)"] = time.perf_counter() - t
    t = time.perf_counter()
    for name, (old, new, _) in heads.items():
        repo.store.refs.update(name, new, old)
    phases[f"refs ({len(heads):,} names)"] = time.perf_counter() - t
    t = time.perf_counter()
    history.index_records(repo.store, items)
    phases["index_records"] = time.perf_counter() - t
    return phases


def dump_index(path: str):
    import sqlite3

    from mlver.store.graph import Graph

    conn = sqlite3.connect(path)
    try:
        recs = sorted(conn.execute("SELECT oid, name, version, kind, created, message, commit_sha,"
                                   " parent, status FROM records"))
        graph = Graph(conn).dump()
    finally:
        conn.close()
    return recs, graph



# -- the large-folder case: one 100k-file folder in 10 versions ----------------------------------

BIG_TOP, BIG_SUB = 20, 10      # data/big/pNN/qNN/fNNNN.csv: 200 leaf folders
BIG_CHANGES = 3                # files changed by each new version


@dataclass
class BigPlan:
    """``big`` versions 1..V of a folder of ``files`` files (each version changes a few),
    made from the file ``raw/big-source.csv`` of record ``big-raw``; consumers of one file,
    one sub-folder or the whole folder of some version, each followed by an ``eval``."""

    files: int
    versions: int
    per_leaf: int
    changes: dict[int, list[str]]                     # version -> file paths it changes
    consumers: list[tuple[str, int, str, str]]        # (name, version taken, kind, path)
    query_file: str
    query_sub: str

    def paths(self) -> list[str]:
        return [self.file_path(t, s, i) for t in range(BIG_TOP) for s in range(BIG_SUB)
                for i in range(self.per_leaf)]

    @staticmethod
    def file_path(t: int, s: int, i: int) -> str:
        return f"data/big/p{t:02d}/q{s:02d}/f{i:04d}.csv"

    def last(self, path: str, v: int) -> int:
        """The version whose change ``path`` holds in version ``v`` (0: never changed)."""
        return max((w for w in range(2, v + 1) if path in self.changes[w]), default=0)

    def content(self, path: str, v: int) -> bytes:
        return f"{path},{self.last(path, v)}\n".encode()

    def same(self, path: str, v: int, w: int) -> bool:
        """Whether file or folder ``path`` holds the same content in versions v and w."""
        lo, hi = min(v, w), max(v, w)
        prefix = path + "/"
        return not any(c == path or c.startswith(prefix)
                       for u in range(lo + 1, hi + 1) for c in self.changes[u])


def make_big_plan(files: int, versions: int, n_consumers: int) -> BigPlan:
    import random

    rnd = random.Random(7)
    per_leaf = max(1, files // (BIG_TOP * BIG_SUB))
    fp = BigPlan.file_path
    query_file = fp(BIG_TOP - 1, BIG_SUB - 1, per_leaf - 1)  # the very last file
    query_sub = query_file.rsplit("/", 1)[0]
    changes: dict[int, list[str]] = {}
    for v in range(2, versions + 1):
        picked = {fp(rnd.randrange(BIG_TOP), rnd.randrange(BIG_SUB), rnd.randrange(per_leaf))
                  for _ in range(BIG_CHANGES)}
        if v == min(5, versions):  # a sibling of the query file: its folder changes
            picked.add(fp(BIG_TOP - 1, BIG_SUB - 1, 0))
        if v == min(8, versions):  # the query file itself
            picked.add(query_file)
        changes[v] = sorted(picked)
    consumers: list[tuple[str, int, str, str]] = []
    for k in range(n_consumers):
        v = 1 + k % versions
        if k % 10 == 9:
            kind, path = "all", "data/big"
        elif k % 2 == 0:
            kind = "file"
            path = query_file if k % 4 == 0 else \
                fp(rnd.randrange(BIG_TOP), rnd.randrange(BIG_SUB), rnd.randrange(per_leaf))
        else:
            kind = "sub"
            path = query_sub if k % 3 == 0 else \
                f"data/big/p{rnd.randrange(BIG_TOP):02d}" + \
                ("" if k % 5 == 0 else f"/q{rnd.randrange(BIG_SUB):02d}")
        consumers.append((f"use-{kind}-{k:03d}", v, kind, path))
    return BigPlan(per_leaf * BIG_TOP * BIG_SUB, versions, per_leaf, changes, consumers,
                   query_file, query_sub)


def big_expected(bp: BigPlan):
    """From the plan alone: upstream/downstream closures (by label) of the query records,
    and the records that must list the query file in used_by / produced_by."""
    def contains(outer: str, inner: str) -> bool:
        return inner == outer or inner.startswith(outer + "/") or outer.startswith(inner + "/")

    up: dict[str, set[str]] = {}
    down: dict[int, set[str]] = {v: set() for v in range(1, bp.versions + 1)}
    for name, v, kind, path in bp.consumers:
        label = f"{name}@1"
        # linked to every version holding the same content at the same path (the bytes of
        # each file name their path, so content never moves); and, through it, to big-raw
        producers = {w for w in range(1, bp.versions + 1) if bp.same(path, v, w)}
        up[label] = {f"big@{w}" for w in producers} | {"big-raw@1"}
        for w in producers:
            down[w] |= {label, f"eval-{name}@1"}
    f, vf = bp.query_file, 1
    used = set()
    for name, v, kind, path in bp.consumers:
        if contains(path, f) and path.count("/") <= f.count("/") and bp.same(f, v, vf):
            used.add(f"{name}@1")
    made = {f"big@{w}" for w in range(1, bp.versions + 1) if bp.same(f, vf, w)}
    return up, down, used, made


def build_big(repo, bp: BigPlan) -> tuple[dict[str, float], dict[tuple[str, int], str]]:
    """Write the big plan's trees and records as ``publish`` does (objects, refs, index).
    The 100k blobs are not written: the index reads only records and trees."""
    from mlver.base.hashing import oid_of
    from mlver.core import history
    from mlver.core.record import Artifact, Record
    from mlver.ops.snapshot import capture_context, now_utc
    from mlver.store.trees import encode_rows

    phases: dict[str, float] = {}
    t = time.perf_counter()
    leaves: dict[tuple[int, int], tuple[str, int, int]] = {}
    items: list[tuple[str, Record]] = []
    oids: dict[tuple[str, int], str] = {}  # (path, version) -> oid, for the queries
    heads: dict[str, tuple[str, int]] = {}  # name -> (latest oid, its version); all new names
    with repo.store.objects.batch() as batch:
        ctx = capture_context(repo.workspace, [], None, None, None, batch)

        def record(name: str, kind: str, ins: dict, outs: dict) -> str:
            prev, version = heads.get(name, (None, 0))
            rec = Record(name=name, version=version + 1, kind=kind, created=now_utc(),
                         parents=(prev,) if prev else (), author=ctx["author"],
                         message="benchmark", inputs=ins, outputs=outs, code=ctx["code"],
                         params={}, metrics={}, env=ctx["env"])
            oid = batch.add_bytes(rec.encode())
            heads[name] = (oid, version + 1)
            items.append((oid, rec))
            return oid

        def tree(rows: list[tuple[str, str, str, int]]) -> tuple[str, int, int]:
            data = encode_rows((n, typ, o, size, False) for n, typ, o, size in sorted(rows))
            return batch.add_bytes(data), sum(r[3] for r in rows), len(rows)

        src = b"source of the big folder\n"
        src_oid = batch.add_bytes(src)
        src_art = Artifact("raw/big-source.csv", src_oid, "blob", len(src), 1)
        record("big-raw", "dataset", {}, {"data": src_art})
        dirty = {(t_, s_) for t_ in range(BIG_TOP) for s_ in range(BIG_SUB)}
        counts: dict[str, int] = {}
        for v in range(1, bp.versions + 1):
            if v > 1:
                dirty = {(int(c.split("/")[2][1:]), int(c.split("/")[3][1:]))
                         for c in bp.changes[v]}
            for t_, s_ in sorted(dirty):
                rows = []
                for i in range(bp.per_leaf):
                    path = bp.file_path(t_, s_, i)
                    data = bp.content(path, v)
                    rows.append((f"f{i:04d}.csv", "blob", oid_of(data), len(data)))
                leaves[(t_, s_)] = tree(rows)
            tops = []
            for t_ in range(BIG_TOP):
                sub = tree([(f"q{s_:02d}", "tree", leaves[(t_, s_)][0], leaves[(t_, s_)][1])
                            for s_ in range(BIG_SUB)])
                oids[(f"data/big/p{t_:02d}", v)] = sub[0]
                for s_ in range(BIG_SUB):
                    oids[(f"data/big/p{t_:02d}/q{s_:02d}", v)] = leaves[(t_, s_)][0]
                tops.append((f"p{t_:02d}", "tree", sub[0], sub[1]))
            root = tree(tops)
            oids[("data/big", v)] = root[0]
            out = Artifact("data/big", root[0], "tree", root[1], bp.files)
            record("big", "dataset", {"raw": src_art}, {"data": out})
        for name, v, kind, path in bp.consumers:
            if kind == "file":
                data = bp.content(path, v)
                art = Artifact(path, oid_of(data), "blob", len(data), 1)
                oids[(path, v)] = art.oid
            else:
                art = Artifact(path, oids[(path, v)], "tree", 1, 1)
            model = f"model of {name}\n".encode()
            m_art = Artifact(f"models/{name}.bin", batch.add_bytes(model), "blob", len(model), 1)
            record(name, "model", {"train": art}, {"model": m_art})
            rep = f"report of {name}\n".encode()
            r_art = Artifact(f"reports/{name}.txt", batch.add_bytes(rep), "blob", len(rep), 1)
            record(f"eval-{name}", "model", {"model": m_art}, {"report": r_art})
            counts[kind] = counts.get(kind, 0) + 1
    phases["objects (trees, records)"] = time.perf_counter() - t
    t = time.perf_counter()
    for name, (oid, _) in heads.items():
        repo.store.refs.update(name, oid, None)
    phases["refs"] = time.perf_counter() - t
    t = time.perf_counter()
    history.index_records(repo.store, items)
    phases["index_records"] = time.perf_counter() - t
    return phases, oids


def big_record_count(bp: BigPlan) -> int:
    return 1 + bp.versions + 2 * len(bp.consumers)


def index_size(path: str) -> tuple[int, dict[str, int]]:
    """Bytes of the index file (+ WAL) and bytes per table (indexes counted with their table)."""
    import sqlite3

    total = sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))
    conn = sqlite3.connect(path)
    try:
        owner = {name: tbl for name, tbl in conn.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')")}
        per: dict[str, int] = {}
        for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            key = owner.get(name, name)
            per[key] = per.get(key, 0) + size
    finally:
        conn.close()
    return total, per


# -- timing -----------------------------------------------------------------------------------

def median_ms(fn, runs: int = RUNS) -> tuple[float, float, object]:
    out = fn()  # warm-up (not counted) and the result to check
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples), max(samples), out


def labels(df) -> set[str]:
    return {f"{n}@{v}" for n, v in zip(df["name"], df["version"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=10_000, help="records to create (default 10000)")
    ap.add_argument("--via", choices=["auto", "api", "lowlevel"], default="auto",
                    help="how records are made (see the module doc)")
    ap.add_argument("--big-files", type=int, default=100_000,
                    help="files of the large folder (default 100000; 0 leaves that case out)")
    ap.add_argument("--big-versions", type=int, default=10,
                    help="versions of the large folder (default 10)")
    ap.add_argument("--big-consumers", type=int, default=40,
                    help="records taking one file, sub-folder or all of it (default 40)")
    ap.add_argument("--dir", help="work here instead of a temporary folder (kept afterwards)")
    ap.add_argument("--results-json", help=argparse.SUPPRESS)  # run_all.py reads these
    args = ap.parse_args()
    if args.records < 100 + (1 + args.big_versions + 2 * args.big_consumers) * (args.big_files > 0):
        sys.exit("--records must be at least 100 (plus the large folder's records)")

    sys.path.append(REPO_ROOT)  # an installed mlver wins; else the checkout beside us
    with work_dir(args.dir, "mlver-bench-lineage-") as work:
        run_bench(args, work)


def run_bench(args, work: str) -> None:
    from mlver import Repo

    os.environ.setdefault("VIRTUAL_ENV", os.path.dirname(os.path.dirname(sys.executable)))
    bp = make_big_plan(args.big_files, max(1, args.big_versions), args.big_consumers) \
        if args.big_files > 0 else None
    n_big = big_record_count(bp) if bp else 0
    specs, starts = make_plan(args.records - n_big)
    print(f"bench_lineage: {len(specs) + n_big:,} records planned"
          + (f" ({n_big} of them around a {bp.files:,}-file folder in {bp.versions} versions)"
             if bp else "") + f", work dir {work}", flush=True)
    problems: list[str] = []
    t_build = time.perf_counter()
    repo = setup_repo(work)

    # a sample of every kind of record through the real API, timed: datasets, a chain, models
    def category(sp: Spec) -> str:
        return "feature" if sp.name.startswith("f") else sp.kind

    sample = sample_indices(specs)
    if args.via == "api":
        sample = list(range(len(specs)))
    elif args.via == "lowlevel":
        sample = []
    in_sample = set(sample)
    api_specs = [specs[i] for i in sample]
    api_times = build_api(repo, api_specs)
    n_api = len(api_specs)
    rest = [sp for i, sp in enumerate(specs) if i not in in_sample]
    if api_times and rest:
        by_cat: dict[str, list[float]] = {}
        for sp, secs in zip(api_specs, api_times):
            by_cat.setdefault(category(sp), []).append(secs)
        counts: dict[str, int] = {}
        for sp in specs:
            counts[category(sp)] = counts.get(category(sp), 0) + 1
        est = sum(n * statistics.mean(by_cat[c]) for c, n in counts.items())
        print(f"Repo.snapshot: {n_api} sample records, "
              + ", ".join(f"{c} {statistics.mean(v) * 1000:.0f} ms" for c, v in by_cat.items())
              + f" each on average -> {est:.0f} s estimated for all {len(specs):,} "
              f"(budget {API_BUDGET_S:.0f} s)", flush=True)
        if args.via == "auto" and est <= API_BUDGET_S:
            api_times += build_api(repo, rest)
            n_api, rest = len(specs), []
    if rest:
        phases = build_lowlevel(repo, rest)
        print(f"lower layers: {len(rest):,} records; "
              + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()), flush=True)
    big_oids: dict[tuple[str, int], str] = {}
    if bp:
        phases, big_oids = build_big(repo, bp)
        print(f"large folder: {bp.files:,} files x {bp.versions} versions, {n_big} records; "
              + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items()), flush=True)
    repo.close()
    build_s = time.perf_counter() - t_build
    n_names = len(os.listdir(os.path.join(work, ".mlver", "refs", "names")))
    n_total = len(specs) + n_big
    print(f"built {n_total:,} records ({n_api:,} via Repo.snapshot, {len(rest) + n_big:,} via "
          f"lower layers), {n_names:,} names, in {build_s:.1f} s", flush=True)

    # the store must be one that reindex rebuilds identically
    index_path = os.path.join(work, ".mlver", "index.sqlite")
    before = dump_index(index_path)
    bindir = os.path.dirname(sys.executable)
    mlver = os.path.join(bindir, "mlver") if os.path.exists(os.path.join(bindir, "mlver")) \
        else shutil.which("mlver")
    t = time.perf_counter()
    out = subprocess.run([mlver, "reindex"], cwd=work, capture_output=True, text=True)
    reindex_s = time.perf_counter() - t
    if out.returncode != 0:
        problems.append(f"mlver reindex failed: {out.stderr.strip()}")
    after = dump_index(index_path)
    rows_of = {t: len(r) for t, r in after[1].items()}
    if before != after:
        problems.append(f"mlver reindex rebuilt a different index (records {len(before[0])} -> "
                        f"{len(after[0])}, lineage rows "
                        f"{ {t: len(r) for t, r in before[1].items()} } -> {rows_of})")
    if len(after[0]) != n_total:
        problems.append(f"index holds {len(after[0])} records, expected {n_total}")
    size_b, per_table = index_size(index_path)
    lineage_b = sum(per_table.get(t, 0) for t in rows_of)
    print(f"mlver reindex: {reindex_s:.2f} s, {len(after[0]):,} records, lineage rows "
          + ", ".join(f"{t} {n:,}" for t, n in rows_of.items())
          + f"; {'identical' if before == after else 'DIFFERENT'} to the index built while "
          "writing", flush=True)
    print(f"index file: {size_b / 2**20:.1f} MiB, of which lineage tables "
          f"{lineage_b / 2**20:.1f} MiB ("
          + ", ".join(f"{t} {per_table.get(t, 0) / 2**20:.1f}" for t in rows_of) + ")",
          flush=True)

    up, down, whole = expected_graph(specs)
    mid, hub, end = f"{starts['mid']}@1", f"{starts['hub']}@1", f"{starts['chain_end']}@1"

    # open + first query: the index checks every ref on first use (pandas imported before,
    # since its import, ~0.4 s once per process, would otherwise dominate)
    import pandas  # noqa: F401

    t = time.perf_counter()
    repo = Repo(work)
    repo.lineage(mid).upstream()
    open_ms = (time.perf_counter() - t) * 1000

    hub_oid = repo.show(hub)[1].outputs["data"].oid
    mid_out = repo.show(mid)[1].outputs["features"].oid
    queries = [
        (f"lineage({mid}).upstream()", lambda: repo.lineage(mid).upstream(), closure(up, mid)),
        (f"lineage({mid}).downstream()", lambda: repo.lineage(mid).downstream(), closure(down, mid)),
        (f"lineage({hub}).downstream()", lambda: repo.lineage(hub).downstream(), closure(down, hub)),
        (f"lineage({end}).upstream()", lambda: repo.lineage(end).upstream(), closure(up, end)),
        (f"used_by(<{hub} data oid>)", lambda: repo.used_by(hub_oid), whole[starts["hub"]]),
        (f"used_by(<{mid} features oid>)", lambda: repo.used_by(mid_out), whole[starts["mid"]]),
    ]
    if bp:
        b_up, b_down, b_used, b_made = big_expected(bp)
        leaf_oid = big_oids[(bp.query_file, 1)]
        use_file = next(n for n, v, k, p in bp.consumers if k == "file" and p == bp.query_file)
        use_sub = next(n for n, v, k, p in bp.consumers if k == "sub" and p == bp.query_sub)
        queries += [
            (f"lineage({use_file}@1).upstream()", lambda: repo.lineage(use_file).upstream(),
             b_up[f"{use_file}@1"]),
            (f"lineage({use_sub}@1).upstream()", lambda: repo.lineage(use_sub).upstream(),
             b_up[f"{use_sub}@1"]),
            ("lineage(big@1).downstream()", lambda: repo.lineage("big@1").downstream(),
             b_down[1]),
            (f"lineage(big@{bp.versions}).downstream()",
             lambda: repo.lineage(f"big@{bp.versions}").downstream(), b_down[bp.versions]),
            ("used_by(<deep file of big@1>)", lambda: repo.used_by(leaf_oid), b_used),
            ("produced_by(<deep file of big@1>)", lambda: repo.produced_by(leaf_oid), b_made),
        ]
    rows = []
    for label, fn, want in queries:
        med, worst, df = median_ms(fn)
        got = labels(df)
        if got != want:
            problems.append(f"{label}: got {len(got)} records, expected {len(want)} "
                            f"(missing {sorted(want - got)[:3]}, extra {sorted(got - want)[:3]})")
        rows.append((label, len(got), med, worst))
    repo.close()

    # the command line, for scale (includes interpreter start-up and opening the store)
    t = time.perf_counter()
    cli = subprocess.run([mlver, "lineage", hub, "--downstream", "--format", "json"], cwd=work,
                         capture_output=True, text=True)
    cli_s = time.perf_counter() - t
    if cli.returncode != 0:
        problems.append(f"mlver lineage failed: {cli.stderr.strip()}")
    else:
        nodes = len(json.loads(cli.stdout)["nodes"]) - 1
        if nodes != len(closure(down, hub)):
            problems.append(f"mlver lineage {hub} --downstream shows {nodes} records, "
                            f"expected {len(closure(down, hub))}")

    print()
    print(f"lineage queries, {n_total:,} records"
          + (f" (a {bp.files:,}-file folder in {bp.versions} versions among them)" if bp else "")
          + f", median of {RUNS} runs on an open Repo")
    head = f"{'query':<46} {'records':>7} {'median ms':>10} {'max ms':>8} {'target':>8}"
    print(head + "      ")
    print("-" * (len(head) + 6))
    for label, n, med, worst in rows:
        print(f"{label:<46} {n:7d} {med:10.1f} {worst:8.1f} {'<=' + format(TARGET_MS, 'g'):>8}  "
              f"{'PASS' if med <= TARGET_MS else 'MISS'}")
    if bp:
        size_ok = size_b <= SIZE_TARGET_MB * 2**20
        print(f"{'index file size (MiB)':<46} {'':>7} {size_b / 2**20:10.1f} {'':>8} "
              f"{'<=' + format(SIZE_TARGET_MB, 'g'):>8}  {'PASS' if size_ok else 'MISS'}")
    print()
    print(f"open Repo + first query (index catches up with {n_names:,} refs): {open_ms:.0f} ms")
    print(f"mlver lineage {hub} --downstream --format json (command): {cli_s * 1000:.0f} ms")
    print(f"mlver reindex (command, {n_total:,} records): {reindex_s:.2f} s")
    if api_times:
        print(f"Repo.snapshot: median {statistics.median(api_times) * 1000:.0f} ms per record "
              f"over {len(api_times)} records")
    report_problems(problems, "correctness: OK (query results match the generated DAG; reindex identical)")
    if args.results_json:
        with open(args.results_json, "a", encoding="utf-8") as f:
            for label, n, med, worst in rows:
                f.write(json.dumps({"bench": "lineage", "records": n_total, "operation": label,
                                    "rows": n, "median_ms": med, "max_ms": worst,
                                    "target_ms": TARGET_MS, "ok": med <= TARGET_MS}) + "\n")
            if bp:
                f.write(json.dumps({"bench": "lineage", "records": n_total,
                                    "operation": "index file size", "rows": 0, "unit": "MiB",
                                    "median_ms": size_b / 2**20, "max_ms": size_b / 2**20,
                                    "target_ms": SIZE_TARGET_MB,
                                    "ok": size_b <= SIZE_TARGET_MB * 2**20}) + "\n")
            f.write(json.dumps({"bench": "lineage", "operation": "correctness", "ok": not problems,
                                "problems": problems}) + "\n")


if __name__ == "__main__":
    main()
