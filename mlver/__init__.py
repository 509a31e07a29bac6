"""mlver: version what a model is made of, and explain why it changed.

The Python API mirrors the command line without printing::

    import mlver
    repo = mlver.Repo.init(".")
    result = repo.snapshot("price-model", inputs={"train": "data/listings.csv"},
                           outputs={"model": "model.pkl"}, params="params.yaml")
    print(repo.diff("price-model@1", "price-model@2"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlver._version import __version__
from mlver.base.errors import (
    CaptureError,
    CheckoutError,
    ConfigError,
    CorruptObjectError,
    LockError,
    MlverError,
    NoSuchName,
    NotAStoreError,
    ParamsError,
    ReadOnlyError,
    RecordFormatError,
    RefConflictError,
    RemoteError,
    ReplayError,
    RevisionError,
    RunError,
    StoreFormatError,
    UsageError,
)

if TYPE_CHECKING:  # at run time they are imported on first use (see __getattr__)
    from mlver.api import Repo
    from mlver.core.history import Tag
    from mlver.core.record import Artifact, Code, Env, Record, Run, Scope, Trace
    from mlver.diff.value import Diff, SlotDiff
    from mlver.ops.checkout import CheckoutResult
    from mlver.ops.listing import Log
    from mlver.ops.snapshot import SnapshotResult
    from mlver.ops.track import Tracking
    from mlver.ops.status import NameStatus, SlotStatus

# Where each public name lives. `import mlver` (which every `mlver …` command does, since
# mlver.cli is inside the package) must not load the store, pandas or git: the command line
# starts in the time of click alone, and each name is imported when it is first used.
_LAZY = {"Repo": "mlver.api", "Tag": "mlver.core.history", "Diff": "mlver.diff.value",
         "SlotDiff": "mlver.diff.value", "CheckoutResult": "mlver.ops.checkout",
         "SnapshotResult": "mlver.ops.snapshot", "NameStatus": "mlver.ops.status",
         "SlotStatus": "mlver.ops.status", "Log": "mlver.ops.listing",
         **dict.fromkeys(("Artifact", "Code", "Env", "Record", "Run", "Scope", "Trace"),
                         "mlver.core.record")}

# Jupyter shows these values as HTML: their renderers register themselves here, since a value
# (of core, diff or explain) may not import mlver.views above it. Tiny: no renderer loads yet.
import mlver.views.notebook  # noqa: E402,F401


def track(name: str, inputs: dict[str, str] | None = None,
          outputs: dict[str, str] | None = None, params: Any = None, metrics: Any = None,
          message: str | None = None, kind: str | None = None, code: Any = None,
          path: str = ".") -> Tracking:
    """``with mlver.track("price-model", inputs={...}, outputs={...}) as t:`` records a
    version of the work the block does in this process (see docs/notebooks.md): the store at
    or above ``path``, opened for the block; the other arguments are those of
    ``Repo.track``."""
    from mlver.api import Repo

    repo = Repo(path)
    try:
        t = repo.track(name, inputs, outputs, params, metrics, message, kind, None, code)
    except BaseException:
        repo.close()
        raise
    t.after.append(repo.close)
    return t


def __getattr__(name: str) -> object:
    """A public name of ``__all__``, imported on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlver' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Artifact", "CaptureError", "CheckoutError", "CheckoutResult", "Code", "ConfigError",
    "CorruptObjectError", "Diff", "Env", "LockError", "Log", "MlverError", "NameStatus",
    "NoSuchName", "NotAStoreError", "ParamsError", "ReadOnlyError", "Record", "RecordFormatError",
    "RefConflictError", "RemoteError", "ReplayError", "Repo", "RevisionError", "Run",
    "RunError", "Scope", "SlotDiff", "SlotStatus",
    "SnapshotResult", "StoreFormatError", "Tag", "Trace", "UsageError", "__version__", "track",
]
