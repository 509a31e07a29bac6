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

import base64
import hashlib
from html import escape
from typing import Any
from collections.abc import Callable

from mlver.base.fmt import fmt_value, human_size
from mlver.diff.explain import _label, _pair
from mlver.views import svg

ProfileOf = Callable[[str], "dict | None"]
LIST_LIMIT = 10  # paths of a folder diff shown per kind (the diff keeps 10)

CSS = """
:root{--old:#4c78a8;--new:#f58518;--fg:#1d1d1f;--muted:#666;--line:#ddd;--bg:#fff;
--soft:#f6f7f9;--bad:#c0392b;--warn:#b7791f;--ok:#2f855a}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg);margin:0}
main{max-width:1180px;margin:0 auto;padding:20px 28px 60px}
h1{font-size:22px;margin:4px 0 2px}h1 a{color:inherit}h2{font-size:18px;margin:30px 0 8px;
border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:22px 0 6px}
h4{font-size:14px;margin:16px 0 6px}
.sub{color:var(--muted);font-size:12px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
#verdict{background:var(--soft);border:1px solid var(--line);border-left:4px solid var(--new);
border-radius:6px;padding:10px 14px;margin:14px 0}
#verdict .vhead{font-weight:600;font-size:15px;margin-bottom:6px}
.vrow{display:flex;gap:10px;margin:3px 0}.vrow ul{margin:0;padding-left:18px}
.vk{flex:0 0 84px;color:var(--muted);text-align:right}
.cause strong{color:var(--bad)}
.chip{display:inline-block;background:#fff;border:1px solid var(--line);border-radius:4px;
padding:0 6px;margin:0 6px 3px 0;font-variant-numeric:tabular-nums}
.astext{margin-top:8px}.astext .text{margin-top:6px}
#verdict .vline{white-space:pre-wrap;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,
monospace;font-size:12.5px;overflow-wrap:anywhere}
table{border-collapse:collapse;margin:6px 0 10px}
th,td{border-bottom:1px solid var(--line);padding:3px 10px 3px 0;text-align:left;
vertical-align:top}
th{font-weight:600;color:#333;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;
background:#eee;color:#333;margin-left:6px}
.badge.modified,.badge.drift{background:#fdecea;color:var(--bad)}
.badge.added{background:#e6f4ea;color:var(--ok)}.badge.removed{background:#f3e8ff;color:#6b21a8}
.badge.moderate{background:#fff4e0;color:var(--warn)}
.badge.target{background:#e8f0fb;color:#1f4e8c}
tr.lvl-drift td{color:var(--bad)}tr.lvl-moderate td{color:var(--warn)}
tr.lvl-too_few_rows td{color:var(--muted)}
.changed td{font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
figure{margin:6px 0;padding:8px;border:1px solid var(--line);border-radius:6px;
background:#fff}
figcaption{font-size:12.5px;margin-bottom:4px}
.noplot{color:var(--muted);font-style:italic}
.note{color:var(--warn)}
details{margin:6px 0}
details>summary{cursor:pointer}
.upstream{border-left:3px solid var(--line);padding-left:14px;margin-left:4px}
.slot{margin-bottom:18px}
ul.paths{margin:4px 0;padding-left:20px;columns:2}
.muted{color:var(--muted)}
footer{margin-top:40px;color:var(--muted);font-size:12px}
"""


def csp(css: str = CSS) -> str:
    """The page's Content-Security-Policy: nothing may load or run, the one inline style
    block (by its hash) excepted."""
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; "
            "base-uri 'none'; form-action 'none'")


def e(value: Any) -> str:
    """Any value as escaped text (quotes too, so it is safe in an attribute)."""
    return escape(str(value), quote=True)


def _v(value: Any) -> str:
    return e(fmt_value(value))


def _size(n: int | None) -> str:
    return e(human_size(n)) if n is not None else "–"


def _signed(n: Any) -> str:
    if n is None:
        return ""
    return e(f"+{svg.fmt(n)}" if n > 0 else svg.fmt(n))


class _Page:
    """Builds the page's body; keeps the ids it gave out unique."""

    def __init__(self, profile_of: ProfileOf) -> None:
        self.profile_of = profile_of
        self._columns: dict[str, dict[str, dict] | None] = {}
        self.plots = 0
        self.top: Any = None  # the diff of the page (its input sections get anchors)

    def columns(self, oid: str | None) -> dict[str, dict] | None:
        """Column name -> profile entry of blob ``oid`` (None when not profiled)."""
        if oid is None:
            return None
        if oid not in self._columns:
            p = self.profile_of(oid)
            cols = p.get("columns") if isinstance(p, dict) else None
            self._columns[oid] = ({c["name"]: c for c in cols if isinstance(c, dict)
                                   and "name" in c} if isinstance(cols, list) else None)
        return self._columns[oid]

    # -- the top -------------------------------------------------------------------------------

    def verdict(self, d: Any) -> str:
        """What changed in the results and why, as the text diff says it: the outputs and
        the changed metrics (with deltas), the root cause found upstream, then one line
        per changed input category (each linking to its section); the text itself below."""
        from mlver.diff.explain import _level, root_causes

        out = ['<section id="verdict" aria-label="verdict">',
               f'<div class="vhead">{e(d.verdict[0] if d.verdict else "")}</div>']
        outs = [s for s in d.outputs.values() if s.status != "unchanged"]
        if outs:
            out.append('<div class="vrow"><span class="vk">outputs</span><span>'
                       + "; ".join(_output_brief(s) for s in outs) + "</span></div>")
        metrics = [(k, m) for k, m in d.metrics.items() if m["changed"]]
        if metrics:
            out.append('<div class="vrow"><span class="vk">metrics</span><span>'
                       + "".join(f'<span class="chip">{e(k)} {e(" → ".join(_pair(m["old"], m["new"])))}'
                                 + (f' <b>({_signed(m["delta"])})</b>' if m["delta"] else "")
                                 + "</span>" for k, m in metrics) + "</span></div>")
        if not outs and not metrics:
            out.append('<div class="vrow"><span class="vk">outputs</span>'
                       "<span>unchanged</span></div>")
        for r in root_causes(d)[:3]:
            out.append('<div class="vrow cause"><span class="vk">root cause</span><span>'
                       f"<strong>{e(_label(r.old))} → {e(_label(r.new))}</strong>: "
                       f"{e(_cut(_level(r)))}</span></div>")
        why = []
        for category in d.changed:
            if category == "data":
                for s in d.inputs.values():
                    if s.status != "unchanged":
                        why.append(f'<li><a href="#in-{e(_anchor(s.slot))}">data</a> '
                                   f"<code>{e(s.slot)}</code> ({e(_where(s))}): "
                                   f"{e(_data_brief(s))}</li>")
            elif category == "code":
                from mlver.diff.explain import _code_line

                why.append(f'<li><a href="#code">code</a> {e(_cut(_code_line(d.code)))}</li>')
            elif category == "params":
                from mlver.diff.explain import _params_line

                why.append(f'<li><a href="#params">params</a> {e(_params_line(d.params))}</li>')
            elif category == "env":
                from mlver.diff.explain import _env_line

                why.append(f'<li><a href="#env">env</a> {e(_env_line(d.env))}</li>')
        if why:
            out.append('<div class="vrow"><span class="vk">because</span><ul>'
                       + "".join(why) + "</ul></div>")
        else:
            rest = [line.strip() for line in d.verdict[2:] if line.startswith("  no ")
                    or line.startswith("  the record")]
            out.append('<div class="vrow"><span class="vk">because</span><span>'
                       f'{e(rest[0] if rest else "no recorded input changed")}</span></div>')
        same = [line.strip() for line in d.verdict if line.startswith("  unchanged:")]
        if same:
            out.append(f'<div class="vrow muted"><span class="vk"></span><span>{e(same[0])}'
                       "</span></div>")
        out.append('<details class="astext"><summary>as text (<code>mlver diff</code>)'
                   '</summary><div class="text">'
                   + "".join(f'<div class="vline">{e(line)}</div>' for line in d.verdict)
                   + "</div></details></section>")
        return "".join(out)

    def outputs_and_metrics(self, d: Any) -> str:
        out = ['<h2 id="outputs">Outputs and metrics</h2>']
        if d.outputs:
            out.append("<table><tr><th>output</th><th>path</th><th>status</th>"
                       '<th class="num">old size</th><th class="num">new size</th></tr>')
            for s in d.outputs.values():
                out.append(f'<tr{" class=changed" if s.status != "unchanged" else ""}>'
                           f"<td>{e(s.slot)}</td><td><code>{e(_where(s))}</code></td>"
                           f"<td>{e(s.status)}</td><td class=num>{_size(s.old_size)}</td>"
                           f"<td class=num>{_size(s.new_size)}</td></tr>")
            out.append("</table>")
        else:
            out.append('<p class="muted">no outputs recorded</p>')
        if d.metrics:
            out.append('<table id="metrics"><tr><th>metric</th><th class="num">old</th>'
                       '<th class="num">new</th><th class="num">delta</th></tr>')
            for k, m in sorted(d.metrics.items(), key=lambda kv: not kv[1]["changed"]):
                a, b = _pair(m["old"], m["new"])
                out.append(f'<tr{" class=changed" if m["changed"] else ""}><td>{e(k)}</td>'
                           f"<td class=num>{e(a)}</td><td class=num>{e(b)}</td>"
                           f'<td class=num>{_signed(m["delta"]) if m["changed"] else ""}</td>'
                           "</tr>")
            out.append("</table>")
        for s in d.outputs.values():
            if s.status == "modified" and (s.table is not None or s.files is not None):
                out.append(self.slot(s, d, "output"))
        return "".join(out)

    # -- slots ---------------------------------------------------------------------------------

    def slot(self, s: Any, d: Any, side: str) -> str:
        anchor = f' id="in-{e(_anchor(s.slot))}"' if side == "data" and d is self.top else ""
        out = [f'<div class="slot"{anchor} data-slot="{e(s.slot)}">'
               f"<h3>{e(side)} <code>{e(s.slot)}</code> <span class=muted>"
               f"{e(_where(s))}</span><span class=\"badge {e(s.status)}\">{e(s.status)}</span>"
               "</h3>"]
        if s.status in ("modified", "moved", "added", "removed"):
            out.append(f'<p class="sub">{_size(s.old_size)} → {_size(s.new_size)}; '
                       f'{e(s.type or "")} {e((s.old or "")[:10])} → {e((s.new or "")[:10])}'
                       "</p>")
        if s.note:
            out.append(f'<p class="note">note: {e(s.note)}</p>')
        if s.table is not None:
            out.append(self.table(s.table, s.old, s.new, d))
        if s.files is not None:
            out.append(self.folder(s, d))
        if s.status == "modified" and s.table is None and s.files is None and not s.note:
            out.append('<p class="muted">content changed; compared by oid only (not a '
                       "table or folder)</p>")
        if s.upstream is not None:
            out.append(self.upstream(s.upstream))
        out.append("</div>")
        return "".join(out)

    def folder(self, s: Any, d: Any) -> str:
        f = s.files
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
            out.append(self.table(t, a, b, d))
        return "".join(out)

    # -- tables --------------------------------------------------------------------------------

    def table(self, t: Any, old_oid: str | None, new_oid: str | None, d: Any) -> str:
        out = ['<div class="table-diff">']
        changed = "" if t.rows_changed is None else f"<td class=num>{t.rows_changed:,}</td>"
        out.append('<table class="rows"><tr><th class="num">rows old</th>'
                   '<th class="num">rows new</th><th class="num">added</th>'
                   '<th class="num">removed</th>'
                   + ('<th class="num">changed</th>' if t.rows_changed is not None else "")
                   + ("<th>key</th>" if t.key else "") + "</tr>"
                   f"<tr><td class=num>{t.rows_old:,}</td><td class=num>{t.rows_new:,}</td>"
                   f"<td class=num>+{t.rows_added:,}</td><td class=num>-{t.rows_removed:,}</td>"
                   + changed
                   + (f"<td>{e(', '.join(t.key))}</td>" if t.key else "") + "</tr></table>")
        schema = []
        schema += [f"new column <code>{e(c)}</code>" for c in t.columns_added]
        schema += [f"dropped column <code>{e(c)}</code>" for c in t.columns_removed]
        schema += [f"<code>{e(o)}</code> renamed to <code>{e(n)}</code> (same values)"
                   for o, n in t.columns_renamed]
        schema += [f"<code>{e(c)}</code> retyped {e(o)} → {e(n)}"
                   for c, o, n in t.columns_retyped]
        schema += [f"<code>{e(c)}</code> nulls {o:.1%} → {n:.1%}" for c, o, n in t.null_rates]
        if schema:
            out.append("<h4>Schema</h4><ul>" + "".join(f"<li>{x}</li>" for x in schema)
                       + "</ul>")
        if t.cells_changed:
            out.append('<h4>Changed cells per column</h4><table class="cells"><tr>'
                       '<th>column</th><th class="num">changed cells</th></tr>'
                       + "".join(f"<tr><td><code>{e(c)}</code></td><td class=num>{n:,}</td></tr>"
                                 for c, n in sorted(t.cells_changed, key=lambda x: -x[1]))
                       + "</table>")
        if t.target:
            out.append(self.target(t.target))
        if t.drift or t.identifiers:
            out.append(self.drift_table(t))
            out.append(self.plots_of(t, old_oid, new_oid, d))
        out.append("</div>")
        return "".join(out)

    def target(self, info: dict) -> str:
        col = info.get("column")
        out = [f"<h4>Label <code>{e(col)}</code></h4>"]
        if info.get("classes"):
            out.append('<table class="target"><tr><th>class</th><th class="num">old</th>'
                       '<th class="num">new</th></tr>'
                       + "".join(f"<tr><td>{e(c['value'])}</td><td class=num>"
                                 f"{e(svg.pct(c['old']))}</td><td class=num>"
                                 f"{e(svg.pct(c['new']))}</td></tr>"
                                 for c in info["classes"][:30]) + "</table>")
        elif info.get("quantiles"):
            q = info["quantiles"]
            out.append('<table class="target"><tr><th></th>'
                       + "".join(f'<th class="num">{e(k)}</th>' for k in q) + "</tr>"
                       + "".join(f"<tr><td>{side}</td>"
                                 + "".join(f"<td class=num>{e(svg.fmt(v.get(side)))}</td>"
                                           for v in q.values()) + "</tr>"
                                 for side in ("old", "new")) + "</table>")
        return "".join(out)

    def drift_table(self, t: Any) -> str:
        ds = t.dataset_drift or {}
        head = ""
        if ds:
            head = (f'<p class="sub">{ds.get("drifted_columns", 0)} of {ds.get("columns", 0)} '
                    "tested columns drifted"
                    + (" — dataset drifted" if ds.get("drifted") else "") + "</p>")
        from mlver.diff.drift import TEST_NAMES

        fdr = t.fdr or {}
        if fdr.get("tests"):
            head += (f'<p class="sub">p-value tests decide by q: p adjusted over the table\'s '
                     f'{fdr["tests"]} p-value tests ({e(fdr.get("method", ""))}, false '
                     f'discovery rate {e(fdr.get("alpha", ""))})</p>')
        if t.identifiers:
            head += ('<p class="sub identifiers">identifiers (unique per row), not tested: '
                     + ", ".join(f"<code>{e(c)}</code>" for c in t.identifiers) + "</p>")
        rows, stable = [], []
        for s in t.drift:
            value = "–" if s.value is None else (f"{s.value:.2g}" if s.test in
                                                 ("ks", "chi_square", "z_test")
                                                 else f"{s.value:.3f}")
            threshold = "" if s.threshold is None else (
                f"p &lt; {s.threshold:g}" if s.test in ("ks", "chi_square", "z_test")
                else f"≥ {s.threshold:g}")
            level = {"drift": "drifted", "moderate": "worth a look", "stable": "stable",
                     "too_few_rows": "too few rows"}.get(s.level or "", s.level or "")
            badge = ' <span class="badge target">label</span>' if s.target else ""
            if s.q is not None:
                value += f", q={s.q:.2g}"
                threshold = threshold.replace("p &lt;", "q &lt;")
            # stable columns are folded away under one line ("62 columns stable")
            (stable if s.level == "stable" and not s.target else rows).append(
                        f'<tr class="lvl-{e(s.level or "")}" data-column="{e(s.column)}">'
                        f"<td><code>{e(s.column)}</code>{badge}</td><td>{e(s.kind or '')}</td>"
                        f"<td>{e(TEST_NAMES.get(s.test, s.test))}</td>"
                        f"<td class=num>{e(value)}</td><td class=num>{threshold}</td>"
                        f"<td>{e(level)}</td>"
                        f"<td class=num>{'' if s.psi is None else e(f'{s.psi:.3f}')}</td>"
                        f"<td>{e(s.figure_text())}</td>"
                        f"<td class=num>{'' if not s.rows else e(f'{s.rows[0]:,} → {s.rows[1]:,}')}"
                        "</td></tr>")
        header = ('<tr><th>column</th><th>kind</th><th>test</th>'
                  '<th class="num">value</th><th class="num">threshold</th><th>result</th>'
                  '<th class="num">PSI</th><th>old → new</th><th class="num">values</th></tr>')
        out = f"<h4>Drift</h4>{head}"
        if rows:
            out += '<table class="drift">' + header + "".join(rows) + "</table>"
        if stable:
            n = len(stable)
            out += (f'<details class="stable"><summary>{n} column{"s" if n != 1 else ""} '
                    f'stable</summary><table class="drift stable">{header}'
                    + "".join(stable) + "</table></details>")
        return out

    def plots_of(self, t: Any, old_oid: str | None, new_oid: str | None, d: Any) -> str:
        wanted = [s for s in t.drift if s.drifted or s.target]
        if not wanted:
            return ""
        old_cols, new_cols = self.columns(old_oid), self.columns(new_oid)
        old_label, new_label = _label(d.old), _label(d.new)
        figs = []
        for s in wanted:
            what = "label" if s.target else "drifted"
            cap = (f"<figcaption><code>{e(s.column)}</code> — {e(what)}: "
                   f"{e(s.measure())}</figcaption>")
            plot, why = None, None
            if old_cols is None or new_cols is None:
                side = "old" if old_cols is None else "new"
                ref = d.old if side == "old" else d.new
                why = ("the workspace side is not profiled" if ref.get("workspace")
                       else f"the profile of the {side} version is not cached (mlver diff "
                            "of two versions caches it)")
            elif s.column not in old_cols or s.column not in new_cols:
                why = "the column is missing from a profile"
            else:
                plot = svg.column_plot(old_cols[s.column], new_cols[s.column], s.kind, s.column,
                                       old_label, new_label)
                why = None if plot else "the profiles hold no distribution for it"
            if plot:
                self.plots += 1
                figs.append(f'<figure class="plot" data-column="{e(s.column)}" '
                            f'data-kind="{e(s.kind or "")}">{cap}{plot}</figure>')
            else:
                figs.append(f'<figure class="plot-missing" data-column="{e(s.column)}">{cap}'
                            f'<p class="noplot">no plot: {e(why)}</p></figure>')
        return '<div class="plots">' + "".join(figs) + "</div>"

    # -- code, params, env, upstream -------------------------------------------------------------

    def code(self, c: dict) -> str:
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
                                 for x in c["commits"]) + "</table>")
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

    def params(self, p: dict) -> str:
        rows = [(k, v["old"], v["new"], "changed") for k, v in p.get("changed", {}).items()]
        rows += [(k, None, v, "added") for k, v in p.get("added", {}).items()]
        rows += [(k, v, None, "removed") for k, v in p.get("removed", {}).items()]
        if not rows:
            return '<p class="muted">params unchanged</p>'
        return ('<table class="params"><tr><th>param</th><th>old</th><th>new</th><th></th></tr>'
                + "".join(f"<tr><td><code>{e(k)}</code></td>"
                          f"<td>{'' if kind == 'added' else _v(a)}</td>"
                          f"<td>{'' if kind == 'removed' else _v(b)}</td><td>{kind}</td></tr>"
                          for k, a, b, kind in rows) + "</table>")

    def env(self, en: dict) -> str:
        if not en:
            return ""
        out = ['<table class="env">']
        for k in ("python", "implementation", "platform", "packages_count"):
            v = en.get(k) or {}
            cls = " class=changed" if v.get("old") != v.get("new") else ""
            out.append(f"<tr{cls}><th>{e(k.replace('_', ' '))}</th><td>{_v(v.get('old'))}</td>"
                       f"<td>→</td><td>{_v(v.get('new'))}</td></tr>")
        out.append("</table>")
        pk = en.get("packages") or {}
        rows = [(u["name"], u["old"], u["new"], "upgraded") for u in pk.get("upgraded", [])]
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

    def upstream(self, u: Any, level: int = 1) -> str:
        """The diff of the two records that made an input's old and new content: their own
        changed inputs (and theirs, one level deeper each), code, params and env."""
        out = [f'<details class="upstream" open data-level="{level}"><summary>'
               f"← <strong>{e(_label(u.old))} → {e(_label(u.new))}</strong>: "
               f"{e(_level_text(u))}</summary>"]
        changed = [s for s in u.inputs.values() if s.status != "unchanged"]
        if not u.inputs:
            out.append('<p class="muted">no inputs: its outputs are the data itself</p>')
        for s in changed:
            out.append(self.slot(s, u, "data"))
        if "code" in u.changed:
            out.append("<h4>Code</h4>" + self.code(u.code))
        if "params" in u.changed:
            out.append("<h4>Params</h4>" + self.params(u.params))
        if "env" in u.changed:
            out.append("<h4>Env</h4>" + self.env(u.env))
        out.append("</details>")
        return "".join(out)


def _level_text(u: Any) -> str:
    from mlver.diff.explain import _level

    text = _level(u)
    return text if len(text) <= 300 else text[:299] + "…"


def _cut(text: str, n: int = 400) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _anchor(slot: str) -> str:
    """An id for a slot's section (any text; escaped where it is written)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in slot)


def _output_brief(s: Any) -> str:
    name = (s.path or s.slot).rsplit("/", 1)[-1]
    if s.status == "modified":
        return (f"<code>{e(name)}</code> changed ({_size(s.old_size)} → "
                f"{_size(s.new_size)})")
    if s.status == "moved":
        return f"<code>{e(name)}</code> moved from <code>{e(s.old_path or '?')}</code>"
    return f"<code>{e(name)}</code> {e(s.status)}"


def _data_brief(s: Any) -> str:
    """A changed input in a few words: rows, the label, the drifted columns."""
    from mlver.diff.explain import _slot_line

    if s.status in ("added", "removed", "moved"):
        return _slot_line(s).split(": ", 1)[-1]
    tables = ([s.table] if s.table is not None else []) + list(s.tables.values())
    bits = []
    if s.files is not None:
        from mlver.diff.explain import folder_prefix

        bits.append(s.files.summary(folder_prefix(s.path)))
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
        bits.append(f"content changed ({human_size(s.old_size)} -> {human_size(s.new_size)})")
    if s.note:
        bits.append(f"note: {s.note}")
    return _cut("; ".join(bits))


def _q(v: Any) -> str:
    return "?" if v is None else str(v)


def _pkg(text: str, old: bool = False) -> tuple[str, str | None, str | None]:
    name, _, version = str(text).partition("==")
    return (name, version, None) if old else (name, None, version)


def _where(s: Any) -> str:
    return s.path if not s.old_path else f"{s.old_path} -> {s.path}"


def render(d: Any, profile_of: ProfileOf, *, generated: str | None = None,
           version: str | None = None, back: tuple[str, str] | None = None,
           links: dict[str, str] | None = None) -> str:
    """The whole page for diff ``d``; plots come from ``profile_of(blob oid)``. ``back``
    (href, text) adds a link above the title, ``links`` ({"old", "new"}: href) makes the
    two versions in the title links (the UI serves the page so)."""
    page = _Page(profile_of)
    page.top = d
    title = f"{_label(d.old)} → {_label(d.new)}"
    heading = e(title)
    if links and d.old.get("oid") and d.new.get("oid"):
        heading = (f'<a href="{e(links["old"])}">{e(_label(d.old))}</a> → '
                   f'<a href="{e(links["new"])}">{e(_label(d.new))}</a>')
    nav = f'<nav><a href="{e(back[0])}">← {e(back[1])}</a></nav>' if back else ""
    body = [f"<header>{nav}<div class=sub>mlver report</div><h1>{heading}</h1>"
            f'<div class="sub mono">{e((d.old.get("oid") or "")[:12])} → '
            f'{e((d.new.get("oid") or "workspace")[:12])}</div></header>',
            page.verdict(d), page.outputs_and_metrics(d)]
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
                + page.code(d.code))
    body.append('<h2 id="params">Params</h2>' + page.params(d.params))
    body.append('<h2 id="env">Environment</h2>'
                + ("" if "env" in d.changed else '<p class="muted">environment unchanged</p>')
                + page.env(d.env))
    if d.unrecorded_reads:
        body.append('<h2 id="unrecorded">Read but not recorded</h2><ul>'
                    + "".join(f"<li><code>{e(p)}</code></li>" for p in d.unrecorded_reads)
                    + "</ul>")
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
            f'<body><main data-plots="{page.plots}">' + "".join(body)
            + "</main></body></html>\n")
