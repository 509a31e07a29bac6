"""The API reference of docs/python.md names only what exists: every ``repo.X``,
``Repo.X`` and ``mlver.X…`` it writes resolves on a real Repo, on the class, or in the
package, so a method removed from the code cannot stay documented (issue 19)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import mlver

DOC = Path(__file__).resolve().parents[1] / "docs" / "python.md"
NAME = re.compile(r"(?<![\w./-])(repo|Repo|mlver)((?:\.[A-Za-z_]\w*)+)")
NOT_API = {"mlver.toml"}  # the project file, not a Python name


def documented() -> list[str]:
    found = set()
    for m in NAME.finditer(DOC.read_text(encoding="utf-8")):
        text = m.group(0)
        if not any(text == f or text.startswith(f + ".") for f in NOT_API):
            found.add(text)
    return sorted(found)


def resolve(start, parts: list[str]):
    """Follow ``parts`` from ``start``: attributes, then sub-modules of a package."""
    obj = start
    for part in parts:
        if hasattr(obj, part):
            obj = getattr(obj, part)
        elif getattr(obj, "__path__", None) is not None:  # a package: its sub-module
            obj = importlib.import_module(f"{obj.__name__}.{part}")
        else:
            raise AttributeError(part)
    return obj


def test_the_reference_names_enough_to_be_checked():
    names = documented()
    assert {"repo.snapshot", "repo.diff", "Repo.init", "mlver.Repo",
            "mlver.store.trees.Tree"} <= set(names)
    assert len(names) > 60


def test_every_documented_name_exists(repo):
    starts = {"repo": repo, "Repo": mlver.Repo, "mlver": mlver}
    missing = []
    for text in documented():
        head, *parts = text.split(".")
        try:
            resolve(starts[head], parts)
        except (AttributeError, ModuleNotFoundError):
            missing.append(text)
    assert missing == [], f"docs/python.md documents names that do not exist: {missing}"


def test_the_pattern_catches_a_removed_method():
    # what the doc said before issue 19: neither exists on a Repo
    text = "repo.read_object(oid: str) -> bytes\nrepo.open_blob(oid: str)\n"
    names = [m.group(0) for m in NAME.finditer(text)]
    assert names == ["repo.read_object", "repo.open_blob"]
    assert not hasattr(mlver.Repo, "read_object") and not hasattr(mlver.Repo, "open_blob")
