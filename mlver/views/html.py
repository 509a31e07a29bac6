"""The HTML report of a diff: one self-contained page (inline CSS, inline SVG plots).

``render(diff, profile_of)`` builds the page from a :class:`~mlver.diff.value.Diff` and a
lookup ``profile_of(blob oid) -> profile or None`` of table profiles (those the diff
used, or the cached ones). It reads nothing else: no table data, no store. The page
loads nothing from anywhere (no script, no font, no image file: a Content-Security-Policy
in the page itself forbids it), so it can be mailed, attached to a CI run or opened
offline.

Everything shown comes from records, tables and commits that may be someone else's:
every text goes through :func:`html.escape`, and nothing from the data ever becomes an
attribute that runs code or loads anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlver.diff import wording
from mlver.diff.judge import verdict_of
from mlver.diff.value import Diff, SlotDiff
from mlver.core.record import Record
from mlver.views import htmlsections
from mlver.views.history import history_html
from mlver.views.htmlcode import Hunks, hunks_html
from mlver.views.htmlkit import CSS, ProfileOf, csp, cut, e, signed, size
from mlver.views.htmltables import Tables

if TYPE_CHECKING:
    from mlver.explain.attribute import Attribution

__all__ = ["CSS", "csp", "e", "render"]  # csp: the UI serves the page under the same policy

LIST_LIMIT = 10  # paths of a folder diff shown per kind (the diff keeps 10)


class _Page:
    """Builds the page's body; keeps the ids it gave out unique."""

    def __init__(self, profile_of: ProfileOf | None, top: Diff) -> None:
        self.tables = Tables(profile_of)
        self.top = top  # the diff of the page (its input sections get anchors)

    # -- the top -------------------------------------------------------------------------------

    def verdict(self, d: Diff) -> str:
        """What changed in the results and why, as the text diff says it: the outputs and
        the changed metrics (with deltas), the root cause found upstream, then one line
        per changed input category (each linking to its section); the text itself below."""
        v = verdict_of(d)
        out = ['<section id="verdict" aria-label="verdict">',
               f'<div class="vhead">{e(wording.headline(v.old, v.new, v.other_names))}</div>']
        outs = [s for s in d.outputs.values() if s.status != "unchanged"]
        if outs:
            out.append('<div class="vrow"><span class="vk">outputs</span><span>'
                       + "; ".join(_output_brief(s) for s in outs) + "</span></div>")
        metrics = wording.changed_metrics(d.metrics)
        if metrics:
            out.append('<div class="vrow"><span class="vk">metrics</span><span>'
                       + "".join(f'<span class="chip">{e(k)} '
                                 f'{e(" → ".join(wording.metric_pair(m["old"], m["new"])))}'
                                 + (f' <b>({signed(m["delta"])})</b>' if m["delta"] else "")
                                 + "</span>" for k, m in metrics) + "</span></div>")
        if not outs and not metrics:
            out.append('<div class="vrow"><span class="vk">outputs</span>'
                       "<span>unchanged</span></div>")
        for c in v.causes[:wording.ROOT_CAUSES]:
            out.append('<div class="vrow cause"><span class="vk">root cause</span><span>'
                       f"<strong>{e(c.old)} → {e(c.new)}</strong>: "
                       f"{e(cut(c.summary))}</span></div>")
        why = []
        for category in v.changed:
            if category == "data":
                for s in d.inputs.values():
                    if s.status != "unchanged":
                        why.append(f'<li><a href="#in-{e(_anchor(s.slot))}">data</a> '
                                   f"<code>{e(s.slot)}</code> ({e(wording.where(s))}): "
                                   f"{e(_data_brief(s))}</li>")
            elif category == "code":
                why.append(f'<li><a href="#code">code</a> '
                           f"{e(cut(wording.code_line(d.code)))}</li>")
            elif category in ("params", "env"):
                why.append(f'<li><a href="#{category}">{category}</a> '
                           f"{e(wording.category_line(d, category))}</li>")
        if why:
            out.append('<div class="vrow"><span class="vk">because</span><ul>'
                       + "".join(why) + "</ul></div>")
        else:
            out.append('<div class="vrow"><span class="vk">because</span><span>'
                       f'{e(v.reason or "no recorded input changed")}</span></div>')
        if v.unchanged:
            out.append('<div class="vrow muted"><span class="vk"></span><span>'
                       f"{e(wording.unchanged_line(v.unchanged))}</span></div>")
        out.append('<details class="astext"><summary>as text (<code>mlver diff</code>)'
                   '</summary><div class="text">'
                   + "".join(f'<div class="vline">{e(line)}</div>' for line in d.verdict)
                   + "</div></details></section>")
        return "".join(out)

    def outputs_and_metrics(self, d: Diff) -> str:
        """The outputs table, the metrics table, then the changed tables and folders."""
        out = ['<h2 id="outputs">Outputs and metrics</h2>']
        if d.outputs:
            out.append("<table><tr><th>output</th><th>path</th><th>status</th>"
                       '<th class="num">old size</th><th class="num">new size</th></tr>')
            for s in d.outputs.values():
                out.append(f'<tr{" class=changed" if s.status != "unchanged" else ""}>'
                           f"<td>{e(s.slot)}</td><td><code>{e(wording.where(s))}</code></td>"
                           f"<td>{e(s.status)}</td><td class=num>{size(s.old_size)}</td>"
                           f"<td class=num>{size(s.new_size)}</td></tr>")
            out.append("</table>")
        else:
            out.append('<p class="muted">no outputs recorded</p>')
        if d.metrics:
            out.append('<table id="metrics"><tr><th>metric</th><th class="num">old</th>'
                       '<th class="num">new</th><th class="num">delta</th></tr>')
            for k, m in sorted(d.metrics.items(), key=lambda kv: not kv[1]["changed"]):
                a, b = wording.metric_pair(m["old"], m["new"])
                out.append(f'<tr{" class=changed" if m["changed"] else ""}><td>{e(k)}</td>'
                           f"<td class=num>{e(a)}</td><td class=num>{e(b)}</td>"
                           f'<td class=num>{signed(m["delta"]) if m["changed"] else ""}</td>'
                           "</tr>")
            out.append("</table>")
        for s in d.outputs.values():
            if s.status == "modified" and (s.table is not None or s.files is not None):
                out.append(self.slot(s, d, "output"))
        return "".join(out)

    # -- slots ---------------------------------------------------------------------------------

    def slot(self, s: SlotDiff, d: Diff, side: str) -> str:
        """A changed slot: sizes and oids, its note, its table or folder diff, upstream."""
        anchor = f' id="in-{e(_anchor(s.slot))}"' if side == "data" and d is self.top else ""
        out = [f'<div class="slot"{anchor} data-slot="{e(s.slot)}">'
               f"<h3>{e(side)} <code>{e(s.slot)}</code> <span class=muted>"
               f"{e(wording.where(s))}</span>"
               f"<span class=\"badge {e(s.status)}\">{e(s.status)}</span>"
               "</h3>"]
        if s.status in ("modified", "moved", "added", "removed"):
            out.append(f'<p class="sub">{size(s.old_size)} → {size(s.new_size)}; '
                       f'{e(s.type or "")} {e((s.old or "")[:10])} → {e((s.new or "")[:10])}'
                       "</p>")
        if s.note:
            out.append(f'<p class="note">note: {e(s.note)}</p>')
        if s.table is not None:
            out.append(self.tables.table(s.table, s.old, s.new, d))
        if s.files is not None:
            out.append(self.folder(s, d))
        if s.status == "modified" and s.table is None and s.files is None and not s.note:
            out.append('<p class="muted">content changed; compared by oid only (not a '
                       "table or folder)</p>")
        if s.upstream is not None:
            out.append(self.upstream(s.upstream))
        out.append("</div>")
        return "".join(out)

    def folder(self, s: SlotDiff, d: Diff) -> str:
        """A folder diff: counts, the paths of each kind, then its tables."""
        f = s.files
        assert f is not None  # only called for a slot with a folder diff
        c = f.counts
        out = ["<h4>Files</h4><table><tr>"
               + "".join(f'<th class="num">{k}</th>' for k in ("added", "removed", "modified",
                                                               "renamed"))
               + "</tr><tr>"
               + "".join(f'<td class="num">{c.get(k, 0):,}</td>' for k in
                         ("added", "removed", "modified", "renamed"))
               + "</tr></table>"]
        for kind, paths in (("added", f.added), ("removed", f.removed),
                            ("modified", f.modified)):
            if paths:
                more = c.get(kind, len(paths)) - len(paths)
                out.append(f"<details{' open' if len(paths) <= 5 else ''}><summary>{kind} "
                           f"({c.get(kind, len(paths)):,})</summary><ul class=paths>"
                           + "".join(f"<li><code>{e(p)}</code></li>" for p in paths[:LIST_LIMIT])
                           + (f"<li class=muted>+{more:,} more</li>" if more > 0 else "")
                           + "</ul></details>")
        if f.renamed:
            out.append(f"<details><summary>renamed ({c.get('renamed', len(f.renamed)):,})"
                       "</summary><ul class=paths>"
                       + "".join(f"<li><code>{e(a)}</code> → <code>{e(b)}</code></li>"
                                 for a, b in f.renamed[:LIST_LIMIT])
                       + (f"<li class=muted>+{f.more()['renamed']:,} more</li>"
                          if f.more()["renamed"] else "") + "</ul></details>")
        oids = {p: (a, b) for p, a, b in getattr(f, "modified_oids", ())}
        for path, t in s.tables.items():
            a, b = oids.get(path, (None, None))
            out.append(f"<h4>Table <code>{e(path)}</code></h4>")
            out.append(self.tables.table(t, a, b, d))
        return "".join(out)

    # -- code, params, env, upstream -------------------------------------------------------------
    def upstream(self, u: Diff, level: int = 1) -> str:
        """The diff of the two records that made an input's old and new content: their own
        changed inputs (and theirs, one level deeper each), code, params and env."""
        out = [f'<details class="upstream" open data-level="{level}"><summary>'
               f"← <strong>{e(wording.ref_label(u.old))} → "
               f"{e(wording.ref_label(u.new))}</strong>: "
               f"{e(_level_text(u))}</summary>"]
        changed = [s for s in u.inputs.values() if s.status != "unchanged"]
        if not u.inputs:
            out.append('<p class="muted">no inputs: its outputs are the data itself</p>')
        for s in changed:
            out.append(self.slot(s, u, "data"))
        if "code" in u.changed:
            out.append("<h4>Code</h4>" + htmlsections.code(u.code))
        if "params" in u.changed:
            out.append("<h4>Params</h4>" + htmlsections.params(u.params))
        if "env" in u.changed:
            out.append("<h4>Env</h4>" + htmlsections.env(u.env))
        out.append("</details>")
        return "".join(out)


def _level_text(u: Diff) -> str:
    return cut(wording.inputs_line(u), 300)


def _anchor(slot: str) -> str:
    """An id for a slot's section (any text; escaped where it is written)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in slot)


def _output_brief(s: SlotDiff) -> str:
    name = (s.path or s.slot).rsplit("/", 1)[-1]
    if s.status == "modified":
        return f"<code>{e(name)}</code> changed ({e(wording.sizes(s)).replace(' -&gt; ', ' → ')})"
    if s.status == "moved":
        return f"<code>{e(name)}</code> moved from <code>{e(s.old_path or '?')}</code>"
    return f"<code>{e(name)}</code> {e(s.status)}"


def _data_brief(s: SlotDiff) -> str:
    """A changed input in a few words: rows, the label, the drifted columns."""
    if s.status in ("added", "removed", "moved"):
        return wording.slot_line(s).split(": ", 1)[-1]
    tables = ([s.table] if s.table is not None else []) + list(s.tables.values())
    bits = []
    if s.files is not None:
        bits.append(s.files.summary(wording.folder_prefix(s.path)))
    for t in tables[:3]:
        parts = [f"+{t.rows_added:,} rows, -{t.rows_removed:,}"
                 + (f", {t.rows_changed:,} changed" if t.rows_changed is not None else "")]
        label = next((x for x in t.drift if x.target), None)
        if label is not None:
            parts.insert(0, f"label {label.column!r} "
                            + ("drifted" if label.drifted else "stable" if label.level ==
                               "stable" else label.level or "")
                            + (f" ({label.figure_text()})" if label.figure_text() else ""))
        drifted = [x.column for x in t.drift if x.drifted and not x.target]
        if drifted:
            names = ", ".join(repr(c) for c in drifted[:5])
            more = f" and {len(drifted) - 5} more" if len(drifted) > 5 else ""
            parts.append(f"{len(drifted)} column{'s' if len(drifted) != 1 else ''} drifted: "
                         f"{names}{more}")
        n_schema = len(t.columns_added) + len(t.columns_removed) + len(t.columns_renamed)
        if n_schema:
            parts.append(f"{n_schema} schema change{'s' if n_schema != 1 else ''}")
        bits.append("; ".join(parts))
    if not bits:
        bits.append(wording.size_change(s))
    if s.note:
        bits.append(f"note: {s.note}")
    return cut("; ".join(bits))


def sections(d: Diff, profile_of: ProfileOf | None, back: tuple[str, str] | None = None,
             links: dict[str, str] | None = None, hunks: Hunks | None = None,
             history: list[Record] | None = None, attribution: Attribution | None = None
             ) -> tuple[str, list[str], int]:
    """The page's title, the HTML of its sections (header to the last one, no footer) and
    the number of plots drawn: what :func:`render` wraps in a page, and a notebook in a
    ``<div>`` (:mod:`mlver.views.notebook`). ``profile_of`` None: no plots at all;
    ``hunks``: the code hunks (:mod:`mlver.views.htmlcode`); ``history``: the records of the
    new version's name (a chart per metric); ``attribution``: what ``mlver explain``
    measured."""
    page = _Page(profile_of, d)
    old, new = wording.ref_label(d.old), wording.ref_label(d.new)
    title = f"{old} → {new}"
    heading = e(title)
    if links and d.old.get("oid") and d.new.get("oid"):
        heading = (f'<a href="{e(links["old"])}">{e(old)}</a> → '
                   f'<a href="{e(links["new"])}">{e(new)}</a>')
    nav = f'<nav><a href="{e(back[0])}">← {e(back[1])}</a></nav>' if back else ""
    body = [f"<header>{nav}<div class=sub>mlver report</div><h1>{heading}</h1>"
            f'<div class="sub mono">{e((d.old.get("oid") or "")[:12])} → '
            f'{e((d.new.get("oid") or "workspace")[:12])}</div></header>',
            page.verdict(d), page.outputs_and_metrics(d)]
    if attribution is not None:
        from mlver.views.htmlsections import attribution_html

        body.append('<h2 id="attribution">Why the metrics moved (measured by replay)</h2>'
                    + attribution_html(attribution))
    if history is not None:
        name = str(d.new.get("name") or d.old.get("name") or "")
        marked = [v for r in (d.old, d.new)
                  if r.get("name") == name and isinstance(v := r.get("version"), int)]
        body.append(f'<h2 id="history">Metric history of {e(name)}</h2>'
                    + history_html(name, history, marked))
    body.append('<h2 id="inputs">Inputs</h2>')
    changed = [s for s in d.inputs.values() if s.status != "unchanged"]
    same = [s for s in d.inputs.values() if s.status == "unchanged"]
    for s in changed:
        body.append(page.slot(s, d, "data"))
    if not changed:
        body.append('<p class="muted">no input data changed</p>')
    if same:
        body.append('<p class="sub">unchanged: ' + ", ".join(
            f"<code>{e(s.slot)}</code> ({e(s.path)})" for s in same) + "</p>")
    body.append('<h2 id="code">Code</h2>'
                + ("" if "code" in d.changed else '<p class="muted">code unchanged</p>')
                + htmlsections.code(d.code) + hunks_html(hunks))
    body.append('<h2 id="params">Params</h2>' + htmlsections.params(d.params))
    body.append('<h2 id="env">Environment</h2>'
                + ("" if "env" in d.changed else '<p class="muted">environment unchanged</p>')
                + htmlsections.env(d.env))
    if d.unrecorded_reads:
        body.append('<h2 id="unrecorded">Read but not recorded</h2><ul>'
                    + "".join(f"<li><code>{e(p)}</code></li>" for p in d.unrecorded_reads)
                    + "</ul>")
    return title, body, page.tables.plots


def render(d: Diff, profile_of: ProfileOf, *, generated: str | None = None,
           version: str | None = None, back: tuple[str, str] | None = None,
           links: dict[str, str] | None = None, hunks: Hunks | None = None,
           history: list[Record] | None = None, attribution: Attribution | None = None
           ) -> str:
    """The whole page for diff ``d``; plots come from ``profile_of(blob oid)``. ``back``
    (href, text) adds a link above the title, ``links`` ({"old", "new"}: href) makes the
    two versions in the title links (the UI serves the page so); the rest as
    :func:`sections`."""
    title, body, plots = sections(d, profile_of, back, links, hunks, history, attribution)
    made = " ".join(x for x in (f"mlver {version}" if version else None,
                                f"on {generated}" if generated else None) if x)
    body.append(f"<footer>Made by {e(made or 'mlver')} from the diff and the cached table "
                "profiles (plots read no table data). Self-contained: this page loads "
                "nothing.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{e(csp())}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="mlver">'
            f"<title>mlver diff {e(title)}</title><style>{CSS}</style></head>"
            f'<body><main data-plots="{plots}">' + "".join(body)
            + "</main></body></html>\n")
