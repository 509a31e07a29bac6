"""The HTML diff report (issue 14): ``repo.report``, ``mlver report``, the page and its plots.

Real repositories and stores; the page is checked as text here (escaping, nothing loaded
from anywhere, one plot per drifted or label column, plots drawn from the profiles the
diff used and never from table data); tests/test_report_browser.py opens it in Chromium.
"""

from __future__ import annotations

import json
import random
import re

import pytest

import mlver
from _fixtures import (assert_error, assert_ok, cli, make_git_repo, mrepo, proj, write,
                       write_csv)
from mlver.diff.value import Diff
from mlver.views import html as rhtml
from mlver.views import svg

__all__ = ["mrepo", "proj"]

EVIL = '"><script>alert(1)</script>'


def rows(n: int, mean: float, weights: tuple, seed: int) -> list[list]:
    rnd = random.Random(seed)
    return [[i, round(rnd.gauss(mean, 10), 3), rnd.choices("abc", weights)[0],
             round(rnd.gauss(mean / 10, 1), 3)] for i in range(n)]


HEADER = ["id", "x", "cat", EVIL]


@pytest.fixture
def two(mrepo, proj):
    """m@1 and m@2 over a 1,200-row table whose x, cat and evil-named column drift."""
    write_csv(proj / "t.csv", HEADER, rows(1200, 50, (1, 1, 1), 1))
    write(proj / "model.bin", "m1\n")
    mrepo.snapshot("m", inputs={"train": "t.csv"}, outputs={"model": "model.bin"},
                   params=["lr=0.1"], metrics=["acc=0.9"])
    write_csv(proj / "t.csv", HEADER, rows(1200, 60, (3, 1, 1), 2))
    write(proj / "model.bin", "m2\n")
    mrepo.snapshot("m", inputs={"train": "t.csv"}, outputs={"model": "model.bin"},
                   params=["lr=0.2"], metrics=["acc=0.8"])
    return mrepo


def plotted(d: Diff) -> list[str]:
    """Columns the page must plot: drifted or label columns of every table diff shown
    (changed inputs, changed outputs, and the changed inputs of upstream diffs)."""
    out: list[str] = []

    def tables(s):
        return ([s.table] if s.table is not None else []) + list(s.tables.values())

    def walk(x, top: bool):
        slots = [s for s in x.inputs.values() if s.status != "unchanged"]
        if top:
            slots += [s for s in x.outputs.values() if s.status == "modified"]
        for s in slots:
            for t in tables(s):
                out.extend(st.column for st in t.drift if st.drifted or st.target)
            if s.upstream is not None:
                walk(s.upstream, False)
    walk(d, True)
    return out


def figure_columns(page: str) -> list[str]:
    import html

    return [html.unescape(c) for c in re.findall(r'<figure class="plot" data-column="([^"]*)"',
                                                 page)]


def assert_self_contained(page: str) -> None:
    """Nothing is fetched when the page is viewed: no script, no stylesheet link, no
    external src/href, no CSS url(); a CSP in the page forbids the rest."""
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "@import" not in page and "url(" not in rhtml.CSS
    for attr, value in re.findall(r'\b(src|href|action)="([^"]*)"', page):
        assert value.startswith(("#", "/")) and not value.startswith("//"), (attr, value)
    assert 'http-equiv="Content-Security-Policy"' in page
    assert "default-src &#x27;none&#x27;" in page


# --------------------------------------------------------------------------- end to end


def test_report_has_verdict_tables_and_one_plot_per_drifted_column(two, proj):
    page = two.report("m@1", "m@2", "report.html")
    assert (proj / "report.html").read_text(encoding="utf-8") == page
    d = two.diff("m@1", "m@2")
    want = plotted(d)
    assert set(want) >= {"x", "cat", EVIL}
    assert sorted(figure_columns(page)) == sorted(want)
    assert page.count("<svg") == len(want) + 1  # and the history of acc
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart history"') == 1
    assert '<main data-plots="%d">' % len(want) in page
    # the verdict as the text diff says it, with the metric delta
    assert 'id="verdict"' in page and "m@1 -&gt; m@2" in page
    assert "acc 0.9 → 0.8" in page and "(-0.1)" in page
    assert "lr: 0.1 -&gt; 0.2" in page
    # the table: rows, drift table with test, value, threshold
    assert "+1,200" in page or "1,200" in page
    assert "Wasserstein" in page or "KS" in page
    assert_self_contained(page)


def test_hostile_names_are_escaped(two):
    page = two.report("m@1", "m@2")
    assert EVIL not in page
    assert "<script>alert" not in page
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_plots_come_from_the_profiles_and_read_no_table_data(two, monkeypatch):
    two.diff("m@1", "m@2")  # caches both profiles
    import mlver.diff.profile as prof

    def boom(*a, **k):
        raise AssertionError("a table was read")

    for fn in ("read_table", "profile_file", "row_hashes_file", "profile_table"):
        monkeypatch.setattr(prof, fn, boom)
    page = two.report("m@1", "m@2")
    assert len(figure_columns(page)) == len(plotted(two.diff("m@1", "m@2"))) >= 3


def test_a_workspace_report_plots_what_the_diff_profiled_and_writes_nothing(two, proj):
    from _fixtures import object_listing

    write_csv(proj / "t.csv", HEADER, rows(1200, 40, (1, 1, 3), 3))
    before = object_listing(proj)
    page = two.report("m@2")
    assert object_listing(proj) == before
    assert "m (workspace)" in page
    assert {"x", "cat"} <= set(figure_columns(page))
    assert "no plot" not in page


def test_missing_profiles_say_why_there_is_no_plot(two):
    d = two.diff("m@1", "m@2")
    page = rhtml.render(Diff.from_dict(json.loads(json.dumps(d.to_dict()))), lambda oid: None)
    assert figure_columns(page) == []
    assert page.count('class="plot-missing"') == len(plotted(d))
    assert "no plot: the profile of the old version is not cached" in page


def test_cli_report_writes_the_page(two, proj):
    out = assert_ok(cli("report", "m@1", "m@2", "-o", "r.html"))
    n = len(plotted(two.diff("m@1", "m@2")))
    assert re.fullmatch(rf"Wrote r\.html \([\d.]+ KB, {n} plots\)\n", out), out
    assert (proj / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    stdout = assert_ok(cli("report", "m@1", "m@2", "-o", "-"))
    assert stdout.startswith("<!DOCTYPE html>") and stdout.rstrip().endswith("</html>")


def test_report_to_a_fifo_writes_into_it_and_never_replaces_it(two, proj, tmp_path):
    """``-o /dev/null`` (or any device or fifo) is written into, as cp would: renaming the
    page over it replaced /dev/null with a file when run as root."""
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    assert_ok(cli("report", "m@1", "m@2", "-o", str(fifo)))
    reader.join(timeout=30)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert got and got[0].startswith(b"<!DOCTYPE html>")


def test_cli_report_errors(two, proj):
    assert_error(cli("report", "m@1", "m@2", "-o", "nowhere/r.html"), "does not exist")
    (proj / "adir").mkdir()
    assert_error(cli("report", "m@1", "m@2", "-o", "adir"), "is a folder")
    assert_error(cli("report", "m@9", "m@2", "-o", "r.html"), "no version 9")
    r = cli("report", "m@1", "m@2")
    assert r.exit_code == 2 and "-o" in r.output


def test_report_with_target_plots_the_label_first(two):
    page = two.report("m@1", "m@2", targets={"*": "id"})
    cols = figure_columns(page)
    assert cols[0] == "id"
    assert "Label <code>id</code>" in page


def test_upstream_chain_is_rendered(proj, mrepo):
    base = rows(200, 50, (1, 1, 1), 5)
    for version, extra in ((1, []), (2, rows(200, 70, (5, 1, 1), 6))):
        write_csv(proj / "raw.csv", HEADER, base + [[1000 + r[0], *r[1:]] for r in extra])
        mrepo.snapshot("raw", outputs={"raw": "raw.csv"}, kind="dataset")
        write_csv(proj / "f.csv", ["id", "y"], [[r[0], r[1] * 2] for r in base + extra])
        mrepo.snapshot("feat", inputs={"raw": "raw.csv"}, outputs={"f": "f.csv"},
                       kind="dataset")
        write(proj / "model.bin", f"model {version}\n")
        mrepo.snapshot("model", inputs={"train": "f.csv"}, outputs={"model": "model.bin"})
    page = mrepo.report("model@1", "model@2")
    d = mrepo.diff("model@1", "model@2")
    assert d.inputs["train"].upstream is not None
    assert 'class="upstream"' in page and "feat@1 → feat@2" in page
    assert "root cause" in page
    assert sorted(figure_columns(page)) == sorted(plotted(d))
    assert "x" in figure_columns(page)  # the raw table's drift, two levels up


# --------------------------------------------------------------------------- the page, from literals


def literal_diff(**over) -> Diff:
    d = {"old": {"oid": "a" * 32, "name": "m", "version": 1},
         "new": {"oid": "b" * 32, "name": "m", "version": 2},
         "changed": ["code", "params", "env"],
         "inputs": {}, "outputs": {},
         "code": {"old_commit": "1" * 40, "new_commit": "2" * 40, "old_branch": "main",
                  "new_branch": "main", "commits_known": True, "changed": True,
                  "commits": [{"sha": "2" * 40, "author": "<b>Eve</b>",
                               "summary": "</style><script>x()</script>"}],
                  "files": [{"path": "a<b>.py", "added": 1, "removed": None}],
                  "patch_changed": True, "patch_files": ["<i>p.py"], "scope": ["<s>"],
                  "commits_outside_scope": 2},
         "params": {"added": {"<k>": "<v>"}, "removed": {}, "changed": {}},
         "env": {"changed": True, "python": {"old": "3.10", "new": "3.11"},
                 "implementation": {"old": "CPython", "new": "CPython"},
                 "platform": {"old": "x", "new": "x"},
                 "packages_count": {"old": 1, "new": 2},
                 "packages": {"added": ["<evil>==1"], "removed": [], "upgraded": [],
                              "downgraded": []}},
         "metrics": {"<m>": {"old": 1, "new": 2, "delta": 1, "changed": True}},
         "verdict": ["m@1 -> m@2", "  <script>"], "unrecorded_reads": ["<r>.csv"]}
    d.update(over)
    return Diff.from_dict(d)


def test_render_escapes_every_text_from_the_store():
    page = rhtml.render(literal_diff(), lambda oid: None)
    for raw in ("<b>Eve", "</style><script>", "a<b>.py", "<i>p.py", "<s>", "<k>", "<v>",
                "<evil>", "<m>", "<r>.csv", "  <script>"):
        assert raw not in page, raw
    assert "&lt;/style&gt;&lt;script&gt;x()&lt;/script&gt;" in page
    assert page.count("<style>") == 1 and page.count("</style>") == 1
    assert_self_contained(page)


def test_csp_hash_matches_the_inline_style():
    import base64
    import hashlib

    page = rhtml.render(literal_diff(), lambda oid: None)
    css = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"sha256-{digest}" in page


# --------------------------------------------------------------------------- svg


def test_histogram_from_exact_counts_and_from_a_sample():
    import base64

    import numpy as np

    old = {"type": "int64", "values": {"value": [1.0, 2.0, 3.0], "count": [2, 1, 1]},
           "numeric": {"quantiles": list(np.quantile([1, 1, 2, 3], np.linspace(0, 1, 101)))}}
    sample = np.sort(np.linspace(0, 10, 1000))
    new = {"type": "double", "sample": base64.b64encode(sample.astype("<f8").tobytes()).decode(),
           "numeric": {"quantiles": list(np.quantile(sample, np.linspace(0, 1, 101)))}}
    h = svg.histogram_data(old, new)
    assert h is not None and len(h["edges"]) == svg.BINS + 1
    assert sum(h["old"]) == pytest.approx(1.0) and sum(h["new"]) == pytest.approx(1.0)
    ints = svg.histogram_data(old, old)
    assert len(ints["edges"]) == 4  # one bin per integer 1, 2, 3
    assert ints["old"] == pytest.approx([0.5, 0.25, 0.25])


def test_histogram_from_quantiles_only():
    q = [float(i) for i in range(101)]
    col = {"type": "double", "numeric": {"quantiles": q}}
    h = svg.histogram_data(col, col)
    assert sum(h["old"]) == pytest.approx(1.0, abs=1e-9)
    assert h["clipped"] is True  # the 1st..99th percentile range leaves the tails out


def test_category_bars_keep_the_top_and_sum_the_rest():
    old = {"categories": {f"c{i}": 1 for i in range(20)}}
    new = {"categories": {"c0": 10, "<new>": 10}}
    c = svg.category_data(old, new, top=5)
    assert len(c["rows"]) == 5 and c["other"]["count"] == 16
    total_old = sum(r["old"] for r in c["rows"]) + c["other"]["old"]
    assert total_old == pytest.approx(1.0)
    out = svg.bars_svg(c, "col<")
    assert "<new>" not in out and "&lt;new&gt;" in out and "col&lt;" in out
    assert "style=" not in out and "<script" not in out


def test_column_plot_picks_bars_for_categories_and_none_without_data():
    cat = {"categories": {"a": 1}}
    assert svg.column_plot(cat, cat, "categorical", "c").startswith("<svg")
    assert svg.column_plot({}, {}, "numeric", "c") is None
    assert svg.column_plot({}, {}, "categorical", "c") is None


def test_number_formats():
    assert svg.fmt(1234567.0) == "1,234,567"
    assert svg.fmt(0.000012) == "1.2e-05"
    assert svg.fmt(float("nan")) == "?"
    assert svg.pct(0) == "0%" and svg.pct(0.053) == "5.3%" and svg.pct(0.5) == "50%"


# --------------------------------------------------------------------------- issue 25: code
# hunks, metric history, the explain section, the full width


def test_code_hunks_are_shown_escaped_and_bounded(proj, mrepo, monkeypatch):
    """The git diff between the two commits, per file in scope: escaped (a hunk holding
    ``<script>`` shows as text), cut at MAX_LINES lines a file with "+k more", and at
    MAX_FILES files with "+k more files"."""
    from _fixtures import commit_all
    from mlver.views import htmlcode

    monkeypatch.setattr(htmlcode, "MAX_LINES", 6)
    monkeypatch.setattr(htmlcode, "MAX_FILES", 2)
    for f in ("a.py", "b.py", "c.py"):
        write(proj / f, "x = 1\n")
    write(proj / "t.csv", "a\n1\n")
    commit_all(proj, "code")
    mrepo.snapshot("m", inputs={"train": "t.csv"}, metrics=["acc=0.5"])
    write(proj / "a.py", "x = 1\n" + "".join(f'print("</pre><script>alert({i})</script>")\n'
                                             for i in range(10)))
    write(proj / "b.py", "x = 2\n")
    write(proj / "c.py", "x = 3\n")
    commit_all(proj, "change code")
    mrepo.snapshot("m", inputs={"train": "t.csv"}, metrics=["acc=0.7"])
    page = mrepo.report("m@1", "m@2")
    blocks = re.findall(r'<details class="hunk" open data-path="([^"]+)">(.*?)</details>',
                        page, re.S)
    assert [p for p, _ in blocks] == ["a.py", "b.py"]
    a_lines = re.findall(r'<span class="(\w+)">', blocks[0][1])
    assert a_lines == ["hh", "ctx", "add", "add", "add", "add"]
    assert "<script>" not in page and "&lt;/pre&gt;&lt;script&gt;alert(0)" in page
    assert "+6 more lines" in blocks[0][1]  # @@, 1 context, 10 added: 12, 6 shown
    assert '<span class="del">-x = 1</span>' in blocks[1][1]
    assert "+1 more file changed" in page


def test_code_hunks_say_when_a_side_ran_uncommitted_changes(proj, mrepo):
    """The hunks are between the commits: when a side's file had uncommitted changes,
    the page says they are not shown (the hunk is not what that side ran)."""
    from _fixtures import commit_all

    write(proj / "a.py", "x = 1\n")
    write(proj / "t.csv", "a\n1\n")
    commit_all(proj, "code")
    write(proj / "a.py", "x = 'dirty'\n")
    mrepo.snapshot("m", inputs={"train": "t.csv"}, code=["a.py"])
    write(proj / "a.py", "x = 2\n")
    commit_all(proj, "change code")
    mrepo.snapshot("m", inputs={"train": "t.csv"}, code=["a.py"])
    page = mrepo.report("m@1", "m@2")
    (block,) = re.findall(r'<details class="hunk" open data-path="a.py">(.*?)</details>',
                          page, re.S)
    assert "its uncommitted changes are not shown" in block


def test_metric_history_charts_every_version_of_the_name(two, proj):
    write(proj / "model.bin", "m3\n")
    two.snapshot("m", inputs={"train": "t.csv"}, outputs={"model": "model.bin"},
                 metrics=["acc=0.95", "loss=0.3"])
    page = two.report("m@1", "m@2")
    figs = re.findall(r'<figure class="history" data-metric="([^"]+)" data-points="(\d+)">'
                      r"(.*?)</figure>", page, re.S)
    assert [(m, n) for m, n, _ in figs] == [("acc", "3"), ("loss", "1")]
    acc = figs[0][2]
    assert acc.count("<circle") == 3
    assert len(re.findall(r'r="4.5" fill="#f58518"', acc)) == 2  # m@1 and m@2 marked
    assert "<title>@3: 0.95</title>" in acc


def test_history_leaves_out_what_is_not_a_finite_number():
    from mlver.views.history import history_html, metric_points

    class R:  # the two fields history reads
        def __init__(self, version, metrics):
            self.version, self.metrics = version, metrics

    recs = [R(1, {"a": 1.0, "b": True, "c": "x", "n": {"d": 2}}), R(2, {"a": float("nan")}),
            R(3, {"a": 3, EVIL: 1})]
    pts = metric_points(recs)  # type: ignore[arg-type]
    assert pts == {EVIL: [(3, 1.0)], "a": [(1, 1.0), (3, 3.0)], "n.d": [(1, 2.0)]}
    page = history_html(EVIL, recs)  # type: ignore[arg-type]
    assert "<script>" not in page and page.count("<figure") == 3


def test_the_page_uses_the_full_width_and_folds_stable_columns(two):
    page = two.report("m@1", "m@2")
    assert "max-width:1180px" not in page and "main{margin:0;" in page
    stable = re.findall(r'<details class="stable"><summary>(\d+) columns? stable</summary>',
                        page)
    assert len(stable) <= 1


def test_report_attribute_needs_two_revisions(two, proj):
    result = cli("report", "m@1", "-o", "r.html", "--attribute")
    assert result.exit_code == 2 and "Error: --attribute needs two revisions" in result.output
    assert not (proj / "r.html").exists()


def test_attribution_section_is_rendered_escaped():
    from mlver.explain.attribute import Attribution, MetricShares, RecordRef, Share
    from mlver.views.htmlsections import attribution_html

    share = Share(group=f"data {EVIL}", kind="data", value=0.2, share=1.0, stderr=None,
                  within_noise=False, half_width=0.05)
    m = MetricShares(metric="acc", old=0.5, new=0.7, replayed_old=0.5, replayed_new=0.7,
                     noise_floor=0.01, shares=(share,))
    att = Attribution(old=RecordRef("a" * 64, "m", 1), new=RecordRef("b" * 64, "m", 2),
                      command=("python", "t.py"), groups=(), method="exact", orders=0,
                      budget=None, metrics=(m,), runs=(), env_differs=False)
    page = attribution_html(att)
    assert "<script>" not in page
    row = re.search(r"<tr class=changed data-group=\"([^\"]+)\">(.*?)</tr>", page).groups()
    assert row[0] == "data &quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    assert "+0.2" in row[1] and "0.15 … 0.25" in row[1] and "100%" in row[1]
