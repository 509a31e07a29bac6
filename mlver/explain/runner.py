"""Scratch folders and running: each replay gets a plain copy of a commit (no ``.git``) in
the system's temporary folder, its params and inputs written there, and the recorded command
run in it, ``jobs`` at a time. Only the main thread touches git, the store and the index;
worker threads run commands and read their metrics files."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from types import FrameType
from typing import Any

from mlver.capture import git as capgit
from mlver.core.params import merge, parse_file
from mlver.ops.checkout import Checkout, check_target_path, plan
from mlver.base.errors import CaptureError, MlverError, ParamsError, ReplayError
from mlver.ops.materialize import Dirs, split
from mlver.base.progress import Progress
from mlver.store import Store
from mlver.core.workspace import Workspace
from mlver.explain.plan import Config

TAIL_LINES = 20       # lines of a failed replay's log shown
_KILL_WAIT = 5.0      # seconds a command gets between SIGTERM and SIGKILL
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@dataclass
class Scratch:
    """One replay's folder: ``tmp/work`` is the copy of the commit, ``tmp/replay.log`` the
    log."""

    tmp: str

    @property
    def top(self) -> str:
        return os.path.join(self.tmp, "work")

    @property
    def log(self) -> str:
        return os.path.join(self.tmp, "replay.log")


@dataclass(frozen=True)
class Outcome:
    """How one replay ended: its exit code, the metrics it wrote (None: it failed, and
    ``why``), how long it ran, and the end of its log."""

    exit_code: int
    metrics: dict[str, Any] | None
    duration_s: float
    why: str | None = None
    tail: tuple[str, ...] = ()


def _write_file(dirs: Dirs, path: str, data: bytes) -> None:
    parent, name = split(path)
    fd = dirs.open(parent, create=True)
    try:
        st = os.lstat(name, dir_fd=fd)
    except FileNotFoundError:
        st = None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise ReplayError(f"'{path}' is a folder in the replayed commit, where the record "
                              "has a params file")
        os.unlink(name, dir_fd=fd)
    out = os.open(name, _CREATE, 0o644, dir_fd=fd)
    with os.fdopen(out, "wb") as f:
        f.write(data)


def _remove_file(dirs: Dirs, path: str) -> None:
    parent, name = split(path)
    try:
        fd = dirs.open(parent, create=False)
    except MlverError:
        return
    if fd is None:
        return
    try:
        st = os.lstat(name, dir_fd=fd)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=fd)


def _tail(path: str, n: int = TAIL_LINES) -> tuple[str, ...]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ()
    return tuple(text.splitlines()[-n:])


def _read_metrics(root: str, files: tuple[str, ...]) -> tuple[dict[str, Any] | None, str | None]:
    real_root = os.path.realpath(root)
    values: dict[str, Any] = {}
    for m in files:
        full = os.path.join(root, m)
        real = os.path.realpath(full)
        if not real.startswith(real_root + os.sep):
            return None, f"its metrics file {m} leads outside the scratch folder"
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            return None, f"it did not write its metrics file {m}"
        if not stat.S_ISREG(st.st_mode):
            return None, f"its metrics file {m} is not a regular file"
        try:
            merge(values, parse_file(full, m))
        except ParamsError as e:
            return None, str(e)
    return values, None


class Runner:
    """Builds scratch copies, runs replays ``jobs`` at a time, and cleans up."""

    def __init__(self, store: Store, ws: Workspace, top: str, prefix: str, jobs: int,
                 progress: Progress) -> None:
        self.store, self.ws, self.top, self.prefix = store, ws, top, prefix
        self.jobs, self.progress = jobs, progress
        self.scratches: list[Scratch] = []
        self.procs: set[subprocess.Popen[bytes]] = set()
        self.lock = threading.Lock()
        self.stopping = False

    # main thread -----------------------------------------------------------------------------

    def prepare(self, cfg: Config) -> Scratch:
        s = Scratch(tempfile.mkdtemp(prefix="mlver-replay-"))
        self.scratches.append(s)  # before git makes anything: cleanup finds it
        side = cfg.code
        try:
            capgit.export_commit(self.top, side.commit, side.patch, s.top, s.tmp)
        except CaptureError as e:
            raise ReplayError(f"cannot build a scratch copy of the commit of {side.label} "
                              f"({e})") from None
        finally:
            with suppress(FileNotFoundError):
                os.unlink(os.path.join(s.tmp, "index"))
        root = self.root(s)
        os.makedirs(root, exist_ok=True)
        for m in side.rec.metrics_files:
            check_target_path(m)
        for p, _data in cfg.params:
            check_target_path(p)
        dirs = Dirs(root)
        try:
            for m in side.rec.metrics_files:  # a file left in git is not this replay's figures
                _remove_file(dirs, m)
            for p, data in cfg.params:
                _write_file(dirs, p, data)
        finally:
            dirs.close()
        arts = [art for _slot, art in cfg.inputs]
        if arts:
            want, folders = plan(self.store, arts)
            job = Checkout(self.store, self.ws, root, force=True)
            job.run(side.oid, side.rec, want, folders)
        return s

    def root(self, s: Scratch) -> str:
        return os.path.join(s.top, self.prefix) if self.prefix else s.top

    def cleanup(self, s: Scratch) -> None:
        shutil.rmtree(s.tmp, ignore_errors=True)
        if s in self.scratches:
            self.scratches.remove(s)

    def cleanup_all(self) -> None:
        for s in list(self.scratches):
            self.cleanup(s)

    def kill_all(self) -> None:
        self.stopping = True
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + _KILL_WAIT
        for p in procs:
            try:
                p.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p, signal.SIGKILL)
                p.wait()

    def run_all(self, todo: list[Config], done: Callable[[Config, Outcome], None]) -> None:
        """Run ``todo``, ``jobs`` at a time; ``done`` is called in this thread after each."""
        pending = deque(todo)
        running: dict[Future[Outcome], tuple[Config, Scratch]] = {}
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="mlver-replay")
        try:
            while pending or running:
                while pending and len(running) < self.jobs:
                    cfg = pending.popleft()
                    s = self.prepare(cfg)
                    fut = pool.submit(self.execute, s, cfg)
                    running[fut] = (cfg, s)
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    cfg, s = running.pop(fut)
                    outcome = fut.result()
                    self.cleanup(s)
                    self.progress.advance()
                    done(cfg, outcome)  # may raise: a failed replay stops the rest
        except BaseException:
            self.kill_all()
            raise
        finally:
            pool.shutdown(wait=True)
            self.cleanup_all()

    # worker threads --------------------------------------------------------------------------

    def execute(self, s: Scratch, cfg: Config) -> Outcome:
        argv = list(cfg.code.run.command)
        cwd = self.root(s)
        env = _command_env(cwd, s.tmp)
        t0 = time.monotonic()
        with open(s.log, "wb") as log:
            with self.lock:
                if self.stopping:
                    return Outcome(130, None, 0.0, "it was interrupted")
                try:
                    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
                except OSError as e:
                    return Outcome(127, None, 0.0, f"its command could not start ({e.strerror})")
                self.procs.add(proc)
            try:
                code = proc.wait()
            finally:
                with self.lock:
                    self.procs.discard(proc)
        duration = round(time.monotonic() - t0, 3)
        if code != 0:
            why = (f"it was killed by signal {-code}" if code < 0
                   else f"it exited with status {code}")
            return Outcome(code, None, duration, why, _tail(s.log))
        metrics, failed = _read_metrics(cwd, cfg.code.rec.metrics_files)
        if metrics is None:
            return Outcome(0, None, duration, failed, _tail(s.log))
        return Outcome(0, metrics, duration)


# Variables that would point git (run by the replayed command) at another repository, or
# name the folder explain was started in.
_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR",
             "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE",
             "GIT_CONFIG", "GIT_CONFIG_PARAMETERS", "OLDPWD")


def _command_env(cwd: str, scratch: str) -> dict[str, str]:
    """The environment of a replayed command: the user's, without what names this
    repository, and with git's discovery stopped at the scratch folder, so that a ``git``
    run by the command finds no repository at all (the scratch copy has no ``.git``)."""
    env = {k: v for k, v in os.environ.items() if k not in _ENV_DROP}
    env["PWD"] = cwd
    env["GIT_CEILING_DIRECTORIES"] = scratch
    return env


def _signal_group(p: subprocess.Popen[bytes], sig: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(p.pid, sig)


@contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt too, so that a killed explain cleans up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
