"""The ``Diff`` value: plain, frozen data that ``repo.diff`` returns.

Buildable from literals in tests (``Diff.from_dict``), serialised by
``to_dict`` (the ``--json`` contract in docs/diff.md), and printed by
``str()`` as the explanation (see ``mlver.diff.explain``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlver.diff.folders import FolderDiff


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
    table: Any = None  # mlver.diff.tables.TableDiff
    tables: dict = field(default_factory=dict)  # path inside a folder -> TableDiff
    note: str | None = None  # why a finer diff was not possible
    # the Diff of the two records that produced the old and the new content (same name,
    # two versions), when the content changed and lineage knows both: see diff.upstream
    upstream: Diff | None = None

    def to_dict(self) -> dict:
        d = {"slot": self.slot, "status": self.status, "path": self.path, "old": self.old,
             "new": self.new, "type": self.type, "old_size": self.old_size,
             "new_size": self.new_size, "old_path": self.old_path,
             "files": self.files.to_dict() if self.files else None,
             "table": self.table.to_dict() if self.table is not None else None,
             "tables": {p: t.to_dict() for p, t in self.tables.items()},
             "note": self.note,
             "upstream": self.upstream.to_dict() if self.upstream is not None else None}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SlotDiff:
        from mlver.diff.tables import TableDiff

        return cls(slot=d["slot"], status=d["status"], path=d.get("path"), old=d.get("old"),
                   new=d.get("new"), type=d.get("type"), old_size=d.get("old_size"),
                   new_size=d.get("new_size"), old_path=d.get("old_path"),
                   files=FolderDiff.from_dict(d["files"]) if d.get("files") else None,
                   table=TableDiff.from_dict(d["table"]) if d.get("table") else None,
                   tables={p: TableDiff.from_dict(t) for p, t in (d.get("tables") or {}).items()},
                   note=d.get("note"),
                   upstream=Diff.from_dict(d["upstream"]) if d.get("upstream") else None)


@dataclass(frozen=True)
class Diff:
    """How record ``new`` differs from record ``old``, and why.

    ``changed`` lists the input categories that differ (a subset of
    ``("data", "code", "params", "env")``, in that order); ``verdict`` holds the
    explanation's text lines.
    """

    old: dict
    new: dict
    changed: tuple[str, ...]
    inputs: dict[str, SlotDiff]
    outputs: dict[str, SlotDiff]
    code: dict
    params: dict
    env: dict
    metrics: dict
    verdict: tuple[str, ...] = ()
    # data files the runs read that neither record holds (from their traces)
    unrecorded_reads: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"old": dict(self.old), "new": dict(self.new), "changed": list(self.changed),
                "inputs": {k: v.to_dict() for k, v in self.inputs.items()},
                "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
                "code": self.code, "params": self.params, "env": self.env,
                "metrics": self.metrics, "verdict": list(self.verdict),
                "unrecorded_reads": list(self.unrecorded_reads)}

    @classmethod
    def from_dict(cls, d: dict) -> Diff:
        return cls(old=d["old"], new=d["new"], changed=tuple(d.get("changed", ())),
                   inputs={k: SlotDiff.from_dict(v) for k, v in d.get("inputs", {}).items()},
                   outputs={k: SlotDiff.from_dict(v) for k, v in d.get("outputs", {}).items()},
                   code=d.get("code", {}), params=d.get("params", {}), env=d.get("env", {}),
                   metrics=d.get("metrics", {}), verdict=tuple(d.get("verdict", ())),
                   unrecorded_reads=tuple(d.get("unrecorded_reads", ())))

    @property
    def inputs_changed(self) -> bool:
        """True when any recorded input differs (what ``--exit-code`` reports)."""
        return bool(self.changed)

    def __str__(self) -> str:
        return "\n".join(self.verdict)
