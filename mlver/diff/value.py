"""The ``Diff`` value: a tree of frozen, typed data that ``repo.diff`` returns.

Buildable from literals in tests (``Diff.from_dict``), serialised by ``to_dict`` (the
``--json`` contract in docs/diff.md), and printed by ``str()`` as the explanation. Its
:class:`Verdict` (the root causes, why the results changed or not) is judged once, when
the diff is built (:mod:`mlver.diff.judge`); the text (:mod:`mlver.diff.text`) and the
HTML report (:mod:`mlver.views.html`) render that same value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from mlver.base.display import Displayable
from mlver.diff.changes import CodeChange, EnvChange, MetricChange, ParamsChange, Ref
from mlver.diff.folders import FolderDiff

if TYPE_CHECKING:  # at run time only from_dict needs it, and it loads the table machinery
    from mlver.diff.tables import TableDiff


@dataclass(frozen=True)
class SlotDiff:
    """One input or output slot compared across the two records."""

    slot: str
    status: str  # unchanged | modified | moved (same content, another path) | added | removed
    path: str | None
    old: str | None
    new: str | None
    type: str | None = None
    old_size: int | None = None
    new_size: int | None = None
    old_path: str | None = None
    files: FolderDiff | None = None
    table: TableDiff | None = None
    tables: dict[str, TableDiff] = field(default_factory=dict)  # path inside a folder -> diff
    note: str | None = None  # why a finer diff was not possible
    # the Diff of the two records that produced the old and the new content (same name,
    # two versions), when the content changed and lineage knows both: see diff.upstream
    upstream: Diff | None = None
    # bytes of the new content that the old one holds too, found by their chunks (both
    # sides stored as chunks: big files); None otherwise
    shared_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (docs/diff.md)."""
        return {"slot": self.slot, "status": self.status, "path": self.path, "old": self.old,
                "new": self.new, "type": self.type, "old_size": self.old_size,
                "new_size": self.new_size, "old_path": self.old_path,
                "files": self.files.to_dict() if self.files else None,
                "table": self.table.to_dict() if self.table is not None else None,
                "tables": {p: t.to_dict() for p, t in self.tables.items()},
                "note": self.note, "shared_bytes": self.shared_bytes,
                "upstream": self.upstream.to_dict() if self.upstream is not None else None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SlotDiff:
        """The slot diff of its JSON form."""
        from mlver.diff.tables import TableDiff

        return cls(slot=d["slot"], status=d["status"], path=d.get("path"), old=d.get("old"),
                   new=d.get("new"), type=d.get("type"), old_size=d.get("old_size"),
                   new_size=d.get("new_size"), old_path=d.get("old_path"),
                   files=FolderDiff.from_dict(d["files"]) if d.get("files") else None,
                   table=TableDiff.from_dict(d["table"]) if d.get("table") else None,
                   tables={p: TableDiff.from_dict(t) for p, t in (d.get("tables") or {}).items()},
                   note=d.get("note"), shared_bytes=d.get("shared_bytes"),
                   upstream=Diff.from_dict(d["upstream"]) if d.get("upstream") else None)


@dataclass(frozen=True)
class Cause:
    """A root cause: the deepest upstream diff of one branch whose inputs changed."""

    old: str  # its two versions' labels (``features@1``)
    new: str
    summary: str  # what changed in its inputs, one line
    diff: Diff


@dataclass(frozen=True)
class Verdict:
    """Why the results of a diff changed, or why not, in parts a renderer words.

    The text explanation prints it line by line; the HTML report lays out the same parts.
    """

    old: str  # the two sides' labels
    new: str
    other_names: bool  # two different names, not two versions of one
    outputs: str | None  # what changed in the outputs and metrics (None: nothing)
    causes: tuple[Cause, ...]  # root causes found upstream, every branch's
    changed: tuple[str, ...]  # the input categories that changed (Diff.changed)
    reason: str | None  # when no recorded input changed: what that means here
    notes: tuple[str, ...]  # code not counted or outside its scope, params outside theirs
    unchanged: tuple[str, ...]  # the unchanged categories, each with its detail
    outputs_changed: bool  # an output was added, removed or modified


@dataclass(frozen=True)
class Diff(Displayable):
    """How record ``new`` differs from record ``old``, and why.

    ``changed`` lists the input categories that differ (a subset of
    ``("data", "code", "params", "env")``, in that order); ``verdict`` holds the
    explanation's text lines, ``judged`` the :class:`Verdict` they were printed from
    (None in a value built by hand or read back from JSON: see
    :func:`mlver.diff.judge.verdict_of`).
    """

    old: Ref
    new: Ref
    changed: tuple[str, ...]
    inputs: dict[str, SlotDiff]
    outputs: dict[str, SlotDiff]
    code: CodeChange
    params: ParamsChange
    env: EnvChange
    metrics: dict[str, MetricChange]
    verdict: tuple[str, ...] = ()
    # data files the runs read that neither record holds (from their traces)
    unrecorded_reads: tuple[str, ...] = ()
    judged: Verdict | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (docs/diff.md); the verdict as its text lines."""
        return {"old": dict(self.old), "new": dict(self.new), "changed": list(self.changed),
                "inputs": {k: v.to_dict() for k, v in self.inputs.items()},
                "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
                "code": self.code, "params": self.params, "env": self.env,
                "metrics": self.metrics, "verdict": list(self.verdict),
                "unrecorded_reads": list(self.unrecorded_reads)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Diff:
        """The diff of its JSON form (the sections are taken as they are)."""
        return cls(old=cast(Ref, d["old"]), new=cast(Ref, d["new"]),
                   changed=tuple(d.get("changed", ())),
                   inputs={k: SlotDiff.from_dict(v) for k, v in d.get("inputs", {}).items()},
                   outputs={k: SlotDiff.from_dict(v) for k, v in d.get("outputs", {}).items()},
                   code=cast(CodeChange, d.get("code", {})),
                   params=cast(ParamsChange, d.get("params", {})),
                   env=cast(EnvChange, d.get("env", {})),
                   metrics=cast("dict[str, MetricChange]", d.get("metrics", {})),
                   verdict=tuple(d.get("verdict", ())),
                   unrecorded_reads=tuple(d.get("unrecorded_reads", ())))

    @property
    def inputs_changed(self) -> bool:
        """True when any recorded input differs (what ``--exit-code`` reports)."""
        return bool(self.changed)

    def __str__(self) -> str:
        return "\n".join(self.verdict)
