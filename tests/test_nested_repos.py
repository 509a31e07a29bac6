"""A repository's store is its own (issue 19, item 1): a git repository kept inside
another's working tree (a clone in a sub-folder, a submodule) never finds, reads or writes
the outer repository's ``.mlver``; ``pull`` and ``init`` there make the inner one's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlver.api import Repo, find_root
from mlver.base.errors import NotAStoreError

from _remotes import clone, files_of, git, ok, project, run
from conftest import store_listing


@pytest.fixture
def outer(tmp_path) -> Path:
    """A repository with a store and two versions of ``ds`` (data/a.csv, then also
    data/b.csv), the second checked out."""
    root = project(tmp_path / "outer", {"README.md": "outer\n", "data/a.csv": "id\n1\n"})
    ok(root, "init")
    ok(root, "snapshot", "ds", "-o", "d=data", "--kind", "dataset")
    (root / "data" / "b.csv").write_text("id\n2\n")
    ok(root, "snapshot", "ds", "-o", "d=data")
    return root


def _inner(outer: Path) -> Path:
    """A separate git repository in a sub-folder of ``outer``'s working tree."""
    return project(outer / "vendor" / "inner", {"train.py": "print(1)\n"})


def test_checkout_in_a_nested_clone_never_touches_the_outer_working_tree(outer):
    inner = _inner(outer)
    before, store = files_of(outer), store_listing(outer)
    r = run(inner, "checkout", "ds@1")  # today: removed outer/data/b.csv
    assert r.exit_code == 1
    assert r.stderr == (f"Error: no mlver store in {inner} or any parent folder up to the top "
                        f"of its git repository {inner}; run mlver init at the repository "
                        "root\n")
    assert files_of(outer) == before and (outer / "data" / "b.csv").read_text() == "id\n2\n"
    assert store_listing(outer) == store
    with pytest.raises(NotAStoreError):
        Repo(str(inner))


def test_discovery_stops_at_a_git_file_too(outer):
    # a submodule's or a separate-git-dir clone's top holds a .git *file*
    inner = outer / "sub"
    inner.mkdir()
    git(inner, "init", "-q", "--separate-git-dir", str(outer.parent / "sub.git"))
    assert (inner / ".git").is_file()
    (inner / "deep").mkdir()
    with pytest.raises(NotAStoreError, match=f"up to the top of its git repository {inner};"):
        find_root(str(inner / "deep"))
    assert find_root(str(outer / "data")) == str(outer)  # a plain sub-folder: as before


def test_outside_git_the_walk_goes_up_as_before(tmp_path):
    (tmp_path / "top" / "a" / "b").mkdir(parents=True)
    ok(tmp_path / "top", "init")
    assert find_root(str(tmp_path / "top" / "a" / "b")) == str(tmp_path / "top")


def test_init_in_a_nested_repository_needs_no_force(outer):
    inner = _inner(outer)
    out = ok(inner, "init")
    assert out == f"Initialized empty mlver store in {inner / '.mlver'}\n"
    (inner / "m.bin").write_text("m")
    ok(inner, "snapshot", "m", "-o", "m=m.bin")
    assert [r["name"] for r in json.loads(ok(inner, "log", "--json"))] == ["m"]
    assert {r["name"] for r in json.loads(ok(outer, "log", "--json"))} == {"ds"}
    # a plain sub-folder of the outer repository is still covered by its store
    (outer / "plain").mkdir()
    r = run(outer / "plain", "init")
    assert r.exit_code == 1 and "is inside the mlver store of" in r.stderr


def test_pull_in_a_nested_clone_creates_the_clones_own_store(outer, tmp_path):
    remote = tmp_path / "remote"
    src = project(tmp_path / "src", {"data/x.csv": "id\n7\n"})
    ok(src, "init")
    ok(src, "remote", "add", "origin", str(remote), "--default")
    git(src, "add", "mlver.toml")
    git(src, "commit", "-q", "-m", "remote")
    ok(src, "snapshot", "x", "-o", "d=data", "--kind", "dataset")
    ok(src, "push")
    inner = clone(src, outer / "vendor" / "src")
    store = store_listing(outer)
    out = ok(inner, "pull")
    assert out.splitlines()[0].startswith("x: new ")
    assert (inner / ".mlver" / "config.json").is_file()
    assert store_listing(outer) == store  # the outer store got nothing
    assert [r["name"] for r in json.loads(ok(inner, "log", "--json"))] == ["x"]
    from mlver.core.discover import fresh_root

    assert fresh_root(str(inner / "data")) == str(inner)
