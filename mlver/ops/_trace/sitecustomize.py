"""mlver's read tracer for the Python processes of ``mlver run`` (PEP 578 audit hooks).

``mlver run`` copies this file into a fresh folder that it puts first on the
command's PYTHONPATH, so every Python process the command starts (and the ones
those start: the environment is inherited) imports it at startup. It:

- installs an audit hook that notes each file opened under the repository
  (``MLVER_TRACE_ROOT``: the root's paths, separated by ``os.pathsep``), and whether
  its first opening in this process read it or wrote it;
- appends one JSON line per newly seen path to its own file in ``MLVER_TRACE_DIR``,
  at once, with one ``os.write`` on an ``O_APPEND`` descriptor (so a process ending
  with ``os._exit``, a crash or a signal loses nothing it already reported);
- at exit, adds the files of modules imported from under the root;
- then imports the ``sitecustomize`` it hides, if any, so that one keeps working.

It reads nothing and changes nothing else, keeps at most ``MAX_PATHS`` paths per
process (``.py`` files always), uses the standard library only, and never lets an
error of its own reach the command: tracing that fails leaves the command as it was.
"""

# Annotations stay strings: the command's Python may be older than mlver's, and typing is
# not imported (every process of the command pays for what this file imports).
from __future__ import annotations

import contextlib
import os
import sys

MAX_PATHS = 100000


class _State:
    """This process's trace file and how many paths it has noted."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.count = 0
        self.full = False


def _mlver_trace() -> None:
    out_dir = os.environ.get("MLVER_TRACE_DIR")
    roots = [r for r in os.environ.get("MLVER_TRACE_ROOT", "").split(os.pathsep) if r]
    if not out_dir or not roots or not hasattr(sys, "addaudithook"):
        return
    import json
    from _thread import get_ident

    prefixes = tuple(r.rstrip(os.sep) + os.sep for r in roots)
    exact = set(r.rstrip(os.sep) for r in roots)
    # A virtualenv inside the repository is the environment, not the project's files.
    envs = tuple(d + os.sep for d in _env_dirs() if d.startswith(prefixes))
    wflags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    seen: dict[str, str] = {}
    busy: set[int] = set()

    name = f"{os.getpid()}-{os.urandom(6).hex()}.jsonl"
    state = _State(os.open(os.path.join(out_dir, name),
                           os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600))

    def emit(item: list[object]) -> None:
        line = (json.dumps(item, ensure_ascii=True) + "\n").encode("ascii")
        os.write(state.fd, line)

    emit(["mlver-trace", 1, os.getpid(), sys.executable])

    def note(kind: str, path: str) -> None:
        if path in seen:
            return
        if state.count >= MAX_PATHS and not path.endswith(".py"):
            if not state.full:
                state.full = True
                emit(["truncated"])
            return
        seen[path] = kind
        state.count += 1
        emit([kind, path])

    def under_root(path: str) -> bool:
        return (path.startswith(prefixes) or path in exact) and not path.startswith(envs)

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event != "open":
            return
        me = get_ident()
        if me in busy:
            return
        busy.add(me)
        try:
            raw, mode, flags = args[0], args[1], args[2]
            if not isinstance(raw, (str, bytes, os.PathLike)):  # a descriptor, or None
                return
            path = os.fsdecode(os.fspath(raw))
            if not os.path.isabs(path):
                path = os.path.join(os.getcwd(), path)
            path = os.path.normpath(path)
            if not under_root(path):
                return
            if isinstance(mode, str):
                wrote = any(c in mode for c in "wax+")
            else:
                wrote = isinstance(flags, int) and bool(flags & wflags)
            note("w" if wrote else "r", path)
        except Exception:
            pass
        finally:
            busy.discard(me)

    def at_exit() -> None:
        try:
            main = sys.modules.get("__main__")
            files = [getattr(main, "__file__", None)]
            files += [getattr(m, "__file__", None) for m in list(sys.modules.values())]
            for f in files:
                if isinstance(f, str):
                    f = os.path.normpath(os.path.abspath(f))
                    if under_root(f) and f not in seen:
                        seen[f] = "m"
                        emit(["m", f])
        except Exception:
            pass

    sys.addaudithook(hook)
    import atexit

    atexit.register(at_exit)


def _env_dirs() -> set[str]:
    """The interpreter's own folders: prefixes and site-packages (normalised)."""
    dirs = [sys.prefix, sys.exec_prefix, getattr(sys, "base_prefix", ""),
            getattr(sys, "base_exec_prefix", "")]
    try:
        import site

        dirs += list(site.getsitepackages()) + [site.getusersitepackages()]
    except Exception:
        pass
    out: set[str] = set()
    for d in dirs:
        if d:
            out.add(os.path.normpath(os.path.abspath(d)))
            out.add(os.path.normpath(os.path.realpath(d)))
    return out


def _chain() -> None:
    """Import the sitecustomize this one hides (later on sys.path), and take this
    file's folder off sys.path (the command's children still get it from PYTHONPATH)."""
    try:
        import importlib.machinery
        import importlib.util

        mine = os.path.dirname(os.path.abspath(__file__))
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != mine]
        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", sys.path)
        if spec is None or spec.loader is None or \
                os.path.abspath(spec.origin or "") == os.path.abspath(__file__):
            return
        module = importlib.util.module_from_spec(spec)
    except Exception:
        return
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)  # its errors are reported by site, as without mlver


with contextlib.suppress(Exception):
    _mlver_trace()
_chain()
