"""Records: the immutable description of one version of a name.

A record is a frozen dataclass with one canonical JSON form (see
``mlver.base.canonical``) whose XXH3-128 is its oid. ``from_dict`` validates
everything a tampered or foreign record could use to escape the repository or
confuse a reader: paths must be relative and stay inside, oids must be oids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from mlver.base import canonical
from mlver.base.display import Displayable
from mlver.core import paramscope
from mlver.base.errors import RecordFormatError
from mlver.base.hashing import is_oid, oid_of
from mlver.base.paths import is_plain_relpath
from mlver.store.refs import valid_name
from mlver.base.fmt import version_label

RECORD_FORMAT = 1
KINDS = ("model", "dataset")
ARTIFACT_TYPES = ("blob", "tree", "link")


_COMMIT_RE = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # sha1 or sha256
_MD5_RE = re.compile(r"[0-9a-f]{32}(?:\.dir)?")  # a DVC md5; ".dir" names a folder's manifest
MISSING_AT_IMPORT = "missing from the DVC cache at import"
MAX_TEXT = 65536  # characters of any one string field


def check_commit(value: Any, what: str = "code.commit") -> str | None:
    """A git commit id as a record may hold it: None, or 40 or 64 lowercase hex characters.

    Anything else (``--output=/tmp/x``) is refused before it can reach git."""
    if value is None:
        return None
    if not isinstance(value, str) or not _COMMIT_RE.fullmatch(value):
        raise RecordFormatError(f"{what} {str(value)[:80]!r} is not a git commit id "
                                "(40 or 64 hex characters)")
    return value


# Bounds of the integers a record carries. Every one of them lands in SQLite (a signed
# 64-bit integer), in JSON readers (exact up to 2**53) and in arithmetic such as the next
# version number; a crafted ``version`` of 2**63 once moved a ref and then crashed every
# command with OverflowError. Refused when the record is read, before anything moves.
MAX_VERSION = 2**31 - 1
MAX_SIZE = 2**53  # bytes of one artifact (far beyond any disk)
MAX_COUNT = 2**53  # files of a folder, packages of an environment
MAX_EXIT = 2**31 - 1  # |exit code|
MAX_DURATION = 1e10  # seconds of a run (over 300 years)


def check_int(value: Any, what: str, lo: int, hi: int) -> int:
    """An integer field of a record: an int (not a bool, a float or a text) in ``[lo, hi]``."""
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise RecordFormatError(f"{what} {str(value)[:40]!r} is not an integer from {lo} to "
                                f"{hi}")
    return value


def _duration(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 <= value <= MAX_DURATION:  # NaN fails both comparisons
        raise RecordFormatError(f"run.duration_s {str(value)[:40]!r} is not a number of "
                                f"seconds from 0 to {MAX_DURATION:.0e}")
    return float(value)


def _text(value: Any, what: str, optional: bool = True) -> Any:
    """A string field: a str of bounded length (or None when optional)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT or not _utf8(value):
        raise RecordFormatError(f"{what} is not a short text")
    return value


def _utf8(value: str) -> bool:
    """False for a text that is not Unicode (a lone surrogate such as ``"\\udc80"``, which
    JSON can spell): SQLite, terminals and files cannot take it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


MAX_VALUE_DEPTH = 100       # nesting of params and metrics (params files: 64)
MAX_VALUE_INT = 2**63        # |an integer| of params and metrics: a float holds it


def check_values(value: Any, what: str) -> None:
    """Params or metrics as a record may hold them: JSON values nested at most
    :data:`MAX_VALUE_DEPTH` deep, integers within :data:`MAX_VALUE_INT` (a larger one cannot
    be compared as a number: diffs and reports would crash on it), texts Unicode. Walked
    without recursion, since the value may come from someone else's store."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_VALUE_DEPTH:
            raise RecordFormatError(f"record {what} nest deeper than {MAX_VALUE_DEPTH} levels")
        if isinstance(v, dict):
            for k, x in v.items():
                if not isinstance(k, str) or not _utf8(k):
                    raise RecordFormatError(f"record {what} have a key that is not a text")
                stack.append((x, depth + 1))
        elif isinstance(v, list):
            stack.extend((x, depth + 1) for x in v)
        elif isinstance(v, bool) or v is None or isinstance(v, float):
            continue
        elif isinstance(v, int):
            if not -MAX_VALUE_INT <= v <= MAX_VALUE_INT:
                raise RecordFormatError(
                    f"record {what} hold the integer {str(v)[:20]}…, beyond ±2**63; a value "
                    "that large cannot be compared as a number")
        elif not isinstance(v, str) or not _utf8(v):
            raise RecordFormatError(f"record {what} hold a value that is not JSON")


def _untracked(path: Any) -> str:
    # git lists an untracked folder with a trailing slash
    check_path(path.rstrip("/") if isinstance(path, str) else path, "untracked file")
    return str(path)


def check_path(path: str, what: str) -> str:
    """Refuse a record path that is absolute or climbs out of the repository."""
    if not is_plain_relpath(path, allow_top=True):
        raise RecordFormatError(
            f"{what} path {path!r} is not a plain relative path inside the repository; "
            "the record was tampered with or written by another tool")
    return path


def is_dvc_md5(value: Any) -> bool:
    """True for a DVC md5 as a record may hold it: 32 lowercase hex, or that plus ``.dir``."""
    return isinstance(value, str) and _MD5_RE.fullmatch(value) is not None


def missing_placeholder(md5: str) -> bytes:
    """The bytes standing in for content whose bytes were missing when a DVC project was
    imported: a function of the md5 alone, so two records missing the same content share
    an oid (and link in lineage), and the store holds an object for every artifact."""
    return f"mlver: {MISSING_AT_IMPORT} (md5 {md5})\n".encode("ascii")


def missing_oid(md5: str) -> str:
    """The oid of :func:`missing_placeholder` for ``md5``."""
    return oid_of(missing_placeholder(md5))


@dataclass(frozen=True)
class Artifact:
    """One input or output slot: where it was, and the content it held.

    ``source`` is the oid of the record this input was taken from, when the
    input was given as a revision (``-i features=features@3``).

    ``missing`` is set (to DVC's md5) on an artifact imported from a DVC project whose
    bytes were not in the DVC cache: its ``oid`` is then that of the placeholder blob
    :func:`missing_placeholder`, its ``type`` ``blob`` (whatever DVC tracked), and its
    ``size`` and ``files`` what DVC recorded.
    """

    path: str
    oid: str
    type: str
    size: int
    files: int
    source: str | None = None
    exec: bool = False  # a single file's exec bit; written only when set (older oids stay)
    missing: str | None = None  # DVC md5 of bytes absent at import; written only when set

    def to_dict(self) -> dict[str, Any]:
        d = {"path": self.path, "oid": self.oid, "type": self.type,
             "size": self.size, "files": self.files}
        if self.source:
            d["source"] = self.source
        if self.exec:
            d["exec"] = True
        if self.missing:
            d["missing"] = {"md5": self.missing}
        return d

    @property
    def missing_note(self) -> str | None:
        """``missing from the DVC cache at import (md5 …)``, or None when the bytes are here."""
        return f"{MISSING_AT_IMPORT} (md5 {self.missing})" if self.missing else None

    @classmethod
    def from_dict(cls, d: Any, what: str) -> Artifact:
        try:
            missing = d.get("missing")
            if missing is not None:
                if not isinstance(missing, dict) or set(missing) != {"md5"} \
                        or not is_dvc_md5(missing["md5"]):
                    raise RecordFormatError(f"{what} has a bad 'missing' (want {{\"md5\": "
                                            "32 hex characters, optionally + \".dir\"})")
                missing = missing["md5"]
            a = cls(path=d["path"], oid=d["oid"], type=d["type"],
                    size=check_int(d["size"], f"{what} size", 0, MAX_SIZE),
                    files=check_int(d["files"], f"{what} files", 0, MAX_COUNT),
                    source=d.get("source"),
                    exec=d.get("exec") is True, missing=missing)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise RecordFormatError(f"{what} is malformed ({e!r})") from None
        check_path(a.path, what)
        if not is_oid(a.oid) or a.type not in ARTIFACT_TYPES or (a.source and not is_oid(a.source)):
            raise RecordFormatError(f"{what} has a bad oid, type or source")
        if a.missing and (a.type != "blob" or a.oid != missing_oid(a.missing)):
            raise RecordFormatError(f"{what} is marked missing but its oid is not the "
                                    "placeholder of its md5, or its type is not blob")
        return a


SCOPE_FROM = ("declared", "traced")
MAX_READS = 10000  # paths a run's trace may list


def _paths(value: Any, what: str, limit: int) -> tuple[str, ...]:
    """A bounded list of record paths (globs allowed: their text is checked the same way)."""
    from mlver.core.scope import MAX_ENTRY

    if not isinstance(value, (list, tuple)) or len(value) > limit:
        raise RecordFormatError(f"{what} is not a list of at most {limit} paths")
    for p in value:
        if not isinstance(p, str) or len(p) > MAX_ENTRY:
            raise RecordFormatError(f"{what} holds an entry that is not a short text")
        check_path(p, what)
    return tuple(value)


@dataclass(frozen=True)
class Scope:
    """The code scope of a record: the paths (and globs) its code depends on.

    ``origin`` says where they come from: ``"declared"`` (``--code`` or ``code`` in
    mlver.toml) or ``"traced"`` (the source files a run read). A record without a
    scope depends on the whole repository.
    """

    origin: str
    paths: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.origin, "paths": list(self.paths)}

    @classmethod
    def from_dict(cls, d: Any) -> Scope:
        from mlver.core.scope import MAX_ENTRIES

        if not isinstance(d, dict) or d.get("from") not in SCOPE_FROM:
            raise RecordFormatError("code.scope is not {\"from\": \"declared\"|\"traced\", "
                                    "\"paths\": [...]}")
        return cls(origin=d["from"], paths=_paths(d.get("paths"), "code.scope", MAX_ENTRIES))


@dataclass(frozen=True)
class Code:
    """The code a record was made with: the git commit and what was not committed.

    An empty ``Code()`` means the repository is not in git.
    """

    commit: str | None = None
    branch: str | None = None
    remote: str | None = None
    dirty: bool = False
    patch: str | None = None  # oid of a blob holding ``git diff HEAD --binary``
    untracked: tuple[str, ...] = ()
    scope: Scope | None = None  # written only when set (older oids stay): None = whole repo

    def to_dict(self) -> dict[str, Any]:
        if self.commit is None:
            return {}
        d: dict[str, Any] = {"commit": self.commit, "branch": self.branch,
                             "remote": self.remote, "dirty": self.dirty, "patch": self.patch,
                             "untracked": list(self.untracked)}
        if self.scope is not None:
            d["scope"] = self.scope.to_dict()
        return d

    @property
    def scope_paths(self) -> tuple[str, ...] | None:
        """The scope's entries, or None for the whole repository."""
        return None if self.scope is None else self.scope.paths

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Code:
        if not d:
            return cls()
        if d.get("patch") is not None and not is_oid(d["patch"]):
            raise RecordFormatError("code.patch is not an oid")
        untracked = d.get("untracked") or ()
        if not isinstance(untracked, (list, tuple)):
            raise RecordFormatError("code.untracked is not a list")
        return cls(commit=check_commit(d.get("commit")),
                   branch=_text(d.get("branch"), "code.branch"),
                   remote=_text(d.get("remote"), "code.remote"),
                   dirty=bool(d.get("dirty")), patch=d.get("patch"),
                   untracked=tuple(_untracked(p) for p in untracked),
                   scope=Scope.from_dict(d["scope"]) if "scope" in d else None)


@dataclass(frozen=True)
class Env:
    """The Python environment that trains: version, platform, packages (a blob)."""

    python: str | None = None
    implementation: str | None = None
    platform: str | None = None
    packages: str | None = None  # oid of a blob: one "name==version" per line, sorted
    packages_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"python": self.python, "implementation": self.implementation,
                "platform": self.platform, "packages": self.packages,
                "packages_count": self.packages_count}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Env:
        if d.get("packages") is not None and not is_oid(d["packages"]):
            raise RecordFormatError("env.packages is not an oid")
        return cls(python=_text(d.get("python"), "env.python"),
                   implementation=_text(d.get("implementation"), "env.implementation"),
                   platform=_text(d.get("platform"), "env.platform"), packages=d.get("packages"),
                   packages_count=check_int(d.get("packages_count") or 0,
                                            "env.packages_count", 0, MAX_COUNT))


@dataclass(frozen=True)
class Trace:
    """What tracing a run's reads found.

    ``traced`` is False when the command could not be traced (``note`` says why);
    ``unrecorded`` lists the data files it read that the record does not hold.
    """

    traced: bool
    unrecorded: tuple[str, ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"traced": self.traced, "unrecorded": list(self.unrecorded)}
        if self.note:
            d["note"] = self.note
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Trace:
        if not isinstance(d, dict) or not isinstance(d.get("traced"), bool):
            raise RecordFormatError("run.trace is not {\"traced\": true|false, ...}")
        return cls(traced=d["traced"],
                   unrecorded=_paths(d.get("unrecorded") or [], "run.trace.unrecorded", MAX_READS),
                   note=_text(d.get("note"), "run.trace.note"))


@dataclass(frozen=True)
class Run:
    """How ``mlver run`` executed the command that produced the outputs."""

    command: tuple[str, ...]
    exit_code: int
    started: str
    duration_s: float
    trace: Trace | None = None  # written only when set (records before tracing have none)

    def to_dict(self) -> dict[str, Any]:
        d = {"command": list(self.command), "exit_code": self.exit_code,
             "started": self.started, "duration_s": self.duration_s}
        if self.trace is not None:
            d["trace"] = self.trace.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Run:
        if not isinstance(d.get("command"), list):
            raise RecordFormatError("run.command is not a list")
        return cls(command=tuple(_text(a, "run.command", False) for a in d["command"]),
                   exit_code=check_int(d["exit_code"], "run.exit_code", -MAX_EXIT, MAX_EXIT),
                   started=_text(d["started"], "run.started", False),
                   duration_s=_duration(d["duration_s"]),
                   trace=Trace.from_dict(d["trace"]) if "trace" in d else None)


@dataclass(frozen=True)
class Record(Displayable):
    """One version of a name.

    ``parents`` holds the version's parent: the latest version of its name whose git
    commit is this record's own commit or an ancestor of it (empty for the first one on
    that history). ``previous`` holds the version numbered just before this one when it
    is not the parent (a version recorded on a sibling branch): it keeps every version
    reachable from the name's ref, in creation order. See :attr:`prior`.
    """

    name: str
    version: int
    kind: str
    created: str
    parents: tuple[str, ...] = ()
    author: str | None = None
    message: str = ""
    inputs: dict[str, Artifact] = field(default_factory=dict)
    outputs: dict[str, Artifact] = field(default_factory=dict)
    code: Code = field(default_factory=Code)
    params: dict[str, Any] = field(default_factory=dict)
    params_files: tuple[str, ...] = ()
    metrics: dict[str, Any] = field(default_factory=dict)
    metrics_files: tuple[str, ...] = ()
    env: Env = field(default_factory=Env)
    run: Run | None = None
    previous: str | None = None  # written only when set (older oids stay)
    # the declared params keys (see mlver.core.paramscope); None: every key of the params.
    # Written only when set, so the bytes (and oids) of older records stay.
    params_scope: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (without the oid, which is the hash of its encoding)."""
        d = {
            "format": RECORD_FORMAT, "type": "record",
            "name": self.name, "version": self.version, "kind": self.kind,
            "created": self.created, "parents": list(self.parents), "author": self.author,
            "message": self.message,
            "inputs": {k: v.to_dict() for k, v in self.inputs.items()},
            "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
            "code": self.code.to_dict(), "params": self.params,
            "params_files": list(self.params_files), "metrics": self.metrics,
            "metrics_files": list(self.metrics_files), "env": self.env.to_dict(),
            "run": self.run.to_dict() if self.run else None,
        }
        if self.params_scope is not None:
            d["params_scope"] = list(self.params_scope)
        if self.previous is not None:
            d["previous"] = self.previous
        return d

    @property
    def prior(self) -> str | None:
        """The oid of the version numbered just before this one (any branch), or None for
        version 1: what walks a name's whole history from its ref follow."""
        if self.previous is not None:
            return self.previous
        return self.parents[0] if self.parents else None

    @property
    def links(self) -> tuple[str, ...]:
        """Every record this one names as an earlier version (parents, then ``previous``):
        what reachability (gc, push, pull, verify) follows."""
        return self.parents + ((self.previous,) if self.previous is not None else ())

    @property
    def scoped_params(self) -> dict[str, Any]:
        """The params inside the params scope (all of them without a scope)."""
        return paramscope.scoped(self.params, self.params_scope)

    def encode(self) -> bytes:
        """Canonical bytes; their hash is the record's oid."""
        return canonical.dumps(self.to_dict())

    @property
    def oid(self) -> str:
        return oid_of(self.encode())

    @property
    def label(self) -> str:
        """``name@version``, how text output names a record."""
        return version_label(self.name, self.version)

    @property
    def failed(self) -> bool:
        """A failed run: a recorded command that exited non-zero (``--record-failed``).

        The one meaning of "failed" across log, the index, ``records()`` and publishing.
        """
        return self.run is not None and self.run.exit_code != 0

    @property
    def status(self) -> str:
        """``"failed"`` for a failed run, else ``"ok"``."""
        return "failed" if self.failed else "ok"

    def content(self) -> dict[str, Any]:
        """What the record says about content, leaving out when, who, why and order.

        Two snapshots with equal content are the same version. Params outside the
        params scope and the untracked list are information, not identity: a new log
        file or a change to a key the version does not use makes no new version.
        """
        d = self.to_dict()
        for k in ("created", "message", "author", "parents", "version", "run", "previous"):
            d.pop(k, None)
        d["params"] = self.scoped_params
        d["code"].pop("untracked", None)
        return d

    def with_version(self, version: int, parents: tuple[str, ...],
                     previous: str | None = None) -> Record:
        """This record numbered ``version`` with ``parents``; ``previous`` (the version
        numbered just before) is kept only when it is not the parent."""
        if previous is not None and parents and parents[0] == previous:
            previous = None
        return replace(self, version=version, parents=parents, previous=previous)

    @classmethod
    def from_dict(cls, d: Any) -> Record:
        """Validate and build a record from its JSON form."""
        if not isinstance(d, dict) or d.get("type") != "record":
            raise RecordFormatError("object is not a record")
        if d.get("format") != RECORD_FORMAT:
            raise RecordFormatError(
                f"record format {d.get('format')!r} is not supported by this mlver; upgrade mlver")
        try:
            rec = cls(
                name=d["name"], version=check_int(d["version"], "version", 1, MAX_VERSION),
                kind=d["kind"], created=d["created"],
                parents=tuple(d.get("parents") or ()), author=d.get("author"),
                message=d.get("message") or "",
                inputs={k: Artifact.from_dict(v, f"input {k!r}")
                        for k, v in (d.get("inputs") or {}).items()},
                outputs={k: Artifact.from_dict(v, f"output {k!r}")
                         for k, v in (d.get("outputs") or {}).items()},
                code=Code.from_dict(d.get("code") or {}), params=d.get("params") or {},
                params_files=tuple(check_path(p, "params file")
                                   for p in d.get("params_files") or ()),
                metrics=d.get("metrics") or {},
                metrics_files=tuple(check_path(p, "metrics file")
                                    for p in d.get("metrics_files") or ()),
                env=Env.from_dict(d.get("env") or {}),
                run=Run.from_dict(d["run"]) if d.get("run") else None,
                previous=d.get("previous"),
                params_scope=(paramscope.check(d["params_scope"], "params_scope")
                              if "params_scope" in d else None),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RecordFormatError(f"record is malformed ({e!r})") from None
        if not isinstance(rec.name, str) or not valid_name(rec.name) or rec.version < 1 \
                or rec.kind not in KINDS:
            raise RecordFormatError(f"record has a bad name, version or kind ({rec.name!r})")
        if not all(isinstance(p, str) and is_oid(p) for p in rec.parents):
            raise RecordFormatError("record parents are not oids")
        if rec.previous is not None and (not isinstance(rec.previous, str)
                                         or not is_oid(rec.previous)
                                         or rec.previous in rec.parents):
            raise RecordFormatError("record previous is not an oid other than its parent's")
        _text(rec.created, "created", False)
        _text(rec.author, "author")
        _text(rec.message, "message", False)
        if not isinstance(rec.params, dict) or not isinstance(rec.metrics, dict):
            raise RecordFormatError("record params and metrics must be mappings")
        check_values(rec.params, "params")
        check_values(rec.metrics, "metrics")
        for slot in (*rec.inputs, *rec.outputs):
            if not isinstance(slot, str) or not valid_name(slot):
                raise RecordFormatError(f"record slot name {str(slot)[:80]!r} is not valid")
        return rec

    @classmethod
    def decode(cls, data: bytes) -> Record:
        try:
            d = canonical.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise RecordFormatError("object is not a record (not JSON)") from None
        return cls.from_dict(d)
