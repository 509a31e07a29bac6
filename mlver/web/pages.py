"""The HTML pages of ``mlver ui`` (the versions table, a record, a lineage graph), as text:
every value shown may come from someone else's store and is escaped."""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping
from html import escape
from typing import Any
from urllib.parse import urlencode

from mlver import Artifact, Record
from mlver.base.fmt import fmt_value, human_size
from mlver.core.params import flatten
from mlver.views.history import history_html
from mlver.web.dag import lineage_svg
from mlver.web.filter import is_number
from mlver.web.pool import Row
from mlver.web.rows import BASE_COLUMNS, cell
from mlver.base.fmt import version_label

PAGE_SIZE = 100          # rows of the versions table per page
MAX_PAGE_SIZE = 1000
MAX_COLUMNS = 60         # params.* (and metrics.*) columns shown at most
MAX_NODES = 300          # a lineage graph with more nodes is drawn with a smaller depth


def e(value: Any) -> str:
    """``value`` as escaped HTML text."""
    return escape(str(value), quote=True)


def shell(title: str, body: str, notices: list[str], root: str) -> str:
    """A whole page: the top bar (naming the store served), the notices, then ``body``."""
    shown = "".join(f'<div class="notice">{e(n)}</div>' for n in notices)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)} · mlver</title>"
            '<link rel="stylesheet" href="/static/ui.css"></head><body>'
            '<nav class="top"><a class="brand" href="/versions">mlver</a>'
            '<a href="/versions">Versions</a>'
            f'<span class="root" title="{e(root)}">{e(root)} · read-only</span></nav>'
            f"<main>{shown}{body}</main>"
            '<script src="/static/ui.js"></script></body></html>\n')


def _qs(**kw: Any) -> str:
    """A query string of the arguments that have a value."""
    return "?" + urlencode({k: v for k, v in kw.items() if v not in (None, "")})


def versions_page(rows: list[Row], q: str, sort: str, desc: bool, page: int, n: int,
                  params: list[str], metrics: list[str]) -> str:
    """/versions: the filter box, page ``page`` of ``rows`` (``n`` a page) with their
    ``params``/``metrics`` columns, and the form that diffs two ticked rows."""
    total = len(rows)
    pages = max(1, math.ceil(total / n))
    page = min(page, pages)
    shown = rows[(page - 1) * n: page * n]
    more = ""
    if len(params) > MAX_COLUMNS or len(metrics) > MAX_COLUMNS:
        more = (f'<p class="sub">{len(params):,} params and {len(metrics):,} metrics columns; '
                f"the first {MAX_COLUMNS} of each are shown (filter to narrow them)</p>")
    columns = ["version", *BASE_COLUMNS[1:], *metrics[:MAX_COLUMNS], *params[:MAX_COLUMNS]]

    def head(col: str) -> str:
        on = col == sort
        nxt = "0" if on and desc else "1" if on else ("1" if col == "created" else "0")
        arrow = (" ▼" if desc else " ▲") if on else ""
        aria = f' aria-sort="{"descending" if desc else "ascending"}"' if on else ""
        cls = (' class="num grp-metrics"' if col.startswith("metrics.") else
               ' class="grp-params"' if col.startswith("params.") else "")
        label = col.split(".", 1)[1] if "." in col else col
        group = col.split(".", 1)[0] if "." in col else ""
        return (f'<th{aria}{cls} data-col="{e(col)}"><a class="sort" '
                f'href="{e(_qs(q=q, sort=col, desc=nxt, n=n if n != PAGE_SIZE else None))}" '
                f'title="sort by {e(col)}">'
                + (f'<span class="grp">{e(group)}.</span>' if group else "")
                + f"{e(label)}{arrow}</a></th>")

    out = ['<h1>Versions</h1>',
           '<form class="filter" method="get" action="/versions">'
           f'<input type="search" name="q" value="{e(q)}" size="60" '
           'placeholder="filter: price-model, metrics.rmse &lt; 30 and params.lr = 0.1, '
           'status = failed" aria-label="filter">'
           f'<input type="hidden" name="sort" value="{e(sort)}">'
           f'<input type="hidden" name="desc" value="{"1" if desc else "0"}">'
           '<button type="submit">Filter</button>'
           + (f' <a href="{e(_qs(sort=sort, desc="1" if desc else "0"))}">clear</a>' if q else "")
           + "</form>", more,
           '<form id="pick" method="get" action="/diff">'
           f'<div class="bar"><span class="count">{total:,} version{"s" if total != 1 else ""}'
           + (" matching" if q else "")
           + (f", {(page - 1) * n + 1:,}–{min(page * n, total):,} shown" if total > n else "")
           + '</span><button type="submit" id="diff-btn">Diff the two ticked versions</button>'
           "</div>"
           '<div class="scroll"><table id="versions" class="grid"><thead><tr><th></th>'
           + "".join(head(c) for c in columns) + "</tr></thead><tbody>"]
    for r in shown:
        oid = r["oid"]
        cells = [f'<td><input type="checkbox" name="r" value="{e(oid)}" '
                 f'aria-label="select {e(r["name"])}@{e(r["version"])}"></td>']
        for c in columns:
            v = r.get(c)
            if c == "version":
                cells.append(f'<td class="ver"><a href="/record/{e(oid)}">{e(r["name"])}@'
                             f'{e(r["version"])}</a></td>')
            elif c == "status":
                failed = v == "failed"
                text = f"FAILED (exit {r.get('exit_code')})" if failed else "ok"
                cells.append(f'<td class="{"failed" if failed else "ok"}">{e(text)}</td>')
            elif c == "created":
                cells.append(f'<td class="mono" title="{e(v or "")}">'
                             f'{e((v or "")[:16].replace("T", " "))}</td>')
            elif c == "commit":
                cells.append(f'<td class="mono">{e(v or "")}</td>')
            elif c == "message":
                text = v or ""
                cut = text if len(text) <= 60 else text[:59] + "…"
                cells.append(f'<td title="{e(text)}">{e(cut)}</td>')
            elif c == "tags":
                cells.append("<td>" + " ".join(f'<span class="tag">{e(t)}</span>'
                                               for t in (v or [])) + "</td>")
            else:
                cls = ' class="num"' if is_number(v) else ""
                cells.append(f"<td{cls}>{e(cell(v))}</td>")
        out.append(f'<tr data-oid="{e(oid)}">' + "".join(cells) + "</tr>")
    if not shown:
        out.append(f'<tr><td colspan="{len(columns) + 1}" class="sub">no versions'
                   + (" match the filter" if q else " yet") + "</td></tr>")
    out.append("</tbody></table></div></form>")
    if pages > 1:
        def link(p: int, text: str) -> str:
            there = _qs(q=q, sort=sort, desc="1" if desc else "0", page=p,
                        n=n if n != PAGE_SIZE else None)
            return f'<a href="{e(there)}">{text}</a>'
        out.append('<div class="pager">'
                   + (link(page - 1, "← previous") if page > 1 else "")
                   + f" page {page} of {pages} "
                   + (link(page + 1, "next →") if page < pages else "") + "</div>")
    return "".join(out)


def _kv_table(values: dict[str, Any], cls: str) -> str:
    flat = flatten(values)
    if not flat:
        return '<p class="sub">none</p>'
    return (f'<table class="{cls}">' + "".join(
        f"<tr><th><code>{e(k)}</code></th><td>{e(fmt_value(v))}</td></tr>"
        for k, v in flat.items()) + "</table>")


def _download(oid: str, side: str, slot: str, path: str | None = None) -> str:
    """The URL downloading a slot's file (or ``path`` in a folder slot) of record oid."""
    return f"/download/{oid}" + _qs(side=side, slot=slot, path=path)


def _slots_table(arts: Mapping[str, Artifact],
                 made_by: dict[str, tuple[str, str]] | None = None, oid: str = "",
                 side: str = "", listings: dict[str, tuple[list[str], bool]] | None = None
                 ) -> str:
    """The slots of one side; with the record's ``oid``, a download link for each file
    slot, and for a folder slot the files ``listings`` names (with "more" when cut)."""
    if not arts:
        return '<p class="sub">none</p>'
    rows = []
    for slot, a in arts.items():
        files = f"{a.files:,} files" if a.type == "tree" else ""
        src = (f' <a href="/record/{e(a.source)}">from {e(a.source[:10])}</a>'
               if a.source else "")
        by = (made_by or {}).get(slot)
        if by and not a.source:
            by_oid, by_label = by
            src = f'made by <a href="/record/{e(by_oid)}">{e(by_label)}</a>'

        get = ""
        if oid and a.type == "blob" and not a.missing:
            get = (f'<a class="download" download href="{e(_download(oid, side, slot))}">'
                   "download</a>")
        listed, more = (listings or {}).get(slot, ([], False))
        if oid and listed:
            get = (f"<details><summary>{len(listed)}{'+' if more else ''} files</summary>"
                   '<ul class="files">' + "".join(
                       f'<li><a class="download" download href="'
                       f'{e(_download(oid, side, slot, p))}"><code>{e(p)}</code></a></li>'
                       for p in listed)
                   + ("<li class=sub>… more (check it out to see all)</li>" if more else "")
                   + "</ul></details>")
        rows.append(f"<tr><td><code>{e(slot)}</code></td><td><code>{e(a.path)}</code></td>"
                    f"<td>{e(a.type)}</td><td class=num>{e(human_size(a.size))}</td>"
                    f"<td class=num>{e(files)}</td><td class=mono>{e(a.oid[:12])}</td>"
                    f"<td>{src}</td><td>{get}</td></tr>")
    return ('<div class="scroll"><table class="slots"><tr><th>slot</th><th>path</th>'
            '<th>type</th><th class="num">size</th><th class="num">files</th><th>oid</th>'
            "<th></th><th></th></tr>" + "".join(rows) + "</table></div>")


def record_page(oid: str, rec: Record, tags: list[str], siblings: list[tuple[str, int]],
                gone: list[str], made_by: dict[str, tuple[str, str]] | None = None,
                history: list[Record] | None = None,
                listings: dict[str, dict[str, tuple[list[str], bool]]] | None = None) -> str:
    """/record/OID: everything a record holds; ``made_by`` names, per input slot, the
    version that made that content; ``history``: the records of its name (a chart per
    metric); ``listings``: side -> folder slot -> its files listed for download."""
    parent = rec.parents[0] if rec.parents else None
    failed = rec.status == "failed"
    out = [f'<h1>{e(rec.label)} <span class="kind {e(rec.kind)}">{e(rec.kind)}</span>'
           + (' <span class="failed-badge">FAILED</span>' if failed else "") + "</h1>",
           f'<p class="sub mono">{e(oid)}</p>',
           '<p class="links">'
           f'<a href="/lineage/{e(oid)}">lineage</a>'
           + (f' · <a href="/diff?{e(urlencode({"a": parent, "b": oid}))}">diff with the '
              "previous version</a>" if parent else "")
           + (f' · <a href="/record/{e(parent)}">previous version</a>' if parent else "")
           + "</p>",
           '<table class="meta">',
           f"<tr><th>created</th><td>{e(rec.created)}</td></tr>"]
    if rec.author:
        out.append(f"<tr><th>author</th><td>{e(rec.author)}</td></tr>")
    if rec.message:
        out.append(f"<tr><th>message</th><td>{e(rec.message)}</td></tr>")
    out.append("<tr><th>tags</th><td>" + (" ".join(f'<span class="tag">{e(t)}</span>'
                                                   for t in tags) or "none") + "</td></tr>")
    out.append("</table>")
    if gone:
        out.append(f'<p class="notice">the data of {e(", ".join(gone))} was removed by '
                   "mlver gc --keep-last</p>")
    if rec.run is not None:
        r = rec.run
        cmd = shlex.join(r.command)  # as mlver show: quoted, its lines kept (notebook cells)
        out.append('<h2>Command</h2><table class="meta">'
                   f'<tr><th>command</th><td><code class="cmd">{e(cmd)}</code></td></tr>'
                   f'<tr><th>exit code</th><td class="{"failed" if r.exit_code else "ok"}">'
                   f"{e(r.exit_code)}</td></tr>"
                   f"<tr><th>started</th><td>{e(r.started)}</td></tr>"
                   f"<tr><th>duration</th><td>{r.duration_s:.1f} s</td></tr>")
        if r.trace is not None:
            t = r.trace
            out.append("<tr><th>traced</th><td>"
                       + (e("yes") if t.traced else e(f"no ({t.note or 'not traced'})"))
                       + "</td></tr>")
            if t.unrecorded:
                out.append("<tr><th>read, not recorded</th><td>"
                           + ", ".join(f"<code>{e(p)}</code>" for p in t.unrecorded[:20])
                           + "</td></tr>")
        out.append("</table>")
    lists = listings or {}
    out.append("<h2>Inputs</h2>" + _slots_table(rec.inputs, made_by, oid, "inputs",
                                                lists.get("inputs")))
    out.append("<h2>Outputs</h2>" + _slots_table(rec.outputs, None, oid, "outputs",
                                                 lists.get("outputs")))
    c = rec.code
    out.append("<h2>Code</h2>")
    if c.commit:
        scope = ("the whole repository" if c.scope is None
                 else f"{c.scope.origin}: " + ", ".join(c.scope.paths))
        out.append('<table class="meta">'
                   f'<tr><th>commit</th><td class="mono">{e(c.commit)}</td></tr>'
                   f"<tr><th>branch</th><td>{e(c.branch or '-')}</td></tr>"
                   + (f"<tr><th>remote</th><td>{e(c.remote)}</td></tr>" if c.remote else "")
                   + f"<tr><th>uncommitted changes</th><td>{'yes' if c.dirty else 'no'}</td></tr>"
                   + f"<tr><th>code scope</th><td>{e(scope)}</td></tr>"
                   + ("<tr><th>untracked</th><td>" + e(", ".join(c.untracked[:20])) + "</td></tr>"
                      if c.untracked else "") + "</table>")
    else:
        out.append('<p class="sub">no git commit recorded</p>')
    out.append("<h2>Params</h2>" + _kv_table(rec.params, "params"))
    out.append("<h2>Metrics</h2>" + _kv_table(rec.metrics, "metrics"))
    en = rec.env
    out.append("<h2>Environment</h2>")
    if en.python:
        out.append('<table class="meta">'
                   f"<tr><th>python</th><td>{e(en.implementation or '')} {e(en.python)}</td></tr>"
                   f"<tr><th>platform</th><td>{e(en.platform or '')}</td></tr>"
                   f"<tr><th>packages</th><td>{en.packages_count:,}</td></tr></table>")
    else:
        out.append('<p class="sub">not recorded</p>')
    if history is not None:
        out.append(f'<h2 id="history">Metric history of <a href="/name{_qs(n=rec.name)}">'
                   f"{e(rec.name)}</a></h2>" + history_html(rec.name, history, [rec.version]))
    if len(siblings) > 1:
        out.append(f"<h2>Versions of {e(rec.name)}</h2><p>"
                   + " ".join(f'<a href="/record/{e(o)}"{" class=current" if o == oid else ""}>'
                              f"@{e(v)}</a>" for o, v in siblings[:200]) + "</p>")
    return "".join(out)


def lineage_page(oid: str, rec: Record, graph: dict[str, Any],
                 outcomes: dict[str, tuple[str, int | None]], depth: int, shown: int,
                 direction: str) -> str:
    """/lineage/OID: the graph around ``oid`` (drawn with depth ``shown`` when ``depth``
    reaches too many records) and the list of its links."""
    out = [f'<h1>Lineage of <a href="/record/{e(oid)}">{e(rec.label)}</a></h1>',
           '<form class="filter" method="get">depth '
           f'<input type="number" name="depth" min="0" max="50" value="{e(shown)}"> '
           '<select name="direction">'
           + "".join(f'<option value="{d}"{" selected" if d == direction else ""}>{d}</option>'
                     for d in ("both", "upstream", "downstream"))
           + '</select> <button type="submit">Show</button></form>']
    if shown != depth:
        out.append(f'<p class="notice">depth {depth} reaches more than {MAX_NODES} records; '
                   f"drawn with depth {shown}</p>")
    out.append('<p class="legend"><span class="kind model">model</span> '
               '<span class="kind dataset">dataset</span> '
               '<span class="failed-badge">FAILED</span> failed run (dashed) · arrows go from '
               "the version that made a content to the one that took it as an input (labelled "
               "with the input slot) · click a node to open its record</p>")
    out.append('<div class="scroll graph">' + lineage_svg(oid, graph, outcomes) + "</div>")
    names = {n["oid"]: version_label(n.get('name'), n.get('version')) for n in graph["nodes"]}
    out.append(f'<details><summary>{len(graph["nodes"])} records, {len(graph["edges"])} '
               'links</summary><table class="grid"><tr><th>from</th><th>to</th><th>slot</th>'
               "<th>content</th></tr>"
               + "".join(f'<tr><td><a href="/record/{e(ed["from"])}">'
                         f'{e(names.get(ed["from"], ed["from"][:10]))}</a></td>'
                         f'<td><a href="/record/{e(ed["to"])}">'
                         f'{e(names.get(ed["to"], ed["to"][:10]))}</a></td>'
                         f'<td><code>{e(ed["slot"])}</code></td>'
                         f'<td class="mono">{e(ed["oid"][:12])}</td></tr>'
                         for ed in graph["edges"]) + "</table></details>")
    return "".join(out)


def _cell(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def name_page(name: str, items: list[tuple[str, Record]]) -> str:
    """/name?n=NAME: a chart per numeric metric over the name's versions, then the
    versions with their metrics (newest first)."""
    recs = [r for _, r in items]
    metrics = sorted({k for r in recs for k in flatten(dict(r.metrics))})[:MAX_COLUMNS]
    out = [f"<h1>{e(name)}</h1>",
           f'<p class="sub">{len(items):,} version{"s" if len(items) != 1 else ""}</p>',
           '<h2 id="history">Metric history</h2>', history_html(name, recs),
           '<h2>Versions</h2><div class="scroll"><table class="grid" id="name-versions">'
           "<thead><tr><th>version</th><th>created</th><th>status</th>"
           + "".join(f'<th class="num">{e(m)}</th>' for m in metrics) + "</tr></thead><tbody>"]
    for oid, r in items[:MAX_PAGE_SIZE]:
        flat = flatten(dict(r.metrics))
        out.append(f'<tr><td><a href="/record/{e(oid)}">{e(r.label)}</a></td>'
                   f"<td>{e(r.created)}</td><td>{e(r.status)}</td>"
                   + "".join(f"<td class=num>{e(_cell(fmt_value(flat[m])))}</td>" if m in flat
                             else "<td class=num></td>" for m in metrics) + "</tr>")
    out.append("</tbody></table></div>")
    if len(items) > MAX_PAGE_SIZE:
        out.append(f'<p class="muted">and {len(items) - MAX_PAGE_SIZE:,} older versions: '
                   f'<a href="/versions{_qs(q=f"name = {name}")}">all in the versions '
                   "table</a></p>")
    return "".join(out)
