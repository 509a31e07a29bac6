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
``/name?n=NAME``
    a chart of each numeric metric over the name's versions, and the versions.
``/download/OID?side=outputs&slot=S[&path=P]``
    the bytes of a slot's file, or of one file in a folder slot, as an attachment
    (:mod:`mlver.web.download`: only what the record names).

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
from collections.abc import Callable
from typing import Any

from mlver.base.errors import ConfigError, MlverError
from mlver.base.hashing import is_oid
from mlver.web.assets import UI_CSS, UI_JS
from mlver.web.download import NotDownloadable, disposition, folder_files, resolve, stream
from mlver.web.dag import layout, lineage_svg  # noqa: F401 (mlver.web.ui API)
from mlver.web.filter import FilterTooLong, matches, parse_filter
from mlver.web.pages import (
    MAX_NODES,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    e,
    lineage_page,
    name_page,
    record_page,
    shell,
    versions_page,
)
from mlver.web.pool import Repos, Warn
from mlver.web.rows import BASE_COLUMNS, sort_rows, table_rows
from mlver.base.fmt import version_label

DEFAULT_PORT = 8750

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")

__all__ = ["CSP", "DEFAULT_PORT", "check_host", "create_app", "is_loopback", "layout",
           "lineage_svg", "load_flask", "matches", "parse_filter", "serve"]


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
        html = shell(title, body, list(repos.notices.values()), root)
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
        if not is_oid(oid):
            abort(404)
        with repos.repo() as repo:
            rec = repo.record(oid)
            tags = [t for t, o in repo.tags(rec.name).items() if o == oid]
            items = repo.log(rec.name)
            siblings = [(o, r.version) for o, r in items]
            gone = repo.removed_data(oid)
            listings = {side: {slot: folder_files(repo, a.oid)
                               for slot, a in arts.items() if a.type == "tree" and not a.missing
                               and repo.store.objects.has(a.oid)}
                        for side, arts in (("inputs", rec.inputs), ("outputs", rec.outputs))}
            made_by = {}
            for slot, art in rec.inputs.items():
                found = repo.store.index.graph.producers(art.oid, before=rec.created)
                if found:  # the latest version that made it, as diff's lineage takes it
                    made_by[slot] = (found[-1][0], version_label(found[-1][1], found[-1][2]))
        return _page(rec.label, record_page(oid, rec, sorted(tags), siblings, gone, made_by,
                                            [r for _, r in items], listings))

    @app.route("/name")
    def name() -> Any:
        n = request.args.get("n", "")
        with repos.repo() as repo:
            items = repo.log(n) if n else []
        if not items:
            return _page("Not found", f'<p class="error">no versions named {e(n)}</p>',
                         status=404)
        return _page(n, name_page(n, items))

    @app.route("/download/<oid>")
    def download(oid: str) -> Any:
        if not is_oid(oid):
            abort(404)
        side, slot = request.args.get("side", ""), request.args.get("slot", "")
        path = request.args.get("path") or None
        try:
            with repos.repo() as repo:
                got = resolve(repo, repo.record(oid), side, slot, path)
        except NotDownloadable as err:
            return _page("Not found", f'<p class="error">{e(err)}</p>', status=404)

        def body() -> Any:
            with repos.repo() as repo:
                yield from stream(repo, got.oid)

        resp = Response(body(), mimetype="application/octet-stream")
        resp.headers["Content-Disposition"] = disposition(got.filename)
        if got.size is not None:
            resp.headers["Content-Length"] = str(got.size)
        return resp

    @app.route("/lineage/<oid>")
    def lineage(oid: str) -> Any:
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
            outcomes: dict[str, tuple[str, int | None]] = {}
            for node in graph["nodes"]:
                try:
                    r = repo.record(node["oid"])
                    outcomes[node["oid"]] = (r.status, r.run.exit_code if r.run else None)
                except MlverError:
                    outcomes[node["oid"]] = ("damaged", None)
        return _page(f"Lineage of {rec.label}",
                     lineage_page(oid, rec, graph, outcomes, depth, shown, direction))

    @app.route("/diff")
    def diff() -> Any:
        from mlver.views.html import csp as report_csp, render
        from mlver.diff.tablecache import cached_profile  # only here: the diff page
        from mlver.views.report_file import extras

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
        profiles: dict[str, dict[str, Any]] = {}
        with repos.repo() as repo:
            d = repo.diff(a, b, profiles=profiles)
            hunks, history = extras(repo.store, repo.root, d)

            def profile_of(oid: str) -> dict[str, Any] | None:
                return profiles.get(oid) or cached_profile(repo.store, oid)

            html = render(d, profile_of, back=("/versions", "versions"),
                          links={"old": f"/record/{d.old['oid']}",
                                 "new": f"/record/{d.new['oid']}"},
                          hunks=hunks, history=history)
        resp = Response(html, mimetype="text/html")
        resp.headers["Content-Security-Policy"] = report_csp() + "; frame-ancestors 'none'"
        return resp

    del flask
    return app


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
