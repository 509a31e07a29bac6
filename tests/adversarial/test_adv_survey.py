"""The survey (one listing of a remote answering a command's later listings, absences and
sizes) against a remote that changes under it, on fsspec's generic backend (a folder
through fsspec, refs under a leased lock object)."""

from __future__ import annotations

import pytest
from fsspec.implementations.local import LocalFileSystem

from mlver.base.errors import RemoteError
from mlver.store.remote_backend import Backend


def _backend(root) -> Backend:
    return Backend(LocalFileSystem(), str(root), f"file://{root}", "remote 'origin'")


def test_a_ref_read_after_it_moved_drops_the_listing(tmp_path):
    """A push lands between the listing and a pull's read of the head: the head now
    reaches objects the listing lacks. A generic listing proves no content, so reading a
    listed ref drops it and the objects are listed again."""
    root = tmp_path / "remote"
    (root / "refs" / "names").mkdir(parents=True)
    (root / "objects" / "ab").mkdir(parents=True)
    (root / "refs" / "names" / "ds").write_bytes(b"1" * 32 + b"\n")
    mine, theirs = _backend(root), _backend(root)
    mine.survey()
    assert mine.list("objects") == {}
    theirs.put("objects/ab/" + "c" * 30, b"new data")  # their push: objects, then the ref
    data, token = theirs.read_ref("refs/names/ds")
    assert theirs.swap("refs/names/ds", token, b"2" * 32 + b"\n")
    assert mine.read_ref("refs/names/ds")[0] == b"2" * 32 + b"\n"
    assert mine.list("objects") == {"objects/ab/" + "c" * 30: 8}


def test_a_file_grown_since_the_listing_is_read_bounded(tmp_path, monkeypatch):
    """The listing's size of a small file (config.json, a manifest, a pack index) may be
    stale or crafted: the read that trusts it still stops past the file's limit instead
    of taking the whole file into memory."""
    root = tmp_path / "remote"
    root.mkdir()
    (root / "config.json").write_bytes(b"{}")
    b = _backend(root)
    b.survey()
    (root / "config.json").write_bytes(b"x" * (8 << 20))
    got: list[int] = []
    cat = b.fs.cat_file

    def spy(path, *a, **kw):
        out = cat(path, *a, **kw)
        got.append(len(out))
        return out

    monkeypatch.setattr(b.fs, "cat_file", spy)
    with pytest.raises(RemoteError, match="larger than the 1024 bytes"):
        b.read("config.json", 1024)
    assert got and max(got) <= 1025, got
