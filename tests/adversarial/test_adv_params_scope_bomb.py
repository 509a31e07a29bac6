"""A record's params scope is bounded before anything matches keys against it (issue 20, §3).

A crafted record listing thousands of 1,024-character keys 510 levels deep (10 MB, valid
under the old rules) arrived by ``mlver pull`` and then made ``mlver status`` build every
dotted prefix of every key: 34 s and 3.5 GB, MemoryError under a 1.5 GiB limit. Keys are
now at most 100 levels deep and 1 MiB in all (checked when the record is read), and the
matcher walks the prefixes of the key it tests instead of precomputing the scope's.
"""

from __future__ import annotations

import time

import pytest

from mlver.base import canonical
from mlver.core import paramscope
from mlver.base.hashing import oid_of

from . import craft
from .craft import assert_clean_error, mlver

DEEP = [f"{i:05d}" + ".x" * 509 for i in range(300)]  # 510 levels, 1,023 characters each


def _scoped_record(root, scope) -> str:
    base = craft.snapshot(root, "m", "-i", "a=a.txt", "-p", "params.yaml:train")
    return craft.craft_record(root, base, lambda d: d.__setitem__("params_scope", scope))


def _project(path):
    return craft.make_project(path, {"a.txt": "1\n", "params.yaml": "train:\n  lr: 1\n",
                                     ".gitignore": ".mlver/\n"})


def test_a_deep_scope_is_refused_when_read(tmp_path):
    with pytest.raises(ValueError) as e:
        paramscope.check(DEEP, "params_scope")
    assert str(e.value) == "params_scope holds a key more than 100 levels deep"
    wide = [f"{i:04d}" + "y" * 1019 for i in range(1100)]   # 1,100 keys of 1,023: > 1 MiB
    with pytest.raises(ValueError) as e:
        paramscope.check(wide, "params_scope")
    assert str(e.value) == "params_scope holds more than 1,048,576 characters of keys"
    # the bounds themselves are allowed: 100 levels, 1 MiB
    assert paramscope.check(["a" + ".b" * 99], "s") == ("a" + ".b" * 99,)
    assert len(paramscope.check(wide[:1000], "s")) == 1000
    with pytest.raises(ValueError):
        paramscope.check(["a" + ".b" * 100], "s")


def test_a_pulled_scope_bomb_is_refused_before_it_moves_a_ref(tmp_path):
    remote = tmp_path / "remote"
    a = _project(tmp_path / "a")
    craft.ok(mlver(a, "remote", "add", "origin", str(remote), "--local"))
    craft.snapshot(a, "m", "-i", "a=a.txt", "-p", "params.yaml:train")
    craft.ok(mlver(a, "push", timeout=30))
    head = (remote / "refs" / "names" / "m").read_text().strip()
    d = craft.record_dict(a, head)
    d.update(params_scope=DEEP, version=2, parents=[head], message="bomb")
    data = canonical.dumps(d)
    bomb = oid_of(data)
    (remote / "objects" / bomb[:2]).mkdir(parents=True, exist_ok=True)
    (remote / "objects" / bomb[:2] / bomb[2:]).write_bytes(data)
    (remote / "refs" / "names" / "m").write_text(bomb + "\n")
    b = _project(tmp_path / "b")
    craft.ok(mlver(b, "remote", "add", "origin", str(remote), "--local"))
    line = assert_clean_error(mlver(b, "pull", timeout=30))
    assert line == (f"Error: record {bomb} of remote 'origin' ({remote}): record is malformed "
                    "(ValueError('params_scope holds a key more than 100 levels deep'))")
    assert not (b / ".mlver" / "refs" / "names" / "m").exists()  # nothing moved
    craft.ok(mlver(b, "status"))


def test_a_stored_scope_bomb_is_a_damaged_record_not_a_memory_bomb(tmp_path):
    root = _project(tmp_path / "p")
    bomb = _scoped_record(root, DEEP)
    craft.set_ref(root, "m", bomb)
    for args in (["status"], ["show", "m"]):
        t = time.monotonic()
        proc = mlver(root, *args)
        line = assert_clean_error(proc, "params_scope holds a key more than 100 levels deep")
        assert bomb in line, line
        assert time.monotonic() - t < 10


def test_matching_is_linear_in_the_key_tested():
    scope = ("train", "model.layers.0.width", "a" + ".b" * 99)
    inside = paramscope.matcher(scope)
    assert [inside(k) for k in ("train", "train.lr", "trainer", "model.layers.0",
                                "model.layers.0.width.max", "a" + ".b" * 99 + ".c",
                                "a.b")] == [True, True, False, False, True, True, False]
    values = {"train": {"lr": 1}, "trainer": 2,
              "model": {"layers": {"0": {"width": 3, "depth": 4}, "1": {"width": 5}}}}
    assert paramscope.scoped(values, scope) == {"train": {"lr": 1},
                                                "model": {"layers": {"0": {"width": 3}}}}
    # the old matcher built every prefix of every scope key: 1,000 keys 100 levels deep
    # (within the bounds) cost it 50 million characters per call of scoped()
    big = tuple(sorted(f"k{i:03d}" + ".x" * 99 for i in range(1000)))
    deep: object = 1
    for _ in range(99):
        deep = {"x": deep}
    t = time.monotonic()
    for _ in range(50):
        assert paramscope.scoped({"k000": deep, "k001": {"y": 1}, "other": 2}, big) == \
            {"k000": deep}
    assert time.monotonic() - t < 2.0
