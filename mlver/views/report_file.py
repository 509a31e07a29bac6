"""``mlver report``: the HTML page of a diff, written to a file whole or not at all.

The file's path is checked before the diff is computed (a diff of big tables takes time).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mlver.base.errors import ConfigError
from mlver.base.progress import Progress
from mlver.core.workspace import Workspace
from mlver.ops.compare import diff_revisions
from mlver.store import Store
from mlver.views.report import report_html, write_text

if TYPE_CHECKING:
    from mlver.core.record import Record
    from mlver.diff.value import Diff
    from mlver.explain.attribute import Attribution
    from mlver.views.htmlcode import Hunks


def report_path(root: str, path: str) -> str:
    """The full path of the report file ``path`` (relative to ``root`` unless absolute);
    a folder, or a file in a folder that does not exist, is refused."""
    full = path if os.path.isabs(path) else os.path.join(root, path)
    if os.path.isdir(full):
        raise ConfigError(f"{path} is a folder; give the report a file name such "
                          "as report.html")
    if not os.path.isdir(os.path.dirname(os.path.abspath(full))):
        raise ConfigError(f"the folder of {path} does not exist; create it first")
    return full


def write_report(store: Store, ws: Workspace, a: str, b: str | None, path: str | None,
                 keys: dict[str, Any] | None = None, depth: int = 3,
                 targets: dict[str, str] | None = None, progress: Progress | None = None,
                 read_only: bool = False, attribution: Attribution | None = None) -> str:
    """The page of the diff of revisions ``a`` and ``b`` (None: the workspace), written to
    ``path`` (relative to the repository root) when given; its text either way. With
    the code hunks of the files in scope, the metric history of the new side's name, and
    the ``attribution`` when given."""
    full = None if path is None else report_path(ws.root, path)
    profiles: dict[str, dict[str, Any]] = {}  # the table profiles the diff used: the plots
    d = diff_revisions(store, ws, a, b, keys, 0, progress, depth, targets, profiles,
                       read_only=read_only)
    hunks, history = extras(store, ws.root, d)
    text = report_html(store, d, profiles, hunks=hunks, history=history,
                       attribution=attribution)
    if full is not None:
        write_text(full, text)
    return text


def extras(store: Store, root: str, d: Diff) -> tuple[Hunks | None, list[Record] | None]:
    """What the page shows beside the diff: the code hunks of its files in scope (from
    git, in the work tree holding ``root``) and the records of the new side's name."""
    from mlver.capture.git import toplevel
    from mlver.ops.listing import log
    from mlver.views.htmlcode import code_hunks

    hunks = code_hunks(toplevel(root), d.code) if d.code.get("files") else None
    name = d.new.get("name") or d.old.get("name")
    history = None
    if name:
        history = [r for _, r in log(store, root, str(name), None, False, lambda _: None)]
    return hunks, history
