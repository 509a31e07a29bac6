"""The table part of the HTML report: rows, schema, changed cells, the label, the drift
of each column and the plots of the drifted ones (from the table profiles, never the
data)."""

from __future__ import annotations

from typing import Any

from mlver.diff.drift import TEST_NAMES
from mlver.diff.tables import TableDiff
from mlver.diff.value import Diff
from mlver.diff.wording import ref_label
from mlver.views import svg
from mlver.views.htmlkit import ProfileOf, e


class Tables:
    """Renders table diffs; counts the plots it drew and reads each profile once."""

    def __init__(self, profile_of: ProfileOf | None) -> None:
        self.profile_of = profile_of  # None: draw no plots (a notebook's Diff has no profile)
        self._columns: dict[str, dict[str, dict[str, Any]] | None] = {}
        self.plots = 0

    def columns(self, oid: str | None) -> dict[str, dict[str, Any]] | None:
        """Column name -> profile entry of blob ``oid`` (None when not profiled)."""
        if oid is None or self.profile_of is None:
            return None
        if oid not in self._columns:
            p = self.profile_of(oid)
            cols = p.get("columns") if isinstance(p, dict) else None
            self._columns[oid] = ({c["name"]: c for c in cols if isinstance(c, dict)
                                   and "name" in c} if isinstance(cols, list) else None)
        return self._columns[oid]

    def table(self, t: TableDiff, old_oid: str | None, new_oid: str | None, d: Diff) -> str:
        """A table diff: rows, schema, changed cells, the label, drift and plots."""
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
            if self.profile_of is not None:
                out.append(self.plots_of(t, old_oid, new_oid, d))
        out.append("</div>")
        return "".join(out)

    def target(self, info: dict[str, Any]) -> str:
        """The label column: its classes or its quantiles, old and new."""
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

    def drift_table(self, t: TableDiff) -> str:
        """Each tested column: its test, value, threshold and result (stable ones folded)."""
        ds = t.dataset_drift or {}
        head = ""
        if ds:
            head = (f'<p class="sub">{ds.get("drifted_columns", 0)} of {ds.get("columns", 0)} '
                    "tested columns drifted"
                    + (" — dataset drifted" if ds.get("drifted") else "") + "</p>")
        fdr = t.fdr or {}
        if fdr.get("tests"):
            head += (f'<p class="sub">p-value tests decide by q: p adjusted over the table\'s '
                     f'{fdr["tests"]} p-value tests ({e(fdr.get("method", ""))}, false '
                     f'discovery rate {e(fdr.get("alpha", ""))})</p>')
        if t.identifiers:
            head += ('<p class="sub identifiers">identifiers (unique per row), not tested: '
                     + ", ".join(f"<code>{e(c)}</code>" for c in t.identifiers) + "</p>")
        rows: list[str] = []
        stable: list[str] = []
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

    def plots_of(self, t: TableDiff, old_oid: str | None, new_oid: str | None,
                 d: Diff) -> str:
        """A plot of each drifted column and of the label, old against new."""
        wanted = [s for s in t.drift if s.drifted or s.target]
        if not wanted:
            return ""
        old_cols, new_cols = self.columns(old_oid), self.columns(new_oid)
        old_label, new_label = ref_label(d.old), ref_label(d.new)
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
