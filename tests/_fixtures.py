"""Shared helpers and fixtures for the diff, run, lineage and render tests.

Imported by those test files only (``from _fixtures import ...``); it does not
rely on ``conftest.py``. Everything is real: the ``git`` binary makes the
repositories, ``mlver.Repo.init`` makes the store, ``CliRunner`` drives the real
command group. Nothing of mlver's storage is mocked.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import mlver
from mlver.cli import main

GIT_NAME = "Test User"
GIT_EMAIL = "test@example.com"
VENV_PYTHON = sys.executable


# --------------------------------------------------------------------------- git


def git(cwd, *args: str, env: dict | None = None) -> str:
    """Run the git binary in ``cwd``; return stdout; fail the test on error."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}
    full_env.update(env or {})
    proc = subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, text=True,
                          env=full_env, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def make_git_repo(root: Path, files: dict[str, str] | None = None) -> Path:
    """``git init`` with a local identity and one first commit of ``files``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", GIT_NAME)
    git(root, "config", "user.email", GIT_EMAIL)
    git(root, "config", "commit.gpgsign", "false")
    for rel, content in (files or {"README.md": "# project\n",
                                   "train.py": "print('train')\n"}).items():
        write(root / rel, content)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first commit")
    return root


def commit_all(root, message: str, author: str | None = None) -> str:
    """Commit every change in ``root`` (optionally as ``author``); return the new sha."""
    git(root, "add", "-A")
    env = None
    if author:
        env = {"GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": f"{author.lower()}@example.com"}
    git(root, "commit", "-q", "-m", message, env=env)
    return head_sha(root)


def head_sha(root) -> str:
    return git(root, "rev-parse", "HEAD").strip()


# --------------------------------------------------------------------------- files


def write(path, content: str | bytes) -> Path:
    """Write ``content`` to ``path``, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if os.path.exists(path):
        os.chmod(path, 0o644)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def csv_text(header: list[str], rows: list[list]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def write_csv(path, header: list[str], rows: list[list]) -> Path:
    return write(path, csv_text(header, rows))


def table_rows(n: int, seed: int = 0, start: int = 0) -> list[list]:
    """``n`` distinct rows ``[id, x, cat]``: x ~ N(50, 10) rounded, cat in a/b/c."""
    rnd = random.Random(seed)
    return [[start + i, round(rnd.gauss(50, 10), 3), "abc"[rnd.randrange(3)]] for i in range(n)]


HEADER = ["id", "x", "cat"]


# --------------------------------------------------------------------------- store


def object_listing(root) -> list[str]:
    """Every file below ``.mlver/objects`` (relative paths, sorted)."""
    base = Path(root) / ".mlver" / "objects"
    out = []
    for dirpath, _dirs, files in os.walk(base):
        for f in files:
            out.append(str((Path(dirpath) / f).relative_to(base)))
    return sorted(out)


def tmp_listing(root) -> list[str]:
    d = Path(root) / ".mlver" / "tmp"
    return sorted(os.listdir(d)) if d.exists() else []


def index_conn(root) -> sqlite3.Connection:
    return sqlite3.connect(str(Path(root) / ".mlver" / "index.sqlite"), isolation_level=None)


def publish_variant(repo, rev: str, name: str | None = None, **changes):
    """Write a new version whose record is ``rev``'s with ``changes`` (dataclasses.replace).

    Used for records a workspace cannot produce (another env, an unknown commit).
    Returns the SnapshotResult.
    """
    from mlver.ops import snapshot as snapmod

    _oid, rec = repo.show(rev)
    draft = dataclasses.replace(rec, name=name or rec.name, **changes)
    batch = repo.store.objects.batch()
    return snapmod.publish(repo.store, draft, batch)


def add_blob(repo, data: bytes) -> str:
    with repo.store.objects.batch() as batch:
        return batch.add_bytes(data)


# --------------------------------------------------------------------------- CLI


def cli(*args):
    """Invoke the mlver CLI in the current folder (stdout and stderr kept apart)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_error(result, *needles: str, code: int = 1) -> str:
    """Exit ``code`` and exactly one line of output, ``Error: …``, naming each needle."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    lines = result.output.splitlines()
    assert len(lines) == 1, f"expected one line, got: {result.output!r}"
    assert lines[0].startswith("Error: "), lines[0]
    assert "Traceback" not in result.output
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"
    return lines[0]


def assert_ok(result) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result.stdout


def run_mlver(cwd, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run mlver in a real subprocess (to see what a child process writes)."""
    exe = os.path.join(os.path.dirname(sys.executable), "mlver")
    argv = [exe] if os.path.exists(exe) else [sys.executable, "-m", "mlver"]
    return subprocess.run([*argv, *map(str, args)], cwd=str(cwd),
                          capture_output=True, text=True, timeout=timeout, check=False)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def proj(tmp_path, monkeypatch) -> Path:
    """A git repository with a first commit; the current folder; a fixed interpreter."""
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)
    root = make_git_repo(tmp_path / "proj")
    write(root / ".gitignore", ".mlver/\n")
    commit_all(root, "ignore the store")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def mrepo(proj):
    """An initialised mlver store at the root of ``proj``."""
    r = mlver.Repo.init(str(proj))
    yield r
    r.close()


def tree_bomb(levels: int, payload: bytes = b"x") -> tuple[str, dict]:
    """``levels`` trees, each listing the next twice: 2^levels paths in 2 x levels entries
    (a crafted store's "tree bomb"). Returns the top oid and ``{oid: Tree}``."""
    from mlver.base.hashing import oid_of
    from mlver.store.trees import Tree, TreeEntry

    bottom = Tree.of([TreeEntry("leaf.bin", "blob", oid_of(payload), len(payload))])
    trees = {bottom.oid: bottom}
    oid, size = bottom.oid, len(payload)
    for _ in range(levels):
        t = Tree.of([TreeEntry("a", "tree", oid, size), TreeEntry("b", "tree", oid, size)])
        trees[t.oid] = t
        oid, size = t.oid, size * 2
    return oid, trees
