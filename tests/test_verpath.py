"""Version paths (mlver.integrations.verpath): parsing, checking and resolving
``REV/SLOT/PATH`` and ``OID`` against a real store."""

from __future__ import annotations

import os

import pytest

from mlver.base.errors import MlverError
from mlver.integrations import verpath
from mlver.integrations.verpath import VersionPathError

from conftest import write


@pytest.fixture
def feat(repo, git_repo):
    """features@1: input folder ``data`` (a.csv, sub/b.csv, a link), input and output
    both named ``train``."""
    write(git_repo / "data" / "a.csv", "x\n1\n")
    write(git_repo / "data" / "sub" / "b.csv", "y\n2\n")
    os.symlink("/etc/passwd", git_repo / "data" / "out")
    write(git_repo / "t.csv", "t\n1\n")
    write(git_repo / "o.csv", "o\n1\n")
    repo.snapshot("features", inputs={"data": "data", "train": "t.csv"},
                  outputs={"train": "o.csv"})
    return repo


def test_strip_and_split():
    assert verpath.strip_protocol("mlver://a@1/b/") == "a@1/b"
    assert verpath.strip_protocol("a@1") == "a@1"
    assert verpath.split("mlver://a@1/inputs.data/x.csv") == ["a@1", "inputs.data", "x.csv"]
    assert verpath.split("") == []


@pytest.mark.parametrize("bad", ["a@1/../b", "a@1//b", "a@1/./b", "/etc/passwd",
                                 "mlver:///etc/passwd", "a@1/b\0c"])
def test_refused_components(bad):
    with pytest.raises(VersionPathError, match="refused|absolute"):
        verpath.split(bad)


def test_resolves_slots_files_and_folders(feat):
    store = feat.store
    t = verpath.resolve(store, "features@1/data/sub/b.csv")
    assert (t.kind, t.size) == ("blob", 4)
    assert store.objects.read(t.oid) == b"y\n2\n"
    assert verpath.resolve(store, "features/data").kind == "tree"
    assert verpath.resolve(store, "features@1").kind == "version"
    assert verpath.resolve(store, "").kind == "names"
    assert verpath.resolve(store, "features@1/data/out").kind == "link"
    got = store.objects.read(verpath.resolve(store, "features@1/outputs.train").oid)
    assert got == b"o\n1\n"
    names = [c.path for c in verpath.children(store, verpath.resolve(store, "features@1"))]
    assert names == ["features@1/data", "features@1/inputs.train", "features@1/outputs.train"]


def test_errors_are_file_not_found_and_name_the_thing(feat):
    store = feat.store
    with pytest.raises(VersionPathError, match="both an input and an output.*inputs.train"):
        verpath.resolve(store, "features@1/train")
    with pytest.raises(FileNotFoundError, match="no slot 'nope'; its slots: data"):
        verpath.resolve(store, "features@1/nope")
    with pytest.raises(FileNotFoundError, match="features has no version 7"):
        verpath.resolve(store, "features@7/data")
    with pytest.raises(FileNotFoundError, match="unknown revision 'nothing'"):
        verpath.resolve(store, "nothing/data")
    with pytest.raises(FileNotFoundError, match="no 'zz.csv' in features@1/data/sub"):
        verpath.resolve(store, "features@1/data/sub/zz.csv")
    with pytest.raises(FileNotFoundError, match="data/a.csv is a file, not a folder"):
        verpath.resolve(store, "features@1/data/a.csv/x")
    with pytest.raises(FileNotFoundError, match="symbolic link \\(never followed\\)"):
        verpath.resolve(store, "features@1/data/out/passwd")
    with pytest.raises(FileNotFoundError, match="no object 0{32}"):
        verpath.resolve(store, "0" * 32)
    assert issubclass(VersionPathError, MlverError)
