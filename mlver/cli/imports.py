"""``mlver import-dvc``: a DVC project's git history as versions."""

from __future__ import annotations

import os

import click

from mlver.cli.root import echo, main, open_repo, out


@main.command("import-dvc")
@click.argument("path", default=".", type=click.Path(file_okay=False))
@click.option("--rev-range", default=None, metavar="A..B",
              help="The commits to walk: a git revision or range (default: HEAD, all of "
                   "its history).")
@click.option("--json", "as_json", is_flag=True, help="What was imported, as JSON.")
def import_dvc(path: str, rev_range: str | None, as_json: bool) -> None:
    """Import the git history of the DVC project at PATH (default: here) as versions.

    Each stage of dvc.yaml, and each path a .dvc file tracks, becomes a name with one
    version per commit where its recorded hashes changed. Bytes come from the DVC cache;
    absent ones are recorded as missing, by md5. Commits imported before are skipped.
    Needs the dvc extra: pip install 'mlver[dvc]'.
    """
    from mlver.base.progress import for_terminal
    from mlver.views.text import import_text

    result = open_repo().import_dvc(path, rev_range, base=os.getcwd(),
                                    progress=for_terminal(delay=0.5, unit="commits"))
    if as_json:
        out(result.to_dict())
    else:
        echo(import_text(result))
