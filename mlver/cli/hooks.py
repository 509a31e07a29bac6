"""``mlver hooks``: install, remove, trust and inspect mlver's git hooks, and run one."""

from __future__ import annotations

import sys

import click

from mlver.cli.root import echo, main, open_repo, out

_HOOK_CHOICE = click.Choice(["post-commit", "post-checkout", "post-merge", "pre-push"])


@main.group()
def hooks() -> None:
    """Install, remove and inspect mlver's git hooks (see docs/hooks.md).

    post-commit snapshots the names of [hooks] snapshot in mlver.toml whose data changed;
    post-checkout and post-merge warn about (or restore) the data of HEAD's version;
    pre-push pushes the data to the default remote. A hook of your own is kept and run
    first.
    """


@hooks.command("install")
@click.option("--hook", "names", multiple=True, type=_HOOK_CHOICE, metavar="NAME",
              help="Only this hook (repeatable; default: all four).")
@click.option("--force-interpreter", is_flag=True,
              help="Install even though this Python (or its virtualenv) is inside the work tree.")
def hooks_install(names: tuple[str, ...], force_interpreter: bool) -> None:
    """Install the git hooks where git runs them (core.hooksPath, or the hooks folder).

    Trusts what mlver.toml's [hooks] watches now (see mlver hooks trust). Refuses a Python
    whose file, virtualenv or mlver is inside the work tree (a branch can add files there).
    """
    hooks_ = open_repo().hooks
    for hook, what in hooks_.install(list(names) or None, force_interpreter=force_interpreter):
        echo(f"{hook}: {what}")
    for p in hooks_.programs():
        echo(p.line())
    for w in hooks_.trust():  # pinned by install already: this says what it trusted
        echo(w.line())
    for line in hooks_.watch().lines():
        echo(line)


@hooks.command("trust")
def hooks_trust() -> None:
    """Trust [hooks] of mlver.toml as it is now: the watched names and their paths.

    The hooks act only on the [snapshot.NAME] tables (and on-checkout) trusted by
    mlver hooks install or this command; a name new or changed since is left out, said so.
    """
    watched = open_repo().hooks.trust()
    for w in watched:
        echo(w.line())
    if not watched:
        echo("trusted: no names ([hooks] snapshot of mlver.toml names none)")


@hooks.command("uninstall")
@click.option("--hook", "names", multiple=True, type=_HOOK_CHOICE, metavar="NAME",
              help="Only this hook (repeatable; default: all four).")
def hooks_uninstall(names: tuple[str, ...]) -> None:
    """Remove mlver's git hooks, putting back the hooks they chained to."""
    for hook, what in open_repo().hooks.uninstall(list(names) or None):
        echo(f"{hook}: {what}")


@hooks.command("status")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object a hook.")
def hooks_status(as_json: bool) -> None:
    """Say which git hooks are installed, chained, and turned on, what they run, and which
    names they snapshot or compare."""
    hooks_ = open_repo().hooks
    states, progs, watch = hooks_.status(), hooks_.programs(), hooks_.watch()
    if as_json:
        out([{**s.to_dict(), "runs": [p.to_dict() for p in progs if s.hook in p.hooks],
              **watch.fields(s.hook)} for s in states])
    else:
        for s in states:
            echo(s.line())
        for p in progs:
            echo(p.line())
        for line in watch.lines():
            echo(line)
        for line in hooks_.untrusted():
            echo(line)


@hooks.command("run", context_settings={"ignore_unknown_options": True,
                                        "allow_interspersed_args": False})
@click.argument("hook")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hooks_run(hook: str, args: tuple[str, ...]) -> None:
    """Internal: what the installed hook scripts call, with git's arguments."""
    from mlver.api import run_hook

    sys.exit(run_hook(hook, list(args)))
