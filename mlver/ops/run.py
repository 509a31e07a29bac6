"""``mlver run`` and ``repo.run(...)``: record an execution.

Inputs are hashed (and stored) **before** the command starts, so an input
edited during the run is not credited with outputs it did not produce; code,
params and env are captured before too. Outputs and metrics are captured after
the command ends. A failing command records nothing unless asked to.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from types import TracebackType
from typing import Any

from mlver.ops import snapshot as snap
from mlver.core.params import flatten, merge
from mlver.base.errors import ConfigError, MlverError, RunError
from mlver.core import params as capparams
from mlver.core.record import Run, Scope, Trace
from mlver.store import Store
from mlver.core.workspace import Workspace
from mlver.base.progress import Progress
from mlver.ops.trace import ChildTracer, InProcessTracer, Reads


def _signature(full: str) -> int | None:
    """What changes when anything at ``full`` is written: stats of it and all below it."""
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return None
    sig = [(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)]
    if os.path.isdir(full) and not os.path.islink(full):
        for dirpath, dirnames, filenames in os.walk(full):
            for name in dirnames + filenames:
                s = os.lstat(os.path.join(dirpath, name))
                sig.append((s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns))
    return hash(tuple(sorted(sig)))


class RunSession:
    """One recorded execution: ``begin`` before the work, ``finish`` after it.

    Also the object ``with repo.run(...) as run:`` yields, with ``log_params`` and
    ``log_metrics`` for values computed in Python.
    """

    work = "the command"  # what writes the outputs, as errors name it

    def __init__(self, store: Store, ws: Workspace, p: snap.Plan, python: str | None = None,
                 progress: Progress | None = None, strict: bool = False) -> None:
        self.store, self.ws, self.plan, self.python = store, ws, p, python
        self.progress = progress
        self.strict = strict
        # the in-process tracer of the context-manager form
        self._tracer: InProcessTracer | None = None
        self._params: dict[str, Any] = {}
        self._metrics: dict[str, Any] = {}
        self.started = ""  # set by begin
        self._t0 = 0.0

    def log_params(self, params: dict[str, Any] | None = None, **kw: Any) -> None:
        """Add params computed in Python (nested dicts allowed)."""
        merge(self._params, capparams.jsonable({**(params or {}), **kw}, "log_params"))

    def log_metrics(self, metrics: dict[str, Any] | None = None, **kw: Any) -> None:
        """Add metrics computed in Python."""
        merge(self._metrics, capparams.jsonable({**(metrics or {}), **kw}, "log_metrics"))

    def begin(self) -> None:
        """Hash and store the inputs; capture code, params and env."""
        self.cache = self.ws.stat_cache()
        self.batch = self.store.objects.batch()
        try:
            self._begin()
        except BaseException:
            self.batch.abort()  # leave no staged copy of the inputs in tmp/
            raise

    def _begin(self) -> None:
        ws = self.ws
        self.inputs = snap.capture_inputs(self.store, ws, self.plan, self.cache, self.batch,
                                          self.progress)
        exclude = [*self.plan.inputs.values(), *self.plan.outputs.values()]
        self.ctx = snap.capture_context(ws, exclude, self.plan.params, [], self.python,
                                        self.batch)
        self.batch.commit()  # inputs are safe in the store before the command can touch them
        # Outputs left over from an earlier run must not pass for this run's work.
        self.before = {s: _signature(ws.full(p)) for s, p in self.plan.outputs.items()}
        # Metrics files too: a file left from an earlier run is not this run's figures.
        self.before_metrics = {m: _signature(ws.full(m)) for m in self.plan.metrics
                               if not capparams.is_pair(m, ws.root)}
        self.started = snap.now_utc()
        self._t0 = time.monotonic()

    def finish(self, exit_code: int, argv: Sequence[str], reads: Reads | None = None,
               cwd: str | None = None) -> snap.SnapshotResult:
        """Capture outputs and metrics and publish the record. ``reads`` is what tracing
        saw (a :class:`mlver.ops.trace.Reads`; None: no trace, nothing said about it)."""
        try:
            return self._finish(exit_code, argv, reads, cwd)
        except BaseException:
            self.batch.abort()
            raise

    def _trace(self, reads: Reads | None, argv: Sequence[str], cwd: str | None
               ) -> tuple[Scope | None, Trace | None]:
        """The record's code scope and run trace from what tracing saw; ``--strict`` checks."""
        from mlver.ops.trace import classify

        p = self.plan
        if reads is None:
            declared = Scope("declared", p.code) if p.code is not None else None
            return declared, None
        recorded = [*p.inputs.values(), *p.outputs.values(), *self.ctx["params_files"],
                    *[m for m in p.metrics if not capparams.is_pair(m, self.ws.root)],
                    *[a.path for a in self.inputs.values()]]
        c = classify(self.ws.root, reads, recorded, argv, cwd, p.code)
        if self.strict and not c.traced:
            raise RunError(f"--strict cannot check this run: {c.note}; nothing recorded (run "
                           "the Python command directly, or drop --strict)")
        if self.strict and c.unrecorded:
            path = c.unrecorded[0]
            more = f" (and {len(c.unrecorded) - 1} more)" if len(c.unrecorded) > 1 else ""
            slot = suggest_slot(path)
            raise RunError(f"the command read {path}{more}, which is not recorded; nothing "
                           f"recorded (add it as an input with -i {slot}={path}, or drop --strict)")
        if p.code is not None:
            scope = Scope("declared", p.code)
        elif c.traced and c.sources is not None:
            scope = Scope("traced", c.sources)
        else:
            scope = None
        return scope, Trace(traced=c.traced, unrecorded=c.unrecorded, note=c.note)

    def _finish(self, exit_code: int, argv: Sequence[str], reads: Reads | None = None,
                cwd: str | None = None) -> snap.SnapshotResult:
        duration = round(time.monotonic() - self._t0, 3)
        ws = self.ws
        if exit_code == 0:
            for slot, path in self.plan.outputs.items():
                sig = _signature(ws.full(path))
                if sig is None or sig == self.before.get(slot):
                    self.batch.abort()
                    why = "does not exist" if sig is None else "is unchanged since before the run"
                    raise RunError(f"output '{slot}' ({path}) was not written by "
                                   f"{self.work} (it {why}); nothing recorded (fix "
                                   f"{self.work} or the output path)")
        stale = {m for m, sig in self.before_metrics.items()
                 if sig is not None and _signature(ws.full(m)) == sig}
        if exit_code == 0 and stale:
            m = sorted(stale)[0]
            raise RunError(f"metrics file '{m}' was not written by {self.work} (it is "
                           "unchanged since before the run); nothing recorded (write the "
                           f"metrics in {self.work}, or delete the old file first)")
        scope, trace = self._trace(reads, argv, cwd)
        outs = {s: p for s, p in self.plan.outputs.items() if ws.exists(p)}
        for slot, path in outs.items():  # the command may have made it a link: checked again
            try:
                ws.check_capturable(path, f"output '{slot}'")
            except MlverError:
                self.batch.abort()
                raise
        outputs = snap.capture_slots(ws, outs, self.cache, self.batch, self.progress)
        specs = self.plan.metrics
        if exit_code != 0:  # a failed command may not have written its metrics file
            specs = [m for m in specs if capparams.is_pair(m, ws.root)
                     or (os.path.exists(ws.full(m)) and m not in stale)]
        mvals, mfiles = capparams.collect(specs, ws.root)
        merge(mvals, self._metrics)
        ctx = self.ctx.copy()
        ctx["metrics"], ctx["metrics_files"] = mvals, tuple(mfiles)
        ctx["code"] = snap.with_scope(self.ctx["code"], scope)
        if self._params:
            params = dict(ctx["params"])
            merge(params, self._params)
            ctx["params"] = params
            pscope = ctx["params_scope"]
            if pscope is not None:  # logged params are used, by definition
                ctx["params_scope"] = tuple(sorted({*pscope, *flatten(self._params)}))
        run = Run(command=tuple(argv), exit_code=exit_code, started=self.started,
                  duration_s=duration, trace=trace)
        draft = snap.draft_record(self.plan.name, self.plan.kind, self.plan.message, self.inputs,
                                  outputs, ctx, run)
        result = snap.publish(self.store, draft, self.batch, self.ws)
        self.batch.close()  # the ref moved: gc may run again
        self.cache.save()
        return replace(result, exit_code=exit_code)

    # The context-manager form records on a clean exit only; its reads are traced in
    # this process (see mlver.ops.trace.InProcessTracer).
    def __enter__(self) -> RunSession:
        self.work = "the block"
        self.begin()
        self._tracer = InProcessTracer(self.ws.root)
        self._tracer.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        reads = self._tracer.stop() if self._tracer is not None else None
        if exc_type is None:
            self.result = self.finish(0, [sys.executable] + sys.argv, reads, os.getcwd())
        else:
            self.batch.abort()


def execute(session: RunSession, argv: list[str] | str | None, record_failed: bool = False,
            cwd: str | None = None, stdout_to_stderr: bool = False) -> snap.SnapshotResult:
    """Run ``argv`` (or the spec's ``command``) between ``begin`` and ``finish``.

    A string runs through ``/bin/sh -c``, a list as is. With ``stdout_to_stderr`` the
    command's output goes to stderr, so that ``mlver run --json`` prints only JSON.
    """
    if isinstance(argv, str):
        argv = ["/bin/sh", "-c", argv]
    if not argv:
        if not session.plan.command:
            name = session.plan.name
            raise ConfigError(f"no command given for '{name}' and mlver.toml has no command in "
                              f"[snapshot.{name}]; write mlver run NAME -- COMMAND")
        cmd = session.plan.command
        # A string runs through the shell (pipes, redirections, &&), as make and DVC run
        # theirs; a list of arguments runs as is. The record keeps the exact argv.
        argv = ["/bin/sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        cwd = cwd or session.ws.root
    session.begin()
    try:
        tracer = ChildTracer(session.ws.root)
    except BaseException:
        session.batch.abort()
        raise
    try:
        return _execute(session, tracer, argv, record_failed, cwd, stdout_to_stderr)
    finally:
        tracer.close()


def _execute(session: RunSession, tracer: ChildTracer, argv: list[str], record_failed: bool,
             cwd: str | None, stdout_to_stderr: bool) -> snap.SnapshotResult:
    try:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=2 if stdout_to_stderr else None,
                                env=tracer.env())
    except FileNotFoundError:
        session.batch.abort()
        raise RunError(f"command '{argv[0]}' was not found; check its name or your PATH") from None
    except PermissionError:
        session.batch.abort()
        raise RunError(f"command '{argv[0]}' is not executable; check its permissions") from None
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        proc.wait()
        session.batch.abort()
        raise
    if code < 0:
        session.batch.abort()
        known = -code in signal.Signals._value2member_map_
        name = signal.Signals(-code).name if known else str(-code)
        raise RunError(f"command was killed by signal {name}; nothing recorded",
                       exit_code=128 - code)
    if code != 0 and not record_failed:
        session.batch.abort()
        raise RunError(f"command exited with status {code}; nothing recorded "
                       "(pass --record-failed to keep a record of failed runs)", exit_code=code)
    return session.finish(code, argv, tracer.collect(), cwd or os.getcwd())


def suggest_slot(path: str) -> str:
    """A slot name for a file: its name without the extension, made valid."""
    import re

    from mlver.store.refs import valid_name

    stem = path.rsplit("/", 1)[-1].split(".", 1)[0]
    slot = re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip("._-")[:64] or "data"
    return slot if valid_name(slot) else "data"
