"""Code hunks of the report: the ``git diff`` between the two versions' commits, for the
files of the code section only (those already limited to the code scope, less the ones
reported as data, params or metrics; see :mod:`mlver.diff.codediff`).

Bounded: :data:`MAX_FILES` files, :data:`MAX_LINES` lines a file, each line cut to
:data:`MAX_LINE_CHARS`; the rest is counted ("+k more"). A hunk is someone else's text:
it is escaped where it is written (:func:`hunks_html`).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from mlver.base.gitcmd import run_git
from mlver.diff.changes import CodeChange
from mlver.diff.codediff import split_patch
from mlver.views.htmlkit import e

MAX_FILES = 5         # files whose hunks are shown
MAX_LINES = 40        # lines of hunks shown a file
MAX_LINE_CHARS = 300  # characters a line
MAX_PATCH = 4 << 20   # bytes of git diff read at most


@dataclass(frozen=True)
class FileHunks:
    """One file's hunk lines (``@@``, ``+``, ``-`` and context lines), and how many more
    lines it has than are shown."""

    path: str
    lines: tuple[str, ...]
    more: int = 0


@dataclass(frozen=True)
class Hunks:
    """The hunks of the files shown, and the files with changes left out."""

    files: tuple[FileHunks, ...]
    more_files: int = 0
    #: shown files with uncommitted changes on either side: the hunks between the commits
    #: are not what that side ran
    patched: tuple[str, ...] = ()


def _hunk_lines(part: bytes) -> list[str]:
    """The lines of one file's part of a diff from its first ``@@`` on."""
    text = part.decode("utf-8", "replace").splitlines()
    start = next((i for i, line in enumerate(text) if line.startswith("@@")), len(text))
    return [line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS - 1] + "…"
            for line in text[start:]]


def code_hunks(top: str | None, code: CodeChange) -> Hunks | None:
    """The hunks of ``code``'s changed files between its two commits, run in the git work
    tree ``top``; None when there is nothing to show or git cannot say."""
    old, new = code.get("old_commit"), code.get("new_commit")
    paths = [f["path"] for f in code.get("files") or ()]
    if not top or not old or not new or old == new or not paths:
        return None
    shown = paths[:MAX_FILES]
    try:
        proc = run_git(top, "-c", "core.quotePath=false", "diff", "--no-color", "--no-ext-diff",
                       "--no-renames", "--no-textconv", "-U3", "--end-of-options", old, new,
                       "--", *(f":(top,literal){p}" for p in shown))
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    parts = split_patch(proc.stdout[:MAX_PATCH])
    files = []
    for p in shown:
        lines = _hunk_lines(parts.get(p, b""))
        if not lines:
            lines = ["(binary or no text change)"]
        files.append(FileHunks(p, tuple(lines[:MAX_LINES]), max(0, len(lines) - MAX_LINES)))
    patched = set(code.get("patch_files") or ()) if code.get("patch_changed") else set()
    return Hunks(tuple(files), len(paths) - len(shown),
                 tuple(p for p in shown if p in patched))


def hunks_html(h: Hunks | None) -> str:
    """The hunks as ``<pre>`` blocks, one a file, each line classed by its kind."""
    if h is None or not h.files:
        return ""
    out = ['<div class="hunks">']
    for f in h.files:
        rows = []
        for line in f.lines:
            kind = ("hh" if line.startswith("@@") else "add" if line.startswith("+")
                    else "del" if line.startswith("-") else "ctx")
            rows.append(f'<span class="{kind}">{e(line)}</span>')
        more = (f'<div class="muted more">+{f.more:,} more line{"s" if f.more != 1 else ""}'
                "</div>" if f.more else "")
        note = ('<div class="muted">between the commits; its uncommitted changes are not '
                "shown</div>" if f.path in h.patched else "")
        out.append(f'<details class="hunk" open data-path="{e(f.path)}"><summary>'
                   f"<code>{e(f.path)}</code></summary>{note}<pre>" + "\n".join(rows)
                   + f"</pre>{more}</details>")
    if h.more_files:
        out.append(f'<p class="muted more">+{h.more_files} more file'
                   f'{"s" if h.more_files != 1 else ""} changed (listed above)</p>')
    out.append("</div>")
    return "".join(out)
