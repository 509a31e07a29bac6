"""mlver.ops.trace and mlver/ops/_trace/sitecustomize.py: what a run's Python processes read
under the repository, traced through audit hooks in real subprocesses, and how the
reads are sorted into sources (the traced code scope) and unrecorded data reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from importlib.util import cache_from_source

from mlver.ops import trace as tr
from conftest import git, init_git, write

PY = sys.executable


@pytest.fixture
def root(tmp_path):
    return init_git(tmp_path / "r", {"README.md": "# r\n", "helper.py": "def f():\n    return 2\n"})


def pyc(name: str) -> str:
    """The root-relative cached-bytecode path Python tries before reading ``name``'s
    source (an attempt that fails, without a .pyc, is still an ``open`` event)."""
    return os.path.relpath(cache_from_source(os.path.join("/r", name)), "/r")


def run_traced(root: Path, argv, env_extra=None, cwd=None):
    """Run ``argv`` under a ChildTracer; return (completed process, Reads)."""
    t = tr.ChildTracer(str(root))
    try:
        env = t.env()
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # no .pyc writes: the reads stay exact
        env.update(env_extra or {})
        proc = subprocess.run(argv, cwd=str(cwd or root), env=env, capture_output=True,
                              text=True, timeout=60)
        return proc, t.collect()
    finally:
        t.close()


def test_reads_imports_and_writes_of_a_python_command(root):
    write(root / "data" / "x.csv", "a\n1\n")
    write(root / "train.py", "import helper\nopen('data/x.csv').read()\n"
                             "open('out.txt', 'w').write(str(helper.f()))\n"
                             "import json; json.dumps(1)\n")  # stdlib: outside the root
    proc, reads = run_traced(root, [PY, "train.py"])
    assert proc.returncode == 0, proc.stderr
    assert reads.traced and not reads.truncated and reads.note is None
    assert reads.paths == {"train.py": {"r"}, pyc("helper.py"): {"r"}, "helper.py": {"r"},
                           "data/x.csv": {"r"}, "out.txt": {"w"}}


def test_python_subprocesses_are_traced_even_when_they_exit_abruptly(root):
    write(root / "data" / "y.csv", "y\n")
    write(root / "child.py", "import os\nopen('data/y.csv').read()\nos._exit(0)\n")
    write(root / "main.py", "import subprocess, sys\n"
                            "subprocess.run([sys.executable, 'child.py'], check=True)\n")
    proc, reads = run_traced(root, [PY, "main.py"])
    assert proc.returncode == 0, proc.stderr
    assert reads.paths == {"main.py": {"r"}, "child.py": {"r"}, "data/y.csv": {"r"}}


def test_a_command_without_python_is_not_traced(root):
    write(root / "data" / "x.csv", "x\n")
    proc, reads = run_traced(root, ["/bin/sh", "-c", "cat data/x.csv > out.txt"])
    assert proc.returncode == 0
    assert (reads.traced, reads.paths, reads.note) == (False, {}, tr.NOT_TRACED)
    c = tr.classify(str(root), reads, [])
    assert (c.traced, c.sources, c.unrecorded, c.note) == (False, None, (), tr.NOT_TRACED)


def test_python_ignoring_pythonpath_is_not_traced(root):
    write(root / "train.py", "print('ok')\n")
    proc, reads = run_traced(root, [PY, "-I", "train.py"])
    assert proc.stdout == "ok\n" and reads.traced is False


def test_an_existing_sitecustomize_still_runs(root, tmp_path):
    theirs = tmp_path / "site"
    write(theirs / "sitecustomize.py", "import os\nMARK = 'theirs'\n"
                                       "open(os.environ['MARK_FILE'], 'w').write('ran')\n")
    write(root / "show.py", "import sitecustomize, sys, os\n"
                            "print(sitecustomize.MARK)\n"
                            "print(any(os.path.isfile(os.path.join(p, 'sitecustomize.py')) "
                            "and 'mlver-trace' in p for p in sys.path))\n")
    mark = tmp_path / "mark"
    # ours first on PYTHONPATH, theirs after it, as ChildTracer.env builds it
    t = tr.ChildTracer(str(root))
    try:
        env = t.env({**os.environ, "PYTHONPATH": str(theirs), "MARK_FILE": str(mark),
                     "PYTHONDONTWRITEBYTECODE": "1"})
        assert env["PYTHONPATH"] == t.path + os.pathsep + str(theirs)
        proc = subprocess.run([PY, "show.py"], cwd=str(root), env=env, capture_output=True,
                              text=True, timeout=60)
        reads = t.collect()
    finally:
        t.close()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "theirs\nFalse\n"  # theirs is the module; our folder left sys.path
    assert mark.read_text() == "ran" and proc.stderr == ""
    assert reads.paths == {"show.py": {"r"}}


def test_tracing_that_cannot_write_never_breaks_the_command(root, tmp_path):
    write(root / "train.py", "open('out.txt', 'w').write('done')\nprint('ok')\n")
    t = tr.ChildTracer(str(root))
    try:
        env = t.env()
        env["MLVER_TRACE_DIR"] = str(tmp_path / "no" / "such" / "folder")
        proc = subprocess.run([PY, "train.py"], cwd=str(root), env=env, capture_output=True,
                              text=True, timeout=60)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok\n", "")
        assert (root / "out.txt").read_text() == "done"
        assert t.collect().traced is False  # no trace written: said, not guessed
    finally:
        t.close()
    assert not os.path.exists(t.dir)


def test_paths_per_process_are_bounded(root):
    write(root / "many.py", "for i in range(8):\n"
                            "    open(f'f{i}.txt', 'w').close()\n"
                            "import helper\n")
    t = tr.ChildTracer(str(root))
    try:
        mine = Path(t.path) / "sitecustomize.py"
        mine.write_text(mine.read_text().replace("MAX_PATHS = 100000", "MAX_PATHS = 3"))
        env = t.env()
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        proc = subprocess.run([PY, "many.py"], cwd=str(root), env=env, capture_output=True,
                              text=True, timeout=60)
        reads = t.collect()
    finally:
        t.close()
    assert proc.returncode == 0, proc.stderr
    # many.py, f0, f1 fill the three places; .py files are always kept
    assert reads.truncated is True
    assert reads.paths == {"many.py": {"r"}, "f0.txt": {"w"}, "f1.txt": {"w"}, "helper.py": {"r"}}
    # (the attempt at helper's .pyc came after the bound: not a .py file, so not kept)


def test_a_virtualenv_inside_the_repository_is_not_the_project(root):
    subprocess.run([PY, "-m", "venv", "--without-pip", str(root / ".venv")], check=True,
                   timeout=120)
    site = next((root / ".venv" / "lib").glob("python*/site-packages"))
    write(site / "venvmod.py", "open(__file__.replace('venvmod.py', 'venvdata.txt')).read()\n")
    write(site / "venvdata.txt", "x\n")
    write(root / "train.py", "import venvmod, helper\n")
    proc, reads = run_traced(root, [str(root / ".venv" / "bin" / "python"), "train.py"])
    assert proc.returncode == 0, proc.stderr
    assert reads.paths == {"train.py": {"r"}, pyc("helper.py"): {"r"}, "helper.py": {"r"}}


def test_cut_and_foreign_lines_are_ignored(root):
    t = tr.ChildTracer(str(root))
    try:
        lines = [json.dumps(["mlver-trace", 1, 1, PY]), json.dumps(["r", str(root / "a.csv")]),
                 json.dumps(["r", "/etc/passwd"]), json.dumps(["x", str(root / "b")]),
                 json.dumps(["truncated"]), '["r", "' + str(root / "cut")]
        Path(t.out, "1-a.jsonl").write_text("\n".join(lines))
        reads = t.collect()
    finally:
        t.close()
    assert (reads.traced, reads.truncated, reads.paths) == (True, True, {"a.csv": {"r"}})


def test_classify_sorts_sources_from_unrecorded_data(root):
    write(root / "config.yaml", "k: 1\n")
    git(root, "add", "config.yaml")  # tracked: versioned by git, so code
    for rel in ("data/raw.csv", "data/in.csv", "notes/n.txt", "tmp/cache.bin", "train.py",
                "run.sh"):
        write(root / rel, "x\n")
    reads = tr.Reads(traced=True, paths={
        "train.py": {"r"}, "helper.py": {"m"}, "config.yaml": {"r"},
        "__pycache__/helper.cpython-311.pyc": {"r"},
        "data/raw.csv": {"r"},            # read, not recorded: the suspect
        "data/in.csv": {"r"},             # an input
        "notes/n.txt": {"r"},             # in the declared scope
        "tmp/cache.bin": {"w", "r"},      # written by the run before some process read it
        "gone.csv": {"r"},                # no longer there
        ".git/config": {"r"}, "README.md": {"w"}})
    c = tr.classify(str(root), reads, ["data/in.csv", "model.bin"],
                    argv=["/bin/sh", "run.sh", "--flag"], declared=("notes",))
    assert c == tr.Classified(True, ("config.yaml", "helper.py", "run.sh", "train.py"),
                              ("data/raw.csv",), None)


def test_classify_notes_what_it_cut(root, monkeypatch):
    monkeypatch.setattr(tr, "MAX_UNRECORDED", 2)
    monkeypatch.setattr(tr, "MAX_SOURCES", 1)
    for rel in ("d/a", "d/b", "d/c", "x.py", "y.py"):
        write(root / rel, "x\n")
    reads = tr.Reads(traced=True, truncated=True,
                     paths={p: {"r"} for p in ("d/a", "d/b", "d/c", "x.py", "y.py")})
    c = tr.classify(str(root), reads, [])
    assert c.sources is None  # too many to make a scope: the whole repository
    assert c.unrecorded == ("d/a", "d/b")
    assert c.note == ("the command opened too many files to list them all; it read more than "
                      "1 source files, so the traced code scope is the whole repository; "
                      "1 more unrecorded reads are not listed")


def test_in_process_tracer(root, monkeypatch):
    write(root / "data" / "p.csv", "p\n")
    write(root / "inproc_mod.py", "V = 3\n")
    monkeypatch.syspath_prepend(str(root))
    t = tr.InProcessTracer(str(root))
    t.start()
    try:
        with open(root / "data" / "p.csv") as f:
            f.read()
        with open(root / "w.txt", "w") as f:
            f.write("w")
        import inproc_mod  # noqa: F401
    finally:
        reads = t.stop()
    sys.modules.pop("inproc_mod", None)
    assert reads.paths["data/p.csv"] == {"r"} and reads.paths["w.txt"] == {"w"}
    assert reads.paths["inproc_mod.py"] == {"r", "m"}  # read by the import, then in sys.modules
    before = dict(reads.paths)
    open(root / "data" / "p.csv").close()  # after stop: not seen
    assert reads.paths == before
