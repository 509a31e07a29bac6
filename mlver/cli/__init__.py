"""The command line: a thin click layer over :class:`mlver.Repo`.

``main`` (the ``mlver`` entry point) is the root group of :mod:`mlver.cli.root`, where
errors become exit statuses; each module below adds one family of commands to it, so
importing them here is what registers them.
"""

from __future__ import annotations

from mlver.cli import (bridges, capture, diffing, history, hooks, imports, remotes, store,
                       ui)
from mlver.cli.root import main

__all__ = ["bridges", "capture", "diffing", "history", "hooks", "imports", "main", "remotes",
           "store", "ui"]
