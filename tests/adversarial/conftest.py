"""Fixtures for the adversarial suite: a real git repo + mlver store, cwd at its root.

The shared fixtures of ``tests/conftest.py`` (autouse env isolation) apply here
automatically. This folder is a package (``adversarial``) so that this file does not
take the module name ``conftest`` that other test files import from.
"""

from __future__ import annotations

import sys

import pytest

from . import craft


@pytest.fixture
def adv(tmp_path, monkeypatch):
    """A git repo with an initialised store (via the CLI); the current folder is its root."""
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    root = craft.make_project(tmp_path / "proj")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def sentinel(tmp_path):
    """A path outside the repository that no mlver command may create."""
    p = tmp_path / "outside" / "SENTINEL"
    p.parent.mkdir(parents=True, exist_ok=True)
    return p
