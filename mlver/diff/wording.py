"""The phrases a diff is told in, shared by its renderers: the text explanation
(:mod:`mlver.diff.text`), the verdict (:mod:`mlver.diff.judge`) and the HTML report
(:mod:`mlver.views.html`) all call these, so the three never word a change differently.

Pure: each takes part of a :class:`~mlver.diff.value.Diff` and returns one line of text.
Sizes and values are written by :mod:`mlver.base.fmt`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from mlver.base.fmt import fmt_value, human_size, version_label
from mlver.diff.changes import CodeChange, EnvChange, MetricChange, ParamsDelta, Ref

if TYPE_CHECKING:
    from mlver.diff.value import Diff, SlotDiff

ENV_NAMES = 4  # packages named per kind of change (upgraded, downgraded, added, removed)
METRICS_NAMED = 6  # changed metrics named on the outputs line
PARAMS_NAMED = 8  # changed params named on a params line
ROOT_CAUSES = 3  # root causes a verdict names (the text says how many more)
# why a raw dataset's code is not compared (mlver.diff.identity.counts_code)
NOT_COUNTED = "raw data (no command, no inputs), made by no code of the repository"


def num(v: object) -> str:
    """A metric: 4 significant digits; ``(missing)`` on the side without it."""
    if v is None:
        return "(missing)"
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.4g}"
    return fmt_value(v)


def metric_pair(old: object, new: object) -> tuple[str, str]:
    """Two metric values, with all their digits when 4 would print them alike."""
    a, b = num(old), num(new)
    return (fmt_value(old), fmt_value(new)) if a == b else (a, b)


def ref_label(ref: Ref) -> str:
    """One side of a diff: ``NAME@N``, or ``NAME (workspace)``."""
    if ref.get("workspace"):
        return f"{ref['name']} (workspace)"
    return version_label(ref["name"], ref["version"])


def headline(old: str, new: str, other_names: bool) -> str:
    """The first line of a verdict: ``m@1 -> m@2``, flagged when the names differ."""
    line = f"{old} -> {new}"
    # compared all the same, but a reader must not take one for a version of the other
    return line + " (two different names, not two versions of one)" if other_names else line


def folder_prefix(path: str | None) -> str:
    """What goes before a path inside a folder slot: ``raw/`` (nothing for ``.``)."""
    return "" if not path or path == "." else path.rstrip("/") + "/"


def where(s: SlotDiff) -> str:
    """A slot's path, ``old -> new`` when it moved."""
    return str(s.path) if not s.old_path else f"{s.old_path} -> {s.path}"


def size_change(s: SlotDiff) -> str:
    """``content changed (1.0 KB -> 1.1 KB)``, and for two big files stored as chunks how
    much of the new one the old one holds: ``(64.0 MB -> 64.1 MB, 93% of the bytes unchanged)``."""
    return f"content changed ({sizes(s)})"


def sizes(s: SlotDiff) -> str:
    """``1.0 KB -> 1.1 KB``, with ``, 93% of the bytes unchanged`` when the chunks tell."""
    text = f"{human_size(s.old_size)} -> {human_size(s.new_size)}"
    if s.shared_bytes is not None and s.new_size:
        share = s.shared_bytes / s.new_size
        # never "100%" for content that changed (a file cut at a chunk boundary, or its
        # chunks reordered, shares every byte with the old one), never "0%" for some shared
        pct = min(99, max(1, round(share * 100))) if share > 0 else 0
        text += f", {pct}% of the bytes unchanged"  # bytes, not rows: a parquet re-encodes
    return text


def slot_line(s: SlotDiff) -> str:
    """A changed slot on one line: where it is, then what changed in it."""
    place = s.path if not s.old_path else f"{s.old_path} -> {s.path}"
    if s.type == "tree" and s.status == "modified":
        place = folder_prefix(place) or "."  # a folder reads raw/, as its paths do
    head = f"{s.slot} ({place})"
    if s.status == "added":
        return f"{head}: added ({human_size(s.new_size)})"
    if s.status == "removed":
        return f"{head}: removed"
    if s.status == "moved":
        return f"{head}: moved, same content ({human_size(s.new_size)})"
    parts = []
    if s.table is not None:
        parts.append(s.table.summary())
    if s.files is not None:
        parts.append(s.files.summary(folder_prefix(s.path)))
        for path, t in list(s.tables.items())[:3]:
            parts.append(f"{path}: {t.summary()}")
    if not parts:
        parts.append(size_change(s))
    if s.note:
        parts.append(f"note: {s.note}")
    return f"{head}: " + "; ".join(parts)


def metric_change(name: str, m: MetricChange) -> str:
    """``rmse 41.2 -> 37.9 (-3.3)``."""
    delta = m["delta"]
    sign = "+" if delta is not None and delta > 0 else ""
    return (f"{name} {' -> '.join(metric_pair(m['old'], m['new']))}"
            + (f" ({sign}{num(delta)})" if delta else ""))


def outputs_line(d: Diff) -> str | None:
    """What changed in the results, on one line: outputs, then the changed metrics."""
    bits = []
    for s in d.outputs.values():
        if s.status == "unchanged":
            continue
        name = (s.path or s.slot).rsplit("/", 1)[-1]
        if s.status == "modified":
            note = f"; note: {s.note}" if s.note else ""
            bits.append(f"{name} changed ({sizes(s)}){note}")
        elif s.status == "moved":
            bits.append(f"{name} moved from {s.old_path or '?'} (same content)")
        else:
            bits.append(f"{name} {s.status}")
    metrics = [metric_change(k, m) for k, m in d.metrics.items() if m["changed"]]
    if metrics:
        bits.append("metrics: " + ", ".join(metrics[:METRICS_NAMED])
                    + (" …" if len(metrics) > METRICS_NAMED else ""))
    return "; ".join(bits) if bits else None


def outside_code(c: CodeChange) -> str:
    """``2 commits outside the code scope``."""
    n = c.get("commits_outside_scope")
    return f"{n} commit{'s' if n != 1 else ''} outside the code scope"


def code_line(c: CodeChange) -> str:
    """What changed in the code: commits, files (+/- lines), uncommitted changes."""
    parts = []
    old, new = (c["old_commit"] or "")[:7], (c["new_commit"] or "")[:7]
    if not c["commits_known"] and old != new and not old:
        parts.append(f"commit {new}; the old version was recorded without one (outside git or "
                     "before the first commit)")
    elif not c["commits_known"] and old != new and not new:
        parts.append(f"no commit recorded (outside git or before the first commit); the old "
                     f"version was at {old}")
    elif not c["commits_known"] and old != new:
        parts.append(f"commit {old} -> {new} (history not known locally)")
    elif c["commits"]:
        n = len(c["commits"])
        summaries = ", ".join(f'"{x["summary"]}"' for x in c["commits"][:2])
        more = ", ..." if n > 2 else ""
        parts.append(f"{n} commit{'s' if n != 1 else ''} ({old}..{new}): {summaries}{more}")
    if c["files"]:
        files = ", ".join(f"{f['path']} +{f['added'] if f['added'] is not None else '?'} "
                          f"-{f['removed'] if f['removed'] is not None else '?'}"
                          for f in c["files"][:4])
        left = len(c["files"]) - 4
        parts.append(files + (f", +{left} more files" if left > 0 else ""))
    if c["patch_changed"]:
        parts.append("uncommitted changes differ in " + ", ".join(c["patch_files"][:4]))
    if c.get("commits_outside_scope"):
        parts.append(outside_code(c))
    return "; ".join(parts)


def reads_phrase(paths: Iterable[str]) -> str:
    """``a.csv``, ``a.csv and b.csv``, ``a.csv, b.csv, c.csv and 2 more files``, then
    ``which is/are not recorded``."""
    paths = list(paths)
    if len(paths) == 1:
        return f"{paths[0]}, which is not recorded"
    if len(paths) <= 3:
        return f"{', '.join(paths[:-1])} and {paths[-1]}, which are not recorded"
    return f"{', '.join(paths[:3])} and {len(paths) - 3} more files, which are not recorded"


def params_line(p: ParamsDelta) -> str:
    """``lr: 0.1 -> 0.2, +depth=3, -seed``."""
    bits = [f"{k}: {fmt_value(v['old'])} -> {fmt_value(v['new'])}"
            for k, v in p["changed"].items()]
    bits += [f"+{k}={fmt_value(v)}" for k, v in p["added"].items()]
    bits += [f"-{k}" for k in p["removed"]]
    return ", ".join(bits[:PARAMS_NAMED]) + (" …" if len(bits) > PARAMS_NAMED else "")


def _named(kind: str, items: list[str]) -> str | None:
    if not items:
        return None
    more = f", +{len(items) - ENV_NAMES} more" if len(items) > ENV_NAMES else ""
    return f"{kind} " + ", ".join(items[:ENV_NAMES]) + more


def env_line(e: EnvChange) -> str:
    """``python 3.10 -> 3.11; upgraded numpy 1.26 -> 2.0``."""
    bits = []
    if e["python"]["old"] != e["python"]["new"]:
        bits.append(f"python {fmt_value(e['python']['old'])} -> {fmt_value(e['python']['new'])}")
    if e["implementation"]["old"] != e["implementation"]["new"]:
        bits.append(f"implementation {fmt_value(e['implementation']['old'])} -> "
                    f"{fmt_value(e['implementation']['new'])}")
    if e["platform"]["old"] != e["platform"]["new"]:
        bits.append("platform changed")
    pk = e["packages"]
    for kind, items in (("upgraded", [f"{u['name']} {u['old']} -> {u['new']}"
                                      for u in pk["upgraded"]]),
                        ("downgraded", [f"{u['name']} {u['old']} -> {u['new']}"
                                        for u in pk["downgraded"]]),
                        ("added", pk["added"]), ("removed", pk["removed"])):
        if (named := _named(kind, items)) is not None:
            bits.append(named)
    return "; ".join(bits) or "packages changed"


def category_line(d: Diff, category: str) -> str:
    """What changed in ``category`` (``code``, ``params`` or ``env``) of ``d``."""
    if category == "code":
        return code_line(d.code)
    if category == "params":
        return params_line(d.params)
    return env_line(d.env)


def inputs_line(d: Diff) -> str:
    """What changed in the inputs of a diff (an upstream one, a root cause), on one line."""
    bits = [slot_line(s) for s in d.inputs.values() if s.status != "unchanged"]
    bits += [f"{c} {category_line(d, c)}" for c in ("code", "params", "env") if c in d.changed]
    if bits:
        return "; ".join(bits)
    if not d.inputs:
        return "no inputs: its outputs are the data itself"
    return "no recorded input changed"


def unchanged_line(parts: Iterable[str]) -> str:
    """``unchanged: env (python 3.11, 142 packages), code (abc1234)``."""
    return "unchanged: " + ", ".join(parts)


def changed_metrics(metrics: Mapping[str, MetricChange]) -> list[tuple[str, MetricChange]]:
    """The metrics whose value changed, in order."""
    return [(k, m) for k, m in metrics.items() if m["changed"]]
