"""Benchmark ``mlver push`` / ``pull`` against ``dvc push`` / ``pull`` on many small files.

A moto S3 server runs as its own process on 127.0.0.1 (loopback only); both tools talk to it
through their real CLIs with the same dummy credentials, each to its own prefix of one
bucket. Requests are counted from the server's own log (one line per HTTP request), so both
tools are counted the same way.

  a. push   mlver snapshot (untimed) then mlver push   vs  dvc add (untimed) then dvc push
  b. pull   a fresh git clone: mlver pull               vs  dvc pull   (empty caches)

Targets: push <= 0.10 of ``dvc push``, with requests <= 2% of the object count; pull into
an empty store <= 0.10 of ``dvc pull``. After the pulls, every file in both clones is
compared with the original, byte for byte.

    python benchmarks/bench_remote.py                 100,000 files of 1-4 KiB
    python benchmarks/bench_remote.py --files 20000   a smaller run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import report_problems, work_dir  # noqa: E402
from bench_snapshot import Runner, bin_dir, child_env, generate, git_repo  # noqa: E402

TARGET_PUSH = 0.10
TARGET_PULL = 0.10
TARGET_REQUESTS = 0.02  # of the object count
BUCKET = "bench"
_REQUEST = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) ')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    """``moto_server`` on 127.0.0.1 as a subprocess, its request log in a file."""

    def __init__(self, work: str, env: dict) -> None:
        self.port = free_port()
        self.log_path = os.path.join(work, "moto.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("moto server did not start")

    def requests(self) -> int:
        self.log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return sum(1 for line in f if _REQUEST.search(line))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def files_equal(a: str, b: str, rels: list[str]) -> list[str]:
    bad = []
    for rel in rels:
        with open(os.path.join(a, rel), "rb") as f1, open(os.path.join(b, rel), "rb") as f2:
            if f1.read() != f2.read():
                bad.append(rel)
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000, help="number of files (default 100,000)")
    ap.add_argument("--dirs", type=int, default=100, help="folders they are spread over")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--results-json", default=None, help="append result rows to this file")
    args = ap.parse_args()
    with work_dir(args.dir, "mlver-bench-remote-") as work:
        run(args, work)


def run(args, work: str) -> None:
    bindir = bin_dir()
    mlver, dvc = os.path.join(bindir, "mlver"), os.path.join(bindir, "dvc")
    if not os.path.exists(dvc):
        sys.exit(f"dvc is not installed in {bindir}; run make bench (installs .[dvc])")
    env = child_env(bindir)
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench-secret",
               AWS_DEFAULT_REGION="us-east-1")
    env["DVC_SITE_CACHE_DIR"] = os.path.join(work, "dvc-site-cache")
    runner = Runner(env, drop=False)
    moto = Moto(work, env)
    problems: list[str] = []
    try:
        import s3fs

        s3fs.S3FileSystem(endpoint_url=moto.url, key="bench", secret="bench-secret").mkdir(BUCKET)
        m_root, d_root = os.path.join(work, "m"), os.path.join(work, "d")
        for r in (m_root, d_root):
            os.makedirs(r)
            git_repo(r, env)
        print(f"generating {args.files:,} files in {args.dirs} folders ...", flush=True)
        oids, total = generate([m_root, d_root], args.files, args.dirs, args.seed)
        rels = sorted(oids)
        print(f"{args.files:,} files, {total / 1e6:.1f} MB; moto on {moto.url}; "
              f"{os.cpu_count()} CPUs", flush=True)

        # mlver: snapshot (untimed), push (timed)
        def m(*a: str, cwd: str = m_root) -> tuple[float, str]:
            secs, _rss, out, _code = runner.run([mlver, *a], cwd)
            return secs, out
        with open(os.path.join(m_root, ".gitignore"), "w") as f:
            f.write("data/\n")
        m("init")
        m("remote", "add", "origin", f"s3://{BUCKET}/mlver", "--endpoint-url", moto.url,
          "--default")
        subprocess.run(["git", "add", "-A"], cwd=m_root, env=env, check=True)
        subprocess.run(["git", "commit", "-qm", "remote"], cwd=m_root, env=env, check=True)
        m("snapshot", "data", "-o", "data=data", "--kind", "dataset")
        before = moto.requests()
        t_mpush, out = m("push", "--json")
        m_push_req = moto.requests() - before
        pushed = json.loads(out)
        n_objects = pushed["objects"]
        print(f"mlver push: {t_mpush:.2f} s, {n_objects:,} objects, {m_push_req} requests "
              f"({pushed['requests']} counted by mlver)", flush=True)

        # dvc: add (untimed), push (timed)
        def d(*a: str, cwd: str = d_root, check: bool = True) -> float:
            return runner.run([dvc, *a], cwd, check)[0]
        for a in (["init", "-q"], ["config", "core.autostage", "false"],
                  ["config", "core.analytics", "false"], ["config", "core.check_update", "false"],
                  ["remote", "add", "-d", "origin", f"s3://{BUCKET}/dvc"],
                  ["remote", "modify", "origin", "endpointurl", moto.url],
                  ["add", "-q", "data"]):
            d(*a)
        subprocess.run(["git", "add", "-A"], cwd=d_root, env=env, check=True)
        subprocess.run(["git", "commit", "-qm", "dvc"], cwd=d_root, env=env, check=True)
        before = moto.requests()
        t_dpush = d("push", "-q")
        d_push_req = moto.requests() - before
        print(f"dvc push:   {t_dpush:.2f} s, {d_push_req} requests", flush=True)

        # pulls into fresh clones, empty stores and caches
        mc, dc = os.path.join(work, "m-clone"), os.path.join(work, "d-clone")
        subprocess.run(["git", "clone", "-q", m_root, mc], env=env, check=True)
        subprocess.run(["git", "clone", "-q", d_root, dc], env=env, check=True)
        before = moto.requests()
        t_mpull, out = m("pull", "--json", cwd=mc)
        m_pull_req = moto.requests() - before
        t_mco, _ = m("checkout", "data", cwd=mc)
        print(f"mlver pull: {t_mpull:.2f} s, {m_pull_req} requests (then checkout "
              f"{t_mco:.2f} s, untimed)", flush=True)
        before = moto.requests()
        t_dpull = d("pull", "-q", cwd=dc)
        d_pull_req = moto.requests() - before
        print(f"dvc pull:   {t_dpull:.2f} s, {d_pull_req} requests (pull includes checkout)",
              flush=True)
        for name, clone_root in (("mlver", mc), ("dvc", dc)):
            bad = files_equal(m_root, clone_root, rels)
            if bad:
                problems.append(f"{name}: {len(bad)} files differ after pull, e.g. {bad[0]}")
        secs, _rss, out, code = runner.run([mlver, "verify", "--remote", "origin"], mc,
                                           check=False)
        if code != 0:
            problems.append(f"mlver verify --remote failed: {out[-300:]}")
    finally:
        moto.stop()

    push_ratio, pull_ratio = t_mpush / t_dpush, t_mpull / t_dpull
    req_share = m_push_req / max(n_objects, 1)
    print()
    print(f"{'operation':<34} {'mlver s':>9} {'dvc s':>9} {'ratio':>7} {'target':>7}")
    print(f"{'push ' + format(args.files, ',') + ' files':<34} {t_mpush:>9.2f} {t_dpush:>9.2f} "
          f"{push_ratio:>7.3f} {TARGET_PUSH:>7.2f}  {'PASS' if push_ratio <= TARGET_PUSH else 'MISS'}")
    print(f"{'pull into an empty store':<34} {t_mpull:>9.2f} {t_dpull:>9.2f} "
          f"{pull_ratio:>7.3f} {TARGET_PULL:>7.2f}  {'PASS' if pull_ratio <= TARGET_PULL else 'MISS'}")
    print(f"push requests: mlver {m_push_req:,} ({100 * req_share:.3f}% of {n_objects:,} "
          f"objects; target <= {100 * TARGET_REQUESTS:g}%), dvc {d_push_req:,}; pull requests: "
          f"mlver {m_pull_req:,}, dvc {d_pull_req:,}")
    report_problems(problems, "correctness: both clones hold every file byte for byte; "
                              "verify --remote found no problem")
    if args.results_json:
        rows = [
            {"bench": "remote", "operation": "push", "files": args.files, "mlver_s": t_mpush,
             "dvc_s": t_dpush, "ratio": push_ratio, "target": TARGET_PUSH,
             "ok": push_ratio <= TARGET_PUSH},
            {"bench": "remote", "operation": "pull into an empty store", "files": args.files,
             "mlver_s": t_mpull, "dvc_s": t_dpull, "ratio": pull_ratio, "target": TARGET_PULL,
             "ok": pull_ratio <= TARGET_PULL},
            {"bench": "remote", "operation": "push requests", "files": args.files,
             "requests": m_push_req, "objects": n_objects, "share": req_share,
             "target": TARGET_REQUESTS, "ok": req_share <= TARGET_REQUESTS},
            {"bench": "remote", "operation": "correctness", "ok": not problems,
             "problems": problems},
        ]
        with open(args.results_json, "a", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
