"""The text explanation of a :class:`~mlver.diff.value.Diff`: a verdict, then the causes.

Pure: builds lines from the Diff's plain data, no I/O.
"""

from __future__ import annotations

import math

from mlver.base.fmt import fmt_value, human_size


def _num(v) -> str:
    """A metric: 4 significant digits; ``(missing)`` on the side without it."""
    if v is None:
        return "(missing)"
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.4g}"
    return fmt_value(v)


def _pair(old, new) -> tuple[str, str]:
    """Two metric values, with all their digits when 4 would print them alike."""
    a, b = _num(old), _num(new)
    return (fmt_value(old), fmt_value(new)) if a == b else (a, b)


def _label(ref: dict) -> str:
    if ref.get("workspace"):
        return f"{ref['name']} (workspace)"
    return f"{ref['name']}@{ref['version']}"


def folder_prefix(path: str | None) -> str:
    """What goes before a path inside a folder slot: ``raw/`` (nothing for ``.``)."""
    return "" if path in (None, "", ".") else path.rstrip("/") + "/"


def _slot_line(s) -> str:
    where = s.path if not s.old_path else f"{s.old_path} -> {s.path}"
    if s.type == "tree" and s.status == "modified":
        where = folder_prefix(where) or "."  # a folder reads raw/, as its paths do
    head = f"{s.slot} ({where})"
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
        parts.append(f"content changed ({human_size(s.old_size)} -> {human_size(s.new_size)})")
    if s.note:
        parts.append(f"note: {s.note}")
    return f"{head}: " + "; ".join(parts)


def _outputs_line(d) -> str | None:
    changed = [s for s in d.outputs.values() if s.status != "unchanged"]
    bits = []
    for s in changed:
        name = (s.path or s.slot).rsplit("/", 1)[-1]
        if s.status == "modified":
            note = f"; note: {s.note}" if s.note else ""
            bits.append(f"{name} changed ({human_size(s.old_size)} -> {human_size(s.new_size)})"
                        f"{note}")
        elif s.status == "moved":
            bits.append(f"{name} moved from {s.old_path or '?'} (same content)")
        else:
            bits.append(f"{name} {s.status}")
    metrics = [f"{k} {' -> '.join(_pair(m['old'], m['new']))}"
               + (f" ({'+' if m['delta'] > 0 else ''}{_num(m['delta'])})" if m["delta"] else "")
               for k, m in d.metrics.items() if m["changed"]]
    if metrics:
        bits.append("metrics: " + ", ".join(metrics[:6]) + (" …" if len(metrics) > 6 else ""))
    return "; ".join(bits) if bits else None


def _code_line(c: dict) -> str:
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
        parts.append(files + (f", +{len(c['files']) - 4} more files" if len(c["files"]) > 4 else ""))
    if c["patch_changed"]:
        parts.append("uncommitted changes differ in " + ", ".join(c["patch_files"][:4]))
    if c.get("commits_outside_scope"):
        parts.append(_outside(c))
    return "; ".join(parts)


def _outside(c: dict) -> str:
    n = c["commits_outside_scope"]
    return f"{n} commit{'s' if n != 1 else ''} outside the code scope"


def _reads_phrase(paths) -> str:
    """``a.csv``, ``a.csv and b.csv``, ``a.csv, b.csv, c.csv and 2 more files``, then
    ``which is/are not recorded``."""
    paths = list(paths)
    if len(paths) == 1:
        return f"{paths[0]}, which is not recorded"
    if len(paths) <= 3:
        return f"{', '.join(paths[:-1])} and {paths[-1]}, which are not recorded"
    return f"{', '.join(paths[:3])} and {len(paths) - 3} more files, which are not recorded"


def _params_line(p: dict) -> str:
    bits = [f"{k}: {fmt_value(v['old'])} -> {fmt_value(v['new'])}" for k, v in p["changed"].items()]
    bits += [f"+{k}={fmt_value(v)}" for k, v in p["added"].items()]
    bits += [f"-{k}" for k in p["removed"]]
    return ", ".join(bits[:8]) + (" …" if len(bits) > 8 else "")


ENV_NAMES = 4  # packages named per kind of change (upgraded, downgraded, added, removed)


def _named(kind: str, items: list[str]) -> str | None:
    if not items:
        return None
    more = f", +{len(items) - ENV_NAMES} more" if len(items) > ENV_NAMES else ""
    return f"{kind} " + ", ".join(items[:ENV_NAMES]) + more


def _env_line(e: dict) -> str:
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


UPSTREAM_INDENT = " " * 11  # "←" lines start under the text of "    data   "
ROOT_CAUSES = 3  # "root cause:" lines at most


def _level(d) -> str:
    """What changed in the inputs of an upstream diff, on one line."""
    bits = [_slot_line(s) for s in d.inputs.values() if s.status != "unchanged"]
    for category, line in (("code", _code_line), ("params", _params_line), ("env", _env_line)):
        if category in d.changed:
            data = {"code": d.code, "params": d.params, "env": d.env}[category]
            bits.append(f"{category} {line(data)}")
    if bits:
        return "; ".join(bits)
    if not d.inputs:
        return "no inputs: its outputs are the data itself"
    return "no recorded input changed"


def _upstream_lines(s, level: int = 1) -> list[str]:
    """The ``←`` lines under a changed input: the diff of the records that produced its
    old and new content, then theirs, one level deeper each."""
    u = s.upstream
    if u is None:
        return []
    pad = UPSTREAM_INDENT + "  " * (level - 1)
    lines = [f"{pad}← {_label(u.old)} -> {_label(u.new)}: {_level(u)}"]
    for t in u.inputs.values():
        lines += _upstream_lines(t, level + 1)
    return lines


def root_causes(d) -> list:
    """The deepest upstream diffs whose inputs changed, one per branch (``[]`` when no
    upstream diff found a change: then the diff's own inputs are the deepest)."""
    def walk(x) -> list:
        deeper = [r for s in x.inputs.values() if s.upstream is not None for r in walk(s.upstream)]
        return deeper or ([x] if x.changed else [])

    out, seen = [], set()
    for s in d.inputs.values():
        if s.upstream is not None:
            for r in walk(s.upstream):
                key = (r.old.get("oid"), r.new.get("oid"))
                if key not in seen:
                    seen.add(key)
                    out.append(r)
    return out


# why a raw dataset's code is not compared (mlver.diff.identity.counts_code)
NOT_COUNTED = "raw data (no command, no inputs), made by no code of the repository"


def verdict(d) -> list[str]:
    """The explanation, one string a line."""
    lines = [f"{_label(d.old)} -> {_label(d.new)}"]
    if d.old.get("name") and d.new.get("name") and d.old["name"] != d.new["name"]:
        # compared all the same, but a reader must not take one for a version of the other
        lines[0] += " (two different names, not two versions of one)"
    outs = _outputs_line(d)
    outputs_changed = any(s.status not in ("unchanged", "moved") for s in d.outputs.values())
    lines.append("  " + (outs or "outputs unchanged"))
    causes = root_causes(d)
    lines += [f"  root cause: {_label(r.old)} -> {_label(r.new)}: {_level(r)}"
              for r in causes[:ROOT_CAUSES]]
    if len(causes) > ROOT_CAUSES:
        lines.append(f"  root cause: +{len(causes) - ROOT_CAUSES} more")
    if d.changed:
        lines.append("  because:")
        for category in d.changed:  # most informative first, as in the JSON
            if category == "data":
                for s in d.inputs.values():
                    if s.status != "unchanged":
                        lines.append(f"    data   {_slot_line(s)}")
                        lines += _upstream_lines(s)
            elif category == "code":
                lines.append(f"    code   {_code_line(d.code)}")
            elif category == "params":
                lines.append(f"    params {_params_line(d.params)}")
            elif category == "env":
                lines.append(f"    env    {_env_line(d.env)}")
    elif outputs_changed and d.unrecorded_reads and any(
            s.status in ("modified", "added") for s in d.outputs.values()):
        lines.append("  no recorded input changed: the result is not explained by recorded "
                     f"inputs; the run also read {_reads_phrase(d.unrecorded_reads)}")
    elif outputs_changed and not d.inputs:
        lines.append("  the record has no inputs: its outputs are the data itself, so nothing "
                     "recorded upstream explains the change")
    elif outputs_changed and all(s.status in ("unchanged", "moved", "removed")
                                 for s in d.outputs.values()):
        lines.append("  no recorded input changed; the missing outputs were deleted or not "
                     "produced yet")
    elif outputs_changed:
        lines.append("  no recorded input changed: the result is not explained by any recorded "
                     "input (training is nondeterministic, or an input is not tracked)")
    else:
        lines.append("  no recorded input changed")
    if d.code.get("counted") is False:
        if d.code.get("new_commit") and d.code.get("old_commit") != d.code["new_commit"]:
            lines.append(f"  code not counted ({d.code['new_commit'][:7]}): {NOT_COUNTED}")
    elif not d.changed and d.code.get("commits_outside_scope"):
        new = (d.code.get("new_commit") or "")[:7]
        lines.append(f"  code unchanged ({new}): {_outside(d.code)}")
    outside = d.params.get("outside_scope") or {}
    if any(outside.get(k) for k in ("added", "removed", "changed")):
        lines.append(f"  outside the params scope: {_params_line(outside)}")
    for s in d.outputs.values():
        if s.status == "modified" and (s.table is not None or s.files is not None):
            lines.append(f"  output {_slot_line(s)}")
    same = [c for c in ("data", "code", "params", "env") if c not in d.changed
            and (c != "code" or d.code.get("counted") is not False)]
    if same and d.changed:
        extra = []
        for c in same:
            if c == "env" and d.env["python"]["new"]:
                count = d.env["packages_count"]["new"]
                extra.append(f"env (python {d.env['python']['new']}"
                             + (f", {count} packages)" if count is not None else ")"))
            elif c == "code" and d.code.get("new_commit"):
                outside = f"; {_outside(d.code)}" if d.code.get("commits_outside_scope") else ""
                extra.append(f"code ({d.code['new_commit'][:7]}{outside})")
            else:
                extra.append(c)
        lines.append("  unchanged: " + ", ".join(extra))
    return lines


def samples_text(d) -> str:
    """Sample added, removed and changed rows of the table diffs (``--rows N``)."""
    import json

    lines = []
    for s in list(d.inputs.values()) + list(d.outputs.values()):
        tables = ([(s.path, s.table)] if s.table is not None else []) + \
                 [(f"{s.path}/{p}", t) for p, t in s.tables.items()]
        for path, t in tables:
            samples = t.samples or {}
            for kind in ("added", "removed", "changed"):
                rows = samples.get(kind) or []
                if rows and kind == "changed":
                    lines.append(f"{path}: changed rows (first {len(rows)})")
                    lines += ["  " + _changed_row(r) for r in rows]
                elif rows:
                    lines.append(f"{path}: {kind} rows (first {len(rows)})")
                    lines += ["  " + json.dumps(r, ensure_ascii=False, default=str) for r in rows]
    return "\n".join(lines)


def _changed_row(r: dict) -> str:
    """``id=2: price 20 -> 25, city Rome -> Paris``: the key, then each changed cell."""
    key = ", ".join(f"{k}={fmt_value(v)}" for k, v in (r.get("key") or {}).items())
    cells = ", ".join(f"{c} {fmt_value(r['old'].get(c))} -> {fmt_value(r['new'].get(c))}"
                      for c in r.get("columns") or [])
    return f"{key}: {cells}"
