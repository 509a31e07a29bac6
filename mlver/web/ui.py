"""``mlver ui``: a local, read-only web app over one store (Flask, the ``ui`` extra).

Pages:

``/versions``
    every record, with its ``params.*`` and ``metrics.*`` columns (like MLflow's run
    table): sort by any column, filter (``metrics.rmse < 30 and name = price-model``),
    tick two rows and open their diff.
``/lineage/OID``
    the graph around a version, drawn as a DAG (stages coloured by kind, failed runs
    marked); each node links to its record.
``/record/OID``
    inputs, outputs, code, params, metrics, env, tags, and the command with its exit code.
``/diff?a=OID&b=OID``
    the HTML diff report (:mod:`mlver.views.report`) of two versions.

Read-only: every request works on a :class:`~mlver.api.Repo` opened with
``read_only=True`` (the index opened by SQLite in ``mode=ro``, or a private in-memory one
when there is no usable index file; object and ref writes refused; no table profile
cached), taken from a small pool so that requests in parallel threads (several users at
once) never share one. Only GET is served; the Host header must name the loopback
address the app is bound to (against DNS rebinding), and every response carries a strict
Content-Security-Policy: scripts and styles only from the app itself, nothing from
anywhere else, no inline script. Every text shown (names, paths, columns, messages,
commit summaries) may come from someone else's store and is escaped.
"""

from __future__ import annotations

import ipaddress
import json
import math
import threading
import time
from contextlib import contextmanager
from html import escape
from typing import Any
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

from mlver.base.errors import ConfigError, MlverError
from mlver.web.dag import layout, lineage_svg  # noqa: F401 (mlver.web.ui API)
from mlver.web.filter import FilterTooLong, _number, _text, matches, parse_filter  # noqa: F401

PAGE_SIZE = 100          # rows of the versions table per page
MAX_PAGE_SIZE = 1000
MAX_COLUMNS = 60         # params.* (and metrics.*) columns shown at most
MAX_NODES = 300          # a lineage graph with more nodes is drawn with a smaller depth
REPO_MAX_AGE = 30.0      # seconds a pooled read-only Repo is reused (then reopened: fresh refs)
DEFAULT_PORT = 8750

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")

Warn = Callable[[str], None]


def load_flask() -> Any:
    """The flask module, or an error naming the extra that brings it."""
    try:
        import flask
    except ImportError:
        raise ConfigError('mlver ui needs Flask, which is not installed; install the ui extra '
                          'with pip install "mlver[ui]"') from None
    return flask


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> str | None:
    """Why binding ``host`` is refused (None when it is fine)."""
    if is_loopback(host) or allow_remote:
        return None
    return (f"--host {host} is not a loopback address, and the UI has no authentication: "
            "anyone who can reach it could read the store; add --allow-remote to bind it "
            "anyway, or leave --host out (127.0.0.1)")


def e(value: Any) -> str:
    return escape(str(value), quote=True)


# --------------------------------------------------------------------------- read-only repos


class Repos:
    """A pool of read-only Repos of one root: one per request in flight, reused for
    REPO_MAX_AGE seconds, sharing one memo of decoded records (objects never change)."""

    def __init__(self, root: str, warn: Warn | None = None) -> None:
        self.root = root
        self.warn = warn
        self._idle: list[tuple[float, Any]] = []
        self._lock = threading.Lock()
        self.memo: dict[str, object] = {}
        self.rows: dict[str, dict] = {}  # record oid -> its row of the versions table
        self.notices: dict[str, str] = {}  # the latest problems about the index, by kind

    def _open(self) -> Any:
        from mlver.api import Repo

        notes: list[str] = []
        repo = Repo(self.root, warn=notes.append, read_only=True)
        repo.store.memo = self.memo
        index = repo.store.index  # opened now: says what it lacks
        notices = {}
        if index.in_memory:
            notices["index"] = ("the index file is missing or unusable, so an index was built "
                                "in memory for this server (it writes none); run any mlver "
                                "command, or mlver reindex, to rebuild .mlver/index.sqlite")
        elif index.read_only and index.graph.pending_count():
            notices["lineage"] = (f"{index.graph.pending_count():,} record(s) have lineage "
                                  "through folders not computed yet (the UI writes nothing); "
                                  "run mlver lineage on any version to compute it")
        for n in notes:
            notices.setdefault("unindexed" if "index lacks" in n else n, n)
        with self._lock:
            self.notices = notices
        return repo

    @contextmanager
    def repo(self) -> Iterator[Any]:
        now = time.monotonic()
        repo = None
        with self._lock:
            while self._idle:
                born, r = self._idle.pop()
                if now - born <= REPO_MAX_AGE:
                    repo = (born, r)
                    break
                r.close()
        if repo is None:
            repo = (now, self._open())
        try:
            yield repo[1]
        finally:
            with self._lock:
                self._idle.append(repo)

    def close(self) -> None:
        with self._lock:
            for _, r in self._idle:
                r.close()
            self._idle = []


# --------------------------------------------------------------------------- the versions table


BASE_COLUMNS = ("version", "status", "kind", "created", "commit", "tags", "message")


def record_row(oid: str, rec: Any) -> dict:
    """One row of the versions table (without tags, which can move)."""
    from mlver.core.params import flatten

    row = {"oid": oid, "name": rec.name, "version": rec.version, "kind": rec.kind,
           "created": rec.created, "commit": (rec.code.commit or "")[:10] or None,
           "message": rec.message, "status": rec.status,
           "exit_code": rec.run.exit_code if rec.run is not None else None}
    row.update({f"params.{k}": v for k, v in flatten(rec.params).items()})
    row.update({f"metrics.{k}": v for k, v in flatten(rec.metrics).items()})
    row["_columns"] = tuple(k for k in row if k.startswith(("params.", "metrics.")))
    return row


def sort_rows(rows: list[dict], column: str, desc: bool) -> list[dict]:
    """Rows sorted by ``column`` (numbers before text), rows without a value last."""
    def key(r: dict) -> tuple:
        v = r.get(column)
        if _number(v):
            return (0, float(v), "")
        if isinstance(v, str):
            return (1, 0.0, v.lower())
        return (2, 0.0, json.dumps(v, sort_keys=True, default=str))

    if column == "version":  # a name's versions in order
        have = sorted(rows, key=lambda r: (r["name"].lower(), r["version"]), reverse=desc)
        return have
    have = [r for r in rows if r.get(column) not in (None, [], "")]
    none = [r for r in rows if r.get(column) in (None, [], "")]
    kinds = {type(r[column]) for r in have}
    if kinds <= {int, float} or kinds == {str} and column == "created":
        have.sort(key=lambda r: r[column], reverse=desc)  # one type: compare as is (fast)
    else:
        have.sort(key=key, reverse=desc)
    return have + none


def _cell(v: Any) -> str:
    """A table cell's text: numbers with 6 significant digits, everything else as JSON
    or YAML would write it."""
    if v is None:
        return ""
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.6g}"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return _text(v)


# --------------------------------------------------------------------------- the app


def create_app(root: str, warn: Warn | None = None, allowed_hosts: set[str] | None = None
               ) -> Any:
    """The Flask app serving the store of ``root`` read-only. ``allowed_hosts``: the host
    names the Host header may carry (default: the loopback names; None keeps the default,
    an empty set allows any, as ``--allow-remote`` does)."""
    flask = load_flask()
    from flask import Flask, Response, abort, redirect, request

    app = Flask("mlver.web.ui")
    app.config["MAX_CONTENT_LENGTH"] = 0
    repos = Repos(root, warn)
    app.extensions["mlver.repos"] = repos
    hosts = {"127.0.0.1", "localhost", "::1"} if allowed_hosts is None else allowed_hosts

    @app.before_request
    def _guard() -> Any:
        if request.method not in ("GET", "HEAD"):
            abort(405)
        if hosts:
            name = (request.host or "").rsplit(":", 1)[0] if not (request.host or "").startswith(
                "[") else (request.host or "")[1:].split("]", 1)[0]
            if name.lower() not in hosts:
                return _page("Refused", "<p>This server answers only requests for "
                             f"{e(' or '.join(sorted(hosts)))} (the Host header named "
                             f"{e(request.host)}).</p>", status=400)
        return None

    @app.after_request
    def _headers(resp: Any) -> Any:
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.errorhandler(MlverError)
    def _mlver_error(err: MlverError) -> Any:
        return _page("Error", f'<p class="error">{e(err)}</p>', status=404)

    def _page(title: str, body: str, status: int = 200) -> Any:
        notices = "".join(f'<div class="notice">{e(n)}</div>'
                          for n in repos.notices.values())
        html = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                f"<title>{e(title)} · mlver</title>"
                '<link rel="stylesheet" href="/static/ui.css"></head><body>'
                '<nav class="top"><a class="brand" href="/versions">mlver</a>'
                '<a href="/versions">Versions</a>'
                f'<span class="root" title="{e(root)}">{e(root)} · read-only</span></nav>'
                f"<main>{notices}{body}</main>"
                '<script src="/static/ui.js"></script></body></html>\n')
        return Response(html, status=status, mimetype="text/html")

    @app.route("/")
    def index() -> Any:
        return redirect("/versions")

    @app.route("/static/ui.css")
    def css() -> Any:
        return Response(UI_CSS, mimetype="text/css")

    @app.route("/static/ui.js")
    def js() -> Any:
        return Response(UI_JS, mimetype="text/javascript")

    @app.route("/versions")
    def versions() -> Any:
        q = request.args.get("q", "")
        sort = request.args.get("sort", "created")
        desc = request.args.get("desc", "1" if sort == "created" else "0") == "1"
        try:
            n = max(1, min(int(request.args.get("n", PAGE_SIZE)), MAX_PAGE_SIZE))
            page = max(1, int(request.args.get("page", 1)))
        except ValueError:
            n, page = PAGE_SIZE, 1
        with repos.repo() as repo:
            rows = table_rows(repo, repos)
        try:
            conds = parse_filter(q)
        except FilterTooLong as err:
            return _page("Versions", f'<p class="error">{e(err)}</p>', status=400)
        if conds:
            rows = [r for r in rows if all(matches(r, c) for c in conds)]
        seen = set().union(*(r["_columns"] for r in rows))
        params = sorted(k for k in seen if k.startswith("params."))
        metrics = sorted(k for k in seen if k.startswith("metrics."))
        known = set(BASE_COLUMNS) | set(params) | set(metrics) | {"name"}
        if sort not in known:
            sort = "created"
        rows = sort_rows(rows, sort, desc)
        body = versions_page(rows, q, sort, desc, page, n, params, metrics)
        return _page("Versions", body)

    @app.route("/record/<oid>")
    def record(oid: str) -> Any:
        from mlver.base.hashing import is_oid

        if not is_oid(oid):
            abort(404)
        with repos.repo() as repo:
            rec = repo.record(oid)
            tags = [t for t, o in repo.tags(rec.name).items() if o == oid]
            siblings = [(o, r.version) for o, r in repo.log(rec.name)]
            gone = repo.removed_data(oid)
            made_by = {}
            for slot, art in rec.inputs.items():
                found = repo.store.index.graph.producers(art.oid, before=rec.created)
                if found:  # the latest version that made it, as diff's lineage takes it
                    made_by[slot] = (found[-1][0], f"{found[-1][1]}@{found[-1][2]}")
        return _page(rec.label, record_page(oid, rec, sorted(tags), siblings, gone, made_by))

    @app.route("/lineage/<oid>")
    def lineage(oid: str) -> Any:
        from mlver.base.hashing import is_oid

        if not is_oid(oid):
            abort(404)
        try:
            depth = max(0, min(int(request.args.get("depth", 3)), 50))
        except ValueError:
            depth = 3
        direction = request.args.get("direction", "both")
        if direction not in ("both", "upstream", "downstream"):
            direction = "both"
        with repos.repo() as repo:
            rec = repo.record(oid)
            lin = repo.lineage(oid)
            graph = lin.graph(direction, depth)
            shown = depth
            while len(graph["nodes"]) > MAX_NODES and shown > 1:
                shown -= 1
                graph = lin.graph(direction, shown)
            status = {}
            for node in graph["nodes"]:
                try:
                    r = repo.record(node["oid"])
                    status[node["oid"]] = (r.status, r.run.exit_code if r.run else None)
                except MlverError:
                    status[node["oid"]] = ("damaged", None)
        return _page(f"Lineage of {rec.label}",
                     lineage_page(oid, rec, graph, status, depth, shown, direction))

    @app.route("/diff")
    def diff() -> Any:
        from mlver.views.html import csp as report_csp, render
        from mlver.diff.tablecache import cached_profile

        picked = request.args.getlist("r")
        a, b = request.args.get("a"), request.args.get("b")
        if picked and not (a or b):
            if len(picked) != 2:
                return _page("Diff", '<p class="error">Tick exactly two versions in the '
                             f"table to diff them ({len(picked)} ticked).</p>"
                             '<p><a href="/versions">Back to the versions</a></p>', status=400)
            a, b = picked
            with repos.repo() as repo:
                ra, rb = repo.record(repo.resolve(a)), repo.record(repo.resolve(b))
                if (rb.created, rb.name, rb.version) < (ra.created, ra.name, ra.version):
                    a, b = b, a  # the older one first
        if not a or not b:
            return _page("Diff", '<p class="error">Give two versions: /diff?a=OID&amp;b=OID'
                         "</p>", status=400)
        profiles: dict[str, dict] = {}
        with repos.repo() as repo:
            d = repo.diff(a, b, profiles=profiles)

            def profile_of(oid: str) -> dict | None:
                return profiles.get(oid) or cached_profile(repo.store, oid)

            html = render(d, profile_of, back=("/versions", "versions"),
                          links={"old": f"/record/{d.old['oid']}",
                                 "new": f"/record/{d.new['oid']}"})
        resp = Response(html, mimetype="text/html")
        resp.headers["Content-Security-Policy"] = report_csp() + "; frame-ancestors 'none'"
        return resp

    del flask
    return app


def table_rows(repo: Any, repos: Repos) -> list[dict]:
    """Every record's row (cached by oid: records never change), with its tags now. The
    list itself is kept on the repo until the index changes (another process committed)."""
    version = repo.store.index.data_version()
    cached = getattr(repo, "_ui_rows", None)
    if cached is not None and cached[0] == version:
        out, names = cached[1], cached[2]
    else:
        cache = repos.rows
        out, names = [], set()
        for oid, rec in repo.log():
            row = cache.get(oid)
            if row is None:
                row = cache[oid] = record_row(oid, rec)
            out.append(row)
            names.add(rec.name)
        repo._ui_rows = (version, out, names)
    tagged = [n for n in repo.store.refs.tag_names() if n in names]
    if not tagged:
        return out
    by = repo.tags_by_record(tagged)
    result = []
    for row in out:
        tags = by.get(row["name"], {}).get(row["oid"]) if row["name"] in by else None
        result.append(dict(row, tags=tags) if tags else row)
    return result


# --------------------------------------------------------------------------- pages


def _qs(**kw: Any) -> str:
    return "?" + urlencode({k: v for k, v in kw.items() if v not in (None, "")})


def versions_page(rows: list[dict], q: str, sort: str, desc: bool, page: int, n: int,
                  params: list[str], metrics: list[str]) -> str:
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
                cls = ' class="num"' if _number(v) else ""
                cells.append(f"<td{cls}>{e(_cell(v))}</td>")
        out.append(f'<tr data-oid="{e(oid)}">' + "".join(cells) + "</tr>")
    if not shown:
        out.append(f'<tr><td colspan="{len(columns) + 1}" class="sub">no versions'
                   + (" match the filter" if q else " yet") + "</td></tr>")
    out.append("</tbody></table></div></form>")
    if pages > 1:
        def link(p: int, text: str) -> str:
            return (f'<a href="{e(_qs(q=q, sort=sort, desc="1" if desc else "0", page=p, n=n if n != PAGE_SIZE else None))}">'
                    f"{text}</a>")
        out.append('<div class="pager">'
                   + (link(page - 1, "← previous") if page > 1 else "")
                   + f" page {page} of {pages} "
                   + (link(page + 1, "next →") if page < pages else "") + "</div>")
    return "".join(out)


def _kv_table(values: dict, cls: str) -> str:
    from mlver.core.params import flatten
    from mlver.base.fmt import fmt_value

    flat = flatten(values)
    if not flat:
        return '<p class="sub">none</p>'
    return (f'<table class="{cls}">' + "".join(
        f"<tr><th><code>{e(k)}</code></th><td>{e(fmt_value(v))}</td></tr>"
        for k, v in flat.items()) + "</table>")


def _slots_table(arts: dict, made_by: dict | None = None) -> str:
    from mlver.base.fmt import human_size

    if not arts:
        return '<p class="sub">none</p>'
    rows = []
    for slot, a in arts.items():
        files = f"{a.files:,} files" if a.type == "tree" else ""
        src = (f' <a href="/record/{e(a.source)}">from {e(a.source[:10])}</a>'
               if a.source else "")
        if (made_by or {}).get(slot) and not a.source:
            by_oid, by_label = made_by[slot]
            src = f'made by <a href="/record/{e(by_oid)}">{e(by_label)}</a>'

        rows.append(f"<tr><td><code>{e(slot)}</code></td><td><code>{e(a.path)}</code></td>"
                    f"<td>{e(a.type)}</td><td class=num>{e(human_size(a.size))}</td>"
                    f"<td class=num>{e(files)}</td><td class=mono>{e(a.oid[:12])}</td>"
                    f"<td>{src}</td></tr>")
    return ('<table class="slots"><tr><th>slot</th><th>path</th><th>type</th>'
            '<th class="num">size</th><th class="num">files</th><th>oid</th><th></th></tr>'
            + "".join(rows) + "</table>")


def record_page(oid: str, rec: Any, tags: list[str], siblings: list[tuple[str, int]],
                gone: list[str], made_by: dict | None = None) -> str:
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
        cmd = " ".join(r.command)
        out.append('<h2>Command</h2><table class="meta">'
                   f'<tr><th>command</th><td><code>{e(cmd)}</code></td></tr>'
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
    out.append("<h2>Inputs</h2>" + _slots_table(rec.inputs, made_by))
    out.append("<h2>Outputs</h2>" + _slots_table(rec.outputs))
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
    if len(siblings) > 1:
        out.append(f"<h2>Versions of {e(rec.name)}</h2><p>"
                   + " ".join(f'<a href="/record/{e(o)}"{" class=current" if o == oid else ""}>'
                              f"@{e(v)}</a>" for o, v in siblings[:200]) + "</p>")
    return "".join(out)


# --------------------------------------------------------------------------- lineage drawing


def lineage_page(oid: str, rec: Any, graph: dict, status: dict, depth: int, shown: int,
                 direction: str) -> str:
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
    out.append('<div class="scroll graph">' + lineage_svg(oid, graph, status) + "</div>")
    names = {n["oid"]: f"{n.get('name')}@{n.get('version')}" for n in graph["nodes"]}
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


# --------------------------------------------------------------------------- serving


def serve(root: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
          ready: Callable[[str], None] | None = None, warn: Warn | None = None) -> None:
    """Serve the UI until interrupted (one thread per request: several users at once)."""
    from werkzeug.serving import make_server

    # the Host header must name the loopback address served (any, with --allow-remote)
    allowed = ({"127.0.0.1", "localhost", "::1", host.lower().strip("[]")}
               if is_loopback(host) else set())
    app = create_app(root, warn, allowed_hosts=allowed)
    _check_port(host, port)
    try:
        server = make_server(host, port, app, threaded=True)
    except (OSError, SystemExit) as err:  # werkzeug exits on a bind error it has printed
        raise ConfigError(f"cannot listen on {host} port {port} "
                          f"({getattr(err, 'strerror', None) or 'taken'}); pick another "
                          "--port (0: any free one)") from None
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_port}/"
    with app.extensions["mlver.repos"].repo() as repo:  # open (and check) the store now
        rows = table_rows(repo, app.extensions["mlver.repos"])
    for n in app.extensions["mlver.repos"].notices.values():
        if warn is not None:
            warn(n)
    if ready is not None:
        ready(url + f"  ({len(rows):,} versions)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.extensions["mlver.repos"].close()


def _check_port(host: str, port: int) -> None:
    """Fail with one clear line when ``host:port`` cannot be bound (taken, not allowed)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as err:
        raise ConfigError(f"cannot listen on {host} port {port} ({err.strerror or err}); "
                          "pick another --port (0: any free one)") from None


UI_CSS = """
:root{--fg:#1d1d1f;--muted:#666;--line:#e2e2e2;--soft:#f6f7f9;--bad:#c0392b;--accent:#4c78a8}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0}
nav.top{display:flex;gap:18px;align-items:center;padding:8px 20px;background:#1f2937;color:#fff}
nav.top a{color:#fff;text-decoration:none}nav.top .brand{font-weight:700}
nav.top .root{margin-left:auto;color:#cbd5e1;font-size:12px}
main{padding:14px 20px 40px}
h1{font-size:20px;margin:6px 0 10px}h2{font-size:16px;margin:22px 0 6px}
a{color:#1f5fa8}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.sub{color:var(--muted);font-size:12px}
.notice{background:#fff4e0;border:1px solid #f0d9a8;padding:6px 10px;border-radius:5px;margin:6px 0}
.error{color:var(--bad)}
table{border-collapse:collapse}
th,td{border-bottom:1px solid var(--line);padding:4px 10px 4px 0;text-align:left;vertical-align:top}
th{white-space:nowrap;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.grid th{position:sticky;top:0;background:#fff}
table.grid td{white-space:nowrap}
th.grp-metrics{border-bottom-color:#f58518}th.grp-params{border-bottom-color:#4c78a8}
table.grid tr:hover td{background:var(--soft)}
table.grid tr.sel td{background:#e8f0fb}
th a.sort{color:inherit;text-decoration:none}th .grp{color:var(--muted);font-weight:400}
.scroll{overflow:auto;max-width:100%}
.bar{display:flex;gap:14px;align-items:center;margin:8px 0}
.bar .count{color:var(--muted)}
button{font:inherit;padding:3px 10px}
.filter{margin:6px 0}
td.failed,.failed{color:var(--bad);font-weight:600}
.failed-badge{background:#fdecea;color:var(--bad);border-radius:8px;padding:0 6px;font-size:12px}
.tag{background:#eef2ff;color:#3730a3;border-radius:8px;padding:0 6px;font-size:12px;margin-right:3px}
.kind{border-radius:8px;padding:0 6px;font-size:12px}
.kind.model{background:#fdebd3;color:#9a5200}.kind.dataset{background:#dde8f3;color:#2c5282}
.pager{margin:10px 0}
.graph{border:1px solid var(--line);border-radius:6px;padding:6px;background:#fcfcfd}
.graph a.node:hover rect{stroke-width:3}
a.current{font-weight:700}
table.meta th{color:var(--muted);font-weight:500;padding-right:16px}
"""

UI_JS = """
(function () {
  'use strict';
  var form = document.getElementById('pick');
  if (!form) { return; }
  var button = document.getElementById('diff-btn');
  var ticked = [];
  function boxes() { return Array.prototype.slice.call(form.querySelectorAll('input[name=r]')); }
  function update() {
    var n = boxes().filter(function (b) { return b.checked; }).length;
    button.disabled = n !== 2;
    button.textContent = n === 2 ? 'Diff the two ticked versions'
      : 'Tick two versions to diff them (' + n + ' ticked)';
    boxes().forEach(function (b) {
      var row = b.closest('tr');
      if (row) { row.classList.toggle('sel', b.checked); }
    });
  }
  form.addEventListener('change', function (ev) {
    var b = ev.target;
    if (b.name !== 'r') { return; }
    ticked = ticked.filter(function (x) { return x !== b && x.checked; });
    if (b.checked) {
      ticked.push(b);
      while (ticked.length > 2) { ticked.shift().checked = false; }
    }
    update();
  });
  Array.prototype.forEach.call(form.querySelectorAll('tr[data-oid]'), function (row) {
    row.addEventListener('click', function (ev) {
      if (ev.target.closest('a, input, button')) { return; }
      var b = row.querySelector('input[name=r]');
      b.checked = !b.checked;
      b.dispatchEvent(new Event('change', { bubbles: true }));
    });
  });
  update();
})();
"""
