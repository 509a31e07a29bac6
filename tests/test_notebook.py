"""Values shown in Jupyter (mlver/base/display.py, mlver/views/notebook.py,
mlver/views/htmlvalues.py) and the sample notebook, run headless with nbclient."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
import time
from pathlib import Path

import pytest

from mlver.api import Repo
from mlver.explain.attribute import Attribution, MetricShares, Share
from tests.conftest import init_git, write

EVIL = '<script>alert("x")</script>'
SAMPLE = Path(__file__).resolve().parents[1] / "sample_project"


def check_fragment(html: str) -> None:
    """Self-contained and escaped: one scoped style block, no script, nothing loaded."""
    assert html.startswith('<div class="mlver-nb"><style>') and html.endswith("</div>")
    assert "<script" not in html.lower()
    # links only within the fragment (the report's "#code" anchors)
    assert not re.search(r'src\s*=|href\s*=\s*"(?!#)|@import|url\(|<link|<iframe', html, re.I)
    style = html.split("<style>", 1)[1].split("</style>", 1)[0]
    for rule in style.split("}"):
        if "{" in rule:  # every rule applies inside the fragment only
            assert all(s.strip().startswith(".mlver-nb")
                       for s in rule.split("{")[0].split(",")), rule


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    """Two versions of ``m`` whose message and params hold markup and quotes (made once:
    the tests only read them)."""
    with pytest.MonkeyPatch.context() as mp:  # what conftest's _isolated_env does per test
        mp.setenv("GIT_CONFIG_GLOBAL", os.devnull)
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        root = init_git(tmp_path_factory.mktemp("two") / "proj")
        repo = Repo.init(str(root))
        write(root / "data.csv", "id,price\n1,10\n2,20\n")
        repo.snapshot("m", inputs={"train": "data.csv"}, params=[f"note={EVIL}"], message=EVIL)
        write(root / "data.csv", "id,price\n1,10\n2,25\n")
        repo.snapshot("m", inputs={"train": "data.csv"}, params=[f"note={EVIL}'"],
                      message="second 'one'")
        yield repo
        repo.close()


def test_record_html_and_text(two: Repo) -> None:
    oid, rec = two.show("m@1")
    html = rec._repr_html_()
    check_fragment(html)
    assert "m@1" in html and oid in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html  # message and param
    assert html.count("&lt;script&gt;") == 2
    bundle = rec._repr_mimebundle_()
    assert bundle["text/html"] == html
    assert bundle["text/plain"].splitlines()[0].startswith(f"m@1  model  {oid}")


def test_diff_html(two: Repo) -> None:
    d = two.diff("m@1", "m@2")
    html = d._repr_html_()
    check_fragment(html)
    assert "m@1 → m@2" in html
    assert re.search(r'<code>train</code>.{0,200}badge modified', html, re.S), html[:3000]
    assert "&#x27;" in html and "<script" not in html  # the param's quote, escaped
    assert d._repr_mimebundle_()["text/plain"] == str(d)


def test_diff_html_draws_no_plot_placeholders(repo: Repo, git_repo: Path) -> None:
    """A drifted column shows in the drift table, but no "no plot: ... not cached" box: a
    Diff holds no profile, so the notebook view draws no plots at all (as documented)."""
    write(git_repo / "t.csv", "x\n" + "".join(f"{i % 50}\n" for i in range(200)))
    repo.snapshot("t", inputs={"train": "t.csv"})
    write(git_repo / "t.csv", "x\n" + "".join(f"{i % 50 + 40}\n" for i in range(200)))
    repo.snapshot("t", inputs={"train": "t.csv"})
    d = repo.diff("t@1", "t@2")
    html = d._repr_html_()
    assert 'class="drift"' in html and "drifted" in html, str(d)
    assert "no plot" not in html and "plot-missing" not in html


def test_log_html(two: Repo) -> None:
    log = two.log("m")
    assert isinstance(log, list) and [r.version for _, r in log] == [2, 1]
    assert log[1:] == [two.show("m@1")]  # still a list: sliced, compared
    html = log._repr_html_()
    check_fragment(html)
    rows = re.findall(r"<tr><td><strong>(m@\d)</strong>", html)
    assert rows == ["m@2", "m@1"]
    assert "second &#x27;one&#x27;" in html and "&lt;script&gt;" in html
    assert log._repr_mimebundle_()["text/plain"].count("\n") == 1


def test_html_bounded_on_huge_values(two: Repo) -> None:
    """A log of 10k versions with 64k-character messages, a record with 10k params and a
    lineage of 20k links each render to a bounded fragment, the rest counted."""
    import dataclasses

    from mlver.core.lineage import GraphEdge, GraphNode, LineageGraph
    from mlver.views import htmlvalues as hv

    oid, rec = two.show("m@1")
    big = dataclasses.replace(rec, message="x" * 65536 + "\nsecond line",
                              params={f"p{i}": "v" * 5000 for i in range(10_000)})
    log_html = hv.log_html([(oid, big)] * 10_000)
    assert len(log_html) < 200_000 and "and 9800 more" in log_html
    rec_html = hv.record_html(big)
    assert len(rec_html) < 1_000_000 and "and 9,500 more" in rec_html
    nodes = tuple(GraphNode(f"{i:032x}", "n", i, "model") for i in range(20_001))
    edges = tuple(GraphEdge(f"{0:032x}", f"{i:032x}", "s", "a" * 32) for i in range(1, 20_001))

    class Big:
        def subgraph(self) -> LineageGraph:
            return LineageGraph(f"{0:032x}", nodes, edges)

    lin_html = hv.lineage_html(Big())  # type: ignore[arg-type]
    assert len(lin_html) < 200_000 and "and 19,500 more" in lin_html


def test_lineage_html(repo: Repo, git_repo: Path) -> None:
    write(git_repo / "raw.csv", "a\n1\n")
    made = repo.snapshot("prep", inputs={"raw": "raw.csv"}, outputs={"out": "out.csv"}
                         if (git_repo / "out.csv").write_text("b\n2\n") else None)
    repo.snapshot("model", inputs={"train": "out.csv"}, message=EVIL)
    html = repo.lineage("model@1")._repr_html_()
    check_fragment(html)
    assert re.search(r"<td>prep@1</td><td><code>train</code></td><td>model@1</td>", html)
    assert made.record.outputs["out"].oid[:12] in html
    text = repo.lineage("prep@1")._repr_mimebundle_()["text/plain"]
    assert text.splitlines()[1].startswith("└─ -> model@1 (model) via train")


def test_attribution_html() -> None:
    share = Share(group=f"data {EVIL}", kind="data", value=-0.25, share=1.0, stderr=None,
                  within_noise=False, half_width=0.01)
    m = MetricShares(metric="rmse'", old=1.0, new=0.75, replayed_old=1.0, replayed_new=0.75,
                     noise_floor=0.0, shares=(share,))
    a = Attribution(old={"oid": "a" * 32, "name": "m", "version": 1},
                    new={"oid": "b" * 32, "name": "m", "version": 2}, command=("python",),
                    groups=({"group": f"data {EVIL}", "kind": "data"},), method="exact",
                    orders=0, budget=None, metrics=(m,), runs=(), env_differs=False,
                    notes=(EVIL,))
    html = a._repr_html_()
    check_fragment(html)
    assert "m@1 → m@2" in html and "rmse&#x27;" in html
    assert "<td>-0.25</td>" in html and "<td>100%</td>" in html
    assert html.count("&lt;script&gt;") == 2  # the group and the note
    assert a._repr_mimebundle_()["text/plain"] == str(a)


# -- the sample notebook, run as Jupyter would --------------------------------------------

def test_sample_notebook_runs(tmp_path: Path, monkeypatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    proj = tmp_path / "sample_project"
    shutil.copytree(SAMPLE, proj, ignore=shutil.ignore_patterns(
        "raw", "features", "model", "metrics.json", "__pycache__", ".mlver", "*.pkl"))
    # commits the copy as it is (its .gitignore keeps raw/ and summary.json out)
    init_git(proj, {".gitignore": (SAMPLE / ".gitignore").read_text()})
    repo = Repo.init(str(proj))
    # two months of listings, small: what `generate_data.py` writes, in a few rows
    head = "listing_id,neighbourhood,price\n"
    write(proj / "raw" / "listings-2026-01.csv", head + "100000,Old Town,120\n100001,Docks,90\n")
    repo.snapshot("listings")
    write(proj / "raw" / "listings-2026-02.csv", head + "200000,Harbourside,300\n")
    repo.snapshot("listings")
    repo.close()
    notebook = proj / "notebooks" / "explore.ipynb"
    monkeypatch.setenv("MLVER_NOTEBOOK", str(notebook))  # a front end would say (see docs)
    nb = nbformat.read(notebook, as_version=4)
    doc = (Path(__file__).resolve().parents[1] / "docs" / "notebooks.md").read_text()
    shown = re.findall(r"```python\n(.*?)\n```", doc, re.S)
    # the doc's examples are the notebook's code cells: what runs below
    assert shown == [c.source for c in nb.cells if c.cell_type == "code"]
    t0 = time.monotonic()
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}}).execute()
    took = time.monotonic() - t0

    def html_of(i: int) -> str:
        (out,) = [o for o in nb.cells[i].outputs if o.output_type == "execute_result"]
        return str(out.data["text/html"])

    log, diff, record, lineage = html_of(1), html_of(2), html_of(4), html_of(5)
    assert re.findall(r"<strong>(listings@\d)</strong>", log) == ["listings@2", "listings@1"]
    assert re.search(r"<code>raw</code>.{0,200}badge modified", diff, re.S)
    assert "listings-2026-02.csv" in diff
    assert "listings-summary@1" in record and "<td><code>rows</code></td><td>3</td>" in record
    assert "<td>listings@2</td><td><code>raw</code></td><td>listings-summary@1</td>" in lineage
    with Repo(str(proj)) as after:
        _, rec = after.show("listings-summary@1")
    assert rec.metrics == {"rows": 3, "months": 2} and not rec.failed
    assert rec.code.scope is not None and rec.code.scope.paths == ("notebooks/explore.ipynb",)
    assert rec.run is not None and rec.run.command[1] == "-c"
    assert "with mlver.track(\"listings-summary\"" in rec.run.command[2]
    assert took < 30, took  # one kernel start
