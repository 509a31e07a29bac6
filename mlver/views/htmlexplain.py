"""The "Why the metrics moved" section of the report (``mlver report --attribute``): the
measured attribution of :mod:`mlver.explain` as one table a metric, each changed input
group's Shapley value with its 95% interval and its share of the change.

Group names and notes come from records that may be someone else's: all escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlver.views.htmlkit import e, signed
from mlver.views.svg import fmt, pct

if TYPE_CHECKING:
    from mlver.explain.attribute import Attribution


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
