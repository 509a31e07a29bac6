"""Benchmark content-defined chunks (issue 22): what a second version of a big file costs.

    python benchmarks/bench_chunks.py            a 120 MB CSV, a 64 MB checkpoint, a 1 GiB file
    python benchmarks/bench_chunks.py --quick    30 MB, 16 MB (four 256 KiB regions changed),
                                                 0.25 GiB (what run_all --quick runs)
    python benchmarks/bench_chunks.py --no-s3    without the moto S3 server

Both tools run as real CLI processes from the virtualenv, side by side in one run:

  a. A CSV that gains 2% rows and has 20 rows edited, and a float32 "checkpoint" (an
     8-byte length, a JSON header, the weights) whose header grows and whose weights change
     in four 1 MiB regions. Each is snapshotted (``mlver snapshot`` / ``dvc add``) and pushed
     (a folder remote, and S3 on a moto server) as version 1, then as version 2. Measured:
     the bytes version 2 adds to the store (``du -sb .mlver`` / ``.dvc/cache``) and to each
     remote (``du -sb`` of the folder, the sizes of the bucket's objects), as a share of its
     size. Target <= 12%. Beside them, what the chunker predicts: the bytes of version 2's
     chunks that version 1 lacks (mlver.store.chunker.ChunkStream, no store involved).
  b. One 1 GiB file, page cache dropped: ``mlver snapshot`` vs ``cp FILE COPY && sync``
     (target <= 1.5x), its peak RSS (<= 100 MiB), and ChunkStream over the (cached) file in
     this process on one core: chunking plus hashing throughput (>= 1 GB/s).
  c. ``mlver checkout`` of that file into an emptied workspace vs ``cp`` (<= 1.5x).
  d. Push and pull of the second versions to moto S3: bytes and requests of version 2 over
     those of version 1 (<= 0.12): bytes as ``push --json``/``pull --json`` count them,
     requests from the server's log (all of them, and those for objects alone: not
     listings, refs or the config).
  e. Parquet: the table appended the same way (version 2), and also without its oldest 1%
     of rows (version 3), written by pyarrow with and without
     ``use_content_defined_chunking=True``: the bytes each adds to a store holding version 1.
  f. zstd (``zstandard``) at levels -3, 1 and 3 on the chunks of the CSV, the parquet file,
     the weights and random bytes: compressed size, the share of chunks it shrinks by >= 10%,
     compression and decompression speed on one core, and what compressing every chunk would
     add to the 1 GiB snapshot.

Every result is checked: the oids mlver records equal XXH3-128 of the files, the pulled
store verifies, the checked-out file hashes to its oid. Everything happens in a temporary
folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import REPO_ROOT, report_problems, work_dir  # noqa: E402
from bench_remote import BUCKET, Moto  # noqa: E402
from bench_snapshot import Runner, bin_dir, child_env, git_repo  # noqa: E402

sys.path.insert(0, REPO_ROOT)

TARGET_ADDED = 0.12      # of version 2's size, to the store and to a remote
TARGET_BIG = 1.5         # first snapshot of 1 GiB / (cp + sync)
TARGET_BIG_RSS_MIB = 100
TARGET_GBPS = 1.0        # ChunkStream (cut + hash) on one core
TARGET_CHECKOUT = 1.5    # checkout of the chunked 1 GiB file / cp
TARGET_TRANSFER = 0.12   # push/pull of version 2 over version 1: bytes and requests
ZSTD_MIN_SAVING = 0.10   # compress a chunk only when it saves at least this much
# a request for an object's bytes (not a listing, a ref or the config): mlver's objects/ and
# packs, DVC's files/md5/
_DATA_REQUEST = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) /[^ ]*/(objects|files/md5)/')
FULL = {"csv_mb": 120, "ckpt_mb": 64, "big_gib": 1.0}
QUICK = {"csv_mb": 30, "ckpt_mb": 16, "big_gib": 0.25}


# -- data ------------------------------------------------------------------------------------

def table_columns(n: int, seed: int):
    """n rows of a sales-like table as numpy columns (seeded)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return {
        "id": np.arange(n, dtype=np.int64),
        "ts": 1_700_000_000 + np.sort(rng.integers(0, 30_000_000, n)),
        "user": rng.integers(0, 200_000, n),
        "category": rng.choice(np.array(["books", "garden", "toys", "food", "tools", "music",
                                         "sports", "health"]), n),
        "amount": np.round(rng.gamma(2.0, 30.0, n), 2),
        "score": np.round(rng.random(n), 6),
        "comment": rng.choice(np.array(["", "gift", "returned later", "express delivery",
                                        "bought with a coupon", "second order this week"]), n),
    }


def tables(csv_mb: int, seed: int):
    """Versions 1 and 2 of the table as pyarrow tables: 2 has 20 rows edited (the amount)
    and 2% more rows at the end."""
    import numpy as np
    import pyarrow as pa

    n = int(csv_mb * 1e6 / 63.5)  # ~63.5 bytes a CSV row
    cols = table_columns(n + n // 50, seed)
    t_all = pa.table(cols)
    v1 = t_all.slice(0, n)
    amount = cols["amount"].copy()
    edited = np.random.default_rng(seed + 1).choice(n, 20, replace=False)
    amount[edited] = np.round(amount[edited] * 1.1 + 0.01, 2)
    v2 = t_all.set_column(t_all.schema.get_field_index("amount"), "amount", pa.array(amount))
    return v1, v2


def write_csv(table, path: str) -> None:
    import pyarrow.csv as pcsv

    pcsv.write_csv(table, path)


def write_ckpt(path: str, mb: int, seed: int, version: int) -> None:
    """A safetensors-like checkpoint: 8-byte length, JSON header, float32 weights.
    Version 2: a longer header, and four regions of weights rewritten (1 MiB each at 64 MB,
    as much of the whole at other sizes)."""
    import numpy as np

    n = mb * (1 << 20) // 4
    w = (np.random.default_rng(seed).standard_normal(n, dtype=np.float32) * 0.02)
    meta = {"format": "pt", "step": "1000"}
    if version == 2:
        meta.update(step="2000", note="fine-tuned on the March data, lr 3e-5, warmup 200 steps")
        rng = np.random.default_rng(seed + 2)
        # four 1 MiB regions of a 64 MB checkpoint; a smaller one (--quick) gets smaller
        # regions, the same share of its size
        region = max(mb * (1 << 20) // 64, 64 << 10) // 4
        for start in rng.choice(n // region - 1, 4, replace=False) * region + 4096:
            w[start:start + region] = rng.standard_normal(region, dtype=np.float32) * 0.02
    header = json.dumps({"__metadata__": meta, "weights": {"dtype": "F32", "shape": [n],
                                                           "data_offsets": [0, n * 4]}}).encode()
    with open(path, "wb") as f:
        f.write(len(header).to_bytes(8, "little"))
        f.write(header)
        f.write(w.tobytes())


def write_parquet(table, path: str, cdc: bool) -> None:
    import pyarrow.parquet as pq

    if cdc:
        pq.write_table(table, path, use_content_defined_chunking=True)
    else:
        pq.write_table(table, path)


def write_big(path: str, size: int, seed: int) -> str:
    """``size`` bytes of random data (no two 64 MiB blocks alike); returns its oid."""
    import xxhash

    h = xxhash.xxh3_128()
    block = random.Random(seed).randbytes(64 << 20)
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(4096) + block[4096:min(left, len(block))]
            f.write(chunk)
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


# -- measuring --------------------------------------------------------------------------------

def du(path: str) -> int:
    """Apparent bytes under ``path`` (``du -sb``), 0 when it does not exist."""
    if not os.path.exists(path):
        return 0
    return int(subprocess.run(["du", "-sb", path], capture_output=True, text=True,
                              check=True).stdout.split()[0])


def oid_of_file(path: str) -> str:
    import xxhash

    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def chunk_map(path: str) -> tuple[dict[str, int], int, int]:
    """{chunk oid: length}, the chunk count, and the manifest's size, by ChunkStream."""
    from mlver.store.chunker import CHUNKER_ID, ChunkStream
    from mlver.store.manifest import Manifest

    with open(path, "rb") as f:
        cs = ChunkStream(f)
        rows = [(p.oid, len(p.data)) for p in cs]
    manifest = Manifest(cs.oid, cs.size, CHUNKER_ID, tuple(rows)).encode()
    return dict(rows), len(rows), len(manifest)


def predicted_added(v1: str, v2: str) -> tuple[int, int, int]:
    """(bytes of v2's chunks that v1 lacks, plus v2's manifest; new chunks; all chunks)."""
    old, _n1, _ = chunk_map(v1)
    new, n2, manifest = chunk_map(v2)
    fresh = {o: n for o, n in new.items() if o not in old}
    return sum(fresh.values()) + manifest, len(fresh), n2


class S3:
    """The bucket on the moto server: sizes under a prefix."""

    def __init__(self, url: str) -> None:
        import s3fs

        self.fs = s3fs.S3FileSystem(endpoint_url=url, key="bench", secret="bench-secret")
        self.fs.mkdir(BUCKET)

    def du(self, prefix: str) -> int:
        self.fs.invalidate_cache()
        try:
            return int(self.fs.du(f"{BUCKET}/{prefix}"))
        except FileNotFoundError:
            return 0


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


# -- the cases --------------------------------------------------------------------------------

class Bench:
    def __init__(self, args, work: str) -> None:
        self.args = args
        self.work = work
        self.bindir = bin_dir()
        self.mlver = os.path.join(self.bindir, "mlver")
        self.dvc = os.path.join(self.bindir, "dvc")
        env = child_env(self.bindir)
        env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench-secret",
                   AWS_DEFAULT_REGION="us-east-1")
        env["DVC_SITE_CACHE_DIR"] = os.path.join(work, "dvc-site-cache")
        self.env = env
        self.runner = Runner(env, drop=not args.no_drop_caches)
        self.problems: list[str] = []
        self.rows: list[dict] = []  # results, for --results-json and the summary
        self.moto: Moto | None = None
        self.s3: S3 | None = None

    def m(self, cwd: str, *a: str) -> tuple[float, int, str]:
        secs, rss, out, _ = self.runner.run([self.mlver, *a], cwd)
        return secs, rss, out

    def d(self, cwd: str, *a: str) -> float:
        return self.runner.run([self.dvc, *a], cwd)[0]

    def git(self, cwd: str, *a: str) -> None:
        subprocess.run(["git", *a], cwd=cwd, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)

    def requests(self) -> int:
        return self.moto.requests() if self.moto else 0

    def data_requests(self) -> int:
        """Requests so far that read or wrote objects (the rest: listings, refs, config)."""
        if not self.moto:
            return 0
        self.moto.log.flush()
        with open(self.moto.log_path, encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if _DATA_REQUEST.search(line))

    # a. and d. ------------------------------------------------------------------------------
    def versions(self, files: list[tuple[str, str, str, str]]) -> None:
        """``files``: (name, file name, path of version 1, path of version 2)."""
        w = self.work
        m_root, d_root = os.path.join(w, "m"), os.path.join(w, "d")
        m_dir, d_dir = os.path.join(w, "m-remote"), os.path.join(w, "d-remote")
        for r in (m_root, d_root):
            os.makedirs(r)
            git_repo(r, self.env)
        self.m(m_root, "init")
        self.m(m_root, "remote", "add", "dir", m_dir)
        if self.s3:
            self.m(m_root, "remote", "add", "origin", f"s3://{BUCKET}/mlver", "--endpoint-url",
                   self.moto.url, "--default")
        for a in (["init", "-q"], ["config", "core.autostage", "false"],
                  ["config", "core.analytics", "false"], ["config", "core.check_update", "false"],
                  ["remote", "add", "dir", d_dir]):
            self.d(d_root, *a)
        if self.s3:
            self.d(d_root, "remote", "add", "-d", "origin", f"s3://{BUCKET}/dvc")
            self.d(d_root, "remote", "modify", "origin", "endpointurl", self.moto.url)
        for r in (m_root, d_root):
            self.git(r, "add", "-A")
            self.git(r, "commit", "-qm", "setup")
        m_clone, d_clone = os.path.join(w, "m-clone"), os.path.join(w, "d-clone")
        if self.s3:
            self.git(w, "clone", "-q", m_root, m_clone)
            self.git(w, "clone", "-q", d_root, d_clone)

        for name, fname, v1, v2 in files:
            got: dict[int, dict] = {}
            for version, src in ((1, v1), (2, v2)):
                size = os.path.getsize(src)
                r: dict = {"size": size}
                for root in (m_root, d_root):
                    shutil.copyfile(src, os.path.join(root, fname))
                before = du(os.path.join(m_root, ".mlver"))
                _s, _rss, out = self.m(m_root, "snapshot", name, "-o", f"f={fname}", "--json")
                r["m_store"] = du(os.path.join(m_root, ".mlver")) - before
                if json.loads(out)["outputs"]["f"]["oid"] != oid_of_file(src):
                    self.problems.append(f"{name}@{version}: the recorded oid is not XXH3-128")
                before = du(m_dir)
                self.m(m_root, "push", "dir", name, "--json")
                r["m_dir"] = du(m_dir) - before
                before = du(os.path.join(d_root, ".dvc", "cache"))
                self.d(d_root, "add", "-q", fname)
                r["d_store"] = du(os.path.join(d_root, ".dvc", "cache")) - before
                before = du(d_dir)
                self.d(d_root, "push", "-q", "-r", "dir")
                r["d_dir"] = du(d_dir) - before
                self.git(d_root, "add", "-A")
                self.git(d_root, "commit", "-qm", f"{name} {version}")
                if self.s3:
                    before, req, dreq = self.s3.du("mlver"), self.requests(), self.data_requests()
                    _s, _rss, out = self.m(m_root, "push", "origin", name, "--json")
                    r["m_s3"] = self.s3.du("mlver") - before
                    r["m_push_req_log"] = self.requests() - req
                    r["m_push_data_req"] = self.data_requests() - dreq
                    pushed = json.loads(out)
                    r["m_push_bytes"], r["m_push_req"] = pushed["bytes"], pushed["requests"]
                    before, req, dreq = self.s3.du("dvc"), self.requests(), self.data_requests()
                    self.d(d_root, "push", "-q", "-r", "origin")
                    r["d_s3"] = self.s3.du("dvc") - before
                    r["d_push_req"] = self.requests() - req
                    r["d_push_data_req"] = self.data_requests() - dreq
                    req, dreq = self.requests(), self.data_requests()
                    before = du(os.path.join(m_clone, ".mlver"))
                    _s, _rss, out = self.m(m_clone, "pull", "origin", name, "--json")
                    pulled = json.loads(out)
                    r["m_pull_bytes"], r["m_pull_req"] = pulled["bytes"], pulled["requests"]
                    r["m_pull_req_log"] = self.requests() - req
                    r["m_pull_data_req"] = self.data_requests() - dreq
                    r["m_pull_store"] = du(os.path.join(m_clone, ".mlver")) - before
                    self.git(d_clone, "pull", "-q")
                    req, dreq = self.requests(), self.data_requests()
                    before = du(os.path.join(d_clone, ".dvc", "cache"))
                    self.d(d_clone, "pull", "-q", "-r", "origin", f"{fname}.dvc")
                    r["d_pull_req"] = self.requests() - req
                    r["d_pull_data_req"] = self.data_requests() - dreq
                    r["d_pull_bytes"] = du(os.path.join(d_clone, ".dvc", "cache")) - before
                got[version] = r
            pred, fresh, chunks = predicted_added(v1, v2)
            self.report_versions(name, got, pred, fresh, chunks)
        if self.s3:
            _s, _rss, out, code = self.runner.run([self.mlver, "verify"], m_clone, check=False)
            if code != 0:
                self.problems.append(f"mlver verify in the pulled clone failed: {out[-300:]}")
        shutil.rmtree(d_root, ignore_errors=True)
        shutil.rmtree(d_dir, ignore_errors=True)
        shutil.rmtree(d_clone, ignore_errors=True)

    def report_versions(self, name: str, got: dict, pred: int, fresh: int, chunks: int) -> None:
        v1, v2 = got[1], got[2]
        size = v2["size"]
        print(f"\n[{name}] version 2: {size / 1e6:.1f} MB; chunker: {fresh} of {chunks} chunks "
              f"new, {pred / 1e6:.2f} MB = {pct(pred, size)} (prediction, manifest included)")
        print(f"  {'bytes version 2 adds to':<28} {'mlver':>14} {'dvc':>14}   target")
        places = [("store", "m_store", "d_store"), ("folder remote", "m_dir", "d_dir")]
        if "m_s3" in v2:
            places.append(("S3 remote", "m_s3", "d_s3"))
        for label, mk, dk in places:
            ok = v2[mk] <= TARGET_ADDED * size
            print(f"  {label:<28} {pct(v2[mk], size):>14} {pct(v2[dk], size):>14}   "
                  f"<= {100 * TARGET_ADDED:g}%  {'PASS' if ok else 'MISS'}")
            self.rows.append({"bench": "chunks", "operation": f"{name} v2 adds to the {label}",
                              "value": v2[mk] / size, "dvc": v2[dk] / size,
                              "target": TARGET_ADDED, "ok": ok, "unit": "share"})
        self.rows.append({"bench": "chunks", "operation": f"{name} v2 adds (chunker prediction)",
                          "value": pred / size, "target": TARGET_ADDED,
                          "ok": pred <= TARGET_ADDED * size, "unit": "share"})
        if "m_s3" not in v2:
            return
        print(f"  {'S3, version 2 / version 1':<28} {'mlver':>14} {'dvc':>14}   target")
        for label, mk, dk in (("push bytes", "m_push_bytes", "d_s3"),
                              ("push requests", "m_push_req_log", "d_push_req"),
                              ("pull bytes", "m_pull_bytes", "d_pull_bytes"),
                              ("pull requests", "m_pull_req_log", "d_pull_req"),
                              ("push requests for objects", "m_push_data_req", "d_push_data_req"),
                              ("pull requests for objects", "m_pull_data_req", "d_pull_data_req")):
            ratio = v2[mk] / max(v1[mk], 1)
            ok = ratio <= TARGET_TRANSFER
            print(f"  {label:<28} {ratio:>14.3f} {v2[dk] / max(v1[dk], 1):>14.3f}   "
                  f"<= {TARGET_TRANSFER:g}  {'PASS' if ok else 'MISS'}   "
                  f"(mlver {v1[mk]:,} then {v2[mk]:,}; dvc {v1[dk]:,} then {v2[dk]:,})")
            self.rows.append({"bench": "chunks", "operation": f"{name} S3 {label} v2/v1",
                              "value": ratio, "dvc": v2[dk] / max(v1[dk], 1),
                              "target": TARGET_TRANSFER, "ok": ok, "unit": "ratio"})
        print(f"  (mlver counts its own requests: push {v1['m_push_req']} then "
              f"{v2['m_push_req']}, pull {v1['m_pull_req']} then {v2['m_pull_req']}; "
              f"the pulled store grew {v1['m_pull_store']:,} then {v2['m_pull_store']:,} bytes)")

    # b. and c. ------------------------------------------------------------------------------
    def big(self, gib: float) -> None:
        from mlver.store.chunker import ChunkStream

        root = os.path.join(self.work, "big")
        os.makedirs(root)
        git_repo(root, self.env)
        size = int(gib * (1 << 30))
        path = os.path.join(root, "big.bin")
        oid = write_big(path, size, self.args.seed)
        # chunking + hashing in this process, one core, the file in the page cache
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)
        t = time.perf_counter()
        with open(path, "rb", buffering=0) as f:
            cs = ChunkStream(f)
            n_chunks = sum(1 for _ in cs)
        t_cut = time.perf_counter() - t
        if cs.oid != oid:
            self.problems.append("ChunkStream's oid of the big file is not XXH3-128 of it")
        gbps = size / t_cut / 1e9
        time.sleep(2.1)  # mtime granularity: the snapshot must hash, not trust a stat
        copy = os.path.join(self.work, "big-copy.bin")
        rounds = max(1, self.args.big_rounds)
        cp_syncs, snaps, rss = [], [], 0
        for _ in range(rounds):  # medians: one timing on this shared disk varies by +-50%
            self.runner.drop_caches()
            cp_syncs.append(self.runner.run(["sh", "-c", f'cp "{path}" "{copy}" && sync'],
                                            root)[0])
            os.unlink(copy)
            shutil.rmtree(os.path.join(root, ".mlver"), ignore_errors=True)
            self.m(root, "init")
            self.runner.drop_caches()
            t_snap, peak, out = self.m(root, "snapshot", "big", "-o", "f=big.bin", "--json")
            snaps.append(t_snap)
            rss = max(rss, peak)
            if json.loads(out)["outputs"]["f"]["oid"] != oid:
                self.problems.append("the big file's recorded oid is not XXH3-128 of its bytes")
        t_snap, t_cp_sync = statistics.median(snaps), statistics.median(cp_syncs)
        chunked = self._chunked(root, oid)
        d_root = os.path.join(self.work, "big-dvc")
        os.makedirs(d_root)
        git_repo(d_root, self.env)
        os.link(path, os.path.join(d_root, "big.bin"))
        self.d(d_root, "init", "-q")
        self.runner.drop_caches()
        t_dvc = self.d(d_root, "add", "-q", "big.bin")
        shutil.rmtree(d_root, ignore_errors=True)
        # c. checkout into an emptied workspace vs cp, both cold
        cps, reads, cos = [], [], []
        saved = os.path.join(self.work, "big-saved.bin")
        os.rename(path, saved)  # cp's source, outside the workspace checkout writes
        for _ in range(rounds):
            os.sync()
            self.runner.drop_caches()
            cps.append(self.runner.run(["cp", saved, copy], root)[0])
            os.unlink(copy)
            # what a checkout of it costs at least: streaming it out of the store through
            # open() (every chunk and the whole file verified) into a new file, in this process
            self.runner.drop_caches()
            reads.append(self._read_out(root, oid, copy))
            os.unlink(copy)
            self.runner.drop_caches()
            t_co, _rss, out, code = self.runner.run([self.mlver, "checkout", "big"], root,
                                                    check=False)
            if code != 0:
                self.problems.append(f"mlver checkout of the big file failed (exit {code}); "
                                     f"run mlver checkout by hand to see its error")
                cos.append(float("nan"))
                break
            if oid_of_file(path) != oid:
                self.problems.append("the checked-out big file does not hash to its oid")
            cos.append(t_co)
            os.unlink(path)
        os.unlink(saved)
        t_cp, t_read = statistics.median(cps), statistics.median(reads)
        t_co = statistics.median(cos) if all(c == c for c in cos) else float("nan")
        shutil.rmtree(root, ignore_errors=True)
        print(f"\n[big] rounds: snapshot {' '.join(f'{x:.2f}' for x in snaps)} s, cp + sync "
              f"{' '.join(f'{x:.2f}' for x in cp_syncs)} s, checkout "
              f"{' '.join(f'{x:.2f}' for x in cos)} s, cp {' '.join(f'{x:.2f}' for x in cps)} s")

        label = f"{gib:g} GiB"
        print(f"[big] one {label} file ({'stored chunked' if chunked else 'stored WHOLE'}; "
              f"page cache {'dropped' if self.runner.drop else 'WARM'}; medians of {rounds} "
              f"round(s))")
        print(f"  ChunkStream (cut + hash), one core: {n_chunks:,} chunks in {t_cut:.2f} s = "
              f"{gbps:.2f} GB/s   target >= {TARGET_GBPS:g}  "
              f"{'PASS' if gbps >= TARGET_GBPS else 'MISS'}")
        print(f"  first snapshot {t_snap:.2f} s vs cp + sync {t_cp_sync:.2f} s = "
              f"{t_snap / t_cp_sync:.2f}   target <= {TARGET_BIG:g}  "
              f"{'PASS' if t_snap <= TARGET_BIG * t_cp_sync else 'MISS'}   (dvc add {t_dvc:.2f} s"
              f" = {t_dvc / t_cp_sync:.2f})")
        print(f"  peak RSS of the snapshot {rss / 1024:.0f} MiB   target <= {TARGET_BIG_RSS_MIB}"
              f"  {'PASS' if rss / 1024 <= TARGET_BIG_RSS_MIB else 'MISS'}")
        print(f"  checkout {t_co:.2f} s vs cp {t_cp:.2f} s = {t_co / t_cp:.2f}   target <= "
              f"{TARGET_CHECKOUT:g}  {'PASS' if t_co <= TARGET_CHECKOUT * t_cp else 'MISS'}")
        print(f"  (streaming it out of the store with objects.open() into a file, verified, in "
              f"this process: {t_read:.2f} s = {t_read / t_cp:.2f} x cp)")
        self.big_snapshot_s = t_snap
        self.big_budget_s = TARGET_BIG * t_cp_sync - t_snap
        self.big_size = size
        self.rows += [
            {"bench": "chunks", "operation": f"{label}: chunk+hash throughput", "value": gbps,
             "target": TARGET_GBPS, "ok": gbps >= TARGET_GBPS, "unit": "GB/s", "atleast": True},
            {"bench": "chunks", "operation": f"{label}: first snapshot / (cp+sync)",
             "value": t_snap / t_cp_sync, "target": TARGET_BIG,
             "ok": t_snap <= TARGET_BIG * t_cp_sync, "unit": "ratio",
             "detail": f"{t_snap:.2f}/{t_cp_sync:.2f} s"},
            {"bench": "chunks", "operation": f"{label}: snapshot peak RSS", "value": rss / 1024,
             "target": TARGET_BIG_RSS_MIB, "ok": rss / 1024 <= TARGET_BIG_RSS_MIB, "unit": "MiB"},
            {"bench": "chunks", "operation": f"{label}: store open() into a file / cp",
             "value": t_read / t_cp, "unit": "info"},
            {"bench": "chunks", "operation": f"{label}: checkout / cp", "value": t_co / t_cp,
             "target": TARGET_CHECKOUT, "ok": t_co <= TARGET_CHECKOUT * t_cp, "unit": "ratio",
             "detail": f"{t_co:.2f}/{t_cp:.2f} s"},
        ]

    def _read_out(self, root: str, oid: str, dest: str) -> float:
        """Seconds to copy object ``oid`` out of the store at ``root`` into ``dest`` through
        ``open()`` (checked: the copy hashes to the oid)."""
        from mlver import Repo

        t = time.perf_counter()
        with Repo(root) as repo, repo.store.objects.open(oid) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, 8 << 20)
        secs = time.perf_counter() - t
        if oid_of_file(dest) != oid:
            self.problems.append("the big file read out of the store does not hash to its oid")
        return secs

    def _chunked(self, root: str, oid: str) -> bool:
        from mlver import Repo

        with Repo(root) as repo:
            objects = repo.store.objects
            find = getattr(objects, "manifest", None)
            if find is None:
                return False  # a store without chunk support: the file is stored whole
            m = find(oid)
            if m is None:
                return False
            if not objects.verify_file(oid):
                self.problems.append("the chunked big file does not verify")
            return True

    # e. ---------------------------------------------------------------------------------------
    def parquet(self, v1, v2) -> dict[str, str]:
        """Version 2 of the table (appended and edited), and a version 3 that also drops
        the oldest 1% of rows, each written by pyarrow with and without content-defined
        chunking. Returns {kind: path of version 1} for the zstd sample."""
        import pyarrow

        root = os.path.join(self.work, "pq")
        os.makedirs(root)
        git_repo(root, self.env)
        self.m(root, "init")
        first = {}
        v3 = v2.slice(v1.num_rows // 100)
        print(f"\n[parquet] pyarrow {pyarrow.__version__}: bytes each version adds to the store "
              f"after version 1 ({v1.num_rows:,} rows)")
        print(f"  {'writer':<34} {'version':<33} {'file MB':>8} {'adds':>7} {'predicted':>10}")
        for kind, cdc in (("default", False), ("cdc", True)):
            label = "use_content_defined_chunking=True" if cdc else "default writer"
            paths = []
            t = time.perf_counter()
            for version, table in ((1, v1), (2, v2), (3, v3)):
                p = os.path.join(self.work, f"pq-{kind}-{version}.parquet")
                write_parquet(table, p, cdc)
                paths.append(p)
            print(f"  ({label}: the three versions written in {time.perf_counter() - t:.2f} s)")
            for version, what in ((2, "2% rows appended, 20 edited"),
                                  (3, "and then the oldest 1% dropped")):
                # each version measured against version 1 alone: a fresh name each time
                for p in (paths[0], paths[version - 1]):
                    shutil.copyfile(p, os.path.join(root, "t.parquet"))
                    before = du(os.path.join(root, ".mlver"))
                    self.m(root, "snapshot", f"t-{kind}-{version}", "-o", "f=t.parquet")
                added = du(os.path.join(root, ".mlver")) - before
                shutil.rmtree(os.path.join(root, ".mlver"))
                self.m(root, "init")
                pred, _fresh, _n = predicted_added(paths[0], paths[version - 1])
                size = os.path.getsize(paths[version - 1])
                print(f"  {label:<34} {what:<33} {size / 1e6:>8.1f} {pct(added, size):>7} "
                      f"{pct(pred, size):>10}")
                self.rows.append({"bench": "chunks",
                                  "operation": f"parquet ({'cdc' if cdc else 'default'}) "
                                               f"v{version} adds to the store",
                                  "value": added / size, "predicted": pred / size,
                                  "target": TARGET_ADDED, "ok": added <= TARGET_ADDED * size,
                                  "unit": "share" if version == 2 else "info"})
            first[kind] = paths[0]
        shutil.rmtree(root, ignore_errors=True)
        return first

    # f. ---------------------------------------------------------------------------------------
    def zstd(self, samples: dict[str, str], cap: int = 32 << 20) -> None:
        import zstandard

        from mlver.store.chunker import ChunkStream

        print(f"\n[zstd] zstandard {zstandard.__version__}, one core, each chunk compressed on "
              f"its own (up to {cap >> 20} MiB of chunks a file)")
        print(f"  {'chunks of':<22} {'level':>5} {'size after':>10} {'chunks >=10%':>13} "
              f"{'compress':>10} {'decompress':>11}")
        speeds: dict[tuple[str, int], float] = {}
        for kind, path in samples.items():
            chunks = []
            with open(path, "rb") as f:
                for p in ChunkStream(f):
                    chunks.append(bytes(p.data))
                    if sum(map(len, chunks)) >= cap:
                        break
            total = sum(map(len, chunks))
            for level in (-3, 1, 3):
                cctx = zstandard.ZstdCompressor(level=level)
                dctx = zstandard.ZstdDecompressor()
                t = time.perf_counter()
                packed = [cctx.compress(c) for c in chunks]
                t_c = time.perf_counter() - t
                t = time.perf_counter()
                for z in packed:
                    dctx.decompress(z)
                t_d = time.perf_counter() - t
                out = sum(map(len, packed))
                worth = sum(1 for c, z in zip(chunks, packed, strict=True)
                            if len(z) <= (1 - ZSTD_MIN_SAVING) * len(c))
                c_speed, d_speed = total / t_c / 1e6, total / t_d / 1e6
                speeds[kind, level] = c_speed
                print(f"  {kind:<22} {level:>5} {pct(out, total):>10} "
                      f"{pct(worth, len(chunks)):>13} {c_speed:>7.0f} MB/s {d_speed:>6.0f} MB/s")
                self.rows.append({"bench": "chunks", "operation": f"zstd {level} on {kind} chunks",
                                  "value": out / total, "worth": worth / len(chunks),
                                  "compress_mbps": c_speed, "decompress_mbps": d_speed,
                                  "unit": "info"})
        if getattr(self, "big_size", 0):
            gb = self.big_size / 1e9
            costs = ", ".join(f"{kind} at {level}: {gb / (v / 1e3):.1f} s"
                              for (kind, level), v in speeds.items() if level in (-3, 1))
            print(f"  compressing every chunk of a {self.big_size / 2**30:g} GiB file on one core "
                  f"would add: {costs}; the 1 GiB snapshot's margin under {TARGET_BIG:g} x "
                  f"(cp + sync) was {self.big_budget_s:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="30 MB CSV, 16 MB checkpoint, 0.25 GiB")
    ap.add_argument("--csv-mb", type=int, default=None)
    ap.add_argument("--ckpt-mb", type=int, default=None)
    ap.add_argument("--big-gib", type=float, default=None)
    ap.add_argument("--big-rounds", type=int, default=3,
                    help="rounds of the 1 GiB snapshot and checkout timings (median; default 3)")
    ap.add_argument("--no-s3", action="store_true", help="skip the moto S3 server")
    ap.add_argument("--no-drop-caches", action="store_true", help="stay warm between runs")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--results-json", default=None, help="append result rows to this file")
    args = ap.parse_args()
    size = QUICK if args.quick else FULL
    args.csv_mb = args.csv_mb or size["csv_mb"]
    args.ckpt_mb = args.ckpt_mb or size["ckpt_mb"]
    args.big_gib = args.big_gib if args.big_gib is not None else size["big_gib"]
    with work_dir(args.dir, "mlver-bench-chunks-") as work:
        run(args, work)


def run(args, work: str) -> None:
    started = time.perf_counter()
    b = Bench(args, work)
    if not os.path.exists(b.dvc):
        sys.exit(f"dvc is not installed in {b.bindir}; run make bench (installs .[dvc])")
    gen = os.path.join(work, "gen")
    os.makedirs(gen)
    t = time.perf_counter()
    v1, v2 = tables(args.csv_mb, args.seed)
    files = []
    for version, table in ((1, v1), (2, v2)):
        write_csv(table, os.path.join(gen, f"table-{version}.csv"))
    for version in (1, 2):
        write_ckpt(os.path.join(gen, f"ckpt-{version}.bin"), args.ckpt_mb, args.seed, version)
    files = [("table", "table.csv", os.path.join(gen, "table-1.csv"),
              os.path.join(gen, "table-2.csv")),
             ("ckpt", "ckpt.safetensors", os.path.join(gen, "ckpt-1.bin"),
              os.path.join(gen, "ckpt-2.bin"))]
    print(f"generated in {time.perf_counter() - t:.1f} s: CSV "
          f"{os.path.getsize(files[0][2]) / 1e6:.1f} -> {os.path.getsize(files[0][3]) / 1e6:.1f}"
          f" MB ({v1.num_rows:,} -> {v2.num_rows:,} rows, 20 edited), checkpoint "
          f"{os.path.getsize(files[1][2]) / 1e6:.1f} MB; {os.cpu_count()} CPUs", flush=True)
    try:
        if not args.no_s3:
            b.moto = Moto(work, b.env)
            b.s3 = S3(b.moto.url)
        b.versions(files)
    finally:
        if b.moto:
            b.moto.stop()
    if args.big_gib:
        b.big(args.big_gib)
    pq_first = b.parquet(v1, v2)
    noise = os.path.join(gen, "random.bin")
    with open(noise, "wb") as f:
        f.write(os.urandom(32 << 20))  # the kind of bytes the 1 GiB file holds
    b.zstd({"CSV": files[0][2], "parquet (default)": pq_first["default"],
            "float32 weights": files[1][2], "random bytes": noise})
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    report_problems(b.problems, "correctness: recorded oids are XXH3-128 of the files; the "
                                "pulled store verifies; the checkout hashes to its oid")
    if args.results_json:
        with open(args.results_json, "a", encoding="utf-8") as f:
            for row in b.rows:
                f.write(json.dumps(row) + "\n")
            f.write(json.dumps({"bench": "chunks", "operation": "correctness",
                                "ok": not b.problems, "problems": b.problems}) + "\n")
    if b.problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
