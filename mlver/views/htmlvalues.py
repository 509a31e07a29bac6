"""The values a notebook displays, as HTML fragments with the report's look.

Each fragment is one ``<div class="mlver-nb">`` holding its own ``<style>``: the report's
style sheet (:data:`mlver.views.htmlkit.CSS`) with every rule scoped under that class, so
it styles the fragment and nothing else of the notebook. Nothing is loaded (no script,
no link, no image file), and every value goes through :func:`mlver.views.htmlkit.e`, as
in the report: records, messages and params may be someone else's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlver.base.fmt import fmt_value
from mlver.views.htmlkit import CSS, e, signed, size, value

if TYPE_CHECKING:
    from mlver.core.lineage import Lineage
    from mlver.core.record import Artifact, Record
    from mlver.diff.value import Diff
    from mlver.explain.attribute import Attribution

ROOT = "mlver-nb"
LOG_LIMIT = 200  # rows of a log shown; the rest is counted
ROW_LIMIT = 500  # rows of a params, metrics or lineage table shown; the rest is counted
MESSAGE_CHARS = 200  # characters of a message in a log row (its first line)


def scoped(css: str, root: str = ROOT) -> str:
    """``css`` with each selector put under ``.root`` (``:root``, ``body`` and ``main``
    become the fragment itself): the report's rules must not restyle the notebook."""
    out = []
    for rule in css.split("}"):
        if "{" not in rule:
            continue
        sels, decls = rule.split("{", 1)
        parts = []
        for sel in (s.strip() for s in sels.split(",")):
            if sel in (":root", "body", "main"):
                parts.append(f".{root}")
            else:
                parts.append(f".{root} {sel}")
        out.append(",".join(parts) + "{" + decls + "}")
    return "\n".join(out)


_STYLE = scoped(CSS) + f"\n.{ROOT}{{max-width:none;padding:4px 0}}"


def wrap(body: str) -> str:
    """A self-contained fragment: the scoped style sheet, then ``body``."""
    return f'<div class="{ROOT}"><style>{_STYLE}</style>{body}</div>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table of cells already escaped."""
    th = "".join(f"<th>{h}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{trs}</table>"


# -- Diff -----------------------------------------------------------------------------------

def diff_html(d: Diff) -> str:
    """The report's sections of ``d`` (without plots: a Diff holds no table profile; see
    ``repo.report`` for them)."""
    from mlver.views.html import sections

    _, body, _ = sections(d, None)
    return wrap("".join(body))


# -- Record ---------------------------------------------------------------------------------

def _slots(title: str, arts: dict[str, Artifact]) -> str:
    if not arts:
        return ""
    rows = [[f"<code>{e(s)}</code>", f"<code>{e(a.path)}</code>", e(a.type), size(a.size),
             f'<span class="mono">{e(a.oid[:12])}</span>'] for s, a in arts.items()]
    return f"<h3>{e(title)}</h3>" + _table(["slot", "path", "type", "size", "oid"], rows)


def _values(title: str, values: dict[str, Any]) -> str:
    from mlver.core.params import flatten

    flat = flatten(values)
    if not flat:
        return ""
    rows = [[f"<code>{e(_cut(k))}</code>", e(_cut(fmt_value(v), 1000))]
            for k, v in list(flat.items())[:ROW_LIMIT]]
    return f"<h3>{e(title)}</h3>" + _table(["key", "value"], rows) + _more(len(flat))


def _more(n: int, limit: int = ROW_LIMIT) -> str:
    return f'<p class="muted">and {n - limit:,} more</p>' if n > limit else ""


def record_html(rec: Record) -> str:
    """A record as ``mlver show`` tells it: slots, code, params, metrics, env, run."""
    failed = ' <span class="badge modified">failed</span>' if rec.failed else ""
    head = (f"<header><div class=sub>mlver record · {e(rec.kind)}</div>"
            f"<h1>{e(rec.label)}{failed}</h1>"
            f'<div class="sub mono">{e(rec.oid)} · {e(rec.created)}</div></header>')
    body = [head]
    if rec.message:
        body.append(f'<p>{e(rec.message)}</p>')
    body.append(_slots("Inputs", rec.inputs) + _slots("Outputs", rec.outputs))
    c = rec.code
    code = [f"commit <code>{e(c.commit or '-')}</code>" + (" (uncommitted changes)"
                                                           if c.dirty else ""),
            f"branch <code>{e(c.branch or '-')}</code>"]
    scope = c.scope
    code.append("scope: the whole repository" if scope is None else
                f"scope ({e(scope.origin)}): " + ", ".join(
                    f"<code>{e(p)}</code>" for p in scope.paths[:10])
                + (f" and {len(scope.paths) - 10} more" if len(scope.paths) > 10 else ""))
    body.append("<h3>Code</h3><ul>" + "".join(f"<li>{x}</li>" for x in code) + "</ul>")
    body.append(_values("Params", rec.params) + _values("Metrics", rec.metrics))
    en = rec.env
    if en.python:
        body.append(f"<h3>Environment</h3><p>{e(en.implementation)} {e(en.python)}, "
                    f"{e(en.packages_count)} packages, {e(en.platform)}</p>")
    if rec.run:
        import shlex

        r = rec.run
        body.append(f'<h3>Run</h3><p><code class="cmd">{e(_cut(shlex.join(r.command)))}</code> '
                    f"exit {e(r.exit_code)} · {e(f'{r.duration_s:.1f}')} s</p>")
    return wrap("".join(body))


def _cut(text: str, n: int = 300) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def record_text(rec: Record) -> str:
    """The text of ``mlver show``."""
    from mlver.views.text import show_text

    return show_text(rec.oid, rec)


# -- Log ------------------------------------------------------------------------------------

def log_html(items: Sequence[tuple[str, Record]]) -> str:
    """One row a record, newest first, with its first metrics (as ``mlver log``)."""
    rows = []
    for oid, rec in items[:LOG_LIMIT]:
        metrics = ", ".join(f"{k}={fmt_value(v)}" for k, v in list(rec.metrics.items())[:3]
                            if not isinstance(v, dict))
        status = ('<span class="badge modified">failed</span>' if rec.failed else "ok")
        rows.append([f"<strong>{e(rec.label)}</strong>", e(rec.kind),
                     e(rec.created[:19].replace("T", " ")),
                     f'<span class="mono">{e((rec.code.commit or "")[:7])}</span>', status,
                     e(_cut((rec.message or "").split("\n", 1)[0], MESSAGE_CHARS)),
                     e(_cut(metrics)), f'<span class="mono">{e(oid[:10])}</span>'])
    more = len(items) - LOG_LIMIT
    tail = f'<p class="muted">and {more} more</p>' if more > 0 else ""
    if not rows:
        return wrap('<p class="muted">no versions yet</p>')
    return wrap(_table(["version", "kind", "created", "commit", "status", "message",
                        "metrics", "oid"], rows) + tail)


def log_text(items: Sequence[tuple[str, Record]]) -> str:
    """The text of ``mlver log``."""
    from mlver.views.text import log_text as text

    return text(items) or "no versions yet"


# -- Lineage --------------------------------------------------------------------------------

def lineage_html(lin: Lineage) -> str:
    """The records upstream and downstream of the lineage's record, one link a row."""
    g = lin.subgraph()
    nodes = {n.oid: n for n in g.nodes}

    def label(oid: str) -> str:
        n = nodes.get(oid)
        return e(f"{n.name}@{n.version}" if n else oid[:10])

    root = nodes.get(g.root)
    body = [f"<header><div class=sub>mlver lineage</div><h1>{label(g.root)}</h1>"
            f'<div class="sub mono">{e(g.root)} · {e(root.kind if root else "")}</div>'
            "</header>"]
    rows = [[label(x.producer), f"<code>{e(x.slot)}</code>", label(x.consumer),
             f'<span class="mono">{e(x.oid[:12])}</span>'] for x in g.edges[:ROW_LIMIT]]
    body.append(_table(["producer", "slot (input of the consumer)", "consumer", "content"],
                       rows) + _more(len(g.edges)) if rows else '<p class="muted">no upstream '
                "or downstream record</p>")
    return wrap("".join(body))


def lineage_text(lin: Lineage) -> str:
    """The tree of ``mlver lineage``."""
    from mlver.views.text import lineage_text as text

    return text(lin.graph(), "both")


# -- Attribution (mlver explain) ------------------------------------------------------------

def attribution_html(a: Attribution) -> str:
    """Each metric's change and each changed group's part of it, with its interval."""
    body = [f"<header><div class=sub>mlver explain</div><h1>{e(a.old.label)} → "
            f"{e(a.new.label)}</h1><div class=\"sub\">{e(a.method)}, "
            f"{e(len(a.runs))} replays</div></header>"]
    for m in a.metrics:
        rows = []
        for s in sorted(m.shares, key=lambda s: -abs(s.value)):
            share = "" if s.share is None else e(f"{s.share:.0%}")
            noise = '<span class="muted">within noise</span>' if s.within_noise else ""
            rows.append([f"<code>{e(s.group)}</code>", e(s.kind), signed(s.value),
                         e(f"± {s.half_width:.3g}"), share, noise])
        rows.append(['<span class="muted">residual</span>', "", signed(m.residual), "", "",
                     ""])
        body.append(f"<h3>{e(m.metric)}: {value(m.old)} → {value(m.new)} "
                    f"({signed(m.change)})</h3>"
                    + _table(["group", "kind", "part", "95% interval", "share", ""], rows))
    for note in a.notes:
        body.append(f'<p class="note">{e(note)}</p>')
    return wrap("".join(body))


__all__ = ["attribution_html", "diff_html", "lineage_html", "lineage_text", "log_html",
           "log_text", "record_html", "record_text", "scoped", "wrap"]

