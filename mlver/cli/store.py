"""Commands that look after the store and the files: ``checkout``, ``reindex``, ``verify``
and ``gc``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from mlver.cli.root import echo, main, open_repo, out, warn

if TYPE_CHECKING:  # newer click is generic; pyproject allows 8.1, where it is not
    _ParamType = click.ParamType[float, Any]
else:
    _ParamType = click.ParamType


@main.command()
@click.argument("rev")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--to", "to", default=None, metavar="DIR",
              help="Write under DIR instead of the repository root.")
@click.option("--inputs", "only_inputs", is_flag=True, help="Only the inputs.")
@click.option("--outputs", "only_outputs", is_flag=True, help="Only the outputs.")
@click.option("--force", is_flag=True,
              help="Overwrite (or remove) files whose content no version holds.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def checkout(rev: str, paths: tuple[str, ...], to: str | None, only_inputs: bool,
             only_outputs: bool, force: bool, as_json: bool) -> None:
    """Write the inputs and outputs of REV back where they were recorded.

    Exact bytes, exec bits and symbolic links; each blob's hash is checked as it is
    copied, and files are renamed into place only once all are written. PATHs narrow
    it to what lies at or below them. A file whose content matches no version mlver
    knows is never overwritten without --force.
    """
    from mlver.base.progress import for_terminal

    if only_inputs and only_outputs:
        raise click.UsageError("--inputs and --outputs cannot be combined; leave both out to "
                               "check out the inputs and the outputs",
                               click.get_current_context())
    side = "inputs" if only_inputs else "outputs" if only_outputs else "all"
    r = open_repo().checkout(rev, list(paths), to, side, force,
                             progress=for_terminal(delay=1.0), base=os.getcwd())
    if as_json:
        out(r.to_dict())
    else:
        removed = f", {r.removed} removed" if r.removed else ""
        echo(f"{r.label}: {r.written} written, {r.unchanged} already up to date{removed} "
             f"in {r.target}")


@main.command()
def reindex() -> None:
    """Rebuild the index (.mlver/index.sqlite) from objects and refs."""
    n = open_repo().reindex()
    echo(f"Indexed {n} records")


@main.command()
@click.argument("state", required=False, type=click.Choice(["on", "off"]))
@click.option("--json", "as_json", is_flag=True, help="Print {\"monitor\": NAME or null}.")
def monitor(state: str | None, as_json: bool) -> None:
    """Show, or turn on or off, the file-system monitor (watchman) of this store.

    With it on, status and an unchanged snapshot ask watchman what changed under a folder
    instead of walking every file. A local setting (.mlver/config.json); without watchman
    running, mlver walks as before."""
    repo = open_repo()
    name = repo.monitor(None if state is None else state == "on")
    # on: watchman answered just now; shown: ask, since a stopped watchman means a walk
    problem = repo.monitor_problem() if name and state is None else None
    if as_json:
        out({"monitor": name, **({"answering": problem is None} if name else {})})
    elif problem:
        echo(f"monitor: {name} (not answering: {problem}; until it does, status and "
             "snapshots walk every file)")
    else:
        echo(f"monitor: {name or 'off'}")


class _Duration(_ParamType):
    """``30s``, ``10m``, ``1h``, ``2d`` or seconds; a bad value is a usage error."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:
        from mlver.api import parse_grace
        from mlver.base.errors import ConfigError

        try:
            return parse_grace(value)
        except ConfigError as e:
            self.fail(str(e), param, ctx)


@main.command()
@click.argument("revs", nargs=-1, metavar="[REV]...")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON (see docs/format.md).")
@click.option("--remote", "remote", default=None, metavar="NAME",
              help="Check the remote NAME instead: every object its refs and tags reach is there.")
def verify(revs: tuple[str, ...], as_json: bool, remote: str | None) -> None:
    """Re-hash every object and check that every version reaches all its objects.

    With REVs, only the objects those revisions reach. Each missing or corrupt object is
    named with the versions it breaks; any problem exits 1.
    """
    from mlver.base.errors import CorruptObjectError
    from mlver.base.progress import for_terminal
    from mlver.views.text import verify_lines

    if remote is not None and revs:
        raise click.UsageError("--remote checks a whole remote; give no REV with it")
    result = open_repo().verify(list(revs) or None, progress=for_terminal(), remote=remote)
    for w in result.warnings:
        warn(w)
    if as_json:
        out(result.to_dict())
    else:
        for line in verify_lines(result):
            echo(line)
    if not result.ok:
        where = "in the JSON above" if as_json else "above"
        raise CorruptObjectError(
            f"verify found {result.verdict()}; restore the objects named {where} from a "
            "backup, or re-snapshot the versions they break")


@main.command()
@click.option("--dry-run", is_flag=True, help="Report what would be removed; remove nothing.")
@click.option("--keep-last", type=click.IntRange(min=1), default=None, metavar="N",
              help="Also drop the data (not the records) of versions older than the last N "
                   "of each name; tagged versions keep theirs.")
@click.option("--grace", type=_Duration(), default="1h", show_default=True,
              help="Keep anything younger than this: 30s, 10m, 1h, 2d or seconds (0: none).")
@click.option("--rechunk", is_flag=True,
              help="Then store as chunks the big files an older store holds whole "
                   "(reports files and bytes converted, store size before and after).")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON (see docs/format.md).")
def gc(dry_run: bool, keep_last: int | None, grace: float, rechunk: bool,
       as_json: bool) -> None:
    """Remove objects that no ref or tag reaches, and repack mostly-garbage packs.

    Runs alone: it waits up to 10 s for snapshots and runs in progress, then fails.
    """
    from mlver.base.progress import for_terminal

    result = open_repo().gc(dry_run=dry_run, keep_last=keep_last, grace=grace,
                            progress=for_terminal(), rechunk=rechunk)
    for w in result.warnings:
        warn(w)
    if as_json:
        out(result.to_dict())
    else:
        for line in result.lines():
            echo(line)
