"""mlver.core.scope: code-scope entries (paths and git-style globs), matched in Python exactly
as git matches the pathspecs built from them (checked against the git binary)."""

from __future__ import annotations

import pytest

from mlver.core.scope import is_glob, matches, pathspecs, union
from conftest import git, init_git

FILES = ["README.md", "lib.py", "top.py", "lib/x.py", "lib/z.txt", "lib/sub/y.py",
         "src/a/b/c.py", "src/a/b/d.txt", "we ird/[x].py", "a*b.py"]

PATTERNS = ["lib", "lib/*", "lib/*.py", "**/*.py", "lib/**", "src/**/c.py", "l*", "*.py",
            "lib/sub", "src/*/b", "?op.py", "lib/[xz]*", "lib/[!x]*", "src/**", "**/b/*.py",
            "lib/**/y.py", "**/x.py", "lib*", "we ird", "src/a/b/*.txt", "*", "**", "nothing",
            "lib/**/*", "**/sub/**", "*/x.py", "a\\*b.py", "we ird/[[]x].py", "lib/***"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = init_git(tmp_path_factory.mktemp("scope") / "r", {f: "x\n" for f in FILES})
    return root


@pytest.mark.parametrize("pattern", PATTERNS)
def test_python_matching_agrees_with_git(tree, pattern):
    (spec,) = pathspecs([pattern])
    by_git = sorted(git(tree, "ls-files", "-z", "--", spec).split("\0")[:-1])
    assert sorted(f for f in FILES if matches(f, [pattern])) == by_git


def test_pathspecs_carry_their_own_magic(tree):
    assert pathspecs(["lib", "src/**/*.py", "."]) == [
        ":(top,literal)lib", ":(top,glob)src/**/*.py", ":(top)"]
    assert pathspecs(["lib", "."], prefix="sub/dir/") == [
        ":(top,literal)sub/dir/lib", ":(top,literal)sub/dir"]
    # a stored entry that looks like magic or an option stays a plain path for git
    assert pathspecs([":(exclude)lib", "--output=x"]) == [
        ":(top,literal):(exclude)lib", ":(top,literal)--output=x"]
    assert git(tree, "ls-files", "--", *pathspecs([":(exclude)lib", "--output=x"])) == ""


def test_plain_entries_match_themselves_and_below():
    assert matches("lib/x.py", ["lib"]) and matches("lib", ["lib"])
    assert not matches("lib.py", ["lib"]) and not matches("libx/a", ["lib"])
    assert matches("anything/at/all", ["."])
    assert matches("x", None)  # no scope: the whole repository
    assert not matches("x", [])  # an empty scope holds nothing


def test_glob_detection_and_union():
    assert [is_glob(e) for e in ("a.py", "*.py", "a?", "[ab]", "a/b")] == \
        [False, True, True, True, False]
    assert union(("b", "a"), ("a", "c")) == ("a", "b", "c")
    assert union(None, ("a",)) is None and union(("a",), None) is None
