"""mlver.Repo: tags (list, delete) and the recorded patch, through the Python API."""

from __future__ import annotations

import pytest

import mlver
from mlver import Tag

from conftest import git, write


@pytest.fixture
def m2(repo, git_repo):
    """m@1 (clean commit) and m@2 (uncommitted change to train.py); m@1 tagged prod."""
    write(git_repo / "a.csv", "a\n1\n")
    o1 = repo.snapshot("m", inputs={"a": "a.csv"}).oid
    write(git_repo / "train.py", "print('v2')\n")
    write(git_repo / "a.csv", "a\n2\n")
    o2 = repo.snapshot("m", inputs={"a": "a.csv"}).oid
    repo.tag("m@1", "prod")
    return repo, [o1, o2]


def test_tag_list(m2):
    repo, (o1, o2) = m2
    repo.tag("m", "latest")
    assert repo.tag_list() == [Tag("m", "latest", o2, 2), Tag("m", "prod", o1, 1)]
    assert repo.tag_list("m") == repo.tag_list()
    assert repo.tag_list()[1].label == "m@prod"
    assert repo.tag_list()[1].to_dict() == {"name": "m", "tag": "prod", "oid": o1, "version": 1}
    assert repo.tags("m") == {"latest": o2, "prod": o1}  # unchanged, still a plain dict
    with pytest.raises(mlver.RevisionError, match="unknown revision 'nope'"):
        repo.tag_list("nope")


def test_untag_keeps_the_record(m2):
    repo, (o1, _o2) = m2
    before = sorted(repo.store.objects.iter_oids())
    assert repo.untag("m@prod") == Tag("m", "prod", o1, 1)
    assert repo.tag_list() == []
    assert repo.resolve("m@1") == o1
    assert repo.record(o1).version == 1
    assert sorted(repo.store.objects.iter_oids()) == before
    with pytest.raises(mlver.RevisionError, match=r"^m has no tag 'prod' \(it has no tags\)"):
        repo.untag("m@prod")
    with pytest.raises(mlver.RevisionError, match="m has no tag 'prod'"):
        repo.resolve("m@prod")


def test_untag_when_the_tag_moved_meanwhile(m2, monkeypatch):
    repo, (_o1, o2) = m2
    real = repo.store.refs.get_tag

    def moved_after_reading(name, tag):
        oid = real(name, tag)
        repo.store.refs.set_tag(name, tag, o2)  # another process moves it now
        return oid

    monkeypatch.setattr(repo.store.refs, "get_tag", moved_after_reading)
    with pytest.raises(mlver.RefConflictError, match="tag m@prod moved"):
        repo.untag("m@prod")
    assert repo.tags("m") == {"prod": o2}  # the new value is not deleted


def test_tags_by_record(m2):
    repo, (o1, o2) = m2
    repo.tag("m@1", "gold")
    assert repo.tags_by_record(["m", "m"]) == {"m": {o1: ["gold", "prod"]}}
    assert repo.tags_by_record([]) == {}


def test_patch(m2, git_repo):
    repo, _ = m2
    assert repo.patch("m@1") is None
    expected = git(git_repo, "diff", "HEAD", "--binary", text=False)
    assert b"+print('v2')" in expected
    assert repo.patch("m") == expected
    assert repo.patch("m@2") == repo.store.objects.read(repo.show("m@2")[1].code.patch)
