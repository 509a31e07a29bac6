"""The root ``mlver`` group and what every command module shares: printing, the one place
errors become exit statuses (``MlverGroup.invoke``), and opening the repository.

Every ``MlverError`` becomes one line ``Error: …`` on stderr and exit status 1 (2 for a
``UsageError``: a malformed name, option or argument); click's own usage errors keep its
exit 2.
"""

from __future__ import annotations

import errno
import importlib
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from mlver._version import __version__
from mlver.base.errors import MlverError
from mlver.base.textsafe import safe

if TYPE_CHECKING:
    from mlver.api import Repo

# SQLite's result code for a full disk; sqlite3.SQLITE_FULL itself exists from Python 3.11
# only, and the error handler must not crash where it is absent.
SQLITE_FULL = 13


def echo(text: str = "", err: bool = False, nl: bool = True) -> None:
    """``click.echo`` of text made safe for a terminal (every line mlver prints)."""
    click.echo(safe(text), err=err, nl=nl)


# The module of mlver.cli that defines each command, imported when the command is looked up
# (tests/test_cli.py checks this table against the commands the modules define): a command
# loads its own module only, not all nine (5 ms of every command, a third of what
# `mlver status` with a file-system monitor spends beyond Python and click).
COMMANDS = {
    "init": "capture", "snapshot": "capture", "run": "capture",
    "diff": "diffing", "explain": "diffing", "report": "diffing",
    "log": "history", "show": "history", "status": "history", "tag": "history",
    "lineage": "history",
    "checkout": "store", "reindex": "store", "monitor": "store", "verify": "store",
    "gc": "store",
    "remote": "remotes", "push": "remotes", "pull": "remotes",
    "hooks": "hooks", "import-dvc": "imports", "ui": "ui",
    "mlflow": "bridges", "export": "bridges",
}


class MlverGroup(click.Group):
    """Loads each command's module when the command is asked for, and translates the
    library's errors into CLI errors, in one place."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is not None and cmd_name not in self.commands:
            importlib.import_module(f"mlver.cli.{module}")  # its decorators register it
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for module in sorted(set(COMMANDS.values())):
            importlib.import_module(f"mlver.cli.{module}")
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlverError as e:
            echo(f"Error: {e}", err=True)
            ctx.exit(e.exit_code)
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                echo(f"Error: cannot write {e.filename or 'the store'} ({e.strerror}); fix the "
                     "permissions of .mlver (or of the file named), then run again; no version "
                     "was recorded", err=True)
                ctx.exit(1)
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            # Staged files were removed on the way out; refs move only after a full write.
            echo(f"Error: no space left on the device ({e.filename or 'writing .mlver'}); "
                 "free some space and run again; no version was recorded", err=True)
            ctx.exit(1)
        except Exception as e:
            # sqlite3 is only imported by commands that open the index, and only they can
            # raise its errors: looked up here so that the command line starts without it.
            sqlite3 = sys.modules.get("sqlite3")
            if sqlite3 is None or not isinstance(e, sqlite3.DatabaseError):
                raise
            if getattr(e, "sqlite_errorcode", None) == SQLITE_FULL \
                    or "database or disk is full" in str(e):
                # Not damage: reindex would not help, space would.
                echo(f"Error: no space left on the device holding .mlver/index.sqlite ({e}); "
                     "free some space and run again", err=True)
            else:
                echo(f"Error: the index .mlver/index.sqlite failed ({e}); run mlver reindex "
                     "(it is rebuilt from the store)", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            if ctx.invoked_subcommand == "push":
                # What the user wants to know is the remote's state, and what to do next.
                echo("Error: push interrupted; the remote holds only complete objects and no "
                     "ref to anything missing: run mlver push again (it sends only what is "
                     "missing)", err=True)
            else:
                echo("Error: interrupted; the store is unchanged", err=True)
            ctx.exit(130)


def warn(message: str) -> None:
    """A non-fatal problem: ``Warning: …`` on stderr (what the Repo is given as ``warn``)."""
    echo(f"Warning: {message}", err=True)


def open_repo() -> Repo:
    """The repository at or above the current folder, as the command line opens it."""
    from mlver.api import Repo

    repo = Repo(".", warn=warn)
    repo.default_python = None  # mlver's own interpreter is not the training one
    return repo


def out(value: object) -> None:
    """Print ``value`` as the stable JSON of ``--json``."""
    from mlver.views.text import dumps

    echo(dumps(value))


def pairs(values: Iterable[str], option: str) -> dict[str, str]:
    """``SLOT=PATH`` options -> {slot: text}; the repo decides path or revision."""
    from mlver.base.errors import UsageError

    found: dict[str, str] = {}
    for v in values:
        slot, sep, path = v.partition("=")
        if not sep or not slot or not path:
            raise UsageError(f"{option} '{v}' is not SLOT=PATH; write it as "
                             f"{option} train=data/train.csv")
        if slot in found:
            raise UsageError(f"slot '{slot}' is given twice to {option}; give each slot once")
        found[slot] = path
    return found


@click.group(cls=MlverGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="mlver")
def main() -> None:
    """mlver: version what a model is made of, and explain why it changed."""
