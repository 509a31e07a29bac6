"""Shared fixtures: real git repositories in temporary folders, stores, CLI helpers.

Everything here uses the real components: the ``git`` binary, a real ``.mlver``
store on disk, click's ``CliRunner`` over the real command group. Nothing of
mlver's storage is mocked.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlver.api import Repo
from mlver.cli import main

GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")


def git(cwd, *args: str, text: bool = True):
    """Run git in ``cwd`` and return its stdout (str, or bytes with ``text=False``)."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=text, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


_TEMPLATES: dict[str, Path] = {}  # per worker process: a repository made once, copied after


def _from_template(key: str, root: Path, make) -> Path:
    """Copy the repository ``make(path)`` builds (once per process) to ``root``: a copy
    costs a few milliseconds where six git processes cost tens of them, and most tests
    start from the same first commit."""
    import atexit
    import shutil
    import tempfile

    tpl = _TEMPLATES.get(key)
    if tpl is None:
        base = Path(tempfile.mkdtemp(prefix="mlver-tpl-"))
        atexit.register(shutil.rmtree, base, True)
        tpl = _TEMPLATES[key] = make(base / "repo")
    shutil.copytree(tpl, root, symlinks=True, dirs_exist_ok=True)
    return root


def init_git(root: Path, files: dict[str, str] | None = None) -> Path:
    """``git init`` ``root``, set a local identity, make a first commit of ``files``."""
    if files is None and not (root.exists() and any(root.iterdir())):
        return _from_template("init_git", root, lambda p: _init_git(p, None))
    return _init_git(root, files)


def _init_git(root: Path, files: dict[str, str] | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test User")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "commit.gpgsign", "false")
    for rel, content in (files or {"README.md": "# proj\n", "train.py": "print('train')\n"}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first commit")
    return root


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    """Deterministic environment: the training interpreter is this venv's python,
    and no GIT_* variable of the caller leaks into the repositories the tests make."""
    if sys.prefix != sys.base_prefix:
        monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    else:
        monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    for var in GIT_ENV_DROP:
        monkeypatch.delenv(var, raising=False)
    # The caller's ~/.gitconfig and /etc/gitconfig (excludes, hooks, signing) stay out.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    yield
    # As root, a rename over os.devnull (a `git config --global` with the setting above, an
    # output written "atomically" to /dev/null) replaces the device with a file and breaks
    # every later program: name the test that did it.
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode), f"{os.devnull} is no longer a device"


@pytest.fixture
def git_repo(tmp_path) -> Path:
    """A git repository with one commit (README.md, train.py) on branch ``main``."""
    return init_git(tmp_path / "proj")


@pytest.fixture
def repo(git_repo, monkeypatch):
    """An mlver store initialised in ``git_repo``; the current folder is its root."""
    monkeypatch.chdir(git_repo)
    r = Repo.init(str(git_repo))
    yield r
    r.close()


def write(path: Path, content: str | bytes) -> Path:
    """Write ``content`` to ``path`` (creating parent folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def store_listing(root) -> list[tuple[str, int, str]]:
    """Every file under ``.mlver/objects`` and ``.mlver/refs``: (path, mode, sha1 of bytes)."""
    out = []
    store = Path(root) / ".mlver"
    for sub in ("objects", "refs"):
        base = store / sub
        if not base.exists():
            continue
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                p = Path(dirpath) / f
                out.append((str(p.relative_to(store)), p.stat().st_mode & 0o777,
                            hashlib.sha1(p.read_bytes()).hexdigest()))
    return sorted(out)


def tmp_files(root) -> list[str]:
    """What is left in ``.mlver/tmp`` (must be empty after any command)."""
    d = Path(root) / ".mlver" / "tmp"
    return sorted(os.listdir(d)) if d.exists() else []


def cli(*args: str):
    """Invoke the mlver CLI in the current folder; stdout and stderr are kept apart."""
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_error(result, *needles: str) -> str:
    """Exit status 1, exactly one line of output ``Error: …`` naming each of ``needles``."""
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    lines = result.output.splitlines()
    assert len(lines) == 1, f"expected one line, got: {result.output!r}"
    line = lines[0]
    assert line.startswith("Error: "), line
    assert result.stdout == "", f"stdout should be empty on error: {result.stdout!r}"
    for n in needles:
        assert n in line, f"{n!r} not in {line!r}"
    return line


def kill_at_every_step(root: Path, child: str, check, min_steps: int = 8) -> None:
    """Prove that a command survives SIGKILL at every step it makes. ``child`` is a script
    run in ``root`` that kills itself before step ``argv[1]`` (0: never) and prints how many
    steps it made. It runs once whole; then, on a fresh copy of ``root`` as it was, once
    killed before each step, after which ``check(n)`` runs (it should finish the work) and
    the store's files (packs and locks aside) must be what the whole run left."""
    import shutil
    import signal

    pristine = root.parent / (root.name + "-pristine")
    shutil.copytree(root, pristine, symlinks=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    full = subprocess.run([sys.executable, "-c", child, "0"], cwd=root, env=env,
                          capture_output=True, text=True, check=True)
    steps = int(full.stdout.strip())
    assert steps >= min_steps, steps

    def settled() -> list[tuple[str, int, str]]:
        # A lock file left by a killed holder is broken by the next one that wants it.
        return [e for e in store_listing(root)
                if not e[0].startswith("objects/pack/") and not e[0].endswith(".lock")]

    final = settled()
    for n in range(1, steps + 1):
        shutil.rmtree(root)
        shutil.copytree(pristine, root, symlinks=True)
        proc = subprocess.run([sys.executable, "-c", child, str(n)], cwd=root, env=env,
                              capture_output=True, text=True)
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
        check(n)
        assert settled() == final, n


def shared_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """``sample_project/demo.sh`` (what ``make demo`` runs) run once per test session and
    shared by the test modules that need it, in whichever worker process they run: its
    output folder and what it printed. The demo trains four models and replays them; two
    modules running it each cost the suite ~30 s of CPU."""
    import fcntl
    import shutil

    base = tmp_path_factory.getbasetemp()
    # under xdist every worker's base folder sits in the session's: share that one
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared-demo"
    root.mkdir(exist_ok=True)
    out, printed = root / "demo", root / "stdout.txt"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first one runs it, the others wait and read
        if not printed.exists():
            shutil.rmtree(out, ignore_errors=True)
            env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1",
                       VIRTUAL_ENV=sys.prefix,
                       PATH=os.path.dirname(sys.executable) + os.pathsep
                       + os.environ.get("PATH", ""))
            for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
                env.pop(var, None)
            proc = subprocess.run(["bash", str(Path(__file__).parent.parent / "sample_project"
                                               / "demo.sh"), str(out)],
                                  capture_output=True, text=True, env=env, timeout=600,
                                  check=False)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            (root / "stdout.part").write_text(proc.stdout)
            os.replace(root / "stdout.part", printed)
    return out, printed.read_text()


@pytest.fixture
def watched(repo, git_repo):
    """``repo`` with data/a/x.csv and data/b/y.csv (ignored by git) and the file-system
    monitor on (watchman; tests using it skip where it is not installed)."""
    write(git_repo / "data" / "a" / "x.csv", "id\n1\n")
    write(git_repo / "data" / "b" / "y.csv", "id\n2\n")
    write(git_repo / ".gitignore", "data/\n")
    assert repo.monitor(True) == "watchman"
    yield repo
    repo.monitor(False)


def count_chunk_reads(monkeypatch) -> list[int]:
    """The bytes each run of chunk reads returns (``mlver.store.chunked.read_runs``),
    appended as they happen: what a ranged read really read."""
    import mlver.store.chunked as chunked

    read: list[int] = []
    real = chunked.read_runs

    def counted(spots):
        got = real(spots)
        read.append(sum(len(v) for v in got.values()))
        return got

    monkeypatch.setattr(chunked, "read_runs", counted)
    return read
