"""The verdict of a diff: its root causes upstream, and why its results changed or not.

Judged once, when :func:`mlver.diff.records.diff_records` builds the diff (and kept in
``Diff.judged``); the text explanation and the HTML report both render this value, so
they cannot come to different conclusions.
"""

from __future__ import annotations

from mlver.diff import wording
from mlver.diff.value import Cause, Diff, Verdict


def root_causes(d: Diff) -> list[Diff]:
    """The deepest upstream diffs whose inputs changed, one per branch (``[]`` when no
    upstream diff found a change: then the diff's own inputs are the deepest)."""
    def walk(x: Diff) -> list[Diff]:
        deeper = [r for s in x.inputs.values() if s.upstream is not None for r in walk(s.upstream)]
        return deeper or ([x] if x.changed else [])

    out: list[Diff] = []
    seen: set[tuple[object, object]] = set()
    for s in d.inputs.values():
        if s.upstream is not None:
            for r in walk(s.upstream):
                key = (r.old.get("oid"), r.new.get("oid"))
                if key not in seen:
                    seen.add(key)
                    out.append(r)
    return out


def _reason(d: Diff, outputs_changed: bool) -> str:
    """What it means that no recorded input changed, given what the outputs did."""
    if outputs_changed and d.unrecorded_reads and any(
            s.status in ("modified", "added") for s in d.outputs.values()):
        return ("no recorded input changed: the result is not explained by recorded "
                f"inputs; the run also read {wording.reads_phrase(d.unrecorded_reads)}")
    if outputs_changed and not d.inputs:
        return ("the record has no inputs: its outputs are the data itself, so nothing "
                "recorded upstream explains the change")
    if outputs_changed and all(s.status in ("unchanged", "moved", "removed")
                               for s in d.outputs.values()):
        return "no recorded input changed; the missing outputs were deleted or not produced yet"
    if outputs_changed:
        return ("no recorded input changed: the result is not explained by any recorded "
                "input (training is nondeterministic, or an input is not tracked)")
    return "no recorded input changed"


def _notes(d: Diff) -> list[str]:
    """Code that does not count or changed only outside its scope; params changed outside
    theirs."""
    notes = []
    code = d.code
    if code.get("counted") is False:
        new = code.get("new_commit")
        if new and code.get("old_commit") != new:
            notes.append(f"code not counted ({new[:7]}): {wording.NOT_COUNTED}")
    elif not d.changed and code.get("commits_outside_scope"):
        new = (code.get("new_commit") or "")[:7]
        notes.append(f"code unchanged ({new}): {wording.outside_code(code)}")
    outside = d.params.get("outside_scope")
    if outside and any(outside.get(k) for k in ("added", "removed", "changed")):
        notes.append(f"outside the params scope: {wording.params_line(outside)}")
    return notes


def _unchanged(d: Diff) -> list[str]:
    """The categories that did not change, with what they are (python, commit)."""
    same = [c for c in ("data", "code", "params", "env") if c not in d.changed
            and (c != "code" or d.code.get("counted") is not False)]
    if not d.changed:
        return []
    extra = []
    for c in same:
        if c == "env" and d.env["python"]["new"]:
            count = d.env["packages_count"]["new"]
            extra.append(f"env (python {d.env['python']['new']}"
                         + (f", {count} packages)" if count is not None else ")"))
        elif c == "code" and d.code.get("new_commit"):
            outside = (f"; {wording.outside_code(d.code)}"
                       if d.code.get("commits_outside_scope") else "")
            extra.append(f"code ({(d.code['new_commit'] or '')[:7]}{outside})")
        else:
            extra.append(c)
    return extra


def judge(d: Diff) -> Verdict:
    """The verdict of ``d``."""
    old, new = d.old, d.new
    return Verdict(
        old=wording.ref_label(old), new=wording.ref_label(new),
        other_names=bool(old.get("name") and new.get("name") and old["name"] != new["name"]),
        outputs=wording.outputs_line(d),
        causes=tuple(Cause(wording.ref_label(r.old), wording.ref_label(r.new),
                           wording.inputs_line(r), r) for r in root_causes(d)),
        changed=d.changed,
        reason=None if d.changed else _reason(d, _outputs_changed(d)),
        notes=tuple(_notes(d)), unchanged=tuple(_unchanged(d)),
        outputs_changed=_outputs_changed(d))


def _outputs_changed(d: Diff) -> bool:
    return any(s.status not in ("unchanged", "moved") for s in d.outputs.values())


def verdict_of(d: Diff) -> Verdict:
    """The verdict judged when ``d`` was built, or (a diff built by hand or read back from
    JSON holds none) judged now."""
    return d.judged if d.judged is not None else judge(d)
