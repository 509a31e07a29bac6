"""The UI's filter language: parsed in linear time and bounded in length (a web page can
make any browser send a filter to 127.0.0.1)."""

from __future__ import annotations

import time

import pytest

from mlver.web.filter import MAX_FILTER_CHARS, FilterTooLong, parse_filter, split_and


def test_split_and_needs_whitespace_on_both_sides():
    assert split_and("a = 1 AND b = 2 and  c") == ["a = 1", "b = 2", "c"]
    assert split_and("band = 1 andx") == ["band = 1 andx"]
    assert split_and("and x") == ["and x"]


def test_conditions_and_free_text():
    assert parse_filter("metrics.rmse<=30 and tag = prod and just words") == [
        ("metrics.rmse", "<=", 30), ("tags", "=", "prod"), ("*", "~", "just words")]
    assert parse_filter("  ") == []
    assert parse_filter("x ~ 'a b'") == [("x", "~", "a b")]


@pytest.mark.parametrize("crafted", [
    "a" + " " * 1990 + "b",                      # one long whitespace run (quadratic for \s+and)
    ("x = " + " " * 60 + "and ") * 30,           # many runs next to "and"
    "m" + "." * 1990 + " ~" + " " * 5,           # a long column-like word
])
def test_crafted_filters_parse_in_linear_time(crafted):
    crafted = crafted[:MAX_FILTER_CHARS]
    start = time.process_time()
    for _ in range(50):
        parse_filter(crafted)
    assert time.process_time() - start < 0.5


def test_a_filter_over_the_bound_is_refused():
    with pytest.raises(FilterTooLong, match=f"at most {MAX_FILTER_CHARS}"):
        parse_filter("a" * (MAX_FILTER_CHARS + 1))
