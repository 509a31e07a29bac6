"""Where ``mlver report -o FILE`` writes: checked before the diff is computed."""

from __future__ import annotations

import os

from mlver.base.errors import ConfigError


def report_path(root: str, path: str) -> str:
    """The full path of the report file ``path`` (relative to ``root`` unless absolute);
    a folder, or a file in a folder that does not exist, is refused."""
    full = path if os.path.isabs(path) else os.path.join(root, path)
    if os.path.isdir(full):
        raise ConfigError(f"{path} is a folder; give the report a file name such "
                          "as report.html")
    if not os.path.isdir(os.path.dirname(os.path.abspath(full))):
        raise ConfigError(f"the folder of {path} does not exist; create it first")
    return full
