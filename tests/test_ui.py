"""``mlver ui`` (issue 14): the read-only web app, through Flask's test client.

A real store (a three-stage pipeline with a failed run); every route is requested, and the
store's files are compared byte for byte before and after: the UI never writes. The
versions table's sorting and filtering, the lineage graph's nodes and edges, the record
page, the diff report of two ticked rows, and the security headers are checked here;
tests/test_report_browser.py drives the same pages in Chromium.
"""

from __future__ import annotations

import time
import hashlib
import html
import os
import re
import sys
import threading
from pathlib import Path

import pytest

flask = pytest.importorskip("flask", reason="the ui extra (flask) is not installed")

import mlver  # noqa: E402
from _fixtures import (assert_error, cli, make_git_repo, mrepo, proj, write,  # noqa: E402
                       write_csv)
from mlver.web import ui  # noqa: E402
from mlver.base.errors import ReadOnlyError  # noqa: E402
from mlver.store import Store  # noqa: E402

__all__ = ["mrepo", "proj"]

PY = sys.executable
HOSTILE = "<script>alert('x')</script> & \"quotes\""


def table(n: int, shift: float) -> list[list]:
    import random

    rnd = random.Random(int(shift))
    return [[i, round(rnd.gauss(50 + shift, 10), 2), "ab"[rnd.randrange(2)]] for i in range(n)]


def build(root: Path, repo) -> dict:
    oids = {}
    for v, (shift, acc, lr) in enumerate(((0, 0.91, 0.1), (8, 0.84, 0.05)), start=1):
        write_csv(root / "raw.csv", ["id", "x", "c"], table(300 * v, shift))
        oids[f"raw@{v}"] = repo.snapshot("raw", outputs={"raw": "raw.csv"}, kind="dataset").oid
        write_csv(root / "f.csv", ["id", "x2"], [[i, x * 2] for i, x, _ in table(300 * v, shift)])
        oids[f"feat@{v}"] = repo.snapshot("feat", inputs={"raw": "raw.csv"},
                                          outputs={"f": "f.csv"}, kind="dataset").oid
        write(root / "model.bin", f"model {v}\n")
        oids[f"m@{v}"] = repo.snapshot(
            "m", inputs={"train": "f.csv"}, outputs={"model": "model.bin"},
            params=[f"lr={lr}", "depth=6"], metrics=[f"acc={acc}", f"rmse={10 * v + 0.5}"],
            message=HOSTILE if v == 2 else "first").oid
    write(root / "fail.py", "raise SystemExit(4)\n")
    res = repo.execute("m", [PY, "fail.py"], record_failed=True, inputs={"train": "f.csv"},
                       outputs={"model": "model.bin"}, metrics=["acc=0.1"])
    oids["m@3"] = res.oid
    repo.tag("m@2", "production")
    return oids


@pytest.fixture(scope="module")
def store_built(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIRTUAL_ENV", sys.prefix)
        for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            mp.delenv(var, raising=False)
        root = make_git_repo(tmp_path_factory.mktemp("ui") / "proj",
                             {"README.md": "# p\n", ".gitignore": ".mlver/\n*.csv\nmodel.bin\n"})
        mp.chdir(root)
        repo = mlver.Repo.init(str(root))
        oids = build(root, repo)
        repo.lineage("m@2").graph()  # the index is complete (lineage caught up)
        repo.close()
    return root, oids


@pytest.fixture
def app(store_built):
    root, oids = store_built
    a = ui.create_app(str(root))
    yield a, root, oids
    a.extensions["mlver.repos"].close()


def store_state(root: Path) -> list[tuple[str, int, str]]:
    """Every file of the store (SQLite's -wal/-shm coordination files aside) with its
    size and a hash of its bytes."""
    out = []
    base = root / ".mlver"
    for dirpath, _dirs, files in os.walk(base):
        for f in files:
            if f.endswith(("-wal", "-shm")):
                continue
            p = Path(dirpath) / f
            out.append((str(p.relative_to(base)), p.stat().st_size,
                        hashlib.sha1(p.read_bytes()).hexdigest()))
    return sorted(out)


def column(page: str, col: str) -> list[str]:
    """The texts of one column of the versions table, top to bottom."""
    heads = re.findall(r'<th[^>]*data-col="([^"]*)"', page)
    i = heads.index(col) + 1  # the checkbox column comes first
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    out = []
    for row in re.findall(r"<tr data-oid=[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        out.append(html.unescape(re.sub(r"<[^>]+>", "", cells[i])))
    return out


# --------------------------------------------------------------------------- versions


def test_versions_lists_every_record_with_params_and_metrics(app):
    a, root, oids = app
    page = a.test_client().get("/versions").get_data(as_text=True)
    assert len(re.findall(r'<tr data-oid="', page)) == len(oids) == 7
    heads = re.findall(r'<th[^>]*data-col="([^"]*)"', page)
    assert {"params.lr", "params.depth", "metrics.acc", "metrics.rmse"} <= set(heads)
    assert column(page, "version")[0] == "m@3"  # newest first
    assert "FAILED (exit 4)" in column(page, "status")
    assert "production" in column(page, "tags")[column(page, "version").index("m@2")]


def test_versions_sort_by_a_metric_both_ways_missing_last(app):
    a, _root, _oids = app
    c = a.test_client()
    up = column(c.get("/versions?sort=metrics.rmse&desc=0").get_data(as_text=True),
                "metrics.rmse")
    assert up[:2] == ["10.5", "20.5"] and up[2:] == [""] * 5
    down = column(c.get("/versions?sort=metrics.acc&desc=1").get_data(as_text=True),
                  "metrics.acc")
    assert down[:3] == ["0.91", "0.84", "0.1"]
    versions = column(c.get("/versions?sort=version&desc=0").get_data(as_text=True), "version")
    assert versions == ["feat@1", "feat@2", "m@1", "m@2", "m@3", "raw@1", "raw@2"]
    # an unknown column sorts by creation, as the default does
    assert c.get("/versions?sort=nope").status_code == 200


@pytest.mark.parametrize("q, want", [
    ("metrics.acc > 0.5", {"m@1", "m@2"}),
    ("metrics.acc >= 0.84 and params.lr = 0.05", {"m@2"}),
    ("status = failed", {"m@3"}),
    ("name = raw", {"raw@1", "raw@2"}),
    ("tag = production", {"m@2"}),
    ("script", {"m@2"}),
    ("kind = dataset and version > 1", {"raw@2", "feat@2"}),
    ("metrics.rmse != 10.5", {"m@2"}),
])
def test_versions_filter(app, q, want):
    a, _root, _oids = app
    page = a.test_client().get("/versions", query_string={"q": q}).get_data(as_text=True)
    assert set(column(page, "version")) == want


def test_filter_parsing():
    assert ui.parse_filter("metrics.rmse<30 AND name = 'a b'") == [
        ("metrics.rmse", "<", 30), ("name", "=", "a b")]
    assert ui.parse_filter("hello world") == [("*", "~", "hello world")]
    assert ui.parse_filter("params.flag = true and x = null") == [
        ("params.flag", "=", True), ("x", "=", None)]
    row = {"name": "m", "metrics.acc": 0.5, "params.s": "Adam"}
    assert ui.matches(row, ("params.s", "=", "adam"))
    assert not ui.matches(row, ("metrics.acc", ">", "text"))
    assert not ui.matches(row, ("metrics.missing", ">", 1))


def test_paging(app):
    a, _root, _oids = app
    c = a.test_client()
    p1 = c.get("/versions?n=3").get_data(as_text=True)
    p3 = c.get("/versions?n=3&page=3").get_data(as_text=True)
    assert len(re.findall(r'<tr data-oid="', p1)) == 3
    assert len(re.findall(r'<tr data-oid="', p3)) == 1
    assert "page 1 of 3" in p1 and "next →" in p1


# --------------------------------------------------------------------------- record and lineage


def test_record_page_shows_everything_and_the_exit_code(app):
    a, _root, oids = app
    page = a.test_client().get(f"/record/{oids['m@3']}").get_data(as_text=True)
    for text in ("m@3", "FAILED", "Inputs", "Outputs", "Code", "Params", "Metrics",
                 "Environment", "fail.py", "exit code", "f.csv"):
        assert text in page, text
    assert re.search(r'<td class="failed">4</td>', page)
    assert f'made by <a href="/record/{oids["feat@2"]}">feat@2</a>' in page
    prod = a.test_client().get(f"/record/{oids['m@2']}").get_data(as_text=True)
    assert '<span class="tag">production</span>' in prod
    assert f"/diff?a={oids['m@1']}&amp;b={oids['m@2']}" in prod


def test_a_command_of_several_lines_keeps_them(tmp_path, monkeypatch):
    """A command whose argument holds lines (the cells mlver.track records from a notebook)
    is shown quoted as mlver show prints it, in a <code class="cmd"> the style sheet keeps
    the lines of (pre-wrap), not run together into one line."""
    root = make_git_repo(tmp_path / "p", {"README.md": "# p\n", ".gitignore": ".mlver/\n",
                                          "in.txt": "1\n"})
    monkeypatch.chdir(root)
    with mlver.Repo.init(str(root)) as repo:
        oid = repo.execute("m", [PY, "-c", "x = 1\nprint(x)"], inputs={"i": "in.txt"}).oid
        rec = repo.record(oid)
    a = ui.create_app(str(root))
    try:
        page = a.test_client().get(f"/record/{oid}").get_data(as_text=True)
        css = a.test_client().get("/static/ui.css").get_data(as_text=True)
    finally:
        a.extensions["mlver.repos"].close()
    assert f"<code class=\"cmd\">{html.escape(PY)} -c &#x27;x = 1\nprint(x)&#x27;</code>" in page
    assert "code.cmd{white-space:pre-wrap" in css
    assert '<code class="cmd">' in rec._repr_html_()  # the notebook's Record, the same


def test_record_errors(app):
    a, _root, _oids = app
    c = a.test_client()
    assert c.get("/record/not-an-oid").status_code == 404
    r = c.get("/record/" + "0" * 32)
    assert r.status_code == 404 and "Error" in r.get_data(as_text=True)


def test_lineage_has_one_node_per_record_and_one_edge_per_link(app):
    a, root, oids = app
    with mlver.Repo(str(root)) as repo:
        graph = repo.lineage(oids["m@2"]).graph("both", 3)
    page = a.test_client().get(f"/lineage/{oids['m@2']}").get_data(as_text=True)
    nodes = re.findall(r'<a href="/record/([0-9a-f]{32})" class="node[^"]*" data-oid', page)
    edges = re.findall(r'<g class="edge" data-from="([0-9a-f]+)" data-to="([0-9a-f]+)"', page)
    assert sorted(nodes) == sorted(n["oid"] for n in graph["nodes"])
    assert sorted(edges) == sorted((ed["from"], ed["to"]) for ed in graph["edges"])
    assert {oids["raw@2"], oids["feat@2"], oids["m@2"]} <= set(nodes)
    failed = a.test_client().get(f"/lineage/{oids['m@3']}").get_data(as_text=True)
    assert re.search(rf'class="node failed root" data-oid="{oids["m@3"]}"', failed)
    assert "FAILED (exit 4)" in failed


def test_layout_puts_producers_left_and_survives_a_cycle():
    nodes = [{"oid": c, "name": c, "version": 1} for c in "abcd"]
    edges = [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "a", "to": "c"},
             {"from": "d", "to": "c"}]
    pos = ui.layout(nodes, edges)
    assert pos["a"][0] < pos["b"][0] < pos["c"][0] and pos["d"][0] < pos["c"][0]
    cyc = ui.layout(nodes[:2], [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}])
    assert set(cyc) == {"a", "b"}


# --------------------------------------------------------------------------- diff


def test_two_ticked_rows_open_their_diff_older_first(app):
    a, _root, oids = app
    r = a.test_client().get("/diff", query_string=[("r", oids["m@2"]), ("r", oids["m@1"])])
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert 'id="verdict"' in page and "m@1 -&gt; m@2" in page
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    assert "script-src" not in r.headers["Content-Security-Policy"]
    assert "<script" not in page
    assert '<a href="/versions">← versions</a>' in page


def test_diff_needs_two(app):
    a, _root, oids = app
    c = a.test_client()
    assert c.get("/diff", query_string={"r": oids["m@1"]}).status_code == 400
    assert c.get("/diff").status_code == 400
    assert c.get("/diff", query_string={"a": oids["m@1"], "b": "nosuch@3"}).status_code == 404


# --------------------------------------------------------------------------- read-only


def visit_everything(client, oids) -> None:
    for url in ["/", "/versions", "/versions?sort=metrics.acc&q=acc>0", "/static/ui.css",
                "/static/ui.js", *(f"/record/{o}" for o in oids.values()),
                *(f"/lineage/{o}" for o in oids.values())]:
        assert client.get(url).status_code in (200, 302), url
    for pair in (("raw@1", "raw@2"), ("feat@1", "feat@2"), ("m@1", "m@2"), ("m@2", "m@3")):
        r = client.get("/diff", query_string={"a": oids[pair[0]], "b": oids[pair[1]]})
        assert r.status_code == 200, r.get_data(as_text=True)[:500]


def test_the_ui_never_writes_to_the_store(app):
    a, root, oids = app
    before = store_state(root)
    visit_everything(a.test_client(), oids)
    assert store_state(root) == before
    # the table diffs above cached no profile
    import sqlite3

    conn = sqlite3.connect(root / ".mlver" / "index.sqlite")
    assert conn.execute("SELECT COUNT(*) FROM derived WHERE kind LIKE 'table-%'"
                        ).fetchone()[0] == 0
    conn.close()


def test_without_an_index_file_an_index_in_memory_serves_and_none_is_written(store_built,
                                                                             tmp_path):
    import shutil

    root, oids = store_built
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    for suffix in ("", "-wal", "-shm"):
        p = copy / ".mlver" / ("index.sqlite" + suffix)
        if p.exists():
            p.unlink()
    before = store_state(copy)
    a = ui.create_app(str(copy))
    page = a.test_client().get("/versions").get_data(as_text=True)
    assert len(re.findall(r'<tr data-oid="', page)) == 7
    assert "built in memory" in page
    lin = a.test_client().get(f"/lineage/{oids['m@2']}").get_data(as_text=True)
    assert lin.count('class="edge"') >= 2
    a.extensions["mlver.repos"].close()
    assert store_state(copy) == before
    assert not (copy / ".mlver" / "index.sqlite").exists()


def test_records_the_index_lacks_are_listed(store_built, tmp_path):
    """A version whose writer died before indexing it: the UI finds it from the refs
    (reading only) and says the index lags."""
    import shutil

    root, oids = store_built
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    import sqlite3

    conn = sqlite3.connect(copy / ".mlver" / "index.sqlite")
    conn.execute("DELETE FROM records WHERE oid = ?", (oids["m@3"],))
    conn.commit()
    conn.close()
    before = store_state(copy)
    a = ui.create_app(str(copy))
    page = a.test_client().get("/versions").get_data(as_text=True)
    assert "m@3" in column(page, "version") and len(column(page, "version")) == 7
    assert "the index lacks 1 record" in page
    a.extensions["mlver.repos"].close()
    assert store_state(copy) == before


def test_read_only_store_refuses_writes(store_built):
    root, _oids = store_built
    s = Store(str(root / ".mlver"), read_only=True)
    with pytest.raises(ReadOnlyError):
        s.objects.batch()
    with pytest.raises(ReadOnlyError):
        s.refs.update("m", "0" * 32, None)
    with pytest.raises(ReadOnlyError):
        s.refs.set_tag("m", "t", "0" * 32)
    import sqlite3

    assert s.index.read_only
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        s.index.set_meta("k", "v")
    s.close()


def test_several_users_at_once(app):
    a, root, oids = app
    before = store_state(root)
    errors: list[str] = []

    def user(i: int) -> None:
        c = a.test_client()
        try:
            for _ in range(3):
                urls = ["/versions?sort=metrics.acc", f"/record/{oids['m@1']}",
                        f"/lineage/{oids['m@2']}",
                        f"/diff?a={oids['m@1']}&b={oids['m@2']}"]
                for url in urls:
                    r = c.get(url)
                    if r.status_code != 200:
                        errors.append(f"{url}: {r.status_code}")
        except Exception as err:  # pragma: no cover - reported below
            errors.append(repr(err))

    threads = [threading.Thread(target=user, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store_state(root) == before


# --------------------------------------------------------------------------- security


def test_headers_host_check_and_methods(app):
    a, _root, oids = app
    c = a.test_client()
    r = c.get("/versions")
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert c.get("/versions", headers={"Host": "attacker.example:8750"}).status_code == 400
    assert c.get("/versions", headers={"Host": "127.0.0.1:8750"}).status_code == 200
    assert c.get("/versions", headers={"Host": "[::1]:8750"}).status_code == 200
    assert c.post("/versions").status_code == 405
    assert c.delete(f"/record/{oids['m@1']}").status_code == 405


def test_store_text_is_escaped_everywhere(app):
    a, _root, oids = app
    c = a.test_client()
    for url in ("/versions", f"/record/{oids['m@2']}", f"/lineage/{oids['m@2']}"):
        page = c.get(url).get_data(as_text=True)
        assert "<script>alert" not in page, url
        # the only script is the app's own file
        assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/ui.js">'], url
    page = c.get("/versions").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers


def test_host_checks():
    assert ui.is_loopback("127.0.0.1") and ui.is_loopback("::1") and ui.is_loopback("localhost")
    assert ui.is_loopback("127.1.2.3")
    assert not ui.is_loopback("0.0.0.0") and not ui.is_loopback("192.168.1.4")
    assert ui.check_host("127.0.0.1", False) is None
    assert "--allow-remote" in ui.check_host("0.0.0.0", False)
    assert ui.check_host("0.0.0.0", True) is None


def test_cli_refuses_a_remote_bind_without_the_flag(mrepo):
    r = cli("ui", "--host", "0.0.0.0")
    assert r.exit_code == 2 and "--allow-remote" in r.output


def test_cli_without_flask_names_the_extra(mrepo, monkeypatch):
    monkeypatch.setitem(sys.modules, "flask", None)
    assert_error(cli("ui"), 'pip install "mlver[ui]"')


def test_cli_serves_until_interrupted(mrepo, monkeypatch):
    """``mlver ui`` prints where it listens and serves with a threaded server."""
    seen = {}

    class FakeServer:
        server_port = 4321

        def serve_forever(self):
            raise KeyboardInterrupt

        def server_close(self):
            seen["closed"] = True

    def fake_make_server(host, port, app, threaded):
        seen.update(host=host, port=port, threaded=threaded)
        return FakeServer()

    import werkzeug.serving

    monkeypatch.setattr(werkzeug.serving, "make_server", fake_make_server)
    r = cli("ui", "--port", "0")
    assert r.exit_code == 0, r.output
    assert seen == {"host": "127.0.0.1", "port": 0, "threaded": True, "closed": True}
    assert "http://127.0.0.1:4321/" in r.output and "read-only" in r.output


def test_cli_a_taken_port_is_one_error_line(mrepo):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        assert_error(cli("ui", "--port", str(port)), f"port {port}", "pick another --port")



# --------------------------------------------------------------------------- issue 25:
# metric history per name, artifact downloads


def test_name_page_and_record_page_chart_the_metric_history(app):
    a, _root, oids = app
    c = a.test_client()
    page = c.get("/name?n=m").get_data(as_text=True)
    figs = dict(re.findall(r'<figure class="history" data-metric="([^"]+)" '
                           r'data-points="(\d+)">', page))
    assert figs == {"acc": "3", "rmse": "2"}
    assert len(re.findall(r'<tr><td><a href="/record/', page)) == 3
    rec = c.get(f"/record/{oids['m@2']}").get_data(as_text=True)
    assert '<a href="/name?n=m">m</a>' in rec
    assert rec.count('<figure class="history"') == 2
    assert c.get("/name?n=nope").status_code == 404
    bad = c.get("/name", query_string={"n": HOSTILE})
    assert bad.status_code == 404 and "<script>alert" not in bad.get_data(as_text=True)


@pytest.fixture
def folder_app(proj, mrepo, monkeypatch):
    """A folder slot (a file in a sub-folder stored chunked) and a file slot."""
    import random

    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 64 << 10)
    write(proj / "out" / "a.txt", "alpha\n")
    write(proj / "out" / "sub" / "b.bin", random.Random(1).randbytes(300 << 10))
    write(proj / "model.bin", b"\x00model\xff")
    oid = mrepo.snapshot("d", outputs={"dir": "out", "model": "model.bin"}).oid
    a = ui.create_app(str(proj))
    yield a.test_client(), oid, proj
    a.extensions["mlver.repos"].close()


def test_download_streams_a_slot_or_a_file_in_a_folder_slot(folder_app):
    c, oid, proj = folder_app
    with mlver.Repo(str(proj)) as repo:
        b = repo.store.tree(repo.store.tree(repo.record(oid).outputs["dir"].oid).entries[1].oid)
        assert repo.store.objects.manifest(b.entries[0].oid) is not None  # chunked
    page = c.get(f"/record/{oid}").get_data(as_text=True)
    links = re.findall(r'<a class="download" download href="([^"]+)"', page)
    assert [html.unescape(u) for u in links] == [
        f"/download/{oid}?side=outputs&slot=dir&path=a.txt",
        f"/download/{oid}?side=outputs&slot=dir&path=sub%2Fb.bin",
        f"/download/{oid}?side=outputs&slot=model"]
    for url, path in zip(links, ("out/a.txt", "out/sub/b.bin", "model.bin")):
        r = c.get(html.unescape(url))
        assert r.status_code == 200 and r.data == (proj / path).read_bytes()
        name = path.rsplit("/", 1)[-1]
        assert r.headers["Content-Disposition"].startswith(f'attachment; filename="{name}"')
        assert r.headers["Content-Type"] == "application/octet-stream"
        assert "default-src 'none'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert c.get(html.unescape(links[0]), headers={"Host": "evil.example"}).status_code == 400


REFUSED = ("side=outputs&slot=dir&path=../model.bin", "side=outputs&slot=dir&path=/etc/passwd",
           "side=outputs&slot=dir&path=sub", "side=outputs&slot=dir&path=sub/../a.txt",
           "side=outputs&slot=dir", "side=outputs&slot=model&path=x", "side=outputs&slot=nope",
           "side=store&slot=model", "side=outputs&slot=dir&path=a.txt/",
           "side=outputs&slot=dir&path=sub//b.bin", "side=outputs&slot=dir&path=.")


def test_download_refuses_what_the_record_does_not_name(folder_app):
    c, oid, _proj = folder_app
    for query in REFUSED:
        r = c.get(f"/download/{oid}?{query}")
        assert r.status_code == 404 and "Content-Disposition" not in r.headers, query
    assert c.get("/download/notanoid?side=outputs&slot=model").status_code == 404


def test_download_names_are_safe_in_the_header():
    from mlver.web.download import disposition

    assert disposition('a"b\r\nX: y.csv') == (
        "attachment; filename=\"a_b__X__y.csv\"; filename*=UTF-8''a%22b%0D%0AX%3A%20y.csv")


def test_name_page_bounded_on_many_versions_and_long_metric_values(app):
    """10k versions with 10k-character metric values: at most MAX_PAGE_SIZE rows, each
    value cut, the rest counted and linked to the versions table."""
    import dataclasses

    from mlver.core.record import Record
    from mlver.web.pages import MAX_PAGE_SIZE, name_page

    _a, root, oids = app
    with mlver.Repo(str(root)) as repo:
        rec: Record = repo.record(oids["m@2"])
    rec = dataclasses.replace(rec, metrics={"note": "<b>" * 2500, "acc": 0.5})
    items = [(f"{i:032x}", dataclasses.replace(rec, version=i + 1)) for i in range(10_000)]
    page = name_page("m", items)
    assert page.count("<tr><td><a href=\"/record/") == MAX_PAGE_SIZE
    assert f"and {10_000 - MAX_PAGE_SIZE:,} older versions" in page
    assert "<b>" not in page and len(page) < 2_000_000
