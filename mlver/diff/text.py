"""The text explanation of a :class:`~mlver.diff.value.Diff`: a verdict, then the causes.

Pure: renders the diff's :class:`~mlver.diff.value.Verdict` and sections as lines, no
I/O. ``Diff.verdict`` holds these lines; ``str(diff)`` prints them.
"""

from __future__ import annotations

import json
from typing import Any

from mlver.base.fmt import fmt_value
from mlver.diff import wording
from mlver.diff.judge import root_causes, verdict_of
from mlver.diff.value import Diff, SlotDiff, Verdict

# root_causes is part of this renderer's surface: the lines it prints name them
__all__ = ["UPSTREAM_INDENT", "fmt_value", "lines", "root_causes",
           "samples_text", "verdict"]

UPSTREAM_INDENT = " " * 11  # "←" lines start under the text of "    data   "


def _upstream_lines(s: SlotDiff, level: int = 1) -> list[str]:
    """The ``←`` lines under a changed input: the diff of the records that produced its
    old and new content, then theirs, one level deeper each."""
    u = s.upstream
    if u is None:
        return []
    pad = UPSTREAM_INDENT + "  " * (level - 1)
    out = [f"{pad}← {wording.ref_label(u.old)} -> {wording.ref_label(u.new)}: "
           f"{wording.inputs_line(u)}"]
    for t in u.inputs.values():
        out += _upstream_lines(t, level + 1)
    return out


def lines(d: Diff, v: Verdict) -> list[str]:
    """The explanation of ``d`` from its verdict ``v``, one string a line."""
    out = [wording.headline(v.old, v.new, v.other_names),
           "  " + (v.outputs or "outputs unchanged")]
    shown = wording.ROOT_CAUSES
    out += [f"  root cause: {c.old} -> {c.new}: {c.summary}" for c in v.causes[:shown]]
    if len(v.causes) > shown:
        out.append(f"  root cause: +{len(v.causes) - shown} more")
    if v.changed:
        out.append("  because:")
        for category in v.changed:  # most informative first, as in the JSON
            if category == "data":
                for s in d.inputs.values():
                    if s.status != "unchanged":
                        out.append(f"    data   {wording.slot_line(s)}")
                        out += _upstream_lines(s)
            else:
                out.append(f"    {category:<6} {wording.category_line(d, category)}")
    elif v.reason:
        out.append(f"  {v.reason}")
    out += [f"  {note}" for note in v.notes]
    for s in d.outputs.values():
        if s.status == "modified" and (s.table is not None or s.files is not None):
            out.append(f"  output {wording.slot_line(s)}")
    if v.unchanged:
        out.append("  " + wording.unchanged_line(v.unchanged))
    return out


def verdict(d: Diff) -> list[str]:
    """The explanation of ``d``, one string a line (judged now when ``d`` holds no
    verdict: a value built by hand)."""
    return lines(d, verdict_of(d))


def samples_text(d: Diff) -> str:
    """Sample added, removed and changed rows of the table diffs (``--rows N``)."""
    out = []
    for s in list(d.inputs.values()) + list(d.outputs.values()):
        tables = ([(s.path, s.table)] if s.table is not None else []) + \
                 [(f"{s.path}/{p}", t) for p, t in s.tables.items()]
        for path, t in tables:
            samples = t.samples or {}
            for kind in ("added", "removed", "changed"):
                rows = samples.get(kind) or []
                if rows and kind == "changed":
                    out.append(f"{path}: changed rows (first {len(rows)})")
                    out += ["  " + _changed_row(r) for r in rows]
                elif rows:
                    out.append(f"{path}: {kind} rows (first {len(rows)})")
                    out += ["  " + json.dumps(r, ensure_ascii=False, default=str) for r in rows]
    return "\n".join(out)


def _changed_row(r: dict[str, Any]) -> str:
    """``id=2: price 20 -> 25, city Rome -> Paris``: the key, then each changed cell."""
    key = ", ".join(f"{k}={fmt_value(v)}" for k, v in (r.get("key") or {}).items())
    cells = ", ".join(f"{c} {fmt_value(r['old'].get(c))} -> {fmt_value(r['new'].get(c))}"
                      for c in r.get("columns") or [])
    return f"{key}: {cells}"

