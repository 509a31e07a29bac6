"""Commands that compare versions: ``diff``, ``explain`` and ``report``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

from mlver.cli.root import echo, main, open_repo, out

if TYPE_CHECKING:
    from mlver.api import Attribution, Repo


@main.command()
@click.argument("rev")
@click.argument("rev2", required=False)
@click.option("--json", "as_json", is_flag=True, help="The diff as JSON (see docs/diff.md).")
@click.option("--key", "keys", multiple=True, metavar="COL",
              help="Key column(s) of tables: report changed rows and cells.")
@click.option("--rows", type=click.IntRange(min=0), default=0, metavar="N",
              help="Show up to N sample added, removed and changed rows.")
@click.option("--target", metavar="COL",
              help="Label column of tables: its distribution is reported first.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when the inputs differ.")
@click.option("--depth", type=click.IntRange(min=0), default=3, show_default=True, metavar="N",
              help="Follow a changed input upstream through lineage N levels (0: not at all).")
@click.option("--attribute", is_flag=True,
              help="Also replay the run to measure each changed input's part of each metric's "
                   "change (as mlver explain REV REV2 does).")
@click.option("--trust", is_flag=True, help="With --attribute: replay pulled or imported versions.")
def diff(rev: str, rev2: str | None, as_json: bool, keys: tuple[str, ...], rows: int,
         target: str | None, exit_code: bool, depth: int, attribute: bool,
         trust: bool) -> None:
    """Explain how REV2 (default: the workspace) differs from REV.

    The verdict names the inputs that changed (data, code, params, env) and how:
    table rows and columns, drifted distributions, commits, param values, packages.
    """
    from mlver.base.progress import for_terminal
    from mlver.views.text import diff_text

    if attribute and rev2 is None:
        raise click.UsageError("--attribute needs two revisions (a replay runs two recorded "
                               "versions): mlver diff REV REV2 --attribute")
    repo = open_repo()
    d = repo.diff(rev, rev2, keys={"*": list(keys)} if keys else None, rows=rows,
                  progress=for_terminal(), depth=depth,
                  targets={"*": target} if target else None)
    found = _attribute(repo, rev, rev2, trust=trust) if attribute and rev2 else None
    if as_json:
        out({**d.to_dict(), "attribution": found.to_dict()} if found else d.to_dict())
    else:
        echo(diff_text(d, samples=bool(rows)))
        if found:
            echo(str(found))
    if exit_code and d.inputs_changed:
        sys.exit(1)


def _attribute(repo: Repo, rev: str, rev2: str, metrics: Iterable[str] = (), jobs: int = 1,
               budget: int | None = None, split_params: bool = False, cache: bool = True,
               repeats: int | None = None, trust: bool = False) -> Attribution:
    """``repo.explain`` with the plan and progress on stderr, and a failed replay's log
    tail printed before its error."""
    from mlver.base.errors import ReplayError
    from mlver.base.progress import for_terminal

    try:
        return repo.explain(rev, rev2, metrics=list(metrics) or None, jobs=jobs,
                            budget=budget, split_params=split_params,
                            progress=for_terminal(unit="runs"),
                            notify=lambda line: echo(line, err=True), cache=cache,
                            repeats=repeats, trust=trust)
    except ReplayError as e:
        for line in e.tail:
            echo(f"  | {line}", err=True)
        raise


@main.command()
@click.argument("rev")
@click.argument("rev2")
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="A metric to explain (dotted for nested ones; repeatable). Default: every "
                   "numeric metric that changed.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Replays run at once (training is often multi-threaded already).")
@click.option("--budget", type=click.IntRange(min=2), default=64, show_default=True,
              metavar="N", help="Runs that sampling may take when more than 5 groups differ.")
@click.option("--split-params", is_flag=True,
              help="One group per changed param key, instead of one for all params.")
@click.option("--no-cache", is_flag=True,
              help="Rerun replays found in the cache (and cache the new results).")
@click.option("--repeats", type=click.IntRange(min=2), default=3, show_default=True, metavar="N",
              help="Replays of each version's own configuration; their spread is the noise.")
@click.option("--trust", is_flag=True, help="Replay versions that were pulled or imported.")
@click.option("--json", "as_json", is_flag=True,
              help="The attribution as JSON (see docs/explain.md).")
def explain(rev: str, rev2: str, metrics: tuple[str, ...], jobs: int, budget: int,
            split_params: bool, no_cache: bool, repeats: int, trust: bool,
            as_json: bool) -> None:
    """Measure why a metric moved from REV to REV2, by replaying the recorded run.

    Each input group that differs (each data slot, the code, the params) gets its Shapley
    value: its average effect on the metric when swapped from REV's to REV2's, over the
    combinations of the others. Each replay runs the recorded command in a scratch copy of
    the commit outside the repository; a pulled or imported version only with --trust.
    """
    found = _attribute(open_repo(), rev, rev2, metrics, jobs=jobs, budget=budget, trust=trust,
                       split_params=split_params, cache=not no_cache, repeats=repeats)
    if as_json:
        out(found.to_dict())
    else:
        echo(str(found))


@main.command()
@click.argument("rev")
@click.argument("rev2", required=False)
@click.option("-o", "--output", "output", required=True, metavar="FILE",
              help="Write the HTML page to FILE (- for standard output).")
@click.option("--key", "keys", multiple=True, metavar="COL",
              help="Key column(s) of tables: report changed rows and cells.")
@click.option("--target", metavar="COL",
              help="Label column of tables: its distribution is reported and plotted first.")
@click.option("--depth", type=click.IntRange(min=0), default=3, show_default=True, metavar="N",
              help="Follow a changed input upstream through lineage N levels (0: not at all).")
@click.option("--attribute", is_flag=True,
              help="Also replay the run to measure each changed input's part of each metric's "
                   "change, shown in its own section (as mlver explain REV REV2 does).")
@click.option("--trust", is_flag=True, help="With --attribute: replay pulled or imported versions.")
def report(rev: str, rev2: str | None, output: str, keys: tuple[str, ...],
           target: str | None, depth: int, attribute: bool, trust: bool) -> None:
    """Write the diff of REV and REV2 (default: the workspace) as one HTML page.

    The page is self-contained (inline CSS and SVG, no script, nothing fetched): the
    verdict, then each input's rows, schema, changed cells and drift, with a plot of old
    against new for every drifted or label column (drawn from the table profiles the diff
    used), the code changes with their hunks, params and env, the metric history of the
    name's versions, and the upstream root-cause chain.
    """
    from mlver.base.fmt import human_size
    from mlver.base.progress import for_terminal

    if attribute and rev2 is None:
        raise click.UsageError("--attribute needs two revisions (a replay runs two recorded "
                               "versions): mlver report REV REV2 -o FILE --attribute")
    repo = open_repo()
    to_stdout = output == "-"
    if not to_stdout:
        from mlver.views.report_file import report_path

        report_path(repo.root, os.path.abspath(output))  # refused before the replays run
    found = _attribute(repo, rev, rev2, trust=trust) if attribute and rev2 else None
    text = repo.report(rev, rev2, None if to_stdout else os.path.abspath(output),
                       keys={"*": list(keys)} if keys else None, depth=depth,
                       targets={"*": target} if target else None, progress=for_terminal(),
                       attribution=found)
    if to_stdout:
        click.echo(text, nl=False)  # the page is escaped HTML: no control characters left
        return
    plots = text.count('<figure class="plot"')
    echo(f"Wrote {output} ({human_size(len(text.encode('utf-8')))}, {plots} "
         f"plot{'s' if plots != 1 else ''})")
