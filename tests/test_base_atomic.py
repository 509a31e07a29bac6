"""mlver.base.atomic: whole-file replacement, durable, never torn, no temp left behind."""

import os
import stat
from pathlib import Path

import pytest

from mlver.base.atomic import copy_atomic, temp_path, write_atomic


def test_write_replaces_and_leaves_nothing(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("old")
    write_atomic(str(p), "new\n")
    assert p.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_bytes_and_mode(tmp_path):
    p = tmp_path / "hook"
    write_atomic(str(p), b"#!/bin/sh\n", mode=0o755)
    assert p.read_bytes() == b"#!/bin/sh\n"
    assert stat.S_IMODE(p.stat().st_mode) == 0o755


def test_failed_check_keeps_target(tmp_path):
    p = tmp_path / "cfg"
    p.write_text("good")

    def check(tmp):
        assert Path(tmp).read_text() == "bad"
        raise ValueError("no")

    with pytest.raises(ValueError):
        write_atomic(str(p), "bad", check=check)
    assert p.read_text() == "good"
    assert os.listdir(tmp_path) == ["cfg"]


def test_temp_names_are_unique_and_beside(tmp_path):
    a, b = temp_path(str(tmp_path / "x")), temp_path(str(tmp_path / "x"))
    assert a != b and os.path.dirname(a) == str(tmp_path)


def test_copy(tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"\0" * 3_000_000)
    copy_atomic(str(src), str(tmp_path / "dst"))
    assert (tmp_path / "dst").read_bytes() == src.read_bytes()


@pytest.mark.parametrize("name", ["r" * 250, "é" * 120])
def test_a_name_near_the_limit_still_gets_a_temp_beside_it(tmp_path, name):
    """A file name of up to 255 bytes can be written (``mlver report -o`` a long name
    did, before the temp name had the whole name in it): the temp name stays short."""
    p = tmp_path / name
    assert len(os.fsencode(temp_path(str(p)))) - len(os.fsencode(str(tmp_path))) < 200
    assert os.path.dirname(temp_path(str(p))) == str(tmp_path)
    write_atomic(str(p), "x")
    assert p.read_text() == "x"
    assert os.listdir(tmp_path) == [name]
