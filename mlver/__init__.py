"""mlver: version what a model is made of, and explain why it changed.

The Python API mirrors the command line without printing::

    import mlver
    repo = mlver.Repo.init(".")
    result = repo.snapshot("price-model", inputs={"train": "data/listings.csv"},
                           outputs={"model": "model.pkl"}, params="params.yaml")
    print(repo.diff("price-model@1", "price-model@2"))
"""

from mlver.api import Repo
from mlver.diff.value import Diff, SlotDiff
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
from mlver.core.history import Tag
from mlver.core.record import Artifact, Code, Env, Record, Run
from mlver.core.record import Scope, Trace
from mlver.ops.checkout import CheckoutResult
from mlver.ops.snapshot import SnapshotResult
from mlver.ops.status import NameStatus, SlotStatus

from mlver._version import __version__

__all__ = [
    "Artifact", "CaptureError", "CheckoutError", "CheckoutResult", "Code", "ConfigError",
    "CorruptObjectError", "Diff", "Env", "LockError", "MlverError", "NameStatus", "NoSuchName",
    "NotAStoreError", "ParamsError", "ReadOnlyError", "Record", "RecordFormatError",
    "RefConflictError", "RemoteError", "ReplayError", "Repo", "RevisionError", "Run",
    "RunError", "Scope", "SlotDiff", "SlotStatus",
    "SnapshotResult", "StoreFormatError", "Tag", "Trace", "UsageError", "__version__",
]
