"""Commands that write versions: ``init``, ``snapshot`` and ``run``."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

from mlver.cli.root import echo, main, open_repo, out, pairs

#: mlver.api.KINDS, written out so that the command line starts without importing the
#: library (tests/test_cli_startup.py checks that the two agree).
KINDS = ("model", "dataset")

if TYPE_CHECKING:
    from mlver.api import SnapshotResult

F = TypeVar("F", bound=Callable[..., object])


@main.command()
@click.argument("path", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True,
              help="Create a store even inside a folder that another store covers.")
def init(path: str, force: bool) -> None:
    """Create the store (.mlver/) in PATH (default: here)."""
    from mlver.api import Repo

    existed = Repo.has_store(path)
    repo = Repo.init(path, force=force)
    verb = "Store already exists" if existed else "Initialized empty mlver store"
    echo(f"{verb} in {repo.store.path}")


def capture_options(f: F) -> F:
    """The options ``snapshot`` and ``run`` share: what a version is made of."""
    opts = [
        click.option("-i", "--input", "inputs", multiple=True, metavar="SLOT=PATH|SLOT=REV",
                     help="An input: a file or folder, or an output of a record "
                          "(REV or REV:SLOT)."),
        click.option("-o", "--output", "outputs", multiple=True, metavar="SLOT=PATH",
                     help="An output file or folder."),
        click.option("-p", "--params", "params", multiple=True, metavar="FILE[:KEYS]|KEY=VALUE",
                     help="Params: a .yaml/.json/.toml file (FILE:KEY,KEY... for only the keys "
                          "the version uses, e.g. params.yaml:train), or KEY=VALUE (value "
                          "parsed as JSON)."),
        click.option("-M", "--metrics", "metrics", multiple=True, metavar="FILE|KEY=VALUE",
                     help="Metrics: a file or KEY=VALUE."),
        click.option("--code", "code", multiple=True, metavar="PATH",
                     help="The code scope: a path or glob the code depends on (repeatable; "
                          "default: code in [snapshot.NAME] of mlver.toml, else what a run "
                          "was traced reading, else the whole repository)."),
        click.option("-m", "--message", default=None, help="Why this version exists."),
        click.option("--kind", type=click.Choice(KINDS), default=None,
                     help="What the name versions (default: kind in [snapshot.NAME] of "
                          "mlver.toml, else as before, else model)."),
        click.option("--python", default=None, metavar="PATH",
                     help="The interpreter whose packages are recorded (default: [env] python "
                          "in mlver.toml, else the active virtualenv, else python on PATH)."),
        click.option("--json", "as_json", is_flag=True, help="Print the record as JSON."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def print_result(result: SnapshotResult, as_json: bool) -> None:
    """The one line (or the JSON) of a snapshot or run: the new version, or unchanged."""
    from mlver.views.text import record_json

    if as_json:
        out(record_json(result.oid, result.record, unchanged=not result.created))
    elif result.created:
        r = result.record
        echo(f"{r.label}  {result.oid}  ({len(r.inputs)} inputs, {len(r.outputs)} outputs)")
    else:
        echo(f"{result.record.label} is unchanged (same content); no new version written")


@main.command()
@click.argument("name")
@capture_options
def snapshot(name: str, inputs: tuple[str, ...], outputs: tuple[str, ...],
             params: tuple[str, ...], metrics: tuple[str, ...], code: tuple[str, ...],
             message: str | None, kind: str | None, python: str | None,
             as_json: bool) -> None:
    """Record what NAME is made of now as a new version.

    NAME gets a new version unless the content equals its latest version.

    With no -i/-o, [snapshot.NAME] in mlver.toml supplies them.
    """
    from mlver.base.progress import for_terminal

    repo = open_repo()
    result = repo.snapshot(name, inputs=pairs(inputs, "-i"), outputs=pairs(outputs, "-o"),
                           params=list(params), metrics=list(metrics), message=message,
                           kind=kind, python=python, progress=for_terminal(), base=os.getcwd(),
                           code=list(code) or None)
    print_result(result, as_json)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@capture_options
@click.option("--record-failed", is_flag=True,
              help="Keep a record (marked failed) when the command exits non-zero.")
@click.option("--strict", is_flag=True,
              help="Fail (record nothing) when the command reads a data file that is not "
                   "recorded, or cannot be traced.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(name: str, inputs: tuple[str, ...], outputs: tuple[str, ...], params: tuple[str, ...],
        metrics: tuple[str, ...], code: tuple[str, ...], message: str | None,
        kind: str | None, python: str | None, as_json: bool, record_failed: bool,
        strict: bool, command: tuple[str, ...]) -> None:
    """Run COMMAND and record it as a new version of NAME.

    The inputs are hashed before COMMAND starts; outputs and metrics after it ends.

    Write the command after --:  mlver run price-model -i train=data.csv -o model=model.pkl
    -- python train.py.  With no -i/-o and no command, [snapshot.NAME] in mlver.toml (with
    its command) supplies them. A failing command records nothing (unless --record-failed)
    and mlver exits with the command's status.

    The files the command's Python processes read under the repository are traced: the
    source files make the code scope (unless --code declares one), and data files read but
    not recorded are named in the record (--strict refuses them).
    """
    from mlver.base.progress import for_terminal

    repo = open_repo()
    result = repo.execute(
        name, list(command) or None, record_failed=record_failed,
        cwd=os.getcwd() if command else None, stdout_to_stderr=as_json,
        inputs=pairs(inputs, "-i"), outputs=pairs(outputs, "-o"), params=list(params),
        metrics=list(metrics), message=message, kind=kind, python=python,
        progress=for_terminal(), base=os.getcwd(), code=list(code) or None, strict=strict)
    print_result(result, as_json)
    status = result.exit_code
    if status:
        echo(f"Error: command exited with status {status}; recorded as failed "
             f"{result.record.label}", err=True)
        sys.exit(status)
