"""mlver/store/publish.py: a staged file takes its name without replacing an object, but a
link or a fifo at that name (never an object) is replaced, not followed."""

from __future__ import annotations

import os
import stat

import pytest

from mlver.base.hashing import oid_of
from mlver.store import Store
from mlver.store.objects import LocalObjectStore


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_link_or_fifo_at_a_loose_objects_name_is_replaced_by_the_object(tmp_path, kind):
    Store.create(str(tmp_path / "s"))
    objects = LocalObjectStore(str(tmp_path / "s"))
    data = os.urandom(200_000)  # loose: above the pack threshold, below the chunked one
    oid = oid_of(data)
    path = tmp_path / "s" / "objects" / oid[:2] / oid[2:]
    path.parent.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "outside"
    outside.write_bytes(b"not mine")
    if kind == "symlink":
        path.symlink_to(outside)
    else:
        os.mkfifo(path)
    assert not objects.has(oid)
    with objects.batch() as b:
        b.add_bytes(data)
    assert stat.S_ISREG(os.lstat(path).st_mode)
    assert objects.has(oid) and objects.read(oid) == data
    assert outside.read_bytes() == b"not mine"


def test_an_intact_object_already_there_is_kept(tmp_path):
    Store.create(str(tmp_path / "s"))
    objects = LocalObjectStore(str(tmp_path / "s"))
    data = os.urandom(200_000)
    with objects.batch() as b:
        oid = b.add_bytes(data)
    path = tmp_path / "s" / "objects" / oid[:2] / oid[2:]
    before = os.stat(path).st_ino
    with objects.batch() as b:
        b.add_bytes(data)
    assert os.stat(path).st_ino == before
