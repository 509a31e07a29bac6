"""mlver.base.paths: the one rule for relative paths read from untrusted input."""

import pytest

from mlver.base.paths import in_reserved, is_plain_name, is_plain_relpath


@pytest.mark.parametrize("path", ["a", "a/b", "data/train.csv", "x.y/z", "é/ü", "...", "a/.b"])
def test_plain_paths_pass(path):
    assert is_plain_relpath(path)


@pytest.mark.parametrize("path", ["", "/a", "a/", "a//b", "./a", "a/./b", "..", "../a", "a/..",
                                  "a/../b", "a\\b", "a\0b", "\udc80", 3, None, "."])
def test_unplain_paths_refused(path):
    assert not is_plain_relpath(path)


def test_top_only_when_allowed():
    assert is_plain_relpath(".", allow_top=True)
    assert not is_plain_relpath("./a", allow_top=True)


@pytest.mark.parametrize("name,ok", [("a", True), (".hidden", True), ("", False), (".", False),
                                     ("..", False), ("a/b", False), ("a\\b", False),
                                     ("a\0", False)])
def test_names(name, ok):
    assert is_plain_name(name) is ok


@pytest.mark.parametrize("path,hit", [(".git/config", True), ("a/.mlver/x", True),
                                      (".GIT/config", True), ("a/.MLver", True),
                                      ("a.git/x", False), ("gitignore", False)])
def test_reserved_any_case(path, hit):
    assert in_reserved(path) is hit
