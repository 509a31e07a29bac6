"""Text and JSON renderings of records, logs and status for the CLI. Pure functions."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlver.base.fmt import fmt_value, human_size
from mlver.base.fmt import version_label

if TYPE_CHECKING:
    from mlver.core.record import Artifact, Record, Scope, Trace
    from mlver.diff.value import Diff
    from mlver.integrations.importdvc import ImportResult
    from mlver.ops.status import NameStatus
    from mlver.ops.verify import VerifyResult
    from mlver.sync.pushpull import SyncResult

#: ``{name: {record oid: [tags]}}`` (``Repo.tags_by_record``).
TagsByRecord = Mapping[str, Mapping[str, list[str]]]
#: The lineage graph as ``Lineage.graph`` gives it: ``root``, ``nodes``, ``edges``.
LineageGraph = Mapping[str, Any]


def record_json(oid: str, rec: Record, **extra: object) -> dict[str, Any]:
    """The ``mlver show --json`` form: the record's fields plus its ``oid``."""
    d = rec.to_dict()
    d["oid"] = oid
    d.update(extra)
    return d


def dumps(value: object) -> str:
    """Pretty, stable JSON for ``--json`` output."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def _slots(title: str, arts: Mapping[str, Artifact]) -> list[str]:
    if not arts:
        return []
    lines = [f"{title}:"]
    for slot, a in arts.items():
        if a.missing:
            what = f"folder, {a.files:,} files, " if a.missing.endswith(".dir") else ""
            lines.append(f"  {slot:<10} {a.path}  MISSING  ({what}{human_size(a.size)}): "
                         f"{a.missing_note}")
            continue
        what = f"{a.files:,} file{'s' if a.files != 1 else ''}, " if a.type == "tree" else ""
        src = f" from {a.source[:10]}" if a.source else ""
        lines.append(f"  {slot:<10} {a.path}  {a.oid[:10]}  ({what}{human_size(a.size)}){src}")
    return lines


def _flat(title: str, values: dict[str, Any]) -> list[str]:
    from mlver.core.params import flatten

    flat = flatten(values)
    if not flat:
        return []
    return [f"{title}:"] + [f"  {k} = {json.dumps(v)}" for k, v in flat.items()]


def _params(rec: Record) -> list[str]:
    """``params:`` with every key; with a params scope, the keys inside it, then the
    others under ``outside the scope:`` (recorded, but not what the version uses)."""
    from mlver.core.params import flatten
    from mlver.core.paramscope import matcher

    if rec.params_scope is None:
        return _flat("params", rec.params)
    flat = flatten(rec.params)
    inside = matcher(rec.params_scope)
    lines = [f"params (scope: {', '.join(rec.params_scope)}):"]
    lines += [f"  {k} = {json.dumps(v)}" for k, v in flat.items() if inside(k)]
    outside = [f"    {k} = {json.dumps(v)}" for k, v in flat.items() if not inside(k)]
    return lines + (["  outside the scope:"] + outside if outside else [])


def show_text(oid: str, rec: Record) -> str:
    """A record as ``mlver show`` prints it."""
    lines = [f"{rec.label}  {rec.kind}  {oid}", f"created  {rec.created}"]
    if rec.author:
        lines.append(f"author   {rec.author}")
    if rec.message:
        lines.append(f"message  {rec.message}")
    if rec.parents:
        lines.append(f"parent   {rec.parents[0]}")
    if rec.previous:  # the version before it was recorded on another branch
        lines.append(f"previous {rec.previous}")
    lines += _slots("inputs", rec.inputs) + _slots("outputs", rec.outputs)
    c = rec.code
    if c.commit:
        dirty = " (uncommitted changes)" if c.dirty else ""
        lines.append(f"code:\n  commit {c.commit}{dirty}  branch {c.branch or '-'}")
        if c.remote:
            lines.append(f"  remote {c.remote}")
        if c.untracked:
            lines.append(f"  untracked: {', '.join(c.untracked[:5])}"
                         + (" …" if len(c.untracked) > 5 else ""))
        lines.append(_scope_line(c.scope))
    lines += _params(rec) + _flat("metrics", rec.metrics)
    e = rec.env
    if e.python:
        lines.append(f"env:\n  {e.implementation} {e.python}, {e.packages_count} packages, "
                     f"{e.platform}")
    if rec.run:
        r = rec.run
        lines.append(f"run:\n  {shlex.join(r.command)}  exit {r.exit_code}  {r.duration_s:.1f}s")
        if r.trace is not None:
            lines.append(_trace_line(r.trace))
    return "\n".join(lines)


def _first(paths: Sequence[str], n: int = 5) -> str:
    return ", ".join(paths[:n]) + (f" and {len(paths) - n} more" if len(paths) > n else "")


def _scope_line(scope: Scope | None) -> str:
    """``scope (declared): src/**/*.py`` or ``scope: the whole repository``."""
    if scope is None:
        return "  scope: the whole repository"
    return f"  scope ({scope.origin}): {_first(list(scope.paths)) or 'no file'}"


def _trace_line(trace: Trace) -> str:
    if not trace.traced:
        return f"  not traced: {trace.note or 'unknown reason'}"
    reads = f"read but not recorded: {_first(list(trace.unrecorded))}" if trace.unrecorded \
        else "no unrecorded data read"
    return f"  traced: {reads}" + (f" ({trace.note})" if trace.note else "")


OFF_BRANCH = "(not on this branch's history)"
NOT_FETCHED = "(commit not fetched)"


def log_text(items: Iterable[tuple[str, Record]], tags: TagsByRecord | None = None,
             on_branch: Mapping[str, bool | None] | None = None) -> str:
    """One line a record, newest first; ``tags``: ``{name: {oid: [tags]}}`` shown as
    ``(tags: a, b)`` after the commit; ``on_branch``: ``{oid: bool | None}``, a record not
    on HEAD's history (False) is marked :data:`OFF_BRANCH` after its commit, one whose
    commit git does not hold (None) :data:`NOT_FETCHED`."""
    lines: list[str] = []
    for oid, rec in items:
        its = (tags or {}).get(rec.name, {}).get(oid)
        tagged = f"  (tags: {', '.join(its)})" if its else ""
        metrics = ", ".join(f"{k}={fmt_value(v)}" for k, v in list(rec.metrics.items())[:3]
                            if not isinstance(v, dict))
        msg = f"  {rec.message}" if rec.message else ""
        commit = f"  git {rec.code.commit[:7]}" if rec.code.commit else ""
        flag = True if on_branch is None else on_branch.get(oid, True)
        if flag is False:
            commit += f"  {OFF_BRANCH}"
        elif flag is None:
            commit += f"  {NOT_FETCHED}"
        failed = "  FAILED" if rec.failed else ""
        lines.append(f"{oid[:10]}  {rec.label:<20} {rec.created[:19].replace('T', ' ')}"
                     f"{commit}{failed}{tagged}{msg}" + (f"  [{metrics}]" if metrics else ""))
    return "\n".join(lines)


def status_text(reports: Iterable[NameStatus]) -> str:
    """``mlver status``: per name, what differs from its latest version on HEAD's history
    (and which version that is, when a newer one sits on another branch)."""
    lines: list[str] = []
    for r in reports:
        state = "clean" if r.clean else "changed"
        note = f" ({r.note})" if r.note else ""
        lines.append(f"{version_label(r.name, r.version)}: {state}{note}")
        for s in r.slots:
            if s.status != "unchanged":
                lines.append(f"  {s.status:<9} {s.side} {s.slot} ({s.path})")
        if r.params_changed:
            lines.append("  modified  params")
        for f in r.params_absent:  # the words of mlver diff's warning
            lines.append(f"  absent    params file {f} is absent in the workspace; its "
                         "values are taken as recorded, not compared")
        if r.params_outside_scope:
            keys = r.params_outside_scope
            lines.append("  outside the params scope: " + ", ".join(keys[:8])
                         + (f" and {len(keys) - 8} more" if len(keys) > 8 else ""))
        if r.code_changed:
            lines.append(f"  modified  code ({r.code_why or 'HEAD is another commit'})")
    return "\n".join(lines) if lines else "no versions yet"


def _node_label(n: Mapping[str, Any]) -> str:
    return version_label(n['name'], n['version'])


def lineage_text(graph: LineageGraph, direction: str) -> str:
    """An indented tree from the root record, upstream and/or downstream."""
    nodes = {n["oid"]: n for n in graph["nodes"]}
    root = graph["root"]
    lines = [f"{_node_label(nodes[root])} ({nodes[root]['kind']}) {root[:10]}"]

    def branch(oid: str, up: bool, indent: str, seen: set[str]) -> None:
        kids = [e for e in graph["edges"] if (e["to"] if up else e["from"]) == oid]
        kids.sort(key=lambda e: (nodes[e["from"] if up else e["to"]]["name"],
                                 nodes[e["from"] if up else e["to"]]["version"], e["slot"]))
        for i, e in enumerate(kids):
            other = e["from"] if up else e["to"]
            last = i == len(kids) - 1
            arrow = "<-" if up else "->"
            n = nodes[other]
            lines.append(f"{indent}{'└' if last else '├'}─ {arrow} {_node_label(n)} ({n['kind']}) "
                         f"via {e['slot']} {e['oid'][:10]}" + (" (cycle)" if other in seen else ""))
            if other not in seen:
                branch(other, up, indent + ("   " if last else "│  "), seen | {other})

    if direction in ("upstream", "both"):
        branch(root, True, "", {root})
    if direction in ("downstream", "both"):
        branch(root, False, "", {root})
    return "\n".join(lines)


def lineage_dot(graph: LineageGraph) -> str:
    """Graphviz DOT: records as boxes, edges labelled by input slot."""
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for n in graph["nodes"]:
        shape = ", style=rounded" if n["kind"] == "dataset" else ""
        bold = ", penwidth=2" if n["oid"] == graph["root"] else ""
        lines.append(f'  "{n["oid"]}" [label="{_node_label(n)}\\n{n["kind"]}"{shape}{bold}];')
    for e in graph["edges"]:
        lines.append(f'  "{e["from"]}" -> "{e["to"]}" [label="{e["slot"]}"];')
    lines.append("}")
    return "\n".join(lines)


def lineage_mermaid(graph: LineageGraph) -> str:
    """A Mermaid flowchart (renders on GitHub inside a ```mermaid block)."""
    ids = {n["oid"]: f"n{i}" for i, n in enumerate(graph["nodes"])}
    lines = ["flowchart LR"]
    for n in graph["nodes"]:
        open_, close = ("([", "])") if n["kind"] == "dataset" else ("[", "]")
        lines.append(f'  {ids[n["oid"]]}{open_}"{_node_label(n)}"{close}')
    for e in graph["edges"]:
        lines.append(f'  {ids[e["from"]]} -->|{e["slot"]}| {ids[e["to"]]}')
    return "\n".join(lines)


def import_text(result: ImportResult) -> str:
    """``mlver import-dvc``: what was walked, and the versions written per name."""
    skipped = f", {result.already:,} imported before" if result.already else ""
    lines = [f"Walked {result.walked:,} of {result.commits:,} commits of the DVC project "
             f"{result.project}{skipped} in {result.seconds:.1f} s: "
             f"{len(result.versions):,} new version{'s' if len(result.versions) != 1 else ''}"]
    per: dict[str, list[int]] = {}
    for _oid, rec in result.versions:
        per.setdefault(rec.name, []).append(rec.version)
    width = max((len(n) for n in per), default=0)
    for name, versions in sorted(per.items()):
        span = version_label(name, versions[0]) if len(versions) == 1 else \
            f"{version_label(name, versions[0])} … {version_label(name, versions[-1])}"
        lines.append(f"  {name:<{width}}  +{len(versions):<4} {span}")
    if result.missing:
        lines.append(f"{len(result.missing):,} content{'s' if len(result.missing) != 1 else ''} "
                     "missing from the DVC cache at import, recorded by md5 (mlver show marks "
                     "them; dvc fetch, then a new commit's import, brings bytes in)")
    return "\n".join(lines)


def sync_lines(r: SyncResult, verb: str) -> list[str]:
    """The lines of ``mlver push`` (``verb`` "Sent") and ``pull`` ("Fetched"): one per name,
    replayed record and tag set, then what was moved."""
    lines: list[str] = []
    for u in r.names:
        if u.status == "up to date":
            lines.append(f"{u.name}: up to date")
        elif u.status == "ahead":
            lines.append(f"{u.name}: this store is ahead of {r.remote} (push sends it)")
        elif u.status == "refused":
            lines.append(f"{u.name}: refused ({r.remote} moved since the last pull)")
        else:
            old = f"{u.old[:10]} -> " if u.old else ""
            new = u.new or ""  # set for every status but the three above
            lines.append(f"{u.name}: {u.status} {old}{new[:10]}")
    for x in r.replayed:
        lines.append(f"replayed {x.old_label} {x.old} -> {x.new_label} {x.new}")
    for t in r.tags:
        lines.append(f"tag {t} {'created' if t in r.tags_created else 'moved'}")
    m = r.moved
    # Only the chunks a side lacked travel: their count shows what dedup saved.
    chunks = (f"; {m.chunks:,} new chunk{'' if m.chunks == 1 else 's'} of big files"
              if m.chunks else "")
    lines.append(f"{verb} {m.objects:,} object{'' if m.objects == 1 else 's'} "
                 f"({human_size(m.bytes)}{chunks}) in {r.seconds:.2f} s, "
                 f"{r.requests:,} request{'' if r.requests == 1 else 's'} to {r.remote}; "
                 f"{m.present:,} already there")
    return lines


def removed_text(gone: Sequence[str]) -> str:
    """``mlver show``: the slots of a version whose data ``gc --keep-last`` removed, and
    how to bring it back."""
    from mlver.core.reach import BRING_BACK, REMOVED

    return f"{REMOVED}: {', '.join(gone)}; {BRING_BACK}"


def verify_lines(result: VerifyResult) -> list[str]:
    """The report ``mlver verify`` prints: one line a problem, then the summary."""
    return [str(p) for p in result.problems] + [result.summary()]


def diff_text(d: Diff, samples: bool = False) -> str:
    """``mlver diff``: the explanation, then (``samples``: with ``--rows N``) the sample
    added, removed and changed rows of its tables, when there are any."""
    from mlver.diff.text import samples_text

    extra = samples_text(d) if samples else ""
    return f"{d}\n{extra}" if extra else str(d)
