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


@pytest.fixture(scope="module")
def _two_pristine(tmp_path_factory):
    """A project with m@1 and m@2 (``craft.two_tables``), made once per module."""
    root = craft.make_project(tmp_path_factory.mktemp("pristine") / "proj")
    return root, craft.two_tables(root)


@pytest.fixture
def proj(_two_pristine, tmp_path, monkeypatch):
    """A fresh copy of that project, the current folder, for one test to damage."""
    import shutil

    root = tmp_path / "proj"
    shutil.copytree(_two_pristine[0], root, symlinks=True)
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def two(_two_pristine, proj):
    """The oids of ``proj``'s m@1 and m@2 (see ``craft.two_tables``)."""
    return dict(_two_pristine[1])
