"""The entry point of git hook scripts written by mlver 0.1 before the package had layer
folders: their line ``from mlver.hooks import main`` must keep working after an upgrade
(``mlver hooks install`` again writes ``mlver.integrations.hooks``). Nothing else imports
this module."""

from __future__ import annotations

from mlver.integrations.hooks import main

__all__ = ["main"]
