"""``with mlver.track(...)`` / ``repo.track(...)``: record a version from inside a running
Python process (a notebook or a script).

Built on :class:`mlver.ops.run.RunSession` (the ``with repo.run(...)`` form): inputs,
code, params and env are captured on entry, outputs and metrics on exit, the files opened
inside the block are traced. What differs:

- the code scope is the file the work runs from: the notebook (when its path is known: see
  :func:`notebook_path`) or the script (``sys.argv[0]``), when it lies in the repository
  and no ``code=`` is given; else what the tracer saw (modules imported from the
  repository), else the whole repository;
- the environment is always this interpreter's (``sys.executable``), whatever mlver.toml
  says: the work ran here;
- in a notebook, the run's command is ``[python, "-c", CELLS]``: the source of every cell
  run in this kernel so far (the one holding the block included), in execution order, as
  IPython's history ``In`` keeps them (magics already translated to Python);
- an exception inside the block records a failed run (exit code 1, outputs that exist
  captured), as ``mlver run --record-failed`` does, and is raised again.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

from mlver.core.record import MAX_TEXT
from mlver.ops import snapshot as snap
from mlver.ops.run import RunSession
from mlver.core.workspace import Workspace
from mlver.store import Store

FAILED_EXIT = 1  # what an uncaught exception makes a Python process exit with


def _shell() -> Any:
    """The running IPython shell, or None (IPython is not imported for this)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None) if ipython is not None else None
    return get() if get is not None else None


def notebook_path(shell: Any) -> str | None:
    """The notebook file of this kernel when the front end says: VS Code sets
    ``__vsc_ipynb_file__`` in the namespace, Jupyter Server ``JPY_SESSION_NAME`` in the
    environment (the path relative to where the server started, tried from here), and
    ``MLVER_NOTEBOOK`` may name it for anything else (nbclient, papermill)."""
    ns = getattr(shell, "user_ns", {}) or {}
    for found in (os.environ.get("MLVER_NOTEBOOK"), ns.get("__vsc_ipynb_file__"),
                  os.environ.get("JPY_SESSION_NAME")):
        if isinstance(found, str) and found.endswith(".ipynb") and os.path.isfile(found):
            return os.path.abspath(found)
    return None


def cells_run(shell: Any) -> str | None:
    """The source of the cells run in this kernel, in order, joined as one program; the
    earliest ones left out (and counted in a first comment) beyond what a record holds."""
    cells = [c for c in (getattr(shell, "user_ns", {}) or {}).get("In", [])[1:]
             if isinstance(c, str) and c.strip()]
    if not cells:
        return None
    kept: list[str] = []
    room = MAX_TEXT - 100
    for cell in reversed(cells):
        if len(cell) + 2 > room:
            break
        kept.insert(0, cell)
        room -= len(cell) + 2
    head = [f"# {len(cells) - len(kept)} earlier cells left out"] if len(kept) < len(cells) \
        else []
    return "\n\n".join(head + kept)


def _source() -> tuple[str | None, list[str] | None]:
    """(the file the work runs from, the command to record) for this process."""
    shell = _shell()
    if shell is not None and "In" in (getattr(shell, "user_ns", None) or {}):
        cells = cells_run(shell)
        return notebook_path(shell), [sys.executable, "-c", cells] if cells else None
    if sys.argv[:1] == ["-c"]:  # python -c CODE: sys.argv drops CODE, orig_argv keeps it
        return None, [sys.executable, *sys.orig_argv[1:]]
    script = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-m") else None
    return (os.path.abspath(script) if script and os.path.isfile(script) else None), None


class Tracking(RunSession):
    """One tracked block: ``with repo.track(...) as t:`` then ``t.log_metrics({...})``,
    ``t.log_params(...)``; ``t.result`` after the block (a failed one too)."""

    work = "the block"

    def __init__(self, store: Store, ws: Workspace, p: snap.Plan,
                 command: list[str] | None = None,
                 params: dict[str, Any] | None = None) -> None:
        super().__init__(store, ws, p, sys.executable)  # the env: this interpreter
        self.command = command
        self.after: list[Callable[[], None]] = []  # run when the block ends (mlver.track)
        if params:
            self.log_params(params)

    def __enter__(self) -> Tracking:
        try:
            super().__enter__()
        except BaseException:
            self._after()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        reads = self._tracer.stop() if self._tracer is not None else None
        argv = self.command or [sys.executable] + sys.argv
        try:
            if exc_type is None:
                self.result = self.finish(0, argv, reads, os.getcwd())
            elif issubclass(exc_type, Exception):  # Ctrl-C and exit() record nothing
                self.result = self.finish(FAILED_EXIT, argv, reads, os.getcwd())
            else:
                self.batch.abort()
        finally:
            self._after()
        # returning None: the block's exception goes on

    def _after(self) -> None:
        for fn in self.after:
            fn()


def tracking(store: Store, ws: Workspace, name: str, inputs: dict[str, str] | None,
             outputs: dict[str, str] | None, params: list[str] | dict[str, Any] | None,
             metrics: list[str] | None, message: str | None, kind: str | None,
             code: list[str] | None, base: str | None) -> Tracking:
    """The session of ``repo.track``: the plan of a run whose code scope defaults to the
    notebook or script this process runs (see the module's docstring)."""
    source, command = _source()
    spec = ws.project.snapshots.get(name)
    spec_code = spec is not None and bool(spec.code) and not (inputs or outputs)
    if code is None and not spec_code and source is not None \
            and _inside(source, os.path.realpath(ws.root)):
        # absolute, so taken as is whatever ``base`` is; under the root as the root is spelt
        real_root = os.path.realpath(ws.root)
        code = [os.path.join(ws.root, os.path.relpath(os.path.realpath(source), real_root))]
    files = params if isinstance(params, list) else None
    p = snap.plan(store, ws, name, inputs, outputs, files, metrics, kind, message, None,
                  base, code)
    return Tracking(store, ws, p, command, params if isinstance(params, dict) else None)


def _inside(path: str, root: str) -> bool:
    real = os.path.realpath(path)
    return os.path.commonpath([real, root]) == root
