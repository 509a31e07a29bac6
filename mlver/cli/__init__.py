"""The command line: a thin click layer over :class:`mlver.Repo`.

``main`` (the ``mlver`` entry point) is the root group of :mod:`mlver.cli.root`, where
errors become exit statuses; each module beside it adds one family of commands to it
(its decorators register them), and is imported when one of its commands is looked up
(the table ``mlver.cli.root.COMMANDS``): a command loads its own module only.
"""

from __future__ import annotations

from mlver.cli.root import main

__all__ = ["main"]
