"""The code, params and env sections of the HTML report, and the measured attribution
(``mlver report --attribute``): one table a metric, each changed input group's Shapley
value with its 95% interval and its share of the change."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from mlver.diff.changes import CodeChange, EnvChange, ParamsChange
from mlver.views.htmlkit import e, signed, value
from mlver.views.svg import fmt, pct

if TYPE_CHECKING:
    from mlver.explain.attribute import Attribution


def code(c: CodeChange) -> str:
    """The code section: commits, scope, files, uncommitted changes."""
    if not c:
        return ""
    old, new = (c.get("old_commit") or "")[:10], (c.get("new_commit") or "")[:10]
    out = [f'<p>commits <code>{e(old or "none")}</code> → <code>{e(new or "none")}</code>'
           + ("" if c.get("commits_known", True) else " <span class=note>(history not "
              "known locally)</span>") + "</p>"]
    scope = c.get("scope")
    out.append(f'<p class="sub">code scope: '
               f'{e(", ".join(scope)) if scope else "the whole repository"}</p>')
    if c.get("commits"):
        out.append('<table class="commits"><tr><th>commit</th><th>author</th>'
                   "<th>summary</th></tr>"
                   + "".join(f"<tr><td><code>{e(x.get('sha', '')[:10])}</code></td>"
                             f"<td>{e(x.get('author', ''))}</td>"
                             f"<td>{e(x.get('summary', ''))}</td></tr>"
                             for x in c["commits"] or ()) + "</table>")
    if c.get("files"):
        out.append('<table class="files"><tr><th>file</th><th class="num">added</th>'
                   '<th class="num">removed</th></tr>'
                   + "".join(f"<tr><td><code>{e(f['path'])}</code></td>"
                             f"<td class=num>+{e(_q(f.get('added')))}</td>"
                             f"<td class=num>-{e(_q(f.get('removed')))}</td></tr>"
                             for f in c["files"]) + "</table>")
    if c.get("patch_changed"):
        out.append("<p>uncommitted changes differ in "
                   + ", ".join(f"<code>{e(p)}</code>" for p in c.get("patch_files", []))
                   + "</p>")
    if c.get("commits_outside_scope"):
        n = c["commits_outside_scope"]
        out.append(f'<p class="sub">{n} commit{"s" if n != 1 else ""} outside the code '
                   "scope</p>")
    return "".join(out)

def params(p: ParamsChange) -> str:
    """The params section: one row a changed, added or removed param."""
    rows = [(k, v["old"], v["new"], "changed") for k, v in p.get("changed", {}).items()]
    rows += [(k, None, v, "added") for k, v in p.get("added", {}).items()]
    rows += [(k, v, None, "removed") for k, v in p.get("removed", {}).items()]
    if not rows:
        return '<p class="muted">params unchanged</p>'
    return ('<table class="params"><tr><th>param</th><th>old</th><th>new</th><th></th></tr>'
            + "".join(f"<tr><td><code>{e(k)}</code></td>"
                      f"<td>{'' if kind == 'added' else value(a)}</td>"
                      f"<td>{'' if kind == 'removed' else value(b)}</td><td>{kind}</td></tr>"
                      for k, a, b, kind in rows) + "</table>")

def env(en: EnvChange) -> str:
    """The env section: python, platform, package count, then the packages."""
    if not en:
        return ""
    out = ['<table class="env">']
    for k in ("python", "implementation", "platform", "packages_count"):
        v = cast("dict[str, object]", en.get(k) or {})
        cls = " class=changed" if v.get("old") != v.get("new") else ""
        out.append(f"<tr{cls}><th>{e(k.replace('_', ' '))}</th><td>{value(v.get('old'))}</td>"
                   f"<td>→</td><td>{value(v.get('new'))}</td></tr>")
    out.append("</table>")
    pk = en.get("packages") or {}
    rows: list[tuple[str, str | None, str | None, str]] = [
        (u["name"], u["old"], u["new"], "upgraded") for u in pk.get("upgraded", [])]
    rows += [(u["name"], u["old"], u["new"], "downgraded") for u in pk.get("downgraded", [])]
    rows += [(*_pkg(x), "added") for x in pk.get("added", [])]
    rows += [(*_pkg(x, old=True), "removed") for x in pk.get("removed", [])]
    if rows:
        out.append(f"<details{' open' if len(rows) <= 12 else ''}><summary>packages: "
                   f"{len(rows)} changed</summary>"
                   '<table class="packages"><tr><th>package</th><th>old</th><th>new</th>'
                   "<th></th></tr>"
                   + "".join(f"<tr><td>{e(n)}</td><td>{e(a or '')}</td><td>{e(b or '')}</td>"
                             f"<td>{kind}</td></tr>" for n, a, b, kind in rows)
                   + "</table></details>")
    return "".join(out)


def _q(v: Any) -> str:
    return "?" if v is None else str(v)


def _pkg(text: str, old: bool = False) -> tuple[str, str | None, str | None]:
    name, _, version = str(text).partition("==")
    return (name, version, None) if old else (name, None, version)


def attribution_html(att: Attribution) -> str:
    """The section's body: how it was measured, then a table a metric."""
    runs = len(att.runs)
    out = [f'<p class="sub">measured by replaying the recorded command ({runs:,} '
           f'replay{"s" if runs != 1 else ""}, {e(att.method)}'
           + (f", {att.orders} orders sampled" if att.orders else "")
           + f", {att.repeats} repeats of each version for the noise)</p>"]
    if att.env_differs:
        out.append('<p class="note">the environments differ: the replays ran in this one</p>')
    for note in att.notes:
        out.append(f'<p class="note">{e(note)}</p>')
    if att.not_replayed:
        out.append('<p class="sub">not swapped by the replays: '
                   + ", ".join(f"<code>{e(x)}</code>" for x in att.not_replayed) + "</p>")
    if not att.metrics:
        out.append('<p class="muted">no numeric metric changed</p>')
    for m in att.metrics:
        out.append(f'<h3 data-metric="{e(m.metric)}"><code>{e(m.metric)}</code> '
                   f"{e(fmt(m.old))} → {e(fmt(m.new))} <span class=muted>"
                   f"(replayed {e(fmt(m.replayed_old))} → {e(fmt(m.replayed_new))}, noise "
                   f"±{e(fmt(m.noise_floor))})</span></h3>")
        out.append('<table class="attribution"><tr><th>input group</th><th>kind</th>'
                   '<th class="num">effect</th><th class="num">95% interval</th>'
                   '<th class="num">share</th><th></th></tr>')
        for s in m.shares:
            lo, hi = s.interval
            out.append(f'<tr{" class=changed" if not s.within_noise else ""} '
                       f'data-group="{e(s.group)}"><td><code>{e(s.group)}</code></td>'
                       f"<td>{e(s.kind)}</td><td class=num>{signed(s.value) or '0'}</td>"
                       f"<td class=num>{e(fmt(lo))} … {e(fmt(hi))}</td>"
                       f"<td class=num>{e(pct(s.share)) if s.share is not None else ''}</td>"
                       f"<td>{'within noise' if s.within_noise else ''}</td></tr>")
        out.append(f'<tr class="residual"><td>residual</td><td></td><td class=num>'
                   f"{signed(m.residual) or '0'}</td><td></td><td></td>"
                   f"<td>{'within noise' if m.residual_within_noise else ''}</td></tr>"
                   "</table>")
    return "".join(out)
