"""mlver.ops.listing: the log's order when records the index lacks are merged in."""

from __future__ import annotations

from types import SimpleNamespace

from mlver.ops.listing import _merge


def rec(name: str, version: int, created: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, version=version, created=created)


def test_one_name_is_newest_version_first_without_duplicates():
    found = [("b", rec("m", 2, "2024-01-02"))]
    extra = [("a", rec("m", 1, "2024-01-01")), ("c", rec("m", 3, "2024-01-03")),
             ("b", rec("m", 2, "2024-01-02"))]
    assert [o for o, _ in _merge(found, extra, "m", None)] == ["c", "b", "a"]


def test_every_name_is_newest_first_then_by_name_and_cut_to_n():
    found = [("x", rec("b", 1, "2024-01-01"))]
    extra = [("y", rec("a", 1, "2024-01-01")), ("z", rec("c", 1, "2024-02-01"))]
    assert [o for o, _ in _merge(found, extra, None, None)] == ["z", "y", "x"]
    assert [o for o, _ in _merge(found, extra, None, 2)] == ["z", "y"]
    assert _merge(found, extra, None, -1) == []
