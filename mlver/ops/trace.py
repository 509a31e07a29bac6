"""Read tracing: which files under the repository a run opened, and what they are.

``mlver run`` starts the command with ``mlver/ops/_trace/sitecustomize.py`` first on its
PYTHONPATH (:class:`ChildTracer`): every Python process of the command then reports
the files it opened under the root, one JSON line per new path, into a private
folder. ``with repo.run(...)`` runs in this process and uses an audit hook here
(:class:`InProcessTracer`). :func:`classify` then sorts what was read:

- **source**: a ``.py`` file (a cached ``__pycache__/*.pyc`` counts as its source),
  the file of a module imported from under the root, a file git tracks, or a script
  named on the command line (a ``.py``/``.sh`` file, or an executable one). Sources
  make the traced code scope.
- **data**: any other regular file read under the root, except ``.git``, ``.mlver``,
  the record's inputs, outputs, params and metrics files, files in the declared
  scope, and files the run wrote before reading them. These are the run's
  *unrecorded reads*: what the record does not hold but the result may depend on.

A command with no Python process (a shell script running a binary), or whose Python
ignores PYTHONPATH (``-I``, ``-E``) or skips ``site`` (``-S``), writes no trace: the
run is recorded as not traced, and its code scope is the whole repository. Reads made
by native code that bypasses Python's ``open`` (some C extensions) are not seen.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlver.core.scope import matches
import contextlib

TRACE_FILES = 1000           # trace files read: one per Python process of the command
TRACE_BYTES = 256 << 20      # bytes read from them in all
MAX_SOURCES = 10000          # source files a traced scope may hold
MAX_UNRECORDED = 1000        # unrecorded reads kept in a record
SCRIPT_SUFFIXES = (".py", ".sh")
NOT_TRACED = ("no Python process of the command could be traced (not a Python command, "
              "or Python started with -I, -E or -S)")


@dataclass
class Reads:
    """What a trace saw: root-relative path -> the ways it was first opened, per process
    (``r`` read, ``w`` written, ``m`` imported)."""

    traced: bool
    paths: dict[str, set[str]] = field(default_factory=dict)
    truncated: bool = False
    note: str | None = None


@dataclass(frozen=True)
class Classified:
    """The trace sorted out: ``sources`` (None when too many to make a scope) and the
    data files read that the record does not hold."""

    traced: bool
    sources: tuple[str, ...] | None
    unrecorded: tuple[str, ...]
    note: str | None = None


def env_dirs() -> tuple[str, ...]:
    """This interpreter's prefixes and site-packages (a virtualenv inside the repository
    is the environment, not the project's files); the child tracer does the same."""
    import site

    dirs = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]
    with contextlib.suppress(Exception):  # some embedded interpreters lack them
        dirs += list(site.getsitepackages()) + [site.getusersitepackages()]
    out: set[str] = set()
    for d in dirs:
        if d:
            out.add(os.path.normpath(os.path.abspath(d)))
            out.add(os.path.normpath(os.path.realpath(d)))
    return tuple(sorted(out))


def _relative(roots: tuple[str, ...], path: str) -> str | None:
    for r in roots:
        if path == r:
            return "."
        if path.startswith(r + os.sep):
            return path[len(r) + 1:].replace(os.sep, "/")
    return None


def _roots(root: str) -> tuple[str, ...]:
    a, b = os.path.abspath(root), os.path.realpath(root)
    return (a,) if a == b else (a, b)


class ChildTracer:
    """Tracing for a command run as a child process: its environment, then its traces."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.dir = tempfile.mkdtemp(prefix="mlver-trace-")
        self.out = os.path.join(self.dir, "out")
        os.mkdir(self.out)
        path = os.path.join(self.dir, "path")
        os.mkdir(path)
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_trace",
                            "sitecustomize.py")
        shutil.copyfile(here, os.path.join(path, "sitecustomize.py"))
        self.path = path

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The command's environment: ``base`` (default ours) with the tracer first on
        PYTHONPATH and the variables that tell it where to write."""
        env = dict(os.environ if base is None else base)
        old = env.get("PYTHONPATH")
        env["PYTHONPATH"] = self.path + (os.pathsep + old if old else "")
        env["MLVER_TRACE_DIR"] = self.out
        env["MLVER_TRACE_ROOT"] = os.pathsep.join(_roots(self.root))
        return env

    def collect(self) -> Reads:
        """Read what the command's Python processes wrote (bounded)."""
        roots = _roots(self.root)
        names = sorted(os.listdir(self.out))
        if not names:
            return Reads(traced=False, note=NOT_TRACED)
        reads = Reads(traced=True)
        budget = TRACE_BYTES
        for name in names[:TRACE_FILES]:
            try:
                with open(os.path.join(self.out, name), "rb") as f:
                    data = f.read(budget + 1)
            except OSError:
                continue
            budget -= len(data)
            for line in data.splitlines():
                try:
                    item = json.loads(line)
                except ValueError:
                    continue  # a line cut by a process killed mid-write
                if item == ["truncated"]:
                    reads.truncated = True
                elif (isinstance(item, list) and len(item) == 2 and item[0] in ("r", "w", "m")
                      and isinstance(item[1], str)):
                    rel = _relative(roots, item[1])
                    if rel is not None and rel != ".":
                        reads.paths.setdefault(rel, set()).add(item[0])
            if budget < 0:
                reads.truncated = True
                break
        if len(names) > TRACE_FILES:
            reads.truncated = True
        return reads

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


_ACTIVE: list[InProcessTracer] = []
_INSTALLED = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _ACTIVE:
        return
    try:
        path, mode, flags = args[0], args[1], args[2]
        if isinstance(path, int) or path is None:
            return
        path = os.path.normpath(os.path.abspath(os.fsdecode(os.fspath(path))))
        if isinstance(mode, str):
            wrote = any(c in mode for c in "wax+")
        else:
            wrote = bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
        for t in list(_ACTIVE):
            t._note("w" if wrote else "r", path)
    except Exception:  # tracing never breaks the traced code
        pass


class InProcessTracer:
    """Tracing for ``with repo.run(...)``: an audit hook in this process, active between
    ``start`` and ``stop`` (audit hooks cannot be removed, so one hook is installed once
    and does nothing while no tracer is active). Modules imported from under the root
    before ``start`` are found in ``sys.modules`` at ``stop``."""

    def __init__(self, root: str) -> None:
        self.roots = _roots(root)
        self.reads = Reads(traced=True)
        self.envs = tuple(d + os.sep for d in env_dirs()
                          if _relative(self.roots, d) not in (None, "."))

    def _note(self, kind: str, path: str) -> None:
        if path.startswith(self.envs):
            return
        rel = _relative(self.roots, path)
        if rel is not None and rel != ".":
            kinds = self.reads.paths.setdefault(rel, set())
            if not kinds:
                kinds.add(kind)

    def start(self) -> None:
        global _INSTALLED
        if not _INSTALLED:
            sys.addaudithook(_hook)
            _INSTALLED = True
        _ACTIVE.append(self)

    def stop(self) -> Reads:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        main = sys.modules.get("__main__")
        files = [getattr(main, "__file__", None)]
        files += [getattr(m, "__file__", None) for m in list(sys.modules.values())]
        for f in files:
            if isinstance(f, str):
                f = os.path.normpath(os.path.abspath(f))
                if f.startswith(self.envs):
                    continue
                rel = _relative(self.roots, f)
                if rel is not None and rel != ".":
                    self.reads.paths.setdefault(rel, set()).add("m")
        return self.reads


def _inside(path: str, prefixes: Iterable[str]) -> bool:
    return any(p == "." or path == p or path.startswith(p + "/") for p in prefixes)


def _argv_files(root: str, argv: Sequence[str] | None, cwd: str | None) -> set[str]:
    """Root-relative files named on the command line (inside ``sh -c`` strings too)."""
    words: list[str] = []
    for a in argv or ():
        words.append(a)
        if " " in a:
            with contextlib.suppress(ValueError):
                words += shlex.split(a)
    roots = _roots(root)
    out: set[str] = set()
    for w in words[:1000]:
        if not w or w.startswith("-") or len(w) > 4096 or "\0" in w:
            continue
        full = os.path.normpath(os.path.join(cwd or root, w))
        rel = _relative(roots, full)
        if rel is not None and rel != "." and os.path.isfile(full):
            out.add(rel)
    return out


def classify(root: str, reads: Reads, recorded: Sequence[str], argv: Sequence[str] | None = (),
             cwd: str | None = None, declared: Sequence[str] | None = None) -> Classified:
    """Sort a trace into sources and unrecorded data reads (see the module docstring).

    ``recorded``: root-relative paths of the inputs, outputs, params and metrics files;
    ``declared``: the declared scope, whose files are never unrecorded reads.
    """
    from importlib.util import source_from_cache

    from mlver.capture import git as capgit

    if not reads.traced:
        return Classified(False, None, (), reads.note)
    roots = _roots(root)
    found: dict[str, set[str]] = {}
    for rel, kinds in reads.paths.items():
        parts = rel.split("/")
        if ".git" in parts or ".mlver" in parts:
            continue
        if "__pycache__" in parts:
            try:
                src = source_from_cache(os.path.join(roots[0], rel))
            except ValueError:
                continue
            src_rel = _relative(roots, os.path.normpath(src))
            if src_rel is None:
                continue
            rel, kinds = src_rel, {"m"}
        if _inside(rel, recorded) or not os.path.isfile(os.path.join(root, rel)):
            continue
        found.setdefault(rel, set()).update(kinds)
    read = {p for p, k in found.items() if "r" in k or "m" in k}  # not only written
    sources = {p for p in read if p.endswith(".py") or "m" in found[p]}
    for p in _argv_files(root, argv, cwd):
        full = os.path.join(root, p)
        if not _inside(p, recorded) and (p.endswith(SCRIPT_SUFFIXES) or os.access(full, os.X_OK)):
            sources.add(p)
    others = sorted(p for p in read if p not in sources)
    tracked = capgit.tracked(root, others) if others else set()
    sources |= tracked
    # Read, and not written by the run before (in any process): data from outside the run.
    data = sorted(p for p in others if p not in tracked and "r" in found[p]
                  and "w" not in found[p] and not (declared is not None and matches(p, declared)))
    notes = []
    if reads.truncated:
        notes.append("the command opened too many files to list them all")
    if reads.note:
        notes.append(reads.note)
    if len(sources) > MAX_SOURCES:
        notes.append(f"it read more than {MAX_SOURCES:,} source files, so the traced code "
                     "scope is the whole repository")
    if len(data) > MAX_UNRECORDED:
        notes.append(f"{len(data) - MAX_UNRECORDED:,} more unrecorded reads are not listed")
    return Classified(True, tuple(sorted(sources)) if len(sources) <= MAX_SOURCES else None,
                      tuple(data[:MAX_UNRECORDED]), "; ".join(notes) or None)
