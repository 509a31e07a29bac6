"""The user documentation stays in step with the code.

1. Every click command (walking ``mlver.cli.main`` through its sub-groups) has a
   ``## mlver <command>`` section in docs/cli.md.
2. Every option of a command is mentioned (by its long name, e.g. ``--json``)
   in that command's section.
3. The documentation files exist, and every relative link between them (and
   to files of the repository) resolves, anchors included.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import click
import pytest

from mlver.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CLI_MD = DOCS / "cli.md"
REQUIRED = ["concepts.md", "cli.md", "format.md", "python.md", "tutorial.md", "diff.md"]


# --------------------------------------------------------------------------- helpers

def walk_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    """Yield ``(path, command)`` for every command below ``group``, depth first.

    ``path`` is the tuple of command names after ``mlver``; groups are yielded
    too (before their subcommands), so their own options can be checked.
    """
    ctx = click.Context(group, info_name="mlver")
    for name in sorted(group.list_commands(ctx)):
        cmd = group.get_command(ctx, name)
        if cmd is None or getattr(cmd, "hidden", False):
            continue
        path = prefix + (name,)
        yield path, cmd
        if isinstance(cmd, click.Group):
            yield from walk_commands(cmd, path)


def leaf_commands():
    return [(p, c) for p, c in walk_commands(main) if not isinstance(c, click.Group)]


def group_commands():
    return [(p, c) for p, c in walk_commands(main) if isinstance(c, click.Group)]


def strip_code_blocks(text: str) -> str:
    """Remove fenced code blocks, so headings and links inside examples do not count."""
    return re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.S | re.M)


def sections(text: str) -> dict[str, str]:
    """Level-2 sections of a Markdown text: heading text -> body (up to the next ``## ``)."""
    out: dict[str, str] = {}
    current = None
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and re.match(r"^## (?!#)", line):
            if current is not None:
                out[current] = "\n".join(lines)
            current, lines = line[3:].strip(), []
        elif current is not None:
            lines.append(line)
    if current is not None:
        out[current] = "\n".join(lines)
    return out


def command_heading(path: tuple[str, ...]) -> str:
    return "mlver " + " ".join(path)


def long_names(param: click.Parameter) -> list[str]:
    """The names an option is documented by: its long names, else its short ones."""
    if not isinstance(param, click.Option):
        return []
    opts = list(param.opts)
    longs = [o for o in opts if o.startswith("--")]
    return longs or opts


def mentioned(name: str, text: str) -> bool:
    """True when option ``name`` appears in ``text`` as a whole option, not as a prefix
    of a longer one (``--json`` is not found in ``--jsonl``)."""
    return re.search(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", text) is not None


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, markup and punctuation dropped,
    spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)   # links -> their text
    text = re.sub(r"<[^>]+>", "", text)                        # inline HTML
    text = text.strip().lower()
    kept = []
    for ch in text:
        if ch in (" ", "-", "_") or ch.isalnum():
            kept.append(ch)
        elif unicodedata.category(ch).startswith(("L", "N", "M")):
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a Markdown file defines through its headings (GitHub rules, with the
    -1, -2 suffixes of repeated headings)."""
    seen: dict[str, int] = {}
    out = set()
    for line in strip_code_blocks(path.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = github_slug(m.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


_LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links(path: Path):
    """``(target, anchor)`` of every relative Markdown link outside code."""
    text = strip_code_blocks(path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code
    for m in _LINK.finditer(text):
        target = m.group(1)
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # http:, https:, mailto:, …
            continue
        file_part, _, anchor = target.partition("#")
        yield unquote(file_part), unquote(anchor)


def doc_files() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


# --------------------------------------------------------------------------- 1. commands

def test_there_are_commands_to_check():
    assert leaf_commands(), "mlver.cli.main has no commands?"


@pytest.mark.parametrize("path", [p for p, _ in leaf_commands()], ids=" ".join)
def test_every_command_has_a_section_in_cli_md(path):
    heads = sections(CLI_MD.read_text(encoding="utf-8"))
    heading = command_heading(path)
    assert heading in heads, (
        f"docs/cli.md has no section '## {heading}'; add one (synopsis, options, examples, "
        f"exit status) for the command 'mlver {' '.join(path)}'")


# --------------------------------------------------------------------------- 2. options

def _option_cases():
    cases = []
    for path, cmd in leaf_commands():
        for param in cmd.params:
            for name in long_names(param):
                cases.append((path, name))
    return cases


@pytest.mark.parametrize("path,option", _option_cases(),
                         ids=[f"{' '.join(p)} {o}" for p, o in _option_cases()])
def test_every_option_is_mentioned_in_its_section(path, option):
    heads = sections(CLI_MD.read_text(encoding="utf-8"))
    heading = command_heading(path)
    if heading not in heads:
        pytest.skip(f"no section for {heading} (reported by the section test)")
    assert mentioned(option, heads[heading]), (
        f"option {option} of 'mlver {' '.join(path)}' is not mentioned in the "
        f"'## {heading}' section of docs/cli.md")


def test_group_options_are_documented():
    """Options of a sub-group (``mlver remote --x add``) belong in its section, or in the
    sections of its subcommands when the group has none of its own."""
    heads = sections(CLI_MD.read_text(encoding="utf-8"))
    missing = []
    for path, group in group_commands():
        own = heads.get(command_heading(path))
        text = own if own is not None else "\n".join(
            body for h, body in heads.items() if h.startswith(command_heading(path) + " "))
        for param in group.params:
            for name in long_names(param):
                if not mentioned(name, text):
                    missing.append(f"{name} of mlver {' '.join(path)}")
    assert not missing, "undocumented group options in docs/cli.md: " + ", ".join(missing)


def test_no_section_for_a_command_that_does_not_exist():
    """A renamed or removed command must not linger in docs/cli.md."""
    known = {command_heading(p) for p, _ in walk_commands(main)}
    stale = [h for h in sections(CLI_MD.read_text(encoding="utf-8"))
             if h.startswith("mlver ") and h not in known]
    assert not stale, f"docs/cli.md documents commands that do not exist: {stale}"


# --------------------------------------------------------------------------- 3. files and links

@pytest.mark.parametrize("name", REQUIRED)
def test_doc_file_exists(name):
    path = DOCS / name
    assert path.is_file(), f"docs/{name} is missing"
    assert path.read_text(encoding="utf-8").strip(), f"docs/{name} is empty"


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: p.name)
def test_relative_links_resolve(doc):
    broken = []
    for target, anchor in relative_links(doc):
        dest = doc if not target else (doc.parent / target).resolve()
        if not dest.exists():
            broken.append(f"{target} (no such file)")
            continue
        if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}#{anchor} (no such heading in {dest.name})")
    assert not broken, f"broken links in docs/{doc.name}: " + "; ".join(broken)


# --------------------------------------------------------------------------- the helpers

def test_helpers():
    assert github_slug("`status --json`") == "status---json"
    assert github_slug("mlver diff") == "mlver-diff"
    assert github_slug("The store's .gitignore") == "the-stores-gitignore"
    assert github_slug("`mlver.Diff`") == "mlverdiff"
    assert mentioned("--json", "use `--json` here")
    assert not mentioned("--json", "use --jsonl here")
    assert not mentioned("--key", "a --keys option")
    text = "## mlver a\nx --json\n```\n## mlver fake\n```\n## mlver b\ny"
    assert sections(text) == {"mlver a": "x --json\n```\n## mlver fake\n```", "mlver b": "y"}


def _normalise(text: str) -> list[str]:
    """Output lines with what differs per run (oids, commits, the environment) masked."""
    text = re.sub(r"\b[0-9a-f]{7,32}\b", "<hex>", text)
    text = re.sub(r"env \(python [^)]*\)", "env (<env>)", text)
    return [line.rstrip() for line in text.splitlines()]


@pytest.mark.slow
def test_the_runnable_example_of_python_md_prints_what_the_doc_says(tmp_path, monkeypatch):
    doc = (DOCS / "python.md").read_text()
    section = doc.split("## A runnable example", 1)[1]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.S)
    code = next(body for lang, body in blocks if lang == "python")
    expected = next(body for lang, body in blocks if lang == "")
    (tmp_path / "example.py").write_text(code)
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)
    env = dict(os.environ, GIT_AUTHOR_NAME="Doc", GIT_AUTHOR_EMAIL="doc@example.com",
               GIT_COMMITTER_NAME="Doc", GIT_COMMITTER_EMAIL="doc@example.com")
    proc = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert _normalise(proc.stdout) == _normalise(expected)
