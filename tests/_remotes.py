"""Helpers of the remote tests: clones of one git repository sharing a remote, and a moto
S3 server on 127.0.0.1 (started by the tests, stopped by them)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from click.testing import CliRunner

from mlver.cli import main


def git(cwd, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_DIR")}
    p = subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    return p.stdout


def project(root: Path, files: dict[str, bytes | str] | None = None) -> Path:
    """A git repository with data files and one commit."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test User")
    git(root, "config", "user.email", "test@example.com")
    for rel, content in (files or {"train.py": "print(1)\n", "data/a.csv": "id,x\n1,2\n",
                                   "data/b.csv": "id,y\n3,4\n"}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root


def clone(src: Path, dst: Path) -> Path:
    git(src.parent, "clone", "-q", str(src), str(dst))
    git(dst, "config", "user.name", "Other User")
    git(dst, "config", "user.email", "other@example.com")
    return dst


def pushed_and_cloned(tmp_path: Path, csv: str) -> tuple[Path, Path]:
    """Project ``a`` (train.py, data/t.csv holding ``csv``) with a default folder remote in
    mlver.toml, ``m@1`` of the CSV recorded and pushed; ``b`` a git clone of it."""
    a = project(tmp_path / "a", {"train.py": "print(1)\n", "data/t.csv": csv})
    ok(a, "init")
    ok(a, "remote", "add", "origin", str(tmp_path / "remote"), "--default")
    git(a, "add", "mlver.toml")
    git(a, "commit", "-q", "-m", "remote")
    ok(a, "snapshot", "m", "-i", "t=data/t.csv")
    ok(a, "push")
    return a, clone(a, tmp_path / "b")


def run(cwd, *args: str):
    """The CLI in ``cwd``; stdout and stderr kept apart."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)


def ok(cwd, *args: str) -> str:
    r = run(cwd, *args)
    assert r.exit_code == 0, (args, r.stdout, r.stderr)
    return r.stdout


def files_of(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` outside .git and .mlver: relative path -> bytes."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", ".mlver")]
        for f in files:
            p = Path(dirpath) / f
            out[str(p.relative_to(root))] = p.read_bytes()
    return out


def moto_server():
    """A moto S3 server on 127.0.0.1 (a free port); returns (server, endpoint URL)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"
