"""The text explanation of a :class:`~mlver.diff.value.Diff`: a verdict, then the causes.

Pure: builds lines from the Diff's plain data, no I/O.
"""

from __future__ import annotations


def human_size(n: int | None) -> str:
    """Bytes as ``1.2 MB``."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def _num(v) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _label(ref: dict) -> str:
    if ref.get("workspace"):
        return f"{ref['name']} (workspace)"
    return f"{ref['name']}@{ref['version']}"


def _slot_line(s) -> str:
    where = s.path if not s.old_path else f"{s.old_path} -> {s.path}"
    head = f"{s.slot} ({where})"
    if s.status == "added":
        return f"{head}: added ({human_size(s.new_size)})"
    if s.status == "removed":
        return f"{head}: removed"
    parts = []
    if s.table is not None:
        parts.append(s.table.summary())
    if s.files is not None:
        parts.append(s.files.summary())
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
        else:
            bits.append(f"{name} {s.status}")
    metrics = [f"{k} {_num(m['old'])} -> {_num(m['new'])}"
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
    bits = [f"{k}: {_num(v['old'])} -> {_num(v['new'])}" for k, v in p["changed"].items()]
    bits += [f"+{k}={_num(v)}" for k, v in p["added"].items()]
    bits += [f"-{k}" for k in p["removed"]]
    return ", ".join(bits[:8]) + (" …" if len(bits) > 8 else "")


def _env_line(e: dict) -> str:
    bits = []
    if e["python"]["old"] != e["python"]["new"]:
        bits.append(f"python {e['python']['old']} -> {e['python']['new']}")
    if e["platform"]["old"] != e["platform"]["new"]:
        bits.append("platform changed")
    pk = e["packages"]
    bits += [f"{u['name']} {u['old']} -> {u['new']}" for u in pk["upgraded"][:4]]
    bits += [f"{u['name']} {u['old']} -> {u['new']} (downgrade)" for u in pk["downgraded"][:4]]
    if pk["added"]:
        bits.append(f"{len(pk['added'])} package{'s' if len(pk['added']) != 1 else ''} added")
    if pk["removed"]:
        bits.append(f"{len(pk['removed'])} package{'s' if len(pk['removed']) != 1 else ''} removed")
    return ", ".join(bits) or "packages changed"


def verdict(d) -> list[str]:
    """The explanation, one string a line."""
    lines = [f"{_label(d.old)} -> {_label(d.new)}"]
    outs = _outputs_line(d)
    outputs_changed = any(s.status != "unchanged" for s in d.outputs.values())
    lines.append("  " + (outs or "outputs unchanged"))
    if d.changed:
        lines.append("  because:")
        for category in d.changed:  # most informative first, as in the JSON
            if category == "data":
                lines += [f"    data   {_slot_line(s)}" for s in d.inputs.values()
                          if s.status != "unchanged"]
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
    elif outputs_changed and all(s.status in ("unchanged", "removed") for s in d.outputs.values()):
        lines.append("  no recorded input changed; the missing outputs were deleted or not "
                     "produced yet")
    elif outputs_changed:
        lines.append("  no recorded input changed: the result is not explained by any recorded "
                     "input (training is nondeterministic, or an input is not tracked)")
    else:
        lines.append("  no recorded input changed")
    if not d.changed and d.code.get("commits_outside_scope"):
        new = (d.code.get("new_commit") or "")[:7]
        lines.append(f"  code unchanged ({new}): {_outside(d.code)}")
    for s in d.outputs.values():
        if s.status == "modified" and (s.table is not None or s.files is not None):
            lines.append(f"  output {_slot_line(s)}")
    same = [c for c in ("data", "code", "params", "env") if c not in d.changed]
    if same and d.changed:
        extra = []
        for c in same:
            if c == "env" and d.env["python"]["new"]:
                extra.append(f"env (python {d.env['python']['new']}, "
                             f"{d.env['packages_count']['new']} packages)")
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
                if rows:
                    lines.append(f"{path}: {kind} rows (first {len(rows)})")
                    lines += ["  " + json.dumps(r, ensure_ascii=False, default=str) for r in rows]
    return "\n".join(lines)
