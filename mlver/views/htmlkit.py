"""The pieces every part of the HTML report is made of: its one style sheet, the
Content-Security-Policy that pins it, and escaped values (sizes, deltas, params).

Everything shown comes from records, tables and commits that may be someone else's:
every text goes through :func:`e` (:func:`html.escape`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from html import escape
from typing import Any

from mlver.base.fmt import fmt_value, human_size
from mlver.views import svg

# blob oid -> its table profile, or None when not profiled
ProfileOf = Callable[[str], "dict[str, Any] | None"]

CSS = """
:root{--old:#4c78a8;--new:#f58518;--fg:#1d1d1f;--muted:#666;--line:#ddd;--bg:#fff;
--soft:#f6f7f9;--bad:#c0392b;--warn:#b7791f;--ok:#2f855a}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);
background:var(--bg);margin:0}
main{margin:0;padding:20px 28px 60px}
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
code.cmd{white-space:pre-wrap;overflow-wrap:anywhere}
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
.table-diff,.wide{max-width:100%;overflow-x:auto}
.hunks pre{margin:4px 0;padding:6px 8px;background:var(--soft);border:1px solid var(--line);
border-radius:5px;overflow-x:auto;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,
monospace}
.hunks .add{color:#1a7f37;background:#e6f4ea}.hunks .del{color:var(--bad);background:#fdecea}
.hunks .hh{color:#6b21a8}.hunks span{display:inline-block;min-width:100%}
figure.history{flex:0 1 440px}
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


def value(v: Any) -> str:
    """A param or metric value as users write it, escaped."""
    return e(fmt_value(v))


def size(n: int | None) -> str:
    """A size in bytes, escaped; a dash when unknown."""
    return e(human_size(n)) if n is not None else "–"


def signed(n: Any) -> str:
    """A delta with its sign (``+0.3``), escaped; nothing for None."""
    if n is None:
        return ""
    return e(f"+{svg.fmt(n)}" if n > 0 else svg.fmt(n))


def cut(text: str, n: int = 400) -> str:
    """``text``, cut to ``n`` characters with an ellipsis."""
    return text if len(text) <= n else text[:n - 1] + "…"
